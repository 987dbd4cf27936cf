using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// The register-tiled core of every n &gt; few product (prefill, MERT, projector, convolution): y[i, j] = Σ_c x[i, c]·P[c, j]
/// for one packed panel P of <see cref="Width"/> output columns (k × Width floats, column j of the panel contiguous
/// across lanes). Rows of x go through a 6 × Width tile of 12 vector accumulators (6 broadcasts, 2 panel loads and
/// 12 FMAs per step of c) — 15 registers, so it fits AVX2's 16 as well as AVX-512's 32. The panel (≤ a few hundred KB)
/// stays in L2 while every row tile streams past it. Callers parallelise over panels.
/// Here and in the other cpu loops, multiply-adds are <c>MultiplyAddEstimate</c>: fused where the CPU has FMA (any
/// x86-64-v3 part, Arm64), the same bits as <c>FusedMultiplyAdd</c>; a multiply and an add where it has not, where
/// <c>FusedMultiplyAdd</c> is emulated in software — the synthetic Q4_0 GGUF's prefill on x86 without FMA
/// (DOTNET_EnableAVX2=0) ran at 1.3 tok/s, 22 with this.
/// </summary>
static class Gemm
{
    const int TileRows = 6;

    static int Lanes => Vector<float>.Count;

    /// <summary>Output columns per panel: two vectors.</summary>
    public static int Width => 2 * Vector<float>.Count;

