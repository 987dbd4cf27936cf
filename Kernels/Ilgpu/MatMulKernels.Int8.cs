using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// Int8 activations (<c>--int8-activations</c>): products with Q8_0 and Q4_0 weights take x rounded to Q8_0 blocks as
/// llama.cpp rounds its activations — per 32 values d = f16(amax / 127), q = round-half-even(x · 127 / amax), ggml's x86
/// quantize_row_q8_0, the rule of the cpu backend's <c>Int8Rows</c> — and multiply integers.
/// <para>The single-row GEMV rounds x itself, block by block, as its threads reach them (no launch, no buffer: a group
/// already reads all of x), and dots each rounded block with its four rows' quants by <c>dp4a</c> — four byte products
/// and their sum in one instruction, so a Q4_0 block of a row is 8 dp4a, 8 nibble masks and one scaling, where the
/// float path decodes every weight (~4.6 instructions a weight, ptxas sm_90). With the RMSNorm folded in, the group
/// first sums x's squares (one barrier), since a block can only be rounded once it is normalised.</para>
/// <para>Products of more rows (prefill, batched decode) take x rounded by <see cref="RoundToInt8Blocks"/> into a copy
/// (d·q as floats): the same values the integer dots multiply, summed in another order.</para>
/// </summary>
public sealed partial class MatMulKernels
{
    /// <summary>Whether single-row products with Q8_0/Q4_0 weights round x to int8 blocks and multiply integers. Callers
    /// of products with more rows round x first (<see cref="RoundToInt8Blocks"/>).</summary>
    public bool Int8Activations { get; init; }

    /// <summary>The int8 flag the single-row kernels are specialized on for weights of <paramref name="format"/>.</summary>
    int Int8For(int format) => Int8Activations && IsQuantized(format) ? 1 : 0;

    static bool IsQuantized(int format) => format == (int)WeightFormat.Q8_0 || format == (int)WeightFormat.Q4_0;

    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>>? roundBlocks;

