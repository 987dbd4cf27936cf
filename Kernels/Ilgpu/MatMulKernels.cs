using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// y = x · Wᵀ (+ bias) with the weights left in their stored format and decoded in registers.
/// Up to <see cref="GemvMaxRows"/> rows of x (decode, small batches): a GEMV with one warp per weight row, each lane
/// reading 8-weight chunks (one 16-byte load for F16/BF16, two for F32, a quarter block for Q8_0/Q4_0), so every
/// weight is read from memory once for all rows of x; per-lane partial sums live in shared memory (one slot per row of
/// x) and a shuffle reduction finishes each output. More rows (prefill, MERT, projector, batched decode): a tiled
/// shared-memory GEMM whose weight tile is dequantized while it is staged, split over k when its tiles alone would
/// leave most multiprocessors idle (see <see cref="Plan"/>).
/// </summary>
public sealed class MatMulKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    /// <summary>Rows of x up to which the GEMV runs. Each of its lanes re-reads x for every row it multiplies, so it is
    /// bound by L1 traffic (2 × 16 bytes of x per 8 weights and row) long before memory: on an H100, 36 rows took
    /// 345 ms per Mistral-7B step against 34 ms for one. The GEMM reuses each x value for 4 weight rows from registers
    /// and still reads every weight once per 64 rows of x.</summary>
    public const int GemvMaxRows = 8;

    /// <summary>Enough groups in flight per multiprocessor to hide global-memory latency behind other groups' math
    /// (one 64×64 tile group is 8 warps: alone on a multiprocessor it waits on every k-step's loads).</summary>
    const int GroupsPerMultiprocessor = 4;

    /// <summary>k-step of the GEMM on a GPU: one quantized block (a staged tile never splits a block), 16.6 KB of shared
    /// memory for 64×64 tiles. The CPU accelerator takes up to 512 (still whole blocks): each of its barriers is a
    /// rendezvous of OS threads, so fewer, deeper k-steps are what make it bearable there.</summary>
    const int GpuTileK = 32, CpuTileK = 512;

    /// <summary>Chunks each lane has in flight per GEMV iteration: enough outstanding loads per warp to cover memory
    /// latency with a few warps per multiprocessor (Little's law).</summary>
    const int Unroll = 4;

    // The weight format and the flags are SpecializedValues: ILGPU compiles (and caches) one kernel per value, with the
    // branches for the other formats folded away.
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
        SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, int, ArrayView<float>>? gemv;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, WeightViews, SpecializedValue<int>, ArrayView<float>,
        SpecializedValue<int>, GemmShape, SpecializedValue<int>, ArrayView<float>>? gemm;
    Action<AcceleratorStream, Index1D, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>? sumSplits;

    /// <summary>GEMV threads per group: up to 4 warps (4 weight rows per group).</summary>
    int GemvGroup => Math.Min(RowGroupSize, 4 * Accelerator.WarpSize);

    /// <summary>How y = x · Wᵀ of these sizes will run: the GEMV (null shape) or the GEMM's tiling and its split over k.
    /// Splits are whole k-steps, so quantized blocks never straddle two.</summary>
    public GemmShape? Plan(int n, int k, int m)
    {
        if (n <= GemvMaxRows) return null;
        int tileK = Accelerator.AcceleratorType == AcceleratorType.CPU ? Math.Min(CpuTileK, (k + 31) / 32 * 32) : GpuTileK;
        var shape = GemmShape.For(RowGroupSize, tileK, n, m);
        long tiles = (long)shape.ColTiles * shape.RowTiles;
        long wanted = (long)GroupsPerMultiprocessor * Math.Max(1, Accelerator.NumMultiprocessors);
        int steps = (k + tileK - 1) / tileK;
        int splits = (int)Math.Clamp((wanted + tiles - 1) / tiles, 1, steps);
        int stepsPerSplit = (steps + splits - 1) / splits;
        return shape with { Splits = (steps + stepsPerSplit - 1) / stepsPerSplit, SplitK = stepsPerSplit * tileK };
    }

    /// <summary>Floats of scratch <see cref="MatMul"/> needs for this plan: the per-split partial products.</summary>
    public static long ScratchLength(GemmShape? plan) => plan is { Splits: > 1 } s ? (long)s.Splits * s.N * s.M : 0;

    /// <summary>x: [n, k]; w: [m, k]; bias: [m] (read only when <paramref name="hasBias"/>); y: [n, m]; plan from
    /// <see cref="Plan"/>; scratch: at least <see cref="ScratchLength"/> floats.</summary>
    public void MatMul(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, bool hasBias,
        int n, int m, ArrayView<float> y, GemmShape? plan, ArrayView<float> scratch)
    {
        if ((long)n * m == 0) return;
        if (plan is not { } shape) Gemv(stream, x, w, bias, hasBias, n, m, y);
        else Gemm(stream, x, w, bias, hasBias, shape, y, scratch);
    }

    void Gemv(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, bool hasBias, int n, int m,
        ArrayView<float> y)
    {
        gemv ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
            SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, int, ArrayView<float>>(GemvKernel);
        int group = GemvGroup, rowsPerGroup = group / Accelerator.WarpSize;
        bool vector = w.K % 8 == 0 && WeightViews.Aligned16(x) && x.Length >= 4;
        var config = new KernelConfig((m + rowsPerGroup - 1) / rowsPerGroup, group,
            SharedMemoryConfig.RequestDynamic<float>(n * group));
        gemv(stream, config, x, vector ? x.Cast<Quad>() : default, SpecializedValue.New(vector ? 1 : 0), w,
            SpecializedValue.New(w.Format), bias, SpecializedValue.New(hasBias ? 1 : 0), n, m, y);
    }

    void Gemm(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, bool hasBias, GemmShape shape,
        ArrayView<float> y, ArrayView<float> scratch)
    {
        gemm ??= Accelerator.LoadKernel<ArrayView<float>, WeightViews, SpecializedValue<int>, ArrayView<float>,
            SpecializedValue<int>, GemmShape, SpecializedValue<int>, ArrayView<float>>(GemmKernel);
        var config = new KernelConfig(shape.ColTiles * shape.RowTiles * shape.Splits, RowGroupSize,
            SharedMemoryConfig.RequestDynamic<float>(shape.TileK * (shape.TileRows + 1 + shape.TileCols + 1)));
        bool split = shape.Splits > 1;
        gemm(stream, config, x, w, SpecializedValue.New(w.Format), bias, SpecializedValue.New(hasBias && !split ? 1 : 0), shape,
            SpecializedValue.New(shape.TileK), split ? scratch : y);
        if (!split) return;
        sumSplits ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int,
            ArrayView<float>>(SumSplitsKernel);
        sumSplits(stream, shape.N * shape.M, scratch, shape.Splits, bias, hasBias ? 1 : 0, shape.M, y);
    }

    /// <summary>y[i] = Σ over splits of partial[s, i] (+ bias), in split order: the same sum on every run.</summary>
    static void SumSplitsKernel(Index1D i, ArrayView<float> partial, int splits, ArrayView<float> bias, int hasBias, int m,
        ArrayView<float> y)
    {
        long count = y.Length;
        float sum = hasBias != 0 ? bias[i % m] : 0f;
        for (int s = 0; s < splits; s++) sum += partial[s * count + i];
        y[i] = sum;
    }

    static void GemvKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> xVectorValue, WeightViews w,
        SpecializedValue<int> formatValue, ArrayView<float> bias, SpecializedValue<int> hasBiasValue, int n, int m,
        ArrayView<float> y)
    {
        int xVector = xVectorValue.Value, format = formatValue.Value, hasBias = hasBiasValue.Value;
        var acc = SharedMemory.GetDynamic<float>();
        int lane = Warp.LaneIdx, width = Warp.WarpSize, slot = Group.IdxX, stride = Group.DimX;
        int row = Grid.IdxX * (Group.DimX / width) + Warp.WarpIdx;
        if (row >= m) return;
        for (int r = 0; r < n; r++) acc[r * stride + slot] = 0f;
        int chunks = w.ChunksPerRow, c = lane;
        for (; c + (Unroll - 1) * width < chunks; c += Unroll * width)
        {
            var c0 = w.Chunk(format, row, c);
            var c1 = w.Chunk(format, row, c + width);
            var c2 = w.Chunk(format, row, c + 2 * width);
            var c3 = w.Chunk(format, row, c + 3 * width);
            for (int r = 0; r < n; r++)
            {
                long xRow = (long)r * w.K;
                acc[r * stride + slot] += Dot(x, x4, xVector, xRow, w.K, c0) + Dot(x, x4, xVector, xRow, w.K, c1)
                    + Dot(x, x4, xVector, xRow, w.K, c2) + Dot(x, x4, xVector, xRow, w.K, c3);
            }
        }
        for (; c < chunks; c += width)
        {
            var c0 = w.Chunk(format, row, c);
            for (int r = 0; r < n; r++) acc[r * stride + slot] += Dot(x, x4, xVector, (long)r * w.K, w.K, c0);
        }
        for (int r = 0; r < n; r++)
        {
            float sum = WarpReduce.Sum(acc[r * stride + slot]);
            if (lane == 0) y[(long)r * m + row] = hasBias != 0 ? sum + bias[row] : sum;
        }
    }

    /// <summary>The chunk's 8 weights against the matching 8 values of one x row (two 16-byte loads when aligned).</summary>
    static float Dot(ArrayView<float> x, ArrayView<Quad> x4, int xVector, long xRow, int k, Chunk8 c)
    {
        if (xVector != 0)
        {
            Quad a = x4[(xRow + c.ColA) / 4], b = x4[(xRow + c.ColB) / 4];
            return c.A0 * Interop.IntAsFloat(a.X) + c.A1 * Interop.IntAsFloat(a.Y) + c.A2 * Interop.IntAsFloat(a.Z)
                + c.A3 * Interop.IntAsFloat(a.W) + c.B0 * Interop.IntAsFloat(b.X) + c.B1 * Interop.IntAsFloat(b.Y)
                + c.B2 * Interop.IntAsFloat(b.Z) + c.B3 * Interop.IntAsFloat(b.W);
        }
        return c.A0 * X(x, xRow, c.ColA, k) + c.A1 * X(x, xRow, c.ColA + 1, k) + c.A2 * X(x, xRow, c.ColA + 2, k)
            + c.A3 * X(x, xRow, c.ColA + 3, k) + c.B0 * X(x, xRow, c.ColB, k) + c.B1 * X(x, xRow, c.ColB + 1, k)
            + c.B2 * X(x, xRow, c.ColB + 2, k) + c.B3 * X(x, xRow, c.ColB + 3, k);
    }

    static float X(ArrayView<float> x, long xRow, int col, int k) => col < k ? x[xRow + col] : 0f;

    /// <summary>One group per (TileRows × TileCols) tile of y and split of k; thread (ty, tx) accumulates the 4×4
    /// micro-tile at rows 4·ty.., columns 4·tx.. from k-slices of x and of the dequantized weights staged transposed in
    /// shared memory (row stride tile + 1 so the staging writes of neighbouring lanes fall in different banks). With
    /// one split the tile goes to y (+ bias); with several, split s writes its partial sums to y[s] ([splits, n, m]).
    /// tileK is a SpecializedValue so the staging loops' divisions by it compile to shifts.</summary>
    static void GemmKernel(ArrayView<float> x, WeightViews w, SpecializedValue<int> formatValue, ArrayView<float> bias,
        SpecializedValue<int> hasBiasValue, GemmShape s, SpecializedValue<int> tileKValue, ArrayView<float> y)
    {
        int format = formatValue.Value, hasBias = hasBiasValue.Value, tileK = tileKValue.Value;
        var shared = SharedMemory.GetDynamic<float>();
        int bm = s.TileRows, bn = s.TileCols, xStride = bm + 1, wStride = bn + 1;
        var xs = shared.SubView(0, tileK * xStride);
        var ws = shared.SubView(tileK * xStride, tileK * wStride);
        int tiles = s.ColTiles * s.RowTiles, split = Grid.IdxX / tiles, tile = Grid.IdxX % tiles;
        int row0 = tile / s.ColTiles * bm, col0 = tile % s.ColTiles * bn;
        int t = Group.IdxX, ty = t / s.ThreadsX, tx = t % s.ThreadsX;
        int kBegin = split * s.SplitK, kEnd = Math.Min(w.K, kBegin + s.SplitK);
        var acc = new Tile4x4();
        for (int k0 = kBegin; k0 < kEnd; k0 += tileK)
        {
            StageX(x, w.K, s.N, row0, k0, tileK, xs, xStride, bm);
            StageW(w, format, s.M, col0, k0, tileK, ws, wStride, bn);
            Group.Barrier();
            for (int kk = 0; kk < tileK; kk++)
            {
                int xa = kk * xStride + ty * 4, wb = kk * wStride + tx * 4;
                acc.Fma(xs[xa], xs[xa + 1], xs[xa + 2], xs[xa + 3], ws[wb], ws[wb + 1], ws[wb + 2], ws[wb + 3]);
            }
            Group.Barrier();
        }
        int r = row0 + ty * 4, c = col0 + tx * 4;
        var part = y.SubView((long)split * s.N * s.M, (long)s.N * s.M);
        StoreRow(part, bias, hasBias, s, r, c, acc.R00, acc.R01, acc.R02, acc.R03);
        StoreRow(part, bias, hasBias, s, r + 1, c, acc.R10, acc.R11, acc.R12, acc.R13);
        StoreRow(part, bias, hasBias, s, r + 2, c, acc.R20, acc.R21, acc.R22, acc.R23);
        StoreRow(part, bias, hasBias, s, r + 3, c, acc.R30, acc.R31, acc.R32, acc.R33);
    }

    /// <summary>x[row0.., k0..k0+tileK) into xs[kk, r] (zeros past n or k); consecutive threads read consecutive k.</summary>
    static void StageX(ArrayView<float> x, int k, int n, int row0, int k0, int tileK, ArrayView<float> xs, int xStride, int bm)
    {
        for (int i = Group.IdxX; i < bm * tileK; i += Group.DimX)
        {
            int r = i / tileK, kk = i % tileK, gr = row0 + r, gk = k0 + kk;
            xs[kk * xStride + r] = gr < n && gk < k ? x[(long)gr * k + gk] : 0f;
        }
    }

    /// <summary>Weight rows col0.. over k0..k0+tileK into ws[kk, c], one 8-weight chunk per thread and step (zeros past m
    /// or k): the same coalesced, in-register decoding as the GEMV.</summary>
    static void StageW(WeightViews w, int format, int m, int col0, int k0, int tileK, ArrayView<float> ws, int wStride, int bn)
    {
        int chunksPerTile = tileK / 8;
        for (int i = Group.IdxX; i < bn * chunksPerTile; i += Group.DimX)
        {
            int c = i / chunksPerTile, sub = i % chunksPerTile, row = col0 + c, chunk = k0 / 8 + sub;
            if (row < m && chunk < w.ChunksPerRow)
            {
                var ch = w.Chunk(format, row, chunk);
                int a = (ch.ColA - k0) * wStride + c, b = (ch.ColB - k0) * wStride + c;
                ws[a] = ch.A0; ws[a + wStride] = ch.A1; ws[a + 2 * wStride] = ch.A2; ws[a + 3 * wStride] = ch.A3;
                ws[b] = ch.B0; ws[b + wStride] = ch.B1; ws[b + 2 * wStride] = ch.B2; ws[b + 3 * wStride] = ch.B3;
            }
            else
                for (int e = sub * 8; e < sub * 8 + 8; e++) ws[e * wStride + c] = 0f;
        }
    }

    static void StoreRow(ArrayView<float> y, ArrayView<float> bias, int hasBias, GemmShape s, int r, int c,
        float v0, float v1, float v2, float v3)
    {
        if (r >= s.N) return;
        long o = (long)r * s.M;
        if (c < s.M) y[o + c] = hasBias != 0 ? v0 + bias[c] : v0;
        if (c + 1 < s.M) y[o + c + 1] = hasBias != 0 ? v1 + bias[c + 1] : v1;
        if (c + 2 < s.M) y[o + c + 2] = hasBias != 0 ? v2 + bias[c + 2] : v2;
        if (c + 3 < s.M) y[o + c + 3] = hasBias != 0 ? v3 + bias[c + 3] : v3;
    }
}

