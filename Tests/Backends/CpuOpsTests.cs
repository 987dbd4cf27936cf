using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>Every cpu op against a scalar reference written here (double accumulation), at odd and even shapes.</summary>
public sealed class CpuOpsTests : IDisposable
{
    readonly IBackend cpu = CpuBackend.Create();

    public void Dispose() => cpu.Dispose();

    DeviceTensor Up(float[] values, params int[] shape) => cpu.Upload(values, shape);

    float[] Run(Action<IOps, DeviceTensor> op, params int[] outShape)
    {
        using var y = cpu.Allocate(DType.F32, outShape);
        op(cpu.Ops, y);
        return Download(cpu, y);
    }

    [Theory]
    [InlineData(DType.F32, 1, 32, 7)]
    [InlineData(DType.F32, 5, 96, 33)]
    [InlineData(DType.F32, 3, 1000, 130)]
    [InlineData(DType.F16, 4, 64, 19)]
    [InlineData(DType.BF16, 3, 160, 21)]
    [InlineData(DType.Q8_0, 1, 64, 9)]
    [InlineData(DType.Q8_0, 6, 256, 70)]
    [InlineData(DType.Q8_0, 1, 512, 130)]
    [InlineData(DType.Q4_0, 1, 96, 11)]
    [InlineData(DType.Q4_0, 5, 256, 70)]
    [InlineData(DType.Q4_0, 1, 512, 130)]
    [InlineData(DType.F32, 13, 50, 37)]
    [InlineData(DType.F16, 13, 64, 40)]
    [InlineData(DType.BF16, 8, 96, 17)]
    [InlineData(DType.Q8_0, 20, 64, 33)]
    [InlineData(DType.Q8_0, 31, 64, 33)]   // the fewest Q8_0 rows packed for the GEMM
    [InlineData(DType.Q4_0, 7, 544, 48)]
    [InlineData(DType.Q4_0, 30, 96, 21)]   // the most rows Q4_0 dots row by row
    [InlineData(DType.Q4_0, 31, 288, 40)]  // the fewest it packs for the GEMM (288: a 256-element packing chunk and a rest)
    [InlineData(DType.BF16, 7, 64, 35)]
    [InlineData(DType.BF16, 48, 64, 20)]   // the most BF16 rows dotted row by row
    [InlineData(DType.BF16, 49, 64, 20)]   // the fewest BF16 rows packed for the GEMM
    public void MatMulMatchesDequantizedReference(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1);
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        using var xt = Up(x, n, k);
        using var wt = cpu.Upload(bytes, dtype, m, k);
        using var bt = Up(bias, m);
        Close(MatMul(x, dequantized, bias, n, k, m), Run((o, y) => o.MatMul(xt, wt, bt, y), n, m), 1e-4, 1e-5, $"{dtype}");
        Close(MatMul(x, dequantized, null, n, k, m), Run((o, y) => o.MatMul(xt, wt, null, y), n, m), 1e-4, 1e-5, $"{dtype} no bias");
    }

    [Theory]
    [InlineData(DType.Q4_0, 5, 256, 70)]    // x rows in pairs and one alone; row groups of four and two rows left over
    [InlineData(DType.Q8_0, 16, 96, 4099)]  // the most rows dotted row by row, over many parallel chunks
    [InlineData(DType.BF16, 3, 64, 33)]
    [InlineData(DType.F16, 5, 96, 21)]
    [InlineData(DType.F32, 8, 32, 70)]
    public void BatchedRowDotsGiveEachRowsOwnBits(DType dtype, int n, int k, int m)
    {
        // Batched decoding promises each sequence the bits it gets alone (BatchedDecodingTests rely on it).
        var x = Random(n * k, 1);
        var (bytes, _) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        using var xt = Up(x, n, k);
        using var wt = cpu.Upload(bytes, dtype, m, k);
        using var bt = Up(bias, m);
        var batched = Run((o, y) => o.MatMul(xt, wt, bt, y), n, m);
        for (int i = 0; i < n; i++)
        {
            using var row = Up(x.AsSpan(i * k, k).ToArray(), 1, k);
            Assert.Equal(batched.AsSpan(i * m, m).ToArray(), Run((o, y) => o.MatMul(row, wt, bt, y), 1, m));
        }
    }

    [Theory]
    [InlineData(DType.F32, 1, 64, 9)]
    [InlineData(DType.Q4_0, 5, 256, 70)]
    [InlineData(DType.BF16, 13, 96, 17)]
    public void MatMulAccumulateIsMatMulThenAddBitForBit(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1);
        var (bytes, _) = Weights(dtype, m, k, 2);
        var residual = Random(n * m, 3);
        using var xt = Up(x, n, k);
        using var wt = cpu.Upload(bytes, dtype, m, k);
        using var product = cpu.Allocate(DType.F32, n, m);
        using var separate = Up(residual, n, m);
        using var fused = Up(residual, n, m);
        cpu.Ops.MatMul(xt, wt, null, product);
        cpu.Ops.Add(separate, product, separate);
        cpu.Ops.MatMulAccumulate(xt, wt, fused);
        var (a, b) = (new float[n * m], new float[n * m]);
        cpu.Download(separate, a);
        cpu.Download(fused, b);
        Assert.Equal(a, b);
        Assert.NotEqual(residual, b);
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(3, 1000)]
    [InlineData(2, 40000)]
    public void ElementwiseOps(int rows, int cols)
    {
        int count = rows * cols;
        var a = Random(count, 4, 5f);
        var b = Random(count, 5, 5f);
        using var at = Up(a, rows, cols);
        using var bt = Up(b, rows, cols);
        Close(a.Select((v, i) => v + b[i]).ToArray(), Run((o, y) => o.Add(at, bt, y), rows, cols), 1e-6, 1e-6, "Add");
        Close(a.Select(v => v * 0.37f).ToArray(), Run((o, y) => o.Scale(at, 0.37f, y), rows, cols), 1e-6, 1e-6, "Scale");
        Close(a.Select(v => Math.Max(v, 0f)).ToArray(), Run((o, y) => o.Relu(at, y), rows, cols), 0, 0, "Relu");
        Close(a.Select(v => (float)(0.5 * v * (1 + Erf(v / Math.Sqrt(2))))).ToArray(), Run((o, y) => o.Gelu(at, y), rows, cols),
            1e-6, 1e-6, "Gelu");
        Close(a.Select((g, i) => (float)(g / (1 + Math.Exp(-g)) * b[i])).ToArray(), Run((o, y) => o.SiluMul(at, bt, y), rows, cols),
            1e-5, 1e-5, "SiluMul");
    }

    [Fact]
    public void GeluCoversTheTails()
    {
        var x = Enumerable.Range(-120, 241).Select(i => i / 10f).ToArray();
        using var xt = Up(x, x.Length);
        Close(x.Select(v => (float)(0.5 * v * (1 + Erf(v / Math.Sqrt(2))))).ToArray(), Run((o, y) => o.Gelu(xt, y), x.Length),
            1e-6, 1e-6, "Gelu");
    }

    [Fact]
    public void InPlaceElementwiseAliasing()
    {
        var a = Random(5000, 6);
        var b = Random(5000, 7);
        using var at = Up(a, 5000);
        using var bt = Up(b, 5000);
        cpu.Ops.SiluMul(at, bt, bt);
        cpu.Ops.Add(at, bt, at);
        var expected = a.Select((v, i) => (float)(v + a[i] / (1 + Math.Exp(-a[i])) * b[i])).ToArray();
        Close(expected, Download(cpu, at), 1e-5, 1e-5, "aliased");
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(3, 768)]
    [InlineData(2, 4099)]
    [InlineData(37, 768)]  // enough work for several parallel chunks
    public void RowNorms(int n, int d)
    {
        var x = Random(n * d, 8, 3f).Select(v => v + 1.5f).ToArray();
        var w = Random(d, 9);
        var b = Random(d, 10);
        using var xt = Up(x, n, d);
        using var wt = Up(w, d);
        using var bt = Up(b, d);
        var rms = new float[n * d];
        var ln = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            var row = x.Skip(i * d).Take(d).Select(v => (double)v).ToArray();
            double inv = 1 / Math.Sqrt(row.Sum(v => v * v) / d + 1e-5);
            double mean = row.Average();
            double invStd = 1 / Math.Sqrt(row.Sum(v => (v - mean) * (v - mean)) / d + 1e-5);
            for (int j = 0; j < d; j++)
            {
                rms[i * d + j] = (float)(row[j] * inv * w[j]);
                ln[i * d + j] = (float)((row[j] - mean) * invStd * w[j] + b[j]);
            }
        }
        Close(rms, Run((o, y) => o.RmsNorm(xt, wt, 1e-5f, y), n, d), 1e-5, 1e-5, "RmsNorm");
        Close(ln, Run((o, y) => o.LayerNorm(xt, wt, bt, 1e-5f, y), n, d), 1e-5, 1e-5, "LayerNorm");
    }

    [Theory]
    [InlineData(3, 7)]
    [InlineData(5, 20000)]
    public void ChannelNormIsStableWithALargeOffset(int c, int t)
    {
        // A large common offset defeats one-pass E[x²] − E[x]² in fp32; two passes keep full precision.
        var x = Random(c * t, 11).Select(v => v + 1000f).ToArray();
        var w = Random(c, 12);
        var b = Random(c, 13);
        using var xt = Up(x, c, t);
        using var wt = Up(w, c);
        using var bt = Up(b, c);
        var expected = new float[c * t];
        for (int ch = 0; ch < c; ch++)
        {
            var row = x.Skip(ch * t).Take(t).Select(v => (double)v).ToArray();
            double mean = row.Average();
            double inv = 1 / Math.Sqrt(row.Sum(v => (v - mean) * (v - mean)) / t + 1e-5);
            for (int j = 0; j < t; j++) expected[ch * t + j] = (float)((row[j] - mean) * inv * w[ch] + b[ch]);
        }
        Close(expected, Run((o, y) => o.ChannelNorm(xt, wt, bt, 1e-5f, y), c, t), 2e-4, 1e-4, "ChannelNorm");
    }

    [Theory]
    [InlineData(RopeLayout.HalfSplit)]
    [InlineData(RopeLayout.Interleaved)]
    public void RopeRotatesPairs(RopeLayout layout)
    {
        int n = 5, heads = 3, d = 16;
        var x = Random(n * heads * d, 14);
        int[] positions = [0, 1, 7, 31, 100];
        using var xt = Up(x, n, heads, d);
        using var pt = cpu.Upload(positions, n);
        cpu.Ops.Rope(pt, 10000f, layout, xt);
        var expected = (float[])x.Clone();
        for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++)
        for (int j = 0; j < d / 2; j++)
        {
            double angle = positions[i] * Math.Pow(10000, -2.0 * j / d);
            int a = (i * heads + h) * d + (layout == RopeLayout.Interleaved ? 2 * j : j);
            int b = (i * heads + h) * d + (layout == RopeLayout.Interleaved ? 2 * j + 1 : j + d / 2);
            expected[a] = (float)(x[a] * Math.Cos(angle) - x[b] * Math.Sin(angle));
            expected[b] = (float)(x[b] * Math.Cos(angle) + x[a] * Math.Sin(angle));
        }
        Close(expected, Download(cpu, xt), 2e-5, 0, "Rope");
    }

    [Theory]
    [InlineData(4, 4, 2, 8, 9, -1, 0)]     // bidirectional, GQA 2:1
    [InlineData(3, 8, 2, 16, 10, 7, 0)]    // causal prefill tail
    [InlineData(6, 4, 1, 8, 6, 0, 3)]      // causal + sliding window, MQA
    [InlineData(1, 32, 8, 128, 700, 699, 0)] // decode step at a real head size
    [InlineData(5, 6, 3, 5, 40, 35, 4)]    // odd head size, window
    public void AttentionMatchesReference(int nq, int hq, int hkv, int d, int keyCount, int first, int window)
    {
        int capacity = keyCount + 3;
        var q = Random(nq * hq * d, 15);
        var k = Random(capacity * hkv * d, 16);
        var v = Random(capacity * hkv * d, 17);
        float scale = 1 / MathF.Sqrt(d);
        using var qt = Up(q, nq, hq, d);
        using var kt = Up(k, capacity, hkv, d);
        using var vt = Up(v, capacity, hkv, d);
        Close(Attention(q, k, v, nq, hq, hkv, d, keyCount, first, window, scale),
            Run((o, y) => o.Attention(qt, kt, vt, keyCount, first, window, scale, y), nq, hq * d), 1e-5, 1e-4, "Attention");
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(3, 32003)]
    public void LogSoftmaxMatchesReference(int n, int v)
    {
        var x = Random(n * v, 18, 20f);
        using var xt = Up(x, n, v);
        var expected = new float[n * v];
        for (int i = 0; i < n; i++)
        {
            var row = x.Skip(i * v).Take(v).Select(z => (double)z).ToArray();
            double max = row.Max();
            double lse = max + Math.Log(row.Sum(z => Math.Exp(z - max)));
            for (int j = 0; j < v; j++) expected[i * v + j] = (float)(row[j] - lse);
        }
        Close(expected, Run((o, y) => o.LogSoftmax(xt, y), n, v), 1e-5, 1e-6, "LogSoftmax");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void EmbeddingGathersRows(DType dtype)
    {
        int vocab = 11, d = 64;
        var (bytes, values) = Weights(dtype, vocab, d, 19);
        int[] ids = [3, 0, 10, 3, 7];
        using var table = cpu.Upload(bytes, dtype, vocab, d);
        using var idt = cpu.Upload(ids, ids.Length);
        var expected = ids.SelectMany(id => values.Skip(id * d).Take(d)).ToArray();
        Close(expected, Run((o, y) => o.Embedding(table, idt, y), ids.Length, d), 0, 0, "Embedding");
    }

    [Fact]
    public void EmbeddingRejectsOutOfRangeIds()
    {
        using var table = Up(Random(4 * 8, 1), 4, 8);
        using var ids = cpu.Upload([4], 1);
        using var y = cpu.Allocate(DType.F32, 1, 8);
        Assert.Throws<ArgumentException>(() => cpu.Ops.Embedding(table, ids, y));
    }

    [Theory]
    [InlineData(1, 37, 4, 10, 5, 0, 1, true)]   // MERT conv0: 1 → c, k 10, stride 5
    [InlineData(6, 300, 6, 3, 2, 0, 1, false)]  // strided, no bias
    [InlineData(8, 50, 8, 7, 1, 3, 4, true)]    // grouped positional conv with padding
    [InlineData(3, 600, 5, 4, 1, 2, 1, true)]   // several time tiles
    [InlineData(1, 2000, 3, 10, 5, 0, 1, false)] // shallow (≤ 32 taps a field): two blocks of steps, vectors and a tail
    [InlineData(2, 100, 3, 4, 1, 2, 1, true)]   // shallow with padding and bias
    [InlineData(16, 200, 8, 3, 2, 0, 1, true)]  // deeper fields (48 taps): the GEMM path, strided
    [InlineData(64, 100, 32, 5, 1, 2, 2, false)] // the GEMM path grouped, with padding
    public void Conv1dMatchesReference(int cin, int t, int cout, int kernel, int stride, int padding, int groups, bool hasBias)
    {
        var x = Random(cin * t, 20);
        var w = Random(cout * (cin / groups) * kernel, 21);
        var bias = Random(cout, 22);
        int tOut = (t + 2 * padding - kernel) / stride + 1;
        using var xt = Up(x, cin, t);
        using var wt = Up(w, cout, cin / groups, kernel);
        using var bt = Up(bias, cout);
        var expected = new float[cout * tOut];
        int inPer = cin / groups, outPer = cout / groups;
        for (int o = 0; o < cout; o++)
        for (int s = 0; s < tOut; s++)
        {
            double sum = hasBias ? bias[o] : 0;
            for (int c = 0; c < inPer; c++)
            for (int kk = 0; kk < kernel; kk++)
            {
                int pos = s * stride - padding + kk;
                if (pos >= 0 && pos < t) sum += (double)w[(o * inPer + c) * kernel + kk] * x[(o / outPer * inPer + c) * t + pos];
            }
            expected[o * tOut + s] = (float)sum;
        }
        Close(expected, Run((o, y) => o.Conv1d(xt, wt, hasBias ? bt : null, stride, padding, groups, y), cout, tOut),
            1e-5, 1e-5, "Conv1d");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 70)]
    [InlineData(65, 33)]
    public void TransposeAndSumMiddle(int a, int b)
    {
        var x = Random(a * b, 23);
        using var xt = Up(x, a, b);
        var expected = new float[a * b];
        for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) expected[j * a + i] = x[i * b + j];
        Close(expected, Run((o, y) => o.Transpose(xt, y), b, a), 0, 0, "Transpose");

        int c = 5;
        var x3 = Random(a * b * c, 24);
        using var x3t = Up(x3, a, b, c);
        var sums = new float[a * c];
        for (int i = 0; i < a; i++)
        for (int e = 0; e < c; e++)
            sums[i * c + e] = (float)Enumerable.Range(0, b).Sum(j => (double)x3[(i * b + j) * c + e]);
        Close(sums, Run((o, y) => o.SumMiddle(x3t, y), a, c), 1e-5, 1e-5, "SumMiddle");
    }

    [Fact]
    public void CopySplicesElementsAndBlocks()
    {
        var src = Random(20, 25);
        using var st = Up(src, 4, 5);
        using var dt = cpu.Allocate(DType.F32, 3, 5);
        cpu.Ops.Copy(st, 5, 7, dt, 2);
        var expected = new float[15];
        Array.Copy(src, 5, expected, 2, 7);
        Close(expected, Download(cpu, dt), 0, 0, "Copy");

        var (bytes, values) = QuantizeQ8(2, 64, 26);
        using var q = cpu.Upload(bytes, DType.Q8_0, 2, 64);
        using var q2 = cpu.Allocate(DType.Q8_0, 2, 64);
        cpu.Ops.Copy(q, 64, 64, q2, 0);
        using var ids = cpu.Upload([0], 1);
        using var row = cpu.Allocate(DType.F32, 1, 64);
        cpu.Ops.Embedding(q2, ids, row);
        Close(values.Skip(64).ToArray(), Download(cpu, row), 0, 0, "Copy Q8_0");
        Assert.Throws<ArgumentException>(() => cpu.Ops.Copy(q, 16, 32, q2, 0));
    }

    [Fact]
    public void OpsNameTheOpAndShapesOnMismatch()
    {
        using var x = cpu.Allocate(DType.F32, 2, 8);
        using var w = cpu.Allocate(DType.F32, 3, 9);
        using var y = cpu.Allocate(DType.F32, 2, 3);
        var e = Assert.Throws<ArgumentException>(() => cpu.Ops.MatMul(x, w, null, y));
        Assert.Contains("MatMul", e.Message);
        Assert.Contains("[3, 9]", e.Message);
        using var ids = cpu.Upload([1, 2], 2);
        Assert.Throws<ArgumentException>(() => cpu.Ops.Add(x, ids, x));
    }

    [Fact]
    public void WriteAndPartialDownload()
    {
        using var t = cpu.Allocate(DType.F32, 10);
        cpu.Write([1f, 2f, 3f], t, 4);
        var part = new float[4];
        cpu.Download(t, 3, part);
        Assert.Equal([0f, 1f, 2f, 3f], part);
        Assert.Throws<ArgumentException>(() => cpu.Write([1f, 2f], t, 9));
    }
}
