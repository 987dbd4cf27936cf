using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// y = x · Wᵀ for one row of x (a batch-1 decode step, where the weights' bandwidth is the whole cost). A group of
/// warps owns <see cref="RowsPerGroup"/> weight rows and splits k between its threads: each thread loads a chunk of x
/// once and dots it with the chunk of all four rows (a quarter of the x traffic through L1 of one row per warp), sums
/// in registers, and the group folds its threads' sums (shuffles, then, with several warps, one shared-memory slot per
/// warp and row).
/// Consecutive threads read consecutive chunks, so each row's loads are coalesced. The stride is a whole number of
/// quantized blocks (the group size is a multiple of 4), so a thread's place inside its blocks never changes.
/// The shared form can fold an RMSNorm of x into the products (<see cref="RowNorm"/>): a group reads all of x anyway,
/// so each thread also sums the squares of its x values and multiplies them by the norm's weights; the group's sum
/// gives 1/rms, which scales the finished dot products. One launch instead of a norm launch and a product launch.
/// The SwiGLU form does the same with two gate rows and the same two up rows per group, and gates them.
/// </summary>
public sealed partial class MatMulKernels
{
    /// <summary>Weight rows per group of the single-row GEMV: each x chunk loaded serves this many rows. 4 keeps a
    /// q_proj launch (4096 rows) at 1,024 groups: with 4 warps each (<see cref="SingleRowGroup"/>), ~31 warps a
    /// multiprocessor on an H100.</summary>
    const int RowsPerGroup = 4;

    /// <summary>Warps a group of the single-row GEMV can have at most (the shared slots it allocates).</summary>
    const int MaxWarpsPerGroup = 32;

    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
        SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, ArrayView<float>, SpecializedValue<int>>? singleRowGemv;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, int, SpecializedValue<int>, SpecializedValue<int>,
        SpecializedValue<int>, SpecializedValue<int>, RowNorm, SharedWeights, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, RowRope>? singleRowGemvShared;

    /// <summary>What the shared single-row GEMV folds into its products (flags of one specialized value: ILGPU launches
    /// take at most 15 parameters): the RMSNorm of x, RoPE of W0's and W1's products, int8 activations.</summary>
    public const int FoldNorm = 1, FoldRope = 2, FoldInt8 = 4;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, SpecializedValue<int>,
        RowNorm, WeightViews, WeightViews, int, ArrayView<float>, SpecializedValue<int>>? singleRowSwiGlu;

    static int Groups(int m) => (m + RowsPerGroup - 1) / RowsPerGroup;

    /// <summary>Threads per group for a launch of <paramref name="groups"/> groups: enough warps sharing each group's
    /// rows (up to 4) that ~32 warps per multiprocessor are in flight to hide memory latency, and a single warp — whose
    /// shuffles finish the sums without a barrier — once the rows alone give that many (gate/up, lm_head). On the CPU
    /// accelerator, where a barrier is a rendezvous of OS threads, that keeps a 32,000-row lm_head from costing 8,000
    /// of them; small test shapes still take the several-warp path.</summary>
    int SingleRowGroup(int groups)
    {
        long wanted = 32L * Math.Max(1, Accelerator.NumMultiprocessors);
        long warps = Math.Clamp((wanted + groups - 1) / Math.Max(1, groups), 1, GemvGroup / Accelerator.WarpSize);
        return (int)warps * Accelerator.WarpSize;
    }

    void SingleRowGemv(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int epilogue, int m,
        ArrayView<float> y)
    {
        singleRowGemv ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
            SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, ArrayView<float>, SpecializedValue<int>>(SingleRowGemvKernel);
        bool vector = Vectorizable(x, w);
        singleRowGemv(stream, new KernelConfig(Groups(m), SingleRowGroup(Groups(m))), x, vector ? x.Cast<Quad>() : default,
            SpecializedValue.New(vector ? 1 : 0), w, SpecializedValue.New(w.Format), bias, SpecializedValue.New(epilogue), m, y,
            SpecializedValue.New(Int8For(w.Format)));
    }

