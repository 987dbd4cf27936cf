using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>MERT-v1-95M on a 10 s clip (749 frames): the FFN GEMMs 768→3072→768 in fp32, the second feature-encoder
/// conv (512→512, kernel 3, stride 2 over 47999 steps) and the positional conv (768 channels, 16 groups, 128 taps).</summary>
public class MertBenchmarks : DeviceBenchmark
{
    DeviceTensor _h = null!, _inW = null!, _inB = null!, _mid = null!, _outW = null!, _outB = null!, _out = null!;
    DeviceTensor _wave = null!, _convW = null!, _conv = null!;
    DeviceTensor _posX = null!, _posW = null!, _posB = null!, _pos = null!;

    protected override void Create()
    {
        int frames = Size(749, 32), hidden = Size(768, 32), ffn = Size(3072, 64);
        _h = Activations(1, frames, hidden);
        _inW = Weights(DType.F32, ffn, hidden, 2);
        _inB = Activations(3, ffn);
        _mid = Output(frames, ffn);
        _outW = Weights(DType.F32, hidden, ffn, 4);
        _outB = Activations(5, hidden);
        _out = Output(frames, hidden);

        int channels = Size(512, 16), steps = Size(47999, 400);
        _wave = Activations(6, channels, steps);
        _convW = Activations(7, channels, channels, 3);
        _conv = Output(channels, (steps - 3) / 2 + 1);

        int groups = Size(16, 4), taps = Size(128, 16);
        _posX = Activations(8, hidden, frames);
        _posW = Activations(9, hidden, hidden / groups, taps);
        _posB = Activations(10, hidden);
        _pos = Output(hidden, frames + 1);
    }

    [Benchmark]
    public void FeedForwardGemms()
    {
        Ops.MatMul(_h, _inW, _inB, _mid);
        Ops.Gelu(_mid, _mid);
        Ops.MatMul(_mid, _outW, _outB, _out);
        Backend.Synchronize();
    }

    [Benchmark]
    public void FeatureConv()
    {
        Ops.Conv1d(_wave, _convW, null, 2, 0, 1, _conv);
        Backend.Synchronize();
    }

    [Benchmark]
    public void PositionalConv()
    {
        Ops.Conv1d(_posX, _posW, _posB, 1, _posW.Dim(2) / 2, _posX.Dim(0) / _posW.Dim(1), _pos);
        Backend.Synchronize();
    }
}
