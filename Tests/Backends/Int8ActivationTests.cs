using SonicVerse.Kernels.Cpu;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>The cpu backend's int8 activations (llama.cpp's arithmetic for quantized weights): the rounding rule on
/// hand-made blocks, and every product path — integer row dots, pairs and single rows, row groups and leftovers, the
/// GEMM on rounded floats — against a scalar reference that rounds x by ggml's rule and multiplies in double.</summary>
public sealed class Int8ActivationTests : IDisposable
{
    readonly IBackend int8 = CpuBackend.Create(int8Activations: true);

    public void Dispose() => int8.Dispose();

    [Fact]
    public void BlocksRoundByGgmlsRule()
    {
        var x = new float[96];
        x[0] = 127f;                  // amax 127: x·127/amax = x, so the halves show the rounding
        x[1] = 2.5f; x[2] = 3.5f; x[3] = -2.5f; x[4] = 1.4999f; x[5] = -127f;
        // block 1 stays zero: d = 0 and every q = 0
        x[64] = 1f; x[65] = -0.5f;    // amax 1: d = 1/127, which f16 cannot hold exactly
        var rows = new Int8Rows();
        rows.Quantize(x, 1, 96);

        Assert.Equal(new sbyte[] { 127, 2, 4, -2, 1, -127, 0, 0 }, rows.Values[..8]);
        Assert.Equal(1f, rows.Scales[0]);
        Assert.Equal(8 * (127 + 2 + 4 - 2), rows.OffsetLanes[0]);
        Assert.Equal(8 * (1 - 127), rows.OffsetLanes[1]);
        Assert.All(rows.Values[32..64], q => Assert.Equal(0, q));
        Assert.Equal(0f, rows.Scales[1]);
        Assert.Equal(new sbyte[] { 127, -64 }, rows.Values[64..66]);   // -63.5 → -64 (even)
        Assert.Equal((float)(Half)(1f / 127f), rows.Scales[2]);
        Assert.NotEqual(1f / 127f, rows.Scales[2]);
    }

    [Theory]
    [InlineData(DType.Q4_0, 1, 64, 9)]      // one row group and five rows left over
    [InlineData(DType.Q4_0, 5, 256, 70)]    // x rows in pairs and one alone
    [InlineData(DType.Q4_0, 30, 96, 4099)]  // the most rows dotted row by row, over many parallel chunks
    [InlineData(DType.Q4_0, 31, 288, 40)]   // the GEMM on the rounded floats
    [InlineData(DType.Q8_0, 1, 512, 130)]
    [InlineData(DType.Q8_0, 6, 256, 70)]
    [InlineData(DType.Q8_0, 20, 64, 33)]
    [InlineData(DType.Q8_0, 31, 64, 33)]
    public void ProductsUseXRoundedToInt8Blocks(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1, scale: 3f);
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        using var xt = int8.Upload(x, n, k);
        using var wt = int8.Upload(bytes, dtype, m, k);
        using var bt = int8.Upload(bias, m);
        using var y = int8.Allocate(DType.F32, n, m);
        int8.Ops.MatMul(xt, wt, bt, y);
        var actual = Download(int8, y);

        Close(MatMul(RoundLikeGgml(x), dequantized, bias, n, k, m), actual, 1e-4, 1e-5, $"{dtype} int8");
        // The rounding shows: the same product on unrounded x is further off than the tolerance.
        var unrounded = MatMul(x, dequantized, bias, n, k, m);
        Assert.True(unrounded.Zip(actual).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "int8 activations changed nothing");
    }

    /// <summary>The 128-bit integer dots (Arm64, x86 without AVX2) called directly — this machine's backend takes the
    /// AVX2 ones — against the same reference, and each x row alone gets its bits from the batch.</summary>
    [Theory]
    [InlineData(DType.Q4_0, 1, 64, 9)]
    [InlineData(DType.Q4_0, 5, 256, 70)]
    [InlineData(DType.Q8_0, 6, 512, 33)]
    public void PortableInt8RowDotsMatchTheReference(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1, scale: 3f);
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        var format = Enum.Parse<SonicVerse.Kernels.WeightFormat>(dtype.ToString());
        var rows = new Int8Rows();
        rows.Quantize(x, n, k);
        var y = new float[n * m];
        Int8RowDots.Portable.BlockRows(rows, bytes, format, bias, 0, m, y, m);
        Close(MatMul(RoundLikeGgml(x), dequantized, bias, n, k, m), y, 1e-4, 1e-5, $"{dtype} portable int8");

        var alone = new Int8Rows();
        alone.Quantize(x.AsSpan((n - 1) * k, k), 1, k);
        var last = new float[m];
        Int8RowDots.Portable.BlockRows(alone, bytes, format, bias, 0, m, last, m);
        Assert.Equal(y.AsSpan((n - 1) * m, m).ToArray(), last);
    }

    [Theory]
    [InlineData(DType.Q4_0, 5, 256, 70)]
    [InlineData(DType.Q8_0, 16, 96, 4099)]
    public void BatchedInt8RowDotsGiveEachRowsOwnBits(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1);
        var (bytes, _) = Weights(dtype, m, k, 2);
        using var xt = int8.Upload(x, n, k);
        using var wt = int8.Upload(bytes, dtype, m, k);
        using var batched = int8.Allocate(DType.F32, n, m);
        int8.Ops.MatMul(xt, wt, null, batched);
        var all = Download(int8, batched);
        for (int i = 0; i < n; i++)
        {
            using var row = int8.Upload(x.AsSpan(i * k, k).ToArray(), 1, k);
            using var alone = int8.Allocate(DType.F32, 1, m);
            int8.Ops.MatMul(row, wt, null, alone);
            Assert.Equal(all.AsSpan(i * m, m).ToArray(), Download(int8, alone));
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void FloatWeightsKeepFloatActivations(DType dtype)
    {
        using var fp32 = CpuBackend.Create();
        var x = Random(3 * 64, 1);
        var (bytes, _) = Weights(dtype, 9, 64, 2);
        float[] Product(IBackend backend)
        {
            using var xt = backend.Upload(x, 3, 64);
            using var wt = backend.Upload(bytes, dtype, 9, 64);
            using var y = backend.Allocate(DType.F32, 3, 9);
            backend.Ops.MatMul(xt, wt, null, y);
            return Download(backend, y);
        }
        Assert.Equal(Product(fp32), Product(int8));
    }

    /// <summary>ggml's x86 quantize_row_q8_0, then back to floats: d = f16(amax / 127), q = round-half-even(x · 127 / amax).</summary>
    static float[] RoundLikeGgml(float[] x)
    {
        var rounded = new float[x.Length];
        for (int b = 0; b < x.Length; b += 32)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(x[b + i]));
            float d = (float)(Half)(amax / 127f), inverse = amax == 0 ? 0 : 127f / amax;
            for (int i = 0; i < 32; i++) rounded[b + i] = d * MathF.Round(x[b + i] * inverse, MidpointRounding.ToEven);
        }
        return rounded;
    }
}
