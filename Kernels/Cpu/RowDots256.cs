using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// <see cref="RowDots.BlockRows"/> for CPUs with AVX2 and FMA but no AVX-512 (most laptop and desktop x86 parts): the
/// same row groups, x-row pairs and prefetch, 32 weights a block decoded to four 256-bit vectors in natural order. Without
/// it such a CPU fell to <see cref="RowDots.Rows"/> (a stack buffer and a dot per 256 weights): decoding the 2048×16
/// synthetic Q4_0 GGUF ran 7–8 tok/s there against 40+ with AVX-512 (this machine with <c>DOTNET_EnableAVX512=0</c>).
/// Every (x, row) dot is the same chain of operations whatever n and the grouping.
/// </summary>
public static class RowDots256
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>Whether <see cref="BlockRows"/> runs here for rows of k elements.</summary>
    public static bool Supported(int k) => Avx2.IsSupported && Fma.IsSupported && k % Block == 0;

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
        int firstRow, int rows, Span<float> y, int ldy) where TBlock : struct, IBlockFormat256<TBlock>
    {
        int blocks = k / Block, rowBytes = blocks * TBlock.Bytes;
        if (k % Block != 0 || x.Length < n * k || y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
            throw new ArgumentException("BlockRows (AVX2): x, w or y is shorter than the shapes say, or k is not a multiple of 32");
        fixed (byte* weights = w)
        fixed (float* xs = x)
        fixed (float* halves = HalfTable.Values)
        fixed (float* ys = y)
        {
            var kernel = new Kernel<TBlock>(TBlock.Create(), xs, k, rowBytes, blocks, halves);
            RowDots.ForRowGroups(kernel, n, weights + (long)firstRow * rowBytes, rowBytes, bias, firstRow, rows, ys, ldy);
        }
    }

    readonly unsafe struct Kernel<TBlock>(TBlock decoder, float* x, int k, int rowBytes, int blocks, float* halves)
        : RowDots.IRowDotKernel where TBlock : struct, IBlockFormat256<TBlock>
    {
        public Vector128<float> Dot4(int i, byte* group) => RowDots256.Dot4(decoder, x + (long)i * k, group, rowBytes, blocks, halves);

        public (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group) =>
            RowDots256.Dot4x2(decoder, x + (long)i * k, x + (long)(i + 1) * k, group, rowBytes, blocks, halves);

        public float Dot1(int i, byte* row) => RowDots256.Dot1(decoder, x + (long)i * k, row, blocks, halves);
    }

    /// <summary>One x block: 32 floats as four vectors, and, for a format whose decoded weights carry an offset
    /// (<see cref="IBlockFormat256{TSelf}.Offset"/>), offset · (V0 + V1 + V2 + V3) lane-wise: what the block's dot takes
    /// off, once for all the rows that meet this x block.</summary>
    readonly struct XBlock(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, Vector256<float> offsets)
    {
        public readonly Vector256<float> V0 = v0, V1 = v1, V2 = v2, V3 = v3, Offsets = offsets;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe XBlock Load<TBlock>(float* x) where TBlock : struct, IBlockFormat256<TBlock>
        {
            Vector256<float> v0 = Avx.LoadVector256(x), v1 = Avx.LoadVector256(x + 8), v2 = Avx.LoadVector256(x + 16),
                v3 = Avx.LoadVector256(x + 24);
            return new(v0, v1, v2, v3, TBlock.Offset == 0 ? default : ((v0 + v1) + (v2 + v3)) * Vector256.Create(TBlock.Offset));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot4<TBlock>(in TBlock decoder, float* x, byte* row, int rowBytes, int blocks, float* halves)
        where TBlock : struct, IBlockFormat256<TBlock>
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var xb = XBlock.Load<TBlock>(x + b * Block);
            byte* block = row + b * TBlock.Bytes;
            RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
            a0 = Step(decoder, block, xb, halves, a0);
            a1 = Step(decoder, block + rowBytes, xb, halves, a1);
            a2 = Step(decoder, block + 2 * rowBytes, xb, halves, a2);
            a3 = Step(decoder, block + 3 * rowBytes, xb, halves, a3);
        }
        return Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector128<float>, Vector128<float>) Dot4x2<TBlock>(in TBlock decoder, float* x0, float* x1, byte* row,
        int rowBytes, int blocks, float* halves) where TBlock : struct, IBlockFormat256<TBlock>
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var xb0 = XBlock.Load<TBlock>(x0 + b * Block);
            var xb1 = XBlock.Load<TBlock>(x1 + b * Block);
            byte* block = row + b * TBlock.Bytes;
            RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
            (a0, b0) = Step2(decoder, block, xb0, xb1, halves, a0, b0);
            (a1, b1) = Step2(decoder, block + rowBytes, xb0, xb1, halves, a1, b1);
            (a2, b2) = Step2(decoder, block + 2 * rowBytes, xb0, xb1, halves, a2, b2);
            (a3, b3) = Step2(decoder, block + 3 * rowBytes, xb0, xb1, halves, a3, b3);
        }
        return (Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3)),
            Vector128.Create(Vector256.Sum(b0), Vector256.Sum(b1), Vector256.Sum(b2), Vector256.Sum(b3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot1<TBlock>(in TBlock decoder, float* x, byte* row, int blocks, float* halves)
        where TBlock : struct, IBlockFormat256<TBlock>
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Step(decoder, row + b * TBlock.Bytes, XBlock.Load<TBlock>(x + b * Block), halves, acc);
        return Vector256.Sum(acc);
    }

    /// <summary>The block's 32 products summed lane-wise: w·x over the four vectors (less x's offset sums where the
    /// decoded weights carry one), times the block's f16 scale for the quantized formats, into acc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector256<float> Step<TBlock>(in TBlock decoder, byte* block, in XBlock x, float* halves, Vector256<float> acc)
        where TBlock : struct, IBlockFormat256<TBlock>
    {
        var (w0, w1, w2, w3) = decoder.Decode(block);
        return Accumulate<TBlock>(w0, w1, w2, w3, x, block, halves, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector256<float>, Vector256<float>) Step2<TBlock>(in TBlock decoder, byte* block, in XBlock x0, in XBlock x1,
        float* halves, Vector256<float> acc0, Vector256<float> acc1) where TBlock : struct, IBlockFormat256<TBlock>
    {
        var (w0, w1, w2, w3) = decoder.Decode(block);
        return (Accumulate<TBlock>(w0, w1, w2, w3, x0, block, halves, acc0), Accumulate<TBlock>(w0, w1, w2, w3, x1, block, halves, acc1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector256<float> Accumulate<TBlock>(Vector256<float> w0, Vector256<float> w1, Vector256<float> w2,
        Vector256<float> w3, in XBlock x, byte* block, float* halves, Vector256<float> acc) where TBlock : struct, IBlockFormat256<TBlock>
    {
        if (!TBlock.Scaled)
            return Fma.MultiplyAdd(w3, x.V3, Fma.MultiplyAdd(w2, x.V2, Fma.MultiplyAdd(w1, x.V1, Fma.MultiplyAdd(w0, x.V0, acc))));
        var first = TBlock.Offset == 0 ? w0 * x.V0 : Fma.MultiplySubtract(w0, x.V0, x.Offsets);
        var t = Fma.MultiplyAdd(w3, x.V3, Fma.MultiplyAdd(w2, x.V2, Fma.MultiplyAdd(w1, x.V1, first)));
        return Fma.MultiplyAdd(t, Vector256.Create(halves[*(ushort*)block]), acc);
    }

    /// <summary>A weight format read 32 elements at a time: its block bytes, whether the decoded weights still need the
    /// block's leading f16 scale, what every decoded weight still needs taken off (the dot takes offset·Σx off instead),
    /// and the 32 weights as four vectors in natural order.</summary>
    interface IBlockFormat256<TSelf> where TSelf : struct, IBlockFormat256<TSelf>
    {
        static abstract int Bytes { get; }
        static abstract bool Scaled { get; }
        static virtual float Offset => 0f;
        static abstract TSelf Create();
        unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block);
    }

    readonly struct F32 : IBlockFormat256<F32>
    {
        public static int Bytes => 4 * Block;
        public static bool Scaled => false;
        public static F32 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block)
        {
            var w = (float*)block;
            return (Avx.LoadVector256(w), Avx.LoadVector256(w + 8), Avx.LoadVector256(w + 16), Avx.LoadVector256(w + 24));
        }
    }

    /// <summary>bf16 is the top half of an fp32: zero-extend to 32 bits and shift left 16.</summary>
    readonly struct BF16 : IBlockFormat256<BF16>
    {
        public static int Bytes => 2 * Block;
        public static bool Scaled => false;
        public static BF16 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block)
        {
            var h = (ushort*)block;
            return (Widen(h), Widen(h + 8), Widen(h + 16), Widen(h + 24));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static unsafe Vector256<float> Widen(ushort* h) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h), 16).AsSingle();
    }

    readonly struct F16 : IBlockFormat256<F16>
    {
        public static int Bytes => 2 * Block;
        public static bool Scaled => false;
        public static F16 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block)
        {
            var h = (ushort*)block;
            return (HalfToSingle(h), HalfToSingle(h + 8), HalfToSingle(h + 16), HalfToSingle(h + 24));
        }

        /// <summary>Eight IEEE halves → floats, exact (as RowDots' 512-bit one): magnitude bits moved to the float
        /// position and scaled by 2¹¹² (which also normalises subnormals); infinities and NaNs get the all-ones exponent
        /// back; the sign is or-ed in.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static unsafe Vector256<float> HalfToSingle(ushort* halves)
        {
            var h = Avx2.ConvertToVector256Int32(halves).AsUInt32();
            var magnitude = Avx2.ShiftLeftLogical(h & Vector256.Create(0x7FFFu), 13);
            var value = magnitude.AsSingle() * Vector256.Create(5.192296858534828e33f);
            var special = Vector256.Equals(h & Vector256.Create(0x7C00u), Vector256.Create(0x7C00u));
            var result = Vector256.ConditionalSelect(special.AsSingle(), (magnitude | Vector256.Create(0x7F800000u)).AsSingle(), value);
            return result | Avx2.ShiftLeftLogical(h & Vector256.Create(0x8000u), 16).AsSingle();
        }
    }

    /// <summary>Q8_0: f16 scale d, 32 int8 q, sign-extended eight at a time (vpmovsxbd).</summary>
    readonly struct Q8 : IBlockFormat256<Q8>
    {
        public static int Bytes => WeightFormats.Q8BlockBytes;
        public static bool Scaled => true;
        public static Q8 Create() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block)
        {
            var q = (sbyte*)block + 2;
            return (Widen(q), Widen(q + 8), Widen(q + 16), Widen(q + 24));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static unsafe Vector256<float> Widen(sbyte* q) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q));
    }

    /// <summary>Q4_0: f16 scale d, 16 bytes; element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8
    /// (ggml dequantize_row_q4_0). Bytes 0–7 and 8–15 are zero-extended to eight int32 lanes each (vpmovzxbd); masking
    /// gives elements 0–15 and shifting by 4 elements 16–31, already in x's order. The nibbles are converted as they are
    /// and the 8 comes off as 8·Σx, once per x block for every row (<see cref="XBlock"/>): four subtractions a block-row
    /// fewer in a loop bound by its vector ops.</summary>
    readonly struct Q4 : IBlockFormat256<Q4>
    {
        readonly Vector256<int> nibble;

        public Q4() => nibble = Vector256.Create(15);

        public static int Bytes => WeightFormats.Q4BlockBytes;
        public static bool Scaled => true;
        public static float Offset => 8f;
        public static Q4 Create() => new();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Decode(byte* block)
        {
            var first = Avx2.ConvertToVector256Int32(block + 2);
            var second = Avx2.ConvertToVector256Int32(block + 10);
            return (Avx.ConvertToVector256Single(first & nibble), Avx.ConvertToVector256Single(second & nibble),
                Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(first, 4)), Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(second, 4)));
        }
    }
}
