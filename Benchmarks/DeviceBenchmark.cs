using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>
/// Base of every kernel bench: a <see cref="Device"/> parameter over the backends this machine has — <c>cpu</c> and
/// <c>cuda</c> (listed only when a GPU answers, so machines without one skip it cleanly) at the real model shapes, and
/// <c>ilgpu-cpu</c> (ILGPU's CPU accelerator, one OS thread per simulated GPU thread) at small shapes. Each [Benchmark]
/// ends with <see cref="IBackend.Synchronize"/> so queued GPU work is inside the measurement.
/// </summary>
public abstract class DeviceBenchmark
{
    static readonly Lazy<string[]> Available = new(Probe);

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    public static IEnumerable<string> Devices => Available.Value;

    protected IBackend Backend { get; private set; } = null!;
    protected IOps Ops => Backend.Ops;

    /// <summary>Real model shapes on cpu and CUDA; small ones on the CPU accelerator.</summary>
    protected bool RealShapes => Device != "ilgpu-cpu";

    /// <summary>Picks the real or the small size.</summary>
    protected int Size(int real, int small) => RealShapes ? real : small;

    [GlobalSetup]
    public void Setup()
    {
        Backend = Runtime.Backends.Backend.Create(DeviceKinds.Parse(Device));
        Create();
        Backend.Synchronize();
    }

    /// <summary>Allocates and fills the bench's tensors on <see cref="Backend"/>.</summary>
    protected abstract void Create();

    [GlobalCleanup]
    public void Cleanup() => Backend.Dispose();

    protected DeviceTensor Activations(int seed, params int[] shape) =>
        Backend.Upload(SyntheticWeights.Floats(shape.Aggregate(1, (a, b) => a * b), seed), shape);

    protected DeviceTensor Weights(DType dtype, int rows, int cols, int seed) =>
        Backend.Upload(SyntheticWeights.Bytes(dtype, rows, cols, seed), dtype, rows, cols);

    protected DeviceTensor Output(params int[] shape) => Backend.Allocate(DType.F32, shape);

    /// <summary>The devices this machine has, narrowed by <c>SONICVERSE_BENCH_DEVICES</c> (e.g. "cuda": gpu-check.sh
    /// times only the GPU, where the cpu backend at real shapes would take most of its slot).</summary>
    static string[] Probe()
    {
        using var cuda = IlgpuBackend.TryCreateCuda(out _);
        string[] present = cuda is null ? ["cpu", "ilgpu-cpu"] : ["cpu", "ilgpu-cpu", "cuda"];
        var wanted = Environment.GetEnvironmentVariable("SONICVERSE_BENCH_DEVICES")?.Split(',', StringSplitOptions.TrimEntries);
        return wanted is null ? present : present.Intersect(wanted).ToArray();
    }
}
