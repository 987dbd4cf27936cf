using BenchmarkDotNet.Attributes;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Benchmarks;

/// <summary>Mistral-7B attention (32 query heads over 8 KV heads of 128): one decode query against a KV cache of
/// <see cref="Keys"/> positions, and a causal 128-token prefill.</summary>
public class AttentionBenchmarks : DeviceBenchmark
{
    [Params(512, 4096)]
    public int Keys { get; set; }

    DeviceTensor _q1 = null!, _qp = null!, _k = null!, _v = null!, _y1 = null!, _yp = null!;
    int _heads, _kvHeads, _dim, _keys, _prompt;

    protected override void Create()
    {
        _heads = Size(32, 4);
        _kvHeads = Size(8, 2);
        _dim = Size(128, 16);
        _keys = RealShapes ? Keys : Keys / 64;
        _prompt = Size(128, 8);
        _q1 = Activations(1, 1, _heads, _dim);
        _qp = Activations(2, _prompt, _heads, _dim);
        _k = Activations(3, _keys, _kvHeads, _dim);
        _v = Activations(4, _keys, _kvHeads, _dim);
        _y1 = Output(1, _heads * _dim);
        _yp = Output(_prompt, _heads * _dim);
    }

    [Benchmark]
    public void Decode()
    {
        Ops.Attention(_q1, _k, _v, _keys, _keys - 1, 4096, 1f / MathF.Sqrt(_dim), _y1);
        Backend.Synchronize();
    }

    [Benchmark]
    public void Prefill()
    {
        Ops.Attention(_qp, _k, _v, _prompt, 0, 4096, 1f / MathF.Sqrt(_dim), _yp);
        Backend.Synchronize();
    }
}
