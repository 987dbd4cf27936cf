using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Grouped-query attention, one group per (query row, head): scores into a scratch row, group max and sum,
/// then each thread produces output dimensions. Simple and correct first; a flash-style kernel comes later.</summary>
public sealed class AttentionKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        AttentionShape, ArrayView<float>>? attention;

    /// <summary>Floats of scratch the launcher needs: one score per (query, head, key).</summary>
    public static long ScratchLength(AttentionShape s) => (long)s.Queries * s.QueryHeads * s.KeyCount;

    /// <summary>q: [nq, hq, d]; k, v: [capacity, hkv, d]; scratch: at least <see cref="ScratchLength"/>; y: [nq, hq·d].</summary>
    public void Attention(AcceleratorStream stream, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> scratch, AttentionShape shape, ArrayView<float> y)
    {
        attention ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AttentionShape, ArrayView<float>>(AttentionKernel);
        int items = shape.Queries * shape.QueryHeads;
        if (items > 0) attention(stream, RowGroups(items), q, k, v, scratch, shape, y);
    }

    static void AttentionKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> scratch,
        AttentionShape s, ArrayView<float> y)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.Slots);
        int item = Grid.IdxX, d = s.HeadDim;
        int i = item / s.QueryHeads;
        int kvOffset = item % s.QueryHeads / (s.QueryHeads / s.KvHeads) * d;
        int kvStride = s.KvHeads * d;
        int first = s.FirstKey(i);
        int count = s.LastKey(i) - first + 1;
        long scores = (long)item * s.KeyCount;
        long qRow = (long)item * d;

        float max = float.NegativeInfinity;
        for (int j = Group.IdxX; j < count; j += Group.DimX)
        {
            long kRow = (long)(first + j) * kvStride + kvOffset;
            float dot = 0;
            for (int e = 0; e < d; e++) dot += q[qRow + e] * k[kRow + e];
            scratch[scores + j] = dot * s.Scale;
            max = Math.Max(max, dot * s.Scale);
        }
        max = GroupReduce.Max(max, shared);
        float sum = 0;
        for (int j = Group.IdxX; j < count; j += Group.DimX)
        {
            float p = XMath.Exp(scratch[scores + j] - max);
            scratch[scores + j] = p;
            sum += p;
        }
        float inv = 1f / GroupReduce.Sum(sum, shared);
        for (int e = Group.IdxX; e < d; e += Group.DimX)
        {
            float acc = 0;
            for (int j = 0; j < count; j++) acc += scratch[scores + j] * v[(long)(first + j) * kvStride + kvOffset + e];
            y[qRow + e] = acc * inv;
        }
    }
}
