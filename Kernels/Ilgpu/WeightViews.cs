using ILGPU;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>16 bytes read with one load: PTX vectorizes a 16-byte-aligned structure of four 32-bit fields into a
/// single <c>ld.v4</c>, so one lane moves 8 halves, 4 floats or 16 quant bytes per instruction.</summary>
public struct Quad
{
    public uint X, Y, Z, W;
}

/// <summary>Eight weights of one row, decoded in registers: A0..A3 at columns ColA..ColA+3 and B0..B3 at ColB..ColB+3.
/// Plain formats and Q8_0 give 8 consecutive columns (ColB = ColA + 4); Q4_0 gives a byte's low and high nibbles, which
/// sit 16 columns apart (ColB = ColA + 16). Columns at or past K decode to 0.</summary>
public struct Chunk8
{
    public float A0, A1, A2, A3, B0, B1, B2, B3;
    public int ColA, ColB;
}

/// <summary>A stored weight matrix [rows, k] seen several ways over the same bytes (device code reads whichever its
/// format needs): bytes for int8/nibble quants, ushort for F16/BF16 values and block scales, float for F32, and 16-byte
/// quads for vectorized loads of F32/F16/BF16 rows when the rows are 16-byte aligned (<see cref="Vector"/> = 1).</summary>
public readonly struct WeightViews
{
    public readonly ArrayView<byte> Bytes;
    public readonly ArrayView<ushort> Halves;
    public readonly ArrayView<float> Floats;
    public readonly ArrayView<Quad> Quads;
    public readonly int Format;
    public readonly int K;
    public readonly int Vector;

    public WeightViews(ArrayView<byte> bytes, ArrayView<ushort> halves, ArrayView<float> floats, WeightFormat format, int k)
    {
        Bytes = bytes;
        Halves = halves;
        Floats = floats;
        Format = (int)format;
        K = k;
        bool aligned = k % 8 == 0 && Aligned16(bytes) && bytes.Length >= 16;
        Vector = aligned ? 1 : 0;
        Quads = aligned ? bytes.Cast<Quad>() : default;
    }

    /// <summary>Whether the view starts on a 16-byte boundary (buffers themselves are allocated aligned); host side.</summary>
    public static bool Aligned16<T>(ArrayView<T> view) where T : unmanaged =>
        view.IsValid && ((IContiguousArrayView)view).IndexInBytes % 16 == 0;

    /// <summary>Chunks of 8 weights per row (the last one of an F32/F16/BF16 row may be partial).</summary>
    public int ChunksPerRow => (K + 7) / 8;

    long BlockOffset(int row, int block, int blockBytes) => ((long)row * (K / WeightFormats.BlockElements) + block) * blockBytes;

    /// <summary>Element [row, col] as float (embedding lookups).</summary>
    public float Element(int row, int col) => Element(Format, row, col);

    /// <summary>Element [row, col] as float, <paramref name="format"/> being <see cref="Format"/> as a compile-time value
    /// (see <see cref="Chunk"/>).</summary>
    float Element(int format, int row, int col)
    {
        long index = (long)row * K + col;
        if (format == (int)WeightFormat.F32) return Floats[index];
        if (format == (int)WeightFormat.F16) return ScalarMath.HalfToFloat(Halves[index]);
        if (format == (int)WeightFormat.BF16) return ScalarMath.BF16ToFloat(Halves[index]);
        int block = col / WeightFormats.BlockElements, q = col % WeightFormats.BlockElements;
        if (format == (int)WeightFormat.Q8_0)
        {
            long b8 = BlockOffset(row, block, WeightFormats.Q8BlockBytes);
            return ScalarMath.HalfToFloat(Halves[b8 / 2]) * SignedByte(Bytes[b8 + 2 + q], 0);
        }
        long b4 = BlockOffset(row, block, WeightFormats.Q4BlockBytes);
        int packed = Bytes[b4 + 2 + (q & 15)];
        int nibble = q < 16 ? packed & 15 : packed >> 4;
        return ScalarMath.HalfToFloat(Halves[b4 / 2]) * (nibble - 8);
    }

    /// <summary>Chunk <paramref name="chunk"/> (0 ≤ chunk &lt; <see cref="ChunksPerRow"/>) of row <paramref name="row"/>,
    /// dequantized in registers. A quantized block of 32 is 4 chunks, so 4 neighbouring lanes share one block's scale.
    /// <paramref name="format"/> is <see cref="Format"/> and <paramref name="vector"/> is <see cref="Vector"/> (or 0),
    /// passed in as a kernel's <c>SpecializedValue</c>s where it can: ILGPU then compiles one kernel per format with the
    /// other formats' code, and the unaligned path when vector is 1, removed (ptxas counted 6,264 instructions for the
    /// F32 GEMV with every format's element path left in, against 692 for Q4_0).</summary>
    public Chunk8 Chunk(int format, int vector, int row, int chunk)
    {
        if (format == (int)WeightFormat.Q8_0) return ChunkQ8(row, chunk);
        if (format == (int)WeightFormat.Q4_0) return ChunkQ4(row, chunk);
        if (vector != 0) return format == (int)WeightFormat.F32 ? ChunkF32(row, chunk) : ChunkHalves(format, row, chunk);
        var c = new Chunk8 { ColA = chunk * 8, ColB = chunk * 8 + 4 };
        c.A0 = Guarded(format, row, c.ColA);
        c.A1 = Guarded(format, row, c.ColA + 1);
        c.A2 = Guarded(format, row, c.ColA + 2);
        c.A3 = Guarded(format, row, c.ColA + 3);
        c.B0 = Guarded(format, row, c.ColB);
        c.B1 = Guarded(format, row, c.ColB + 1);
        c.B2 = Guarded(format, row, c.ColB + 2);
        c.B3 = Guarded(format, row, c.ColB + 3);
        return c;
    }

    float Guarded(int format, int row, int col) => col < K ? Element(format, row, col) : 0f;

    Chunk8 ChunkF32(int row, int chunk)
    {
        long quad = ((long)row * K + chunk * 8) / 4;
        Quad a = Quads[quad], b = Quads[quad + 1];
        return new Chunk8
        {
            A0 = Interop.IntAsFloat(a.X), A1 = Interop.IntAsFloat(a.Y), A2 = Interop.IntAsFloat(a.Z), A3 = Interop.IntAsFloat(a.W),
            B0 = Interop.IntAsFloat(b.X), B1 = Interop.IntAsFloat(b.Y), B2 = Interop.IntAsFloat(b.Z), B3 = Interop.IntAsFloat(b.W),
            ColA = chunk * 8, ColB = chunk * 8 + 4,
        };
    }

    Chunk8 ChunkHalves(int format, int row, int chunk)
    {
        Quad q = Quads[((long)row * K + chunk * 8) / 8];
        var c = new Chunk8 { ColA = chunk * 8, ColB = chunk * 8 + 4 };
        if (format == (int)WeightFormat.F16)
        {
            c.A0 = ScalarMath.HalfToFloat((ushort)q.X); c.A1 = ScalarMath.HalfToFloat((ushort)(q.X >> 16));
            c.A2 = ScalarMath.HalfToFloat((ushort)q.Y); c.A3 = ScalarMath.HalfToFloat((ushort)(q.Y >> 16));
            c.B0 = ScalarMath.HalfToFloat((ushort)q.Z); c.B1 = ScalarMath.HalfToFloat((ushort)(q.Z >> 16));
            c.B2 = ScalarMath.HalfToFloat((ushort)q.W); c.B3 = ScalarMath.HalfToFloat((ushort)(q.W >> 16));
            return c;
        }
        // BF16 is the top half of an f32: shift (low half) or mask (high half) in place.
        c.A0 = Interop.IntAsFloat(q.X << 16); c.A1 = Interop.IntAsFloat(q.X & 0xFFFF0000u);
        c.A2 = Interop.IntAsFloat(q.Y << 16); c.A3 = Interop.IntAsFloat(q.Y & 0xFFFF0000u);
        c.B0 = Interop.IntAsFloat(q.Z << 16); c.B1 = Interop.IntAsFloat(q.Z & 0xFFFF0000u);
        c.B2 = Interop.IntAsFloat(q.W << 16); c.B3 = Interop.IntAsFloat(q.W & 0xFFFF0000u);
        return c;
    }

    /// <summary>Byte <paramref name="index"/> (0 = lowest) of <paramref name="word"/> as a signed value, by shifts: ILGPU
    /// 1.5.3 compiles <c>(sbyte)</c> of an int that came from a ushort to an unsigned byte-to-float conversion on CUDA
    /// (found by check-kernels on an H100: every Q8_0 product was wrong there and right on the CPU accelerator).</summary>
    static int SignedByte(int word, int index) => (word << (24 - 8 * index)) >> 24;

    // Blocks are 34 bytes (2-byte aligned), so the 8 quants of a chunk are read as 4 ushorts.
    Chunk8 ChunkQ8(int row, int chunk)
    {
        int sub = chunk & 3;
        long b = BlockOffset(row, chunk >> 2, WeightFormats.Q8BlockBytes) / 2;
        float d = ScalarMath.HalfToFloat(Halves[b]);
        long q = b + 1 + sub * 4;
        int u0 = Halves[q], u1 = Halves[q + 1], u2 = Halves[q + 2], u3 = Halves[q + 3];
        return new Chunk8
        {
            A0 = d * SignedByte(u0, 0), A1 = d * SignedByte(u0, 1), A2 = d * SignedByte(u1, 0), A3 = d * SignedByte(u1, 1),
            B0 = d * SignedByte(u2, 0), B1 = d * SignedByte(u2, 1), B2 = d * SignedByte(u3, 0), B3 = d * SignedByte(u3, 1),
            ColA = chunk * 8, ColB = chunk * 8 + 4,
        };
    }

    // Q4_0 (ggml-common.h): byte j of a block holds element j (low nibble) and j + 16 (high nibble), both offset by 8.
    // Chunk sub of a block takes bytes 4·sub .. 4·sub + 3 (two ushorts of an 18-byte, 2-byte aligned block).
    Chunk8 ChunkQ4(int row, int chunk)
    {
        int sub = chunk & 3;
        long b = BlockOffset(row, chunk >> 2, WeightFormats.Q4BlockBytes) / 2;
        float d = ScalarMath.HalfToFloat(Halves[b]);
        int u0 = Halves[b + 1 + sub * 2], u1 = Halves[b + 2 + sub * 2];
        int first = (chunk >> 2) * WeightFormats.BlockElements + sub * 4;
        return new Chunk8
        {
            A0 = d * ((u0 & 15) - 8), A1 = d * (((u0 >> 8) & 15) - 8), A2 = d * ((u1 & 15) - 8), A3 = d * (((u1 >> 8) & 15) - 8),
            B0 = d * (((u0 >> 4) & 15) - 8), B1 = d * ((u0 >> 12) - 8), B2 = d * (((u1 >> 4) & 15) - 8), B3 = d * ((u1 >> 12) - 8),
            ColA = first, ColB = first + 16,
        };
    }
}
