using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// <see cref="RowDots.BlockRows"/> for CPUs whose widest accelerated vectors are 128-bit (Arm64's NEON; x86 without AVX2),
/// written on the cross-platform <see cref="Vector128"/> operations alone: the same row groups of four, 32 weights a
/// block decoded in registers and dotted as two independent 16-element chains (one FMA chain of 32 was bound by its
/// latency). Without it such a CPU decoded each row 256 weights at a time into a buffer and dotted that with
/// TensorPrimitives (<see cref="RowDots.Rows"/>): the synthetic Q4_0 GGUF decoded at 5.5 tok/s here with
/// DOTNET_EnableAVX2=0 (SSE alone, no FMA), 11.2 with these. An x row pair goes through the group twice (the blocks are in cache the second
/// time), so every (x, row) dot is the same chain of operations whatever n and the grouping.
/// </summary>
public static class RowDots128
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>Whether <see cref="BlockRows"/> runs here for rows of k elements.</summary>
    public static bool Supported(int k) => Vector128.IsHardwareAccelerated && k % Block == 0;

    /// <summary>y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias) for r &lt; rows, i &lt; n; x: [n, k] in natural
    /// order. Needs <see cref="Supported"/>.</summary>
    public static void BlockRows(ReadOnlySpan<float> x, int n, ReadOnlySpan<byte> w, WeightFormat format,
        ReadOnlySpan<float> bias, int k, int firstRow, int rows, Span<float> y, int ldy)
    {
        switch (format)
        {
            case WeightFormat.Q8_0: BlockRows<Q8>(x, n, w, bias, k, firstRow, rows, y, ldy); break;
            case WeightFormat.Q4_0: BlockRows<Q4>(x, n, w, bias, k, firstRow, rows, y, ldy); break;
            case WeightFormat.BF16: BlockRows<BF16>(x, n, w, bias, k, firstRow, rows, y, ldy); break;
            case WeightFormat.F16: BlockRows<F16>(x, n, w, bias, k, firstRow, rows, y, ldy); break;
            default: BlockRows<F32>(x, n, w, bias, k, firstRow, rows, y, ldy); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void BlockRows<TBlock>(ReadOnlySpan<float> x, int n, ReadOnlySpan<byte> w, ReadOnlySpan<float> bias, int k,
        int firstRow, int rows, Span<float> y, int ldy) where TBlock : struct, IBlockFormat128
    {
        int blocks = k / Block, rowBytes = blocks * TBlock.Bytes;
        if (k % Block != 0 || x.Length < n * k || y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
            throw new ArgumentException("BlockRows (128-bit): x, w or y is shorter than the shapes say, or k is not a multiple of 32");
        fixed (byte* weights = w)
        fixed (float* xs = x)
        fixed (float* halves = HalfTable.Values)
        fixed (float* ys = y)
        {
            var kernel = new Kernel<TBlock>(xs, k, rowBytes, blocks, halves);
            RowDots.ForRowGroups(kernel, n, weights + (long)firstRow * rowBytes, rowBytes, bias, firstRow, rows, ys, ldy);
        }
    }

    readonly unsafe struct Kernel<TBlock>(float* x, int k, int rowBytes, int blocks, float* halves) : RowDots.IRowDotKernel
        where TBlock : struct, IBlockFormat128
    {
        public Vector128<float> Dot4(int i, byte* group) => RowDots128.Dot4<TBlock>(x + (long)i * k, group, rowBytes, blocks, halves);

        public (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group) => (Dot4(i, group), Dot4(i + 1, group));

        public float Dot1(int i, byte* row) => RowDots128.Dot1<TBlock>(x + (long)i * k, row, blocks, halves);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot4<TBlock>(float* x, byte* row, int rowBytes, int blocks, float* halves)
        where TBlock : struct, IBlockFormat128
    {
        Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            float* xb = x + b * Block;
            byte* block = row + b * TBlock.Bytes;
            if (Sse.IsSupported) RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
            a0 = TBlock.Step(block, xb, halves, a0);
            a1 = TBlock.Step(block + rowBytes, xb, halves, a1);
            a2 = TBlock.Step(block + 2 * rowBytes, xb, halves, a2);
            a3 = TBlock.Step(block + 3 * rowBytes, xb, halves, a3);
        }
        return Vector128.Create(Vector128.Sum(a0), Vector128.Sum(a1), Vector128.Sum(a2), Vector128.Sum(a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot1<TBlock>(float* x, byte* row, int blocks, float* halves) where TBlock : struct, IBlockFormat128
    {
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < blocks; b++) acc = TBlock.Step(row + b * TBlock.Bytes, x + b * Block, halves, acc);
        return Vector128.Sum(acc);
    }

    /// <summary>A weight format read 32 elements at a time: its block bytes, and acc plus the block's 32 products with x
    /// lane-wise (times the block's f16 scale for the quantized formats).</summary>
    interface IBlockFormat128
    {
        static abstract int Bytes { get; }
        static abstract unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc);
    }

    /// <summary>t + Σ w[4j..4j+4)·x[4j..4j+4) over four vectors of weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot16(Vector128<float> w0, Vector128<float> w1, Vector128<float> w2, Vector128<float> w3,
        float* x, Vector128<float> t)
    {
        t = Vector128.MultiplyAddEstimate(w0, Vector128.Load(x), t);
        t = Vector128.MultiplyAddEstimate(w1, Vector128.Load(x + 4), t);
        t = Vector128.MultiplyAddEstimate(w2, Vector128.Load(x + 8), t);
        return Vector128.MultiplyAddEstimate(w3, Vector128.Load(x + 12), t);
    }

    /// <summary>Σ q[j]·x[j] over 16 signed bytes, widened to floats, as four lane-wise partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot16(Vector128<sbyte> q, float* x)
    {
        var (a, b, c, d) = WeightRows.ToSingles(q);
        return Dot16(a, b, c, d, x, Vector128<float>.Zero);
    }

    readonly struct F32 : IBlockFormat128
    {
        public static int Bytes => 4 * Block;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc)
        {
            var w = (float*)block;
            var low = Dot16(Vector128.Load(w), Vector128.Load(w + 4), Vector128.Load(w + 8), Vector128.Load(w + 12), x, Vector128<float>.Zero);
            var high = Dot16(Vector128.Load(w + 16), Vector128.Load(w + 20), Vector128.Load(w + 24), Vector128.Load(w + 28), x + 16,
                Vector128<float>.Zero);
            return acc + (low + high);
        }
    }

    /// <summary>A 16-bit float format: eight of its values widened to floats, as two vectors.</summary>
    interface IHalfFormat
    {
        static abstract (Vector128<float>, Vector128<float>) Widen(Vector128<ushort> bits);
    }

    /// <summary>The step of a 16-bit float format: its 32 values widened and dotted as two 16-element chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> HalfStep<THalf>(byte* block, float* x, Vector128<float> acc) where THalf : IHalfFormat
    {
        var h = (ushort*)block;
        var (w0, w1) = THalf.Widen(Vector128.Load(h));
        var (w2, w3) = THalf.Widen(Vector128.Load(h + 8));
        var (w4, w5) = THalf.Widen(Vector128.Load(h + 16));
        var (w6, w7) = THalf.Widen(Vector128.Load(h + 24));
        return acc + (Dot16(w0, w1, w2, w3, x, Vector128<float>.Zero) + Dot16(w4, w5, w6, w7, x + 16, Vector128<float>.Zero));
    }

    /// <summary>bf16 is the top half of an fp32: zero-extend to 32 bits and shift left 16.</summary>
    readonly struct BF16 : IBlockFormat128, IHalfFormat
    {
        public static int Bytes => 2 * Block;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc) =>
            HalfStep<BF16>(block, x, acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector128<float>, Vector128<float>) Widen(Vector128<ushort> bits)
        {
            var (low, high) = Vector128.Widen(bits);
            return (Vector128.ShiftLeft(low, 16).AsSingle(), Vector128.ShiftLeft(high, 16).AsSingle());
        }
    }

    readonly struct F16 : IBlockFormat128, IHalfFormat
    {
        public static int Bytes => 2 * Block;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc) =>
            HalfStep<F16>(block, x, acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector128<float>, Vector128<float>) Widen(Vector128<ushort> bits)
        {
            var (low, high) = Vector128.Widen(bits);
            return (HalfToSingle(low), HalfToSingle(high));
        }

        /// <summary>Four IEEE halves → floats, exact (as RowDots' 512-bit one): magnitude bits moved to the float position
        /// and scaled by 2¹¹² (which also normalises subnormals); infinities and NaNs get the all-ones exponent back; the
        /// sign is or-ed in.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector128<float> HalfToSingle(Vector128<uint> h)
        {
            var magnitude = Vector128.ShiftLeft(h & Vector128.Create(0x7FFFu), 13);
            var value = magnitude.AsSingle() * Vector128.Create(5.192296858534828e33f);
            var special = Vector128.Equals(h & Vector128.Create(0x7C00u), Vector128.Create(0x7C00u));
            var result = Vector128.ConditionalSelect(special.AsSingle(), (magnitude | Vector128.Create(0x7F800000u)).AsSingle(), value);
            return result | Vector128.ShiftLeft(h & Vector128.Create(0x8000u), 16).AsSingle();
        }
    }

    /// <summary>Q8_0: f16 scale d, 32 int8 q.</summary>
    readonly struct Q8 : IBlockFormat128
    {
        public static int Bytes => WeightFormats.Q8BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc)
        {
            var q = (sbyte*)block + 2;
            var t = Dot16(Vector128.Load(q), x) + Dot16(Vector128.Load(q + 16), x + 16);
            return Vector128.MultiplyAddEstimate(t, Vector128.Create(halves[*(ushort*)block]), acc);
        }
    }

    /// <summary>Q4_0: f16 scale d, 16 bytes; element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8
    /// (ggml dequantize_row_q4_0, <see cref="WeightRows.Q4Values"/>): the 8 comes off in the bytes, then they widen as
    /// Q8_0's do.</summary>
    readonly struct Q4 : IBlockFormat128
    {
        public static int Bytes => WeightFormats.Q4BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector128<float> Step(byte* block, float* x, float* halves, Vector128<float> acc)
        {
            var (low, high) = WeightRows.Q4Values(Vector128.Load(block + 2));
            var t = Dot16(low, x) + Dot16(high, x + 16);
            return Vector128.MultiplyAddEstimate(t, Vector128.Create(halves[*(ushort*)block]), acc);
        }
    }
}
