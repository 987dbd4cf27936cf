namespace SonicVerse.Kernels;

/// <summary>Scalar functions shared by the managed kernels and the ILGPU device code (no allocation, no BCL calls
/// that ILGPU cannot compile).</summary>
public static class ScalarMath
{
    /// <summary>IEEE half bits → float, written out so device code needs no Half type, and without branches (a branch per
    /// weight made the GPU's f16 GEMV instruction-bound): the half's exponent and mantissa placed in a float's low
    /// exponent bits and scaled by 2¹¹² land exactly on the same value, subnormals included (an IEEE multiply, not
    /// flushed to zero); an all-ones exponent (inf/NaN) is selected instead.</summary>
    public static float HalfToFloat(ushort bits)
    {
        uint magnitude = (uint)(bits & 0x7FFF) << 13;
        uint finite = ILGPU.Interop.FloatAsInt(ILGPU.Interop.IntAsFloat(magnitude) * 5.192296858534828e33f);  // 2^112
        uint value = (bits & 0x7C00) == 0x7C00 ? magnitude | 0x7F800000u : finite;
        return ILGPU.Interop.IntAsFloat(value | (uint)(bits & 0x8000) << 16);
    }

    /// <summary>bfloat16 is the top half of an IEEE float: widening is exact.</summary>
    public static float BF16ToFloat(ushort bits) => ILGPU.Interop.IntAsFloat((uint)bits << 16);

    /// <summary>Exact-erf GELU, 0.5·x·(1 + erf(x/√2)) (torch nn.GELU default).</summary>
    public static float Gelu(float x) => 0.5f * x * (1f + Erf(x * 0.70710678118654752f));

    /// <summary>erf via the Chebyshev-fitted erfc of Press et al., Numerical Recipes §6.2 (fractional error &lt; 1.2e-7),
    /// evaluated in double so the result is good to float precision.</summary>
    public static float Erf(float xf)
    {
        double x = xf;
        double z = x < 0 ? -x : x;
        double t = 1.0 / (1.0 + 0.5 * z);
        double poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
        double erfc = t * Math.Exp(poly);
        return (float)(x >= 0 ? 1.0 - erfc : erfc - 1.0);
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));
}
