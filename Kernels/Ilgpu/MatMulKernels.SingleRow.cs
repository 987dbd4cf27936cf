using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// y = x · Wᵀ for one row of x (a batch-1 decode step, where the weights' bandwidth is the whole cost). A group of
/// warps owns <see cref="RowsPerGroup"/> weight rows and splits k between its threads: each thread loads a chunk of x
/// once and dots it with the chunk of all four rows (a quarter of the x traffic through L1 of one row per warp), sums
/// in registers, and the group folds its threads' sums (shuffles, then one shared-memory slot per warp and row).
/// Consecutive threads read consecutive chunks, so each row's loads are coalesced. The stride is a whole number of
/// quantized blocks (the group size is a multiple of 4), so a thread's place inside its blocks never changes.
/// </summary>
public sealed partial class MatMulKernels
{
    /// <summary>Weight rows per group of the single-row GEMV: each x chunk loaded serves this many rows. 4 keeps a
    /// q_proj launch (4096 rows) at 1,024 groups, ~31 warps a multiprocessor on an H100 at 4 warps a group.</summary>
    const int RowsPerGroup = 4;

    /// <summary>Warps a group of the single-row GEMV can have at most (the shared slots it allocates).</summary>
    const int MaxWarpsPerGroup = 32;

    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
        SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, ArrayView<float>>? singleRowGemv;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, SpecializedValue<int>,
        SharedWeights, ArrayView<float>, ArrayView<float>, ArrayView<float>>? singleRowGemvShared;

    static int Groups(int m) => (m + RowsPerGroup - 1) / RowsPerGroup;

    void SingleRowGemv(AcceleratorStream stream, ArrayView<float> x, WeightViews w, ArrayView<float> bias, int epilogue, int m,
        ArrayView<float> y)
    {
        singleRowGemv ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>, WeightViews,
            SpecializedValue<int>, ArrayView<float>, SpecializedValue<int>, int, ArrayView<float>>(SingleRowGemvKernel);
        bool vector = Vectorizable(x, w);
        singleRowGemv(stream, new KernelConfig(Groups(m), GemvGroup), x, vector ? x.Cast<Quad>() : default,
            SpecializedValue.New(vector ? 1 : 0), w, SpecializedValue.New(w.Format), bias, SpecializedValue.New(epilogue), m, y);
    }

