using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>Data movement: transpose, sum over the middle axis, row gather (embedding).</summary>
public static class LayoutKernels
{
    const int Tile = 32;

    /// <summary>x: [a, b]; y: [b, a]. Tiled so both sides stay in cache.</summary>
    public static void Transpose(ReadOnlySpan<float> x, int a, int b, Span<float> y)
    {
        for (int i0 = 0; i0 < a; i0 += Tile)
        for (int j0 = 0; j0 < b; j0 += Tile)
        {
            int i1 = Math.Min(a, i0 + Tile), j1 = Math.Min(b, j0 + Tile);
            for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++)
                y[j * a + i] = x[i * b + j];
        }
    }

    /// <summary>x: [a, b, c]; y: [a, c].</summary>
    public static void SumMiddle(ReadOnlySpan<float> x, int a, int b, int c, Span<float> y)
    {
        for (int i = 0; i < a; i++)
        {
            var yi = y.Slice(i * c, c);
            yi.Clear();
            for (int j = 0; j < b; j++) TensorPrimitives.Add(yi, x.Slice((i * b + j) * c, c), yi);
        }
    }

    /// <summary>y[i] = table[ids[i]] as float. table: [V, d] in <paramref name="format"/>; ids: [n] (checked by the
    /// caller to lie in [0, V)); y: [n, d].</summary>
    public static void Embedding(ReadOnlySpan<byte> table, WeightFormat format, ReadOnlySpan<int> ids, int d, Span<float> y)
    {
        for (int i = 0; i < ids.Length; i++) WeightRows.Decode(table, format, d, ids[i], y.Slice(i * d, d));
    }
}
