using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// y = x · Wᵀ (+ bias) with the weights left in their stored format and decoded in registers. One row of x (batch-1
/// decode): the single-row GEMV (MatMulKernels.SingleRow.cs), which can also fold the RMSNorm before it and the SwiGLU
/// after it. Up to <see cref="GemvMaxRows"/> rows (small batches): a GEMV with one warp per weight row, each lane
/// reading 8-weight chunks (one 16-byte load for F16/BF16, two for F32, a quarter block for Q8_0/Q4_0), so every weight
/// is read from memory once for all rows of x; per-lane partial sums live in shared memory (one slot per row of x) and
/// a shuffle reduction finishes each output. More rows (prefill, MERT, projector, batched decode): a tiled
/// shared-memory GEMM whose weight tile is dequantized while it is staged, split over k when its tiles alone would
/// leave most multiprocessors idle (see <see cref="Plan"/>); with tensor cores on, up to
/// <see cref="SmallBatchMaxRows"/> rows take the small-batch product instead (MatMulKernels.SmallBatch.cs).
/// </summary>
public sealed partial class MatMulKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    /// <summary>Rows of x up to which the GEMV runs. Each of its lanes re-reads x for every row it multiplies, so it is
    /// bound by L1 traffic (2 × 16 bytes of x per 8 weights and row) long before memory: on an H100, 36 rows took
    /// 345 ms per Mistral-7B step against 34 ms for one. The GEMM reuses each x value for 8 weight rows from registers
    /// and still reads every weight once per 64 rows of x (its short, wide tile).</summary>
    public const int GemvMaxRows = 8;

    /// <summary>Enough groups in flight per multiprocessor to hide global-memory latency behind other groups' math
    /// (one tile group is 8 warps: alone on a multiprocessor it waits on every k-step's loads).</summary>
    const int GroupsPerMultiprocessor = 4;

    /// <summary>k-step of the GEMM on a GPU: one quantized block (a staged tile never splits a block), 33 KB of shared
    /// memory for 128×128 tiles, 41 KB for 64×256. The CPU accelerator takes up to 512 (still whole blocks): each of its barriers is a
    /// rendezvous of OS threads, so fewer, deeper k-steps are what make it bearable there.</summary>
    internal const int GpuTileK = 32;
    const int CpuTileK = 512;

    /// <summary>Chunks each lane has in flight per GEMV iteration: outstanding loads per warp to cover memory latency
    /// (Little's law). Measured on an H100 (BenchmarkDotNet MatVec, gate_proj 14336×4096): 4 → f32 86 µs, f16 111 µs,
    /// bf16 101 µs; 8 → 92, 150, 136 µs (more registers, fewer warps resident). So 4.</summary>
    const int Unroll = 4;

    // The weight format, the epilogue flags (Bias | Accumulate) and the GEMM's tile depth and input mode are
    // SpecializedValues: ILGPU compiles (and caches) one kernel per value, with the other values' branches folded away.
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
        SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, int, ArrayView<float>>? gemv;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, WeightViews, SpecializedValue<int>, ArrayView<float>,
        SpecializedValue<int>, GemmShape, SpecializedValue<int>, SpecializedValue<int>, ConvShape, SpecializedValue<int>,
        ArrayView<float>>? gemm;
    Action<AcceleratorStream, Index1D, ArrayView<float>, int, ArrayView<float>, int, int, int, ArrayView<float>>? sumSplits;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, SpecializedValue<int>, int,
        SharedWeights, ArrayView<float>, ArrayView<float>, ArrayView<float>>? gemvShared;

    /// <summary>Epilogue flags: add bias[column]; add the output's previous value (y += x·Wᵀ); then GELU or ReLU
    /// (Activation's values times 4: <see cref="ActivationShift"/>).</summary>
    public const int Bias = 1, Accumulate = 2, Gelu = 4, Relu = 8;
    const int ActivationShift = 2;

    /// <summary>The output value after the epilogue: the finished product, + bias, through the activation (the
    /// element-wise kernels' own functions), + what y held.</summary>
    static float Epilogue(int epilogue, float product, ArrayView<float> bias, int column, ArrayView<float> y, long index)
    {
        float v = (epilogue & Bias) != 0 ? product + bias[column] : product;
        if ((epilogue & Gelu) != 0) v = ScalarMath.Gelu(v);
        if ((epilogue & Relu) != 0) v = Math.Max(v, 0f);
        return (epilogue & Accumulate) != 0 ? y[index] + v : v;
    }

    /// <summary>GEMV threads per group: up to 4 warps (4 weight rows per group).</summary>
    int GemvGroup => Math.Min(RowGroupSize, 4 * Accelerator.WarpSize);

    /// <summary>How y = x · Wᵀ of these sizes will run: the GEMV (null shape) or the GEMM's tiling and its split over k.
    /// Splits are whole k-steps, so quantized blocks never straddle two.</summary>
    public GemmShape? Plan(int n, int k, int m) =>
        n <= GemvMaxRows ? null : SmallBatchPlan(n, k, m) ?? GemmPlan(n, k, m);

    GemmShape GemmPlan(int n, int k, int m)
    {
        int tileK = Accelerator.AcceleratorType == AcceleratorType.CPU ? Math.Min(CpuTileK, (k + 31) / 32 * 32) : GpuTileK;
        var shape = GemmShape.For(RowGroupSize, tileK, n, m);
        long tiles = (long)shape.ColTiles * shape.RowTiles;
        long wanted = (long)GroupsPerMultiprocessor * Math.Max(1, Accelerator.NumMultiprocessors);
        int steps = (k + tileK - 1) / tileK;
        int splits = (int)Math.Clamp((wanted + tiles - 1) / tiles, 1, steps);
        int stepsPerSplit = (steps + splits - 1) / splits;
        return shape with { Splits = (steps + stepsPerSplit - 1) / stepsPerSplit, SplitK = stepsPerSplit * tileK };
    }

    /// <summary>Floats of scratch <see cref="MatMul"/> and <see cref="Conv1d"/> need for a plan: the per-split partial
    /// products.</summary>
    public static long ScratchLength(GemmShape? plan) => plan is { Splits: > 1 } s ? (long)s.Splits * s.N * s.M : 0;

    /// <summary>A convolution's GEMM, per group: rows are output positions, columns output channels, and the reduction
    /// runs over (input channel, tap) pairs.</summary>
    public GemmShape ConvPlan(ConvShape c) => GemmPlan(c.OutLength, c.InPerGroup * c.Kernel, c.OutPerGroup);

    /// <summary>1-D convolution (cross-correlation, zero padding) as an implicit GEMM: the GEMM stages x[c, t·stride +
    /// tap − padding] for the (position, (c, tap)) element of the unfolded input straight from x, so no unfolded copy is
    /// made, and writes y channels-first. One launch per group (MERT's positional conv has 16). x: [cin, t]; w: [cout,
    /// cin/groups, k] (F32); bias: [cout] (read only when <paramref name="hasBias"/>); y: [cout, tOut]; scratch: at least
    /// <see cref="ScratchLength"/> of <see cref="ConvPlan"/> floats.</summary>
    public void Conv1d(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, bool hasBias,
        ConvShape c, ArrayView<float> y, ArrayView<float> scratch)
    {
        int n = c.OutLength, m = c.OutPerGroup, k = c.InPerGroup * c.Kernel;
        if ((long)n * m == 0) return;
        var plan = ConvPlan(c);
        long xPerGroup = (long)c.InPerGroup * c.Length, wPerGroup = (long)m * k, yPerGroup = (long)m * n;
        for (int g = 0; g < c.Groups; g++)
        {
            var wg = w.SubView(g * wPerGroup, wPerGroup);
            var weights = new WeightViews(wg.Cast<byte>(), wg.Cast<ushort>(), wg, WeightFormat.F32, k);
            Gemm(stream, x.SubView(g * xPerGroup, xPerGroup), weights, hasBias ? bias.SubView((long)g * m, m) : bias,
                hasBias ? Bias : 0, plan, y.SubView(g * yPerGroup, yPerGroup), scratch, c);
        }
    }

    /// <summary>y = activation(x · Wᵀ (+ bias)), or y += that when <paramref name="accumulate"/>. x: [n, k]; w: [m, k];
    /// bias: [m] (read only when <paramref name="hasBias"/>); <paramref name="activation"/>: 0 none, 1 GELU, 2 ReLU (the
    /// runtime's Activation); y: [n, m]; plan from <see cref="Plan"/>; scratch: at least <see cref="ScratchLength"/>
    /// floats.</summary>
    public void MatMul(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, bool hasBias,
        bool accumulate, int activation, int n, int m, ArrayView<float> y, GemmShape? plan, ArrayView<float> scratch)
    {
        if ((long)n * m == 0) return;
        int epilogue = (hasBias ? Bias : 0) | (accumulate ? Accumulate : 0) | (activation << ActivationShift);
        if (plan is not null) Gemm(stream, x, w, bias, epilogue, plan.Value, y, scratch, null);
        else if (n == 1) SingleRowGemv(stream, x, w, bias, epilogue, m, y);
        else Gemv(stream, x, w, bias, epilogue, n, m, y);
    }

    /// <summary>normed = RMSNorm(x) (one row), then y0 = normed·W0ᵀ (, y1 = normed·W1ᵀ, y2 = normed·W2ᵀ), all in one
    /// launch (<see cref="RowNorm"/>); M1 = M2 = 0 for one weight. With <paramref name="rope"/>, y0 and y1 (q, k: whole
    /// heads) leave rotated (<see cref="RowRope"/>).</summary>
    public void GemvNormed(AcceleratorStream stream, ArrayView<float> x, RowNorm norm, SharedWeights w, ArrayView<float> y0,
        ArrayView<float> y1, ArrayView<float> y2, RowRope? rope = null)
    {
        if (w.M0 + w.M1 + w.M2 == 0) return;
        CheckRope(rope, w);
        SingleRowGemvShared(stream, x, norm, w, y0, y1, y2, rope: rope);
    }

    /// <summary>y0 = x·W0ᵀ, y1 = x·W1ᵀ (, y2 = x·W2ᵀ) in one GEMV launch: the weights' rows are numbered one after
    /// the other and each warp finds its matrix. For n ≤ <see cref="GemvMaxRows"/> rows of x; all weights of one format
    /// and k. Pass m2 = 0 for two weights.</summary>
    public void GemvShared(AcceleratorStream stream, ArrayView<float> x, int n, SharedWeights w, ArrayView<float> y0,
        ArrayView<float> y1, ArrayView<float> y2)
    {
        if (n > GemvMaxRows) throw new ArgumentException($"GemvShared: {n} rows of x, at most {GemvMaxRows}");
        int m = w.M0 + w.M1 + w.M2;
        if ((long)n * m == 0) return;
        if (n == 1)
        {
            SingleRowGemvShared(stream, x, null, w, y0, y1, y2);
            return;
        }
        gemvShared ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, SpecializedValue<int>, int,
            SharedWeights, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemvSharedKernel);
        int group = GemvGroup, rowsPerGroup = group / Accelerator.WarpSize;
        bool vector = Vectorizable(x, w);
        var config = new KernelConfig((m + rowsPerGroup - 1) / rowsPerGroup, group,
            SharedMemoryConfig.RequestDynamic<float>(n * group));
        gemvShared(stream, config, x, vector ? x.Cast<Quad>() : default, SpecializedValue.New(vector ? 1 : 0),
            SpecializedValue.New(w.W0.Format), n, w, y0, y1, y2);
    }

    void Gemv(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int epilogue, int n, int m,
        ArrayView<float> y)
    {
        gemv ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
            SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, int, ArrayView<float>>(GemvKernel);
        int group = GemvGroup, rowsPerGroup = group / Accelerator.WarpSize;
        bool vector = Vectorizable(x, w);
        var config = new KernelConfig((m + rowsPerGroup - 1) / rowsPerGroup, group,
            SharedMemoryConfig.RequestDynamic<float>(n * group));
        gemv(stream, config, x, vector ? x.Cast<Quad>() : default, SpecializedValue.New(vector ? 1 : 0), w,
            SpecializedValue.New(w.Format), bias, SpecializedValue.New(epilogue), n, m, y);
    }

    /// <summary>Whether the GEMV can read x with 16-byte loads and the weight rows with whole-word loads: x 16-byte
    /// aligned and the weights' <see cref="WeightViews.Vector"/> (rows a multiple of 8 values, or of 128 for
    /// Q4_0/Q8_0, and aligned). The kernels take this as a <c>SpecializedValue</c>, so the usual aligned case carries no
    /// scalar path.</summary>
    static bool Vectorizable(ArrayView<float> x, WeightViews w) =>
        w.Vector != 0 && WeightViews.Aligned16(x) && x.Length >= 4;

    /// <summary><see cref="Vectorizable(ArrayView{float}, WeightViews)"/> for every matrix of a shared product that has
    /// rows.</summary>
    static bool Vectorizable(ArrayView<float> x, SharedWeights w) =>
        Vectorizable(x, w.W0) && (w.M1 == 0 || Vectorizable(x, w.W1)) && (w.M2 == 0 || Vectorizable(x, w.W2));

    /// <summary>The GEMM launch (the tiled GEMM, or the small-batch product when the plan says so), and the sum of its
    /// k-splits when there are several. With <paramref name="conv"/>, x is a convolution's input read as its unfolded
    /// matrix and y is written transposed ([m, n]: channels first).</summary>
    void Gemm(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int epilogue, GemmShape shape,
        ArrayView<float> y, ArrayView<float> scratch, ConvShape? conv)
    {
        if (shape.SmallBatch)
        {
            SmallBatch(stream, x, new SharedWeights(w, shape.M, w, 0, w, 0), bias, epilogue, shape, y, y, y, scratch);
            return;
        }
        bool split = shape.Splits > 1;
        GemmTiles(stream, x, w, bias, split ? 0 : epilogue, shape, split ? scratch : y, conv);
        if (!split) return;
        sumSplits ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int, int,
            ArrayView<float>>(SumSplitsKernel);
        sumSplits(stream, shape.N * shape.M, scratch, shape.Splits, bias, epilogue, shape.M, conv is null ? 0 : 1, y);
    }

    /// <summary>The tiled GEMM's launch: its result (or its split partials) into <paramref name="y"/>.</summary>
    void GemmTiles(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int epilogue, GemmShape shape,
        ArrayView<float> y, ConvShape? conv)
    {
        gemm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, WeightViews, SpecializedValue<int>, ArrayView<float>,
            SpecializedValue<int>, GemmShape, SpecializedValue<int>, SpecializedValue<int>, ConvShape, SpecializedValue<int>,
            ArrayView<float>>(GemmKernel);
        bool tensorCores = TensorCoreTiles(shape);
        int pad = tensorCores ? TensorCorePad : 1;
        var config = new KernelConfig(shape.ColTiles * shape.RowTiles * shape.Splits, RowGroupSize,
            SharedMemoryConfig.RequestDynamic<float>(shape.TileK * (shape.TileRows + pad + shape.TileCols + pad)
                + (tensorCores ? EmulatedMmaSlots(RowGroupSize) : 0)));
        bool split = shape.Splits > 1;
        // Split partials are kept in the GEMM's own [n, m] layout; the sum transposes them for a convolution.
        bool quads = conv is null && w.K % 4 == 0 && WeightViews.Aligned16(x) && x.Length >= 4;
        int mode = conv is not null ? (split ? UnfoldedInput : UnfoldedInputTransposedOutput) : quads ? PlainInputQuads : PlainInput;
        gemm(stream, config, x, quads ? x.Cast<Quad>() : default, w, SpecializedValue.New(w.Format), bias,
            SpecializedValue.New(epilogue), shape, SpecializedValue.New(shape.TileK), SpecializedValue.New(mode),
            conv ?? default, SpecializedValue.New(tensorCores ? 1 : 0), y);
    }

    // GemmKernel's modes: x as given (read element by element, or 16 bytes at a time when its rows are whole aligned
    // quads), or a convolution's input read as its unfolded matrix (y written [n, m] or [m, n]).
    internal const int PlainInput = 0, UnfoldedInput = 1, UnfoldedInputTransposedOutput = 2, PlainInputQuads = 3;

    /// <summary>y[r, c] (or y[c, r] when <paramref name="transposed"/>) = Σ over splits of partial[s, r, c] (+ bias[c]),
    /// in split order: the same sum on every run.</summary>
    static void SumSplitsKernel(Index1D i, ArrayView<float> partial, int splits, ArrayView<float> bias, int epilogue, int m,
        int transposed, ArrayView<float> y)
    {
        long count = y.Length;
        int r = i / m, c = i % m;
        float sum = SplitSum(partial, splits, count, i);
        long index = transposed != 0 ? (long)c * (count / m) + r : i;
        y[index] = Epilogue(epilogue, sum, bias, c, y, index);
    }

    static void GemvKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue, WeightViews w,
        SpecializedValue<int> formatValue, ArrayView<float> bias, SpecializedValue<int> epilogueValue, int n, int m,
        ArrayView<float> y)
    {
        int row = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
        if (row >= m) return;
        GemvRow(x, x4, vectorValue.Value, w, formatValue.Value, bias, epilogueValue.Value, n, m, row, y);
    }

    /// <summary>The rows of the two or three matrices one after the other; each warp takes its matrix's row.</summary>
    static void GemvSharedKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue,
        SpecializedValue<int> formatValue, int n, SharedWeights w, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2)
    {
        int row = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
        int vector = vectorValue.Value, format = formatValue.Value;
        if (row < w.M0) GemvRow(x, x4, vector, w.W0, format, y0, 0, n, w.M0, row, y0);
        else if (row < w.M0 + w.M1) GemvRow(x, x4, vector, w.W1, format, y1, 0, n, w.M1, row - w.M0, y1);
        else if (row < w.M0 + w.M1 + w.M2) GemvRow(x, x4, vector, w.W2, format, y2, 0, n, w.M2, row - w.M0 - w.M1, y2);
    }

    /// <summary>One warp: y[r, row] for the n rows r of x. Each lane sums its chunks into its slot of shared memory (one
    /// per row of x), then a shuffle reduction finishes each output.</summary>
    static void GemvRow(ArrayView<float> x, ArrayView<Quad> x4, int vector, WeightViews w, int format, ArrayView<float> bias,
        int epilogue, int n, int m, int row, ArrayView<float> y)
    {
        var acc = SharedMemory.GetDynamic<float>();
        int lane = Warp.LaneIdx, width = Warp.WarpSize, slot = Group.IdxX, stride = Group.DimX;
        for (int r = 0; r < n; r++) acc[r * stride + slot] = 0f;
        int chunks = w.ChunksPerRow, c = lane;
        for (; c + (Unroll - 1) * width < chunks; c += Unroll * width)
        {
            var c0 = w.Chunk(format, vector, row, c);
            var c1 = w.Chunk(format, vector, row, c + width);
            var c2 = w.Chunk(format, vector, row, c + 2 * width);
            var c3 = w.Chunk(format, vector, row, c + 3 * width);
            for (int r = 0; r < n; r++)
            {
                long xRow = (long)r * w.K;
                acc[r * stride + slot] += Dot(x, x4, vector, xRow, w.K, c0) + Dot(x, x4, vector, xRow, w.K, c1)
                    + Dot(x, x4, vector, xRow, w.K, c2) + Dot(x, x4, vector, xRow, w.K, c3);
            }
        }
        for (; c < chunks; c += width)
        {
            var c0 = w.Chunk(format, vector, row, c);
            for (int r = 0; r < n; r++) acc[r * stride + slot] += Dot(x, x4, vector, (long)r * w.K, w.K, c0);
        }
        for (int r = 0; r < n; r++)
        {
            float sum = WarpReduce.Sum(acc[r * stride + slot]);
            long index = (long)r * m + row;
            if (lane == 0) y[index] = Epilogue(epilogue, sum, bias, row, y, index);
        }
    }

    /// <summary>The chunk's 8 weights against the matching 8 values of one x row (two 16-byte loads when aligned).</summary>
    static float Dot(ArrayView<float> x, ArrayView<Quad> x4, int vector, long xRow, int k, Chunk8 c) =>
        c.Dot(XChunk.Load(x, x4, vector, k, c.ColA, c.ColB, xRow));

    /// <summary>One group per (TileRows × TileCols) tile of y and split of k. Thread (ty, tx) accumulates an 8×8
    /// micro-tile in registers — rows ty + ThreadsY·i, columns tx + ThreadsX·j — from k-slices of x and of the
    /// dequantized weights staged transposed in shared memory: 16 shared loads feed 64 FMAs per k, and a warp's 16
    /// column loads hit 16 different banks (row stride tile + 1 spreads the staging writes too). With one split the tile
    /// goes to y (+ bias); with several, split s writes its partial sums to y[s] ([splits, n, m]). tileK is a
    /// SpecializedValue so the staging loops' divisions by it compile to shifts.</summary>
    static void GemmKernel(ArrayView<float> x, ArrayView<Quad> x4, WeightViews w, SpecializedValue<int> formatValue, ArrayView<float> bias,
        SpecializedValue<int> epilogueValue, GemmShape s, SpecializedValue<int> tileKValue, SpecializedValue<int> modeValue,
        ConvShape conv, SpecializedValue<int> tensorCores, ArrayView<float> y)
    {
        int format = formatValue.Value, epilogue = epilogueValue.Value, tileK = tileKValue.Value, mode = modeValue.Value;
        if (tensorCores.Value != 0)
        {
            GemmTensorCoreTile(x, x4, w, format, bias, epilogue, s, tileK, mode, conv, y);
            return;
        }
        var shared = SharedMemory.GetDynamic<float>();
        int bm = s.TileRows, bn = s.TileCols, xStride = bm + 1, wStride = bn + 1, sy = s.ThreadsY, sx = s.ThreadsX;
        var xs = shared.SubView(0, tileK * xStride);
        var ws = shared.SubView(tileK * xStride, tileK * wStride);
        int tiles = s.ColTiles * s.RowTiles, split = Grid.IdxX / tiles, tile = Grid.IdxX % tiles;
        int row0 = tile / s.ColTiles * bm, col0 = tile % s.ColTiles * bn;
        int t = Group.IdxX, ty = t / sx, tx = t % sx;
        int kBegin = split * s.SplitK, kEnd = Math.Min(w.K, kBegin + s.SplitK);
        var acc = new Tile8x8();
        for (int k0 = kBegin; k0 < kEnd; k0 += tileK)
        {
            StageTiles(x, x4, w, format, s, mode, conv, row0, col0, k0, tileK, xs, xStride, ws, wStride);
            Group.Barrier();
            for (int kk = 0; kk < tileK; kk++)
            {
                int xa = kk * xStride + ty, wb = kk * wStride + tx;
                acc.Fma(xs[xa], xs[xa + sy], xs[xa + 2 * sy], xs[xa + 3 * sy], xs[xa + 4 * sy], xs[xa + 5 * sy],
                    xs[xa + 6 * sy], xs[xa + 7 * sy],
                    ws[wb], ws[wb + sx], ws[wb + 2 * sx], ws[wb + 3 * sx], ws[wb + 4 * sx], ws[wb + 5 * sx],
                    ws[wb + 6 * sx], ws[wb + 7 * sx]);
            }
            Group.Barrier();
        }
        int c = col0 + tx;
        var part = y.SubView((long)split * s.N * s.M, (long)s.N * s.M);
        if (mode == UnfoldedInputTransposedOutput)
        {
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c, acc.R00, acc.R10, acc.R20, acc.R30, acc.R40, acc.R50, acc.R60, acc.R70);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + sx, acc.R01, acc.R11, acc.R21, acc.R31, acc.R41, acc.R51, acc.R61, acc.R71);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 2 * sx, acc.R02, acc.R12, acc.R22, acc.R32, acc.R42, acc.R52, acc.R62, acc.R72);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 3 * sx, acc.R03, acc.R13, acc.R23, acc.R33, acc.R43, acc.R53, acc.R63, acc.R73);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 4 * sx, acc.R04, acc.R14, acc.R24, acc.R34, acc.R44, acc.R54, acc.R64, acc.R74);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 5 * sx, acc.R05, acc.R15, acc.R25, acc.R35, acc.R45, acc.R55, acc.R65, acc.R75);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 6 * sx, acc.R06, acc.R16, acc.R26, acc.R36, acc.R46, acc.R56, acc.R66, acc.R76);
            StoreTransposed(part, bias, epilogue, s, row0 + ty, c + 7 * sx, acc.R07, acc.R17, acc.R27, acc.R37, acc.R47, acc.R57, acc.R67, acc.R77);
            return;
        }
        StoreRow(part, bias, epilogue, s, row0 + ty + 0 * s.ThreadsY, c, acc.R00, acc.R01, acc.R02, acc.R03, acc.R04, acc.R05, acc.R06, acc.R07);
        StoreRow(part, bias, epilogue, s, row0 + ty + 1 * s.ThreadsY, c, acc.R10, acc.R11, acc.R12, acc.R13, acc.R14, acc.R15, acc.R16, acc.R17);
        StoreRow(part, bias, epilogue, s, row0 + ty + 2 * s.ThreadsY, c, acc.R20, acc.R21, acc.R22, acc.R23, acc.R24, acc.R25, acc.R26, acc.R27);
        StoreRow(part, bias, epilogue, s, row0 + ty + 3 * s.ThreadsY, c, acc.R30, acc.R31, acc.R32, acc.R33, acc.R34, acc.R35, acc.R36, acc.R37);
        StoreRow(part, bias, epilogue, s, row0 + ty + 4 * s.ThreadsY, c, acc.R40, acc.R41, acc.R42, acc.R43, acc.R44, acc.R45, acc.R46, acc.R47);
        StoreRow(part, bias, epilogue, s, row0 + ty + 5 * s.ThreadsY, c, acc.R50, acc.R51, acc.R52, acc.R53, acc.R54, acc.R55, acc.R56, acc.R57);
        StoreRow(part, bias, epilogue, s, row0 + ty + 6 * s.ThreadsY, c, acc.R60, acc.R61, acc.R62, acc.R63, acc.R64, acc.R65, acc.R66, acc.R67);
        StoreRow(part, bias, epilogue, s, row0 + ty + 7 * s.ThreadsY, c, acc.R70, acc.R71, acc.R72, acc.R73, acc.R74, acc.R75, acc.R76, acc.R77);
    }

    /// <summary>The k-step k0.. of the group's tile into shared memory: x (rows row0.., as the mode reads it) into
    /// xs[kk, r] and the dequantized weight rows col0.. into ws[kk, c], with the given row strides.</summary>
    static void StageTiles(ArrayView<float> x, ArrayView<Quad> x4, WeightViews w, int format, GemmShape s, int mode, ConvShape conv,
        int row0, int col0, int k0, int tileK, ArrayView<float> xs, int xStride, ArrayView<float> ws, int wStride)
    {
        if (mode == PlainInputQuads) StageXQuads(x4, w.K, s.N, row0, k0, tileK, xs, xStride, s.TileRows);
        else if (mode == PlainInput) StageX(x, w.K, s.N, row0, k0, tileK, xs, xStride, s.TileRows);
        else StageUnfolded(x, conv, w.K, s.N, row0, k0, tileK, xs, xStride, s.TileRows);
        StageW(w, format, s.M, col0, k0, tileK, ws, wStride, s.TileCols);
    }

    // The staging loops below issue several loads before storing any: a loop that stores each value right after its
    // load waits a full memory latency per iteration (ptxas, sm_90: one load in flight per thread), and staging
    // dominated the k-step. Indices are unsigned so divisions by the (specialized) power-of-two tile depth are shifts.

    /// <summary>x[row0.., k0..k0+tileK) into xs[kk, r] (zeros past n or k); consecutive threads read consecutive k,
    /// four values in flight per thread.</summary>
    static void StageX(ArrayView<float> x, int k, int n, int row0, int k0, int tileK, ArrayView<float> xs, int xStride, int bm)
    {
        int total = bm * tileK, step = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 4 * step)
        {
            float v0 = XAt(x, k, n, row0, k0, tileK, total, i), v1 = XAt(x, k, n, row0, k0, tileK, total, i + step);
            float v2 = XAt(x, k, n, row0, k0, tileK, total, i + 2 * step), v3 = XAt(x, k, n, row0, k0, tileK, total, i + 3 * step);
            PutX(xs, xStride, tileK, total, i, v0);
            PutX(xs, xStride, tileK, total, i + step, v1);
            PutX(xs, xStride, tileK, total, i + 2 * step, v2);
            PutX(xs, xStride, tileK, total, i + 3 * step, v3);
        }
    }

    /// <summary>Element i of the staged x tile (row i / tileK, column i % tileK), zero past the tile, n or k.</summary>
    static float XAt(ArrayView<float> x, int k, int n, int row0, int k0, int tileK, int total, int i)
    {
        int gr = row0 + (int)((uint)i / (uint)tileK), gk = k0 + (int)((uint)i % (uint)tileK);
        return i < total && gr < n && gk < k ? x[(long)gr * k + gk] : 0f;
    }

    static void PutX(ArrayView<float> xs, int xStride, int tileK, int total, int i, float value)
    {
        if (i < total) xs[(int)((uint)i % (uint)tileK) * xStride + (int)((uint)i / (uint)tileK)] = value;
    }

    /// <summary><see cref="StageX"/> for x rows of whole 16-byte-aligned quads (k a multiple of 4): 16-byte loads, four
    /// in flight per thread — one round for a 128 × 32 tile of 256 threads, against sixteen dependent scalar loads.</summary>
    static void StageXQuads(ArrayView<Quad> x4, int k, int n, int row0, int k0, int tileK, ArrayView<float> xs, int xStride,
        int bm)
    {
        int perRow = tileK / 4, total = bm * perRow, step = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 4 * step)
        {
            var q0 = XQuadAt(x4, k, n, row0, k0, perRow, total, i);
            var q1 = XQuadAt(x4, k, n, row0, k0, perRow, total, i + step);
            var q2 = XQuadAt(x4, k, n, row0, k0, perRow, total, i + 2 * step);
            var q3 = XQuadAt(x4, k, n, row0, k0, perRow, total, i + 3 * step);
            PutXQuad(xs, xStride, perRow, total, i, q0);
            PutXQuad(xs, xStride, perRow, total, i + step, q1);
            PutXQuad(xs, xStride, perRow, total, i + 2 * step, q2);
            PutXQuad(xs, xStride, perRow, total, i + 3 * step, q3);
        }
    }

    /// <summary>Quad i of the staged x tile (row i / perRow, columns 4·(i % perRow)..), zeros past the tile, n or k.</summary>
    static Quad XQuadAt(ArrayView<Quad> x4, int k, int n, int row0, int k0, int perRow, int total, int i)
    {
        int gr = row0 + (int)((uint)i / (uint)perRow), gk = k0 + 4 * (int)((uint)i % (uint)perRow);
        return i < total && gr < n && gk < k ? x4[((long)gr * k + gk) / 4] : default;
    }

    static void PutXQuad(ArrayView<float> xs, int xStride, int perRow, int total, int i, Quad q)
    {
        if (i >= total) return;
        int r = (int)((uint)i / (uint)perRow), at = 4 * (int)((uint)i % (uint)perRow) * xStride + r;
        xs[at] = Interop.IntAsFloat(q.X);
        xs[at + xStride] = Interop.IntAsFloat(q.Y);
        xs[at + 2 * xStride] = Interop.IntAsFloat(q.Z);
        xs[at + 3 * xStride] = Interop.IntAsFloat(q.W);
    }

    /// <summary>The unfolded convolution input over rows (output positions) row0.. and columns k0..k0+tileK into
    /// xs[kk, r]: column j is input channel j / kernel at tap j % kernel, so element (t, j) is x[c, t·stride + tap −
    /// padding], zero outside the input (the padding) and past n or k. Four values in flight per thread.</summary>
    static void StageUnfolded(ArrayView<float> x, ConvShape conv, int k, int n, int row0, int k0, int tileK, ArrayView<float> xs,
        int xStride, int bm)
    {
        int total = bm * tileK, step = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 4 * step)
        {
            float v0 = UnfoldedAt(x, conv, k, n, row0, k0, tileK, total, i);
            float v1 = UnfoldedAt(x, conv, k, n, row0, k0, tileK, total, i + step);
            float v2 = UnfoldedAt(x, conv, k, n, row0, k0, tileK, total, i + 2 * step);
            float v3 = UnfoldedAt(x, conv, k, n, row0, k0, tileK, total, i + 3 * step);
            PutX(xs, xStride, tileK, total, i, v0);
            PutX(xs, xStride, tileK, total, i + step, v1);
            PutX(xs, xStride, tileK, total, i + 2 * step, v2);
            PutX(xs, xStride, tileK, total, i + 3 * step, v3);
        }
    }

    static float UnfoldedAt(ArrayView<float> x, ConvShape conv, int k, int n, int row0, int k0, int tileK, int total, int i)
    {
        int gr = row0 + (int)((uint)i / (uint)tileK), gk = k0 + (int)((uint)i % (uint)tileK);
        int channel = gk / conv.Kernel, pos = gr * conv.Stride + gk % conv.Kernel - conv.Padding;
        return i < total && gr < n && gk < k && pos >= 0 && pos < conv.Length ? x[(long)channel * conv.Length + pos] : 0f;
    }

    /// <summary>Weight rows col0.. over k0..k0+tileK into ws[kk, c], one 8-weight chunk per thread and step (zeros past m
    /// or k): the same coalesced, in-register decoding as the GEMV, two chunks in flight per thread.</summary>
    static void StageW(WeightViews w, int format, int m, int col0, int k0, int tileK, ArrayView<float> ws, int wStride, int bn)
    {
        int chunksPerTile = tileK / 8, total = bn * chunksPerTile, step = Group.DimX;
        for (int i = Group.IdxX; i < total; i += 2 * step)
        {
            var c0 = WeightChunkAt(w, format, m, col0, k0, chunksPerTile, total, i);
            var c1 = WeightChunkAt(w, format, m, col0, k0, chunksPerTile, total, i + step);
            PutW(ws, wStride, k0, chunksPerTile, total, i, c0);
            PutW(ws, wStride, k0, chunksPerTile, total, i + step, c1);
        }
    }

    /// <summary>Chunk i of the staged weight tile (row col0 + i / chunksPerTile), zeros past m or k (their columns
    /// still name where the zeros go).</summary>
    static Chunk8 WeightChunkAt(WeightViews w, int format, int m, int col0, int k0, int chunksPerTile, int total, int i)
    {
        int row = col0 + (int)((uint)i / (uint)chunksPerTile), chunk = k0 / 8 + (int)((uint)i % (uint)chunksPerTile);
        if (i < total && row < m && chunk < w.ChunksPerRow) return w.Chunk(format, w.Vector, row, chunk);
        var (colA, colB) = WeightViews.ChunkColumns(format, chunk);
        return new Chunk8 { ColA = colA, ColB = colB };
    }

    static void PutW(ArrayView<float> ws, int wStride, int k0, int chunksPerTile, int total, int i, Chunk8 ch)
    {
        if (i >= total) return;
        int c = (int)((uint)i / (uint)chunksPerTile);
        int a = (ch.ColA - k0) * wStride + c, b = (ch.ColB - k0) * wStride + c;
        ws[a] = ch.A0; ws[a + wStride] = ch.A1; ws[a + 2 * wStride] = ch.A2; ws[a + 3 * wStride] = ch.A3;
        ws[b] = ch.B0; ws[b + wStride] = ch.B1; ws[b + 2 * wStride] = ch.B2; ws[b + 3 * wStride] = ch.B3;
    }

    /// <summary>Row r of a thread's micro-tile: columns c, c + ThreadsX, … c + 7·ThreadsX (those below M).</summary>
    static void StoreRow(ArrayView<float> y, ArrayView<float> bias, int epilogue, GemmShape s, int r, int c,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        if (r >= s.N) return;
        long o = (long)r * s.M;
        int d = s.ThreadsX;
        Store(y, bias, epilogue, s.M, o, c, v0);
        Store(y, bias, epilogue, s.M, o, c + d, v1);
        Store(y, bias, epilogue, s.M, o, c + 2 * d, v2);
        Store(y, bias, epilogue, s.M, o, c + 3 * d, v3);
        Store(y, bias, epilogue, s.M, o, c + 4 * d, v4);
        Store(y, bias, epilogue, s.M, o, c + 5 * d, v5);
        Store(y, bias, epilogue, s.M, o, c + 6 * d, v6);
        Store(y, bias, epilogue, s.M, o, c + 7 * d, v7);
    }

    /// <summary>Column c of a thread's micro-tile into y[c, r…] (channels first): rows r, r + ThreadsY, … r + 7·ThreadsY.</summary>
    static void StoreTransposed(ArrayView<float> y, ArrayView<float> bias, int epilogue, GemmShape s, int r, int c,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        if (c >= s.M) return;
        long o = (long)c * s.N;
        int d = s.ThreadsY;
        StoreAt(y, bias, epilogue, s.N, o, r, c, v0);
        StoreAt(y, bias, epilogue, s.N, o, r + d, c, v1);
        StoreAt(y, bias, epilogue, s.N, o, r + 2 * d, c, v2);
        StoreAt(y, bias, epilogue, s.N, o, r + 3 * d, c, v3);
        StoreAt(y, bias, epilogue, s.N, o, r + 4 * d, c, v4);
        StoreAt(y, bias, epilogue, s.N, o, r + 5 * d, c, v5);
        StoreAt(y, bias, epilogue, s.N, o, r + 6 * d, c, v6);
        StoreAt(y, bias, epilogue, s.N, o, r + 7 * d, c, v7);
    }

    static void StoreAt(ArrayView<float> y, ArrayView<float> bias, int epilogue, int n, long columnOffset, int r, int c, float v)
    {
        if (r < n) y[columnOffset + r] = Epilogue(epilogue, v, bias, c, y, columnOffset + r);
    }

    internal static void Store(ArrayView<float> y, ArrayView<float> bias, int epilogue, int m, long rowOffset, int c, float v)
    {
        if (c < m) y[rowOffset + c] = Epilogue(epilogue, v, bias, c, y, rowOffset + c);
    }
}

