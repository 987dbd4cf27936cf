using System.Runtime.InteropServices;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// y = x · Wᵀ (+ bias) for stored weights, parallel over output columns (rows of W), so every weight byte is read once
/// per call whatever n is. n ≤ <see cref="RowDotRows"/> (decode, small batches): each row of W is dequantized in
/// registers and dotted with each x row (<see cref="RowDots"/> with AVX-512, <see cref="RowDots256"/> with AVX2 alone,
/// <see cref="RowDots128"/> with 128-bit vectors alone, as on Arm64; bandwidth-bound).
/// Larger n (prefill, MERT, projector): W is decoded panel by panel into an L2-resident [k, 16] block and multiplied by
/// 6-row tiles of x (<see cref="Gemm"/>, compute-bound).
/// </summary>
public static class MatMulKernels
{
    /// <summary>Up to this many x rows the row dots win over packing panels for the GEMM, by format. Measured on 2 cores
    /// at gate_proj's 14336 × 4096, where the GEMM's packing costs ~8–10 ms whatever n and the row dots decode each
    /// block once for two x rows. Q4_0 (ms, row dots / GEMM, best of ten in one run, session 20): 16 rows 13.4 / 20.6,
    /// 20: 16.8 / 20.9, 24: 19.8 / 21.7, 28: 23.2 / 26.2, 32: 26.6 / 27.2, 40: 32.9 / 32.4; Q8_0 at 28: 25.8 / 28.2, at 32:
    /// 29.3 / 29.0 (describe's captions batch one row per chunk: a 3–5 minute song is 17–30). BF16, whose panel packing
    /// costs more: 16 rows 14.3 / 29.1, 32: 23.4 / 31.9, 40: 30.4 / 40.3, 48: 35.7 / 40.4, 64: 50.3 / 53.2. F32 breaks even
    /// near 8 rows and F16 (a vector half → float conversion per 16 weights) near 5 (session 11).</summary>
    static int RowDotRows(WeightFormat format) => format switch
    {
        WeightFormat.Q4_0 or WeightFormat.Q8_0 => 30,
        WeightFormat.BF16 => 48,
        WeightFormat.F32 => 8,
        _ => 5,
    };

    [ThreadStatic] static MatMulJob? job;

    /// <summary>The row-dot loops, narrowest to widest; <c>Buffered</c> (rows decoded to a buffer and dotted) runs anywhere.</summary>
    enum RowDotLoop { Buffered, Vector128, Avx2, Avx512 }

    /// <summary>The widest row-dot loop this CPU runs for rows of k elements.</summary>
    static RowDotLoop WidestRowDots(int k) =>
        RowDots.BlockRowsSupported(k) ? RowDotLoop.Avx512
        : RowDots256.Supported(k) ? RowDotLoop.Avx2
        : RowDots128.Supported(k) ? RowDotLoop.Vector128
        : RowDotLoop.Buffered;

    /// <summary>x: [n, k]; w: [m, k] rows in <paramref name="format"/>; bias: [m] or empty; y: [n, m]. With
    /// <paramref name="int8Activations"/>, x is first rounded to Q8_0 blocks when the weights are Q4_0 or Q8_0, as
    /// llama.cpp does (<see cref="Int8Rows"/>): integer row dots where <see cref="Int8RowDots"/> runs, else the rounded
    /// values go through the float products.</summary>
    public static void MatMul(ReadOnlyMemory<float> x, ReadOnlyMemory<byte> w, WeightFormat format, ReadOnlyMemory<float> bias,
        int n, int k, int m, Memory<float> y, bool int8Activations = false) =>
        Run(x, w, default, format, bias, n, k, m, y, int8Activations && format is WeightFormat.Q4_0 or WeightFormat.Q8_0);

    /// <summary>F32 weights held as floats. x: [n, k]; w: [m, k]; bias: [m] or empty; y: [n, m].</summary>
    public static void MatMul(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias,
        int n, int k, int m, Memory<float> y) => Run(x, default, w, WeightFormat.F32, bias, n, k, m, y, roundX: false);

