using System.Runtime.CompilerServices;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// Grouped-query attention, softmax in fp32 with max subtraction. Few queries (decode): per (query, head) a dot per key
/// and an axpy per value row, bandwidth-bound. Many queries (prefill, MERT): K and V of each KV head are first packed
/// into <see cref="Gemm"/> panels (keys as columns; value dimensions as columns), then per (head, block of queries) two
/// register-tiled GEMMs: S = Q_blk · K_hᵀ over the union of the block's visible keys, a masked row softmax, and
/// O = P · V_h. Reading each K/V row once per block of queries instead of once per query is what makes MERT's
/// 750 × 750 attention cheap.
/// </summary>
public static class AttentionKernels
{
    /// <summary>Queries per block: a multiple of the GEMM's 6-row tile.</summary>
    const int QueryBlock = 48;
    /// <summary>Up to this many queries the per-row path wins (packing K/V costs about a pass over them).</summary>
    const int RowQueries = 4;

    [ThreadStatic] static AttentionJob? job;
    [ThreadStatic] static float[]? scoreBuffer;

    /// <summary>q: [nq, hq, d]; k, v: [capacity, hkv, d] (first KeyCount rows used); y: [nq, hq·d].</summary>
    public static void Attention(ReadOnlyMemory<float> q, ReadOnlyMemory<float> k, ReadOnlyMemory<float> v,
        AttentionShape shape, Memory<float> y)
    {
        if (shape.Queries == 0 || shape.QueryHeads == 0) return;
        var j = job ??= new AttentionJob();
        (j.Q, j.K, j.V, j.Y, j.Shape) = (q, k, v, y, shape);
        try
        {
            if (shape.Queries <= RowQueries) j.RunRows();
            else j.RunBlocks();
        }
        finally { (j.Q, j.K, j.V, j.Y) = (default, default, default, default); }
    }

    enum Phase { Rows, Pack, Blocks }

    sealed class AttentionJob : ParallelJob
    {
        public ReadOnlyMemory<float> Q, K, V;
        public Memory<float> Y;
        public AttentionShape Shape;
        Phase phase;
        int blocks, items, chunks, keyPanels, dimPanels;
        float[] packed = [];

        public void RunRows() => Run(Phase.Rows, Shape.Queries * Shape.QueryHeads, (long)Shape.KeyCount * Shape.HeadDim * 2);

        public void RunBlocks()
        {
            var s = Shape;
            int width = Gemm.Width;
            keyPanels = (s.KeyCount + width - 1) / width;
            dimPanels = (s.HeadDim + width - 1) / width;
            long size = (long)s.KvHeads * (PackedKeys + PackedValues);
            if (packed.Length < size) packed = new float[size];
            Run(Phase.Pack, s.KvHeads * 2, (long)s.KeyCount * s.HeadDim);
            blocks = (s.Queries + QueryBlock - 1) / QueryBlock;
            Run(Phase.Blocks, blocks * s.QueryHeads, (long)Math.Min(s.Queries, QueryBlock) * s.KeyCount * s.HeadDim * 2);
        }

        /// <summary>Floats of one KV head's packed keys [keyPanels, d, W] and values [dimPanels, keyPanels·W, W].</summary>
        int PackedKeys => keyPanels * Shape.HeadDim * Gemm.Width;
        int PackedValues => dimPanels * keyPanels * Gemm.Width * Gemm.Width;

        void Run(Phase p, int count, long work)
        {
            phase = p;
            items = count;
            chunks = CpuParallel.Chunks(count, work);
            CpuParallel.For(chunks, this);
        }

        public override void Run(int chunk)
        {
            int first = (int)((long)items * chunk / chunks), end = (int)((long)items * (chunk + 1) / chunks);
            for (int item = first; item < end; item++)
            {
                switch (phase)
                {
                    case Phase.Rows: Row(Q.Span, K.Span, V.Span, Shape, item, Y.Span); break;
                    case Phase.Pack: Pack(item / 2, item % 2 == 1); break;
                    default: Block(item / blocks, item % blocks * QueryBlock); break;
                }
            }
        }

