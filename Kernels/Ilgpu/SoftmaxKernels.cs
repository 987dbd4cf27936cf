using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

public sealed class SoftmaxKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, ArrayView<float>>? logSoftmax;

    /// <summary>x: [n, v]; y: [n, v] = x − max − log Σ exp(x − max); one group per row (y may alias x).</summary>
    public void LogSoftmax(AcceleratorStream stream, ArrayView<float> x, int n, int v, ArrayView<float> y)
    {
        logSoftmax ??= Accelerator.LoadKernel<ArrayView<float>, int, ArrayView<float>>(LogSoftmaxKernel);
        if (n > 0) logSoftmax(stream, RowGroups(n), x, v, y);
    }

    static void LogSoftmaxKernel(ArrayView<float> x, int v, ArrayView<float> y)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.Slots);
        long row = (long)Grid.IdxX * v;
        float max = float.NegativeInfinity;
        for (int j = Group.IdxX; j < v; j += Group.DimX) max = Math.Max(max, x[row + j]);
        max = GroupReduce.Max(max, shared);
        float sum = 0;
        for (int j = Group.IdxX; j < v; j += Group.DimX) sum += XMath.Exp(x[row + j] - max);
        float logSum = max + XMath.Log(GroupReduce.Sum(sum, shared));
        for (int j = Group.IdxX; j < v; j += Group.DimX) y[row + j] = x[row + j] - logSum;
    }
}
