using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// y = x · Wᵀ for a small batch (more rows of x than the GEMV takes, at most <see cref="SmallBatchMaxRows"/>: a batched
/// decode step) on tensor cores, every weight read from memory once. The tiled GEMM puts x's rows on the mma's M side,
/// so 36 sequences fill 56 % of its 64-row tile and each quantized weight needs the three-part TF32 product; here the
/// roles swap: weight rows are the mma's M (16 a warp), the batch's rows its N (blocks of 8: 36 fill 90 % of 40).
/// <para>Each lane reads its A fragments straight from the weights in registers — one chunk of 8 weights of rows g and
/// g + 8 per 32-wide block (<see cref="WeightViews.UnscaledChunk"/>: 16 bytes of F16/BF16, one quant word of Q4_0) —
/// and the mma's k order within a block is the chunk's own: slot i of lane t's chunk meets the x value at that column,
/// which the staging put at position 8t + i of the block (for Q4_0 that is columns 4t.. and 4t + 16..; the sum is the
/// same in any order). Q8_0/Q4_0 quants enter the mma as the small integers they are (exact in TF32) and each block's
/// partial product is scaled by its row's block scale, so x is the only operand split into TF32 parts (hi·w + lo·w:
/// about 22 bits of x, see <see cref="Split"/>); F16/BF16 are exact as stored; F32 weights are split too (3 products).</para>
/// <para>The group's warps share x: each 64-wide k-step of it is staged once per group, already split into its hi and
/// lo parts, as 16-byte quads (<see cref="SmallBatchQuadsPerRow"/> a row with one of padding, so a quarter-warp's
/// quad loads fall in 8 different bank groups). A group covers 16 weight rows a warp (128 on a GPU) over one range of
/// k; ranges split over k fill the device as in the GEMM, and a split sum (<see cref="SumSharedSplitsKernel"/>) adds
/// them up in split order.</para>
/// </summary>
public sealed partial class MatMulKernels
{
    /// <summary>Epilogue of a shared small-batch product of gate and up (equal rows) split over k: the split sum
    /// writes y0 = silu(gate)·up (the SwiGLU) and leaves y1 alone, so the gating needs no launch of its own.</summary>
    public const int SwiGluGate = 16;

    /// <summary>Rows of x up to which a batch runs on the small-batch tensor-core product (8 blocks of 8 columns of the
    /// mma: 32 accumulators a thread).</summary>
    public const int SmallBatchMaxRows = 64;

    /// <summary>k-step of the small-batch product: two 32-wide blocks (one quantized block each); the staged x quads of
    /// 64 rows then take 35 KB of shared memory.</summary>
    internal const int SmallBatchStep = 64;

    /// <summary>Staged x quads a row: 16 of a k-step and one of padding.</summary>
    internal const int SmallBatchQuadsPerRow = SmallBatchStep / 4 + 1;

    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, int, SharedWeights, SpecializedValue<int>,
        SpecializedValue<int>, SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, GemmShape, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>>? smallBatch;
    Action<AcceleratorStream, Index1D, ArrayView<float>, int, SharedWeights, ArrayView<float>, int, ArrayView<float>,
        ArrayView<float>, ArrayView<float>>? sumSharedSplits;

    /// <summary>Whether n rows of x over k run on the small-batch product: tensor cores on, 32-lane warps, whole k-steps
    /// (64: a LoRA side path's rank-64 B products run in one k-step, so with no split sum). Quantized rows read whole
    /// aligned words when k is also a multiple of 128, as every Mistral matrix is; other rows element by element.</summary>
    bool SmallBatchTiles(int n, int k) =>
        TensorCores && Accelerator.WarpSize == 32 && RowGroupSize >= 32 && n > GemvMaxRows && n <= SmallBatchMaxRows
        && k % SmallBatchStep == 0;

