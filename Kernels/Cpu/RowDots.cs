using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// y[r] = Σ x[c]·W[r, c] over stored rows, dequantizing in registers (the decode path: n = 1, bandwidth-bound). x stays
/// fp32 — llama.cpp rounds x to int8 per block for integer dot products, but that moves log-probs by ~0.1 and the
/// parity tests hold us to the dequantized fp32 reference. With AVX-512 each format has a 16-lane loop; without it
/// rows are decoded to a stack buffer and dotted.
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
            float dot = Avx512F.IsSupported ? Dot512(ref xr, ref MemoryMarshal.GetReference(row), format, k)
                : DotPortable(x[..k], row, format, k);
            y[r] = dot + (bias.IsEmpty ? 0f : bias[firstRow + r]);
        }
    }

    static float Dot512(ref float x, ref byte row, WeightFormat format, int k) => format switch
    {
        WeightFormat.F32 => DotF32(ref x, ref Unsafe.As<byte, float>(ref row), k),
        WeightFormat.BF16 => DotBF16(ref x, ref Unsafe.As<byte, ushort>(ref row), k),
        WeightFormat.F16 => DotF16(ref x, ref Unsafe.As<byte, ushort>(ref row), k),
        WeightFormat.Q8_0 => DotQuant<Q8>(ref x, ref row, k / Block),
        _ => DotQuant<Q4>(ref x, ref row, k / Block),
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

    /// <summary>Σ over blocks of d_b · (q_b · x_b) for Q8_0 or Q4_0 (<typeparamref name="TBlock"/>, a struct, so the JIT
    /// compiles one loop per format with its decoding inlined). The f16 scales of 16 blocks are widened together (a
    /// scalar Half conversion per block cost a third of the loop); two accumulators hide the FMA latency.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotQuant<TBlock>(ref float x, ref byte row, int blocks) where TBlock : struct, IQuantBlock
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        for (int b0 = 0; b0 < blocks; b0 += 16)
        {
            int count = Math.Min(16, blocks - b0);
            Unsafe.SkipInit(out Scales16 scales);
            BlockScales(ref row, TBlock.Bytes, b0, count).StoreUnsafe(ref scales[0]);
            int j = 0;
            for (; j + 2 <= count; j += 2)
            {
                a0 = QuantBlock<TBlock>(ref x, ref row, b0 + j, Vector512.Create(scales[j]), a0);
                a1 = QuantBlock<TBlock>(ref x, ref row, b0 + j + 1, Vector512.Create(scales[j + 1]), a1);
            }
            if (j < count) a0 = QuantBlock<TBlock>(ref x, ref row, b0 + j, Vector512.Create(scales[j]), a0);
        }
        return Vector512.Sum(a0 + a1);
    }

    /// <summary>Lane j = f16 scale of block b0 + j (the first two bytes of each block) for j &lt; count, gathered
    /// (blockBytes is even, so a 2-byte index scale reaches every block) and widened together.</summary>
    static unsafe Vector512<float> BlockScales(ref byte row, int blockBytes, int b0, int count)
    {
        var lane = Vector512<int>.Indices;
        var index = Vector512.ConditionalSelect(Vector512.LessThan(lane, Vector512.Create(count)),
            (lane + Vector512.Create(b0)) * Vector512.Create(blockBytes / 2), Vector512<int>.Zero);
        fixed (byte* p = &row)
        {
            var gathered = Vector512.Create(Avx2.GatherVector256((int*)p, index.GetLower(), 2),
                Avx2.GatherVector256((int*)p, index.GetUpper(), 2));
            var words = gathered.AsUInt32() & Vector512.Create(0xFFFFu);
            return HalfToSingle(words);
        }
    }

    [InlineArray(16)]
    struct Scales16 { float first; }

    /// <summary>Block b of a quantized row: acc + d·(w[0..16]·x[0..16] + w[16..32]·x[16..32]) lane-wise, the 32 weights
    /// (before the scale) decoded by <typeparamref name="TBlock"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> QuantBlock<TBlock>(ref float x, ref byte row, int b, Vector512<float> d, Vector512<float> acc)
        where TBlock : struct, IQuantBlock
    {
        var (lo, hi) = TBlock.Decode(ref Unsafe.Add(ref row, b * TBlock.Bytes));
        return Scaled(ref Unsafe.Add(ref x, b * Block), lo, hi, d, acc);
    }

    /// <summary>A quantized block format: its size in bytes (an f16 scale first) and its 32 weights before the scale.</summary>
    interface IQuantBlock
    {
        static abstract int Bytes { get; }
        static abstract (Vector512<float> Lo, Vector512<float> Hi) Decode(ref byte block);
    }

    /// <summary>Q8_0: f16 scale d, 32 int8 q.</summary>
    struct Q8 : IQuantBlock
    {
        public static int Bytes => WeightFormats.Q8BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector512<float> Lo, Vector512<float> Hi) Decode(ref byte block)
        {
            var q = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 2)));
            return (Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(q.GetLower())),
                Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(q.GetUpper())));
        }
    }

    /// <summary>Q4_0: f16 scale d, 16 bytes; element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8
    /// (ggml dequantize_row_q4_0). A 16-entry permute maps nibble → float(nibble − 8) in one step.</summary>
    struct Q4 : IQuantBlock
    {
        public static int Bytes => WeightFormats.Q4BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector512<float> Lo, Vector512<float> Hi) Decode(ref byte block)
        {
            var packed = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2));
            var mask = Vector128.Create((byte)15);
            var table = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
            return (Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(packed & mask)),
                Avx512F.PermuteVar16x32(table,
                    Avx512F.ConvertToVector512Int32(Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Scaled(ref float xb, Vector512<float> lo, Vector512<float> hi, Vector512<float> d, Vector512<float> acc)
    {
        var t = Avx512F.FusedMultiplyAdd(hi, Vector512.LoadUnsafe(ref xb, 16), lo * Vector512.LoadUnsafe(ref xb));
        return Avx512F.FusedMultiplyAdd(t, d, acc);
    }

}
