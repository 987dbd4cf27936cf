using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>Decode-step GEMV y = x·Wᵀ for one token at Mistral-7B shapes, per weight dtype. Decode is bandwidth-bound:
/// compare GB/s of weights read (bytes / mean time) with the device's memory bandwidth.</summary>
public class MatVecBenchmarks : DeviceBenchmark
{
    [Params(DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0)]
    public DType WeightType { get; set; }

    /// <summary>[out, in]: q/o 4096×4096, gate/up 14336×4096, down 4096×14336, lm_head 32000×4096.</summary>
    [Params("q_proj", "gate_proj", "down_proj", "lm_head")]
    public string Shape { get; set; } = "q_proj";

    DeviceTensor _x = null!, _w = null!, _y = null!;

    protected override void Create()
    {
        var (rows, cols) = Dims(Shape);
        _x = Activations(1, 1, cols);
        _w = Weights(WeightType, rows, cols, 2);
        _y = Output(1, rows);
    }

    (int Rows, int Cols) Dims(string shape) => shape switch
    {
        "q_proj" => (Size(4096, 64), Size(4096, 64)),
        "gate_proj" => (Size(14336, 128), Size(4096, 64)),
        "down_proj" => (Size(4096, 64), Size(14336, 128)),
        _ => (Size(32000, 512), Size(4096, 64)),
    };

    [Benchmark]
    public void MatVec()
    {
        Ops.MatMul(_x, _w, null, _y);
        Backend.Synchronize();
    }
}
