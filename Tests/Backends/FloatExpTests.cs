using System.Runtime.Intrinsics;
using SonicVerse.Kernels.Cpu;

namespace SonicVerse.Tests.Backends;

public class FloatExpTests
{
    [Fact]
    public void WithinTwoUlpsOfMathExpOverTheNormalRange()
    {
        // 2,000,000 arguments evenly over [ln 2^-126, ln float.MaxValue], and every float near 0.
        var x = new float[16];
        long worst = 0;
        float worstAt = 0;
        for (int i = 0; i < 2_000_000; i += 16)
        {
            for (int j = 0; j < 16; j++)
                x[j] = i + j < 1_000_000 ? -87.33f + (87.33f + 88.72f) * (i + j) / 1_000_000f : (i + j - 1_500_000) * 1e-6f;
            var e = FloatExp.Exp(Vector512.Create(x));
            for (int j = 0; j < 16; j++)
            {
                float expected = (float)Math.Exp(x[j]);
                long ulps = Math.Abs(BitConverter.SingleToInt32Bits(e[j]) - (long)BitConverter.SingleToInt32Bits(expected));
                if (ulps > worst) (worst, worstAt) = (ulps, x[j]);
            }
        }
        Assert.True(worst <= 2, $"exp({worstAt}) is {worst} ulps off");
    }

    [Fact]
    public void EdgesAreZeroInfinityAndNaN()
    {
        var x = Vector512.Create(float.NegativeInfinity, -1000f, -87.4f, 0f, 88.8f, 1000f, float.PositiveInfinity, float.NaN,
            -0f, 1f, -1f, 88.7f, -87.3f, 10f, -10f, 0.5f);
        var e = FloatExp.Exp(x);
        Assert.Equal(0f, e[0]);
        Assert.Equal(0f, e[1]);
        Assert.Equal(0f, e[2]);
        Assert.Equal(1f, e[3]);
        Assert.Equal(float.PositiveInfinity, e[4]);
        Assert.Equal(float.PositiveInfinity, e[5]);
        Assert.Equal(float.PositiveInfinity, e[6]);
        Assert.True(float.IsNaN(e[7]));
        Assert.Equal(1f, e[8]);
        Assert.True(float.IsFinite(e[11]) && e[11] > 1e38f);
        Assert.True(e[12] > 0 && e[12] < 1.2e-38f * 1.1f);
    }
}
