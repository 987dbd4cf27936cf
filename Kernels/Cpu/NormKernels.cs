using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    [ThreadStatic] static LayerNormJob? layerNormJob;

    /// <summary>x: [n, d]; w, b: [d]; y: [n, d]. Biased variance from a second pass over x − mean; parallel over rows.</summary>
    public static void LayerNorm(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> b, float eps,
        int n, int d, Memory<float> y)
    {
        var job = layerNormJob ??= new LayerNormJob();
        (job.X, job.W, job.B, job.Y, job.Eps, job.Rows, job.D) = (x, w, b, y, eps, n, d);
        job.Chunks = CpuParallel.Chunks(n, 4L * d);
        try { CpuParallel.For(job.Chunks, job); }
        finally { (job.X, job.W, job.B, job.Y) = (default, default, default, default); }
    }

    sealed class LayerNormJob : ParallelJob
    {
        public ReadOnlyMemory<float> X, W, B;
        public Memory<float> Y;
        public float Eps;
        public int Rows, D, Chunks;

        public override void Run(int chunk)
        {
            int first = (int)((long)Rows * chunk / Chunks), end = (int)((long)Rows * (chunk + 1) / Chunks);
            var w = W.Span;
            var b = B.Span;
            for (int i = first; i < end; i++)
            {
                var xi = X.Span.Slice(i * D, D);
                var yi = Y.Span.Slice(i * D, D);
                var (mean, inv) = Statistics(xi, Eps);
                TensorPrimitives.Subtract(xi, mean, yi);
                TensorPrimitives.Multiply(yi, inv, yi);
                TensorPrimitives.MultiplyAddEstimate(yi, w, b, yi);
            }
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

    /// <summary>Mean and 1/sqrt(biased variance + eps), two passes accumulated in double (stable for long rows), 8
    /// doubles at a time (the scalar loops were 5 % of MERT on the cpu: a dependent double add per element).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static (float Mean, float Inv) Statistics(ReadOnlySpan<float> x, float eps)
    {
        ref float first = ref MemoryMarshal.GetReference(x);
        int vectorEnd = Vector256.IsHardwareAccelerated ? x.Length & ~7 : 0;
        var sums = Vector512<double>.Zero;
        for (int i = 0; i < vectorEnd; i += 8) sums += Vector512.WidenLower(Vector256.LoadUnsafe(ref first, (nuint)i).ToVector512Unsafe());
        double sum = Vector512.Sum(sums);
        for (int i = vectorEnd; i < x.Length; i++) sum += x[i];
        double mean = sum / x.Length;

        var means = Vector512.Create(mean);
        var squares = Vector512<double>.Zero;
        for (int i = 0; i < vectorEnd; i += 8)
        {
            var deviation = Vector512.WidenLower(Vector256.LoadUnsafe(ref first, (nuint)i).ToVector512Unsafe()) - means;
            squares += deviation * deviation;
        }
        double squareSum = Vector512.Sum(squares);
        for (int i = vectorEnd; i < x.Length; i++) squareSum += (x[i] - mean) * (x[i] - mean);
        double variance = squareSum / x.Length;
        return ((float)mean, (float)(1.0 / Math.Sqrt(variance + eps)));
    }
}