    /// <summary>The plan of one small-batch launch over weights of m0 (, m1, m2) rows read against the same x, or null
    /// when n rows over k do not run on it. One group per 16·warps weight rows of a matrix and range of k: ranges of
    /// whole k-steps, enough to give every multiprocessor two groups (each holds 35 KB of shared memory at most and
    /// ~100 registers a thread). M is the matrices' rows together (the split partials' width).</summary>
    public GemmShape? SmallBatchPlan(int n, int k, int m0, int m1 = 0, int m2 = 0)
    {
        if (!SmallBatchTiles(n, k)) return null;
        int threads = RowGroupSize / 32 * 32, rows = 16 * (threads / 32), blocks = (n + 7) / 8;
        int tiles = (m0 + rows - 1) / rows + (m1 + rows - 1) / rows + (m2 + rows - 1) / rows;
        int steps = k / SmallBatchStep;
        long wanted = 2L * Math.Max(1, Accelerator.NumMultiprocessors);
        int splits = (int)Math.Clamp((wanted + tiles - 1) / tiles, 1, steps);
        int stepsPerSplit = (steps + splits - 1) / splits;
        return new GemmShape(n, m0 + m1 + m2, threads, 1, 8 * blocks, rows, tiles, 1, SmallBatchStep,
            (steps + stepsPerSplit - 1) / stepsPerSplit, stepsPerSplit * SmallBatchStep) { SmallBatch = true };
    }

