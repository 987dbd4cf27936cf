using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>
/// Forwards everything to another backend and records the high-water mark of its <see cref="IBackend.AllocatedBytes"/>.
/// Memory only grows when a tensor is made, so checking after every Allocate/Upload gives the exact peak. Tensors belong
/// to the inner backend (ops check ownership against it); disposing this wrapper disposes the inner backend. With an
/// <see cref="OpProfile"/> (bench --profile) it also times every op and every allocation, upload and download.
/// </summary>
public sealed class PeakMemoryBackend : IBackend
{
    readonly IBackend inner;
    readonly IOps ops;
    readonly OpProfile? profile;
    long _peak;

    /// <param name="profile">When given, every op and every allocation, upload and download is timed into it.</param>
    public PeakMemoryBackend(IBackend inner, OpProfile? profile = null)
    {
        this.inner = inner;
        this.profile = profile;
        _peak = inner.AllocatedBytes;
        ops = profile is null ? inner.Ops : new ProfilingOps(inner, inner.Ops, profile);
    }

    public IBackend Inner => inner;

    /// <summary>The most bytes live tensors held at once since creation or the last <see cref="ResetPeak"/>.</summary>
    public long PeakAllocatedBytes => Interlocked.Read(ref _peak);

    public void ResetPeak() => Interlocked.Exchange(ref _peak, inner.AllocatedBytes);

    public DeviceKind Kind => inner.Kind;
    public string Description => inner.Description;
    public long MemoryBytes => inner.MemoryBytes;
    public long AllocatedBytes => inner.AllocatedBytes;
    public IOps Ops => ops;

    public DeviceTensor Allocate(DType dtype, params int[] shape) => Track(Timed("Allocate", () => inner.Allocate(dtype, shape)));

    public DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var t = Track(inner.Upload(bytes, dtype, shape));
        Record("Upload", start);
        return t;
    }

    public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var t = Track(inner.Upload(values, shape));
        Record("Upload", start);
        return t;
    }

    public DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var t = Track(inner.Upload(values, shape));
        Record("Upload", start);
        return t;
    }

    public void Download(DeviceTensor tensor, Span<float> destination)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        inner.Download(tensor, destination);
        Record("Download", start);
    }

    public void Download(DeviceTensor tensor, long offset, Span<float> destination)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        inner.Download(tensor, offset, destination);
        Record("Download", start);
    }

    T Timed<T>(string name, Func<T> run)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = run();
        Record(name, start);
        return result;
    }

    void Record(string name, long start)
    {
        if (profile is not null) profile.Add(name, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

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