    /// <summary>The shared single-row GEMV, with x normalised first when <paramref name="norm"/> is given (its
    /// weights, eps and where the normalised x is written: by the first group, for readers after this launch).
    /// W1 and W2 may be empty (M = 0). With <paramref name="xStep"/> &gt; 0 matrix i reads its own x at i·xStep (rows of
    /// one buffer); <paramref name="accumulate"/> adds the products to y; with <paramref name="rope"/>, W0's and W1's
    /// products (q, k) leave rotated (<see cref="RowRope"/>).</summary>
    void SingleRowGemvShared(AcceleratorStream stream, ArrayView<float> x, RowNorm? norm, SharedWeights w, ArrayView<float> y0,
        ArrayView<float> y1, ArrayView<float> y2, int xStep = 0, bool accumulate = false, RowRope? rope = null)
    {
        singleRowGemvShared ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, int, SpecializedValue<int>,
            SpecializedValue<int>, SpecializedValue<int>, SpecializedValue<int>, RowNorm, SharedWeights, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, RowRope>(SingleRowGemvSharedKernel);
        bool vector = Vectorizable(x, w) && xStep % 4 == 0 && (norm is null || WeightViews.Aligned16(norm.Value.Weight));
        int groups = Groups(w.M0) + Groups(w.M1) + Groups(w.M2);
        var rowNorm = norm ?? default;
        if (vector && norm is not null) rowNorm = rowNorm with { Weight4 = rowNorm.Weight.Cast<Quad>() };
        singleRowGemvShared(stream, new KernelConfig(groups, SingleRowGroup(groups)), x, vector ? x.Cast<Quad>() : default, xStep,
            SpecializedValue.New(vector ? 1 : 0), SpecializedValue.New(w.W0.Format),
            SpecializedValue.New((norm is null ? 0 : FoldNorm) | (rope is null ? 0 : FoldRope) | (Int8For(w.W0.Format) != 0 ? FoldInt8 : 0)),
            SpecializedValue.New(accumulate ? Accumulate : 0), rowNorm, w, y0, y1, y2, rope ?? default);
    }

    /// <summary>y0 += x[0]·W0ᵀ, y1 += x[1]·W1ᵀ (, y2 += x[2]·W2ᵀ) in one launch, x holding a row of k values per
    /// matrix (the LoRA B products of one decode step's q, k, v or gate, up). Pass M2 = 0 for two weights. With
    /// <paramref name="rope"/>, y0 and y1 (q, k: whole heads) leave rotated, sums and all (<see cref="RowRope"/>).</summary>
    public void GemvEachAccumulate(AcceleratorStream stream, ArrayView<float> x, SharedWeights w, ArrayView<float> y0,
        ArrayView<float> y1, ArrayView<float> y2, RowRope? rope = null)
    {
        if (w.M0 + w.M1 + w.M2 == 0) return;
        CheckRope(rope, w);
        SingleRowGemvShared(stream, x, null, w, y0, y1, y2, xStep: w.W0.K, accumulate: true, rope: rope);
    }

    /// <summary>RoPE in a single-row GEMV pairs rows within a group of four: heads of a multiple of 4, q and k whole heads.</summary>
    static void CheckRope(RowRope? rope, SharedWeights w)
    {
        if (rope is { } r && (r.HeadDim % 4 != 0 || w.M0 % r.HeadDim != 0 || w.M1 % r.HeadDim != 0))
            throw new ArgumentException($"RoPE in the GEMV needs q and k of whole heads of a multiple of 4 (head size {r.HeadDim})");
    }

    /// <summary>normed = RMSNorm(x) (one row), y = silu(normed·gateᵀ) · (normed·upᵀ): a SwiGLU MLP's first half in one
    /// launch (norm, two products and the gating). gate, up: [m, k] of one format.</summary>
    public void SwiGlu(AcceleratorStream stream, ArrayView<float> x, RowNorm norm, WeightViews gate, WeightViews up, int m,
        ArrayView<float> y)
    {
        if (m == 0) return;
        singleRowSwiGlu ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, SpecializedValue<int>,
            RowNorm, WeightViews, WeightViews, int, ArrayView<float>, SpecializedValue<int>>(SingleRowSwiGluKernel);
        bool vector = Vectorizable(x, gate) && Vectorizable(x, up) && WeightViews.Aligned16(norm.Weight);
        if (vector) norm = norm with { Weight4 = norm.Weight.Cast<Quad>() };
        singleRowSwiGlu(stream, new KernelConfig((m + 1) / 2, SingleRowGroup((m + 1) / 2)), x, vector ? x.Cast<Quad>() : default,
            SpecializedValue.New(vector ? 1 : 0), SpecializedValue.New(gate.Format), norm, gate, up, m, y,
            SpecializedValue.New(Int8For(gate.Format)));
    }

