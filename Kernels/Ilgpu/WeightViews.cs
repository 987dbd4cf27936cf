using ILGPU;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>A stored weight matrix [rows, k] seen three ways over the same bytes (device code reads whichever its
/// format needs): bytes for int8/nibble quants, ushort for F16/BF16 values and block scales, float for F32.</summary>
public readonly struct WeightViews(ArrayView<byte> bytes, ArrayView<ushort> halves, ArrayView<float> floats,
    WeightFormat format, int k)
{
    public readonly ArrayView<byte> Bytes = bytes;
    public readonly ArrayView<ushort> Halves = halves;
    public readonly ArrayView<float> Floats = floats;
    public readonly int Format = (int)format;
    public readonly int K = k;

    long BlockOffset(int row, int block, int blockBytes) => ((long)row * (K / WeightFormats.BlockElements) + block) * blockBytes;

    /// <summary>Element [row, col] as float (embedding lookups).</summary>
    public float Element(int row, int col)
    {
        long index = (long)row * K + col;
        if (Format == (int)WeightFormat.F32) return Floats[index];
        if (Format == (int)WeightFormat.F16) return ScalarMath.HalfToFloat(Halves[index]);
        if (Format == (int)WeightFormat.BF16) return ScalarMath.BF16ToFloat(Halves[index]);
        int block = col / WeightFormats.BlockElements, q = col % WeightFormats.BlockElements;
        if (Format == (int)WeightFormat.Q8_0)
        {
            long b8 = BlockOffset(row, block, WeightFormats.Q8BlockBytes);
            return ScalarMath.HalfToFloat(Halves[b8 / 2]) * (sbyte)Bytes[b8 + 2 + q];
        }
        long b4 = BlockOffset(row, block, WeightFormats.Q4BlockBytes);
        int packed = Bytes[b4 + 2 + (q & 15)];
        int nibble = q < 16 ? packed & 15 : packed >> 4;
        return ScalarMath.HalfToFloat(Halves[b4 / 2]) * (nibble - 8);
    }

    /// <summary>Σ_c x[xRow + c] · W[row, c], block scales applied once per block.</summary>
    public float Dot(ArrayView<float> x, long xRow, int row)
    {
        if (Format == (int)WeightFormat.Q8_0) return DotQ8(x, xRow, row);
        if (Format == (int)WeightFormat.Q4_0) return DotQ4(x, xRow, row);
        float sum = 0;
        for (int c = 0; c < K; c++) sum += x[xRow + c] * Element(row, c);
        return sum;
    }

    float DotQ8(ArrayView<float> x, long xRow, int row)
    {
        float sum = 0;
        for (int block = 0; block < K / WeightFormats.BlockElements; block++)
        {
            long b = BlockOffset(row, block, WeightFormats.Q8BlockBytes);
            long xb = xRow + block * WeightFormats.BlockElements;
            float partial = 0;
            for (int q = 0; q < WeightFormats.BlockElements; q++) partial += x[xb + q] * (sbyte)Bytes[b + 2 + q];
            sum += partial * ScalarMath.HalfToFloat(Halves[b / 2]);
        }
        return sum;
    }

    // Q4_0: byte j holds element j (low nibble) and element j + 16 (high nibble), both offset by 8.
    float DotQ4(ArrayView<float> x, long xRow, int row)
    {
        float sum = 0;
        for (int block = 0; block < K / WeightFormats.BlockElements; block++)
        {
            long b = BlockOffset(row, block, WeightFormats.Q4BlockBytes);
            long xb = xRow + block * WeightFormats.BlockElements;
            float partial = 0;
            for (int q = 0; q < 16; q++)
            {
                int packed = Bytes[b + 2 + q];
                partial += x[xb + q] * ((packed & 15) - 8) + x[xb + q + 16] * ((packed >> 4) - 8);
            }
            sum += partial * ScalarMath.HalfToFloat(Halves[b / 2]);
        }
        return sum;
    }
}