    /// <summary>y0 = x·W0ᵀ (, y1 = x·W1ᵀ, y2 = x·W2ᵀ) on the small-batch product, in one launch (and one more for the sum
    /// of its k-splits): the weights' row tiles are numbered one matrix after the other. Matrix i reads x from element
    /// i·<paramref name="xPerMatrix"/> on (0: one x for all, as q/k/v; n·k: each its own n rows, as LoRA B products).
    /// A bias and an activation are for one matrix only; the residual add (Accumulate) applies to each.
    /// plan: <see cref="SmallBatchPlan"/> of these weights; scratch: at least <see cref="ScratchLength"/> of it.</summary>
    public void SmallBatch(AcceleratorStream stream, ArrayView<float> x, SharedWeights w, ArrayView<float> bias, int epilogue,
        GemmShape plan, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2, ArrayView<float> scratch, int xPerMatrix = 0)
    {
        smallBatch ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, int, SharedWeights, SpecializedValue<int>,
            SpecializedValue<int>, SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, GemmShape, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>>(SmallBatchKernel);
        bool vector = Vectorizable(x, w), split = plan.Splits > 1, gate = (epilogue & SwiGluGate) != 0;
        if (gate && (!split || w.M0 != w.M1 || w.M2 != 0))
            throw new ArgumentException("SmallBatch: the SwiGLU gate needs gate and up of equal rows, split over k");
        var config = new KernelConfig(plan.ColTiles * plan.Splits, plan.ThreadsX,
            SharedMemoryConfig.RequestDynamic<Quad>(2 * plan.TileRows * SmallBatchQuadsPerRow + EmulatedMmaSlots(plan.ThreadsX) / 4));
        smallBatch(stream, config, x, vector ? x.Cast<Quad>() : default, xPerMatrix, w, SpecializedValue.New(w.W0.Format),
            SpecializedValue.New(vector ? 1 : 0), SpecializedValue.New(plan.TileRows / 8), bias,
            SpecializedValue.New(split ? 0 : epilogue), plan, scratch, y0, y1, y2);
        if (!split) return;
        sumSharedSplits ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, SharedWeights, ArrayView<float>,
            int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SumSharedSplitsKernel);
        sumSharedSplits(stream, plan.N * (gate ? w.M0 : plan.M), scratch.SubView(0, (long)plan.Splits * plan.N * plan.M),
            plan.Splits, w, bias, epilogue, y0, y1, y2);
    }

    /// <summary>Group (tile, split): the tile's matrix is the one whose row tiles it falls in; warp w owns weight rows
    /// 16w + (0..15) of the tile, and its lane (g, t) holds rows g and g + 8 of them (the mma's fragment layout, see
    /// MatMulKernels.TensorCores.cs) and accumulates their products with every column block of 8 rows of x. With one
    /// split the result goes to that matrix's y through the epilogue; with several, split s writes its partial sums to
    /// partial[s] ([splits, n, M], the matrices' columns side by side).</summary>
    static void SmallBatchKernel(ArrayView<float> x, ArrayView<Quad> x4, int xPerMatrix, SharedWeights w,
        SpecializedValue<int> formatValue, SpecializedValue<int> vectorValue, SpecializedValue<int> blocksValue, ArrayView<float> bias,
        SpecializedValue<int> epilogueValue, GemmShape s, ArrayView<float> partial, ArrayView<float> y0, ArrayView<float> y1,
        ArrayView<float> y2)
    {
        int format = formatValue.Value, vector = vectorValue.Value, blocks = blocksValue.Value;
        var shared = SharedMemory.GetDynamic<Quad>();
        int staged = 8 * blocks * SmallBatchQuadsPerRow;
        var his = shared.SubView(0, staged);
        var los = shared.SubView(staged, staged);
        int tile = Grid.IdxX % s.ColTiles, split = Grid.IdxX / s.ColTiles;
        int tiles0 = (w.M0 + s.TileCols - 1) / s.TileCols, tiles1 = (w.M1 + s.TileCols - 1) / s.TileCols;
        int matrix = tile < tiles0 ? 0 : tile < tiles0 + tiles1 ? 1 : 2;
        var weights = matrix == 0 ? w.W0 : matrix == 1 ? w.W1 : w.W2;
        int m = matrix == 0 ? w.M0 : matrix == 1 ? w.M1 : w.M2;
        int firstTile = matrix == 0 ? 0 : matrix == 1 ? tiles0 : tiles0 + tiles1;
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        int top = (tile - firstTile) * s.TileCols + 16 * Warp.WarpIdx + g;
        // Rows past m read the last row (their results are not stored), so every load stays in bounds.
        int topRead = Math.Min(top, m - 1), bottomRead = Math.Min(top + 8, m - 1);
        int kBegin = split * s.SplitK, kEnd = Math.Min(weights.K, kBegin + s.SplitK);
        var acc = new TokenBlocks();
        for (int k0 = kBegin; k0 < kEnd; k0 += SmallBatchStep)
        {
            int chunk = (k0 >> 3) + t;  // lane t's chunk of the step's first block; the second block's is 4 chunks on
            var first = WeightBlock.Load(weights, format, vector, topRead, bottomRead, chunk);
            var second = WeightBlock.Load(weights, format, vector, topRead, bottomRead, chunk + 4);
            StageSmallBatchX(x, x4, (long)matrix * xPerMatrix, vector, format, weights.K, s.N, 8 * blocks, k0, his, los);
            Group.Barrier();
            int at = g * SmallBatchQuadsPerRow + 2 * t;
            acc = TokenBlocks.Add(acc, first, his, los, at, blocks, format);
            acc = TokenBlocks.Add(acc, second, his, los, at + 8, blocks, format);
            Group.Barrier();
        }
        // Split partials: the matrix's rows are columns of [n, M] after the earlier matrices' rows.
        var output = s.Splits > 1
            ? new ProductOutput(partial.SubView((long)split * s.N * s.M, (long)s.N * s.M), s.M,
                matrix == 0 ? 0 : matrix == 1 ? w.M0 : w.M0 + w.M1, m)
            : new ProductOutput(matrix == 0 ? y0 : matrix == 1 ? y1 : y2, m, 0, m);
        int epilogue = epilogueValue.Value;
        StoreTokenBlock(output, bias, epilogue, s.N, top, 2 * t, acc.B0);
        if (blocks > 1) StoreTokenBlock(output, bias, epilogue, s.N, top, 8 + 2 * t, acc.B1);
        if (blocks > 2) StoreTokenBlock(output, bias, epilogue, s.N, top, 16 + 2 * t, acc.B2);
        if (blocks > 3) StoreTokenBlock(output, bias, epilogue, s.N, top, 24 + 2 * t, acc.B3);
        if (blocks > 4) StoreTokenBlock(output, bias, epilogue, s.N, top, 32 + 2 * t, acc.B4);
        if (blocks > 5) StoreTokenBlock(output, bias, epilogue, s.N, top, 40 + 2 * t, acc.B5);
        if (blocks > 6) StoreTokenBlock(output, bias, epilogue, s.N, top, 48 + 2 * t, acc.B6);
        if (blocks > 7) StoreTokenBlock(output, bias, epilogue, s.N, top, 56 + 2 * t, acc.B7);
    }

    /// <summary>yᵢ[r, c] = Σ over splits of partial[s, r, offsetᵢ + c] (through the epilogue), in split order, for the
    /// element i of [n, M] that falls in matrix i's columns; partial: exactly [splits, n, M]. With
    /// <see cref="SwiGluGate"/>, i runs over [n, M0] and y0[r, c] = silu(Σ gate[r, c])·Σ up[r, c].</summary>
    static void SumSharedSplitsKernel(Index1D i, ArrayView<float> partial, int splits, SharedWeights w, ArrayView<float> bias,
        int epilogue, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2)
    {
        int width = w.M0 + w.M1 + w.M2;
        long count = partial.Length / splits;
        if ((epilogue & SwiGluGate) != 0)
        {
            int row = i / w.M0, column = i % w.M0;
            long at = (long)row * width + column;
            y0[i] = ElementwiseKernels.SiluTimes(SplitSum(partial, splits, count, at), SplitSum(partial, splits, count, at + w.M0));
            return;
        }
        int r = i / width, c = i % width;
        float sum = SplitSum(partial, splits, count, i);
        if (c < w.M0) Store(y0, bias, epilogue, w.M0, (long)r * w.M0, c, sum);
        else if (c < w.M0 + w.M1) Store(y1, bias, epilogue, w.M1, (long)r * w.M1, c - w.M0, sum);
        else Store(y2, bias, epilogue, w.M2, (long)r * w.M2, c - w.M0 - w.M1, sum);
    }

    /// <summary>Σ over splits of partial[s · count + at], in split order (both split sums add this way).</summary>
    static float SplitSum(ArrayView<float> partial, int splits, long count, long at)
    {
        float sum = 0f;
        for (int s = 0; s < splits; s++) sum += partial[s * count + at];
        return sum;
    }

    /// <summary>The k-step k0.. of x's rows from element <paramref name="first"/> (zeros past n) into the staged quads,
    /// split into TF32 hi and lo parts: quad q of a row is block q / 8, lane t = q % 8 / 2, and that lane's chunk's
    /// first (even q) or second four columns (<see cref="WeightViews.ChunkColumns"/>), so lane t later reads its 8
    /// values of a block as two neighbouring quads. Two quads in flight per thread.</summary>
    static void StageSmallBatchX(ArrayView<float> x, ArrayView<Quad> x4, long first, int vector, int format, int k, int n, int rows,
        int k0, ArrayView<Quad> his, ArrayView<Quad> los)
    {
        const int PerRow = SmallBatchStep / 4;
        int total = rows * PerRow, step = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 2 * step)
        {
            var q0 = StagedXQuad(x, x4, first, vector, format, k, n, k0, i);
            var q1 = i + step < total ? StagedXQuad(x, x4, first, vector, format, k, n, k0, i + step) : default;
            PutSplitQuad(his, los, i, q0);
            if (i + step < total) PutSplitQuad(his, los, i + step, q1);
        }
    }

    /// <summary>Staged quad i (row i / 16, quad i % 16 of the k-step) as x holds it from element <paramref name="first"/>
    /// on, zeros past n. (Shifts and masks spelled out: ptxas, sm_90, left ILGPU's division and remainder by constant
    /// powers of two as full divisions.)</summary>
    static Quad StagedXQuad(ArrayView<float> x, ArrayView<Quad> x4, long first, int vector, int format, int k, int n, int k0, int i)
    {
        int row = i >> 4, q = i & 15;
        if (row >= n) return default;
        var (colA, colB) = WeightViews.ChunkColumns(format, (k0 >> 3) + ((q >> 3) << 2) + ((q & 7) >> 1));
        long at = first + (long)row * k + ((q & 1) == 0 ? colA : colB);
        if (vector != 0) return x4[at >> 2];
        return new Quad
        {
            X = Interop.FloatAsInt(x[at]), Y = Interop.FloatAsInt(x[at + 1]),
            Z = Interop.FloatAsInt(x[at + 2]), W = Interop.FloatAsInt(x[at + 3]),
        };
    }

    static void PutSplitQuad(ArrayView<Quad> his, ArrayView<Quad> los, int i, Quad q)
    {
        int at = (i >> 4) * SmallBatchQuadsPerRow + (i & 15);
        var (x0, l0) = Split(Interop.IntAsFloat(q.X));
        var (x1, l1) = Split(Interop.IntAsFloat(q.Y));
        var (x2, l2) = Split(Interop.IntAsFloat(q.Z));
        var (x3, l3) = Split(Interop.IntAsFloat(q.W));
        his[at] = new Quad { X = x0, Y = x1, Z = x2, W = x3 };
        los[at] = new Quad { X = l0, Y = l1, Z = l2, W = l3 };
    }

    /// <summary>c plus one 32-wide block's products for one column block of x: four mma k-steps, each x's lo part then
    /// its hi part against the weights. A quantized block sums from zero and is added scaled by its rows' block
    /// scales.</summary>
    internal static MmaBlock SmallBatchBlock(MmaBlock c, WeightBlock w, ArrayView<Quad> his, ArrayView<Quad> los, int at, int format)
    {
        Quad h0 = his[at], h1 = his[at + 1], l0 = los[at], l1 = los[at + 1];
        bool scaled = format == (int)WeightFormat.Q8_0 || format == (int)WeightFormat.Q4_0;
        var p = scaled ? default : c;
        // Slots 2s and 2s + 1 of the lane's chunk are mma columns t and t + 4 of k-step s (staged quads: slots 0-3, 4-7).
        p = KStep(p, w.Top.A0, w.Bottom.A0, w.Top.A1, w.Bottom.A1, h0.X, h0.Y, l0.X, l0.Y, format);
        p = KStep(p, w.Top.A2, w.Bottom.A2, w.Top.A3, w.Bottom.A3, h0.Z, h0.W, l0.Z, l0.W, format);
        p = KStep(p, w.Top.B0, w.Bottom.B0, w.Top.B1, w.Bottom.B1, h1.X, h1.Y, l1.X, l1.Y, format);
        p = KStep(p, w.Top.B2, w.Bottom.B2, w.Top.B3, w.Bottom.B3, h1.Z, h1.W, l1.Z, l1.W, format);
        if (!scaled) return p;
        return new MmaBlock
        {
            C0 = c.C0 + w.TopScale * p.C0, C1 = c.C1 + w.TopScale * p.C1,
            C2 = c.C2 + w.BottomScale * p.C2, C3 = c.C3 + w.BottomScale * p.C3,
        };
    }

    /// <summary>One mma k-step: weights (rows g, g + 8 at columns t, t + 4) times x (split into hi and lo TF32 parts),
    /// small term first; F32 weights are split as well (3 products, as in the tiled GEMM).</summary>
    static MmaBlock KStep(MmaBlock c, float top0, float bottom0, float top1, float bottom1, uint hi0, uint hi1, uint lo0, uint lo1,
        int format)
    {
        if (format == (int)WeightFormat.F32)
        {
            var (t0, t0Lo) = Split(top0);
            var (b0, b0Lo) = Split(bottom0);
            var (t1, t1Lo) = Split(top1);
            var (b1, b1Lo) = Split(bottom1);
            c = Mma(c, t0, b0, t1, b1, lo0, lo1);
            c = Mma(c, t0Lo, b0Lo, t1Lo, b1Lo, hi0, hi1);
            return Mma(c, t0, b0, t1, b1, hi0, hi1);
        }
        uint a0 = Interop.FloatAsInt(top0), a1 = Interop.FloatAsInt(bottom0), a2 = Interop.FloatAsInt(top1),
            a3 = Interop.FloatAsInt(bottom1);
        c = Mma(c, a0, a1, a2, a3, lo0, lo1);
        return Mma(c, a0, a1, a2, a3, hi0, hi1);
    }

    /// <summary>A thread's four values of an m16n8 block with weight rows on M: (row r, x row c), (r, c + 1), (r + 8, c),
    /// (r + 8, c + 1), those below n and the matrix's m, into <paramref name="output"/>.</summary>
    static void StoreTokenBlock(ProductOutput output, ArrayView<float> bias, int epilogue, int n, int r, int c, MmaBlock v)
    {
        if (c < n)
        {
            output.Store(bias, epilogue, c, r, v.C0);
            output.Store(bias, epilogue, c, r + 8, v.C2);
        }
        if (c + 1 < n)
        {
            output.Store(bias, epilogue, c + 1, r, v.C1);
            output.Store(bias, epilogue, c + 1, r + 8, v.C3);
        }
    }
}

