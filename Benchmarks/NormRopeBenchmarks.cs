using BenchmarkDotNet.Attributes;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>The small per-token ops of a decode step and of MERT: RMSNorm over 4096, RoPE on 32 query heads of 128,
/// SiLU·up over 14336, and LayerNorm of MERT's 749 frames × 768.</summary>
public class NormRopeBenchmarks : DeviceBenchmark
{
    DeviceTensor _x = null!, _gain = null!, _normed = null!, _q = null!, _positions = null!, _gate = null!, _up = null!;
    DeviceTensor _frames = null!, _lnW = null!, _lnB = null!;

    protected override void Create()
    {
        int hidden = Size(4096, 64);
        _x = Activations(1, 1, hidden);
        _gain = Activations(2, hidden);
        _normed = Output(1, hidden);
        _q = Activations(3, 1, Size(32, 4), Size(128, 16));
        _positions = Backend.Upload([100], 1);
        _gate = Activations(4, 1, Size(14336, 128));
        _up = Activations(5, 1, Size(14336, 128));
        int frames = Size(749, 32), width = Size(768, 32);
        _frames = Activations(6, frames, width);
        _lnW = Activations(7, width);
        _lnB = Activations(8, width);
    }

    [Benchmark]
    public void RmsNorm()
    {
        Ops.RmsNorm(_x, _gain, 1e-5f, _normed);
        Backend.Synchronize();
    }

    [Benchmark]
    public void Rope()
    {
        Ops.Rope(_positions, 10000f, RopeLayout.HalfSplit, _q);
        Backend.Synchronize();
    }

    [Benchmark]
    public void SiluMul()
    {
        Ops.SiluMul(_gate, _up, _gate);
        Backend.Synchronize();
    }

    [Benchmark]
    public void LayerNorm()
    {
        Ops.LayerNorm(_frames, _lnW, _lnB, 1e-5f, _frames);
        Backend.Synchronize();
    }
}
