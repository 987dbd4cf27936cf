using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>y = x · Wᵀ (+ bias) for stored weights. Parallel over chunks of weight rows; each chunk is decoded to float
/// once and then dotted with every x row, so the weights are read once per call whatever n is.</summary>
public static class MatMulKernels
{
    /// <summary>Floats of decoded weights per chunk (~256 KB, an L2-sized working set).</summary>
    const int ChunkFloats = 64 * 1024;
    /// <summary>Below this many multiply-adds a single thread is faster than Parallel.For's overhead.</summary>
    const long ParallelWork = 1 << 16;

    [ThreadStatic] static float[]? decodeBuffer;

    /// <summary>x: [n, k]; w: [m, k] rows in <paramref name="format"/>; bias: [m] or empty; y: [n, m].</summary>
    public static void MatMul(ReadOnlyMemory<float> x, ReadOnlyMemory<byte> w, WeightFormat format, ReadOnlyMemory<float> bias,
        int n, int k, int m, Memory<float> y) =>
        ForChunks(n, k, m, (first, rows) => Chunk(x.Span, w.Span, format, bias.Span, n, k, m, first, rows, y.Span));

    /// <summary>F32 weights held as floats (no decoding). x: [n, k]; w: [m, k]; bias: [m] or empty; y: [n, m].</summary>
    public static void MatMul(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias,
        int n, int k, int m, Memory<float> y) =>
        ForChunks(n, k, m, (first, rows) => DotRows(x.Span, w.Span.Slice(first * k, rows * k), bias.Span, n, k, m, first, rows, y.Span));

    static void ForChunks(int n, int k, int m, Action<int, int> chunk)
    {
        int rowsPerChunk = Math.Clamp(ChunkFloats / Math.Max(k, 1), 1, 64);
        int chunks = (m + rowsPerChunk - 1) / rowsPerChunk;
        void Run(int c) => chunk(c * rowsPerChunk, Math.Min(rowsPerChunk, m - c * rowsPerChunk));
        if ((long)n * k * m < ParallelWork || chunks == 1)
        {
            for (int c = 0; c < chunks; c++) Run(c);
            return;
        }
        Parallel.For(0, chunks, Run);
    }

    static void Chunk(ReadOnlySpan<float> x, ReadOnlySpan<byte> w, WeightFormat format, ReadOnlySpan<float> bias,
        int n, int k, int m, int firstRow, int rows, Span<float> y)
    {
        if (n == 1 && format is WeightFormat.Q8_0 or WeightFormat.Q4_0)
        {
            for (int r = 0; r < rows; r++)
                y[firstRow + r] = WeightRows.DotQuantized(x, w, format, k, firstRow + r) + (bias.IsEmpty ? 0f : bias[firstRow + r]);
            return;
        }
        var buffer = DecodeBuffer(rows * k);
        for (int r = 0; r < rows; r++) WeightRows.Decode(w, format, k, firstRow + r, buffer.AsSpan(r * k, k));
        DotRows(x, buffer.AsSpan(0, rows * k), bias, n, k, m, firstRow, rows, y);
    }

    // wRows: [rows, k] (decoded rows firstRow..firstRow+rows of W).
    static void DotRows(ReadOnlySpan<float> x, ReadOnlySpan<float> wRows, ReadOnlySpan<float> bias,
        int n, int k, int m, int firstRow, int rows, Span<float> y)
    {
        for (int i = 0; i < n; i++)
        {
            var xi = x.Slice(i * k, k);
            var yi = y.Slice(i * m + firstRow, rows);
            for (int r = 0; r < rows; r++)
                yi[r] = TensorPrimitives.Dot(xi, wRows.Slice(r * k, k)) + (bias.IsEmpty ? 0f : bias[firstRow + r]);
        }
    }

    static float[] DecodeBuffer(int length)
    {
        if (decodeBuffer is null || decodeBuffer.Length < length) decodeBuffer = new float[length];
        return decodeBuffer;
    }
}