/// <summary>Where a small-batch tile's values go: its matrix's y ([n, m]) or the split partials ([n, width]: the
/// matrices' columns side by side, this one's from <paramref name="firstColumn"/>); rows at or past m are dropped.</summary>
public readonly struct ProductOutput(ArrayView<float> y, int width, int firstColumn, int m)
{
    readonly ArrayView<float> y = y;
    readonly int width = width, firstColumn = firstColumn, m = m;

    /// <summary>Weight row <paramref name="row"/> (its matrix's numbering) times x row <paramref name="xRow"/>.</summary>
    public void Store(ArrayView<float> bias, int epilogue, int xRow, int row, float v) =>
        MatMulKernels.Store(y, bias, epilogue, m, (long)xRow * width + firstColumn, row, v);
}

/// <summary>A lane's A fragments of one 32-wide block: its chunk of weight rows g (Top) and g + 8 (Bottom) as
/// <see cref="WeightViews.UnscaledChunk"/> gives them, and the two rows' block scales (1 unless quantized).</summary>
public struct WeightBlock
{
    public Chunk8 Top, Bottom;
    public float TopScale, BottomScale;

    public static WeightBlock Load(WeightViews w, int format, int vector, int top, int bottom, int chunk)
    {
        var a = w.UnscaledChunk(format, vector, top, chunk);
        var b = w.UnscaledChunk(format, vector, bottom, chunk);
        return new WeightBlock { Top = a.Values, Bottom = b.Values, TopScale = a.Scale, BottomScale = b.Scale };
    }
}