    /// <summary>y = x rounded to Q8_0 blocks and back to floats (d·q), a thread per block of 32 (x.Length a multiple of
    /// 32; y may be x).</summary>
    public void RoundToInt8Blocks(AcceleratorStream stream, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length % Int8Block.Size != 0)
            throw new ArgumentException($"RoundToInt8Blocks: {x.Length} values are not whole blocks of {Int8Block.Size}");
        if (x.Length == 0) return;
        roundBlocks ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(RoundBlocksKernel);
        roundBlocks(stream, (int)(x.Length / Int8Block.Size), x, y);
    }

    static void RoundBlocksKernel(Index1D block, ArrayView<float> x, ArrayView<float> y)
    {
        long first = (long)(int)block * Int8Block.Size;
        float amax = 0f;
        for (int i = 0; i < Int8Block.Size; i++) amax = Math.Max(amax, Math.Abs(x[first + i]));
        var (d, inverse) = Int8Block.Scales(amax);
        for (int i = 0; i < Int8Block.Size; i++)
            y[first + i] = d * (Int8Block.Scaled(x[first + i], inverse) + Int8Block.RoundingBias - Int8Block.RoundingBias);
    }

    /// <summary>The group's four totals with x rounded to int8 blocks (see the class notes): normalised first when
    /// <paramref name="normed"/> (and the launch's first group writes the normalised x, as the float path does).</summary>
    static RowTotals Int8Totals(ArrayView<float> x, ArrayView<Quad> x4, int vector, int format, int normed, RowNorm norm,
        WeightViews wA, int row0, int row1, WeightViews wB, int row2, int row3, ArrayView<float> partials)
    {
        int k = wA.K;
        float scale = normed != 0 ? RmsScale(x, k, norm.Eps) : 1f;
        var sums = DotRowsInt8(x, x4, vector, format, normed, norm, scale, wA, row0, row1, wB, row2, row3);
        var totals = ReduceGroup(sums, 0, norm, x, k, partials);
        if (normed != 0) WriteNormed(norm, x, k, scale);
        return totals;
    }

    /// <summary>RMSNorm's 1/rms of x over the group (the float path's formula, <see cref="ReduceGroup"/>): each thread
    /// sums the squares of its values, the warps' sums meet in shared memory of their own.</summary>
    static float RmsScale(ArrayView<float> x, int k, float eps)
    {
        var warpSums = SharedMemory.Allocate<float>(MaxWarpsPerGroup);
        float squares = 0f;
        for (int j = Group.IdxX; j < k; j += Group.DimX) squares += x[j] * x[j];
        squares = WarpReduce.Sum(squares);
        int warps = Group.DimX / Warp.WarpSize;
        if (warps > 1)
        {
            if (Warp.IsFirstLane) warpSums[Warp.WarpIdx] = squares;
            Group.Barrier();
            squares = 0f;
            for (int i = 0; i < warps; i++) squares += warpSums[i];
        }
        return 1f / ILGPU.Algorithms.XMath.Sqrt(squares / k + eps);
    }

    /// <summary>This thread's share of the four rows' dot products over whole blocks: blocks Group.IdxX, + Group.DimX, …
    /// Each block's weight bits for all four rows are loaded first (pinned: <see cref="LoadOrder"/>), then x's block is
    /// loaded, normalised when <paramref name="normed"/> (x · scale · weight, the order the normalised x is written in),
    /// rounded, and dotted with each row.</summary>
    static RowSums DotRowsInt8(ArrayView<float> x, ArrayView<Quad> x4, int vector, int format, int normed, RowNorm norm,
        float scale, WeightViews wA, int row0, int row1, WeightViews wB, int row2, int row3)
    {
        var sums = new RowSums();
        int first = Group.IdxX, stride = Group.DimX, blocks = wA.K / Int8Block.Size, units = WeightViews.UnitsPerBlock(format);
        if (first >= blocks) return sums;
        var rows = FourRowReaders.At(format, vector, first * units, wA, row0, row1, wB, row2, row3);
        var step = RowReader.Step(format, stride * units);
        // x (and the norm's weights) move with the readers: views advanced a stride at a time, so the block's loads
        // are immediate offsets from one address (indexing x4[8·b + i] cost two 64-bit multiply-adds a load).
        var xAt = XBlock.At(x, x4, vector, first);
        var weightAt = XBlock.At(norm.Weight, norm.Weight4, vector, normed != 0 ? first : 0);
        for (int b = first; ;)
        {
            var w0 = wA.FetchBlock(format, vector, rows.R0, row0, b);
            var w1 = wA.FetchBlock(format, vector, rows.R1, row1, b);
            var w2 = wB.FetchBlock(format, vector, rows.R2, row2, b);
            var w3 = wB.FetchBlock(format, vector, rows.R3, row3, b);
            var values = XBlock.Load(xAt, vector);
            if (normed != 0) values = values.Normalised(scale, XBlock.Load(weightAt, vector));
            var xq = Int8Block.Round(values, format);
            sums.S0 += xq.Dot(format, w0);
            sums.S1 += xq.Dot(format, w1);
            sums.S2 += xq.Dot(format, w2);
            sums.S3 += xq.Dot(format, w3);
            b += stride;
            if (b >= blocks) return sums;
            rows = rows.Advance(format, vector, step);
            xAt = xAt.Advance(vector, stride);
            if (normed != 0) weightAt = weightAt.Advance(vector, stride);
        }
    }
}

/// <summary>Where a thread reads its next block of x: a view of quads from the block on (vector rows), else of floats.</summary>
public struct XBlockView
{
    public ArrayView<Quad> Quads;
    public ArrayView<float> Floats;

