using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// y[r] = Σ x[c]·W[r, c] over stored rows, dequantizing in registers (the decode path: n = 1, bandwidth-bound). x stays
/// fp32 — llama.cpp rounds x to int8 per block for integer dot products, but that moves log-probs by ~0.1 and the
/// parity tests hold us to the dequantized fp32 reference. With AVX-512 each format has a 16-lane loop (the quantized
/// ones over x in lane order, <see cref="QuantizedRows"/>); without it rows are decoded to a stack buffer and dotted.
/// </summary>
static class RowDots
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>y[r] = x · W[firstRow + r] (+ bias) for r in [0, y.Length). x: [k]; w: [rows, k] in <paramref name="format"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ReadOnlySpan<float> x, ReadOnlySpan<byte> w, WeightFormat format, ReadOnlySpan<float> bias,
        int k, int firstRow, Span<float> y)
    {
        int rowBytes = (int)format.RowBytes(k);
        ref float xr = ref MemoryMarshal.GetReference(x);
        for (int r = 0; r < y.Length; r++)
        {
            var row = w.Slice((firstRow + r) * rowBytes, rowBytes);
            float dot = Avx512F.IsSupported && !format.IsBlockQuantized() ? Dot512(ref xr, ref MemoryMarshal.GetReference(row), format, k)
                : DotPortable(x[..k], row, format, k);
            y[r] = dot + (bias.IsEmpty ? 0f : bias[firstRow + r]);
        }
    }

    static float Dot512(ref float x, ref byte row, WeightFormat format, int k) => format switch
    {
        WeightFormat.F32 => DotF32(ref x, ref Unsafe.As<byte, float>(ref row), k),
        WeightFormat.BF16 => DotBF16(ref x, ref Unsafe.As<byte, ushort>(ref row), k),
        _ => DotF16(ref x, ref Unsafe.As<byte, ushort>(ref row), k),
    };

    static float DotPortable(ReadOnlySpan<float> x, ReadOnlySpan<byte> row, WeightFormat format, int k)
    {
        const int Piece = 256;
        Span<float> decoded = stackalloc float[Piece];
        float sum = 0;
        for (int c = 0; c < k; c += Piece)
        {
            int length = Math.Min(Piece, k - c);
            long start = format.RowBytes(c), end = format.RowBytes(c + length);
            WeightRows.Decode(row[(int)start..(int)end], format, length, 0, decoded);
            sum += TensorPrimitives.Dot(x.Slice(c, length), decoded[..length]);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotF32(ref float x, ref float w, int k)
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        int c = 0;
        for (; c + 32 <= k; c += 32)
        {
            a0 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w, (nuint)c), Vector512.LoadUnsafe(ref x, (nuint)c), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref w, (nuint)c + 16), Vector512.LoadUnsafe(ref x, (nuint)c + 16), a1);
        }
        float sum = Vector512.Sum(a0 + a1);
        for (; c < k; c++) sum += Unsafe.Add(ref w, c) * Unsafe.Add(ref x, c);
        return sum;
    }

    /// <summary>bf16 is the top half of an fp32: zero-extend to 32 bits and shift left 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotBF16(ref float x, ref ushort w, int k)
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        int c = 0;
        for (; c + 32 <= k; c += 32)
        {
            var w0 = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w, (nuint)c)), 16);
            var w1 = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w, (nuint)c + 16)), 16);
            a0 = Avx512F.FusedMultiplyAdd(w0.AsSingle(), Vector512.LoadUnsafe(ref x, (nuint)c), a0);
            a1 = Avx512F.FusedMultiplyAdd(w1.AsSingle(), Vector512.LoadUnsafe(ref x, (nuint)c + 16), a1);
        }
        float sum = Vector512.Sum(a0 + a1);
        for (; c < k; c++) sum += ScalarMath.BF16ToFloat(Unsafe.Add(ref w, c)) * Unsafe.Add(ref x, c);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotF16(ref float x, ref ushort w, int k)
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        int c = 0;
        for (; c + 32 <= k; c += 32)
        {
            a0 = Avx512F.FusedMultiplyAdd(HalfToSingle(Vector256.LoadUnsafe(ref w, (nuint)c)), Vector512.LoadUnsafe(ref x, (nuint)c), a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfToSingle(Vector256.LoadUnsafe(ref w, (nuint)c + 16)), Vector512.LoadUnsafe(ref x, (nuint)c + 16), a1);
        }
        float sum = Vector512.Sum(a0 + a1);
        for (; c < k; c++) sum += ScalarMath.HalfToFloat(Unsafe.Add(ref w, c)) * Unsafe.Add(ref x, c);
        return sum;
    }

    /// <summary>16 IEEE halves (in the low 16 bits of each lane) → floats, exact: magnitude bits moved to the float position and scaled by 2¹¹² (which also
    /// normalises subnormals); infinities and NaNs get the all-ones exponent back; the sign is or-ed in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> HalfToSingle(Vector256<ushort> bits) => HalfToSingle(Avx512F.ConvertToVector512UInt32(bits));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        var magnitude = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x7FFFu), 13);
        var value = magnitude.AsSingle() * Vector512.Create(5.192296858534828e33f);
        var special = Vector512.Equals(h & Vector512.Create(0x7C00u), Vector512.Create(0x7C00u));
        var result = Vector512.ConditionalSelect(special.AsSingle(), (magnitude | Vector512.Create(0x7F800000u)).AsSingle(), value);
        return result | Avx512F.ShiftLeftLogical(h & Vector512.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>Rewrites x (length a multiple of 16) into the lane order the quantized loops decode weights in: within
    /// each 16 elements, lane i holds element 4·(i mod 4) + i/4 — a 4×4 transpose. A block's bytes are broadcast to the
    /// four 128-bit lanes and lane i shifts out byte i/4 of dword i mod 4, so the weights arrive in this order without a
    /// byte-widening shuffle (which, with the permute that mapped nibbles to floats, held the earlier loop to ~17 G
    /// weights/s on 2 cores).</summary>
    public static void ToLaneOrder(ReadOnlySpan<float> x, Span<float> destination)
    {
        if (x.Length % 16 != 0 || destination.Length < x.Length)
            throw new ArgumentException($"lane order needs a multiple of 16 elements and room for them, got {x.Length} into {destination.Length}");
        var order = Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for (int c = 0; c < x.Length; c += 16)
            Vector512.Shuffle(Vector512.Create(x.Slice(c, 16)), order).CopyTo(destination.Slice(c, 16));
    }

    /// <summary>Whether <see cref="QuantizedRows"/> takes x of <paramref name="format"/> weights in lane order.</summary>
    public static bool TakesLaneOrder(WeightFormat format) => format == WeightFormat.Q4_0 ? Q4.LaneOrder : Q8.LaneOrder;

    /// <summary>y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias) for r &lt; rows, i &lt; n, over Q8_0 or Q4_0 rows;
    /// x: [n, k], in lane order (<see cref="ToLaneOrder"/>) where <see cref="TakesLaneOrder"/> says so. Needs AVX-512.
    /// Rows go four at a time, and each group meets the x rows two at a time while its blocks are still in cache, so a
    /// batch reads the weights from memory once. Every (x, row) dot is the same chain of operations whatever n and the
    /// grouping, so a sequence gets the same bits alone and in a batch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void QuantizedRows(ReadOnlySpan<float> x, int n, ReadOnlySpan<byte> w, WeightFormat format,
        ReadOnlySpan<float> bias, int k, int firstRow, int rows, Span<float> y, int ldy)
    {
        int rowBytes = (int)format.RowBytes(k), blocks = k / Block;
        if (x.Length < n * k || y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
            throw new ArgumentException("QuantizedRows: x, w or y is shorter than the shapes say");
        bool q8 = format == WeightFormat.Q8_0;
        fixed (byte* weights = w)
        fixed (float* xs = x)
        fixed (float* halves = HalfTable.Values)
        fixed (float* ys = y)
        {
            byte* first = weights + (long)firstRow * rowBytes;
            int r = 0;
            for (; r + RowGroup <= rows; r += RowGroup)
            {
                byte* group = first + (long)r * rowBytes;
                int i = 0;
                for (; i + 2 <= n; i += 2)
                {
                    var (dots0, dots1) = q8 ? DotQuant4x2<Q8>(xs + i * k, xs + (i + 1) * k, group, rowBytes, blocks, halves)
                        : DotQuant4x2<Q4>(xs + i * k, xs + (i + 1) * k, group, rowBytes, blocks, halves);
                    Store(dots0, bias, firstRow + r, ys + (long)i * ldy);
                    Store(dots1, bias, firstRow + r, ys + (long)(i + 1) * ldy);
                }
                if (i < n)
                    Store(q8 ? DotQuant4<Q8>(xs + i * k, group, rowBytes, blocks, halves) : DotQuant4<Q4>(xs + i * k, group, rowBytes, blocks, halves),
                        bias, firstRow + r, ys + (long)i * ldy);
            }
            for (; r < rows; r++)
            {
                byte* row = first + (long)r * rowBytes;
                for (int i = 0; i < n; i++)
                {
                    float dot = q8 ? DotQuant<Q8>(xs + i * k, row, blocks, halves) : DotQuant<Q4>(xs + i * k, row, blocks, halves);
                    ys[(long)i * ldy + firstRow + r] = dot + (bias.IsEmpty ? 0f : bias[firstRow + r]);
                }
            }
        }
    }

    /// <summary>y[row0 + j] = dots[j] (+ bias[row0 + j]) for the four rows of a group.</summary>
    static unsafe void Store(Vector128<float> dots, ReadOnlySpan<float> bias, int row0, float* y)
    {
        if (!bias.IsEmpty) dots += Vector128.Create(bias.Slice(row0, RowGroup));
        dots.Store(y + row0);
    }

    /// <summary>Rows dotted together, each x block loaded once for all of them.</summary>
    const int RowGroup = 4;

    /// <summary>How far ahead of each row the loop prefetches (8 KB of Q4_0, 15 KB of Q8_0). The four interleaved row
    /// streams defeat the hardware prefetcher: without this a matrix read from DRAM ran at half the rate of one in L3
    /// (Q4_0 lm_head 32000×2048 on 2 cores: 17.6 → 37.7 G weights/s; Q8_0 16.4 → 24.2). Prefetches past the end of the
    /// matrix are harmless: they never fault.</summary>
    const int PrefetchBlocks = 448;

    /// <summary>Four consecutive rows' dots (<see cref="DotQuant{TBlock}"/>): x's two vectors a block are loaded once for
    /// the four rows, and the rows are prefetched <see cref="PrefetchBlocks"/> ahead. x is 16–57 KB at Mistral's shapes,
    /// so reloading it for every row competed with the weight stream for L1 and load ports: grouping took Q4_0 down_proj
    /// from 23 to 33 and Q8_0 from 15 to 27 G weights/s on 2 cores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> DotQuant4<TBlock>(float* x, byte* row, int rowBytes, int blocks, float* halves)
        where TBlock : struct, IQuantBlock<TBlock>
    {
        var decoder = TBlock.Create();
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero;
        var a3 = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            float* xb = x + b * Block;
            var low = Avx512F.LoadVector512(xb);
            var high = Avx512F.LoadVector512(xb + 16);
            byte* block = row + b * TBlock.Bytes;
            Prefetch4(block + PrefetchBlocks * TBlock.Bytes, rowBytes);
            a0 = QuantBlock(decoder, block, low, high, halves, a0);
            a1 = QuantBlock(decoder, block + rowBytes, low, high, halves, a1);
            a2 = QuantBlock(decoder, block + 2 * rowBytes, low, high, halves, a2);
            a3 = QuantBlock(decoder, block + 3 * rowBytes, low, high, halves, a3);
        }
        return Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
    }

    /// <summary><see cref="DotQuant4{TBlock}"/> for two x rows: each block of the four rows is decoded once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector128<float>, Vector128<float>) DotQuant4x2<TBlock>(float* x0, float* x1, byte* row, int rowBytes,
        int blocks, float* halves) where TBlock : struct, IQuantBlock<TBlock>
    {
        var decoder = TBlock.Create();
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var low0 = Avx512F.LoadVector512(x0 + b * Block);
            var high0 = Avx512F.LoadVector512(x0 + b * Block + 16);
            var low1 = Avx512F.LoadVector512(x1 + b * Block);
            var high1 = Avx512F.LoadVector512(x1 + b * Block + 16);
            byte* block = row + b * TBlock.Bytes;
            Prefetch4(block + PrefetchBlocks * TBlock.Bytes, rowBytes);
            (a0, b0) = QuantBlock2(decoder, block, low0, high0, low1, high1, halves, a0, b0);
            (a1, b1) = QuantBlock2(decoder, block + rowBytes, low0, high0, low1, high1, halves, a1, b1);
            (a2, b2) = QuantBlock2(decoder, block + 2 * rowBytes, low0, high0, low1, high1, halves, a2, b2);
            (a3, b3) = QuantBlock2(decoder, block + 3 * rowBytes, low0, high0, low1, high1, halves, a3, b3);
        }
        return (Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3)),
            Vector128.Create(Vector512.Sum(b0), Vector512.Sum(b1), Vector512.Sum(b2), Vector512.Sum(b3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Prefetch4(byte* ahead, int rowBytes)
    {
        Sse.Prefetch0(ahead);
        Sse.Prefetch0(ahead + rowBytes);
        Sse.Prefetch0(ahead + 2 * rowBytes);
        Sse.Prefetch0(ahead + 3 * rowBytes);
    }

    /// <summary>One row's dot (<see cref="DotQuant4{TBlock}"/>'s chain of operations for one row: the rows left over from
    /// the groups of four give the same bits as grouped ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float DotQuant<TBlock>(float* x, byte* row, int blocks, float* halves) where TBlock : struct, IQuantBlock<TBlock>
    {
        var decoder = TBlock.Create();
        var acc = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = QuantBlock(decoder, row + b * TBlock.Bytes, Avx512F.LoadVector512(x + b * Block), Avx512F.LoadVector512(x + b * Block + 16), halves, acc);
        return Vector512.Sum(acc);
    }

    /// <summary>acc + d·(w[0..16]·x[0..16] + w[16..32]·x[16..32]) lane-wise for one block, the weights (before the scale)
    /// decoded by <typeparamref name="TBlock"/> in the order x is in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector512<float> QuantBlock<TBlock>(in TBlock decoder, byte* block, Vector512<float> xLow, Vector512<float> xHigh,
        float* halves, Vector512<float> acc) where TBlock : struct, IQuantBlock<TBlock>
    {
        var (lo, hi) = decoder.Decode(block + 2);
        var t = Avx512F.FusedMultiplyAdd(hi, xHigh, lo * xLow);
        return Avx512F.FusedMultiplyAdd(t, Vector512.Create(halves[*(ushort*)block]), acc);
    }

    /// <summary><see cref="QuantBlock{TBlock}"/> for two x rows, the block decoded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector512<float>, Vector512<float>) QuantBlock2<TBlock>(in TBlock decoder, byte* block, Vector512<float> xLow0,
        Vector512<float> xHigh0, Vector512<float> xLow1, Vector512<float> xHigh1, float* halves, Vector512<float> acc0,
        Vector512<float> acc1) where TBlock : struct, IQuantBlock<TBlock>
    {
        var (lo, hi) = decoder.Decode(block + 2);
        var d = Vector512.Create(halves[*(ushort*)block]);
        return (Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(hi, xHigh0, lo * xLow0), d, acc0),
            Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(hi, xHigh1, lo * xLow1), d, acc1));
    }

    /// <summary>Lane i shifts byte i/4 of dword i mod 4 to the bottom of a broadcast 16-byte group.</summary>
    static Vector512<uint> ByteShifts => Vector512.Create(0u, 0, 0, 0, 8, 8, 8, 8, 16, 16, 16, 16, 24, 24, 24, 24);

    /// <summary>A quantized block format: its size in bytes (an f16 scale first) and its 32 weights before the scale.</summary>
    interface IQuantBlock<TSelf> where TSelf : struct, IQuantBlock<TSelf>
    {
        static abstract int Bytes { get; }

        /// <summary>Whether <see cref="Decode"/> gives the weights in lane order (<see cref="ToLaneOrder"/>), else in natural order.</summary>
        static abstract bool LaneOrder { get; }

        static abstract TSelf Create();
        unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* quants);
    }

    /// <summary>Q8_0: f16 scale d, 32 int8 q, widened in natural order (vpmovsxbd; a lane-order decode by shifts was
    /// slower: 7.5 against 10.5 G weights/s on one core here).</summary>
    readonly struct Q8 : IQuantBlock<Q8>
    {
        public static int Bytes => WeightFormats.Q8BlockBytes;
        public static bool LaneOrder => false;
        public static Q8 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* quants) =>
            (Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)quants))),
                Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)quants + 16))));
    }

    /// <summary>Q4_0: f16 scale d, 16 bytes; element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8
    /// (ggml dequantize_row_q4_0). vpermps reads only the low 4 bits of each index, so the shifted lanes index a
    /// 16-entry table of nibble − 8 directly (no mask, no conversion).</summary>
    readonly struct Q4 : IQuantBlock<Q4>
    {
        readonly Vector512<uint> lowShifts, highShifts;
        readonly Vector512<float> values;

        Q4(Vector512<uint> shifts)
        {
            lowShifts = shifts;
            highShifts = shifts + Vector512.Create(4u);
            values = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        }

        public static int Bytes => WeightFormats.Q4BlockBytes;
        public static bool LaneOrder => true;
        public static Q4 Create() => new(ByteShifts);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* quants)
        {
            var packed = Avx512F.BroadcastVector128ToVector512((uint*)quants);
            return (Avx512F.PermuteVar16x32(values, Avx512F.ShiftRightLogicalVariable(packed, lowShifts).AsInt32()),
                Avx512F.PermuteVar16x32(values, Avx512F.ShiftRightLogicalVariable(packed, highShifts).AsInt32()));
        }
    }
}
