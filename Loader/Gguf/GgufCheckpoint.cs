namespace SonicVerse.Loader;

/// <summary>
/// A GGUF v2/v3 file (ggml docs/gguf.md), memory-mapped: tensor bytes are spans over the mapping, never copied.
/// Shapes are reversed from GGUF's innermost-first dims into row-major outermost-first ([in, out] → [out, in]).
/// Metadata holds every key/value: strings, numbers as their C# type (u32 → uint, f32 → float, ...), bools, and
/// arrays as typed arrays (string[], float[], int[], ...; arrays of arrays as object[]).
/// </summary>
public sealed unsafe class GgufCheckpoint : ICheckpoint
{
    readonly MappedFile _file;
    readonly long _length;
    readonly Dictionary<string, object> _metadata;
    readonly List<TensorEntry> _tensors = new();
    readonly Dictionary<string, GgufTensor> _byName = new(StringComparer.Ordinal);

    GgufCheckpoint(MappedFile file)
    {
        Path = file.Path;
        _file = file;
        _length = file.Length;
        try
        {
            var header = GgufHeaderReader.Read(file.Pointer, _length, Path);
            Version = header.Version;
            Alignment = header.Alignment;
            DataStart = header.DataStart;
            _metadata = header.Metadata;
            AddTensors(header);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="LoaderException"/> on any problem.</summary>
    public static ICheckpoint Open(string path) => OpenFile(path);

    /// <summary>As <see cref="Open"/>, typed, for the GGUF-specific accessors.</summary>
    public static GgufCheckpoint OpenFile(string path)
    {
        if (!File.Exists(path)) throw new LoaderException(path, "no such file");
        return new GgufCheckpoint(MappedFile.Open(path, 4, "the GGUF magic"));
    }

    public string Path { get; }
    public string Format => "gguf";
    public uint Version { get; }
    /// <summary><c>general.alignment</c>, or 32 when absent.</summary>
    public uint Alignment { get; }
    /// <summary>Absolute file offset of the data section (tensor offsets are relative to it).</summary>
    public long DataStart { get; }
    public IReadOnlyList<TensorEntry> Tensors => _tensors;
    public IReadOnlyDictionary<string, object> Metadata => _metadata;
    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary><c>general.architecture</c> ("llama" for Mistral); required by the GGUF spec.</summary>
    public string Architecture => GetString("general.architecture")
        ?? throw new LoaderException(Path, "missing required key 'general.architecture'");

    /// <summary>A string value, or null when the key is absent; a value of another type throws.</summary>
    public string? GetString(string key) => Get<string>(key, "string");

    public bool? GetBool(string key) => _metadata.TryGetValue(key, out object? v) ? v as bool? ?? throw WrongType(key, "bool", v) : null;

    /// <summary>Any integer type (u8 … i64) widened to long; a u64 above long.MaxValue throws.</summary>
    public long? GetInteger(string key)
    {
        if (!_metadata.TryGetValue(key, out object? v)) return null;
        return GgufValues.AsInteger(v) ?? throw WrongType(key, "integer", v);
    }

    /// <summary>f32 or f64 (narrowed), or an integer converted.</summary>
    public float? GetFloat(string key)
    {
        if (!_metadata.TryGetValue(key, out object? v)) return null;
        return v switch
        {
            float f => f,
            double d => (float)d,
            _ => GgufValues.AsInteger(v) ?? throw WrongType(key, "float", v),
        };
    }

    /// <summary>An array whose elements are exactly <typeparamref name="T"/> (string, float, int, ...), or null when absent.</summary>
    public T[]? GetArray<T>(string key) => Get<T[]>(key, $"{typeof(T).Name}[]");

    /// <summary><c>{architecture}.{suffix}</c> as an integer, e.g. <c>GetArchInteger("block_count")</c>.</summary>
    public long? GetArchInteger(string suffix) => GetInteger($"{Architecture}.{suffix}");

    public float? GetArchFloat(string suffix) => GetFloat($"{Architecture}.{suffix}");

    /// <summary>The embedded <c>tokenizer.ggml.*</c> vocabulary, or null when the file has no token list.</summary>
    public GgufVocabulary? Vocabulary => GgufVocabulary.From(this);

    T? Get<T>(string key, string expected) where T : class =>
        !_metadata.TryGetValue(key, out object? v) ? null : v as T ?? throw WrongType(key, expected, v);

    LoaderException WrongType(string key, string expected, object found) =>
        new(Path, $"key '{key}': expected {expected}, found {GgufValues.Describe(found)}");

    void AddTensors(GgufHeader header)
    {
        foreach (var info in header.Tensors)
        {
            var tensor = CreateTensor(info);
            if (!_byName.TryAdd(tensor.Name, tensor)) throw new LoaderException(Path, tensor.Name, "appears twice in the tensor list");
            _tensors.Add(tensor);
        }
        CheckNoOverlap();
    }

    GgufTensor CreateTensor(GgufTensorInfo info)
    {
        string name = info.Name;
        if (!GgufFormat.TryGetDType(info.GgmlType, out DType dtype))
            throw new LoaderException(Path, name,
                $"unsupported ggml type {info.GgmlType} ({GgufFormat.GgmlTypeName(info.GgmlType)}); supported: {GgufFormat.SupportedList}");
        if (info.Dims.Any(d => d > long.MaxValue))
            throw new LoaderException(Path, name, $"dims [{string.Join(", ", info.Dims)}] out of range");
        long[] shape = info.Dims.Reverse().Select(d => (long)d).ToArray();
        int block = dtype.BlockElements();
        if (block > 1 && (info.Dims.Length == 0 || info.Dims[0] % (ulong)block != 0))
            throw new LoaderException(Path, name,
                $"row length {(info.Dims.Length == 0 ? 1 : info.Dims[0])} is not a multiple of the {block}-value {dtype} block");
        long bytes = dtype.ByteSize(DTypes.ElementCount(shape));
        if (bytes < 0) throw new LoaderException(Path, name, $"shape [{string.Join(", ", shape)}] overflows");
        if (bytes > int.MaxValue) throw new LoaderException(Path, name, $"{bytes} bytes: tensors over 2 GiB are not supported");
        if (info.Offset % Alignment != 0)
            throw new LoaderException(Path, name, $"data offset {info.Offset} is not a multiple of the alignment {Alignment}");
        long available = Math.Max(0, _length - DataStart);
        if (info.Offset > (ulong)available || bytes > available - (long)info.Offset)
            throw new LoaderException(Path, name,
                $"data [{DataStart} + {info.Offset}, +{bytes} bytes) runs past the end of the file ({_length} bytes)");
        return new GgufTensor(this, name, dtype, shape, info.GgmlType, DataStart + (long)info.Offset);
    }

    void CheckNoOverlap()
    {
        var ordered = _byName.Values.Where(t => t.ByteLength > 0).OrderBy(t => t.FileOffset).ToList();
        for (int i = 1; i < ordered.Count; i++)
        {
            var (prev, next) = (ordered[i - 1], ordered[i]);
            if (prev.FileOffset + prev.ByteLength > next.FileOffset)
                throw new LoaderException(Path, next.Name,
                    $"data at file offset {next.FileOffset} overlaps tensor '{prev.Name}' ({prev.FileOffset} + {prev.ByteLength} bytes)");
        }
    }

    internal ReadOnlySpan<byte> Span(long fileOffset, int length) => _file.Span(fileOffset, length, "tensor data");

    public void Dispose() => _file.Dispose();
}

/// <summary>A tensor of a <see cref="GgufCheckpoint"/>: its bytes are a view of the mapped file.</summary>
public sealed class GgufTensor : TensorEntry
{
    readonly GgufCheckpoint _owner;

    internal GgufTensor(GgufCheckpoint owner, string name, DType dtype, long[] shape, uint ggmlType, long fileOffset)
        : base(name, dtype, shape, owner.Path)
    {
        _owner = owner;
        GgmlType = ggmlType;
        FileOffset = fileOffset;
    }

    /// <summary>The ggml type number as stored (0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 12 Q4_K, 14 Q6_K, 30 BF16, ...).</summary>
    public uint GgmlType { get; }

    /// <summary>Absolute offset of the first byte in the file.</summary>
    public long FileOffset { get; }

    public override ReadOnlySpan<byte> Bytes => _owner.Span(FileOffset, (int)ByteLength);
}
