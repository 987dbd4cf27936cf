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

    /// <summary>These 8 weights dotted with the x values at their columns.</summary>
    public readonly float Dot(XChunk x) =>
        A0 * x.A0 + A1 * x.A1 + A2 * x.A2 + A3 * x.A3 + B0 * x.B0 + B1 * x.B1 + B2 * x.B2 + B3 * x.B3;

    /// <summary>The 8 weights times <paramref name="d"/> (a quantized block's scale), at the same columns.</summary>
    public readonly Chunk8 Scaled(float d) => new()
    {
        A0 = d * A0, A1 = d * A1, A2 = d * A2, A3 = d * A3, B0 = d * B0, B1 = d * B1, B2 = d * B2, B3 = d * B3,
        ColA = ColA, ColB = ColB,
    };
}

/// <summary>A chunk's 8 weights before their block's scale (see <see cref="WeightViews.UnscaledChunk"/>).</summary>
public struct ScaledChunk
{
    public Chunk8 Values;
    public float Scale;
}

/// <summary>The raw words quantized weights are decoded from: their block's scale (f16 bits) and 4 or 8 quant bytes as
/// little-endian words (Low, then High): 8 nibbles a word for Q4_0, 4 bytes a word for Q8_0.</summary>
public struct QuantWords
{
    public int Scale;
    public uint Low, High;

    /// <summary>A scale and 8 quant bytes read as one ulong.</summary>
    public static QuantWords Of(int scale, ulong quants) => new() { Scale = scale, Low = (uint)quants, High = (uint)(quants >> 32) };
}

/// <summary>One weight row as a thread of the single-row GEMV reads it (see <see cref="WeightViews.Reader"/>), a unit at a
/// time: the block scales and the 8 quant bytes of a unit (one ulong: 16 weights of Q4_0, 8 of Q8_0), or the values of
/// F32/F16/BF16 rows (8 weights).</summary>
public struct RowReader
{
    public ArrayView<ushort> Scale;
    public ArrayView<ulong> Pairs;
    public ArrayView<Quad> Values;

    /// <summary>How far <see cref="Advance"/> moves each view for <paramref name="units"/> units (whole blocks: a multiple
    /// of 2 for Q4_0, of 4 for Q8_0), worked out once before a loop (ILGPU does not hoist it).</summary>
    public static ReaderStep Step(int format, int units) => new()
    {
        Scales = units / WeightViews.UnitsPerBlock(format),
        Values = format == (int)WeightFormat.F32 ? 2 * units : units,
        Quants = units,
    };

    /// <summary>The reader moved on by <paramref name="step"/>: pointer increments carried through the loop, so the
    /// loads need no address arithmetic at all. Without <paramref name="vector"/> the reader is empty (rows are read
    /// by <see cref="WeightViews.Chunk"/>) and stays so.</summary>
    public RowReader Advance(int format, int vector, ReaderStep step)
    {
        var next = this;
        if (vector == 0) return next;
        if (format == (int)WeightFormat.Q4_0 || format == (int)WeightFormat.Q8_0)
        {
            next.Scale = Scale.SubView(step.Scales);
            next.Pairs = Pairs.SubView(step.Quants);
        }
        else next.Values = Values.SubView(step.Values);
        return next;
    }

    /// <summary>The scale and the 8 quant bytes of the unit where the reader stands (Q8_0/Q4_0).</summary>
    public readonly QuantWords Fetch() => QuantWords.Of(Scale[0], Pairs[0]);
}

/// <summary>One unit's stored bits as <see cref="WeightViews.Fetch"/> loads them: Q8_0/Q4_0 the block scale's f16 bits
/// (W0) and the 8 quant bytes (W1 low word, W2 high word); F16/BF16 one quad of values, F32 two.</summary>
public struct RawUnit
{
    public uint W0, W1, W2;
    public Quad Values0, Values1;
}

/// <summary>A <see cref="RowReader"/>'s move for a stride of units, in each view's own elements (one 8-byte quant load a
/// unit).</summary>
public struct ReaderStep
{
    public int Scales, Quants, Values;
}

