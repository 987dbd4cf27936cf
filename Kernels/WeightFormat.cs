namespace SonicVerse.Kernels;

/// <summary>How a weight matrix row is stored: plain F32/F16/BF16, or GGUF 32-element blocks (ggml-common.h:
/// Q8_0 = f16 scale + 32 int8, 34 bytes; Q4_0 = f16 scale + 16 nibble bytes, 18 bytes).</summary>
public enum WeightFormat { F32, F16, BF16, Q8_0, Q4_0 }

public static class WeightFormats
{
    public const int BlockElements = 32;
    public const int Q8BlockBytes = 34;
    public const int Q4BlockBytes = 18;

    /// <summary>Bytes of one row of <paramref name="k"/> values (k a multiple of 32 for the block formats).</summary>
    public static long RowBytes(this WeightFormat format, int k) => format switch
    {
        WeightFormat.F32 => 4L * k,
        WeightFormat.F16 or WeightFormat.BF16 => 2L * k,
        WeightFormat.Q8_0 => (long)k / BlockElements * Q8BlockBytes,
        _ => (long)k / BlockElements * Q4BlockBytes,
    };
}
