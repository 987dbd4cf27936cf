using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>
/// Forwards everything to another backend and records the high-water mark of its <see cref="IBackend.AllocatedBytes"/>.
/// Memory only grows when a tensor is made, so checking after every Allocate/Upload gives the exact peak. Tensors belong
/// to the inner backend (ops check ownership against it); disposing this wrapper disposes the inner backend.
/// </summary>
public sealed class PeakMemoryBackend(IBackend inner) : IBackend
{
    long _peak = inner.AllocatedBytes;

    public IBackend Inner => inner;

    /// <summary>The most bytes live tensors held at once since creation or the last <see cref="ResetPeak"/>.</summary>
    public long PeakAllocatedBytes => Interlocked.Read(ref _peak);

    public void ResetPeak() => Interlocked.Exchange(ref _peak, inner.AllocatedBytes);

    public DeviceKind Kind => inner.Kind;
    public string Description => inner.Description;
    public long MemoryBytes => inner.MemoryBytes;
    public long AllocatedBytes => inner.AllocatedBytes;
    public IOps Ops => inner.Ops;

    public DeviceTensor Allocate(DType dtype, params int[] shape) => Track(inner.Allocate(dtype, shape));

    public DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape) => Track(inner.Upload(bytes, dtype, shape));

    public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape) => Track(inner.Upload(values, shape));

    public DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape) => Track(inner.Upload(values, shape));

    public void Download(DeviceTensor tensor, Span<float> destination) => inner.Download(tensor, destination);

    public void Download(DeviceTensor tensor, long offset, Span<float> destination) => inner.Download(tensor, offset, destination);

    public void Write(ReadOnlySpan<float> values, DeviceTensor destination, long offset = 0) => inner.Write(values, destination, offset);

    public void Write(ReadOnlySpan<int> values, DeviceTensor destination, long offset = 0) => inner.Write(values, destination, offset);

    public void Synchronize() => inner.Synchronize();

    public void Dispose() => inner.Dispose();

    DeviceTensor Track(DeviceTensor tensor)
    {
        long now = inner.AllocatedBytes, seen;
        do seen = Interlocked.Read(ref _peak);
        while (now > seen && Interlocked.CompareExchange(ref _peak, now, seen) != seen);
        return tensor;
    }
}
