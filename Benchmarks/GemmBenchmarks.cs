using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>Prefill GEMM: a 128-token prompt through Mistral-7B's projections (compute-bound: 2·tokens·out·in FLOP).</summary>
public class GemmBenchmarks : DeviceBenchmark
{
    [Params(DType.F16, DType.Q8_0, DType.Q4_0)]
    public DType WeightType { get; set; }

    [Params("q_proj", "gate_proj", "down_proj")]
    public string Shape { get; set; } = "q_proj";

    DeviceTensor _x = null!, _w = null!, _y = null!;

    protected override void Create()
    {
        int tokens = Size(128, 8);
        var (rows, cols) = Shape switch
        {
            "q_proj" => (Size(4096, 64), Size(4096, 64)),
            "gate_proj" => (Size(14336, 128), Size(4096, 64)),
            _ => (Size(4096, 64), Size(14336, 128)),
        };
        _x = Activations(1, tokens, cols);
        _w = Weights(WeightType, rows, cols, 2);
        _y = Output(tokens, rows);
    }

    [Benchmark]
    public void Gemm()
    {
        Ops.MatMul(_x, _w, null, _y);
        Backend.Synchronize();
    }
}
