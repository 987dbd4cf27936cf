using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>
/// The register-tiled core of every n &gt; few product (prefill, MERT, projector, convolution): y[i, j] = Σ_c x[i, c]·P[c, j]
/// for one packed panel P of <see cref="Width"/> output columns (k × Width floats, column j of the panel contiguous
/// across lanes). Rows of x go through a 6 × Width tile of 12 vector accumulators (6 broadcasts, 2 panel loads and
/// 12 FMAs per step of c) — 15 registers, so it fits AVX2's 16 as well as AVX-512's 32. The panel (≤ a few hundred KB)
/// stays in L2 while every row tile streams past it. Callers parallelise over panels.
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
            c00 = Vector.FusedMultiplyAdd(a, b0, c00); c01 = Vector.FusedMultiplyAdd(a, b1, c01);
            a = new Vector<float>(Unsafe.Add(ref x1, c));
            c10 = Vector.FusedMultiplyAdd(a, b0, c10); c11 = Vector.FusedMultiplyAdd(a, b1, c11);
            a = new Vector<float>(Unsafe.Add(ref x2, c));
            c20 = Vector.FusedMultiplyAdd(a, b0, c20); c21 = Vector.FusedMultiplyAdd(a, b1, c21);
            a = new Vector<float>(Unsafe.Add(ref x3, c));
            c30 = Vector.FusedMultiplyAdd(a, b0, c30); c31 = Vector.FusedMultiplyAdd(a, b1, c31);
            a = new Vector<float>(Unsafe.Add(ref x4, c));
            c40 = Vector.FusedMultiplyAdd(a, b0, c40); c41 = Vector.FusedMultiplyAdd(a, b1, c41);
            a = new Vector<float>(Unsafe.Add(ref x5, c));
            c50 = Vector.FusedMultiplyAdd(a, b0, c50); c51 = Vector.FusedMultiplyAdd(a, b1, c51);
        }
        ref float t = ref MemoryMarshal.GetReference(tile);
        c00.StoreUnsafe(ref t, 0); c01.StoreUnsafe(ref t, (nuint)lanes);
        c10.StoreUnsafe(ref t, (nuint)width); c11.StoreUnsafe(ref t, (nuint)(width + lanes));
        c20.StoreUnsafe(ref t, (nuint)(2 * width)); c21.StoreUnsafe(ref t, (nuint)(2 * width + lanes));
        c30.StoreUnsafe(ref t, (nuint)(3 * width)); c31.StoreUnsafe(ref t, (nuint)(3 * width + lanes));
        c40.StoreUnsafe(ref t, (nuint)(4 * width)); c41.StoreUnsafe(ref t, (nuint)(4 * width + lanes));
        c50.StoreUnsafe(ref t, (nuint)(5 * width)); c51.StoreUnsafe(ref t, (nuint)(5 * width + lanes));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile1(ref float x, ref float panel, int k, Span<float> tile)
    {
        int lanes = Lanes, width = 2 * lanes;
        Vector<float> c0 = default, c1 = default;
        for (int c = 0; c < k; c++)
        {
            ref float p = ref Unsafe.Add(ref panel, (nint)c * width);
            var a = new Vector<float>(Unsafe.Add(ref x, c));
            c0 = Vector.FusedMultiplyAdd(a, Vector.LoadUnsafe(ref p), c0);
            c1 = Vector.FusedMultiplyAdd(a, Vector.LoadUnsafe(ref p, (nuint)lanes), c1);
        }
        ref float t = ref MemoryMarshal.GetReference(tile);
        c0.StoreUnsafe(ref t, 0);
        c1.StoreUnsafe(ref t, (nuint)lanes);
    }

    [ThreadStatic] static float[]? panelBuffer, rowBuffer;

    /// <summary>This thread's panel [k, Width] and one-row scratch [k], kept between calls.</summary>
    public static (float[] Panel, float[] Row) Scratch(int k)
    {
        if (panelBuffer is null || panelBuffer.Length < k * Width) panelBuffer = new float[k * Width];
        if (rowBuffer is null || rowBuffer.Length < k) rowBuffer = new float[k];
        return (panelBuffer, rowBuffer);
    }

    /// <summary>Packs rows [j0, j0 + columns) of a [m, k] weight matrix into panel [k, Width], zero past
    /// <paramref name="columns"/>. <paramref name="row"/> is scratch for one decoded row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows(ReadOnlySpan<byte> w, WeightFormat format, int k, int j0, int columns, Span<float> row,
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
}
