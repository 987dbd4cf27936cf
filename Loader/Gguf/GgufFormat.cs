namespace SonicVerse.Loader;

/// <summary>GGUF metadata value types (gguf.h <c>gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Constants and the ggml tensor type table of the GGUF format (ggml.h <c>ggml_type</c>, gguf.h).</summary>
public static class GgufFormat
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const uint DefaultAlignment = 32; // GGUF_DEFAULT_ALIGNMENT
    public const int MaxDims = 4;            // GGML_MAX_DIMS
    public const string AlignmentKey = "general.alignment";

    /// <summary>The ggml type numbers this loader reads, and the element type each becomes.</summary>
    static readonly Dictionary<uint, DType> Supported = new()
    {
        [0] = DType.F32, [1] = DType.F16, [2] = DType.Q4_0, [8] = DType.Q8_0,
        [12] = DType.Q4_K, [14] = DType.Q6_K, [30] = DType.BF16,
        // Plain integer/f64 tensors: no decoding needed, so there is no reason to refuse them.
        [24] = DType.I8, [25] = DType.I16, [26] = DType.I32, [27] = DType.I64, [28] = DType.F64,
    };

    /// <summary>ggml_type names by number, for error messages (numbers 4, 5, 31-33 are retired).</summary>
    static readonly string[] GgmlNames =
    [
        "F32", "F16", "Q4_0", "Q4_1", "(removed Q4_2)", "(removed Q4_3)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", "(removed Q4_0_4_4)", "(removed Q4_0_4_8)", "(removed Q4_0_8_8)", "TQ1_0", "TQ2_0",
        "(removed IQ4_NL_4_4)", "(removed IQ4_NL_4_8)", "(removed IQ4_NL_8_8)", "MXFP4",
    ];

    public static bool TryGetDType(uint ggmlType, out DType dtype) => Supported.TryGetValue(ggmlType, out dtype);

    /// <summary>"Q4_1" for 3; "unknown" past the table.</summary>
    public static string GgmlTypeName(uint ggmlType) => ggmlType < GgmlNames.Length ? GgmlNames[ggmlType] : "unknown";

    public static string SupportedList =>
        string.Join(", ", Supported.OrderBy(kv => kv.Key).Select(kv => $"{GgmlNames[kv.Key]}({kv.Key})"));

    /// <summary>Fewest bytes one value of <paramref name="type"/> can occupy: fixed types their size, a string its
    /// u64 length, an array its u32 type + u64 count. Used to refuse impossible counts before allocating.</summary>
    public static int MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => 0,
    };
}