/// <summary>GEMM tiling for a group of ThreadsX × (group / ThreadsX) threads, each owning a 4×4 micro-tile:
/// 256 threads → 64×64 tiles; the CPU accelerator's 8 → 8×16. K is cut into Splits ranges of SplitK (a multiple of
/// TileK), one group per tile and range.</summary>
public readonly record struct GemmShape(int N, int M, int ThreadsX, int TileRows, int TileCols, int ColTiles, int RowTiles,
    int TileK, int Splits, int SplitK)
{
    public static GemmShape For(int group, int tileK, int n, int m)
    {
        int log = 0;
        while (1 << (log + 1) <= group) log++;
        int threadsX = 1 << ((log + 1) / 2), threadsY = group / threadsX;
        int rows = threadsY * 4, cols = threadsX * 4;
        return new GemmShape(n, m, threadsX, rows, cols, (m + cols - 1) / cols, (n + rows - 1) / rows, tileK, 1, int.MaxValue);
    }
}

/// <summary>A 4×4 block of accumulators held in registers.</summary>
public struct Tile4x4
{
    public float R00, R01, R02, R03, R10, R11, R12, R13, R20, R21, R22, R23, R30, R31, R32, R33;

    /// <summary>Adds the outer product a ⊗ b.</summary>
    public void Fma(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
    {
        R00 += a0 * b0; R01 += a0 * b1; R02 += a0 * b2; R03 += a0 * b3;
        R10 += a1 * b0; R11 += a1 * b1; R12 += a1 * b2; R13 += a1 * b3;
        R20 += a2 * b0; R21 += a2 * b1; R22 += a2 * b2; R23 += a2 * b3;
        R30 += a3 * b0; R31 += a3 * b1; R32 += a3 * b2; R33 += a3 * b3;
    }
}
