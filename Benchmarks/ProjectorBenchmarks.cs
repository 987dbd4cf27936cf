using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>The projector's hot paths in f16: one content-token MLP (GELU, 768→4096, GELU, 4096→4096; the model has 60
/// such MLPs, 1.14 B parameters in all) and the shared backbone GEMM over 13 layers × 760 frames (768→512).</summary>
public class ProjectorBenchmarks : DeviceBenchmark
{
    DeviceTensor _v = null!, _g = null!, _w1 = null!, _b1 = null!, _h = null!, _w2 = null!, _b2 = null!, _tok = null!;
    DeviceTensor _frames = null!, _backW = null!, _backB = null!, _back = null!;

    protected override void Create()
    {
        int input = Size(768, 32), width = Size(4096, 64), rows = Size(13 * 760, 3 * 40), backbone = Size(512, 16);
        _v = Activations(1, 1, input);
        _g = Output(1, input);
        _w1 = Weights(DType.F16, width, input, 2);
        _b1 = Activations(3, width);
        _h = Output(1, width);
        _w2 = Weights(DType.F16, width, width, 4);
        _b2 = Activations(5, width);
        _tok = Output(1, width);
        _frames = Activations(6, rows, input);
        _backW = Weights(DType.F16, backbone, input, 7);
        _backB = Activations(8, backbone);
        _back = Output(rows, backbone);
    }

    [Benchmark]
    public void TokenMlp()
    {
        Ops.Gelu(_v, _g);
        Ops.MatMul(_g, _w1, _b1, _h);
        Ops.Gelu(_h, _h);
        Ops.MatMul(_h, _w2, _b2, _tok);
        Backend.Synchronize();
    }

    [Benchmark]
    public void BackboneGemm()
    {
        Ops.MatMul(_frames, _backW, _backB, _back);
        Ops.Relu(_back, _back);
        Backend.Synchronize();
    }
}