    static void Run(ReadOnlyMemory<float> x, ReadOnlyMemory<byte> wBytes, ReadOnlyMemory<float> wFloats, WeightFormat format,
        ReadOnlyMemory<float> bias, int n, int k, int m, Memory<float> y, bool roundX)
    {
        if (n == 0 || m == 0) return;
        var j = job ??= new MatMulJob();
        bool rowDots = n <= RowDotRows(format);
        j.Int8 = roundX && rowDots && Int8RowDots.Supported(format, k);
        if (roundX)
        {
            j.RoundedX.Quantize(x.Span, n, k);
            if (!j.Int8)
            {
                if (j.RoundedFloats.Length < n * k) j.RoundedFloats = new float[n * k];
                j.RoundedX.Dequantize(j.RoundedFloats);
                x = j.RoundedFloats.AsMemory(0, n * k);
            }
        }
        j.X = x;
        j.WBytes = wBytes;
        j.WFloats = wFloats;
        j.Format = format;
        j.Bias = bias;
        (j.N, j.K, j.M) = (n, k, m);
        j.Y = y;
        int units = rowDots ? m : (m + Gemm.Width - 1) / Gemm.Width;
        j.Chunks = CpuParallel.Chunks(units, (long)n * k * (m / units));
        j.Units = units;
        j.ByRows = rowDots;
        j.Loop = WidestRowDots(k);
        try { CpuParallel.For(j.Chunks, j); }
        finally { j.Clear(); }
    }

    sealed class MatMulJob : ParallelJob
    {
        public ReadOnlyMemory<float> X, WFloats, Bias;
        public ReadOnlyMemory<byte> WBytes;
        public Memory<float> Y;
        public WeightFormat Format;
        public int N, K, M, Units, Chunks;
        public bool ByRows, Int8;
        public RowDotLoop Loop;
        public float[] RoundedFloats = [];
        public readonly Int8Rows RoundedX = new();

        public override void Run(int chunk)
        {
            int first = (int)((long)Units * chunk / Chunks), end = (int)((long)Units * (chunk + 1) / Chunks);
            var w = WBytes.IsEmpty ? MemoryMarshal.AsBytes(WFloats.Span) : WBytes.Span;
            if (ByRows) DotRows(w, first, end - first);
            else for (int p = first; p < end; p++) Panel(w, p);
        }

        void DotRows(ReadOnlySpan<byte> w, int firstRow, int rows)
        {
            if (Int8)
            {
                Int8RowDots.BlockRows(RoundedX, w, Format, Bias.Span, firstRow, rows, Y.Span, M);
                return;
            }
            var x = X.Span[..(N * K)];
            switch (Loop)
            {
                case RowDotLoop.Avx512: RowDots.BlockRows(x, N, w, Format, Bias.Span, K, firstRow, rows, Y.Span, M); break;
                case RowDotLoop.Avx2: RowDots256.BlockRows(x, N, w, Format, Bias.Span, K, firstRow, rows, Y.Span, M); break;
                case RowDotLoop.Vector128: RowDots128.BlockRows(x, N, w, Format, Bias.Span, K, firstRow, rows, Y.Span, M); break;
                default:
                    for (int i = 0; i < N; i++)
                        RowDots.Rows(x.Slice(i * K, K), w, Format, Bias.Span, K, firstRow, Y.Span.Slice(i * M + firstRow, rows));
                    break;
            }
        }

        void Panel(ReadOnlySpan<byte> w, int panel)
        {
            int j0 = panel * Gemm.Width, columns = Math.Min(Gemm.Width, M - j0);
            var (packed, row) = Gemm.Scratch(K);
            Gemm.PackRows(w, Format, K, j0, columns, row, packed);
            var bias = Bias.IsEmpty ? default : Bias.Span.Slice(j0, columns);
            Gemm.Panel(X.Span, K, packed, bias, N, K, columns, Y.Span, M, j0);
        }

        /// <summary>Drops the references so a finished call keeps no tensors alive.</summary>
        public void Clear()
        {
            X = WFloats = Bias = default;
            WBytes = default;
            Y = default;
        }
    }
}
