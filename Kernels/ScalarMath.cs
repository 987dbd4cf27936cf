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

    /// <summary>The float nearest to <paramref name="value"/> that an IEEE half holds, ties to even — what storing it as
    /// f16 and reading it back gives — in integer and exact float steps, so every accelerator gets the same bits: ILGPU
    /// 1.5.3's own float → Half truncates on the CPU accelerator (half the values of a test came out one half-ulp
    /// low). Overflow gives ±inf, below half's normal range the steps are 2⁻²⁴ (subnormals), NaN stays NaN.</summary>
    public static float RoundToHalf(float value)
    {
        uint bits = ILGPU.Interop.FloatAsInt(value), sign = bits & 0x80000000u, magnitude = bits & 0x7FFFFFFFu;
        if (magnitude > 0x7F800000u) return value;                                           // NaN
        if (magnitude >= 0x477FF000u) return ILGPU.Interop.IntAsFloat(sign | 0x7F800000u);  // ≥ 65520 rounds past 65504
        if (magnitude >= 0x38800000u)                                                       // ≥ 2⁻¹⁴: a normal half
        {
            // Drop 13 of the 23 mantissa bits, ties to even; a carry moves into the exponent as it should.
            uint rounded = (magnitude + 0xFFFu + ((magnitude >> 13) & 1u)) & ~0x1FFFu;
            return ILGPU.Interop.IntAsFloat(sign | rounded);
        }
        // A subnormal half is a multiple of 2⁻²⁴, which is the spacing of floats in [0.5, 1): adding 0.5 rounds to it.
        float subnormal = ILGPU.Interop.IntAsFloat(magnitude) + 0.5f - 0.5f;
        return ILGPU.Interop.IntAsFloat(sign | ILGPU.Interop.FloatAsInt(subnormal));
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
        double erfc = t * Exp(poly);
        return (float)(x >= 0 ? 1.0 - erfc : erfc - 1.0);
    }

    /// <summary>e^x in double with plain arithmetic (device code: ILGPU has no hardware double exp, and its software
    /// Math.Exp made the GPU's GELU take 1.9 ms for one MERT layer). x = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split
    /// in two, fdlibm's constants, so k·ln2_hi is exact), e^r by its Taylor series to r¹³ (relative error below 2e-16),
    /// times 2^k built in the exponent bits. Underflows to 0 below −708; not for x above 709.</summary>
    public static double Exp(double x)
    {
        if (x < -708.0) return 0.0;
        double k = Math.Floor(x * 1.4426950408889634 + 0.5);
        double r = x - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10;
        double p = 1.0 / 6227020800;  // Horner from the r¹³ term down
        p = p * r + 1.0 / 479001600;
        p = p * r + 1.0 / 39916800;
        p = p * r + 1.0 / 3628800;
        p = p * r + 1.0 / 362880;
        p = p * r + 1.0 / 40320;
        p = p * r + 1.0 / 5040;
        p = p * r + 1.0 / 720;
        p = p * r + 1.0 / 120;
        p = p * r + 1.0 / 24;
        p = p * r + 1.0 / 6;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        return p * ILGPU.Interop.IntAsFloat((ulong)((long)k + 1023) << 52);
    }

    /// <summary>sin and cos of x in double with plain arithmetic (device code, as <see cref="Exp"/>; the software
    /// double trig made RoPE 50 µs a launch on an H100). x = k·π/2 + r, |r| ≤ π/4, with π/2 split in two (fdlibm's
    /// pio2_1/pio2_1t: k·hi is exact for |k| &lt; 2²⁰, i.e. |x| up to 1.6 million), Taylor series to r¹⁵ / r¹⁶, then the
    /// quadrant k mod 4 picks and signs them.</summary>
    public static SinCos SinCosOf(double x)
    {
        double k = Math.Floor(x * 0.63661977236758134 + 0.5);
        double r = x - k * 1.57079632673412561417e+00 - k * 6.07710050650619224932e-11;
        double r2 = r * r;
        double sin = -1.0 / 1307674368000;  // odd terms to r¹⁵, Horner in r²
        sin = sin * r2 + 1.0 / 6227020800;
        sin = sin * r2 - 1.0 / 39916800;
        sin = sin * r2 + 1.0 / 362880;
        sin = sin * r2 - 1.0 / 5040;
        sin = sin * r2 + 1.0 / 120;
        sin = sin * r2 - 1.0 / 6;
        sin = r + r * r2 * sin;
        double cos = 1.0 / 20922789888000;  // even terms to r¹⁶
        cos = cos * r2 - 1.0 / 87178291200;
        cos = cos * r2 + 1.0 / 479001600;
        cos = cos * r2 - 1.0 / 3628800;
        cos = cos * r2 + 1.0 / 40320;
        cos = cos * r2 - 1.0 / 720;
        cos = cos * r2 + 1.0 / 24;
        cos = cos * r2 - 0.5;
        cos = 1.0 + r2 * cos;
        int quadrant = (int)((long)k & 3);
        double s = (quadrant & 1) == 0 ? sin : cos, c = (quadrant & 1) == 0 ? cos : sin;
        return new SinCos((quadrant & 2) == 0 ? s : -s, quadrant == 1 || quadrant == 2 ? -c : c);
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));
}

/// <summary>sin and cos of one angle (<see cref="ScalarMath.SinCosOf"/>).</summary>
public readonly record struct SinCos(double Sin, double Cos);
