using System.Diagnostics;
using System.Numerics.Tensors;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>A device's memory bandwidth in bytes/s and where the number came from.</summary>
public sealed record Bandwidth(double BytesPerSecond, string Source);

/// <summary>
/// The bandwidth that bounds decode (SPEC §11): for CUDA the peak from the device properties; for the CPU backends
/// (whose "device memory" is host RAM) a streaming-read probe: the best of several parallel SIMD sums over a buffer
/// far larger than the caches.
/// </summary>
public static class MemoryBandwidth
{
    const int ProbeBytes = 256 << 20;
    const int ProbeRuns = 5;

    public static Bandwidth Of(IBackend backend)
    {
        var inner = backend is PeakMemoryBackend peak ? peak.Inner : backend;
        if (inner is IlgpuBackend { PeakMemoryBandwidth: { } cuda })
            return new Bandwidth(cuda, "CUDA device properties: 2 × memory clock × bus width / 8");
        if (inner.Kind == DeviceKind.Cuda)
            throw new InvalidOperationException("the CUDA driver reported no memory clock or bus width");
        return MeasureHostRead();
    }

    /// <summary>Reads 256 MiB with every core (one contiguous slice each), best of 5 after one warm-up pass.</summary>
    public static Bandwidth MeasureHostRead()
    {
        var buffer = new float[ProbeBytes / sizeof(float)];
        buffer.AsSpan().Fill(1f);  // touches every page so the probe measures reads, not page faults
        int threads = Environment.ProcessorCount;
        int slice = buffer.Length / threads;
        double best = double.MaxValue;
        for (int run = 0; run <= ProbeRuns; run++)
        {
            var clock = Stopwatch.StartNew();
            var sums = new float[threads];
            Parallel.For(0, threads, t => sums[t] = TensorPrimitives.Sum(buffer.AsSpan(t * slice, slice)));
            double seconds = clock.Elapsed.TotalSeconds;
            if (run > 0) best = Math.Min(best, seconds);
            GC.KeepAlive(sums);
        }
        double bytes = (double)slice * threads * sizeof(float);
        return new Bandwidth(bytes / best,
            $"measured: streaming read of {bytes / (1 << 20):F0} MiB on {threads} threads, best of {ProbeRuns}");
    }
}
