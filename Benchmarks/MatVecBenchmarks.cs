using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>Decode-step matrix-vector products at Mistral-7B shapes (4096→4096, 4096→14336, 14336→4096) on the cpu backend,
/// per weight dtype. Decode is bandwidth-bound: compare GB/s of weights read (bytes / mean time) with the machine's memory
/// bandwidth. Synchronises before the clock stops.</summary>
[MemoryDiagnoser]
public class MatVecBenchmarks
{
    [Params(DType.F32, DType.BF16, DType.Q8_0, DType.Q4_0)]
    public DType WeightType { get; set; }

    [Params("4096x4096", "14336x4096", "4096x14336")]
    public string Shape { get; set; } = "4096x4096";

    IBackend _backend = null!;
    DeviceTensor _x = null!, _w = null!, _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        var dims = Shape.Split('x').Select(int.Parse).ToArray();
        int rows = dims[0], cols = dims[1];
        _backend = Backend.Create(DeviceKind.Cpu);
        _x = _backend.Upload(SyntheticWeights.Floats(cols, seed: 1), 1, cols);
        _w = _backend.Upload(SyntheticWeights.Bytes(WeightType, rows, cols, seed: 2), WeightType, rows, cols);
        _y = _backend.Allocate(DType.F32, 1, rows);
    }

    [Benchmark]
    public void MatVec()
    {
        _backend.Ops.MatMul(_x, _w, null, _y);
        _backend.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup() => _backend.Dispose();
}
