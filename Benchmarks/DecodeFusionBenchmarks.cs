using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>A Mistral-7B block's fused decode ops against the unfused sequences they replace, one token: the attention
/// input (RMSNorm, then q/k/v; and with RoPE on q and k) and the MLP's first half (RMSNorm, gate and up, SiLU·up). On a GPU the fused forms are
/// one launch each; the difference is what the fusion saves per layer.</summary>
public class DecodeFusionBenchmarks : DeviceBenchmark
{
    [Params(DType.F16, DType.Q4_0)]
    public DType WeightType { get; set; }

    [Params(true, false)]
    public bool Fused { get; set; }

    DeviceTensor _x = null!, _norm = null!, _normed = null!, _q = null!, _k = null!, _v = null!, _qOut = null!, _kOut = null!,
        _vOut = null!, _gate = null!, _up = null!, _gateOut = null!, _upOut = null!, _positions = null!;
    int _headDim;

    protected override void Create()
    {
        int hidden = Size(4096, 64), kv = Size(1024, 32), ffn = Size(14336, 128);
        _x = Activations(1, 1, hidden);
        _norm = Activations(2, hidden);
        _normed = Output(1, hidden);
        _q = Weights(WeightType, hidden, hidden, 3);
        _k = Weights(WeightType, kv, hidden, 4);
        _v = Weights(WeightType, kv, hidden, 5);
        _gate = Weights(WeightType, ffn, hidden, 6);
        _up = Weights(WeightType, ffn, hidden, 7);
        (_qOut, _kOut, _vOut, _gateOut, _upOut) = (Output(1, hidden), Output(1, kv), Output(1, kv), Output(1, ffn), Output(1, ffn));
        _headDim = Size(128, 16);
        _positions = Backend.Upload([1000], 1);
    }

    [Benchmark]
    public void AttentionInput()
    {
        if (Fused) Ops.MatMulNormed(_x, _norm, 1e-5f, _normed, [_q, _k, _v], [_qOut, _kOut, _vOut]);
        else
        {
            Ops.RmsNorm(_x, _norm, 1e-5f, _normed);
            Ops.MatMulShared(_normed, [_q, _k, _v], [_qOut, _kOut, _vOut]);
        }
        Backend.Synchronize();
    }

    /// <summary>The attention input with RoPE on q and k: one launch fused, against the fused q/k/v then RoPE's own.</summary>
    [Benchmark]
    public void AttentionInputRope()
    {
        if (Fused)
            Ops.MatMulNormed(_x, _norm, 1e-5f, _normed, [_q, _k, _v], [_qOut, _kOut, _vOut],
                new RotaryEmbedding(_positions, 1e6f, RopeLayout.HalfSplit, _headDim));
        else
        {
            Ops.MatMulNormed(_x, _norm, 1e-5f, _normed, [_q, _k, _v], [_qOut, _kOut, _vOut]);
            Ops.Rope(_positions, 1e6f, RopeLayout.HalfSplit, _qOut.View(1, _qOut.Dim(1) / _headDim, _headDim),
                _kOut.View(1, _kOut.Dim(1) / _headDim, _headDim));
        }
        Backend.Synchronize();
    }

    [Benchmark]
    public void SwiGlu()
    {
        if (Fused) Ops.SwiGlu(_x, _norm, 1e-5f, _normed, _gate, _up, _upOut, _gateOut);
        else
        {
            Ops.RmsNorm(_x, _norm, 1e-5f, _normed);
            Ops.MatMulShared(_normed, [_gate, _up], [_gateOut, _upOut]);
            Ops.SiluMul(_gateOut, _upOut, _gateOut);
        }
        Backend.Synchronize();
    }
}
