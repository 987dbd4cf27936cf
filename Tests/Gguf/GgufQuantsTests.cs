using System.Buffers.Binary;
using SonicVerse.Loader;

namespace SonicVerse.Tests.Gguf;

/// <summary>Hand-built blocks with chosen scales and quants, packed as ggml's quantizers pack them
/// (ggml-quants.c quantize_row_*), checked against the documented formulas evaluated here in double.</summary>
public class GgufQuantsTests
{
    static void WriteHalf(Span<byte> at, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(at, BitConverter.HalfToUInt16Bits((Half)value));

    static void AssertClose(double[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])),
                $"[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void Q8_0IsSignedQuantTimesD()
    {
        var block = new byte[34];
        WriteHalf(block, -0.75f);
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j * 8 - 128);
        var y = new float[32];
        GgufQuants.Dequantize(DType.Q8_0, block, y);
        AssertClose(Enumerable.Range(0, 32).Select(j => -0.75 * (j * 8 - 128)).ToArray(), y);
    }

    [Fact]
    public void Q4_0LowNibblesAreTheFirstHalf()
    {
        var block = new byte[18];
        WriteHalf(block, 0.5f);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];
        GgufQuants.Dequantize(DType.Q4_0, block, y);
        var expected = Enumerable.Range(0, 32).Select(i => 0.5 * ((i < 16 ? i : 15 - (i - 16)) - 8)).ToArray();
        AssertClose(expected, y);
    }

    /// <summary>Q4_K: 8 sub-blocks of 32, y = d·scale[s]·q − dmin·min[s], 6-bit scales and mins packed as
    /// quantize_row_q4_K does: sub-blocks 0-3 in the low 6 bits of bytes s (scale) and s+4 (min); sub-blocks 4-7 in
    /// byte s+4 (scale low nibble | min low nibble &lt;&lt; 4) plus top 2 bits in bits 6-7 of bytes s-4 and s.</summary>
    [Fact]
    public void Q4_KMatchesTheFormulaOnHandBuiltBlocks()
    {
        var rng = new Random(12);
        const int blocks = 3;
        var data = new byte[144 * blocks];
        var expected = new double[256 * blocks];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.AsSpan(144 * b, 144);
            float d = b switch { 0 => 0.5f, 1 => -1.25f, _ => 0.0078125f }, dmin = b == 0 ? 0.25f : 0.375f;
            WriteHalf(block, d);
            WriteHalf(block[2..], dmin);
            int[] scale = Enumerable.Range(0, 8).Select(s => b == 0 ? new[] { 1, 17, 33, 63, 5, 40, 62, 23 }[s] : rng.Next(64)).ToArray();
            int[] min = Enumerable.Range(0, 8).Select(s => b == 0 ? new[] { 0, 63, 7, 31, 48, 2, 59, 16 }[s] : rng.Next(64)).ToArray();
            var packed = block.Slice(4, 12);
            for (int s = 0; s < 8; s++)
            {
                if (s < 4)
                {
                    packed[s] |= (byte)scale[s];
                    packed[s + 4] |= (byte)min[s];
                }
                else
                {
                    packed[s + 4] = (byte)((scale[s] & 15) | ((min[s] & 15) << 4));
                    packed[s - 4] |= (byte)((scale[s] >> 4) << 6);
                    packed[s] |= (byte)((min[s] >> 4) << 6);
                }
            }
            var qs = block.Slice(16, 128);
            for (int e = 0; e < 256; e++)
            {
                int s = e / 32, l = e % 32, q = b == 0 ? (e * 7 + 3) % 16 : rng.Next(16);
                qs[32 * (s / 2) + l] |= (byte)(s % 2 == 0 ? q : q << 4);
                expected[256 * b + e] = (double)d * scale[s] * q - (double)dmin * min[s];
            }
        }
        var y = new float[256 * blocks];
        GgufQuants.Dequantize(DType.Q4_K, data, y);
        AssertClose(expected, y);
    }

    /// <summary>Q6_K: 16 sub-blocks of 16 with signed 8-bit scales, y = d·scale[e/16]·(q − 32), q 6 bits packed as
    /// quantize_row_q6_K does: per 128-value half, ql[l] = q[l] low | q[l+64] low &lt;&lt; 4, ql[l+32] = q[l+32] low |
    /// q[l+96] low &lt;&lt; 4, qh[l] = the top 2 bits of q[l], q[l+32], q[l+64], q[l+96] at bits 0, 2, 4, 6.</summary>
    [Fact]
    public void Q6_KMatchesTheFormulaOnHandBuiltBlocks()
    {
        var rng = new Random(6);
        const int blocks = 2;
        var data = new byte[210 * blocks];
        var expected = new double[256 * blocks];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.AsSpan(210 * b, 210);
            float d = b == 0 ? 0.125f : -0.0302734375f;
            WriteHalf(block[208..], d);
            var scales = new sbyte[16];
            for (int s = 0; s < 16; s++) scales[s] = s == 0 ? (sbyte)-128 : s == 1 ? (sbyte)127 : (sbyte)rng.Next(-128, 128);
            for (int s = 0; s < 16; s++) block[192 + s] = (byte)scales[s];
            int[] q = Enumerable.Range(0, 256).Select(e => e < 64 ? e : rng.Next(64)).ToArray();
            for (int half = 0; half < 2; half++)
            {
                var ql = block.Slice(64 * half, 64);
                var qh = block.Slice(128 + 32 * half, 32);
                int o = 128 * half;
                for (int l = 0; l < 32; l++)
                {
                    ql[l] = (byte)((q[o + l] & 15) | ((q[o + l + 64] & 15) << 4));
                    ql[l + 32] = (byte)((q[o + l + 32] & 15) | ((q[o + l + 96] & 15) << 4));
                    qh[l] = (byte)((q[o + l] >> 4) | ((q[o + l + 32] >> 4) << 2) | ((q[o + l + 64] >> 4) << 4) | ((q[o + l + 96] >> 4) << 6));
                }
            }
            for (int e = 0; e < 256; e++) expected[256 * b + e] = (double)d * scales[e / 16] * (q[e] - 32);
        }
        var y = new float[256 * blocks];
        GgufQuants.Dequantize(DType.Q6_K, data, y);
        AssertClose(expected, y);
    }

    [Fact]
    public void Q8_0QuantizerRoundsHalfAwayFromZero()
    {
        // amax 127 → d = 1 exactly, so x·id is x and ±2.5 sits on a tie: roundf gives ±3 (banker's rounding ±2).
        var x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.5f;
        x[4] = -126.5f;
        var block = new byte[34];
        GgufQuants.QuantizeQ8_0(x, block);
        Assert.Equal((ushort)0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(block)); // f16 1.0
        Assert.Equal(new sbyte[] { 127, 3, -3, 1, -127, 0 }, block.Skip(2).Take(6).Select(v => (sbyte)v));
    }

    [Fact]
    public void Q4_0QuantizerUsesTheSignedMaximumAndClampsAt15()
    {
        // max = -4 (largest |x|, negative) → d = 0.5, id = 2: q = min(15, trunc(2x + 8.5)).
        var x = new float[32];
        x[0] = -4f;       // 2x = -8  → 0
        x[1] = 4f;        // 2x = 8   → 16 → clamped 15
        x[2] = 0.74f;     // 1.48 + 8.5 = 9.98 → 9
        x[3] = -0.76f;    // -1.52 + 8.5 = 6.98 → 6
        x[16] = 1.75f;    // 3.5 + 8.5 = 12
        var block = new byte[18];
        GgufQuants.QuantizeQ4_0(x, block);
        Assert.Equal((ushort)0x3800, BinaryPrimitives.ReadUInt16LittleEndian(block)); // f16 0.5
        int Low(int j) => block[2 + j] & 15;
        int High(int j) => block[2 + j] >> 4;
        Assert.Equal([0, 15, 9, 6, 8], new[] { Low(0), Low(1), Low(2), Low(3), Low(4) });
        Assert.Equal([12, 8], new[] { High(0), High(1) });
    }

    [Fact]
    public void AllZeroBlocksQuantizeToZeroScale()
    {
        var x = new float[64];
        var q8 = new byte[68];
        var q4 = new byte[36];
        GgufQuants.QuantizeQ8_0(x, q8);
        GgufQuants.QuantizeQ4_0(x, q4);
        Assert.All(q8, b => Assert.Equal(0, b));
        // Q4_0's d = max / -8 = 0 / -8 is IEEE -0, stored as f16 0x8000 (ggml does the same).
        Assert.Equal([0x00, 0x80], q4[..2]);
        Assert.Equal([0x00, 0x80], q4[18..20]);
        Assert.All(q4.Skip(2).Take(16), b => Assert.Equal(0x88, b));
    }

    [Fact]
    public void PartialBlocksAndShortBuffersAreRefused()
    {
        Assert.Throws<ArgumentException>(() => GgufQuants.Dequantize(DType.Q8_0, new byte[34], new float[31]));
        Assert.Throws<ArgumentException>(() => GgufQuants.Dequantize(DType.Q6_K, new byte[209], new float[256]));
        Assert.Throws<ArgumentException>(() => GgufQuants.Dequantize(DType.F32, new byte[4], new float[1]));
        Assert.Throws<ArgumentException>(() => GgufQuants.QuantizeQ4_0(new float[32], new byte[17]));
    }
}