    static void SingleRowSwiGluKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue,
        SpecializedValue<int> formatValue, RowNorm norm, WeightViews gate, WeightViews up, int m, ArrayView<float> y,
        SpecializedValue<int> int8Value)
    {
        GatedRows(x, x4, vectorValue.Value, formatValue.Value, int8Value.Value, norm, gate, up, m, Grid.IdxX * 2, y);
    }

    static void SingleRowGemvKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue, WeightViews w,
        SpecializedValue<int> formatValue, ArrayView<float> bias, SpecializedValue<int> epilogueValue, int m, ArrayView<float> y,
        SpecializedValue<int> int8Value)
    {
        GroupRows(x, x4, vectorValue.Value, w, formatValue.Value, int8Value.Value, 0, default, bias, epilogueValue.Value, m,
            Grid.IdxX * RowsPerGroup, y, 0, default);
    }

    /// <summary>The groups of W0's rows, then W1's, then W2's: a group never straddles two matrices. Matrix i reads x
    /// from i·xStep (0: all read the same x). <paramref name="foldsValue"/>: <see cref="FoldNorm"/> etc.</summary>
    static void SingleRowGemvSharedKernel(ArrayView<float> x, ArrayView<Quad> x4, int xStep, SpecializedValue<int> vectorValue,
        SpecializedValue<int> formatValue, SpecializedValue<int> foldsValue, SpecializedValue<int> epilogueValue, RowNorm norm,
        SharedWeights w, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2, RowRope rope)
    {
        int vector = vectorValue.Value, format = formatValue.Value, epilogue = epilogueValue.Value, folds = foldsValue.Value;
        int normed = folds & FoldNorm, roped = folds & FoldRope, int8 = folds & FoldInt8;
        int group = Grid.IdxX, groups0 = Groups(w.M0), groups1 = Groups(w.M1);
        int matrix = group < groups0 ? 0 : group < groups0 + groups1 ? 1 : 2;
        var xi = x.SubView(matrix * xStep);
        var x4i = vector != 0 ? x4.SubView(matrix * xStep / 4) : x4;
        if (matrix == 0)
            GroupRows(xi, x4i, vector, w.W0, format, int8, normed, norm, y0, epilogue, w.M0, group * RowsPerGroup, y0, roped, rope);
        else if (matrix == 1)
            GroupRows(xi, x4i, vector, w.W1, format, int8, normed, norm, y1, epilogue, w.M1, (group - groups0) * RowsPerGroup, y1,
                roped, rope);
        else
            GroupRows(xi, x4i, vector, w.W2, format, int8, normed, norm, y2, epilogue, w.M2,
                (group - groups0 - groups1) * RowsPerGroup, y2, 0, rope);
    }

    /// <summary>y[row0 .. row0 + 3] (those below m). Rows past m repeat row m − 1's reads (in cache) and are not stored,
    /// so the loop has no per-row branches. With <paramref name="normed"/>, x is RMS-normalised by
    /// <paramref name="norm"/> on the way (and the launch's first group writes the normalised x). With
    /// <paramref name="roped"/>, the group's rows are two rotated pairs of one head instead (<see cref="RowRope"/>).</summary>
    static void GroupRows(ArrayView<float> x, ArrayView<Quad> x4, int vector, WeightViews w, int format, int int8, int normed,
        RowNorm norm, ArrayView<float> bias, int epilogue, int m, int row0, ArrayView<float> y, int roped, RowRope rope)
    {
        var partials = SharedMemory.Allocate<float>((RowsPerGroup + 1) * MaxWarpsPerGroup);
        if (roped != 0) row0 = rope.FirstRow(row0);
        int row1 = Math.Min(row0 + 1, m - 1), row2 = Math.Min(row0 + 2, m - 1), row3 = Math.Min(row0 + 3, m - 1);
        if (roped != 0) (row2, row3) = (rope.Partner(row0), rope.Partner(row0) + 1);
        var totals = int8 != 0
            ? Int8Totals(x, x4, vector, format, normed, norm, w, row0, row1, w, row2, row3, partials)
            : ReduceGroup(DotRows(x, x4, vector, format, normed, norm, w, row0, row1, w, row2, row3), normed, norm, x, w.K, partials);
        int t = Group.IdxX;
        if (roped != 0)
        {
            // Each thread of a pair needs the other's value: with the accumulate, both old values are read before
            // either thread writes (a barrier every thread of the group reaches).
            var pair = t < RowsPerGroup ? rope.Pair(t, row0, totals, y, epilogue) : default;
            if ((epilogue & Accumulate) != 0) Group.Barrier();
            if (t < RowsPerGroup) y[pair.Row] = rope.Rotate(t, row0, pair);
            return;
        }
        int row = row0 + t;
        if (t >= RowsPerGroup || row >= m) return;
        y[row] = Epilogue(epilogue, totals.Sum(t) * totals.Scale, bias, row, y, row);
    }

    /// <summary>SwiGLU of one row: y[r] = silu(normed·gate[r]) · (normed·up[r]) for r = row0, row0 + 1 (those below m),
    /// normed = RMSNorm(x): the group's four dot products are two gate rows and the same two up rows.</summary>
    static void GatedRows(ArrayView<float> x, ArrayView<Quad> x4, int vector, int format, int int8, RowNorm norm, WeightViews gate,
        WeightViews up, int m, int row0, ArrayView<float> y)
    {
        var partials = SharedMemory.Allocate<float>((RowsPerGroup + 1) * MaxWarpsPerGroup);
        int row1 = Math.Min(row0 + 1, m - 1);
        var totals = int8 != 0
            ? Int8Totals(x, x4, vector, format, 1, norm, gate, row0, row1, up, row0, row1, partials)
            : ReduceGroup(DotRows(x, x4, vector, format, 1, norm, gate, row0, row1, up, row0, row1), 1, norm, x, gate.K, partials);
        int t = Group.IdxX, row = row0 + t;
        if (t >= 2 || row >= m) return;
        float g = totals.Sum(t) * totals.Scale, u = totals.Sum(t + 2) * totals.Scale;
        y[row] = ElementwiseKernels.SiluTimes(g, u);
    }

    /// <summary>Folds the threads' sums over the group — each warp's by shuffles, then, with several warps, one shared
    /// slot per warp and sum — and returns the four totals with the factor the dot products take: 1, or with
    /// <paramref name="normed"/> RmsNormKernel's 1/rms from the group's sum of squares over all of x (and then the
    /// launch's first group writes the normalised x).</summary>
    static RowTotals ReduceGroup(RowSums sums, int normed, RowNorm norm, ArrayView<float> x, int k, ArrayView<float> partials)
    {
        var totals = new RowSums
        {
            S0 = WarpReduce.Sum(sums.S0), S1 = WarpReduce.Sum(sums.S1), S2 = WarpReduce.Sum(sums.S2), S3 = WarpReduce.Sum(sums.S3),
            Squares = normed != 0 ? WarpReduce.Sum(sums.Squares) : 0f,
        };
        int warps = Group.DimX / Warp.WarpSize;
        if (warps > 1)
        {
            int warp = Warp.WarpIdx;
            if (Warp.IsFirstLane)
            {
                partials[warp * RowsPerGroup] = totals.S0;
                partials[warp * RowsPerGroup + 1] = totals.S1;
                partials[warp * RowsPerGroup + 2] = totals.S2;
                partials[warp * RowsPerGroup + 3] = totals.S3;
                partials[RowsPerGroup * MaxWarpsPerGroup + warp] = totals.Squares;
            }
            Group.Barrier();
            totals = new RowSums();
            for (int i = 0; i < warps; i++)
            {
                totals.S0 += partials[i * RowsPerGroup];
                totals.S1 += partials[i * RowsPerGroup + 1];
                totals.S2 += partials[i * RowsPerGroup + 2];
                totals.S3 += partials[i * RowsPerGroup + 3];
                totals.Squares += partials[RowsPerGroup * MaxWarpsPerGroup + i];
            }
        }
        var result = new RowTotals { S0 = totals.S0, S1 = totals.S1, S2 = totals.S2, S3 = totals.S3, Scale = 1f };
        if (normed == 0) return result;
        result.Scale = 1f / XMath.Sqrt(totals.Squares / k + norm.Eps);
        WriteNormed(norm, x, k, result.Scale);
        return result;
    }

    /// <summary>The normalised x (x · 1/rms · weight) into <see cref="RowNorm.Normed"/>, by the launch's first group, for
    /// readers after the launch (the side paths).</summary>
    static void WriteNormed(RowNorm norm, ArrayView<float> x, int k, float scale)
    {
        if (Grid.IdxX != 0) return;
        for (int j = Group.IdxX; j < k; j += Group.DimX) norm.Normed[j] = x[j] * scale * norm.Weight[j];
    }

    /// <summary>This thread's share of the four rows' dot products — rows 0 and 1 of <paramref name="wA"/>, 2 and 3 of
    /// <paramref name="wB"/> (the same matrix, or gate and up) — (and, normalising, of x's sum of squares, the x
    /// values multiplied by the norm's weights): units Group.IdxX, + Group.DimX, … of <see cref="WeightViews.UnitWeights"/>
    /// weights (8, or 16 for aligned Q4_0 rows: one 8-byte quant load a row, so twice the bytes in flight a thread of
    /// 8-weight chunks, whose Q4_0 GEMV read ~1 TB/s on an H100 where F16's 16-byte loads read ~2.3). Each row's reader
    /// starts at the thread's first unit and moves on only when another unit follows (a view is never moved past its
    /// end); the x columns move with it.</summary>
    static RowSums DotRows(ArrayView<float> x, ArrayView<Quad> x4, int vector, int format, int normed, RowNorm norm,
        WeightViews wA, int row0, int row1, WeightViews wB, int row2, int row3)
    {
        var sums = new RowSums();
        int unitWeights = WeightViews.UnitWeights(format, vector);
        int first = Group.IdxX, stride = Group.DimX, units = (wA.K + unitWeights - 1) / unitWeights;
        if (first >= units) return sums;
        var r0 = wA.Reader(format, vector, row0, first);
        var r1 = wA.Reader(format, vector, row1, first);
        var r2 = wB.Reader(format, vector, row2, first);
        var r3 = wB.Reader(format, vector, row3, first);
        var step = RowReader.Step(format, stride);
        var (colA, colB) = WeightViews.UnitColumns(format, vector, first);
        for (int u = first; ;)
        {
            // Every load of the unit first (the four rows' bits pinned in place: LoadOrder), then the arithmetic.
            var w0 = WeightViews.Fetch(format, vector, r0);
            var w1 = WeightViews.Fetch(format, vector, r1);
            var w2 = WeightViews.Fetch(format, vector, r2);
            var w3 = WeightViews.Fetch(format, vector, r3);
            var xc = LoadX(x, x4, vector, normed, norm, wA.K, colA, colB, ref sums);
            var high = unitWeights == 16 ? LoadX(x, x4, vector, normed, norm, wA.K, colA + 4, colB + 4, ref sums) : default;
            sums.S0 += wA.Dot(format, vector, w0, row0, u, xc, high);
            sums.S1 += wA.Dot(format, vector, w1, row1, u, xc, high);
            sums.S2 += wB.Dot(format, vector, w2, row2, u, xc, high);
            sums.S3 += wB.Dot(format, vector, w3, row3, u, xc, high);
            u += stride;
            if (u >= units) return sums;
            // Four readers kept apart (not one structure of four): ptxas gave the F16 form 2 more registers with them
            // together (40 → 42: 51 → 42 warps a multiprocessor).
            r0 = r0.Advance(format, vector, step);
            r1 = r1.Advance(format, vector, step);
            r2 = r2.Advance(format, vector, step);
            r3 = r3.Advance(format, vector, step);
            colA += unitWeights * stride;
            colB += unitWeights * stride;
        }
    }

    /// <summary>The x values a chunk meets; normalising, also adds their squares to the sum and multiplies them by the
    /// norm's weights.</summary>
    static XChunk LoadX(ArrayView<float> x, ArrayView<Quad> x4, int vector, int normed, RowNorm norm, int k, int colA, int colB,
        ref RowSums sums)
    {
        var xc = XChunk.Load(x, x4, vector, k, colA, colB).Pinned();
        if (normed == 0) return xc;
        var weights = XChunk.Load(norm.Weight, norm.Weight4, vector, k, colA, colB).Pinned();
        sums.Squares += xc.SumOfSquares();
        return xc.Times(weights);
    }
}

