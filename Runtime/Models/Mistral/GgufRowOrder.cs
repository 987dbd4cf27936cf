namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>
/// The row permutation llama.cpp's convert_hf_to_gguf.py applies to q_proj/k_proj (its <c>permute</c>): per head the HF
/// rows (j·d/2 + i, "rotate_half" pairs i and i + d/2) become rows 2i + j, so RoPE pairs are adjacent in GGUF.
/// Rows are moved whole, so the permutation commutes with row-wise block quantization.
/// </summary>
public static class GgufRowOrder
{
    /// <summary>The HF row that lands at GGUF row <paramref name="ggufRow"/> of a [heads·headDim, …] matrix.</summary>
    public static int HfRow(int ggufRow, int headDim)
    {
        int head = ggufRow / headDim, within = ggufRow % headDim;
        int i = within / 2, j = within % 2;
        return head * headDim + j * (headDim / 2) + i;
    }

    /// <summary>Reorders whole rows of <paramref name="rowBytesOrValues"/> (rows of <paramref name="rowLength"/> items)
    /// from HF order to GGUF order.</summary>
    public static T[] HfToGguf<T>(ReadOnlySpan<T> rowBytesOrValues, int rowLength, int headDim)
    {
        int rows = rowBytesOrValues.Length / rowLength;
        if (rows * rowLength != rowBytesOrValues.Length || rows % headDim != 0)
            throw new ArgumentException($"{rowBytesOrValues.Length} items are not whole heads of {headDim} rows of {rowLength}");
        var result = new T[rowBytesOrValues.Length];
        for (int r = 0; r < rows; r++)
            rowBytesOrValues.Slice(HfRow(r, headDim) * rowLength, rowLength).CopyTo(result.AsSpan(r * rowLength, rowLength));
        return result;
    }
}
