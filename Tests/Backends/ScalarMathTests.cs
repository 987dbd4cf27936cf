using SonicVerse.Kernels;

namespace SonicVerse.Tests.Backends;

/// <summary>The device code's scalar conversions against .NET's own, over every input.</summary>
public class ScalarMathTests
{
    [Fact]
    public void HalfToFloatMatchesSystemHalfForAllBitPatterns()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = ScalarMath.HalfToFloat((ushort)bits);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{bits:X4} gave {actual}");
            else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                $"0x{bits:X4}: expected {expected:R}, got {actual:R}");
        }
    }

    /// <summary>Float → f16 → float as System.Half rounds (ties to even): every float whose top 16 bits are given, with
    /// low bits at and around the half-ulp (the ties), over normals, subnormals, the overflow edge, ±0, ±inf and NaN.</summary>
    [Fact]
    public void RoundToHalfMatchesSystemHalf()
    {
        uint[] lows = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2001, 0x3000, 0x7FFF, 0x8000, 0xFFFF];
        for (uint high = 0; high <= 0xFFFF; high++)
            foreach (uint low in lows)
            {
                float value = BitConverter.UInt32BitsToSingle(high << 16 | low);
                float expected = (float)(Half)value, actual = ScalarMath.RoundToHalf(value);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"{value:R} gave {actual:R}");
                else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                    $"0x{high << 16 | low:X8} ({value:R}): expected {expected:R}, got {actual:R}");
            }
    }

    [Fact]
    public void BF16ToFloatIsTheTopHalf()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits += 7)
            Assert.Equal((uint)bits << 16, BitConverter.SingleToUInt32Bits(ScalarMath.BF16ToFloat((ushort)bits)));
    }

    [Fact]
    public void ExpMatchesMathExpToRoundingError()
    {
        var rng = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            double x = rng.NextDouble() * 1400 - 700;
            double expected = Math.Exp(x), actual = ScalarMath.Exp(x);
            Assert.True(Math.Abs(actual - expected) <= 4e-16 * expected, $"exp({x:R}) = {actual:R}, expected {expected:R}");
        }
        Assert.Equal(0.0, ScalarMath.Exp(-800));
        Assert.Equal(1.0, ScalarMath.Exp(0));
    }

    [Fact]
    public void SinCosMatchesMathForRopeAngles()
    {
        // RoPE's angles: fp32 products of a position (up to Mistral's 32k context) and an inverse frequency ≤ 1.
        var rng = new Random(6);
        int differentFloats = 0;
        for (int i = 0; i < 200_000; i++)
        {
            double angle = (float)(rng.NextDouble() * 40_000);
            var sc = ScalarMath.SinCosOf(angle);
            Assert.True(Math.Abs(sc.Sin - Math.Sin(angle)) <= 2e-15 && Math.Abs(sc.Cos - Math.Cos(angle)) <= 2e-15,
                $"angle {angle:R}: ({sc.Sin:R}, {sc.Cos:R}) vs ({Math.Sin(angle):R}, {Math.Cos(angle):R})");
            if ((float)sc.Sin != (float)Math.Sin(angle) || (float)sc.Cos != (float)Math.Cos(angle)) differentFloats++;
        }
        Assert.True(differentFloats < 20, $"{differentFloats} of 200000 rounded to another float");
        for (int k = -8; k <= 8; k++)  // quadrant boundaries
        {
            var sc = ScalarMath.SinCosOf(k * Math.PI / 4);
            Assert.Equal(Math.Sin(k * Math.PI / 4), sc.Sin, 14);
            Assert.Equal(Math.Cos(k * Math.PI / 4), sc.Cos, 14);
        }
    }
}
