using System.Text.Json;
using System.Text.Unicode;

namespace SonicVerse.Loader;

/// <summary>One tensor of the header: dtype, shape and its byte span [Begin, End) relative to the data section.</summary>
internal sealed record SafetensorsEntry(string Name, DType DType, long[] Shape, long Begin, long End);

/// <summary>
/// The JSON header of a safetensors file, parsed and validated against the data section it describes
/// (format: huggingface/safetensors README — <c>{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {str: str}}</c>).
/// Every problem is a <see cref="LoaderException"/> naming the file, the tensor, what was expected and what was found.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>Headers above this are refused before anything is allocated (the reference reader's limit, 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    const string MetadataKey = "__metadata__";

    static readonly Dictionary<string, DType> DTypesByName =
        new[] { DType.F32, DType.F16, DType.BF16, DType.F64, DType.I8, DType.U8, DType.I16, DType.I32, DType.I64, DType.Bool }
            .ToDictionary(t => t.SafetensorsName(), StringComparer.Ordinal);

    SafetensorsHeader(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, object> metadata)
    {
        Entries = entries;
        Metadata = metadata;
    }

    /// <summary>Tensors in the order the header lists them.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }

    /// <param name="file">named in every error</param>
    /// <param name="json">the header bytes (UTF-8)</param>
    /// <param name="dataLength">bytes in the data section that follows the header</param>
    public static SafetensorsHeader Parse(string file, ReadOnlyMemory<byte> json, long dataLength)
    {
        using JsonDocument doc = ParseJson(file, json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new LoaderException(file, $"header must be a JSON object, found {doc.RootElement.ValueKind}");

        var entries = new List<SafetensorsEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, object> metadata = new Dictionary<string, object>();
        bool sawMetadata = false;
        foreach (JsonProperty property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == MetadataKey)
            {
                if (sawMetadata) throw new LoaderException(file, $"header has '{MetadataKey}' twice");
                sawMetadata = true;
                metadata = ParseMetadata(file, property.Value);
                continue;
            }
            if (!names.Add(property.Name)) throw new LoaderException(file, property.Name, "listed twice in the header");
            entries.Add(ParseEntry(file, property.Name, property.Value, dataLength));
        }
        CheckNoOverlap(file, entries);
        return new SafetensorsHeader(entries, metadata);
    }

    static JsonDocument ParseJson(string file, ReadOnlyMemory<byte> json)
    {
        // JsonDocument only checks UTF-8 when a string is read; check it up front so a bad byte is a header error.
        if (!Utf8.IsValid(json.Span)) throw new LoaderException(file, $"header is not valid UTF-8 ({json.Length} bytes)");
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new LoaderException(file, $"header is not valid JSON ({json.Length} bytes): {e.Message}", e);
        }
    }

    static Dictionary<string, object> ParseMetadata(string file, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new LoaderException(file, $"'{MetadataKey}' must be an object of strings, found {value.ValueKind}");
        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new LoaderException(file,
                    $"'{MetadataKey}' value of '{item.Name}' must be a string, found {item.Value.ValueKind} {item.Value.GetRawText()}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new LoaderException(file, $"'{MetadataKey}' has the key '{item.Name}' twice");
        }
        return metadata;
    }

    static SafetensorsEntry ParseEntry(string file, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new LoaderException(file, name, $"header entry must be an object {{dtype, shape, data_offsets}}, found {value.ValueKind}");

        DType dtype = ParseDType(file, name, Field(file, name, value, "dtype", JsonValueKind.String));
        long[] shape = NonNegativeIntegers(file, name, "shape", Field(file, name, value, "shape", JsonValueKind.Array));
        long[] offsets = NonNegativeIntegers(file, name, "data_offsets", Field(file, name, value, "data_offsets", JsonValueKind.Array));
        if (offsets.Length != 2)
            throw new LoaderException(file, name, $"data_offsets must be [begin, end], found {offsets.Length} numbers");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new LoaderException(file, name, $"data_offsets begin {begin} is after end {end}");
        if (end > dataLength)
            throw new LoaderException(file, name,
                $"data_offsets end {end} is past the end of the data section ({dataLength} bytes): the file is truncated or the header is wrong");

        long bytes = dtype.ByteSize(DTypes.ElementCount(shape));
        if (bytes < 0) throw new LoaderException(file, name, $"shape {ShapeText(shape)} overflows a 64-bit byte count");
        if (bytes != end - begin)
            throw new LoaderException(file, name,
                $"shape {ShapeText(shape)} × {dtype.SafetensorsName()} needs {bytes} bytes, data_offsets [{begin}, {end}] hold {end - begin}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    static string ShapeText(long[] shape) => "[" + string.Join(", ", shape) + "]";

    static JsonElement Field(string file, string name, JsonElement entry, string field, JsonValueKind kind)
    {
        if (!entry.TryGetProperty(field, out JsonElement value))
            throw new LoaderException(file, name, $"header entry has no '{field}' (expected dtype, shape, data_offsets)");
        if (value.ValueKind != kind)
            throw new LoaderException(file, name, $"'{field}' must be a JSON {kind}, found {value.ValueKind} {value.GetRawText()}");
        return value;
    }

    static DType ParseDType(string file, string name, JsonElement value)
    {
        string text = value.GetString()!;
        if (DTypesByName.TryGetValue(text, out DType dtype)) return dtype;
        throw new LoaderException(file, name,
            $"unknown dtype '{text}' (supported: {string.Join(", ", DTypesByName.Keys)})");
    }

    static long[] NonNegativeIntegers(string file, string name, string field, JsonElement array)
    {
        var result = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long n) || n < 0)
                throw new LoaderException(file, name,
                    $"{field}[{i}] must be a non-negative 64-bit integer, found {item.GetRawText()}");
            result[i++] = n;
        }
        return result;
    }

    /// <summary>Two tensors must never share bytes: sorted by begin, each must start at or after the previous end.</summary>
    static void CheckNoOverlap(string file, List<SafetensorsEntry> entries)
    {
        SafetensorsEntry[] sorted = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            SafetensorsEntry previous = sorted[i - 1], current = sorted[i];
            if (current.Begin < previous.End)
                throw new LoaderException(file, current.Name,
                    $"data_offsets [{current.Begin}, {current.End}] overlap tensor '{previous.Name}' at [{previous.Begin}, {previous.End}]");
        }
    }
}
