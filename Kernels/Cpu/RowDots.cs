using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// y[r] = Σ x[c]·W[r, c] over stored rows, decoding the weights in registers (decode and small batches:
/// bandwidth-bound). x stays fp32: llama.cpp rounds x to int8 per block for integer dot products, which moves log-probs
/// by ~0.1 from the dequantized fp32 reference the parity tests hold us to (that arithmetic is the opt-in
/// <see cref="Int8RowDots"/>). With AVX-512 and k a multiple of
/// 32, every format goes 32 elements at a time through one grouped loop (<see cref="BlockRows"/>); otherwise rows are
/// decoded to a stack buffer and dotted (<see cref="Rows"/>).
/// </summary>
static class RowDots
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>Whether <see cref="BlockRows"/> handles these rows here.</summary>
    public static bool BlockRowsSupported(int k) => Avx512F.IsSupported && k % Block == 0;

    /// <summary>y[r] = x · W[firstRow + r] (+ bias) for r in [0, y.Length), portably. x: [k]; w: [rows, k].</summary>
    public static void Rows(ReadOnlySpan<float> x, ReadOnlySpan<byte> w, WeightFormat format, ReadOnlySpan<float> bias,
        int k, int firstRow, Span<float> y)
    {
        int rowBytes = (int)format.RowBytes(k);
        const int Piece = 256;
        Span<float> decoded = stackalloc float[Piece];
        for (int r = 0; r < y.Length; r++)
        {
            var row = w.Slice((firstRow + r) * rowBytes, rowBytes);
            float sum = 0;
            for (int c = 0; c < k; c += Piece)
            {
                int length = Math.Min(Piece, k - c);
                long start = format.RowBytes(c), end = format.RowBytes(c + length);
                WeightRows.Decode(row[(int)start..(int)end], format, length, 0, decoded);
                sum += TensorPrimitives.Dot(x.Slice(c, length), decoded[..length]);
            }
            y[r] = sum + (bias.IsEmpty ? 0f : bias[firstRow + r]);
        }
    }

    /// <summary>y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias) for r &lt; rows, i &lt; n; x: [n, k]. Needs
    /// <see cref="BlockRowsSupported"/>.
    /// Rows go four at a time, and each group meets the x rows two at a time while its blocks are still in cache, so a
    /// batch reads the weights from memory once. Every (x, row) dot is the same chain of operations whatever n and the
    /// grouping, so a sequence gets the same bits alone and in a batch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        int firstRow, int rows, Span<float> y, int ldy) where TBlock : struct, IBlockFormat<TBlock>
    {
        int blocks = k / Block, rowBytes = blocks * TBlock.Bytes;
        if (k % Block != 0 || x.Length < n * k || y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
            throw new ArgumentException("BlockRows: x, w or y is shorter than the shapes say, or k is not a multiple of 32");
        fixed (byte* weights = w)
        fixed (float* xs = x)
        fixed (float* halves = HalfTable.Values)
        fixed (float* ys = y)
        {
            // The decoder once a call: created per row group, the JIT left it a call (3 % of decode).
            var kernel = new Kernel<TBlock>(TBlock.Create(), xs, k, rowBytes, blocks, halves);
            ForRowGroups(kernel, n, weights + (long)firstRow * rowBytes, rowBytes, bias, firstRow, rows, ys, ldy);
        }
    }

    /// <summary>One call's row dots for <see cref="ForRowGroups{TKernel}"/>: x row i against one row, a group of four, or a
    /// group of four and x row i + 1 too.</summary>
    internal unsafe interface IRowDotKernel
    {
        Vector128<float> Dot4(int i, byte* group);
        (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group);
        float Dot1(int i, byte* row);
    }

    /// <summary>The loop every row-dot kernel shares: rows <see cref="RowGroup"/> at a time, each group meeting the x rows
    /// two at a time while its blocks are still in cache (a batch reads the weights from memory once), then the rows left
    /// over one by one; y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias).</summary>
    internal static unsafe void ForRowGroups<TKernel>(in TKernel kernel, int n, byte* first, int rowBytes, ReadOnlySpan<float> bias,
        int firstRow, int rows, float* ys, int ldy) where TKernel : struct, IRowDotKernel
    {
        int r = 0;
        for (; r + RowGroup <= rows; r += RowGroup)
        {
            byte* group = first + (long)r * rowBytes;
            int i = 0;
            for (; i + 2 <= n; i += 2)
            {
                var (dots0, dots1) = kernel.Dot4x2(i, group);
                Store(dots0, bias, firstRow + r, ys + (long)i * ldy);
                Store(dots1, bias, firstRow + r, ys + (long)(i + 1) * ldy);
            }
            if (i < n) Store(kernel.Dot4(i, group), bias, firstRow + r, ys + (long)i * ldy);
        }
        for (; r < rows; r++)
        {
            byte* row = first + (long)r * rowBytes;
            for (int i = 0; i < n; i++)
                ys[(long)i * ldy + firstRow + r] = kernel.Dot1(i, row) + (bias.IsEmpty ? 0f : bias[firstRow + r]);
        }
    }

    readonly unsafe struct Kernel<TBlock>(TBlock decoder, float* x, int k, int rowBytes, int blocks, float* halves) : IRowDotKernel
        where TBlock : struct, IBlockFormat<TBlock>
    {
        public Vector128<float> Dot4(int i, byte* group) => RowDots.Dot4(decoder, x + (long)i * k, group, rowBytes, blocks, halves);

        public (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group) =>
            RowDots.Dot4x2(decoder, x + (long)i * k, x + (long)(i + 1) * k, group, rowBytes, blocks, halves);

        public float Dot1(int i, byte* row) => RowDots.Dot1(decoder, x + (long)i * k, row, blocks, halves);
    }

    /// <summary>y[row0 + j] = dots[j] (+ bias[row0 + j]) for the four rows of a group.</summary>
    internal static unsafe void Store(Vector128<float> dots, ReadOnlySpan<float> bias, int row0, float* y)
    {
        if (!bias.IsEmpty) dots += Vector128.Create(bias.Slice(row0, RowGroup));
        dots.Store(y + row0);
    }

    /// <summary>Rows dotted together, each x block loaded once for all of them.</summary>
    internal const int RowGroup = 4;

    /// <summary>How far ahead of each row the loop prefetches, into L2 (18 KB of Q4_0, 34 KB of Q8_0). The four interleaved
    /// row streams defeat the hardware prefetcher: with no prefetch a matrix read from DRAM ran at half the rate of one in
    /// L3 (Q4_0 lm_head 32000×2048 on 2 cores: 17.6 → 37.7 G weights/s). 448 blocks into L1 still left the weights that
    /// every decode step reads from DRAM at ~16 GB/s: too little in flight. 1024 into L2 (prefetcht1), on 2 cores, forty
    /// 5632×2048 matrices in turn: Q4_0 372 → 321 µs a product, Q8_0 ~480 → ~270; decoding the 2048×16 synthetic GGUF
    /// (Benchmarks/cpu-vs-peers.sh's) 22 → 35–42 tok/s in Q4_0 and 20–22 → 31–36 in Q8_0, the two builds run in turn.
    /// Prefetches past the end of the matrix are harmless: they never fault.</summary>
    internal const int PrefetchBlocks = 1024;

    /// <summary>Four consecutive rows' dots (<see cref="Dot1{TBlock}"/>): x's two vectors a block are loaded once for the
    /// four rows, and the rows are prefetched <see cref="PrefetchBlocks"/> ahead. x is 16–57 KB at Mistral's shapes, so
    /// reloading it for every row competed with the weight stream for L1 and load ports: grouping took Q4_0 down_proj
    /// from 23 to 33 and Q8_0 from 15 to 27 G weights/s on 2 cores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot4<TBlock>(in TBlock decoder, float* x, byte* row, int rowBytes, int blocks, float* halves)
        where TBlock : struct, IBlockFormat<TBlock>
    {
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
            a0 = Step(decoder, block, low, high, halves, a0);
            a1 = Step(decoder, block + rowBytes, low, high, halves, a1);
            a2 = Step(decoder, block + 2 * rowBytes, low, high, halves, a2);
            a3 = Step(decoder, block + 3 * rowBytes, low, high, halves, a3);
        }
        return Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
    }

    /// <summary><see cref="Dot4{TBlock}"/> for two x rows: each block of the four rows is decoded once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector128<float>, Vector128<float>) Dot4x2<TBlock>(in TBlock decoder, float* x0, float* x1, byte* row, int rowBytes,
        int blocks, float* halves) where TBlock : struct, IBlockFormat<TBlock>
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var low0 = Avx512F.LoadVector512(x0 + b * Block);
            var high0 = Avx512F.LoadVector512(x0 + b * Block + 16);
            var low1 = Avx512F.LoadVector512(x1 + b * Block);
            var high1 = Avx512F.LoadVector512(x1 + b * Block + 16);
            byte* block = row + b * TBlock.Bytes;
            Prefetch4(block + PrefetchBlocks * TBlock.Bytes, rowBytes);
            (a0, b0) = Step2(decoder, block, low0, high0, low1, high1, halves, a0, b0);
            (a1, b1) = Step2(decoder, block + rowBytes, low0, high0, low1, high1, halves, a1, b1);
            (a2, b2) = Step2(decoder, block + 2 * rowBytes, low0, high0, low1, high1, halves, a2, b2);
            (a3, b3) = Step2(decoder, block + 3 * rowBytes, low0, high0, low1, high1, halves, a3, b3);
        }
        return (Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3)),
            Vector128.Create(Vector512.Sum(b0), Vector512.Sum(b1), Vector512.Sum(b2), Vector512.Sum(b3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Prefetch4(byte* ahead, int rowBytes)
    {
        Sse.Prefetch1(ahead);
        Sse.Prefetch1(ahead + rowBytes);
        Sse.Prefetch1(ahead + 2 * rowBytes);
        Sse.Prefetch1(ahead + 3 * rowBytes);
    }

    /// <summary>One row's dot: Σ over blocks of d_b · (w_b · x_b), one accumulator, the chain <see cref="Dot4{TBlock}"/>
    /// runs for each of its rows (so the rows left over from the groups of four give the same bits as grouped ones).
    /// <typeparamref name="TBlock"/> is a struct, so the JIT compiles one loop per format with its decoding inlined; the
    /// decoder holds its constant vectors, which the JIT otherwise reloads every block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot1<TBlock>(in TBlock decoder, float* x, byte* row, int blocks, float* halves) where TBlock : struct, IBlockFormat<TBlock>
    {
        var acc = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Step(decoder, row + b * TBlock.Bytes, Avx512F.LoadVector512(x + b * Block), Avx512F.LoadVector512(x + b * Block + 16), halves, acc);
        return Vector512.Sum(acc);
    }

    /// <summary>acc + w[0..16]·x[0..16] + w[16..32]·x[16..32] lane-wise for one block, the weights decoded by
    /// <typeparamref name="TBlock"/> in the order x is in: two FMAs into acc when the decoded weights are final, else
    /// their products times the block's f16 scale d (<see cref="IBlockFormat{TSelf}.Scaled"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector512<float> Step<TBlock>(in TBlock decoder, byte* block, Vector512<float> xLow, Vector512<float> xHigh,
        float* halves, Vector512<float> acc) where TBlock : struct, IBlockFormat<TBlock>
    {
        var (lo, hi) = decoder.Decode(block, halves);
        if (!TBlock.Scaled) return Avx512F.FusedMultiplyAdd(hi, xHigh, Avx512F.FusedMultiplyAdd(lo, xLow, acc));
        var t = Avx512F.FusedMultiplyAdd(hi, xHigh, lo * xLow);
        return Avx512F.FusedMultiplyAdd(t, Vector512.Create(halves[*(ushort*)block]), acc);
    }

    /// <summary><see cref="Step{TBlock}"/> for two x rows, the block decoded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector512<float>, Vector512<float>) Step2<TBlock>(in TBlock decoder, byte* block, Vector512<float> xLow0,
        Vector512<float> xHigh0, Vector512<float> xLow1, Vector512<float> xHigh1, float* halves, Vector512<float> acc0,
        Vector512<float> acc1) where TBlock : struct, IBlockFormat<TBlock>
    {
        var (lo, hi) = decoder.Decode(block, halves);
        if (!TBlock.Scaled)
            return (Avx512F.FusedMultiplyAdd(hi, xHigh0, Avx512F.FusedMultiplyAdd(lo, xLow0, acc0)),
                Avx512F.FusedMultiplyAdd(hi, xHigh1, Avx512F.FusedMultiplyAdd(lo, xLow1, acc1)));
        var t0 = Avx512F.FusedMultiplyAdd(hi, xHigh0, lo * xLow0);
        var t1 = Avx512F.FusedMultiplyAdd(hi, xHigh1, lo * xLow1);
        var d = Vector512.Create(halves[*(ushort*)block]);
        return (Avx512F.FusedMultiplyAdd(t0, d, acc0), Avx512F.FusedMultiplyAdd(t1, d, acc1));
    }

    /// <summary>A weight format read 32 elements at a time: the bytes of 32 elements, whether the 32 weights it decodes
    /// (two vectors) still need the block's leading f16 scale applied (<c>Scaled</c>: Q8_0, one multiply of the two
    /// products) or are final (the float formats, and Q4_0, which scales its 16-entry table once a block instead).</summary>
    interface IBlockFormat<TSelf> where TSelf : struct, IBlockFormat<TSelf>
    {
        static abstract int Bytes { get; }
        static abstract bool Scaled { get; }
        static abstract TSelf Create();
        unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves);
    }

    readonly struct F32 : IBlockFormat<F32>
    {
        public static int Bytes => 4 * Block;
        public static bool Scaled => false;
        public static F32 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves) =>
            (Avx512F.LoadVector512((float*)block), Avx512F.LoadVector512((float*)block + 16));
    }

    /// <summary>bf16 is the top half of an fp32: zero-extend to 32 bits and shift left 16.</summary>
    readonly struct BF16 : IBlockFormat<BF16>
    {
        public static int Bytes => 2 * Block;
        public static bool Scaled => false;
        public static BF16 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves) =>
            (Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)block)), 16).AsSingle(),
                Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)block + 16)), 16).AsSingle());
    }

    readonly struct F16 : IBlockFormat<F16>
    {
        public static int Bytes => 2 * Block;
        public static bool Scaled => false;
        public static F16 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves) =>
            (HalfToSingle(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)block))),
                HalfToSingle(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)block + 16))));
    }

    /// <summary>16 IEEE halves (in the low 16 bits of each lane) → floats, exact: magnitude bits moved to the float
    /// position and scaled by 2¹¹² (which also normalises subnormals); infinities and NaNs get the all-ones exponent back;
    /// the sign is or-ed in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        var magnitude = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x7FFFu), 13);
        var value = magnitude.AsSingle() * Vector512.Create(5.192296858534828e33f);
        var special = Vector512.Equals(h & Vector512.Create(0x7C00u), Vector512.Create(0x7C00u));
        var result = Vector512.ConditionalSelect(special.AsSingle(), (magnitude | Vector512.Create(0x7F800000u)).AsSingle(), value);
        return result | Avx512F.ShiftLeftLogical(h & Vector512.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>Q8_0: f16 scale d, 32 int8 q, widened in natural order (vpmovsxbd; a lane-order decode by shifts was
    /// slower: 7.5 against 10.5 G weights/s on one core here).</summary>
    readonly struct Q8 : IBlockFormat<Q8>
    {
        public static int Bytes => WeightFormats.Q8BlockBytes;
        public static bool Scaled => true;
        public static Q8 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves) =>
            (Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)block + 2))),
                Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)block + 18))));
    }

    /// <summary>Q4_0: f16 scale d, 16 bytes; element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8
    /// (ggml dequantize_row_q4_0). The 16 bytes are zero-extended to 16 lanes (vpmovzxbd); vpermps reads only the low 4
    /// bits of each index, so the bytes index a 16-entry table of d·(nibble − 8) as they are for the low nibbles, and
    /// shifted right by 4 for the high ones (no mask, no conversion). On 2 cores, 5632×2048 from DRAM, this decode took
    /// 288 µs a product where broadcasting the bytes to the four 128-bit lanes and shifting each lane by its own count
    /// (x rewritten into the matching lane order) took 302 (best of ten rounds, run alternately; one core from L3: 455
    /// against 494). The table is scaled by d: the multiply hangs off the scale alone, not off the decoded bytes, and the
    /// products FMA straight into the accumulator — 7–10 % off a product against scaling the block's sum (2048×5632
    /// from DRAM: 288–303 → 261–265 µs). d·(nibble − 8) is exact in fp32, so only the summation order moved.</summary>
    readonly struct Q4 : IBlockFormat<Q4>
    {
        readonly Vector512<float> values;

        Q4(Vector512<float> values) => this.values = values;

        public static int Bytes => WeightFormats.Q4BlockBytes;
        public static bool Scaled => false;
        public static Q4 Create() => new(Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector512<float> Lo, Vector512<float> Hi) Decode(byte* block, float* halves)
        {
            var bytes = Avx512F.ConvertToVector512Int32(Vector128.Load(block + 2));
            var scaled = values * Vector512.Create(halves[*(ushort*)block]);
            return (Avx512F.PermuteVar16x32(scaled, bytes), Avx512F.PermuteVar16x32(scaled, Avx512F.ShiftRightLogical(bytes, 4)));
        }
    }
}