/// <summary>The 8 values of x that meet one <see cref="Chunk8"/>: A0..A3 at ColA.., B0..B3 at ColB...</summary>
public struct XChunk
{
    public float A0, A1, A2, A3, B0, B1, B2, B3;

    /// <summary>Columns colA..colA+3 and colB..colB+3 of the x row starting at <paramref name="rowStart"/>: two 16-byte
    /// loads when <paramref name="vector"/> (x 16-byte aligned, k a multiple of 8), otherwise element by element with
    /// zeros at or past k.</summary>
    public static XChunk Load(ArrayView<float> x, ArrayView<Quad> x4, int vector, int k, int colA, int colB, long rowStart = 0)
    {
        if (vector != 0)
        {
            Quad a = x4[rowStart / 4 + colA / 4], b = x4[rowStart / 4 + colB / 4];  // rowStart is whole quads here
            return new XChunk
            {
                A0 = Interop.IntAsFloat(a.X), A1 = Interop.IntAsFloat(a.Y), A2 = Interop.IntAsFloat(a.Z), A3 = Interop.IntAsFloat(a.W),
                B0 = Interop.IntAsFloat(b.X), B1 = Interop.IntAsFloat(b.Y), B2 = Interop.IntAsFloat(b.Z), B3 = Interop.IntAsFloat(b.W),
            };
        }
        return new XChunk
        {
            A0 = At(x, k, rowStart, colA), A1 = At(x, k, rowStart, colA + 1), A2 = At(x, k, rowStart, colA + 2),
            A3 = At(x, k, rowStart, colA + 3), B0 = At(x, k, rowStart, colB), B1 = At(x, k, rowStart, colB + 1),
            B2 = At(x, k, rowStart, colB + 2), B3 = At(x, k, rowStart, colB + 3),
        };
    }

    static float At(ArrayView<float> x, int k, long rowStart, int col) => col < k ? x[rowStart + col] : 0f;

    /// <summary>These values pinned where they are loaded (<see cref="LoadOrder"/>).</summary>
    public readonly XChunk Pinned() => new()
    {
        A0 = LoadOrder.Pin(A0), A1 = LoadOrder.Pin(A1), A2 = LoadOrder.Pin(A2), A3 = LoadOrder.Pin(A3),
        B0 = LoadOrder.Pin(B0), B1 = LoadOrder.Pin(B1), B2 = LoadOrder.Pin(B2), B3 = LoadOrder.Pin(B3),
    };

    public readonly float SumOfSquares() => A0 * A0 + A1 * A1 + A2 * A2 + A3 * A3 + B0 * B0 + B1 * B1 + B2 * B2 + B3 * B3;

    /// <summary>The element-wise product with <paramref name="other"/>.</summary>
    public readonly XChunk Times(XChunk other) => new()
    {
        A0 = A0 * other.A0, A1 = A1 * other.A1, A2 = A2 * other.A2, A3 = A3 * other.A3,
        B0 = B0 * other.B0, B1 = B1 * other.B1, B2 = B2 * other.B2, B3 = B3 * other.B3,
    };
}

