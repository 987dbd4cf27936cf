using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>Decodes rows of stored weights (any <see cref="WeightFormat"/>) to float, vectorised.</summary>
public static class WeightRows
{
    /// <summary>Decodes row <paramref name="row"/> of a [rows, k] weight matrix stored in <paramref name="w"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> w, WeightFormat format, int k, int row, Span<float> destination) =>
        Decode(w, format, k, row, 0, k, destination);

    /// <summary>Decodes elements [start, start + length) of row <paramref name="row"/> (for Q8_0/Q4_0, start a multiple of
    /// 32 and length one too unless the range ends the row).</summary>
    public static void Decode(ReadOnlySpan<byte> w, WeightFormat format, int k, int row, int start, int length, Span<float> destination)
    {
        long rowBytes = format.RowBytes(k);
        long first = format.RowBytes(start);
        var src = w.Slice(checked((int)(row * rowBytes + first)), (int)(format.RowBytes(start + length) - first));
        var dst = destination[..length];
        switch (format)
        {
            case WeightFormat.F32: MemoryMarshal.Cast<byte, float>(src).CopyTo(dst); break;
            case WeightFormat.F16: TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst); break;
            case WeightFormat.BF16: DecodeBF16(MemoryMarshal.Cast<byte, ushort>(src), dst); break;
            default: DecodeBlocks(src, format, dst); break;
        }
    }

    static float Scale(ReadOnlySpan<byte> block) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));

    static (Vector256<short> Lo, Vector256<short> Hi) Q8Lanes(ReadOnlySpan<byte> block) =>
        Vector256.Widen(Vector256.Create(MemoryMarshal.Cast<byte, sbyte>(block.Slice(2, 32))));

    /// <summary>Q4_0: y[j] = ((qs[j] &amp; 15) − 8)·d, y[j + 16] = ((qs[j] &gt;&gt; 4) − 8)·d (ggml dequantize_row_q4_0).</summary>
    static (Vector256<short> Lo, Vector256<short> Hi) Q4Lanes(ReadOnlySpan<byte> block)
    {
        var packed = Vector128.Create(block.Slice(2, 16));
        var nibbles = Vector256.Create(packed & Vector128.Create((byte)15), Vector128.ShiftRightLogical(packed, 4));
        var (lo, hi) = Vector256.Widen(nibbles);
        var eight = Vector256.Create((short)8);
        return (lo.AsInt16() - eight, hi.AsInt16() - eight);
    }

    static void DecodeBF16(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= dst.Length; i += 16)
            {
                var bits = Vector256.Create(src.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(bits);
                Vector256.ShiftLeft(lo, 16).AsSingle().CopyTo(dst[i..]);
                Vector256.ShiftLeft(hi, 16).AsSingle().CopyTo(dst[(i + 8)..]);
            }
        }
        for (; i < dst.Length; i++) dst[i] = ScalarMath.BF16ToFloat(src[i]);
    }

    static void DecodeBlocks(ReadOnlySpan<byte> src, WeightFormat format, Span<float> dst)
    {
        if (Avx512F.IsSupported)
        {
            DecodeBlocks512(src, format, dst);
            return;
        }
        if (!Vector256.IsHardwareAccelerated)
        {
            DecodeBlocks128(src, format, dst);
            return;
        }
        int blockBytes = format == WeightFormat.Q8_0 ? WeightFormats.Q8BlockBytes : WeightFormats.Q4BlockBytes;
        for (int b = 0; b < dst.Length / WeightFormats.BlockElements; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            var (lo, hi) = format == WeightFormat.Q8_0 ? Q8Lanes(block) : Q4Lanes(block);
            StoreScaled(lo, hi, Scale(block), dst.Slice(b * WeightFormats.BlockElements, WeightFormats.BlockElements));
        }
    }

    /// <summary>16 lanes a step, the scale from <see cref="HalfTable"/> (the packing for the GEMM path decodes every
    /// weight once per call: the 8-lane loop with a scalar half conversion a block ran at ~3.6 G weights/s a core).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DecodeBlocks512(ReadOnlySpan<byte> src, WeightFormat format, Span<float> dst)
    {
        bool q8 = format == WeightFormat.Q8_0;
        int blockBytes = q8 ? WeightFormats.Q8BlockBytes : WeightFormats.Q4BlockBytes;
        var nibbleValues = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        var mask = Vector128.Create((byte)15);
        float[] halves = HalfTable.Values;
        ref byte source = ref MemoryMarshal.GetReference(src);
        ref float destination = ref MemoryMarshal.GetReference(dst);
        int blocks = dst.Length / WeightFormats.BlockElements;
        if ((long)blocks * blockBytes > src.Length) throw new ArgumentException("source is shorter than the blocks to decode");
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref source, b * blockBytes);
            var d = Vector512.Create(halves[Unsafe.ReadUnaligned<ushort>(ref block)]);
            Vector512<float> lo, hi;
            if (q8)
            {
                var q = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 2)));
                lo = Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(q.GetLower()));
                hi = Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(q.GetUpper()));
            }
            else
            {
                // ggml dequantize_row_q4_0: element j is (low nibble of byte j) − 8, element j + 16 the high nibble − 8.
                var packed = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2));
                lo = Avx512F.PermuteVar16x32(nibbleValues, Avx512F.ConvertToVector512Int32(packed & mask));
                hi = Avx512F.PermuteVar16x32(nibbleValues,
                    Avx512F.ConvertToVector512Int32(Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask));
            }
            (lo * d).StoreUnsafe(ref destination, (nuint)(b * WeightFormats.BlockElements));
            (hi * d).StoreUnsafe(ref destination, (nuint)(b * WeightFormats.BlockElements + 16));
        }
    }

    /// <summary>Blocks with 128-bit vectors alone (Arm64, x86 without AVX2), where Vector256 operations are not
    /// accelerated and the 256-bit loop ran in software: the GEMM's panel packing on such a CPU (and the row dots,
    /// before <see cref="RowDots128"/>: the synthetic Q4_0 GGUF's decode 4.7 → 5.5 tok/s with DOTNET_EnableAVX2=0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DecodeBlocks128(ReadOnlySpan<byte> src, WeightFormat format, Span<float> dst)
    {
        bool q8 = format == WeightFormat.Q8_0;
        int blockBytes = q8 ? WeightFormats.Q8BlockBytes : WeightFormats.Q4BlockBytes;
        float[] halves = HalfTable.Values;
        ref byte source = ref MemoryMarshal.GetReference(src);
        ref float destination = ref MemoryMarshal.GetReference(dst);
        int blocks = dst.Length / WeightFormats.BlockElements;
        if ((long)blocks * blockBytes > src.Length) throw new ArgumentException("source is shorter than the blocks to decode");
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref source, b * blockBytes);
            var d = Vector128.Create(halves[Unsafe.ReadUnaligned<ushort>(ref block)]);
            ref float out0 = ref Unsafe.Add(ref destination, b * WeightFormats.BlockElements);
            if (q8)
            {
                Store16(Vector128.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 2))), d, ref out0);
                Store16(Vector128.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 18))), d, ref Unsafe.Add(ref out0, 16));
                continue;
            }
            var (low, high) = Q4Values(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2)));
            Store16(low, d, ref out0);
            Store16(high, d, ref Unsafe.Add(ref out0, 16));
        }
    }

    /// <summary>16 signed bytes widened to floats, times d, into destination[0..16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store16(Vector128<sbyte> q, Vector128<float> d, ref float destination)
    {
        var (a, b, c, e) = ToSingles(q);
        (a * d).StoreUnsafe(ref destination);
        (b * d).StoreUnsafe(ref destination, 4);
        (c * d).StoreUnsafe(ref destination, 8);
        (e * d).StoreUnsafe(ref destination, 12);
    }

    /// <summary>A Q4_0 block's 16 quant bytes as its 32 weights: elements 0–15 (the low nibbles) and 16–31 (the high
    /// nibbles), each − 8, as signed bytes (ggml dequantize_row_q4_0) — for the 128-bit loops (here,
    /// <see cref="RowDots128"/>, <see cref="Int8RowDots.Portable"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector128<sbyte> Low, Vector128<sbyte> High) Q4Values(Vector128<byte> packed)
    {
        var eight = Vector128.Create((sbyte)8);
        return ((packed & Vector128.Create((byte)15)).AsSByte() - eight, Vector128.ShiftRightLogical(packed, 4).AsSByte() - eight);
    }

    /// <summary>16 signed bytes widened to floats, four to a vector, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector128<float>, Vector128<float>, Vector128<float>, Vector128<float>) ToSingles(Vector128<sbyte> q)
    {
        var (low, high) = Vector128.Widen(q);
        var (a, b) = Vector128.Widen(low);
        var (c, d) = Vector128.Widen(high);
        return (Vector128.ConvertToSingle(a), Vector128.ConvertToSingle(b), Vector128.ConvertToSingle(c), Vector128.ConvertToSingle(d));
    }

    static void StoreScaled(Vector256<short> lo, Vector256<short> hi, float d, Span<float> dst)
    {
        var scale = Vector256.Create(d);
        var (a, b) = Vector256.Widen(lo);
        var (c, e) = Vector256.Widen(hi);
        (Vector256.ConvertToSingle(a) * scale).CopyTo(dst);
        (Vector256.ConvertToSingle(b) * scale).CopyTo(dst[8..]);
        (Vector256.ConvertToSingle(c) * scale).CopyTo(dst[16..]);
        (Vector256.ConvertToSingle(e) * scale).CopyTo(dst[24..]);
    }
}