    /// <summary>x: [n, k] with row stride <paramref name="ldx"/>; panel: [k, Width]; writes y[i·ldy + j0 + t] for the first
    /// <paramref name="columns"/> lanes t (the rest of the panel is padding), plus bias[t] when bias is not empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Panel(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> panel, ReadOnlySpan<float> bias, int n,
        int k, int columns, Span<float> y, int ldy, int j0)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float pr = ref MemoryMarshal.GetReference(panel);
        Span<float> tile = stackalloc float[TileRows * 2 * Vector<float>.Count];
        int i = 0;
        for (; i + TileRows <= n; i += TileRows)
        {
            PrefetchRows(y, ldy, i + TileRows, Math.Min(TileRows, n - i - TileRows), j0);
            Tile6(ref Unsafe.Add(ref xr, (nint)i * ldx), ldx, ref pr, k, tile);
            Store(tile, bias, TileRows, columns, y, ldy, i, j0);
        }
        for (; i < n; i++)
        {
            Tile1(ref Unsafe.Add(ref xr, (nint)i * ldx), ref pr, k, tile);
            Store(tile, bias, 1, columns, y, ldy, i, j0);
        }
    }

    /// <summary>Prefetches the y lines the next tile will write while this one computes: y is written once, so each
    /// store otherwise waited for its line to come in from L3 or DRAM (Store was 5 % of MERT on the cpu).</summary>
    static unsafe void PrefetchRows(Span<float> y, int ldy, int i0, int rows, int j0)
    {
        if (!Sse.IsSupported) return;
        fixed (float* p = y)
            for (int r = 0; r < rows; r++) Sse.Prefetch0(p + (long)(i0 + r) * ldy + j0);
    }

    static void Store(ReadOnlySpan<float> tile, ReadOnlySpan<float> bias, int rows, int columns, Span<float> y, int ldy,
        int i0, int j0)
    {
        int width = Width;
        if (columns == width)
        {
            // Two vector moves a row (Span.CopyTo's memmove call, or a scalar bias loop, cost more than the 64 bytes).
            var (bias0, bias1) = bias.IsEmpty ? default : (new Vector<float>(bias), new Vector<float>(bias[Lanes..]));
            for (int r = 0; r < rows; r++)
            {
                var source = tile.Slice(r * width, width);
                var destination = y.Slice((i0 + r) * ldy + j0, width);
                (new Vector<float>(source) + bias0).CopyTo(destination);
                (new Vector<float>(source[Lanes..]) + bias1).CopyTo(destination[Lanes..]);
            }
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            var source = tile.Slice(r * width, columns);
            var destination = y.Slice((i0 + r) * ldy + j0, columns);
            if (bias.IsEmpty) source.CopyTo(destination);
            else for (int t = 0; t < columns; t++) destination[t] = source[t] + bias[t];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile6(ref float x, int ldx, ref float panel, int k, Span<float> tile)
    {
        int lanes = Lanes, width = 2 * lanes;
        Vector<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        ref float x1 = ref Unsafe.Add(ref x, ldx);
        ref float x2 = ref Unsafe.Add(ref x, 2 * ldx);
        ref float x3 = ref Unsafe.Add(ref x, 3 * ldx);
        ref float x4 = ref Unsafe.Add(ref x, 4 * ldx);
        ref float x5 = ref Unsafe.Add(ref x, 5 * ldx);
        for (int c = 0; c < k; c++)
        {
            ref float p = ref Unsafe.Add(ref panel, (nint)c * width);
            var b0 = Vector.LoadUnsafe(ref p);
            var b1 = Vector.LoadUnsafe(ref p, (nuint)lanes);
            var a = new Vector<float>(Unsafe.Add(ref x, c));
            c00 = Vector.MultiplyAddEstimate(a, b0, c00); c01 = Vector.MultiplyAddEstimate(a, b1, c01);
            a = new Vector<float>(Unsafe.Add(ref x1, c));
            c10 = Vector.MultiplyAddEstimate(a, b0, c10); c11 = Vector.MultiplyAddEstimate(a, b1, c11);
            a = new Vector<float>(Unsafe.Add(ref x2, c));
            c20 = Vector.MultiplyAddEstimate(a, b0, c20); c21 = Vector.MultiplyAddEstimate(a, b1, c21);
            a = new Vector<float>(Unsafe.Add(ref x3, c));
            c30 = Vector.MultiplyAddEstimate(a, b0, c30); c31 = Vector.MultiplyAddEstimate(a, b1, c31);
            a = new Vector<float>(Unsafe.Add(ref x4, c));
            c40 = Vector.MultiplyAddEstimate(a, b0, c40); c41 = Vector.MultiplyAddEstimate(a, b1, c41);
            a = new Vector<float>(Unsafe.Add(ref x5, c));
            c50 = Vector.MultiplyAddEstimate(a, b0, c50); c51 = Vector.MultiplyAddEstimate(a, b1, c51);
        }
        ref float t = ref MemoryMarshal.GetReference(tile);
        c00.StoreUnsafe(ref t, 0); c01.StoreUnsafe(ref t, (nuint)lanes);
        c10.StoreUnsafe(ref t, (nuint)width); c11.StoreUnsafe(ref t, (nuint)(width + lanes));
        c20.StoreUnsafe(ref t, (nuint)(2 * width)); c21.StoreUnsafe(ref t, (nuint)(2 * width + lanes));
        c30.StoreUnsafe(ref t, (nuint)(3 * width)); c31.StoreUnsafe(ref t, (nuint)(3 * width + lanes));
        c40.StoreUnsafe(ref t, (nuint)(4 * width)); c41.StoreUnsafe(ref t, (nuint)(4 * width + lanes));
        c50.StoreUnsafe(ref t, (nuint)(5 * width)); c51.StoreUnsafe(ref t, (nuint)(5 * width + lanes));
    }

    /// <summary>One row × Width. Four steps of c at a time into separate accumulators: with one pair, every FMA waited
    /// for the previous one (4 cycles), and the rows left over from the 6-row tiles (all of them when n &lt; 6) ran at an
    /// eighth of the tiles' rate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile1(ref float x, ref float panel, int k, Span<float> tile)
    {
        int lanes = Lanes, width = 2 * lanes;
        Vector<float> c0 = default, c1 = default, d0 = default, d1 = default, e0 = default, e1 = default, f0 = default, f1 = default;
        int c = 0;
        for (; c + 4 <= k; c += 4)
        {
            ref float p = ref Unsafe.Add(ref panel, (nint)c * width);
            var a = new Vector<float>(Unsafe.Add(ref x, c));
            c0 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p), c0);
            c1 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)lanes), c1);
            a = new Vector<float>(Unsafe.Add(ref x, c + 1));
            d0 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)width), d0);
            d1 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)(width + lanes)), d1);
            a = new Vector<float>(Unsafe.Add(ref x, c + 2));
            e0 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)(2 * width)), e0);
            e1 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)(2 * width + lanes)), e1);
            a = new Vector<float>(Unsafe.Add(ref x, c + 3));
            f0 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)(3 * width)), f0);
            f1 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)(3 * width + lanes)), f1);
        }
        for (; c < k; c++)
        {
            ref float p = ref Unsafe.Add(ref panel, (nint)c * width);
            var a = new Vector<float>(Unsafe.Add(ref x, c));
            c0 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p), c0);
            c1 = Vector.MultiplyAddEstimate(a, Vector.LoadUnsafe(ref p, (nuint)lanes), c1);
        }
        ref float t = ref MemoryMarshal.GetReference(tile);
        ((c0 + d0) + (e0 + f0)).StoreUnsafe(ref t, 0);
        ((c1 + d1) + (e1 + f1)).StoreUnsafe(ref t, (nuint)lanes);
    }

    [ThreadStatic] static float[]? panelBuffer, rowBuffer;

    /// <summary>Row elements <see cref="PackRows"/> decodes at a time, for all of a panel's rows.</summary>
    const int PackChunk = 256;

    /// <summary>This thread's panel [k, Width] and a scratch of at least k and of Width × <see cref="PackChunk"/> floats,
    /// kept between calls.</summary>
    public static (float[] Panel, float[] Row) Scratch(int k)
    {
        if (panelBuffer is null || panelBuffer.Length < k * Width) panelBuffer = new float[k * Width];
        int scratch = Math.Max(k, Width * PackChunk);
        if (rowBuffer is null || rowBuffer.Length < scratch) rowBuffer = new float[scratch];
        return (panelBuffer, rowBuffer);
    }

    /// <summary>Packs rows [j0, j0 + columns) of a [m, k] weight matrix into panel [k, Width], zero past
    /// <paramref name="columns"/>. <paramref name="scratch"/> comes from <see cref="Scratch"/>. With AVX-512 the rows are
    /// decoded <see cref="PackChunk"/> elements at a time and written out by 16×16 transposes: the scalar scatter,
    /// one 4-byte store per weight 64 bytes apart, held packing to ~1.1 G weights/s a core, a fifth of prefill.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows(ReadOnlySpan<byte> w, WeightFormat format, int k, int j0, int columns, Span<float> scratch,
        Span<float> panel)
    {
        int width = Width;
        if (!Avx512F.IsSupported || width != 16)
        {
            PackRowsScalar(w, format, k, j0, columns, scratch, panel);
            return;
        }
        for (int c0 = 0; c0 < k; c0 += PackChunk)
        {
            int length = Math.Min(PackChunk, k - c0);
            for (int t = 0; t < width; t++)
            {
                var rowChunk = scratch.Slice(t * PackChunk, length);
                if (t < columns) WeightRows.Decode(w, format, k, j0 + t, c0, length, rowChunk);
                else rowChunk.Clear();
            }
            int c = 0;
            for (; c + 16 <= length; c += 16) Transpose16(scratch[c..], PackChunk, panel.Slice((c0 + c) * width, 16 * width));
            for (; c < length; c++)
                for (int t = 0; t < width; t++) panel[(c0 + c) * width + t] = scratch[t * PackChunk + c];
        }
    }

    static void PackRowsScalar(ReadOnlySpan<byte> w, WeightFormat format, int k, int j0, int columns, Span<float> row,
        Span<float> panel)
    {
        int width = Width;
        if (columns < width) panel[..(k * width)].Clear();
        for (int t = 0; t < columns; t++)
        {
            WeightRows.Decode(w, format, k, j0 + t, row);
            ref float dst = ref Unsafe.Add(ref MemoryMarshal.GetReference(panel), t);
            for (int c = 0; c < k; c++) Unsafe.Add(ref dst, (nint)c * width) = row[c];
        }
    }

    /// <summary>destination[i·16 + t] = source[t·stride + i] for t, i &lt; 16. Each group of four rows is unpacked and
    /// shuffled so that one vector holds, in its 128-bit lane L, those rows' element 4L + j; a 4×4 transpose of 128-bit
    /// lanes (vshuff32x4) then assembles each element's 16 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose16(ReadOnlySpan<float> source, int stride, Span<float> destination)
    {
        ref float s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        Unsafe.SkipInit(out Rows16 rows);
        for (int g = 0; g < 4; g++)
        {
            // Rows 4g..4g+3: after the unpacks and shuffles, quad[j] lane L = (those rows' element 4L + j).
            var r0 = Vector512.LoadUnsafe(ref s, (nuint)(4 * g * stride));
            var r1 = Vector512.LoadUnsafe(ref s, (nuint)((4 * g + 1) * stride));
            var r2 = Vector512.LoadUnsafe(ref s, (nuint)((4 * g + 2) * stride));
            var r3 = Vector512.LoadUnsafe(ref s, (nuint)((4 * g + 3) * stride));
            var u0 = Avx512F.UnpackLow(r0, r1);
            var u1 = Avx512F.UnpackHigh(r0, r1);
            var u2 = Avx512F.UnpackLow(r2, r3);
            var u3 = Avx512F.UnpackHigh(r2, r3);
            rows[4 * g] = Avx512F.Shuffle(u0, u2, 0x44);
            rows[4 * g + 1] = Avx512F.Shuffle(u0, u2, 0xEE);
            rows[4 * g + 2] = Avx512F.Shuffle(u1, u3, 0x44);
            rows[4 * g + 3] = Avx512F.Shuffle(u1, u3, 0xEE);
        }
        for (int j = 0; j < 4; j++)
        {
            // Element 4L + j = lane L of rows[j], rows[4 + j], rows[8 + j], rows[12 + j]: a 4×4 transpose of lanes.
            var w0 = Avx512F.Shuffle4x128(rows[j], rows[4 + j], 0x44);
            var w1 = Avx512F.Shuffle4x128(rows[j], rows[4 + j], 0xEE);
            var w2 = Avx512F.Shuffle4x128(rows[8 + j], rows[12 + j], 0x44);
            var w3 = Avx512F.Shuffle4x128(rows[8 + j], rows[12 + j], 0xEE);
            Avx512F.Shuffle4x128(w0, w2, 0x88).StoreUnsafe(ref d, (nuint)(j * 16));
            Avx512F.Shuffle4x128(w0, w2, 0xDD).StoreUnsafe(ref d, (nuint)((4 + j) * 16));
            Avx512F.Shuffle4x128(w1, w3, 0x88).StoreUnsafe(ref d, (nuint)((8 + j) * 16));
            Avx512F.Shuffle4x128(w1, w3, 0xDD).StoreUnsafe(ref d, (nuint)((12 + j) * 16));
        }
    }

    [InlineArray(16)]
    struct Rows16 { Vector512<float> first; }
}