/// <summary>A stored weight matrix [rows, k] seen several ways over the same bytes (device code reads whichever its
/// format needs): bytes for int8/nibble quants, ushort for F16/BF16 values and block scales, float for F32, and 16-byte
/// quads for vectorized loads of F32/F16/BF16 rows when the rows are 16-byte aligned (<see cref="Vector"/> = 1).
/// <para>Q8_0 and Q4_0 rows are kept on the device split (<see cref="SplitQuantizedRow"/>): each row's block scales first,
/// then its blocks' quants, same bytes and row length as GGUF's interleaved blocks. A chunk's quants are then one
/// aligned word (Q4_0: 4 bytes, Q8_0: 8) beside its neighbour's, and the single-row GEMV reads 8 quant bytes a load (16
/// Q4_0 weights, 8 of Q8_0), so a warp's quant loads are one contiguous run, where GGUF's 18- and 34-byte blocks only
/// allow 2-byte loads (<see cref="Vector"/> = 1 when the words are aligned: k a multiple of 128).</para></summary>
public readonly struct WeightViews
{
    public readonly ArrayView<byte> Bytes;
    public readonly ArrayView<ushort> Halves;
    public readonly ArrayView<float> Floats;
    public readonly ArrayView<Quad> Quads;
    public readonly ArrayView<uint> Words;
    public readonly ArrayView<ulong> Pairs;
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
        bool aligned = Aligned16(bytes) && bytes.Length >= 16 && format switch
        {
            WeightFormat.Q4_0 or WeightFormat.Q8_0 => k % 128 == 0,
            _ => k % 8 == 0,
        };
        Vector = aligned ? 1 : 0;
        Quads = aligned && format is not (WeightFormat.Q4_0 or WeightFormat.Q8_0) ? bytes.Cast<Quad>() : default;
        Words = aligned && format == WeightFormat.Q4_0 ? bytes.Cast<uint>() : default;
        Pairs = aligned && format is WeightFormat.Q4_0 or WeightFormat.Q8_0 ? bytes.Cast<ulong>() : default;
    }

    /// <summary>Whether the view starts on a 16-byte boundary (buffers themselves are allocated aligned); host side.</summary>
    public static bool Aligned16<T>(ArrayView<T> view) where T : unmanaged =>
        view.IsValid && ((IContiguousArrayView)view).IndexInBytes % 16 == 0;

    /// <summary>Chunks of 8 weights per row (the last one of an F32/F16/BF16 row may be partial).</summary>
    public int ChunksPerRow => (K + 7) / 8;

    /// <summary>Weights in one unit of the single-row GEMV (<see cref="Reader"/>): 16 for aligned Q4_0 rows (8 quant bytes,
    /// one load), else a chunk of 8.</summary>
    public static int UnitWeights(int format, int vector) => format == (int)WeightFormat.Q4_0 && vector != 0 ? 16 : 8;

    /// <summary>Units of a quantized block: 2 for Q4_0, 4 for Q8_0 (8 quant bytes each).</summary>
    public static int UnitsPerBlock(int format) => format == (int)WeightFormat.Q4_0 ? 2 : 4;

    /// <summary>The x columns unit <paramref name="unit"/> meets, as <see cref="XChunk"/>s of 8: Q4_0's 16-weight unit
    /// (quant bytes 8·half .. 8·half + 7 of its block) is two chunks, its low word's and its high word's (second = the
    /// first moved by 4); every other unit is the chunk of <see cref="ChunkColumns"/>.</summary>
    public static (int ColA, int ColB) UnitColumns(int format, int vector, int unit)
    {
        if (UnitWeights(format, vector) == 8) return ChunkColumns(format, unit);
        int first = (unit >> 1) * WeightFormats.BlockElements + (unit & 1) * 8;
        return (first, first + 16);
    }

    /// <summary>The columns chunk <paramref name="chunk"/> covers: ColA..ColA+3 and ColB..ColB+3 (see
    /// <see cref="Chunk8"/>).</summary>
    public static (int ColA, int ColB) ChunkColumns(int format, int chunk)
    {
        if (format != (int)WeightFormat.Q4_0) return (chunk * 8, chunk * 8 + 4);
        int first = (chunk >> 2) * WeightFormats.BlockElements + (chunk & 3) * 4;
        return (first, first + 16);
    }

    /// <summary>Row <paramref name="row"/> as a thread reads it from unit <paramref name="unit"/> on
    /// (<see cref="UnitWeights"/>), in steps of a whole number of blocks (<see cref="RowReader.Advance"/>): views that
    /// start at that unit's scale and quant bytes (Q8_0/Q4_0) or values (F32/F16/BF16), when <paramref name="vector"/>
    /// (else chunks are read by <see cref="Chunk"/>). Each load then needs no address arithmetic at all, against ~10
    /// instructions of 64-bit index arithmetic per load when every access recomputed row · stride + block (ptxas,
    /// sm_90).</summary>
    public RowReader Reader(int format, int vector, int row, int unit)
    {
        var r = new RowReader();
        if (vector == 0) return r;
        if (format == (int)WeightFormat.Q4_0 || format == (int)WeightFormat.Q8_0)
        {
            int perBlock = UnitsPerBlock(format), block = unit / perBlock;
            r.Scale = Halves.SubView(ScaleOffset(format, row, block) / 2);
            r.Pairs = Pairs.SubView(QuantOffset(format, row, block) / 8 + unit % perBlock);
        }
        else
        {
            long first = (long)row * K + unit * 8;
            r.Values = Quads.SubView(format == (int)WeightFormat.F32 ? first / 4 : first / 8);
        }
        return r;
    }

    /// <summary>Unit <paramref name="unit"/> of row <paramref name="row"/> (<see cref="UnitWeights"/>), where
    /// <paramref name="reader"/> stands, dotted with the matching x values.
    /// Q8_0 and Q4_0 decode without integer-to-float conversions (a quarter-rate instruction on NVIDIA): a quant's bits
    /// in the mantissa of 2²³ give the float 2²³ + q exactly, and one subtraction leaves q. The exponent bits are ORed
    /// into each 16-bit half once, and each quant is then cut out where it sits with one AND (bits 4–7 give 16·q, 8–15
    /// 256·q): each position is summed on its own and scaled back by its power of two (exact), so the products are
    /// the plain q·x ones, summed in another order.
    /// <para>With Q4_0's 16-weight units (<see cref="UnitWeights"/>), <paramref name="high"/> holds the x values of the
    /// unit's second chunk.</para>
    /// <para><paramref name="raw"/> is the unit's bits from <see cref="Fetch"/> (vector rows; unused otherwise).</para></summary>
    public float Dot(int format, int vector, RawUnit raw, int row, int unit, XChunk x, XChunk high)
    {
        if (vector == 0) return Chunk(format, vector, row, unit).Dot(x);
        if (format == (int)WeightFormat.Q4_0)
            return HalfValue((ushort)raw.W0) * (DotQ4Quants(raw.W1, x) + DotQ4Quants(raw.W2, high));
        if (format == (int)WeightFormat.Q8_0) return DotQ8(new QuantWords { Scale = (int)raw.W0, Low = raw.W1, High = raw.W2 }, x);
        Chunk8 c;
        if (format == (int)WeightFormat.F32) c = F32Of(raw.Values0, raw.Values1);
        else c = HalvesOf(format, raw.Values0);
        return c.Dot(x);
    }

    /// <summary>The bits of the unit where <paramref name="reader"/> stands (vector rows): scale and quant words, or the
    /// unit's values, each pinned (<see cref="LoadOrder"/>) so that a thread's loads of all its rows go out before any of
    /// them is decoded. Empty without <paramref name="vector"/>.</summary>
    public static RawUnit Fetch(int format, int vector, RowReader reader)
    {
        var raw = new RawUnit();
        if (vector == 0) return raw;
        if (format == (int)WeightFormat.Q4_0 || format == (int)WeightFormat.Q8_0)
        {
            var q = reader.Fetch();
            raw.W0 = LoadOrder.Pin((uint)q.Scale);
            raw.W1 = LoadOrder.Pin(q.Low);
            raw.W2 = LoadOrder.Pin(q.High);
            return raw;
        }
        raw.Values0 = LoadOrder.Pin(reader.Values[0]);
        if (format == (int)WeightFormat.F32) raw.Values1 = LoadOrder.Pin(reader.Values[1]);
        return raw;
    }

    /// <summary>Block <paramref name="block"/> of row <paramref name="row"/> (Q8_0/Q4_0) for the int8 dots: with
    /// <paramref name="vector"/>, from <paramref name="reader"/> standing at the block — its scale and 2 (Q4_0) or 4 (Q8_0)
    /// 8-byte loads, pinned (<see cref="LoadOrder"/>) — else by 16-bit loads.</summary>
    public QuantBlock FetchBlock(int format, int vector, RowReader reader, int row, int block)
    {
        var q = new QuantBlock();
        if (vector != 0)
        {
            q.Scale = HalfValue((ushort)LoadOrder.Pin(reader.Scale[0]));
            ulong p0 = reader.Pairs[0], p1 = reader.Pairs[1];
            q.Q0 = LoadOrder.Pin((uint)p0); q.Q1 = LoadOrder.Pin((uint)(p0 >> 32));
            q.Q2 = LoadOrder.Pin((uint)p1); q.Q3 = LoadOrder.Pin((uint)(p1 >> 32));
            if (format == (int)WeightFormat.Q8_0)
            {
                ulong p2 = reader.Pairs[2], p3 = reader.Pairs[3];
                q.Q4 = LoadOrder.Pin((uint)p2); q.Q5 = LoadOrder.Pin((uint)(p2 >> 32));
                q.Q6 = LoadOrder.Pin((uint)p3); q.Q7 = LoadOrder.Pin((uint)(p3 >> 32));
            }
            return q;
        }
        q.Scale = HalfValue(Halves[ScaleOffset(format, row, block) / 2]);
        long at = QuantOffset(format, row, block) / 2;
        q.Q0 = WordAt(at); q.Q1 = WordAt(at + 2); q.Q2 = WordAt(at + 4); q.Q3 = WordAt(at + 6);
        if (format == (int)WeightFormat.Q8_0) { q.Q4 = WordAt(at + 8); q.Q5 = WordAt(at + 10); q.Q6 = WordAt(at + 12); q.Q7 = WordAt(at + 14); }
        return q;
    }

    /// <summary>The little-endian word of the two halves from <paramref name="half"/> on.</summary>
    uint WordAt(long half) => Halves[half] | ((uint)Halves[half + 1] << 16);

    /// <summary>IEEE half bits as a float through ILGPU's Half: one <c>cvt.f32.f16</c> on CUDA, where the portable
    /// <see cref="ScalarMath.HalfToFloat"/> (the cpu kernels') costs ~8 integer instructions (ptxas, sm_90). Exact
    /// either way: every half is a float.</summary>
    static float HalfValue(ushort bits) => Interop.IntAsFloat(bits);

    /// <summary>The exponent bits of 2²³ (0x4B000000): a float with these and mantissa m is 2²³ + m.</summary>
    const int TwoTo23Bits = 0x4B000000;
    const float TwoTo23 = 8388608f;

    /// <summary>The float whose bits are <paramref name="word"/> AND <paramref name="mask"/>, the word already holding
    /// the exponent bits: 2²³ + (the masked mantissa bits).</summary>
    static float Masked(int word, int mask) => Interop.IntAsFloat((uint)(word & (TwoTo23Bits | mask)));

    // A chunk's 4 quant bytes (ChunkQ4's layout) dotted with x, before the block's scale: two 16-bit halves, u0 = bytes
    // 0–1 and u1 = bytes 2–3, each with the exponent bits ORed in (u0 keeps bytes 2–3 above them: no mask below reaches
    // there): low nibbles (bits 0–3, 8–11) are elements ColA.., high nibbles (bits 4–7, 12–15) elements ColB.., each
    // stored as q + 8.
    static float DotQ4Quants(uint word, XChunk x)
    {
        int u0 = (int)word | TwoTo23Bits, u1 = (int)(word >> 16) | TwoTo23Bits;
        float bits0 = (Masked(u0, 0xF) - (TwoTo23 + 8)) * x.A0 + (Masked(u1, 0xF) - (TwoTo23 + 8)) * x.A2;
        float bits4 = (Masked(u0, 0xF0) - (TwoTo23 + 128)) * x.B0 + (Masked(u1, 0xF0) - (TwoTo23 + 128)) * x.B2;
        float bits8 = (Masked(u0, 0xF00) - (TwoTo23 + 2048)) * x.A1 + (Masked(u1, 0xF00) - (TwoTo23 + 2048)) * x.A3;
        float bits12 = (Masked(u0, 0xF000) - (TwoTo23 + 32768)) * x.B1 + (Masked(u1, 0xF000) - (TwoTo23 + 32768)) * x.B3;
        return bits0 + bits4 * (1f / 16) + bits8 * (1f / 256) + bits12 * (1f / 4096);
    }

    // The chunk's 8 quant bytes (ChunkQ8's layout) as four 16-bit halves u0..u3 (bytes 0–1 .. 6–7). A signed byte s with
    // its top bit flipped is s + 128, so XOR with 0x8080 and the exponent bits gives 2²³ + 128 + s for a half's low byte
    // and 2²³ + 256·(128 + s) for its high one.
    static float DotQ8(QuantWords w, XChunk x)
    {
        float d = HalfValue((ushort)w.Scale);
        const int Flip = TwoTo23Bits | 0x8080;
        int u0 = (int)(w.Low & 0xFFFF) ^ Flip, u1 = (int)(w.Low >> 16) ^ Flip;
        int u2 = (int)(w.High & 0xFFFF) ^ Flip, u3 = (int)(w.High >> 16) ^ Flip;
        const float Low = TwoTo23 + 128, High = TwoTo23 + 32768;
        float low = (Masked(u0, 0xFF) - Low) * x.A0 + (Masked(u1, 0xFF) - Low) * x.A2
            + (Masked(u2, 0xFF) - Low) * x.B0 + (Masked(u3, 0xFF) - Low) * x.B2;
        float high = (Masked(u0, 0xFF00) - High) * x.A1 + (Masked(u1, 0xFF00) - High) * x.A3
            + (Masked(u2, 0xFF00) - High) * x.B1 + (Masked(u3, 0xFF00) - High) * x.B3;
        return d * (low + high * (1f / 256));
    }

    int BlocksPerRow => K / WeightFormats.BlockElements;

    /// <summary>Quant bytes of a block: 16 (Q4_0) or 32 (Q8_0).</summary>
    static int QuantBytes(int format) => format == (int)WeightFormat.Q4_0 ? WeightFormats.Q4BlockBytes - 2 : WeightFormats.Q8BlockBytes - 2;

    long ScaleOffset(int format, int row, int block) => SplitScaleOffset(row, block, BlocksPerRow, QuantBytes(format));

    long QuantOffset(int format, int row, int block) => SplitQuantOffset(row, block, BlocksPerRow, QuantBytes(format));

    /// <summary>Byte offset of block <paramref name="block"/>'s scale in split quantized row <paramref name="row"/> (see
    /// the type's remarks): the row's scales come first.</summary>
    static long SplitScaleOffset(long row, long block, int blocksPerRow, int quantBytes) =>
        row * blocksPerRow * (2 + quantBytes) + 2 * block;

    /// <summary>Byte offset of block <paramref name="block"/>'s quants in split quantized row <paramref name="row"/>: after
    /// the row's scales.</summary>
    static long SplitQuantOffset(long row, long block, int blocksPerRow, int quantBytes) =>
        row * blocksPerRow * (2 + quantBytes) + 2 * blocksPerRow + block * quantBytes;

    /// <summary>Scale and quant words of chunk <paramref name="chunk"/> of row <paramref name="row"/>: one aligned load
    /// for the quants when <paramref name="vector"/>, else 16-bit loads.</summary>
    QuantWords QuantsAt(int format, int vector, int row, int chunk)
    {
        int block = chunk >> 2, sub = chunk & 3, scale = Halves[ScaleOffset(format, row, block) / 2];
        long quants = QuantOffset(format, row, block) + sub * (format == (int)WeightFormat.Q4_0 ? 4 : 8);
        if (vector != 0 && format == (int)WeightFormat.Q8_0) return QuantWords.Of(scale, Pairs[quants / 8]);
        var q = new QuantWords { Scale = scale };
        if (vector != 0) q.Low = Words[quants / 4];
        else
        {
            q.Low = Halves[quants / 2] | ((uint)Halves[quants / 2 + 1] << 16);
            if (format == (int)WeightFormat.Q8_0) q.High = Halves[quants / 2 + 2] | ((uint)Halves[quants / 2 + 3] << 16);
        }
        return q;
    }

    /// <summary>Element [row, col] as float (embedding lookups).</summary>
    public float Element(int row, int col) => Element(Format, row, col);

    /// <summary>Element [row, col] as float, <paramref name="format"/> being <see cref="Format"/> as a compile-time value
    /// (see <see cref="Chunk"/>).</summary>
    float Element(int format, int row, int col)
    {
        long index = (long)row * K + col;
        if (format == (int)WeightFormat.F32) return Floats[index];
        if (format == (int)WeightFormat.F16) return HalfValue(Halves[index]);
        if (format == (int)WeightFormat.BF16) return ScalarMath.BF16ToFloat(Halves[index]);
        int block = col / WeightFormats.BlockElements, q = col % WeightFormats.BlockElements;
        float d = HalfValue(Halves[ScaleOffset(format, row, block) / 2]);
        long quants = QuantOffset(format, row, block);
        if (format == (int)WeightFormat.Q8_0) return d * SignedByte(Bytes[quants + q], 0);
        int packed = Bytes[quants + (q & 15)];
        int nibble = q < 16 ? packed & 15 : packed >> 4;
        return d * (nibble - 8);
    }

    /// <summary>Chunk <paramref name="chunk"/> (0 ≤ chunk &lt; <see cref="ChunksPerRow"/>) of row <paramref name="row"/>,
    /// dequantized in registers. A quantized block of 32 is 4 chunks, so 4 neighbouring lanes share one block's scale.
    /// <paramref name="format"/> is <see cref="Format"/> and <paramref name="vector"/> is <see cref="Vector"/> (or 0),
    /// passed in as a kernel's <c>SpecializedValue</c>s where it can: ILGPU then compiles one kernel per format with the
    /// other formats' code, and the unaligned path when vector is 1, removed (ptxas counted 6,264 instructions for the
    /// F32 GEMV with every format's element path left in, against 692 for Q4_0).</summary>
    public Chunk8 Chunk(int format, int vector, int row, int chunk)
    {
        if (format == (int)WeightFormat.Q8_0) return ChunkQ8(QuantsAt(format, vector, row, chunk), chunk);
        if (format == (int)WeightFormat.Q4_0) return ChunkQ4(QuantsAt(format, vector, row, chunk), chunk);
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
        var c = F32Of(Quads[quad], Quads[quad + 1]);
        c.ColA = chunk * 8;
        c.ColB = chunk * 8 + 4;
        return c;
    }

    static Chunk8 F32Of(Quad a, Quad b) =>
        new()
        {
            A0 = Interop.IntAsFloat(a.X), A1 = Interop.IntAsFloat(a.Y), A2 = Interop.IntAsFloat(a.Z), A3 = Interop.IntAsFloat(a.W),
            B0 = Interop.IntAsFloat(b.X), B1 = Interop.IntAsFloat(b.Y), B2 = Interop.IntAsFloat(b.Z), B3 = Interop.IntAsFloat(b.W),
        };

    Chunk8 ChunkHalves(int format, int row, int chunk)
    {
        var c = HalvesOf(format, Quads[((long)row * K + chunk * 8) / 8]);
        c.ColA = chunk * 8;
        c.ColB = chunk * 8 + 4;
        return c;
    }

    /// <summary>8 F16 or BF16 values from one 16-byte load.</summary>
    static Chunk8 HalvesOf(int format, Quad q)
    {
        var c = new Chunk8();
        if (format == (int)WeightFormat.F16)
        {
            c.A0 = HalfValue((ushort)q.X); c.A1 = HalfValue((ushort)(q.X >> 16));
            c.A2 = HalfValue((ushort)q.Y); c.A3 = HalfValue((ushort)(q.Y >> 16));
            c.B0 = HalfValue((ushort)q.Z); c.B1 = HalfValue((ushort)(q.Z >> 16));
            c.B2 = HalfValue((ushort)q.W); c.B3 = HalfValue((ushort)(q.W >> 16));
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

    /// <summary>Chunk <paramref name="chunk"/> of row <paramref name="row"/> as <see cref="Chunk"/> reads it, except that
    /// Q8_0/Q4_0 quants stay unscaled (small integers, exact in any float format) with their block's scale beside them
    /// (1 for the other formats): the tensor-core products multiply the integers and scale each block's sum.</summary>
    public ScaledChunk UnscaledChunk(int format, int vector, int row, int chunk)
    {
        if (format != (int)WeightFormat.Q8_0 && format != (int)WeightFormat.Q4_0)
            return new ScaledChunk { Values = Chunk(format, vector, row, chunk), Scale = 1f };
        var q = QuantsAt(format, vector, row, chunk);
        var values = format == (int)WeightFormat.Q8_0 ? ChunkQ8Quants(q, chunk) : ChunkQ4Quants(q, chunk);
        return new ScaledChunk { Values = values, Scale = HalfValue((ushort)q.Scale) };
    }

    static Chunk8 ChunkQ8(QuantWords w, int chunk) => ChunkQ8Quants(w, chunk).Scaled(HalfValue((ushort)w.Scale));

    static Chunk8 ChunkQ4(QuantWords w, int chunk) => ChunkQ4Quants(w, chunk).Scaled(HalfValue((ushort)w.Scale));

    // Chunk sub of a block takes quants 8·sub .. 8·sub + 7, as four 16-bit halves of the two words.
    static Chunk8 ChunkQ8Quants(QuantWords w, int chunk)
    {
        int u0 = (int)(w.Low & 0xFFFF), u1 = (int)(w.Low >> 16), u2 = (int)(w.High & 0xFFFF), u3 = (int)(w.High >> 16);
        return new Chunk8
        {
            A0 = SignedByte(u0, 0), A1 = SignedByte(u0, 1), A2 = SignedByte(u1, 0), A3 = SignedByte(u1, 1),
            B0 = SignedByte(u2, 0), B1 = SignedByte(u2, 1), B2 = SignedByte(u3, 0), B3 = SignedByte(u3, 1),
            ColA = chunk * 8, ColB = chunk * 8 + 4,
        };
    }

    // Q4_0 (ggml-common.h): quant byte j of a block holds element j (low nibble) and j + 16 (high nibble), both offset
    // by 8. Chunk sub of a block takes quant bytes 4·sub .. 4·sub + 3, as two 16-bit halves u0, u1 of the word.
    static Chunk8 ChunkQ4Quants(QuantWords w, int chunk)
    {
        int u0 = (int)(w.Low & 0xFFFF), u1 = (int)(w.Low >> 16);
        int first = (chunk >> 2) * WeightFormats.BlockElements + (chunk & 3) * 4;
        return new Chunk8
        {
            A0 = (u0 & 15) - 8, A1 = ((u0 >> 8) & 15) - 8, A2 = (u1 & 15) - 8, A3 = ((u1 >> 8) & 15) - 8,
            B0 = ((u0 >> 4) & 15) - 8, B1 = (u0 >> 12) - 8, B2 = ((u1 >> 4) & 15) - 8, B3 = (u1 >> 12) - 8,
            ColA = first, ColB = first + 16,
        };
    }

    /// <summary>Rewrites GGUF Q8_0/Q4_0 rows (<paramref name="blocks"/>: [rows, blocks per row] interleaved scale + quants)
    /// into the split rows the kernels read (see the type's remarks): one thread per block moves its scale to the row's
    /// front and its quants into the row's quant run. Both views are 16-bit (every block offset is even).</summary>
    public static void SplitQuantizedRow(Index1D block, ArrayView<ushort> gguf, int blocksPerRow, int blockHalves,
        ArrayView<ushort> split)
    {
        long row = block / blocksPerRow, inRow = block % blocksPerRow, source = (long)(int)block * blockHalves;
        int quantBytes = 2 * (blockHalves - 1);
        split[SplitScaleOffset(row, inRow, blocksPerRow, quantBytes) / 2] = gguf[source];
        long quants = SplitQuantOffset(row, inRow, blocksPerRow, quantBytes) / 2;
        for (int i = 0; i < blockHalves - 1; i++) split[quants + i] = gguf[source + 1 + i];
    }
}
