using SonicVerse.Kernels;
using SonicVerse.Kernels.Cpu;
using SonicVerse.Loader;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>The narrower row dots called directly — this machine's backend takes the AVX-512 ones: the AVX2 ones (what a
/// CPU without AVX-512 decodes with) and the 128-bit ones (Arm64, x86 without AVX2) — against the scalar reference on
/// the dequantized weights, every format, row groups and leftovers, x rows in pairs and alone, a slice of the rows as a
/// parallel chunk gets. The whole path on an AVX2-only CPU is checked end to end by <see cref="Mistral.GenerateCliTests"/>
/// (DOTNET_EnableAVX512=0), and .ci/run runs the parity tests that way too.</summary>
public class NarrowRowDotsTests
{
    public delegate void BlockRows(ReadOnlySpan<float> x, int n, ReadOnlySpan<byte> w, WeightFormat format,
        ReadOnlySpan<float> bias, int k, int firstRow, int rows, Span<float> y, int ldy);

    static BlockRows Implementation(int bits)
    {
        Assert.True(bits == 256 ? RowDots256.Supported(32) : RowDots128.Supported(32), $"this test needs {bits}-bit vectors");
        return bits == 256 ? RowDots256.BlockRows : RowDots128.BlockRows;
    }

    [Theory]
    [InlineData(256, DType.F32, 3, 64, 9)]
    [InlineData(256, DType.F16, 2, 96, 13)]
    [InlineData(256, DType.BF16, 5, 64, 11)]
    [InlineData(256, DType.Q8_0, 1, 256, 70)]
    [InlineData(256, DType.Q8_0, 6, 64, 33)]
    [InlineData(256, DType.Q4_0, 1, 512, 130)]
    [InlineData(256, DType.Q4_0, 5, 96, 21)]
    [InlineData(128, DType.F32, 3, 64, 9)]
    [InlineData(128, DType.F16, 2, 96, 13)]
    [InlineData(128, DType.BF16, 5, 64, 11)]
    [InlineData(128, DType.Q8_0, 1, 256, 70)]
    [InlineData(128, DType.Q8_0, 6, 64, 33)]
    [InlineData(128, DType.Q4_0, 1, 512, 130)]
    [InlineData(128, DType.Q4_0, 5, 96, 21)]
    public void RowDotsMatchTheDequantizedReference(int bits, DType dtype, int n, int k, int m)
    {
        var blockRows = Implementation(bits);
        var x = Random(n * k, 1);
        var (bytes, dequantized) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        var expected = MatMul(x, dequantized, bias, n, k, m);

        var y = new float[n * m];
        blockRows(x, n, bytes, Format(dtype), bias, k, 0, m, y, m);
        Close(expected, y, 1e-4, 1e-5, $"{bits}-bit {dtype}");

        // Rows [3, m - 2) alone, as one parallel chunk computes them: the same bits as in the whole call.
        var chunk = new float[n * m];
        blockRows(x, n, bytes, Format(dtype), bias, k, 3, m - 5, chunk, m);
        for (int i = 0; i < n; i++)
            Assert.Equal(y.AsSpan(i * m + 3, m - 5).ToArray(), chunk.AsSpan(i * m + 3, m - 5).ToArray());
    }

    [Theory]
    [InlineData(256, DType.Q4_0)]
    [InlineData(256, DType.F16)]
    [InlineData(128, DType.Q4_0)]
    [InlineData(128, DType.F16)]
    public void EachXRowGetsTheBitsItGetsAlone(int bits, DType dtype)
    {
        var blockRows = Implementation(bits);
        const int n = 5, k = 128, m = 23;
        var x = Random(n * k, 4);
        var (bytes, _) = Weights(dtype, m, k, 5);
        var all = new float[n * m];
        blockRows(x, n, bytes, Format(dtype), [], k, 0, m, all, m);
        for (int i = 0; i < n; i++)
        {
            var alone = new float[m];
            blockRows(x.AsSpan(i * k, k), 1, bytes, Format(dtype), [], k, 0, m, alone, m);
            Assert.Equal(all.AsSpan(i * m, m).ToArray(), alone);
        }
    }

    static WeightFormat Format(DType dtype) => Enum.Parse<WeightFormat>(dtype.ToString());   // the same names
}
