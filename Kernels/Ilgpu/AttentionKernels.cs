using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// Grouped-query attention with an online softmax over key tiles (flash attention), split over the key length when
/// there are too few groups to fill the device (flash-decoding), the lanes of a warp over keys.
/// A work item is one (query, query head); the items of one KV head are numbered query-major, so a group's items share
/// their K/V rows (the GQA heads of a decode step, or consecutive queries of a prefill). A group stages a tile of one
/// key per lane — K rows padded by one float so lane j's reads of row j fall in distinct banks — with several loads in
/// flight per thread (16 bytes each when head rows are whole aligned quads). Each warp then follows one item: lane j
/// scores key j (its own dot product over the head, no reduction), one max and one sum reduction per tile, and each
/// lane updates its columns of the item's output from the tile's probabilities (through the warp's slots of shared
/// memory) and V rows. With several splits, each split writes (max, sum, output) partials and
/// <see cref="CombineKernel"/> merges them.
/// An earlier kernel walked keys one at a time per warp (a dot product across lanes, a shuffle reduction and two
/// exponentials in a dependent chain for every key) and staged K/V one scalar load in flight per thread: 1.3 ms per
/// MERT layer on an H100, where this one takes ~0.42 ms; a batch-1 decode layer takes ~30 µs with a device wait
/// (commit d99a216).
/// </summary>
public sealed class AttentionKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<Quad>, ArrayView<Quad>,
        AttentionShape, AttentionPlan, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>,
        SpecializedValue<int>, SpecializedValue<int>>? attention;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, AttentionShape, AttentionPlan, ArrayView<float>>? combine;

    /// <summary>The launch plan of one call (host side; cheap): a tile of keys per lane, one warp per item, and splits
    /// of the visible keys (down to one tile each) when the KV heads' groups alone would leave most multiprocessors
    /// idle. A split costs a combine launch, but a batch-1 decode step unsplit is 8 groups on a 132-multiprocessor
    /// H100, each walking every key: 69 µs a layer at ~150 keys (commit 2e31d2d, when splits needed 4 tiles each).
    /// <paramref name="batched"/>: one query per sequence, never split.</summary>
    public AttentionPlan Plan(AttentionShape s, bool batched = false)
    {
        int tileKeys = Accelerator.AcceleratorType == AcceleratorType.CPU
            ? Math.Max(1, CpuTileKeys / Accelerator.WarpSize) * Accelerator.WarpSize
            : Accelerator.WarpSize;
        int ratio = s.QueryHeads / s.KvHeads, d = s.HeadDim;
        int itemsPerKv = (batched ? 1 : s.Queries) * ratio;
        int warps = Math.Max(1, Math.Min(itemsPerKv, RowGroupSize / Accelerator.WarpSize));
        while (warps > 1 && SharedFloats(tileKeys, warps, d) > MaxSharedFloats) warps /= 2;
        if (SharedFloats(tileKeys, warps, d) > MaxSharedFloats)
            throw new NotSupportedException($"attention: a head of {d} values needs more than 48 KB of shared memory per group");
        int groupsPerKv = (itemsPerKv + warps - 1) / warps;
        if (batched) return new AttentionPlan(tileKeys, warps, itemsPerKv, groupsPerKv, 1, int.MaxValue / 2);
        int visible = Math.Max(1, s.LastKey(s.Queries - 1) - s.FirstKey(0) + 1), tiles = (visible + tileKeys - 1) / tileKeys;
        long baseGroups = (long)s.KvHeads * groupsPerKv, target = 2L * Math.Max(1, Accelerator.NumMultiprocessors);
        int splits = (int)Math.Clamp((target + baseGroups - 1) / baseGroups, 1, Math.Min(tiles, MaxSplits));
        int tilesPerSplit = (tiles + splits - 1) / splits;
        splits = (tiles + tilesPerSplit - 1) / tilesPerSplit;
        return new AttentionPlan(tileKeys, warps, itemsPerKv, groupsPerKv, splits, tilesPerSplit * tileKeys);
    }

    /// <summary>Floats of scratch the launcher needs: (max, sum, output) per item and split, when split.</summary>
    public long ScratchLength(AttentionShape s)
    {
        var p = Plan(s);
        return p.Splits == 1 ? 0 : (long)s.KvHeads * p.ItemsPerKv * p.Splits * (s.HeadDim + 2);
    }

    /// <summary>q: [nq, hq, d]; k, v: [capacity, hkv, d]; scratch: at least <see cref="ScratchLength"/>; y: [nq, hq·d].</summary>
    public void Attention(AcceleratorStream stream, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> scratch, AttentionShape shape, ArrayView<float> y)
    {
        if (shape.Queries * shape.QueryHeads == 0) return;
        var p = Plan(shape);
        Launch(stream, shape.KvHeads * p.GroupsPerKv * p.Splits, q, k, v, shape, p, p.Splits > 1 ? scratch : y, y, default, default,
            batched: false);
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
        var p = Plan(perSequence, batched: true);
        Launch(stream, n * perSequence.KvHeads * p.GroupsPerKv, q, k, v, perSequence with { Queries = 1 }, p, y, y, cacheStarts,
            keyCounts, batched: true);
    }

    void Launch(AcceleratorStream stream, int groups, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, AttentionShape shape,
        AttentionPlan p, ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts, ArrayView<int> keyCounts,
        bool batched)
    {
        attention ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<Quad>, ArrayView<Quad>,
            AttentionShape, AttentionPlan, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>,
            SpecializedValue<int>, SpecializedValue<int>>(AttentionKernel);
        int d = shape.HeadDim;
        bool quads = d % 4 == 0 && WeightViews.Aligned16(k) && WeightViews.Aligned16(v) && k.Length >= 4 && v.Length >= 4;
        var config = new KernelConfig(groups, p.Warps * Accelerator.WarpSize,
            SharedMemoryConfig.RequestDynamic<float>(SharedFloats(p.TileKeys, p.Warps, d)));
        attention(stream, config, q, k, v, quads ? k.Cast<Quad>() : default, quads ? v.Cast<Quad>() : default, shape, p, partials, y,
            cacheStarts, keyCounts, SpecializedValue.New(d), SpecializedValue.New(quads ? 1 : 0), SpecializedValue.New(batched ? 1 : 0));
    }

    /// <summary>Keys staged per tile on the CPU accelerator (whole warps' worth, at least one): its barriers are
    /// rendezvous of OS threads, so it stages many keys per barrier (the warps score them a warp's worth at a time) —
    /// 16 warps of the test device's 4 lanes, 2 of a 32-lane one (where 16 would pass 48 KB). A GPU stages one per
    /// lane.</summary>
    const int CpuTileKeys = 64;

    /// <summary>Shared memory of a group: the K tile (rows padded by one float), the V tile, and per warp its item's
    /// query, output, final max and sum, and the probabilities of the keys it is scoring.</summary>
    static int SharedFloats(int tileKeys, int warps, int d) => tileKeys * (2 * d + 1) + 2 * warps * d + 2 * warps + warps * tileKeys;

    /// <summary>48 KB, the shared memory a group may have on NVIDIA without opting in.</summary>
    const int MaxSharedFloats = 12 * 1024;

    /// <summary>One group per (KV head, group of items, split of the keys); batched, per (sequence, KV head) over that
    /// sequence's cache rows. The head size and the staging mode are compile-time values.</summary>
    static void AttentionKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<Quad> k4, ArrayView<Quad> v4,
        AttentionShape s, AttentionPlan p, ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts,
        ArrayView<int> keyCounts, SpecializedValue<int> headDimValue, SpecializedValue<int> quadsValue, SpecializedValue<int> batched)
    {
        int d = headDimValue.Value, ratio = s.QueryHeads / s.KvHeads, tileKeys = p.TileKeys, warps = p.Warps;
        int block = Grid.IdxX;
        long firstRow = 0;
        if (batched.Value != 0)
        {
            int perSequence = s.KvHeads * p.GroupsPerKv, sequence = block / perSequence, keys = keyCounts[sequence];
            block %= perSequence;
            firstRow = cacheStarts[sequence];
            long queryValues = (long)s.QueryHeads * d;
            q = q.SubView(sequence * queryValues, queryValues);
            y = y.SubView(sequence * queryValues, queryValues);
            s = new AttentionShape(1, s.QueryHeads, s.KvHeads, d, keys, keys - 1, s.SlidingWindow, s.Scale);
        }
        int split = block % p.Splits, groupInHead = block / p.Splits;
        int kvHead = groupInHead / p.GroupsPerKv, firstItem = groupInHead % p.GroupsPerKv * warps;
        int items = Math.Min(warps, p.ItemsPerKv - firstItem);
        var shared = SharedMemory.GetDynamic<float>();
        var ks = shared.SubView(0, tileKeys * (d + 1));
        var vs = shared.SubView(tileKeys * (d + 1), tileKeys * d);
        var qs = shared.SubView(tileKeys * (2 * d + 1), warps * d);
        var acc = shared.SubView(tileKeys * (2 * d + 1) + warps * d, warps * d);
        var stats = shared.SubView(tileKeys * (2 * d + 1) + 2 * warps * d, 2 * warps);
        var weights = shared.SubView(tileKeys * (2 * d + 1) + 2 * warps * d + 2 * warps, warps * tileKeys);
        for (int i = Group.IdxX; i < items * d; i += Group.DimX)
        {
            int item = firstItem + (int)((uint)i / (uint)d);
            qs[i] = q[QueryRow(s, ratio, kvHead, item, d) + (int)((uint)i % (uint)d)];
            acc[i] = 0f;
        }
        // The group's keys: its items' visible keys within this split of the call's visible range.
        int lastQuery = (firstItem + items - 1) / ratio;
        int splitFirst = s.FirstKey(0) + split * p.SplitLength;
        int lo = Math.Max(s.FirstKey(firstItem / ratio), splitFirst);
        int hi = Math.Min(s.LastKey(lastQuery), splitFirst + p.SplitLength - 1);
        int warp = Warp.WarpIdx, myQuery = (firstItem + warp) / ratio;
        int myFirst = s.FirstKey(myQuery), myLast = s.LastKey(myQuery);
        // Every lane of a warp keeps its item's running max and sum (they come from warp-wide reductions).
        var running = new RunningSoftmax { Max = float.NegativeInfinity, Sum = 0f };
        for (int t0 = lo; t0 <= hi; t0 += tileKeys)
        {
            int count = Math.Min(tileKeys, hi - t0 + 1);
            Group.Barrier();  // the previous tile's readers are done (and, the first time, the queries are staged)
            long headRow = (firstRow + t0) * s.KvHeads + kvHead;
            if (quadsValue.Value != 0) StageQuads(k4, v4, headRow, s.KvHeads, d / 4, count, ks, vs, d);
            else StageFloats(k, v, headRow, s.KvHeads, count, ks, vs, d);
            Group.Barrier();
            if (warp < items)
                for (int sub = 0; sub < count; sub += Warp.WarpSize)
                    running = ScoreTile(ks, vs, qs, acc, weights.SubView(warp * tileKeys, Warp.WarpSize), running, warp, d, t0, sub,
                        Math.Min(Warp.WarpSize, count - sub), myFirst, myLast, s.Scale);
        }
        if (warp < items && Warp.IsFirstLane)
        {
            stats[warp] = running.Max;
            stats[warps + warp] = running.Sum;
        }
        Group.Barrier();
        WriteOutput(acc, stats, s, p, ratio, d, kvHead, firstItem, items, split, partials, y);
    }

    /// <summary>Where item <paramref name="item"/> (query-major over the KV head's query heads) starts in q and y.</summary>
    static long QueryRow(AttentionShape s, int ratio, int kvHead, int item, int d) =>
        ((long)(item / ratio) * s.QueryHeads + kvHead * ratio + item % ratio) * d;

    /// <summary><paramref name="count"/> head rows of K and V into the tiles (K rows padded to d + 1 floats): tile row j
    /// is head row <paramref name="headRow"/> + j·<paramref name="rowStride"/> of the cache seen as [rows · kvHeads, d].
    /// 16-byte loads, four of K and four of V in flight per thread before any store.</summary>
    static void StageQuads(ArrayView<Quad> k4, ArrayView<Quad> v4, long headRow, int rowStride, int quads, int count,
        ArrayView<float> ks, ArrayView<float> vs, int d)
    {
        int total = count * quads, threads = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 4 * threads)
        {
            var k0 = LoadQuad(k4, headRow, rowStride, quads, i, total);
            var k1 = LoadQuad(k4, headRow, rowStride, quads, i + threads, total);
            var k2 = LoadQuad(k4, headRow, rowStride, quads, i + 2 * threads, total);
            var k3 = LoadQuad(k4, headRow, rowStride, quads, i + 3 * threads, total);
            var v0 = LoadQuad(v4, headRow, rowStride, quads, i, total);
            var v1 = LoadQuad(v4, headRow, rowStride, quads, i + threads, total);
            var v2 = LoadQuad(v4, headRow, rowStride, quads, i + 2 * threads, total);
            var v3 = LoadQuad(v4, headRow, rowStride, quads, i + 3 * threads, total);
            StoreQuad(ks, vs, k0, v0, quads, d, i, total);
            StoreQuad(ks, vs, k1, v1, quads, d, i + threads, total);
            StoreQuad(ks, vs, k2, v2, quads, d, i + 2 * threads, total);
            StoreQuad(ks, vs, k3, v3, quads, d, i + 3 * threads, total);
        }
    }

    /// <summary>Quad e of tile row j (i = j·quads + e), or zeros past the tile. Unsigned division: ptxas 11.8 turns a
    /// signed remainder by a constant power of two into a reciprocal-based division.</summary>
    static Quad LoadQuad(ArrayView<Quad> x4, long headRow, int rowStride, int quads, int i, int total) =>
        i < total ? x4[(headRow + (long)((uint)i / (uint)quads) * rowStride) * quads + (uint)i % (uint)quads] : default;

    static void StoreQuad(ArrayView<float> ks, ArrayView<float> vs, Quad k, Quad v, int quads, int d, int i, int total)
    {
        if (i >= total) return;
        int j = (int)((uint)i / (uint)quads), e = (int)((uint)i % (uint)quads) * 4, kAt = j * (d + 1) + e, vAt = j * d + e;
        ks[kAt] = Interop.IntAsFloat(k.X);
        ks[kAt + 1] = Interop.IntAsFloat(k.Y);
        ks[kAt + 2] = Interop.IntAsFloat(k.Z);
        ks[kAt + 3] = Interop.IntAsFloat(k.W);
        vs[vAt] = Interop.IntAsFloat(v.X);
        vs[vAt + 1] = Interop.IntAsFloat(v.Y);
        vs[vAt + 2] = Interop.IntAsFloat(v.Z);
        vs[vAt + 3] = Interop.IntAsFloat(v.W);
    }

    /// <summary><see cref="StageQuads"/> for head sizes that are not whole quads: single floats, four of K and four of
    /// V in flight per thread.</summary>
    static void StageFloats(ArrayView<float> k, ArrayView<float> v, long headRow, int rowStride, int count, ArrayView<float> ks,
        ArrayView<float> vs, int d)
    {
        int total = count * d, threads = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 4 * threads)
        {
            float k0 = LoadFloat(k, headRow, rowStride, d, i, total), k1 = LoadFloat(k, headRow, rowStride, d, i + threads, total);
            float k2 = LoadFloat(k, headRow, rowStride, d, i + 2 * threads, total);
            float k3 = LoadFloat(k, headRow, rowStride, d, i + 3 * threads, total);
            float v0 = LoadFloat(v, headRow, rowStride, d, i, total), v1 = LoadFloat(v, headRow, rowStride, d, i + threads, total);
            float v2 = LoadFloat(v, headRow, rowStride, d, i + 2 * threads, total);
            float v3 = LoadFloat(v, headRow, rowStride, d, i + 3 * threads, total);
            StoreFloat(ks, vs, k0, v0, d, i, total);
            StoreFloat(ks, vs, k1, v1, d, i + threads, total);
            StoreFloat(ks, vs, k2, v2, d, i + 2 * threads, total);
            StoreFloat(ks, vs, k3, v3, d, i + 3 * threads, total);
        }
    }

    static float LoadFloat(ArrayView<float> x, long headRow, int rowStride, int d, int i, int total) =>
        i < total ? x[(headRow + (long)((uint)i / (uint)d) * rowStride) * d + (uint)i % (uint)d] : 0f;

    static void StoreFloat(ArrayView<float> ks, ArrayView<float> vs, float k, float v, int d, int i, int total)
    {
        if (i >= total) return;
        int j = (int)((uint)i / (uint)d), e = (int)((uint)i % (uint)d);
        ks[j * (d + 1) + e] = k;
        vs[j * d + e] = v;
    }

    /// <summary>Warp <paramref name="w"/>'s item against <paramref name="count"/> (at most a warp's worth) staged keys,
    /// tile rows <paramref name="sub"/>.. from key <paramref name="t0"/> + sub: lane j scores its key when the item sees
    /// it ([first, last]), then the online-softmax update of the item's running max and sum (returned) and output (each
    /// lane its columns lane, lane + warp, …). The keys' probabilities go through the warp's slots of shared memory
    /// (<paramref name="weights"/>) — one warp barrier a tile rather than a shuffle per key and column block, which on
    /// the CPU accelerator is a rendezvous of OS threads each.</summary>
    static RunningSoftmax ScoreTile(ArrayView<float> ks, ArrayView<float> vs, ArrayView<float> qs, ArrayView<float> acc,
        ArrayView<float> weights, RunningSoftmax running, int w, int d, int t0, int sub, int count, int first, int last, float scale)
    {
        int lane = Warp.LaneIdx, row = sub + lane, key = t0 + row;
        bool visible = lane < count && key >= first && key <= last;
        float score = float.NegativeInfinity;
        if (visible) score = Dot(qs, w * d, ks, row * (d + 1), d) * scale;
        float oldMax = running.Max, newMax = Math.Max(oldMax, WarpReduce.Max(score));
        float weight = visible ? XMath.Exp(score - newMax) : 0f;
        float correction = oldMax == float.NegativeInfinity ? 0f : XMath.Exp(oldMax - newMax);
        float tileSum = WarpReduce.Sum(weight);
        weights[lane] = weight;
        Warp.Barrier();
        // The item's output columns lane, lane + 32, …: four (or two) columns at once, so each key's probability
        // feeds independent sums rather than one chain of dependent additions per column.
        int e = lane, width = Warp.WarpSize, at = w * d;
        for (; e + 3 * width < d; e += 4 * width)
        {
            float v0 = acc[at + e] * correction, v1 = acc[at + e + width] * correction;
            float v2 = acc[at + e + 2 * width] * correction, v3 = acc[at + e + 3 * width] * correction;
            for (int j = 0, r = sub * d + e; j < count; j++, r += d)
            {
                float p = weights[j];
                v0 += p * vs[r];
                v1 += p * vs[r + width];
                v2 += p * vs[r + 2 * width];
                v3 += p * vs[r + 3 * width];
            }
            acc[at + e] = v0;
            acc[at + e + width] = v1;
            acc[at + e + 2 * width] = v2;
            acc[at + e + 3 * width] = v3;
        }
        for (; e + width < d; e += 2 * width)
        {
            float v0 = acc[at + e] * correction, v1 = acc[at + e + width] * correction;
            for (int j = 0, r = sub * d + e; j < count; j++, r += d)
            {
                float p = weights[j];
                v0 += p * vs[r];
                v1 += p * vs[r + width];
            }
            acc[at + e] = v0;
            acc[at + e + width] = v1;
        }
        for (; e < d; e += width)
        {
            float v0 = acc[at + e] * correction;
            for (int j = 0, r = sub * d + e; j < count; j++, r += d) v0 += weights[j] * vs[r];
            acc[at + e] = v0;
        }
        Warp.Barrier();  // the slots are read before the next keys' probabilities overwrite them
        return new RunningSoftmax { Max = newMax, Sum = running.Sum * correction + tileSum };
    }

    /// <summary>The query (at <paramref name="q0"/>) dotted with a staged key row (at <paramref name="k0"/>) in four
    /// interleaved sums: a head of 128 is four chains of 32 dependent additions instead of one of 128 — latency that
    /// a decode step, with a warp or two per multiprocessor, has nothing else to hide behind.</summary>
    static float Dot(ArrayView<float> qs, int q0, ArrayView<float> ks, int k0, int d)
    {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int e = 0;
        for (; e + 3 < d; e += 4)
        {
            s0 += qs[q0 + e] * ks[k0 + e];
            s1 += qs[q0 + e + 1] * ks[k0 + e + 1];
            s2 += qs[q0 + e + 2] * ks[k0 + e + 2];
            s3 += qs[q0 + e + 3] * ks[k0 + e + 3];
        }
        for (; e < d; e++) s0 += qs[q0 + e] * ks[k0 + e];
        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>Each item's output (one split) or its (max, sum, output) partial, laid out for CombineKernel.</summary>
    static void WriteOutput(ArrayView<float> acc, ArrayView<float> stats, AttentionShape s, AttentionPlan p, int ratio, int d,
        int kvHead, int firstItem, int items, int split, ArrayView<float> partials, ArrayView<float> y)
    {
        int warps = p.Warps;
        for (int i = Group.IdxX; i < items * d; i += Group.DimX)
        {
            int w = (int)((uint)i / (uint)d), e = (int)((uint)i % (uint)d), item = firstItem + w;
            float sum = stats[warps + w];
            if (p.Splits == 1) y[QueryRow(s, ratio, kvHead, item, d) + e] = sum > 0f ? acc[w * d + e] / sum : 0f;
            else partials[PartialAt(p, kvHead, item, split, d) + 2 + e] = acc[w * d + e];
        }
        if (p.Splits == 1) return;
        for (int w = Group.IdxX; w < items; w += Group.DimX)
        {
            long part = PartialAt(p, kvHead, firstItem + w, split, d);
            partials[part] = stats[w];
            partials[part + 1] = stats[warps + w];
        }
    }

    static long PartialAt(AttentionPlan p, int kvHead, int item, int split, int d) =>
        (((long)kvHead * p.ItemsPerKv + item) * p.Splits + split) * (d + 2);

    /// <summary>exp(m − max), 0 for a part that saw no key (m = −∞).</summary>
    static float Factor(float m, float max) => m == float.NegativeInfinity ? 0f : XMath.Exp(m - max);

    /// <summary>Splits a combine can merge: the first warp's lanes fold the splits' (max, sum) pairs and leave each
    /// split's factor in shared memory.</summary>
    const int MaxSplits = 1024;

    /// <summary>One group per (kv head, item): merges the splits' partials into y. The first warp folds the splits' (max,
    /// sum) pairs, a lane per split, into the item's max, sum and each split's factor exp(m − max) (in shared memory);
    /// then thread e sums element e over the splits, eight loads (pinned ahead of the arithmetic: <see cref="LoadOrder"/>)
    /// at a time. The partials sit in L2, written by the launch before; a thread that walked them one dependent load at a
    /// time — three such loops, none unrolled by ptxas — waited ~96 L2 round trips at a 4,096-key context (32 splits);
    /// now ~10 (ptxas issues the eight loads four at a time: the sm_90 SASS of <c>Benchmarks/kernel-report.sh</c>).</summary>
    static void CombineKernel(ArrayView<float> partials, AttentionShape s, AttentionPlan p, ArrayView<float> y)
    {
        var factors = SharedMemory.Allocate<float>(MaxSplits);
        var total = SharedMemory.Allocate<float>(1);
        int d = s.HeadDim, ratio = s.QueryHeads / s.KvHeads, splits = p.Splits, stride = d + 2;
        int kvHead = Grid.IdxX / p.ItemsPerKv, item = Grid.IdxX % p.ItemsPerKv;
        long first = PartialAt(p, kvHead, item, 0, d);
        if (Warp.WarpIdx == 0)
        {
            float max = float.NegativeInfinity;
            for (int sp = Warp.LaneIdx; sp < splits; sp += Warp.WarpSize) max = Math.Max(max, partials[first + sp * stride]);
            max = WarpReduce.Max(max);
            float sum = 0f;
            for (int sp = Warp.LaneIdx; sp < splits; sp += Warp.WarpSize)
            {
                float factor = Factor(partials[first + sp * stride], max);
                factors[sp] = factor;
                sum += partials[first + sp * stride + 1] * factor;
            }
            sum = WarpReduce.Sum(sum);
            if (Warp.IsFirstLane) total[0] = sum;
        }
        Group.Barrier();
        float all = total[0];
        long yRow = QueryRow(s, ratio, kvHead, item, d);
        for (int e = Group.IdxX; e < d; e += Group.DimX)
        {
            long at = first + 2 + e;
            float value = 0f;
            int sp = 0;
            for (; sp + 8 <= splits; sp += 8)
            {
                long a = at + sp * stride;
                float v0 = LoadOrder.Pin(partials[a]), v1 = LoadOrder.Pin(partials[a + stride]);
                float v2 = LoadOrder.Pin(partials[a + 2 * stride]), v3 = LoadOrder.Pin(partials[a + 3 * stride]);
                float v4 = LoadOrder.Pin(partials[a + 4 * stride]), v5 = LoadOrder.Pin(partials[a + 5 * stride]);
                float v6 = LoadOrder.Pin(partials[a + 6 * stride]), v7 = LoadOrder.Pin(partials[a + 7 * stride]);
                value += v0 * factors[sp] + v1 * factors[sp + 1] + v2 * factors[sp + 2] + v3 * factors[sp + 3]
                         + v4 * factors[sp + 4] + v5 * factors[sp + 5] + v6 * factors[sp + 6] + v7 * factors[sp + 7];
            }
            for (; sp < splits; sp++) value += partials[at + sp * stride] * factors[sp];
            y[yRow + e] = all > 0f ? value / all : 0f;
        }
    }
}

/// <summary>An item's online-softmax state: the largest score so far and the sum of exp(score − max).</summary>
public struct RunningSoftmax
{
    public float Max, Sum;
}

/// <summary>How one attention call is laid out: <see cref="TileKeys"/> keys per staged tile (one per lane),
/// <see cref="Warps"/> per group (one per item), <see cref="ItemsPerKv"/> (query, head) items per KV head in
/// <see cref="GroupsPerKv"/> groups, and the visible keys cut into <see cref="Splits"/> ranges of
/// <see cref="SplitLength"/> (whole tiles).</summary>
public readonly record struct AttentionPlan(int TileKeys, int Warps, int ItemsPerKv, int GroupsPerKv, int Splits, int SplitLength);
