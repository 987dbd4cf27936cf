using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// x rows rounded to Q8_0 blocks, as llama.cpp rounds the activations of its quantized mat-muls: per 32 elements
/// d = amax / 127 stored as f16, q = round-to-even(x · 127 / amax) (ggml's x86 quantize_row_q8_0). Products with Q4_0 and
/// Q8_0 weights then run on integers (<see cref="Int8RowDots"/>) — the arithmetic of the kit's llama.cpp goldens, and
/// cheaper than decoding weights to floats.
/// </summary>
public sealed class Int8Rows
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>q: [n, k] rounded elements.</summary>
    public sbyte[] Values { get; private set; } = [];

    /// <summary>d: [n, k / 32] block scales (f16 values, as floats).</summary>
    public float[] Scales { get; private set; } = [];

    /// <summary>[n, k / 32, 8]: 8 · Σ q over each block, split into the eight int32 lanes a block's 256-bit dot ends in —
    /// what a Q4_0 dot subtracts for the weights' offset of 8 (Σ (w − 8)·q = Σ w·q − 8 Σ q).</summary>
    public int[] OffsetLanes { get; private set; } = [];

    public int N { get; private set; }
    public int K { get; private set; }

    /// <summary>Rounds x: [n, k] (k a multiple of 32) into these arrays, growing them when needed.</summary>
    public void Quantize(ReadOnlySpan<float> x, int n, int k)
    {
        if (k % Block != 0 || x.Length < n * k)
            throw new ArgumentException($"int8 rows: k must be a multiple of {Block} and x hold n·k elements (n {n}, k {k}, x {x.Length})");
        int blocks = n * k / Block;
        if (Values.Length < n * k) Values = new sbyte[n * k];
        if (Scales.Length < blocks) Scales = new float[blocks];
        if (OffsetLanes.Length < blocks * 8) OffsetLanes = new int[blocks * 8];
        (N, K) = (n, k);
        for (int b = 0; b < blocks; b++)
            QuantizeBlock(x.Slice(b * Block, Block), Values.AsSpan(b * Block, Block), out Scales[b], OffsetLanes.AsSpan(b * 8, 8));
    }

    /// <summary>The rounded rows as floats (d·q), for the products that stay in floats: the prefill GEMM and CPUs
    /// without AVX2. The same values the integer dots multiply, so the two differ only in summation order.</summary>
    public void Dequantize(Span<float> destination)
    {
        var values = destination[..(N * K)];
        TensorPrimitives.ConvertChecked<sbyte, float>(Values.AsSpan(0, N * K), values);
        for (int b = 0; b < N * K / Block; b++)
        {
            var scale = Vector512.Create(Scales[b]);
            var block = values.Slice(b * Block, Block);
            (Vector512.Create(block[..16]) * scale).CopyTo(block);
            (Vector512.Create(block[16..]) * scale).CopyTo(block[16..]);
        }
    }

    /// <summary>One block, 16 elements a vector (Vector512 runs on any CPU; these loops were 8 % of a prefill scalar).</summary>
    static void QuantizeBlock(ReadOnlySpan<float> x, Span<sbyte> q, out float scale, Span<int> offsetLanes)
    {
        var low = Vector512.Create(x[..16]);
        var high = Vector512.Create(x[16..Block]);
        var largest = Vector512.Max(Vector512.Abs(low), Vector512.Abs(high));
        var half = Vector256.Max(largest.GetLower(), largest.GetUpper());
        var quarter = Vector128.Max(half.GetLower(), half.GetUpper());
        float amax = Math.Max(Math.Max(quarter[0], quarter[1]), Math.Max(quarter[2], quarter[3]));
        scale = (float)(Half)(amax / 127f);
        // ggml's x86 quantize_row_q8_0: 127 / amax (not 1 / d) and vroundps to nearest-even. Against the kit's llama.cpp
        // runs, rounding half away from zero (ggml's reference C) or multiplying by 1 / d each move log-probs by 2e-2 or
        // more; this rule stays within 1.3e-4 on 191 of 192 steps.
        var inverse = Vector512.Create(amax != 0 ? 127f / amax : 0f);
        var rounded = Vector512.Narrow(Vector512.ConvertToInt32(Vector512.Round(low * inverse)),
            Vector512.ConvertToInt32(Vector512.Round(high * inverse)));
        Vector512.Narrow(rounded, rounded).GetLower().CopyTo(q);
        // A 256-bit maddubs + madd leaves lane j holding elements 4j .. 4j + 3.
        for (int lane = 0; lane < 8; lane++)
            offsetLanes[lane] = 8 * (q[4 * lane] + q[4 * lane + 1] + q[4 * lane + 2] + q[4 * lane + 3]);
    }
}

