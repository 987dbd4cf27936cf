namespace SonicVerse.Loader;

/// <summary>Element types found in released weight files. Quantized types are GGUF block formats.</summary>
public enum DType
{
    F32, F16, BF16, F64, I8, U8, I16, I32, I64, Bool,
    Q8_0, Q4_0, Q4_K, Q6_K,
}

public static class DTypes
{
    /// <summary>Elements per block: 1 for plain types; 32 (Q8_0, Q4_0) or 256 (K-quants) for GGUF blocks.</summary>
    public static int BlockElements(this DType t) => t switch
    {
        DType.Q8_0 or DType.Q4_0 => 32,
        DType.Q4_K or DType.Q6_K => 256,
        _ => 1,
    };

    /// <summary>Bytes per block (ggml-common.h: Q8_0 34, Q4_0 18, Q4_K 144, Q6_K 210).</summary>
    public static int BlockBytes(this DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.F64 or DType.I64 => 8,
        DType.I8 or DType.U8 or DType.Bool => 1,
        DType.Q8_0 => 34,
        DType.Q4_0 => 18,
        DType.Q4_K => 144,
        DType.Q6_K => 210,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool IsQuantized(this DType t) => t.BlockElements() > 1;

    /// <summary>Bytes needed for <paramref name="elements"/> values, or -1 when the count is not a whole number of blocks
    /// or the size overflows.</summary>
    public static long ByteSize(this DType t, long elements)
    {
        long block = t.BlockElements();
        if (elements < 0 || elements % block != 0) return -1;
        try { return checked(elements / block * t.BlockBytes()); }
        catch (OverflowException) { return -1; }
    }

    /// <summary>Element count of a shape, or -1 on a negative dimension or overflow.</summary>
    public static long ElementCount(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) return -1;
            try { n = checked(n * d); }
            catch (OverflowException) { return -1; }
        }
        return n;
    }

    /// <summary>The name the safetensors header uses ("F32", "BF16", ...).</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.Bool => "BOOL",
        _ => t.ToString().ToUpperInvariant(),
    };
}
