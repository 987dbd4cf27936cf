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

    [Fact]
    public void BF16ToFloatIsTheTopHalf()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits += 7)
            Assert.Equal((uint)bits << 16, BitConverter.SingleToUInt32Bits(ScalarMath.BF16ToFloat((ushort)bits)));
    }
}
