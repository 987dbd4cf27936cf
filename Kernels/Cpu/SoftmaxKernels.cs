using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

public static class SoftmaxKernels
{
    [ThreadStatic] static float[]? expBuffer;

    /// <summary>x: [n, v]; y: [n, v] = x − max − log Σ exp(x − max), per row (y may alias x).</summary>
    public static void LogSoftmax(ReadOnlySpan<float> x, int n, int v, Span<float> y)
    {
        if (expBuffer is null || expBuffer.Length < v) expBuffer = new float[v];
        var exps = expBuffer.AsSpan(0, v);
        for (int i = 0; i < n; i++)
        {
            var xi = x.Slice(i * v, v);
            float max = TensorPrimitives.Max(xi);
            TensorPrimitives.Subtract(xi, max, exps);
            TensorPrimitives.Exp(exps, exps);
            float logSum = max + MathF.Log(TensorPrimitives.Sum(exps));
            TensorPrimitives.Subtract(xi, logSum, y.Slice(i * v, v));
        }
    }
}
