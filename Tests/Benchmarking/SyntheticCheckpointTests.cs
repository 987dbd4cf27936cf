using System.Buffers.Binary;
using SonicVerse.Loader;
using SonicVerse.Runtime.Benchmarking;

namespace SonicVerse.Tests.Benchmarking;

/// <summary>The synthetic checkpoint's values and their encodings, against scalar expectations.</summary>
public class SyntheticCheckpointTests
{
    const int Rows = 8, Cols = 256;

    static SyntheticTensor Make(DType dtype, ulong seed = 7, float bound = 0.3f)
    {
        var ck = new SyntheticCheckpoint("test", seed);
        return ck.Add("w", dtype, SyntheticInit.Uniform(bound), Rows, Cols);
    }

    [Fact]
    public void ValuesAreUniformWithinTheBoundAndDependOnTheSeed()
    {
        float[] a = SyntheticCheckpoint.Values(Make(DType.F32));
        float[] b = SyntheticCheckpoint.Values(Make(DType.F32, seed: 8));
        Assert.All(a, v => Assert.InRange(v, -0.3f, 0.3f));
        double mean = a.Average(), variance = a.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(variance, 0.3 * 0.3 / 3 * 0.9, 0.3 * 0.3 / 3 * 1.1);  // uniform: bound²/3
        Assert.NotEqual(a, b);
        Assert.Equal(a, SyntheticCheckpoint.Values(Make(DType.F32)));
    }

    [Fact]
    public void FloatEncodingsRoundTheGeneratedValuesToNearest()
    {
        var t = Make(DType.F16);
        float[] values = SyntheticCheckpoint.Values(t);
        var bytes = t.Bytes.ToArray();
        for (int i = 0; i < values.Length; i++)
            Assert.Equal((Half)values[i], BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(2 * i)));
        var bf = Make(DType.BF16);
        float[] wide = bf.ToFloat32();
        for (int i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(wide[i] - values[i]) <= Math.Abs(values[i]) * MathF.Pow(2, -8), $"bf16[{i}]");
        Assert.Equal(values, Make(DType.F32).ToFloat32());
    }

    /// <summary>Q8_0: |x − q·d| ≤ d/2 for d = amax/127, plus the f16 rounding of d times |q| ≤ 127 (2⁻¹¹ relative).</summary>
    [Fact]
    public void Q8_0DequantizesToTheGeneratedValuesWithinHalfAStep()
    {
        var t = Make(DType.Q8_0);
        float[] values = SyntheticCheckpoint.Values(t), dequantized = t.ToFloat32();
        var bytes = t.Bytes;
        for (int i = 0; i < values.Length; i++)
        {
            float d = Math.Abs((float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i / 32 * 34)..]));
            Assert.True(Math.Abs(dequantized[i] - values[i]) <= d * (0.5f + 127f / 2048), $"[{i}] {dequantized[i]} vs {values[i]}, step {d}");
        }
    }

    /// <summary>Q4_0: d = max/−8, q = min(15, ⌊x/d + 8.5⌋): half a step, except where ggml's clamp at 15 bites
    /// (x/d above 7.5, the value of largest magnitude's opposite end), which is within one step.</summary>
    [Fact]
    public void Q4_0DequantizesToTheGeneratedValuesWithinHalfAStep()
    {
        var t = Make(DType.Q4_0);
        float[] values = SyntheticCheckpoint.Values(t), dequantized = t.ToFloat32();
        var bytes = t.Bytes;
        for (int i = 0; i < values.Length; i++)
        {
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i / 32 * 18)..]);
            bool clamped = values[i] / d > 7.5f;
            float tolerance = Math.Abs(d) * ((clamped ? 1f : 0.5f) + 8f / 2048);
            Assert.True(Math.Abs(dequantized[i] - values[i]) <= tolerance, $"[{i}] {dequantized[i]} vs {values[i]}, step {d}");
        }
    }

    [Fact]
    public void TensorsAreMadeLazilyAndOnlyTheLastOneIsKept()
    {
        using var ck = new SyntheticCheckpoint("test", 1);
        var a = ck.Add("a", DType.F32, SyntheticInit.Fill(2f), 4);
        var b = ck.Add("b", DType.F32, SyntheticInit.Fill(3f), 4);
        Assert.Equal([2f, 2f, 2f, 2f], a.ToFloat32());
        Assert.Equal([3f, 3f, 3f, 3f], b.ToFloat32());
        Assert.Equal([2f, 2f, 2f, 2f], a.ToFloat32());
        Assert.Same(a, ck.Find("a"));
        Assert.Null(ck.Find("c"));
        Assert.Throws<ArgumentException>(() => ck.Add("q", DType.Q4_0, SyntheticInit.Fill(0f), 3, 5));
    }
}
