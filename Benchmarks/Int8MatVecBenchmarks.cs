using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>The cpu backend's int8 decode GEMV (<c>--int8-activations</c>: x rounded to Q8_0 blocks, integer dots) at
/// Mistral-7B shapes, beside <see cref="MatVecBenchmarks"/>' fp32-activation row dots on the same weights. A cpu-only
/// kernel family, so it has no Device parameter.</summary>
public class Int8MatVecBenchmarks
{
    [Params(DType.Q8_0, DType.Q4_0)]
    public DType WeightType { get; set; }

    /// <summary>[out, in] as <see cref="MatVecBenchmarks"/>: q/o 4096×4096, gate/up 14336×4096, down 4096×14336, lm_head 32000×4096.</summary>
    [Params("q_proj", "gate_proj", "down_proj", "lm_head")]
    public string Shape { get; set; } = "q_proj";

    IBackend backend = null!;
    DeviceTensor x = null!, w = null!, y = null!;

    [GlobalSetup]
    public void Setup()
    {
        var (rows, cols) = Shape switch
        {
            "q_proj" => (4096, 4096),
            "gate_proj" => (14336, 4096),
            "down_proj" => (4096, 14336),
            _ => (32000, 4096),
        };
        backend = CpuBackend.Create(int8Activations: true);
        x = backend.Upload(SyntheticWeights.Floats(cols, 1), 1, cols);
        w = backend.Upload(SyntheticWeights.Bytes(WeightType, rows, cols, 2), WeightType, rows, cols);
        y = backend.Allocate(DType.F32, 1, rows);
    }

    [Benchmark]
    public void MatVec() => backend.Ops.MatMul(x, w, null, y);   // the cpu backend is synchronous

    [GlobalCleanup]
    public void Cleanup() => backend.Dispose();
}
