using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// Grouped-query attention with an online softmax over key tiles (flash attention), split over the key length when
/// there are too few groups to fill the device (flash-decoding).
/// A work item is one (query, query head); the items of one KV head are numbered query-major, so a group's items share
/// their K/V rows (the GQA heads of a decode step, or consecutive queries of a prefill). A group stages a tile of K and
/// V rows in shared memory once for all its items; each warp follows one item (dot products across lanes, one shuffle
/// reduction per key, running max/sum/accumulator), and when a group has fewer items than warps the spare warps take
/// interleaved keys of the same item and are merged at the end. With several splits, each split writes (max, sum,
/// accumulator) partials and <see cref="CombineKernel"/> merges them.
/// </summary>
public sealed partial class AttentionKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    /// <summary>Shared-memory budget per group in floats (48 KB, the limit without opt-in on NVIDIA).</summary>
    const int SharedFloats = 12 * 1024;
    /// <summary>Keys per staged tile: 32 on a GPU; deeper on the CPU accelerator, where each barrier is a rendezvous of OS
    /// threads.</summary>
    const int MaxTileKeys = 32, CpuMaxTileKeys = 256;

    /// <summary>Fewest keys worth a split of their own (below this the partial write and combine cost more than they save).</summary>
    const int MinSplitKeys = 4 * MaxTileKeys;

    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape, AttentionPlan,
        ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>>? attention;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, AttentionShape, AttentionPlan, ArrayView<float>>? combine;

    /// <summary>The launch plan of one call (host side; cheap).</summary>
    public AttentionPlan Plan(AttentionShape s)
    {
        int warps = RowGroupSize / Accelerator.WarpSize;
        int itemsPerKv = s.Queries * (s.QueryHeads / s.KvHeads);
        int perGroup = Math.Max(1, Math.Min(warps, itemsPerKv));
        int tileKeys = Math.Clamp((SharedFloats - 2 * warps - 2 * warps * s.HeadDim) / Math.Max(1, 2 * s.HeadDim), 1,
            Accelerator.AcceleratorType == AcceleratorType.CPU ? CpuMaxTileKeys : MaxTileKeys);
        int groupsPerKv = (itemsPerKv + perGroup - 1) / perGroup;
        long baseGroups = (long)s.KvHeads * groupsPerKv;
        long target = 2L * Math.Max(1, Accelerator.NumMultiprocessors);
        int splits = baseGroups >= target ? 1
            : (int)Math.Max(1, Math.Min((target + baseGroups - 1) / baseGroups, (s.KeyCount + MinSplitKeys - 1) / MinSplitKeys));
        int splitLength = (s.KeyCount + splits - 1) / splits;
        return new AttentionPlan(warps, itemsPerKv, perGroup, warps / perGroup, tileKeys, groupsPerKv, splits, Math.Max(1, splitLength));
    }

    /// <summary>Floats of scratch the launcher needs: (max, sum, accumulator) per item and split, when split (for one
    /// query, enough for either kernel: which one runs depends on the views' alignment).</summary>
    public long ScratchLength(AttentionShape s)
    {
        var p = Plan(s);
        long flash = p.Splits == 1 ? 0 : (long)s.Queries * s.QueryHeads * p.Splits * (s.HeadDim + 2);
        return s.Queries == 1 && s.QueryHeads % s.KvHeads == 0 ? Math.Max(flash, DecodeScratchLength(s)) : flash;
    }

    /// <summary>q: [nq, hq, d]; k, v: [capacity, hkv, d]; scratch: at least <see cref="ScratchLength"/>; y: [nq, hq·d].</summary>
    public void Attention(AcceleratorStream stream, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> scratch, AttentionShape shape, ArrayView<float> y)
    {
        if (shape.Queries * shape.QueryHeads == 0) return;
        if (DecodeFits(shape, k, v))
        {
            Decode(stream, q, k, v, scratch, shape, y);
            return;
        }
        var p = Plan(shape);
        Launch(stream, shape.KvHeads * p.GroupsPerKv * p.Splits, q, k, v, shape, p, scratch, y, default, default, batched: false);
        if (p.Splits == 1) return;
        combine ??= Accelerator.LoadKernel<ArrayView<float>, AttentionShape, AttentionPlan, ArrayView<float>>(CombineKernel);
        combine(stream, RowGroups(shape.Queries * shape.QueryHeads), scratch, shape, p, y);
    }

    /// <summary>One decode query per sequence against its own rows of a shared cache, all sequences in one launch:
    /// q: [n, hq, d]; k, v: [rows, hkv, d]; cacheStarts, keyCounts: [n]; y: [n, hq·d]. <paramref name="perSequence"/> is
    /// the shape of one sequence (one query; its key count is read on the device). Not split over keys: n × hkv groups
    /// already fill the device for the batch sizes this is for.</summary>
    public void AttentionDecodeBatch(AcceleratorStream stream, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> cacheStarts, ArrayView<int> keyCounts, AttentionShape perSequence, int n, ArrayView<float> y)
    {
        if (n * perSequence.QueryHeads == 0) return;
        if (DecodeFits(perSequence with { Queries = 1 }, k, v))
        {
            LaunchDecode(stream, n * perSequence.KvHeads, q, k, v, perSequence with { Queries = 1 },
                PlanDecode(perSequence, batched: true), y, y, cacheStarts, keyCounts, batched: true);
            return;
        }
        var p = Plan(perSequence with { Queries = 1, KeyCount = 1 }) with { Splits = 1, SplitLength = int.MaxValue / 2 };
        Launch(stream, n * perSequence.KvHeads * p.GroupsPerKv, q, k, v, perSequence, p, y, y, cacheStarts, keyCounts, batched: true);
    }

    void Launch(AcceleratorStream stream, int groups, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, AttentionShape shape,
        AttentionPlan p, ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts, ArrayView<int> keyCounts,
        bool batched)
    {
        attention ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape, AttentionPlan,
            ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>>(AttentionKernel);
        int d = shape.HeadDim;
        int sharedFloats = 2 * p.TileKeys * d + 2 * p.Warps * d + 2 * p.Warps;
        var config = new KernelConfig(groups, RowGroupSize, SharedMemoryConfig.RequestDynamic<float>(sharedFloats));
        attention(stream, config, q, k, v, shape, p, partials, y, cacheStarts, keyCounts, SpecializedValue.New(batched ? 1 : 0));
    }

    /// <summary>Flash-decoding: one group per (kv head, group of items, split of the keys); batched, the groups of
    /// sequence i come i-th and see only its query, output and cache rows.</summary>
    static void AttentionKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, AttentionShape s, AttentionPlan p,
        ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts, ArrayView<int> keyCounts,
        SpecializedValue<int> batched)
    {
        int block = Grid.IdxX;
        if (batched.Value != 0)
        {
            int perSequence = s.KvHeads * p.GroupsPerKv, sequence = block / perSequence, keys = keyCounts[sequence];
            block %= perSequence;
            long queryValues = (long)s.QueryHeads * s.HeadDim, kvRow = (long)s.KvHeads * s.HeadDim;
            q = q.SubView(sequence * queryValues, queryValues);
            y = y.SubView(sequence * queryValues, queryValues);
            k = k.SubView(cacheStarts[sequence] * kvRow, keys * kvRow);
            v = v.SubView(cacheStarts[sequence] * kvRow, keys * kvRow);
            s = new AttentionShape(1, s.QueryHeads, s.KvHeads, s.HeadDim, keys, keys - 1, s.SlidingWindow, s.Scale);
        }
        int d = s.HeadDim, ratio = s.QueryHeads / s.KvHeads, kvStride = s.KvHeads * d;
        var shared = SharedMemory.GetDynamic<float>();
        var ks = shared.SubView(0, p.TileKeys * d);
        var vs = shared.SubView(p.TileKeys * d, p.TileKeys * d);
        var acc = shared.SubView(2 * p.TileKeys * d, p.Warps * d);
        var stats = shared.SubView(2 * p.TileKeys * d + p.Warps * d, 2 * p.Warps);

        int split = block % p.Splits, groupInHead = block / p.Splits;
        int kvHead = groupInHead / p.GroupsPerKv, firstItem = groupInHead % p.GroupsPerKv * p.ItemsPerGroup;
        int lastItem = Math.Min(firstItem + p.ItemsPerGroup, p.ItemsPerKv) - 1;
        int warp = Warp.WarpIdx, lane = Warp.LaneIdx;
        int itemSlot = warp % p.ItemsPerGroup, keySlot = warp / p.ItemsPerGroup;
        int item = firstItem + itemSlot;
        bool active = keySlot < p.KeySlots && item <= lastItem;
        int query = item / ratio, head = kvHead * ratio + item % ratio;
        int myFirst = s.FirstKey(query), myLast = s.LastKey(query);
        long qRow = ((long)query * s.QueryHeads + head) * d;
        long kvOffset = (long)kvHead * d;

        int lo = Math.Max(s.FirstKey(firstItem / ratio), split * p.SplitLength);
        int hi = Math.Min(s.LastKey(lastItem / ratio), split * p.SplitLength + p.SplitLength - 1);
        float max = float.NegativeInfinity, sum = 0f;
        for (int e = lane; e < d; e += Warp.WarpSize) acc[warp * d + e] = 0f;
        for (int t0 = lo; t0 <= hi; t0 += p.TileKeys)
        {
            int count = Math.Min(p.TileKeys, hi - t0 + 1);
            for (int i = Group.IdxX; i < count * d; i += Group.DimX)
            {
                long at = (long)(t0 + i / d) * kvStride + kvOffset + i % d;
                ks[i] = k[at];
                vs[i] = v[at];
            }
            Group.Barrier();
            if (active)
                for (int j = keySlot; j < count; j += p.KeySlots)
                {
                    int key = t0 + j;
                    if (key < myFirst || key > myLast) continue;
                    float dot = 0f;
                    for (int e = lane; e < d; e += Warp.WarpSize) dot += q[qRow + e] * ks[j * d + e];
                    float score = WarpReduce.Sum(dot) * s.Scale;
                    float next = Math.Max(max, score);
                    float correction = XMath.Exp(max - next), weight = XMath.Exp(score - next);
                    sum = sum * correction + weight;
                    for (int e = lane; e < d; e += Warp.WarpSize) acc[warp * d + e] = acc[warp * d + e] * correction + weight * vs[j * d + e];
                    max = next;
                }
            Group.Barrier();
        }
        if (lane == 0)
        {
            stats[warp] = max;
            stats[p.Warps + warp] = sum;
        }
        Group.Barrier();
        if (!active || keySlot != 0) return;
        MergeKeySlots(acc, stats, p, warp, d, s, split, kvHead, item, query, head, partials, y);
    }

    /// <summary>Folds the warps that took interleaved keys of this item into its final output (one split) or its partial.</summary>
    static void MergeKeySlots(ArrayView<float> acc, ArrayView<float> stats, AttentionPlan p, int warp, int d, AttentionShape s,
        int split, int kvHead, int item, int query, int head, ArrayView<float> partials, ArrayView<float> y)
    {
        float max = float.NegativeInfinity;
        for (int ks = 0; ks < p.KeySlots; ks++) max = Math.Max(max, stats[warp + ks * p.ItemsPerGroup]);
        float sum = 0f;
        for (int ks = 0; ks < p.KeySlots; ks++) sum += stats[p.Warps + warp + ks * p.ItemsPerGroup] * Factor(stats[warp + ks * p.ItemsPerGroup], max);
        long yRow = ((long)query * s.QueryHeads + head) * d;
        long part = (((long)kvHead * p.ItemsPerKv + item) * p.Splits + split) * (d + 2);
        for (int e = Warp.LaneIdx; e < d; e += Warp.WarpSize)
        {
            float value = 0f;
            for (int ks = 0; ks < p.KeySlots; ks++)
            {
                int w = warp + ks * p.ItemsPerGroup;
                value += acc[w * d + e] * Factor(stats[w], max);
            }
            if (p.Splits == 1) y[yRow + e] = sum > 0f ? value / sum : 0f;
            else partials[part + 2 + e] = value;
        }
        if (p.Splits > 1 && Warp.LaneIdx == 0)
        {
            partials[part] = max;
            partials[part + 1] = sum;
        }
    }

    /// <summary>exp(m − max), 0 for a part that saw no key (m = −∞).</summary>
    static float Factor(float m, float max) => m == float.NegativeInfinity ? 0f : XMath.Exp(m - max);

    /// <summary>One group per (kv head, item): merges the splits' partials into y.</summary>
    static void CombineKernel(ArrayView<float> partials, AttentionShape s, AttentionPlan p, ArrayView<float> y)
    {
        int d = s.HeadDim, ratio = s.QueryHeads / s.KvHeads;
        int kvHead = Grid.IdxX / p.ItemsPerKv, item = Grid.IdxX % p.ItemsPerKv;
        int query = item / ratio, head = kvHead * ratio + item % ratio;
        long first = (long)Grid.IdxX * p.Splits * (d + 2);
        float max = float.NegativeInfinity;
        for (int sp = 0; sp < p.Splits; sp++) max = Math.Max(max, partials[first + sp * (d + 2)]);
        float sum = 0f;
        for (int sp = 0; sp < p.Splits; sp++) sum += partials[first + sp * (d + 2) + 1] * Factor(partials[first + sp * (d + 2)], max);
        long yRow = ((long)query * s.QueryHeads + head) * d;
        for (int e = Group.IdxX; e < d; e += Group.DimX)
        {
            float value = 0f;
            for (int sp = 0; sp < p.Splits; sp++)
                value += partials[first + sp * (d + 2) + 2 + e] * Factor(partials[first + sp * (d + 2)], max);
            y[yRow + e] = sum > 0f ? value / sum : 0f;
        }
    }
}

/// <summary>How one attention call is laid out: <see cref="Warps"/> per group, <see cref="ItemsPerGroup"/> (query, head)
/// items per group sharing a KV head, <see cref="KeySlots"/> warps per item, K/V tiles of <see cref="TileKeys"/> rows,
/// <see cref="GroupsPerKv"/> groups per KV head and split, and the key axis cut into <see cref="Splits"/> ranges of
/// <see cref="SplitLength"/> keys.</summary>
public readonly record struct AttentionPlan(int Warps, int ItemsPerKv, int ItemsPerGroup, int KeySlots, int TileKeys,
    int GroupsPerKv, int Splits, int SplitLength);
