using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>Grouped-query attention, parallel over (query, head) pairs, softmax in fp32 with max subtraction.</summary>
public static class AttentionKernels
{
    [ThreadStatic] static float[]? scoreBuffer;

    /// <summary>q: [nq, hq, d]; k, v: [capacity, hkv, d] (first KeyCount rows used); y: [nq, hq·d].</summary>
    public static void Attention(ReadOnlyMemory<float> q, ReadOnlyMemory<float> k, ReadOnlyMemory<float> v,
        AttentionShape shape, Memory<float> y)
    {
        int items = shape.Queries * shape.QueryHeads;
        if ((long)items * shape.KeyCount * shape.HeadDim < 1 << 15)
        {
            for (int item = 0; item < items; item++) Row(q.Span, k.Span, v.Span, shape, item, y.Span);
            return;
        }
        Parallel.For(0, items, item => Row(q.Span, k.Span, v.Span, shape, item, y.Span));
    }

    static void Row(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, AttentionShape s, int item,
        Span<float> y)
    {
        int i = item / s.QueryHeads, h = item % s.QueryHeads, d = s.HeadDim;
        int kvHead = h / (s.QueryHeads / s.KvHeads);
        int kvStride = s.KvHeads * d;
        var qi = q.Slice(item * d, d);
        var yi = y.Slice(item * d, d);
        int first = s.FirstKey(i), last = s.LastKey(i);
        int count = last - first + 1;
        yi.Clear();
        if (count <= 0) return;
        if (scoreBuffer is null || scoreBuffer.Length < count) scoreBuffer = new float[Math.Max(count, 256)];
        var scores = scoreBuffer.AsSpan(0, count);
        for (int j = 0; j < count; j++)
            scores[j] = TensorPrimitives.Dot(qi, k.Slice((first + j) * kvStride + kvHead * d, d)) * s.Scale;
        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        float inv = 1f / TensorPrimitives.Sum(scores);
        for (int j = 0; j < count; j++)
            TensorPrimitives.MultiplyAdd(v.Slice((first + j) * kvStride + kvHead * d, d), scores[j] * inv, yi, yi);
    }
}