    /// <summary>The view moved on by <paramref name="blocks"/> blocks.</summary>
    public readonly XBlockView Advance(int vector, int blocks)
    {
        var next = this;
        if (vector != 0) next.Quads = Quads.SubView(blocks * 8L);
        else next.Floats = Floats.SubView(blocks * (long)Int8Block.Size);
        return next;
    }
}

/// <summary>32 consecutive values of x (one quantized block) as 8 quads of float bits.</summary>
public struct XBlock
{
    public Quad V0, V1, V2, V3, V4, V5, V6, V7;

    /// <summary>A view standing at block <paramref name="block"/> of the row.</summary>
    public static XBlockView At(ArrayView<float> x, ArrayView<Quad> x4, int vector, int block)
    {
        var at = new XBlockView();
        if (vector != 0) at.Quads = x4.SubView(block * 8L);
        else at.Floats = x.SubView(block * (long)Int8Block.Size);
        return at;
    }

    /// <summary>The block where <paramref name="at"/> stands: eight 16-byte loads when <paramref name="vector"/>, else 32
    /// scalar ones (rows are whole blocks, so no value lies past the row's end).</summary>
    public static XBlock Load(XBlockView at, int vector)
    {
        if (vector != 0)
        {
            var q = at.Quads;
            return new XBlock
            {
                V0 = LoadOrder.Pin(q[0]), V1 = LoadOrder.Pin(q[1]), V2 = LoadOrder.Pin(q[2]), V3 = LoadOrder.Pin(q[3]),
                V4 = LoadOrder.Pin(q[4]), V5 = LoadOrder.Pin(q[5]), V6 = LoadOrder.Pin(q[6]), V7 = LoadOrder.Pin(q[7]),
            };
        }
        var x = at.Floats;
        return new XBlock
        {
            V0 = QuadAt(x, 0), V1 = QuadAt(x, 4), V2 = QuadAt(x, 8), V3 = QuadAt(x, 12),
            V4 = QuadAt(x, 16), V5 = QuadAt(x, 20), V6 = QuadAt(x, 24), V7 = QuadAt(x, 28),
        };
    }

    static Quad QuadAt(ArrayView<float> x, long i) => new()
    {
        X = Interop.FloatAsInt(x[i]), Y = Interop.FloatAsInt(x[i + 1]), Z = Interop.FloatAsInt(x[i + 2]), W = Interop.FloatAsInt(x[i + 3]),
    };

    /// <summary>Each value · scale · the norm weight at its column.</summary>
    public readonly XBlock Normalised(float scale, XBlock weights) => new()
    {
        V0 = Times(V0, scale, weights.V0), V1 = Times(V1, scale, weights.V1), V2 = Times(V2, scale, weights.V2),
        V3 = Times(V3, scale, weights.V3), V4 = Times(V4, scale, weights.V4), V5 = Times(V5, scale, weights.V5),
        V6 = Times(V6, scale, weights.V6), V7 = Times(V7, scale, weights.V7),
    };

    static Quad Times(Quad v, float scale, Quad w) => new()
    {
        X = Bits(Value(v.X) * scale * Value(w.X)), Y = Bits(Value(v.Y) * scale * Value(w.Y)),
        Z = Bits(Value(v.Z) * scale * Value(w.Z)), W = Bits(Value(v.W) * scale * Value(w.W)),
    };

    /// <summary>The largest |value|.</summary>
    public readonly float AbsMax() => Math.Max(
        Math.Max(Math.Max(AbsMax(V0), AbsMax(V1)), Math.Max(AbsMax(V2), AbsMax(V3))),
        Math.Max(Math.Max(AbsMax(V4), AbsMax(V5)), Math.Max(AbsMax(V6), AbsMax(V7))));

    static float AbsMax(Quad q) =>
        Math.Max(Math.Max(Math.Abs(Value(q.X)), Math.Abs(Value(q.Y))), Math.Max(Math.Abs(Value(q.Z)), Math.Abs(Value(q.W))));