/// <summary>RoPE folded into a single-row GEMV's q and k products (<c>IOps.MatMulNormed</c>, <c>IOps.MatMulAccumulateEach</c> with a <c>RotaryEmbedding</c>): a group's four rows
/// are two rotated pairs of one head, so the group rotates its own results as it stores them — HF's half-split layout
/// pairs element j with j + d/2 (the group takes rows j, j + 1, j + d/2, j + d/2 + 1), GGUF's interleaved one pairs
/// 2j with 2j + 1 (rows 4g .. 4g + 3 as they come). The angle is RopeKernels' (position · inverse frequency in fp32, its
/// cos and sin in double). HeadDim a multiple of 4; one row of x, so one position.</summary>
public record struct RowRope(ArrayView<int> Positions, ArrayView<float> InverseFrequencies, int HeadDim, int Interleaved)
{
    /// <summary>The first row of the group whose rows would be <paramref name="row0"/> .. + 3 without rotation.</summary>
    public readonly int FirstRow(int row0)
    {
        if (Interleaved != 0) return row0;
        int perHead = HeadDim / 4, group = row0 / 4;
        return group / perHead * HeadDim + 2 * (group % perHead);
    }

    /// <summary>Row <paramref name="row"/>'s partner in the group: + d/2 (half-split), + 2 (interleaved: the second pair).</summary>
    public readonly int Partner(int row) => row + (Interleaved != 0 ? 2 : HeadDim / 2);

