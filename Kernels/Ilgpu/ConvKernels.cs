using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>1-D convolution (cross-correlation, zero padding), one thread per output element.</summary>
public sealed class ConvKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ConvShape, ArrayView<float>>? conv1d;

    /// <summary>x: [cin, t]; w: [cout, cin/groups, k]; bias: [cout] (read only when <paramref name="hasBias"/>);
    /// y: [cout, tOut].</summary>
    public void Conv1d(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, bool hasBias,
        ConvShape shape, ArrayView<float> y)
    {
        conv1d ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
            ConvShape, ArrayView<float>>(Conv1dKernel);
        long outputs = (long)shape.OutChannels * shape.OutLength;
        if (outputs > 0) conv1d(stream, (int)outputs, x, w, bias, hasBias ? 1 : 0, shape, y);
    }

    static void Conv1dKernel(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, int hasBias,
        ConvShape s, ArrayView<float> y)
    {
        int o = index / s.OutLength, t = index % s.OutLength;
        int firstChannel = o / s.OutPerGroup * s.InPerGroup;
        int start = t * s.Stride - s.Padding;
        float sum = hasBias != 0 ? bias[o] : 0f;
        for (int c = 0; c < s.InPerGroup; c++)
        {
            long xRow = (long)(firstChannel + c) * s.Length;
            long wRow = ((long)o * s.InPerGroup + c) * s.Kernel;
            for (int kk = 0; kk < s.Kernel; kk++)
            {
                int pos = start + kk;
                if (pos >= 0 && pos < s.Length) sum += w[wRow + kk] * x[xRow + pos];
            }
        }
        y[index] = sum;
    }
}