    internal static float Value(uint bits) => Interop.IntAsFloat(bits);
    static uint Bits(float value) => Interop.FloatAsInt(value);
}

/// <summary>One block of x rounded to int8 (<see cref="MatMulKernels"/>' int8 notes): its scale d, its 32 quants as 8
/// words of 4 signed bytes (element 4i + j in byte j of word i) and, for Q4_0, 8 · Σq (the weights' offset of 8 comes
/// off with it: Σ (w − 8)·q = Σ w·q − 8 Σ q).</summary>
public struct Int8Block
{
    public const int Size = WeightFormats.BlockElements;

    public uint Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7;
    public float D;
    public int Offset;

    /// <summary>1.5·2²³: a float t with |t| &lt; 2²² added to it rounds to the nearest integer, ties to even — IEEE's own
    /// rounding, as vroundps does — and the sum's low byte is that integer as a signed byte.</summary>
    internal const float RoundingBias = 12582912f;

    /// <summary>(d, 127 / amax) of a block whose largest |value| is <paramref name="amax"/>: d rounded to f16 as ggml stores
    /// it (<see cref="ScalarMath.RoundToHalf"/>), and the multiplier ggml's x86 quantize_row_q8_0 rounds with (127 / amax, not 1 / d; 0 for an all-zero
    /// block).</summary>
    internal static (float D, float Inverse) Scales(float amax) =>
        (ScalarMath.RoundToHalf(amax / 127f), amax != 0f ? 127f / amax : 0f);

    /// <summary>value · inverse, rounded to float on its own: an inline <c>mul.rn</c> on CUDA, which ptxas may not fuse
    /// with the rounding add that follows (a fused multiply-add rounds once, where ggml rounds the product, then rounds
    /// it to an integer).</summary>
    internal static float Scaled(float value, float inverse)
    {
        if (!CudaAsm.IsSupported) return value * inverse;
        Output<float> product = default;
        Input<float> a = value, b = inverse;
        CudaAsm.EmitRef("mul.rn.f32 %0, %1, %2;", ref product, ref a, ref b);
        return product.Value;
    }

    /// <summary>Rounds a block of x. <paramref name="format"/> is the weights': only Q4_0 needs <see cref="Offset"/>.</summary>
    public static Int8Block Round(XBlock v, int format)
    {
        var (d, inverse) = Scales(v.AbsMax());
        var r = new Int8Block
        {
            Q0 = Pack(v.V0, inverse), Q1 = Pack(v.V1, inverse), Q2 = Pack(v.V2, inverse), Q3 = Pack(v.V3, inverse),
            Q4 = Pack(v.V4, inverse), Q5 = Pack(v.V5, inverse), Q6 = Pack(v.V6, inverse), Q7 = Pack(v.V7, inverse),
            D = d,
        };
        if (format == (int)WeightFormat.Q4_0)
        {
            const uint Ones = 0x01010101;
            int sum = Dp4a.Unsigned(Ones, r.Q0, Dp4a.Unsigned(Ones, r.Q1, Dp4a.Unsigned(Ones, r.Q2, Dp4a.Unsigned(Ones, r.Q3, 0))));
            sum = Dp4a.Unsigned(Ones, r.Q4, Dp4a.Unsigned(Ones, r.Q5, Dp4a.Unsigned(Ones, r.Q6, Dp4a.Unsigned(Ones, r.Q7, sum))));
            r.Offset = 8 * sum;
        }
        return r;
    }

    /// <summary>Four values rounded and packed as signed bytes.</summary>
    static uint Pack(Quad v, float inverse) =>
        RoundedByte(v.X, inverse) | (RoundedByte(v.Y, inverse) << 8) | (RoundedByte(v.Z, inverse) << 16) | (RoundedByte(v.W, inverse) << 24);

    static uint RoundedByte(uint bits, float inverse) =>
        Interop.FloatAsInt(Scaled(XBlock.Value(bits), inverse) + RoundingBias) & 0xFF;