    void SingleRowGemvShared(AcceleratorStream stream, ArrayView<float> x, SharedWeights w, ArrayView<float> y0,
        ArrayView<float> y1, ArrayView<float> y2)
    {
        singleRowGemvShared ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<Quad>, SpecializedValue<int>,
            SpecializedValue<int>, SharedWeights, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SingleRowGemvSharedKernel);
        bool vector = Vectorizable(x, w.W0) && Vectorizable(x, w.W1) && (w.M2 == 0 || Vectorizable(x, w.W2));
        int groups = Groups(w.M0) + Groups(w.M1) + Groups(w.M2);
        singleRowGemvShared(stream, new KernelConfig(groups, GemvGroup), x, vector ? x.Cast<Quad>() : default,
            SpecializedValue.New(vector ? 1 : 0), SpecializedValue.New(w.W0.Format), w, y0, y1, y2);
    }

    static void SingleRowGemvKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue, WeightViews w,
        SpecializedValue<int> formatValue, ArrayView<float> bias, SpecializedValue<int> epilogueValue, int m, ArrayView<float> y)
    {
        GroupRows(x, x4, vectorValue.Value, w, formatValue.Value, bias, epilogueValue.Value, m, Grid.IdxX * RowsPerGroup, y);
    }

    /// <summary>The groups of W0's rows, then W1's, then W2's: a group never straddles two matrices.</summary>
    static void SingleRowGemvSharedKernel(ArrayView<float> x, ArrayView<Quad> x4, SpecializedValue<int> vectorValue,
        SpecializedValue<int> formatValue, SharedWeights w, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2)
    {
        int vector = vectorValue.Value, format = formatValue.Value, group = Grid.IdxX;
        int groups0 = Groups(w.M0), groups1 = Groups(w.M1);
        if (group < groups0) GroupRows(x, x4, vector, w.W0, format, y0, 0, w.M0, group * RowsPerGroup, y0);
        else if (group < groups0 + groups1) GroupRows(x, x4, vector, w.W1, format, y1, 0, w.M1, (group - groups0) * RowsPerGroup, y1);
        else GroupRows(x, x4, vector, w.W2, format, y2, 0, w.M2, (group - groups0 - groups1) * RowsPerGroup, y2);
    }

    /// <summary>y[row0 .. row0 + 3] (those below m). Rows past m repeat row m − 1's reads (in cache) and are not stored,
    /// so the loop has no per-row branches.</summary>
    static void GroupRows(ArrayView<float> x, ArrayView<Quad> x4, int vector, WeightViews w, int format, ArrayView<float> bias,
        int epilogue, int m, int row0, ArrayView<float> y)
    {
        var partials = SharedMemory.Allocate<float>(RowsPerGroup * MaxWarpsPerGroup);
        int row1 = Math.Min(row0 + 1, m - 1), row2 = Math.Min(row0 + 2, m - 1), row3 = Math.Min(row0 + 3, m - 1);
        var sums = DotRows(x, x4, vector, w, format, row0, row1, row2, row3);
        float s0 = WarpReduce.Sum(sums.S0), s1 = WarpReduce.Sum(sums.S1), s2 = WarpReduce.Sum(sums.S2), s3 = WarpReduce.Sum(sums.S3);
        int warp = Warp.WarpIdx;
        if (Warp.IsFirstLane)
        {
            partials[warp * RowsPerGroup] = s0;
            partials[warp * RowsPerGroup + 1] = s1;
            partials[warp * RowsPerGroup + 2] = s2;
            partials[warp * RowsPerGroup + 3] = s3;
        }
        Group.Barrier();
        int row = row0 + Group.IdxX;
        if (Group.IdxX >= RowsPerGroup || row >= m) return;
        float sum = 0f;
        for (int i = 0; i < Group.DimX / Warp.WarpSize; i++) sum += partials[i * RowsPerGroup + Group.IdxX];
        y[row] = Epilogue(epilogue, sum, bias, row, y, row);
    }

    /// <summary>This thread's share of the four rows' dot products: chunks Group.IdxX, + Group.DimX, … Each row's
    /// reader starts at the thread's first chunk and moves on only when another chunk follows (a view is never moved
    /// past its end); both x columns move by 8 per chunk of the stride.</summary>
    static Sums4 DotRows(ArrayView<float> x, ArrayView<Quad> x4, int vector, WeightViews w, int format, int row0, int row1,
        int row2, int row3)
    {
        var sums = new Sums4();
        int first = Group.IdxX, stride = Group.DimX;
        if (first >= w.ChunksPerRow) return sums;
        var r0 = w.Reader(format, vector, row0, first);
        var r1 = w.Reader(format, vector, row1, first);
        var r2 = w.Reader(format, vector, row2, first);
        var r3 = w.Reader(format, vector, row3, first);
        int step = WeightViews.ReaderStep(format, stride);
        var (colA, colB) = WeightViews.ChunkColumns(format, first);
        for (int c = first; ;)
        {
            var xc = XChunk.Load(x, x4, vector, w.K, colA, colB);
            sums.S0 += w.Dot(format, vector, r0, row0, c, xc);
            sums.S1 += w.Dot(format, vector, r1, row1, c, xc);
            sums.S2 += w.Dot(format, vector, r2, row2, c, xc);
            sums.S3 += w.Dot(format, vector, r3, row3, c, xc);
            c += stride;
            if (c >= w.ChunksPerRow) return sums;
            r0 = r0.Advance(format, step);
            r1 = r1.Advance(format, step);
            r2 = r2.Advance(format, step);
            r3 = r3.Advance(format, step);
            colA += 8 * stride;
            colB += 8 * stride;
        }
    }
}

/// <summary>Four running sums (ILGPU keeps a structure's fields in registers).</summary>
public struct Sums4
{
    public float S0, S1, S2, S3;
}