    /// <summary>Thread <paramref name="t"/>'s row of the group and the values of its pair before rotation: its own (A)
    /// and its partner's (B) — rows (0, 2) and (1, 3) are pairs when half-split, (0, 1) and (2, 3) when interleaved —
    /// each the finished product, plus what y held with <see cref="MatMulKernels.Accumulate"/>.</summary>
    public readonly RopePair Pair(int t, int row0, RowTotals totals, ArrayView<float> y, int epilogue)
    {
        int partner = t ^ (Interleaved != 0 ? 1 : 2);
        int row = RowOf(t, row0), partnerRow = RowOf(partner, row0);
        float a = totals.Sum(t) * totals.Scale, b = totals.Sum(partner) * totals.Scale;
        if ((epilogue & MatMulKernels.Accumulate) != 0)
        {
            a += y[row];
            b += y[partnerRow];
        }
        return new RopePair { Row = row, A = a, B = b };
    }

    /// <summary>The rotated value of thread <paramref name="t"/>'s row: the first of a pair takes a·cos − b·sin, the
    /// second a·cos + b·sin (its own value a, the first's b).</summary>
    public readonly float Rotate(int t, int row0, RopePair pair)
    {
        bool first = Interleaved != 0 ? (t & 1) == 0 : t < 2;
        int index = Interleaved != 0 ? (row0 % HeadDim) / 2 + (t >> 1) : row0 % HeadDim + (t & 1);
        var (cos, sin) = RopeKernels.CosSin(Positions[0], InverseFrequencies[index]);
        return first ? pair.A * cos - pair.B * sin : pair.A * cos + pair.B * sin;
    }