        void Pack(int kvHead, bool values)
        {
            var s = Shape;
            int width = Gemm.Width, d = s.HeadDim, kvStride = s.KvHeads * d;
            var source = (values ? V : K).Span.Slice(kvHead * d);
            var destination = packed.AsSpan(kvHead * (PackedKeys + PackedValues) + (values ? PackedKeys : 0));
            for (int p = 0; p < (values ? dimPanels : keyPanels); p++)
            {
                if (values)
                {
                    int columns = Math.Min(width, d - p * width);
                    PackStrided(source.Slice(p * width), kvStride, s.KeyCount, columns, transpose: false,
                        destination.Slice(p * keyPanels * width * width, keyPanels * width * width));
                }
                else
                {
                    int columns = Math.Min(width, s.KeyCount - p * width);
                    PackStrided(source.Slice(p * width * kvStride), kvStride, d, columns, transpose: true,
                        destination.Slice(p * d * width, d * width));
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Block(int head, int q0)
        {
            var s = Shape;
            var y = Y.Span;
            int rows = Math.Min(QueryBlock, s.Queries - q0), d = s.HeadDim, width = Gemm.Width;
            int qStride = s.QueryHeads * d;
            var yBlock = y.Slice(q0 * qStride + head * d);
            // The union of the block's visible keys, widened down to a panel boundary; Softmax masks per row.
            int firstPanel = s.FirstKey(q0) / width, keyEnd = s.LastKey(q0 + rows - 1) + 1;
            int keyStart = firstPanel * width, count = keyEnd - keyStart;
            if (count <= 0)
            {
                for (int i = 0; i < rows; i++) yBlock.Slice(i * qStride, d).Clear();
                return;
            }
            var scores = Scores(rows * count);
            var qBlock = Q.Span.Slice(q0 * qStride + head * d);
            var kv = packed.AsSpan(head / (s.QueryHeads / s.KvHeads) * (PackedKeys + PackedValues));
            for (int c0 = 0; c0 < count; c0 += width)
            {
                var panel = kv.Slice((firstPanel + c0 / width) * d * width, d * width);
                Gemm.Panel(qBlock, qStride, panel, default, rows, d, Math.Min(width, count - c0), scores, count, c0);
            }
            for (int i = 0; i < rows; i++)
                Softmax(scores.Slice(i * count, count), s.Scale, s.FirstKey(q0 + i) - keyStart, s.LastKey(q0 + i) - keyStart);
            var values = kv.Slice(PackedKeys);
            for (int p = 0; p < dimPanels; p++)
            {
                var panel = values.Slice((p * keyPanels + firstPanel) * width * width, count * width);
                Gemm.Panel(scores, count, panel, default, rows, count, Math.Min(width, d - p * width), yBlock, qStride, p * width);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        var scores = Scores(count);
        ref float keys = ref Unsafe.Add(ref MemoryMarshal.GetReference(k), first * kvStride + kvHead * d);
        ref float values = ref Unsafe.Add(ref MemoryMarshal.GetReference(v), first * kvStride + kvHead * d);
        for (int j = 0; j < count; j++) scores[j] = Dot(qi, ref Unsafe.Add(ref keys, j * kvStride));
        Softmax(scores, s.Scale, 0, count - 1);
        for (int j = 0; j < count; j++) MultiplyAdd(ref Unsafe.Add(ref values, j * kvStride), scores[j], yi);
    }

    /// <summary>a · b[0..a.Length). Inline vectors: TensorPrimitives costs ~50 ns a call, as much as a 64-wide head.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(ReadOnlySpan<float> a, ref float b)
    {
        ref float ar = ref MemoryMarshal.GetReference(a);
        var acc = Vector<float>.Zero;
        int i = 0;
        for (; i + Vector<float>.Count <= a.Length; i += Vector<float>.Count)
            acc = Vector.MultiplyAddEstimate(Vector.LoadUnsafe(ref ar, (nuint)i), Vector.LoadUnsafe(ref b, (nuint)i), acc);
        float sum = Vector.Sum(acc);
        for (; i < a.Length; i++) sum += Unsafe.Add(ref ar, i) * Unsafe.Add(ref b, i);
        return sum;
    }

    /// <summary>y += s · x[0..y.Length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MultiplyAdd(ref float x, float s, Span<float> y)
    {
        ref float yr = ref MemoryMarshal.GetReference(y);
        var scale = new Vector<float>(s);
        int i = 0;
        for (; i + Vector<float>.Count <= y.Length; i += Vector<float>.Count)
            Vector.MultiplyAddEstimate(Vector.LoadUnsafe(ref x, (nuint)i), scale, Vector.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < y.Length; i++) Unsafe.Add(ref yr, i) += Unsafe.Add(ref x, i) * s;
    }

    /// <summary>transpose: panel[c·W + t] = src[t·stride + c] for c &lt; length (K rows as panel columns);
    /// else panel[c·W + t] = src[c·stride + t] (V rows, W dimensions at a time). Lanes past columns are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackStrided(ReadOnlySpan<float> src, int stride, int length, int columns, bool transpose, Span<float> panel)
    {
        int width = Gemm.Width;
        if (columns < width) panel[..(length * width)].Clear();
        if (transpose)
        {
            for (int t = 0; t < columns; t++)
            {
                var row = src.Slice(t * stride, length);
                for (int c = 0; c < length; c++) panel[c * width + t] = row[c];
            }
        }
        else
        {
            for (int c = 0; c < length; c++) src.Slice(c * stride, columns).CopyTo(panel.Slice(c * width, columns));
        }
    }

    /// <summary>Row softmax of scale·row over [first, last]; entries outside are masked to 0. Scale &gt; 0, so the max of
    /// the scaled row is scale·max; exp and its sum share one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Softmax(Span<float> row, float scale, int first, int last)
    {
        if (first > 0) row[..first].Clear();
        if (last + 1 < row.Length) row[(last + 1)..].Clear();
        if (last < first) return;
        var visible = row[first..(last + 1)];
        float max = TensorPrimitives.Max(visible) * scale;
        ref float r = ref MemoryMarshal.GetReference(visible);
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var scales = Vector512.Create(scale);
            var shift = Vector512.Create(max);
            var sums = Vector512<float>.Zero;
            for (; i + 16 <= visible.Length; i += 16)
            {
                var e = FloatExp.Exp(Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref r, (nuint)i), scales, -shift));
                e.StoreUnsafe(ref r, (nuint)i);
                sums += e;
            }
            sum = Vector512.Sum(sums);
        }
        for (; i < visible.Length; i++)
        {
            visible[i] = MathF.Exp(visible[i] * scale - max);
            sum += visible[i];
        }
        TensorPrimitives.Multiply(visible, 1f / sum, visible);
    }

    static Span<float> Scores(int length)
    {
        if (scoreBuffer is null || scoreBuffer.Length < length) scoreBuffer = new float[Math.Max(length, 4096)];
        return scoreBuffer.AsSpan(0, length);
    }
}