    /// <summary>d_x · d_w · (q_x · q_w) for one row's block.</summary>
    public readonly float Dot(int format, QuantBlock w)
    {
        int sum;
        if (format == (int)WeightFormat.Q4_0)
        {
            // Q4_0 (ggml-common.h): quant byte j holds element j (low nibble) and j + 16 (high), each stored as q + 8.
            const uint Nibbles = 0x0F0F0F0F;
            sum = Dp4a.Unsigned(w.Q0 & Nibbles, Q0, Dp4a.Unsigned((w.Q0 >> 4) & Nibbles, Q4, -Offset));
            sum = Dp4a.Unsigned(w.Q1 & Nibbles, Q1, Dp4a.Unsigned((w.Q1 >> 4) & Nibbles, Q5, sum));
            sum = Dp4a.Unsigned(w.Q2 & Nibbles, Q2, Dp4a.Unsigned((w.Q2 >> 4) & Nibbles, Q6, sum));
            sum = Dp4a.Unsigned(w.Q3 & Nibbles, Q3, Dp4a.Unsigned((w.Q3 >> 4) & Nibbles, Q7, sum));
        }
        else
        {
            sum = Dp4a.Signed(w.Q0, Q0, Dp4a.Signed(w.Q1, Q1, Dp4a.Signed(w.Q2, Q2, Dp4a.Signed(w.Q3, Q3, 0))));
            sum = Dp4a.Signed(w.Q4, Q4, Dp4a.Signed(w.Q5, Q5, Dp4a.Signed(w.Q6, Q6, Dp4a.Signed(w.Q7, Q7, sum))));
        }
        return D * w.Scale * sum;
    }
}

/// <summary>One row's quantized block as stored: its scale (an f16, as a float) and its quant bytes as little-endian
/// words — Q4_0 Q0..Q3 (16 bytes of nibbles), Q8_0 Q0..Q7 (32 signed bytes).</summary>
public struct QuantBlock
{
    public float Scale;
    public uint Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7;
}

/// <summary><c>dp4a</c>: c + the sum of four byte products of two words, one instruction on CUDA (sm_61 on), in plain
/// arithmetic elsewhere (the CPU accelerator).</summary>
public static class Dp4a
{
    /// <summary>c + Σ a_j · b_j with a's bytes unsigned and b's signed.</summary>
    public static int Unsigned(uint a, uint b, int c)
    {
        if (!CudaAsm.IsSupported)
            return c + (int)(a & 0xFF) * Byte(b, 0) + (int)((a >> 8) & 0xFF) * Byte(b, 1) + (int)((a >> 16) & 0xFF) * Byte(b, 2)
                + (int)(a >> 24) * Byte(b, 3);
        Output<int> d = default;
        Input<uint> x = a, y = b;
        Input<int> z = c;
        CudaAsm.EmitRef("dp4a.u32.s32 %0, %1, %2, %3;", ref d, ref x, ref y, ref z);
        return d.Value;
    }

    /// <summary>c + Σ a_j · b_j with both words' bytes signed.</summary>
    public static int Signed(uint a, uint b, int c)
    {
        if (!CudaAsm.IsSupported)
            return c + Byte(a, 0) * Byte(b, 0) + Byte(a, 1) * Byte(b, 1) + Byte(a, 2) * Byte(b, 2) + Byte(a, 3) * Byte(b, 3);
        Output<int> d = default;
        Input<uint> x = a, y = b;
        Input<int> z = c;
        CudaAsm.EmitRef("dp4a.s32.s32 %0, %1, %2, %3;", ref d, ref x, ref y, ref z);
        return d.Value;
    }

    /// <summary>Byte <paramref name="index"/> of the word as a signed value, by shifts.</summary>
    static int Byte(uint word, int index) => ((int)word << (24 - 8 * index)) >> 24;
}
