namespace SonicVerse.Loader;

// PLACEHOLDER: replaced by the GGUF block dequantizers.
public static class GgufQuants
{
    public static void Dequantize(DType dtype, ReadOnlySpan<byte> src, Span<float> dst) =>
        throw new NotSupportedException($"dequantization of {dtype} is not written yet");

    public static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst) => throw new NotSupportedException("not written yet");

    public static void QuantizeQ4_0(ReadOnlySpan<float> src, Span<byte> dst) => throw new NotSupportedException("not written yet");
}