    /// <summary>The row thread <paramref name="t"/> of the group owns.</summary>
    readonly int RowOf(int t, int row0) => Interleaved != 0 || t < 2 ? row0 + t : Partner(row0) + (t & 1);
}

/// <summary>A row of a rotated pair: where it goes, its own value and its partner's.</summary>
public struct RopePair
{
    public int Row;
    public float A, B;
}

/// <summary>An RMSNorm folded into a single-row GEMV: the norm's weights (also as quads when aligned), eps, and where the
/// normalised x goes.</summary>
public record struct RowNorm(ArrayView<float> Weight, ArrayView<Quad> Weight4, float Eps, ArrayView<float> Normed);

/// <summary>The four rows a thread of the single-row GEMV reads — rows 0 and 1 of one matrix, 2 and 3 of another (or
/// the same) — each standing at the same unit and moved on together.</summary>
public struct FourRowReaders
{
    public RowReader R0, R1, R2, R3;

    public static FourRowReaders At(int format, int vector, int unit, WeightViews wA, int row0, int row1, WeightViews wB, int row2,
        int row3) => new()
    {
        R0 = wA.Reader(format, vector, row0, unit), R1 = wA.Reader(format, vector, row1, unit),
        R2 = wB.Reader(format, vector, row2, unit), R3 = wB.Reader(format, vector, row3, unit),
    };

    public readonly FourRowReaders Advance(int format, int vector, ReaderStep step) => new()
    {
        R0 = R0.Advance(format, vector, step), R1 = R1.Advance(format, vector, step),
        R2 = R2.Advance(format, vector, step), R3 = R3.Advance(format, vector, step),
    };
}

/// <summary>Four running dot products and a sum of squares (ILGPU keeps a structure's fields in registers).</summary>
public struct RowSums
{
    public float S0, S1, S2, S3, Squares;
}

/// <summary>A group's four finished dot products and the factor they take (1/rms when normalising, else 1).</summary>
public struct RowTotals
{
    public float S0, S1, S2, S3, Scale;

    /// <summary>Dot product <paramref name="index"/> (0–3).</summary>
    public readonly float Sum(int index) => index == 0 ? S0 : index == 1 ? S1 : index == 2 ? S2 : S3;
}
