using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Element-wise ops, one thread per element (destinations may alias sources exactly).</summary>
public sealed class ElementwiseKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>? add, siluMul;
    Action<AcceleratorStream, Index1D, ArrayView<float>, float, ArrayView<float>>? scale;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>>? gelu, relu;

    public void Add(AcceleratorStream stream, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        add ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AddKernel);
        if (y.Length > 0) add(stream, (int)y.Length, a, b, y);
    }

    public void Scale(AcceleratorStream stream, ArrayView<float> x, float s, ArrayView<float> y)
    {
        scale ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float, ArrayView<float>>(ScaleKernel);
        if (y.Length > 0) scale(stream, (int)y.Length, x, s, y);
    }

    public void Gelu(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> y)
    {
        gelu ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(GeluKernel);
        if (y.Length > 0) gelu(stream, (int)y.Length, x, y);
    }

    public void Relu(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> y)
    {
        relu ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ReluKernel);
        if (y.Length > 0) relu(stream, (int)y.Length, x, y);
    }

    public void SiluMul(AcceleratorStream stream, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y)
    {
        siluMul ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SiluMulKernel);
        if (y.Length > 0) siluMul(stream, (int)y.Length, gate, up, y);
    }

    static void AddKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    static void ScaleKernel(Index1D i, ArrayView<float> x, float s, ArrayView<float> y) => y[i] = x[i] * s;

    static void GeluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = ScalarMath.Gelu(x[i]);

    static void ReluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = Math.Max(x[i], 0f);

    static void SiluMulKernel(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y) => y[i] = SiluTimes(gate[i], up[i]);

    /// <summary>silu(g)·u, the SwiGLU gating: every kernel that gates (this one, the fused single-row SwiGLU, the
    /// small-batch split sum) computes it here, so they agree to the bit.</summary>
    internal static float SiluTimes(float g, float u) => g / (1f + XMath.Exp(-g)) * u;
}