/// <summary>Two or three weight matrices read against one x by <see cref="MatMulKernels.GemvShared"/> (M2 = 0 for
/// two): W0 [M0, k], W1 [M1, k], W2 [M2, k], one format.</summary>
public readonly record struct SharedWeights(WeightViews W0, int M0, WeightViews W1, int M1, WeightViews W2, int M2);

/// <summary>GEMM tiling for a group of ThreadsX × ThreadsY threads, each owning an 8×8 micro-tile: 256 threads →
/// 128×128 tiles, or 64×256 when x has at most 64 rows (a batched decode step: half the rows of a 128-row tile would be
/// padding); the CPU accelerator's 8 → 16×32 or 8×64. K is cut into Splits ranges of SplitK (a multiple of TileK), one
/// group per tile and range.</summary>
public readonly record struct GemmShape(int N, int M, int ThreadsX, int ThreadsY, int TileRows, int TileCols, int ColTiles,
    int RowTiles, int TileK, int Splits, int SplitK)
{
    /// <summary>The small-batch tensor-core product's plan (MatMulKernels.SmallBatch.cs): TileRows are x's rows padded to
    /// column blocks of 8, TileCols the weight rows of a group of ThreadsX threads, TileK its k-step. (Held as an int:
    /// a bool field would make the shape non-blittable, and kernels take it as a parameter.)</summary>
    public bool SmallBatch { get => smallBatch != 0; init => smallBatch = value ? 1 : 0; }
    readonly int smallBatch;

    /// <summary>Widest tile: 256 columns keep a 32-deep k-step of both staged tiles under 48 KB of shared memory.</summary>
    const int MaxThreadsX = 32;

    public static GemmShape For(int group, int tileK, int n, int m)
    {
        int log = 0;
        while (1 << (log + 1) <= group) log++;
        int threadsX = 1 << ((log + 1) / 2), threadsY = group / threadsX;
        if (threadsY > 1 && n <= 4 * threadsY && threadsX < MaxThreadsX) (threadsX, threadsY) = (threadsX * 2, threadsY / 2);
        int rows = threadsY * 8, cols = threadsX * 8;
        return new GemmShape(n, m, threadsX, threadsY, rows, cols, (m + cols - 1) / cols, (n + rows - 1) / rows, tileK, 1,
            int.MaxValue);
    }
}

