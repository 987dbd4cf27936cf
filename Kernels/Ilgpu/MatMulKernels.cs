using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>y = x · Wᵀ (+ bias), one thread per output element looping over k (simple first; a tiled kernel later).
/// Quantized weights stay quantized and are decoded in the loop.</summary>
public sealed class MatMulKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, WeightViews, ArrayView<float>, int, int, ArrayView<float>>? matMul;

    /// <summary>x: [n, k]; w: [m, k]; bias: [m] (read only when <paramref name="hasBias"/>); y: [n, m].</summary>
    public void MatMul(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, bool hasBias,
        int n, int m, ArrayView<float> y)
    {
        matMul ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, WeightViews, ArrayView<float>, int, int,
            ArrayView<float>>(MatMulKernel);
        if ((long)n * m > 0) matMul(stream, n * m, x, w, bias, hasBias ? 1 : 0, m, y);
    }

    static void MatMulKernel(Index1D index, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int hasBias, int m,
        ArrayView<float> y)
    {
        int i = index / m, j = index % m;
        float sum = w.Dot(x, (long)i * w.K, j);
        y[index] = hasBias != 0 ? sum + bias[j] : sum;
    }
}
