using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A compute device: owns buffers and a stream, and exposes the one shape-checked op interface.</summary>
public interface IBackend : IDisposable
{
    DeviceKind Kind { get; }
    /// <summary>Human-readable device description, e.g. "cpu: 2 threads, AVX2" or "cuda: NVIDIA H100 (79 GB)".</summary>
    string Description { get; }
    /// <summary>Device memory in bytes (host RAM for the CPU backends).</summary>
    long MemoryBytes { get; }
    /// <summary>Bytes currently held by live tensors of this backend.</summary>
    long AllocatedBytes { get; }

    /// <summary>A zero-filled tensor.</summary>
    DeviceTensor Allocate(DType dtype, params int[] shape);

    /// <summary>Copies raw little-endian bytes of <paramref name="dtype"/> (weights as stored, or ids) to the device.</summary>
    DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape);

    DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape);

    DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape);

    /// <summary>Copies an F32 tensor back to the host (waits for queued work).</summary>
    void Download(DeviceTensor tensor, Span<float> destination);

    /// <summary>Copies an F32 tensor's elements [offset, offset + destination.Length) back to the host.</summary>
    void Download(DeviceTensor tensor, long offset, Span<float> destination);

    /// <summary>Writes host values into an existing F32/I32 tensor at an element offset.</summary>
    void Write(ReadOnlySpan<float> values, DeviceTensor destination, long offset = 0);

    void Write(ReadOnlySpan<int> values, DeviceTensor destination, long offset = 0);

    /// <summary>Waits until all queued work on this backend's stream has finished.</summary>
    void Synchronize();

    IOps Ops { get; }
}