/// <summary>A thread's accumulators for up to 8 column blocks of 8 rows of x (see MatMulKernels.SmallBatch.cs).</summary>
public struct TokenBlocks
{
    public MmaBlock B0, B1, B2, B3, B4, B5, B6, B7;

    /// <summary>The block's products added to each of the first <paramref name="blocks"/> column blocks (a compile-time
    /// value: the other branches fold away); <paramref name="at"/>: the quad of (row g, lane t) in the staged x.</summary>
    public static TokenBlocks Add(TokenBlocks acc, WeightBlock w, ArrayView<Quad> his, ArrayView<Quad> los, int at, int blocks,
        int format)
    {
        const int Rows8 = 8 * MatMulKernels.SmallBatchQuadsPerRow;  // staged quads of a column block's 8 rows
        acc.B0 = MatMulKernels.SmallBatchBlock(acc.B0, w, his, los, at, format);
        if (blocks > 1) acc.B1 = MatMulKernels.SmallBatchBlock(acc.B1, w, his, los, at + Rows8, format);
        if (blocks > 2) acc.B2 = MatMulKernels.SmallBatchBlock(acc.B2, w, his, los, at + 2 * Rows8, format);
        if (blocks > 3) acc.B3 = MatMulKernels.SmallBatchBlock(acc.B3, w, his, los, at + 3 * Rows8, format);
        if (blocks > 4) acc.B4 = MatMulKernels.SmallBatchBlock(acc.B4, w, his, los, at + 4 * Rows8, format);
        if (blocks > 5) acc.B5 = MatMulKernels.SmallBatchBlock(acc.B5, w, his, los, at + 5 * Rows8, format);
        if (blocks > 6) acc.B6 = MatMulKernels.SmallBatchBlock(acc.B6, w, his, los, at + 6 * Rows8, format);
        if (blocks > 7) acc.B7 = MatMulKernels.SmallBatchBlock(acc.B7, w, his, los, at + 7 * Rows8, format);
        return acc;
    }
}
