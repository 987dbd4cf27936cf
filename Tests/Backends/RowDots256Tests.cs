using SonicVerse.Kernels;
using SonicVerse.Kernels.Cpu;
using SonicVerse.Loader;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>The AVX2 row dots (what a CPU without AVX-512 decodes with) called directly — this machine's backend takes
/// the AVX-512 ones — against the scalar reference on the dequantized weights, every format, row groups and leftovers,
/// x rows in pairs and alone, a slice of the rows as a parallel chunk gets. The whole path on an AVX2-only CPU is
/// checked end to end by <see cref="Mistral.GenerateCliTests"/> (DOTNET_EnableAVX512=0).</summary>
public class RowDots256Tests
{
    [Theory]
    [InlineData(DType.F32, 3, 64, 9)]
    [InlineData(DType.F16, 2, 96, 13)]
    [InlineData(DType.BF16, 5, 64, 11)]
    [InlineData(DType.Q8_0, 1, 256, 70)]
    [InlineData(DType.Q8_0, 6, 64, 33)]
    [InlineData(DType.Q4_0, 1, 512, 130)]
    [InlineData(DType.Q4_0, 5, 96, 21)]
    public void RowDotsMatchTheDequantizedReference(DType dtype, int n, int k, int m)
    {
        Assert.True(RowDots256.Supported(k), "this test needs AVX2 and FMA");
        var x = Random(n * k, 1);
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        var expected = MatMul(x, dequantized, bias, n, k, m);

        var y = new float[n * m];
        RowDots256.BlockRows(x, n, bytes, Format(dtype), bias, k, 0, m, y, m);
        Close(expected, y, 1e-4, 1e-5, $"{dtype}");

        // Rows [3, m - 2) alone, as one parallel chunk computes them: the same bits as in the whole call.
        var chunk = new float[n * m];
        RowDots256.BlockRows(x, n, bytes, Format(dtype), bias, k, 3, m - 5, chunk, m);
        for (int i = 0; i < n; i++)
            Assert.Equal(y.AsSpan(i * m + 3, m - 5).ToArray(), chunk.AsSpan(i * m + 3, m - 5).ToArray());
    }

    [Theory]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.F16)]
    public void EachXRowGetsTheBitsItGetsAlone(DType dtype)
    {
        const int n = 5, k = 128, m = 23;
        var x = Random(n * k, 4);
        var (bytes, _) = Weights(dtype, m, k, 5);
        var all = new float[n * m];
        RowDots256.BlockRows(x, n, bytes, Format(dtype), [], k, 0, m, all, m);
        for (int i = 0; i < n; i++)
        {
            var alone = new float[m];
            RowDots256.BlockRows(x.AsSpan(i * k, k), 1, bytes, Format(dtype), [], k, 0, m, alone, m);
            Assert.Equal(all.AsSpan(i * m, m).ToArray(), alone);
        }
    }

    static WeightFormat Format(DType dtype) => Enum.Parse<WeightFormat>(dtype.ToString());   // the same names
}