/// <summary>
/// y[r] = Σ over blocks of d_w·d_x·(q_w · q_x) for Q4_0 and Q8_0 weights and x rounded to int8 (<see cref="Int8Rows"/>):
/// a block's 32 products are one vpmaddubsw (unsigned × signed bytes → 16-bit pairs) and one vpmaddwd (→ eight int32
/// lanes), converted and scaled once. Q4_0 nibbles are unsigned as loaded (the offset of 8 is taken off with the x
/// block's precomputed <see cref="Int8Rows.OffsetLanes"/>); Q8_0 weights go in as |w| with x given w's sign. Rows are
/// grouped and prefetched as in <see cref="RowDots"/>, and every (x, row) dot is the same chain of operations whatever
/// n and the grouping.
/// </summary>
public static class Int8RowDots
{
    const int Block = WeightFormats.BlockElements;

    /// <summary>Whether <see cref="BlockRows"/> runs here for these weights: with AVX2 and FMA, or with 128-bit vectors
    /// alone (Arm64, x86 without AVX2: <see cref="Portable"/>).</summary>
    public static bool Supported(WeightFormat format, int k) =>
        (Avx2.IsSupported && Fma.IsSupported || Vector128.IsHardwareAccelerated) && k % Block == 0 && format is WeightFormat.Q4_0 or WeightFormat.Q8_0;