/// <summary>An 8×8 block of accumulators held in registers (ILGPU lowers a structure's fields to scalars).</summary>
public struct Tile8x8
{
    public float R00, R01, R02, R03, R04, R05, R06, R07;
    public float R10, R11, R12, R13, R14, R15, R16, R17;
    public float R20, R21, R22, R23, R24, R25, R26, R27;
    public float R30, R31, R32, R33, R34, R35, R36, R37;
    public float R40, R41, R42, R43, R44, R45, R46, R47;
    public float R50, R51, R52, R53, R54, R55, R56, R57;
    public float R60, R61, R62, R63, R64, R65, R66, R67;
    public float R70, R71, R72, R73, R74, R75, R76, R77;

    /// <summary>Adds the outer product a ⊗ b.</summary>
    public void Fma(float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7,
        float b0, float b1, float b2, float b3, float b4, float b5, float b6, float b7)
    {
        R00 += a0 * b0; R01 += a0 * b1; R02 += a0 * b2; R03 += a0 * b3; R04 += a0 * b4; R05 += a0 * b5; R06 += a0 * b6; R07 += a0 * b7;
        R10 += a1 * b0; R11 += a1 * b1; R12 += a1 * b2; R13 += a1 * b3; R14 += a1 * b4; R15 += a1 * b5; R16 += a1 * b6; R17 += a1 * b7;
        R20 += a2 * b0; R21 += a2 * b1; R22 += a2 * b2; R23 += a2 * b3; R24 += a2 * b4; R25 += a2 * b5; R26 += a2 * b6; R27 += a2 * b7;
        R30 += a3 * b0; R31 += a3 * b1; R32 += a3 * b2; R33 += a3 * b3; R34 += a3 * b4; R35 += a3 * b5; R36 += a3 * b6; R37 += a3 * b7;
        R40 += a4 * b0; R41 += a4 * b1; R42 += a4 * b2; R43 += a4 * b3; R44 += a4 * b4; R45 += a4 * b5; R46 += a4 * b6; R47 += a4 * b7;
        R50 += a5 * b0; R51 += a5 * b1; R52 += a5 * b2; R53 += a5 * b3; R54 += a5 * b4; R55 += a5 * b5; R56 += a5 * b6; R57 += a5 * b7;
        R60 += a6 * b0; R61 += a6 * b1; R62 += a6 * b2; R63 += a6 * b3; R64 += a6 * b4; R65 += a6 * b5; R66 += a6 * b6; R67 += a6 * b7;
        R70 += a7 * b0; R71 += a7 * b1; R72 += a7 * b2; R73 += a7 * b3; R74 += a7 * b4; R75 += a7 * b5; R76 += a7 * b6; R77 += a7 * b7;
    }
}
