using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// Decode attention (one query per sequence) with the lanes of a warp over keys. The flash-attention kernel above
/// walks keys one at a time per warp — a dot product across lanes, a shuffle reduction and two exponentials in a
/// dependent chain for every key — and stages K/V with one scalar load per thread in flight (ptxas, sm_90: the staging
/// loop waits on each load before the next). Here a group owns one KV head (and a range of keys): it stages a tile of
/// one key per lane with 16-byte loads, four of K and four of V in flight per thread, then each warp takes a query head of the
/// GQA group and lane j scores key j (its own dot product over the head, no reduction), one max and one sum
/// reduction per tile, and each lane accumulates its slice of the output from the tile's probabilities (shuffled from
/// the lane that owns each key) and V rows. Splits over the key length write partials that <see cref="CombineKernel"/>
/// merges, as the flash-decoding path does.
/// </summary>
public sealed partial class AttentionKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, ArrayView<Quad>, AttentionShape, DecodePlan,
        ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>, SpecializedValue<int>>? decode;

    /// <summary>Whether the lanes-over-keys kernel takes this call: one query, whole 16-byte quads per head row, K and V
    /// 16-byte aligned, whole GQA groups.</summary>
    public static bool DecodeFits(AttentionShape s, ArrayView<float> k, ArrayView<float> v) =>
        s.Queries == 1 && s.HeadDim % 4 == 0 && s.QueryHeads % s.KvHeads == 0 && WeightViews.Aligned16(k) && WeightViews.Aligned16(v);

    /// <summary>The decode launch plan: keys per tile (one per lane), warps per group (one per query head of a KV head,
    /// at most the group's), and the split of the visible keys when a single sequence's KV heads alone would leave
    /// most multiprocessors idle (whole tiles per split).</summary>
    DecodePlan PlanDecode(AttentionShape s, bool batched)
    {
        int tileKeys = Accelerator.WarpSize, ratio = s.QueryHeads / s.KvHeads;
        int warps = Math.Max(1, Math.Min(ratio, RowGroupSize / Accelerator.WarpSize));
        if (batched) return new DecodePlan(tileKeys, warps, 1, int.MaxValue / 2);
        int visible = s.LastKey(0) - s.FirstKey(0) + 1, tiles = (visible + tileKeys - 1) / tileKeys;
        long target = 2L * Math.Max(1, Accelerator.NumMultiprocessors);
        int splits = (int)Math.Clamp((target + s.KvHeads - 1) / s.KvHeads, 1, Math.Max(1, tiles));
        int tilesPerSplit = (tiles + splits - 1) / splits;
        splits = Math.Max(1, (tiles + tilesPerSplit - 1) / tilesPerSplit);
        return new DecodePlan(tileKeys, warps, splits, tilesPerSplit * tileKeys);
    }

    /// <summary>The plan <see cref="CombineKernel"/> reads: the decode partials are laid out as the flash path's, with
    /// the ratio query heads of a KV head as its items.</summary>
    static AttentionPlan CombinePlan(AttentionShape s, DecodePlan p) =>
        new(0, s.QueryHeads / s.KvHeads, 0, 0, 0, 0, p.Splits, p.SplitLength);

    void Decode(AcceleratorStream stream, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> scratch,
        AttentionShape shape, ArrayView<float> y)
    {
        var p = PlanDecode(shape, batched: false);
        LaunchDecode(stream, shape.KvHeads * p.Splits, q, k, v, shape, p, p.Splits > 1 ? scratch : y, y, default, default, false);
        if (p.Splits == 1) return;
        combine ??= Accelerator.LoadKernel<ArrayView<float>, AttentionShape, AttentionPlan, ArrayView<float>>(CombineKernel);
        combine(stream, RowGroups(shape.QueryHeads), scratch, shape, CombinePlan(shape, p), y);
    }

    /// <summary>Floats of scratch a decode call needs: (max, sum, output) per query head and split, when split.</summary>
    long DecodeScratchLength(AttentionShape s)
    {
        var p = PlanDecode(s, batched: false);
        return p.Splits == 1 ? 0 : (long)s.QueryHeads * p.Splits * (s.HeadDim + 2);
    }

    void LaunchDecode(AcceleratorStream stream, int groups, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        AttentionShape shape, DecodePlan p, ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts,
        ArrayView<int> keyCounts, bool batched)
    {
        decode ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, ArrayView<Quad>, AttentionShape, DecodePlan,
            ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, SpecializedValue<int>, SpecializedValue<int>>(
            DecodeKernel);
        int d = shape.HeadDim, ratio = shape.QueryHeads / shape.KvHeads;
        var config = new KernelConfig(groups, p.Warps * Accelerator.WarpSize,
            SharedMemoryConfig.RequestDynamic<float>(DecodeSharedFloats(d, p.TileKeys, ratio)));
        decode(stream, config, q, k.Cast<Quad>(), v.Cast<Quad>(), shape, p, partials, y, cacheStarts, keyCounts,
            SpecializedValue.New(d), SpecializedValue.New(batched ? 1 : 0));
    }

    /// <summary>Shared memory of a decode group: K tile (rows padded by one float so lane j's reads of row j fall in
    /// distinct banks), V tile, the GQA group's queries and outputs, a running max and sum per query head.</summary>
    static int DecodeSharedFloats(int d, int tileKeys, int ratio) => tileKeys * (d + 1) + tileKeys * d + 2 * ratio * d + 2 * ratio;

    /// <summary>One group per (KV head, split) — batched, per (sequence, KV head) over that sequence's cache rows.
    /// <paramref name="headDimValue"/> is the head size as a compile-time value (its loops and divisions fold).</summary>
    static void DecodeKernel(ArrayView<float> q, ArrayView<Quad> k4, ArrayView<Quad> v4, AttentionShape s, DecodePlan p,
        ArrayView<float> partials, ArrayView<float> y, ArrayView<int> cacheStarts, ArrayView<int> keyCounts,
        SpecializedValue<int> headDimValue, SpecializedValue<int> batched)
    {
        int d = headDimValue.Value, quads = d / 4, ratio = s.QueryHeads / s.KvHeads, tileKeys = p.TileKeys;
        int kvHead = Grid.IdxX / p.Splits, split = Grid.IdxX % p.Splits;
        long firstRow = 0;
        if (batched.Value != 0)
        {
            int sequence = Grid.IdxX / s.KvHeads, keys = keyCounts[sequence];
            kvHead = Grid.IdxX % s.KvHeads;
            firstRow = cacheStarts[sequence];
            long queryValues = (long)s.QueryHeads * d;
            q = q.SubView(sequence * queryValues, queryValues);
            y = y.SubView(sequence * queryValues, queryValues);
            s = new AttentionShape(1, s.QueryHeads, s.KvHeads, d, keys, keys - 1, s.SlidingWindow, s.Scale);
        }
        var shared = SharedMemory.GetDynamic<float>();
        var ks = shared.SubView(0, tileKeys * (d + 1));
        var vs = shared.SubView(tileKeys * (d + 1), tileKeys * d);
        var qs = shared.SubView(tileKeys * (2 * d + 1), ratio * d);
        var acc = shared.SubView(tileKeys * (2 * d + 1) + ratio * d, ratio * d);
        var stats = shared.SubView(tileKeys * (2 * d + 1) + 2 * ratio * d, 2 * ratio);
        for (int i = Group.IdxX; i < ratio * d; i += Group.DimX)
        {
            qs[i] = q[(long)kvHead * ratio * d + i];
            acc[i] = 0f;
        }
        for (int h = Group.IdxX; h < ratio; h += Group.DimX)
        {
            stats[h] = float.NegativeInfinity;
            stats[ratio + h] = 0f;
        }
        int lo = s.FirstKey(0) + split * p.SplitLength, hi = Math.Min(s.LastKey(0), lo + p.SplitLength - 1);
        for (int t0 = lo; t0 <= hi; t0 += tileKeys)
        {
            int count = Math.Min(tileKeys, hi - t0 + 1);
            Group.Barrier();  // the previous tile's readers are done (and, the first time, the queries are staged)
            StageTile(k4, v4, (firstRow + t0) * s.KvHeads + kvHead, s.KvHeads, quads, count, ks, vs, d);
            Group.Barrier();
            for (int h = Warp.WarpIdx; h < ratio; h += p.Warps)
                ScoreTile(ks, vs, qs, acc, stats, h, ratio, d, count, s.Scale);
        }
        Group.Barrier();
        WriteDecodeOutput(acc, stats, ratio, d, kvHead, split, p.Splits, partials, y);
    }

    /// <summary><paramref name="count"/> head rows of K and V into the tiles (K rows padded to d + 1 floats): tile row j is
    /// head row <paramref name="headRow"/> + j·<paramref name="rowStride"/> of the cache seen as [rows · kvHeads, d].
    /// 16-byte loads, four of each in flight per thread before any store.</summary>
    static void StageTile(ArrayView<Quad> k4, ArrayView<Quad> v4, long headRow, int rowStride, int quads, int count,
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

    /// <summary>One warp, query head h, one staged tile of <paramref name="count"/> keys: lane j scores key j, then the
    /// online-softmax update of head h's running max, sum and output (each lane its columns lane, lane + warp, …).</summary>
    static void ScoreTile(ArrayView<float> ks, ArrayView<float> vs, ArrayView<float> qs, ArrayView<float> acc,
        ArrayView<float> stats, int h, int ratio, int d, int count, float scale)
    {
        int lane = Warp.LaneIdx;
        float score = float.NegativeInfinity;
        if (lane < count)
        {
            float dot = 0f;
            for (int e = 0; e < d; e++) dot += qs[h * d + e] * ks[lane * (d + 1) + e];
            score = dot * scale;
        }
        float oldMax = stats[h], newMax = Math.Max(oldMax, WarpReduce.Max(score));
        float weight = lane < count ? XMath.Exp(score - newMax) : 0f;
        float correction = oldMax == float.NegativeInfinity ? 0f : XMath.Exp(oldMax - newMax);
        float tileSum = WarpReduce.Sum(weight);
        // Every lane runs every shuffle (a warp-wide operation): the column loop has the same trip count on all lanes.
        for (int e0 = 0; e0 < d; e0 += Warp.WarpSize)
        {
            int e = e0 + lane;
            bool mine = e < d;
            float value = mine ? acc[h * d + e] * correction : 0f;
            for (int j = 0; j < count; j++)
            {
                float w = Warp.Shuffle(weight, j);
                if (mine) value += w * vs[j * d + e];
            }
            if (mine) acc[h * d + e] = value;
        }
        if (lane == 0)
        {
            stats[h] = newMax;
            stats[ratio + h] = stats[ratio + h] * correction + tileSum;
        }
    }

    /// <summary>Each query head's output (one split) or its (max, sum, output) partial, laid out for CombineKernel.</summary>
    static void WriteDecodeOutput(ArrayView<float> acc, ArrayView<float> stats, int ratio, int d, int kvHead, int split,
        int splits, ArrayView<float> partials, ArrayView<float> y)
    {
        for (int i = Group.IdxX; i < ratio * d; i += Group.DimX)
        {
            int h = (int)((uint)i / (uint)d), e = (int)((uint)i % (uint)d);
            float sum = stats[ratio + h];
            if (splits == 1) y[(long)(kvHead * ratio + h) * d + e] = sum > 0f ? acc[i] / sum : 0f;
            else partials[((long)(kvHead * ratio + h) * splits + split) * (d + 2) + 2 + e] = acc[i];
        }
        if (splits == 1) return;
        for (int h = Group.IdxX; h < ratio; h += Group.DimX)
        {
            long part = ((long)(kvHead * ratio + h) * splits + split) * (d + 2);
            partials[part] = stats[h];
            partials[part + 1] = stats[ratio + h];
        }
    }
}

/// <summary>How a decode attention call is laid out: keys per staged tile (one per lane), warps per group, and the
/// visible keys cut into <see cref="Splits"/> ranges of <see cref="SplitLength"/> (whole tiles).</summary>
public readonly record struct DecodePlan(int TileKeys, int Warps, int Splits, int SplitLength);
