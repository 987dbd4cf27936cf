using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>One ILGPU CPU accelerator (and one cpu backend) shared by every ILGPU test: creating an accelerator and
/// compiling kernels is the expensive part.</summary>
public sealed class IlgpuFixture : IDisposable
{
    public IBackend Ilgpu { get; } = IlgpuBackend.CreateCpuAccelerator();
    public IBackend Cpu { get; } = CpuBackend.Create();

    public void Dispose()
    {
        Ilgpu.Dispose();
        Cpu.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ilgpu-cpu accelerator";
}

/// <summary>Every ILGPU kernel on the CPU accelerator against the cpu op of the same name (habit 7). The accelerator
/// has warp 4 and 8 threads per group, so sizes 3 (below a warp), 13 and 37 (not a multiple of the group) are edges.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuOpsTests(IlgpuFixture fixture)
{
    readonly IBackend gpu = fixture.Ilgpu, cpu = fixture.Cpu;

    /// <summary>Runs <paramref name="op"/> on both backends with the same inputs and compares the F32 output.</summary>
    void Compare(string what, (float[] Values, int[] Shape)[] inputs, int[] outShape, Action<IOps, DeviceTensor[], DeviceTensor> op,
        double absolute, double relative = 0)
    {
        float[] RunOn(IBackend backend)
        {
            var tensors = inputs.Select(i => backend.Upload(i.Values, i.Shape)).ToArray();
            using var y = backend.Allocate(DType.F32, outShape);
            op(backend.Ops, tensors, y);
            var result = Download(backend, y);
            foreach (var t in tensors) t.Dispose();
            return result;
        }
        Close(RunOn(cpu), RunOn(gpu), absolute, relative, what);
    }

    [Theory]
    [InlineData(DType.F32, 1, 3, 3)]
    [InlineData(DType.F32, 2, 37, 13)]
    [InlineData(DType.F16, 3, 13, 5)]
    [InlineData(DType.BF16, 2, 40, 9)]
    [InlineData(DType.Q8_0, 2, 64, 13)]
    [InlineData(DType.Q4_0, 3, 64, 5)]
    [InlineData(DType.F32, 1, 64, 9)]
    [InlineData(DType.F32, 2, 4, 3)]
    [InlineData(DType.F32, 2, 12, 3)]
    [InlineData(DType.F16, 1, 256, 13)]
    [InlineData(DType.BF16, 3, 64, 5)]
    [InlineData(DType.Q8_0, 1, 1024, 3)]
    [InlineData(DType.Q4_0, 1, 1024, 3)]
    [InlineData(DType.F32, 65, 37, 13)]
    [InlineData(DType.F32, 65, 64, 17)]
    [InlineData(DType.F16, 65, 40, 9)]
    [InlineData(DType.BF16, 70, 64, 20)]
    [InlineData(DType.Q8_0, 65, 96, 13)]
    [InlineData(DType.Q4_0, 66, 64, 17)]
    [InlineData(DType.F32, 9, 1024, 16)]   // the GEMM split over k (few tiles, long rows)
    [InlineData(DType.F16, 9, 520, 5)]     // ... with a short last split
    [InlineData(DType.Q8_0, 12, 2048, 7)]
    [InlineData(DType.Q4_0, 9, 1024, 16)]
    public void MatMul(DType dtype, int n, int k, int m)
    {
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var x = Random(n * k, 1);
        var bias = Random(m, 3);
        float[] RunOn(IBackend b, bool withBias)
        {
            using var xt = b.Upload(x, n, k);
            using var wt = b.Upload(bytes, dtype, m, k);
            using var bt = b.Upload(bias, m);
            using var y = b.Allocate(DType.F32, n, m);
            b.Ops.MatMul(xt, wt, withBias ? bt : null, y);
            return Download(b, y);
        }
        // fp32 sums of k terms in another order (lanes, tiles, splits of k) differ by rounding that grows like √k.
        double tolerance = 1e-5 * Math.Max(1, Math.Sqrt(k / 64.0));
        Close(RunOn(cpu, true), RunOn(gpu, true), tolerance, 1e-5, $"MatMul {dtype}");
        Close(Reference.MatMul(x, dequantized, null, n, k, m), RunOn(gpu, false), tolerance, 1e-5, $"MatMul {dtype} vs dequantized");
    }

    /// <summary>q, k, v-like products over one x in one launch (and the per-product GEMMs for a long x).</summary>
    [Theory]
    [InlineData(DType.Q4_0, 1, 3)]
    [InlineData(DType.F16, 3, 2)]
    [InlineData(DType.Q8_0, 8, 3)]
    [InlineData(DType.BF16, 20, 2)]
    public void MatMulShared(DType dtype, int n, int count)
    {
        const int k = 256;
        int[] ms = [16, 5, 9];
        var weights = Enumerable.Range(0, count).Select(i => Weights(dtype, ms[i], k, 10 + i).Bytes).ToArray();
        var x = Random(n * k, 1);
        float[][] RunOn(IBackend b)
        {
            using var xt = b.Upload(x, n, k);
            var wt = weights.Select((w, i) => b.Upload(w, dtype, ms[i], k)).ToArray();
            var yt = Enumerable.Range(0, count).Select(i => b.Allocate(DType.F32, n, ms[i])).ToArray();
            b.Ops.MatMulShared(xt, wt, yt);
            var result = yt.Select(y => Download(b, y)).ToArray();
            foreach (var t in wt.Concat(yt)) t.Dispose();
            return result;
        }
        var (expected, actual) = (RunOn(cpu), RunOn(gpu));
        for (int i = 0; i < count; i++) Close(expected[i], actual[i], 2e-5, 1e-5, $"MatMulShared {dtype} product {i}");
    }

    [Fact]
    public void MatMulSharedRefusesMixedDtypes()
    {
        using var x = cpu.Allocate(DType.F32, 1, 64);
        using var a = cpu.Upload(Weights(DType.Q4_0, 4, 64, 1).Bytes, DType.Q4_0, 4, 64);
        using var b = cpu.Upload(Weights(DType.Q8_0, 4, 64, 2).Bytes, DType.Q8_0, 4, 64);
        using var ya = cpu.Allocate(DType.F32, 1, 4);
        using var yb = cpu.Allocate(DType.F32, 1, 4);
        var e = Assert.Throws<ArgumentException>(() => cpu.Ops.MatMulShared(x, [a, b], [ya, yb]));
        Assert.Contains("dtypes differ", e.Message);
        Assert.Throws<ArgumentException>(() => cpu.Ops.MatMulShared(x, [a], [ya]));
    }

    [Theory]
    [InlineData(DType.F16, 1, 256, 13)]     // GEMV
    [InlineData(DType.Q4_0, 70, 64, 17)]    // GEMM
    [InlineData(DType.Q8_0, 9, 1024, 16)]   // GEMM split over k
    public void MatMulAccumulate(DType dtype, int n, int k, int m)
    {
        var (bytes, _) = Weights(dtype, m, k, 2);
        var x = Random(n * k, 1);
        var residual = Random(n * m, 3);
        float[] RunOn(IBackend b)
        {
            using var xt = b.Upload(x, n, k);
            using var wt = b.Upload(bytes, dtype, m, k);
            using var y = b.Upload(residual, n, m);
            b.Ops.MatMulAccumulate(xt, wt, y);
            return Download(b, y);
        }
        double tolerance = 1e-5 * Math.Max(1, Math.Sqrt(k / 64.0));
        Close(RunOn(cpu), RunOn(gpu), tolerance, 1e-5, $"MatMulAccumulate {dtype}");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(37)]
    public void Elementwise(int count)
    {
        var a = (Random(count, 4, 6f), new[] { count });
        var b = (Random(count, 5, 6f), new[] { count });
        Compare("Add", [a, b], [count], (o, t, y) => o.Add(t[0], t[1], y), 0);
        Compare("Scale", [a], [count], (o, t, y) => o.Scale(t[0], -1.7f, y), 0);
        Compare("Relu", [a], [count], (o, t, y) => o.Relu(t[0], y), 0);
        Compare("Gelu", [a], [count], (o, t, y) => o.Gelu(t[0], y), 1e-6, 1e-6);
        Compare("SiluMul", [a, b], [count], (o, t, y) => o.SiluMul(t[0], t[1], y), 1e-6, 1e-5);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(3, 37)]
    public void Norms(int n, int d)
    {
        var x = (Random(n * d, 6, 3f), new[] { n, d });
        var w = (Random(d, 7), new[] { d });
        var b = (Random(d, 8), new[] { d });
        Compare("RmsNorm", [x, w], [n, d], (o, t, y) => o.RmsNorm(t[0], t[1], 1e-6f, y), 1e-5, 1e-5);
        Compare("LayerNorm", [x, w, b], [n, d], (o, t, y) => o.LayerNorm(t[0], t[1], t[2], 1e-5f, y), 1e-5, 1e-5);
        var cw = (Random(n, 9), new[] { n });
        var cb = (Random(n, 10), new[] { n });
        Compare("ChannelNorm", [x, cw, cb], [n, d], (o, t, y) => o.ChannelNorm(t[0], t[1], t[2], 1e-5f, y), 1e-5, 1e-5);
    }

    [Theory]
    [InlineData(RopeLayout.HalfSplit)]
    [InlineData(RopeLayout.Interleaved)]
    public void Rope(RopeLayout layout)
    {
        int n = 3, heads = 2, d = 10;
        var x = Random(n * heads * d, 11);
        int[] positions = [0, 5, 1234];
        float[] RunOn(IBackend b)
        {
            using var xt = b.Upload(x, n, heads, d);
            using var pt = b.Upload(positions, n);
            b.Ops.Rope(pt, 1e6f, layout, xt);
            return Download(b, xt);
        }
        Close(RunOn(cpu), RunOn(gpu), 1e-6, 1e-6, $"Rope {layout}");
    }

    [Theory]
    [InlineData(2, 4, 2, 5, 7, -1, 0)]
    [InlineData(3, 2, 1, 13, 9, 6, 0)]
    [InlineData(4, 4, 2, 8, 11, 7, 3)]
    [InlineData(1, 2, 1, 13, 300, 299, 0)]
    [InlineData(1, 1, 1, 8, 260, 259, 100)]
    [InlineData(1, 8, 2, 8, 260, 259, 100)]
    [InlineData(1, 1, 1, 5, 200, -1, 0)]
    [InlineData(9, 2, 1, 6, 40, 31, 0)]
    [InlineData(11, 3, 3, 4, 11, -1, 0)]
    [InlineData(7, 2, 1, 3, 50, 43, 5)]
    public void Attention(int nq, int hq, int hkv, int d, int keyCount, int first, int window)
    {
        int capacity = keyCount + 2;
        var q = (Random(nq * hq * d, 12), new[] { nq, hq, d });
        var k = (Random(capacity * hkv * d, 13), new[] { capacity, hkv, d });
        var v = (Random(capacity * hkv * d, 14), new[] { capacity, hkv, d });
        Compare("Attention", [q, k, v], [nq, hq * d],
            (o, t, y) => o.Attention(t[0], t[1], t[2], keyCount, first, window, 0.3f, y), 1e-6, 1e-5);
    }

    /// <summary>Three sequences' decode queries against their own rows of one shared cache, in one launch: against the
    /// cpu op and against the test's own attention per sequence.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void AttentionDecodeBatch(int window)
    {
        const int n = 3, hq = 8, hkv = 2, d = 8, capacity = 40;
        int[] starts = [0, 40, 80], counts = [5, 37, 1];
        var q = Random(n * hq * d, 12);
        var k = Random(n * capacity * hkv * d, 13);
        var v = Random(n * capacity * hkv * d, 14);
        float[] RunOn(IBackend b)
        {
            using var qt = b.Upload(q, n, hq, d);
            using var kt = b.Upload(k, n * capacity, hkv, d);
            using var vt = b.Upload(v, n * capacity, hkv, d);
            using var st = b.Upload(starts, n);
            using var ct = b.Upload(counts, n);
            using var y = b.Allocate(DType.F32, n, hq * d);
            b.Ops.AttentionDecodeBatch(qt, kt, vt, st, ct, window, 0.3f, y);
            return Download(b, y);
        }
        var expected = new float[n * hq * d];
        int kvRow = hkv * d;
        for (int i = 0; i < n; i++)
            Reference.Attention(q[(i * hq * d)..((i + 1) * hq * d)], k[(starts[i] * kvRow)..((starts[i] + counts[i]) * kvRow)],
                    v[(starts[i] * kvRow)..((starts[i] + counts[i]) * kvRow)], 1, hq, hkv, d, counts[i], counts[i] - 1, window, 0.3f)
                .CopyTo(expected, i * hq * d);
        Close(expected, RunOn(cpu), 1e-6, 1e-5, "AttentionDecodeBatch cpu");
        Close(expected, RunOn(gpu), 1e-6, 1e-5, "AttentionDecodeBatch ilgpu");
    }

    [Fact]
    public void ScatterRows()
    {
        var src = Random(3 * 5, 20);
        int[] rows = [6, 0, 3];
        float[] RunOn(IBackend b)
        {
            using var st = b.Upload(src, 3, 5);
            using var rt = b.Upload(rows, 3);
            using var dst = b.Allocate(DType.F32, 7, 5);
            b.Ops.ScatterRows(st, rt, dst);
            return Download(b, dst);
        }
        var expected = new float[7 * 5];
        for (int i = 0; i < 3; i++) src.AsSpan(i * 5, 5).CopyTo(expected.AsSpan(rows[i] * 5));
        Assert.Equal(expected, RunOn(cpu));
        Assert.Equal(expected, RunOn(gpu));
        using var s = cpu.Upload(src, 3, 5);
        using var repeated = cpu.Upload(new[] { 1, 1, 2 }, 3);
        using var d = cpu.Allocate(DType.F32, 7, 5);
        Assert.Throws<ArgumentException>(() => cpu.Ops.ScatterRows(s, repeated, d));
        using var outside = cpu.Upload(new[] { 1, 7, 2 }, 3);
        Assert.Throws<ArgumentException>(() => cpu.Ops.ScatterRows(s, outside, d));
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 37)]
    public void LogSoftmax(int n, int v)
    {
        var x = (Random(n * v, 15, 10f), new[] { n, v });
        Compare("LogSoftmax", [x], [n, v], (o, t, y) => o.LogSoftmax(t[0], y), 1e-5, 1e-6);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void Embedding(DType dtype)
    {
        int vocab = 5, d = 32;
        var (bytes, _) = Weights(dtype, vocab, d, 16);
        int[] ids = [4, 0, 2];
        float[] RunOn(IBackend b)
        {
            using var table = b.Upload(bytes, dtype, vocab, d);
            using var idt = b.Upload(ids, ids.Length);
            using var y = b.Allocate(DType.F32, ids.Length, d);
            b.Ops.Embedding(table, idt, y);
            return Download(b, y);
        }
        Close(RunOn(cpu), RunOn(gpu), 0, 0, $"Embedding {dtype}");
    }

    [Theory]
    [InlineData(1, 23, 3, 10, 5, 0, 1)]
    [InlineData(4, 13, 4, 5, 1, 2, 2)]
    [InlineData(32, 200, 40, 3, 2, 0, 1)]   // several GEMM tiles
    [InlineData(16, 50, 16, 8, 1, 4, 4)]    // grouped, "same" padding with an even kernel (MERT's positional conv)
    [InlineData(128, 40, 8, 8, 2, 1, 1)]    // few tiles, long reduction: split over k, summed channels first
    [InlineData(8, 10, 70, 3, 2, 0, 1)]     // 4 output positions: the wide, short GEMM tile
    public void Conv1d(int cin, int t, int cout, int kernel, int stride, int padding, int groups)
    {
        int tOut = (t + 2 * padding - kernel) / stride + 1;
        var x = (Random(cin * t, 17), new[] { cin, t });
        var w = (Random(cout * cin / groups * kernel, 18), new[] { cout, cin / groups, kernel });
        var b = (Random(cout, 19), new[] { cout });
        Compare("Conv1d", [x, w, b], [cout, tOut], (o, ts, y) => o.Conv1d(ts[0], ts[1], ts[2], stride, padding, groups, y), 1e-5, 1e-5);
        Compare("Conv1d no bias", [x, w], [cout, tOut], (o, ts, y) => o.Conv1d(ts[0], ts[1], null, stride, padding, groups, y), 1e-5, 1e-5);
    }

    [Fact]
    public void LayoutOps()
    {
        var x = (Random(3 * 13, 20), new[] { 3, 13 });
        Compare("Transpose", [x], [13, 3], (o, t, y) => o.Transpose(t[0], y), 0);
        var x3 = (Random(2 * 5 * 3, 21), new[] { 2, 5, 3 });
        Compare("SumMiddle", [x3], [2, 3], (o, t, y) => o.SumMiddle(t[0], y), 1e-6, 1e-6);
        Compare("Copy", [x], [5, 7], (o, t, y) => o.Copy(t[0], 4, 30, y, 3), 0);
    }

    [Fact]
    public void WriteDownloadAndQuantizedCopy()
    {
        using var t = gpu.Allocate(DType.F32, 9);
        gpu.Write([1f, 2f], t, 7);
        var all = new float[9];
        gpu.Download(t, all);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 1f, 2f], all);

