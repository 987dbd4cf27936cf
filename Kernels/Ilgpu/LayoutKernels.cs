using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Data movement: transpose, sum over the middle axis, row gather (embedding), row scatter; one thread per
/// output element, but the sum (a group per warp's width of outputs).</summary>
public sealed class LayoutKernels(Accelerator accelerator) : KernelFamily(accelerator)
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, int, int, ArrayView<float>>? transpose;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, int, ArrayView<float>>? sumMiddle;
    Action<AcceleratorStream, Index1D, WeightViews, ArrayView<int>, int, ArrayView<float>>? embedding;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, int, ArrayView<float>>? scatterRows;
    Action<AcceleratorStream, Index1D, ArrayView<ushort>, int, int, ArrayView<ushort>>? splitQuantizedRows;

    /// <summary>GGUF Q8_0/Q4_0 rows as uploaded (<paramref name="gguf"/>) rewritten into the split rows the kernels read
    /// (<see cref="WeightViews.SplitQuantizedRow"/>): <paramref name="blocks"/> blocks in all,
    /// <paramref name="blocksPerRow"/> a row, <paramref name="blockBytes"/> (18 or 34) each.</summary>
    public void SplitQuantizedRows(AcceleratorStream stream, ArrayView<ushort> gguf, long blocks, int blocksPerRow,
        int blockBytes, ArrayView<ushort> split)
    {
        splitQuantizedRows ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<ushort>, int, int, ArrayView<ushort>>(
            SplitQuantizedRowsKernel);
        if (blocks > 0) splitQuantizedRows(stream, (int)blocks, gguf, blocksPerRow, blockBytes / 2, split);
    }

    static void SplitQuantizedRowsKernel(Index1D block, ArrayView<ushort> gguf, int blocksPerRow, int blockHalves,
        ArrayView<ushort> split) => WeightViews.SplitQuantizedRow(block, gguf, blocksPerRow, blockHalves, split);

    /// <summary>dst[rows[i]] = src[i]; src: [n, w]; rows: [n]; dst: [R, w] (rows distinct and inside dst).</summary>
    public void ScatterRows(AcceleratorStream stream, ArrayView<float> src, ArrayView<int> rows, int n, int w, ArrayView<float> dst)
    {
        scatterRows ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, int, ArrayView<float>>(ScatterRowsKernel);
        if ((long)n * w > 0) scatterRows(stream, n * w, src, rows, w, dst);
    }

    static void ScatterRowsKernel(Index1D index, ArrayView<float> src, ArrayView<int> rows, int w, ArrayView<float> dst) =>
        dst[(long)rows[index / w] * w + index % w] = src[index];

    /// <summary>x: [a, b]; y: [b, a].</summary>
    public void Transpose(AcceleratorStream stream, ArrayView<float> x, int a, int b, ArrayView<float> y)
    {
        transpose ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>>(TransposeKernel);
        if ((long)a * b > 0) transpose(stream, a * b, x, a, b, y);
    }

    /// <summary>x: [a, b, c]; y: [a, c]. One group per (i, warp's width of columns), its warps striding over the middle
    /// axis, then one sum per column of the warps' partials. A thread per output summing all b alone left the device
    /// nearly idle: the projector's [13, ~750, 768] sum took 280 µs on an H100 (commit 2e31d2d).</summary>
    public void SumMiddle(AcceleratorStream stream, ArrayView<float> x, int a, int b, int c, ArrayView<float> y)
    {
        sumMiddle ??= Accelerator.LoadKernel<ArrayView<float>, int, int, ArrayView<float>>(SumMiddleKernel);
        int tiles = (c + Accelerator.WarpSize - 1) / Accelerator.WarpSize;
        if ((long)a * c > 0) sumMiddle(stream, RowGroups(a * tiles), x, b, c, y);
    }

    /// <summary>y[i] = table[ids[i]] as float; table: [V, d] (<paramref name="vocab"/> rows); ids: [n]; y: [n, d].
    /// An id outside [0, V) yields a zero row (the host cannot check ids that live on the device).</summary>
    public void Embedding(AcceleratorStream stream, WeightViews table, ArrayView<int> ids, int vocab, int n,
        ArrayView<float> y)
    {
        embedding ??= Accelerator.LoadAutoGroupedKernel<Index1D, WeightViews, ArrayView<int>, int, ArrayView<float>>(EmbeddingKernel);
        if ((long)n * table.K > 0) embedding(stream, n * table.K, table, ids, vocab, y);
    }

    // index runs over y [b, a]: y[j, i] = x[i, j].
    static void TransposeKernel(Index1D index, ArrayView<float> x, int a, int b, ArrayView<float> y)
    {
        int j = index / a, i = index % a;
        y[index] = x[(long)i * b + j];
    }

    static void SumMiddleKernel(ArrayView<float> x, int b, int c, ArrayView<float> y)
    {
        int tiles = (c + Warp.WarpSize - 1) / Warp.WarpSize, i = Grid.IdxX / tiles;
        int e = Grid.IdxX % tiles * Warp.WarpSize + Warp.LaneIdx, warps = Group.DimX / Warp.WarpSize;
        var partials = SharedMemory.Allocate<float>(GroupReduce.MaxGroup);
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;   // four loads in flight a thread
        if (e < c)
        {
            int j = Warp.WarpIdx;
            long at = ((long)i * b + j) * c + e, step = (long)warps * c;
            for (; j + 3 * warps < b; j += 4 * warps, at += 4 * step)
            {
                s0 += x[at];
                s1 += x[at + step];
                s2 += x[at + 2 * step];
                s3 += x[at + 3 * step];
            }
            for (; j < b; j += warps, at += step) s0 += x[at];
        }
        partials[Group.IdxX] = (s0 + s1) + (s2 + s3);
        Group.Barrier();
        if (Warp.WarpIdx != 0 || e >= c) return;
        float total = 0f;
        for (int w = 0; w < warps; w++) total += partials[w * Warp.WarpSize + Warp.LaneIdx];
        y[(long)i * c + e] = total;
    }

    static void EmbeddingKernel(Index1D index, WeightViews table, ArrayView<int> ids, int vocab, ArrayView<float> y)
    {
        int i = index / table.K, e = index % table.K;
        int id = ids[i];
        y[index] = id >= 0 && id < vocab ? table.Element(id, e) : 0f;
    }
}
