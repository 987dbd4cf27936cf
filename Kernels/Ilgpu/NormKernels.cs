using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Row normalisations, one group per row with shared-memory reductions (y may alias x: each thread reads
/// its own elements before writing them, after the statistics are complete).</summary>
public sealed class NormKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>? rmsNorm;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>? layerNorm;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>? channelNorm;

    /// <summary>x: [n, d]; w: [d]; y: [n, d].</summary>
    public void RmsNorm(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> w, float eps, int n, int d, ArrayView<float> y)
    {
        rmsNorm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>(RmsNormKernel);
        if (n > 0) rmsNorm(stream, RowGroups(n), x, w, eps, d, y);
    }

    /// <summary>x: [n, d]; w, b: [d]; y: [n, d].</summary>
    public void LayerNorm(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, float eps,
        int n, int d, ArrayView<float> y)
    {
        layerNorm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>(LayerNormKernel);
        if (n > 0) layerNorm(stream, RowGroups(n), x, w, b, eps, d, y);
    }

    /// <summary>x: [c, t]; w, b: [c]; y: [c, t].</summary>
    public void ChannelNorm(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, float eps,
        int c, int t, ArrayView<float> y)
    {
        channelNorm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, ArrayView<float>>(ChannelNormKernel);
        if (c > 0) channelNorm(stream, RowGroups(c), x, w, b, eps, t, y);
    }

    static void RmsNormKernel(ArrayView<float> x, ArrayView<float> w, float eps, int d, ArrayView<float> y)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.Slots);
        long row = (long)Grid.IdxX * d;
        float squares = 0;
        for (int j = Group.IdxX; j < d; j += Group.DimX) squares += x[row + j] * x[row + j];
        float inv = 1f / XMath.Sqrt(GroupReduce.Sum(squares, shared) / d + eps);
        for (int j = Group.IdxX; j < d; j += Group.DimX) y[row + j] = x[row + j] * inv * w[j];
    }

    static void LayerNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, float eps, int d, ArrayView<float> y)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.Slots);
        long row = (long)Grid.IdxX * d;
        float mean = RowMean(x, row, d, shared);
        float inv = RowInvStd(x, row, d, mean, eps, shared);
        for (int j = Group.IdxX; j < d; j += Group.DimX) y[row + j] = (x[row + j] - mean) * inv * w[j] + b[j];
    }

    static void ChannelNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, float eps, int t, ArrayView<float> y)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.Slots);
        int channel = Grid.IdxX;
        long row = (long)channel * t;
        float mean = RowMean(x, row, t, shared);
        float scale = RowInvStd(x, row, t, mean, eps, shared) * w[channel];
        float shift = b[channel];
        for (int j = Group.IdxX; j < t; j += Group.DimX) y[row + j] = (x[row + j] - mean) * scale + shift;
    }

    static float RowMean(ArrayView<float> x, long row, int d, ArrayView<float> shared)
    {
        float sum = 0;
        for (int j = Group.IdxX; j < d; j += Group.DimX) sum += x[row + j];
        return GroupReduce.Sum(sum, shared) / d;
    }

    /// <summary>1/sqrt(biased variance + eps), second pass over x − mean.</summary>
    static float RowInvStd(ArrayView<float> x, long row, int d, float mean, float eps, ArrayView<float> shared)
    {
        float squares = 0;
        for (int j = Group.IdxX; j < d; j += Group.DimX)
        {
            float dv = x[row + j] - mean;
            squares += dv * dv;
        }
        return 1f / XMath.Sqrt(GroupReduce.Sum(squares, shared) / d + eps);
    }
}
