using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>Row normalisations. y may alias x: each row's statistics are taken before the row is written.</summary>
public static class NormKernels
{
    /// <summary>x: [n, d]; w: [d]; y: [n, d]. HF MistralRMSNorm order: x · rsqrt(mean(x²) + eps), then · w.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, int n, int d, Span<float> y)
    {
        for (int i = 0; i < n; i++)
        {
            var xi = x.Slice(i * d, d);
            var yi = y.Slice(i * d, d);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xi) / d + eps);
            TensorPrimitives.Multiply(xi, inv, yi);
            TensorPrimitives.Multiply(yi, w, yi);
        }
    }

    /// <summary>x: [n, d]; w, b: [d]; y: [n, d]. Biased variance from a second pass over x − mean.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, float eps,
        int n, int d, Span<float> y)
    {
        for (int i = 0; i < n; i++)
        {
            var xi = x.Slice(i * d, d);
            var yi = y.Slice(i * d, d);
            var (mean, inv) = Statistics(xi, eps);
            TensorPrimitives.Subtract(xi, mean, yi);
            TensorPrimitives.Multiply(yi, inv, yi);
            TensorPrimitives.FusedMultiplyAdd(yi, w, b, yi);
        }
    }

    /// <summary>x: [c, t]; w, b: [c]; y: [c, t]. GroupNorm with one group per channel (MERT feature extractor layer 0),
    /// statistics over the whole time axis; parallel over channels.</summary>
    public static void ChannelNorm(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> b, float eps,
        int c, int t, Memory<float> y) => Parallel.For(0, c, ch =>
        {
            var xi = x.Span.Slice(ch * t, t);
            var yi = y.Span.Slice(ch * t, t);
            var (mean, inv) = Statistics(xi, eps);
            // (x − mean) first: folding the mean into a shift would cancel catastrophically for offset signals.
            TensorPrimitives.Subtract(xi, mean, yi);
            TensorPrimitives.Multiply(yi, inv * w.Span[ch], yi);
            TensorPrimitives.Add(yi, b.Span[ch], yi);
        });

    /// <summary>Mean and 1/sqrt(biased variance + eps), two passes accumulated in double (stable for long rows).</summary>
    static (float Mean, float Inv) Statistics(ReadOnlySpan<float> x, float eps)
    {
        double sum = 0;
        foreach (float v in x) sum += v;
        double mean = sum / x.Length;
        double squares = 0;
        foreach (float v in x)
        {
            double dv = v - mean;
            squares += dv * dv;
        }
        double variance = squares / x.Length;
        return ((float)mean, (float)(1.0 / Math.Sqrt(variance + eps)));
    }
}