    /// <summary>y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias) for r &lt; rows, i &lt; x.N.</summary>
    public static void BlockRows(Int8Rows x, ReadOnlySpan<byte> w, WeightFormat format, ReadOnlySpan<float> bias,
        int firstRow, int rows, Span<float> y, int ldy)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported)) Portable.BlockRows(x, w, format, bias, firstRow, rows, y, ldy);
        else if (format == WeightFormat.Q4_0) BlockRows<Q4>(x, w, bias, firstRow, rows, y, ldy);
        else if (format == WeightFormat.Q8_0) BlockRows<Q8>(x, w, bias, firstRow, rows, y, ldy);
        else throw new ArgumentException($"int8 row dots take Q4_0 or Q8_0 weights, not {format}");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void BlockRows<TBlock>(Int8Rows x, ReadOnlySpan<byte> w, ReadOnlySpan<float> bias, int firstRow, int rows,
        Span<float> y, int ldy) where TBlock : struct, IInt8Block<TBlock>
    {
        int n = x.N, blocks = x.K / Block, rowBytes = blocks * TBlock.Bytes;
        if (y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
            throw new ArgumentException("int8 BlockRows: w or y is shorter than the shapes say");
        fixed (byte* weights = w)
        fixed (sbyte* q = x.Values)
        fixed (float* scales = x.Scales)
        fixed (int* offsets = x.OffsetLanes)
        fixed (float* halves = HalfTable.Values)
        fixed (float* ys = y)
        {
            var kernel = new Kernel<TBlock>(TBlock.Create(), new XRow(q, scales, offsets, blocks), rowBytes, blocks, halves);
            RowDots.ForRowGroups(kernel, n, weights + (long)firstRow * rowBytes, rowBytes, bias, firstRow, rows, ys, ldy);
        }
    }

    readonly unsafe struct Kernel<TBlock>(TBlock decoder, XRow x, int rowBytes, int blocks, float* halves) : RowDots.IRowDotKernel
        where TBlock : struct, IInt8Block<TBlock>
    {
        public Vector128<float> Dot4(int i, byte* group) => Int8RowDots.Dot4(decoder, x.At(i), group, rowBytes, blocks, halves);

        public (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group) =>
            Int8RowDots.Dot4x2(decoder, x.At(i), x.At(i + 1), group, rowBytes, blocks, halves);

        public float Dot1(int i, byte* row) => Int8RowDots.Dot1(decoder, x.At(i), row, blocks, halves);
    }

    /// <summary>Pointers to one x row's rounded values, block scales and offset lanes.</summary>
    readonly unsafe struct XRow(sbyte* values, float* scales, int* offsets, int blocks)
    {
        public XRow At(int i) => new(values + (long)i * blocks * Block, scales + (long)i * blocks, offsets + (long)i * blocks * 8, blocks);

        public Vector256<sbyte> Values(int b) => Avx.LoadVector256(values + b * Block);
        public Vector256<int> Offsets(int b) => Avx.LoadVector256(offsets + b * 8);
        public float Scale(int b) => scales[b];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector128<float> Dot4<TBlock>(in TBlock decoder, XRow x, byte* row, int rowBytes, int blocks, float* halves)
        where TBlock : struct, IInt8Block<TBlock>
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var q = x.Values(b);
            var offsets = x.Offsets(b);
            float d = x.Scale(b);
            byte* block = row + b * TBlock.Bytes;
            RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
            a0 = Step(decoder, block, q, offsets, d, halves, a0);
            a1 = Step(decoder, block + rowBytes, q, offsets, d, halves, a1);
            a2 = Step(decoder, block + 2 * rowBytes, q, offsets, d, halves, a2);
            a3 = Step(decoder, block + 3 * rowBytes, q, offsets, d, halves, a3);
        }
        return Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
    }

    /// <summary><see cref="Dot4{TBlock}"/> for two x rows: each weight block is loaded and unpacked once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector128<float>, Vector128<float>) Dot4x2<TBlock>(in TBlock decoder, XRow x0, XRow x1, byte* row, int rowBytes, int blocks,
        float* halves) where TBlock : struct, IInt8Block<TBlock>
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < blocks; b++)
        {
            var q0 = x0.Values(b);
            var q1 = x1.Values(b);
            var offsets0 = x0.Offsets(b);
            var offsets1 = x1.Offsets(b);
            float d0 = x0.Scale(b), d1 = x1.Scale(b);
            byte* block = row + b * TBlock.Bytes;
            RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
            (a0, b0) = Step2(decoder, block, q0, offsets0, d0, q1, offsets1, d1, halves, a0, b0);
            (a1, b1) = Step2(decoder, block + rowBytes, q0, offsets0, d0, q1, offsets1, d1, halves, a1, b1);
            (a2, b2) = Step2(decoder, block + 2 * rowBytes, q0, offsets0, d0, q1, offsets1, d1, halves, a2, b2);
            (a3, b3) = Step2(decoder, block + 3 * rowBytes, q0, offsets0, d0, q1, offsets1, d1, halves, a3, b3);
        }
        return (Vector128.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3)),
            Vector128.Create(Vector256.Sum(b0), Vector256.Sum(b1), Vector256.Sum(b2), Vector256.Sum(b3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot1<TBlock>(in TBlock decoder, XRow x, byte* row, int blocks, float* halves) where TBlock : struct, IInt8Block<TBlock>
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Step(decoder, row + b * TBlock.Bytes, x.Values(b), x.Offsets(b), x.Scale(b), halves, acc);
        return Vector256.Sum(acc);
    }

    /// <summary>acc + d_w·d_x·(the block's eight int32 partial dots) lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector256<float> Step<TBlock>(in TBlock decoder, byte* block, Vector256<sbyte> q, Vector256<int> offsets,
        float d, float* halves, Vector256<float> acc) where TBlock : struct, IInt8Block<TBlock>
    {
        var dots = decoder.Dot(decoder.Load(block), q, offsets);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dots), Vector256.Create(halves[*(ushort*)block] * d), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe (Vector256<float>, Vector256<float>) Step2<TBlock>(in TBlock decoder, byte* block, Vector256<sbyte> q0,
        Vector256<int> offsets0, float d0, Vector256<sbyte> q1, Vector256<int> offsets1, float d1, float* halves,
        Vector256<float> acc0, Vector256<float> acc1) where TBlock : struct, IInt8Block<TBlock>
    {
        var weights = decoder.Load(block);
        float dw = halves[*(ushort*)block];
        var dots0 = decoder.Dot(weights, q0, offsets0);
        var dots1 = decoder.Dot(weights, q1, offsets1);
        return (Fma.MultiplyAdd(Avx.ConvertToVector256Single(dots0), Vector256.Create(dw * d0), acc0),
            Fma.MultiplyAdd(Avx.ConvertToVector256Single(dots1), Vector256.Create(dw * d1), acc1));
    }

    /// <summary>A quantized weight format met with int8 x: its block bytes (an f16 scale first), its 32 weights as bytes,
    /// and their dot with one x block in eight int32 lanes (lane j: elements 4j .. 4j + 3).</summary>
    interface IInt8Block<TSelf> where TSelf : struct, IInt8Block<TSelf>
    {
        static abstract int Bytes { get; }
        static abstract TSelf Create();
        unsafe Vector256<sbyte> Load(byte* block);
        Vector256<int> Dot(Vector256<sbyte> weights, Vector256<sbyte> q, Vector256<int> offsets);
    }

    /// <summary>Q4_0: byte j's low nibble is element j, its high nibble element j + 16 (ggml). The 16 bytes go to both
    /// 128-bit lanes and the upper lane is shifted right by 4 (one vpsrlvw with AVX-512BW), so the masked bytes are
    /// elements 0..31 in order, unsigned.</summary>
    readonly struct Q4 : IInt8Block<Q4>
    {
        readonly Vector256<ushort> shifts;
        readonly Vector256<byte> nibble;
        readonly Vector256<short> ones;

        public Q4()
        {
            shifts = Vector256.Create(Vector128<ushort>.Zero, Vector128.Create((ushort)4));
            nibble = Vector256.Create((byte)0x0F);
            ones = Vector256.Create((short)1);
        }

        public static int Bytes => WeightFormats.Q4BlockBytes;
        public static Q4 Create() => new();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe Vector256<sbyte> Load(byte* block)
        {
            if (Avx512BW.VL.IsSupported)
            {
                var packed = Avx2.BroadcastVector128ToVector256(block + 2).AsUInt16();
                return (Avx512BW.VL.ShiftRightLogicalVariable(packed, shifts).AsByte() & nibble).AsSByte();
            }
            var bytes = Sse2.LoadVector128(block + 2);   // AVX2 alone: no per-lane shift, so shift all and join the halves
            return (Vector256.Create(bytes, Sse2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte()) & nibble).AsSByte();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> Dot(Vector256<sbyte> weights, Vector256<sbyte> q, Vector256<int> offsets) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(weights.AsByte(), q), ones) - offsets;
    }

    /// <summary>Q8_0: 32 signed bytes. vpmaddubsw takes unsigned × signed, so |w| meets x with w's sign (|w| ≤ 128 and
    /// |q| ≤ 127 keep each 16-bit pair sum below 32,767).</summary>
    readonly struct Q8 : IInt8Block<Q8>
    {
        readonly Vector256<short> ones;

        public Q8() => ones = Vector256.Create((short)1);

        public static int Bytes => WeightFormats.Q8BlockBytes;
        public static Q8 Create() => new();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe Vector256<sbyte> Load(byte* block) => Avx.LoadVector256((sbyte*)(block + 2));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> Dot(Vector256<sbyte> weights, Vector256<sbyte> q, Vector256<int> offsets) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(weights), Avx2.Sign(q, weights)), ones);
    }

    /// <summary>The same integer dots with 128-bit vectors alone (Arm64, x86 without AVX2, which has no vpmaddubsw): a
    /// block's weights and x values widened to 16 bits (the Q4_0 offset of 8 taken off in the bytes), multiplied (|w| ≤ 128
    /// and |q| ≤ 127 keep each product in 16 bits) and summed in 32-bit lanes, exact, then converted and scaled once a
    /// block. Before it such a CPU multiplied the rounded x as floats: llama.cpp's rounding but not its sums, and the
    /// kit's Q8_0 "plain" run came out with other greedy ids (DOTNET_EnableAVX2=0 here). Rows are grouped as in
    /// <see cref="RowDots128"/>.</summary>
    public static class Portable
    {
        /// <summary>y[i·ldy + firstRow + r] = x_i · W[firstRow + r] (+ bias) for r &lt; rows, i &lt; x.N.</summary>
        public static void BlockRows(Int8Rows x, ReadOnlySpan<byte> w, WeightFormat format, ReadOnlySpan<float> bias,
            int firstRow, int rows, Span<float> y, int ldy)
        {
            if (format == WeightFormat.Q4_0) BlockRows<Q4Bytes>(x, w, bias, firstRow, rows, y, ldy);
            else if (format == WeightFormat.Q8_0) BlockRows<Q8Bytes>(x, w, bias, firstRow, rows, y, ldy);
            else throw new ArgumentException($"int8 row dots take Q4_0 or Q8_0 weights, not {format}");
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static unsafe void BlockRows<TBlock>(Int8Rows x, ReadOnlySpan<byte> w, ReadOnlySpan<float> bias, int firstRow, int rows,
            Span<float> y, int ldy) where TBlock : struct, IBlockBytes
        {
            int n = x.N, blocks = x.K / Block, rowBytes = blocks * TBlock.Bytes;
            if (x.K % Block != 0 || y.Length < (n - 1) * ldy + firstRow + rows || w.Length < (long)(firstRow + rows) * rowBytes)
                throw new ArgumentException("int8 BlockRows (128-bit): w or y is shorter than the shapes say");
            fixed (byte* weights = w)
            fixed (sbyte* q = x.Values)
            fixed (float* scales = x.Scales)
            fixed (float* halves = HalfTable.Values)
            fixed (float* ys = y)
            {
                var kernel = new Kernel<TBlock>(q, scales, blocks, rowBytes, halves);
                RowDots.ForRowGroups(kernel, n, weights + (long)firstRow * rowBytes, rowBytes, bias, firstRow, rows, ys, ldy);
            }
        }

        readonly unsafe struct Kernel<TBlock>(sbyte* q, float* scales, int blocks, int rowBytes, float* halves) : RowDots.IRowDotKernel
            where TBlock : struct, IBlockBytes
        {
            public Vector128<float> Dot4(int i, byte* group)
            {
                sbyte* qi = q + (long)i * blocks * Block;
                float* di = scales + (long)i * blocks;
                Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int b = 0; b < blocks; b++)
                {
                    var (low, high) = (Vector128.Load(qi + b * Block), Vector128.Load(qi + b * Block + 16));
                    byte* block = group + b * TBlock.Bytes;
                    if (Sse.IsSupported) RowDots.Prefetch4(block + RowDots.PrefetchBlocks * TBlock.Bytes, rowBytes);
                    a0 = Step(block, low, high, di[b], a0);
                    a1 = Step(block + rowBytes, low, high, di[b], a1);
                    a2 = Step(block + 2 * rowBytes, low, high, di[b], a2);
                    a3 = Step(block + 3 * rowBytes, low, high, di[b], a3);
                }
                return Vector128.Create(Vector128.Sum(a0), Vector128.Sum(a1), Vector128.Sum(a2), Vector128.Sum(a3));
            }

            public (Vector128<float>, Vector128<float>) Dot4x2(int i, byte* group) => (Dot4(i, group), Dot4(i + 1, group));

            public float Dot1(int i, byte* row)
            {
                sbyte* qi = q + (long)i * blocks * Block;
                var acc = Vector128<float>.Zero;
                for (int b = 0; b < blocks; b++)
                    acc = Step(row + b * TBlock.Bytes, Vector128.Load(qi + b * Block), Vector128.Load(qi + b * Block + 16),
                        scales[(long)i * blocks + b], acc);
                return Vector128.Sum(acc);
            }

            /// <summary>acc + d_w·d_x·(the block's integer dot, in four lanes).</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            Vector128<float> Step(byte* block, Vector128<sbyte> xLow, Vector128<sbyte> xHigh, float dx, Vector128<float> acc)
            {
                var (wLow, wHigh) = TBlock.Load(block);
                var dots = Products(wLow, xLow) + Products(wHigh, xHigh);
                return Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(dots), Vector128.Create(halves[*(ushort*)block] * dx), acc);
            }
        }

        /// <summary>Σ w[j]·q[j] over 16 bytes, exact, in four int32 lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector128<int> Products(Vector128<sbyte> w, Vector128<sbyte> q)
        {
            var (w0, w1) = Vector128.Widen(w);
            var (q0, q1) = Vector128.Widen(q);
            var (p0, p1) = Vector128.Widen(w0 * q0);
            var (p2, p3) = Vector128.Widen(w1 * q1);
            return (p0 + p1) + (p2 + p3);
        }

        /// <summary>A quantized format's block bytes (an f16 scale first) and its 32 weights as signed bytes, elements
        /// 0–15 and 16–31.</summary>
        interface IBlockBytes
        {
            static abstract int Bytes { get; }
            static abstract unsafe (Vector128<sbyte> Low, Vector128<sbyte> High) Load(byte* block);
        }

        readonly struct Q8Bytes : IBlockBytes
        {
            public static int Bytes => WeightFormats.Q8BlockBytes;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static unsafe (Vector128<sbyte> Low, Vector128<sbyte> High) Load(byte* block) =>
                (Vector128.Load((sbyte*)block + 2), Vector128.Load((sbyte*)block + 18));
        }

        /// <summary>Q4_0: byte j's low nibble is element j, its high nibble element j + 16 (ggml), each less 8.</summary>
        readonly struct Q4Bytes : IBlockBytes
        {
            public static int Bytes => WeightFormats.Q4BlockBytes;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static unsafe (Vector128<sbyte> Low, Vector128<sbyte> High) Load(byte* block) =>
                WeightRows.Q4Values(Vector128.Load(block + 2));
        }
    }
}