        var (bytes, values) = QuantizeQ4(3, 32, 22);
        using var q = gpu.Upload(bytes, DType.Q4_0, 3, 32);
        using var q2 = gpu.Allocate(DType.Q4_0, 1, 32);
        gpu.Ops.Copy(q, 64, 32, q2, 0);
        using var ids = gpu.Upload([0], 1);
        using var row = gpu.Allocate(DType.F32, 1, 32);
        gpu.Ops.Embedding(q2, ids, row);
        Close(values.Skip(64).ToArray(), Download(gpu, row), 0, 0, "Copy Q4_0");
    }

    [Fact]
    public void RejectsTensorsOfAnotherBackend()
    {
        using var mine = gpu.Allocate(DType.F32, 4);
        using var theirs = cpu.Allocate(DType.F32, 4);
        Assert.Throws<ArgumentException>(() => gpu.Ops.Add(mine, theirs, mine));
        Assert.Throws<ArgumentException>(() => cpu.Ops.Add(theirs, mine, theirs));
    }
}

/// <summary><c>sonicverse check-kernels</c>'s edge shapes on the CPU accelerator, as the GPU check runs them on CUDA: every
/// op and kernel variant (fused norms and activations, attention splits, each weight format) against the cpu op.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class KernelCheckTests(IlgpuFixture fixture)
{
    [Fact]
    public void EveryEdgeShapePassesOnTheCpuAccelerator()
    {
        var results = new KernelCheck(fixture.Ilgpu, fixture.Cpu).Run(small: true);
        Assert.True(results.Count > 150, $"only {results.Count} checks ran");
        var failed = results.Where(r => !r.Pass).Select(r => $"{r.Op} {r.Shape}: max|Δ| {r.MaxAbsError:G3}").ToList();
        Assert.True(failed.Count == 0, string.Join("; ", failed));
    }
}

/// <summary>The tensor-core GEMM's tiling, fragment loads and stores against the cpu op, its mma emulated by shuffles
/// from the PTX fragment layout on a CPU accelerator with 32-lane warps (the layout itself is checked on a GPU by
/// <c>check-kernels</c> with SONICVERSE_TENSOR_CORES=1).</summary>
public sealed class TensorCoreGemmTests
{
    [Fact]
    public void EveryGemmCaseMatchesTheCpuOp()
    {
        using var tensorCores = IlgpuBackend.CreateCpuAcceleratorWithTensorCores();
        using var cpu = CpuBackend.Create();
        var results = new KernelCheck(tensorCores, cpu).RunGemm();
        var failed = results.Where(r => !r.Pass).Select(r => $"{r.Op} {r.Shape}: max|Δ| {r.MaxAbsError:G3}").ToList();
        Assert.True(failed.Count == 0, string.Join("; ", failed));
    }
}
