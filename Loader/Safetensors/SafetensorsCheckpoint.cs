namespace SonicVerse.Loader;

/// <summary>
/// A safetensors file, memory-mapped read-only: u64 little-endian header length N, N bytes of JSON header, then the data
/// section the header's offsets point into. Tensor bytes are spans over the mapping (no copy); <see cref="Dispose"/> unmaps.
/// </summary>
public sealed class SafetensorsCheckpoint : ICheckpoint
{
    const int LengthPrefixBytes = 8;

    readonly MappedFile _file;
    readonly long _dataStart;
    readonly TensorEntry[] _tensors;
    readonly Dictionary<string, TensorEntry> _byName;

    SafetensorsCheckpoint(MappedFile file, long dataStart, SafetensorsHeader header)
    {
        _file = file;
        _dataStart = dataStart;
        Metadata = header.Metadata;
        _tensors = header.Entries.Select(e => (TensorEntry)new MappedTensor(this, e)).ToArray();
        _byName = _tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path => _file.Path;
    public string Format => "safetensors";
    /// <summary>Tensors in the order the header lists them.</summary>
    public IReadOnlyList<TensorEntry> Tensors => _tensors;
    /// <summary>The header's <c>__metadata__</c>: string → string.</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Maps <paramref name="path"/> after validating its header against the file (see <see cref="SafetensorsHeader"/>).</summary>
    public static ICheckpoint Open(string path)
    {
        var file = MappedFile.Open(path, LengthPrefixBytes,
            "an 8-byte header length (u64 little endian), a JSON header and the tensor data");
        try
        {
            long headerLength = HeaderLength(file);
            long dataStart = LengthPrefixBytes + headerLength;
            byte[] json = file.Span(LengthPrefixBytes, headerLength, "header").ToArray();
            var header = SafetensorsHeader.Parse(path, json, file.Length - dataStart);
            return new SafetensorsCheckpoint(file, dataStart, header);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads and bounds the u64 header length before anything is allocated for the header.</summary>
    static long HeaderLength(MappedFile file)
    {
        ulong length = file.U64(0, "header length");
        if (length > SafetensorsHeader.MaxHeaderBytes)
            throw new LoaderException(file.Path,
                $"header length {length} bytes exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit (corrupt, or not a safetensors file)");
        if ((long)length > file.Length - LengthPrefixBytes)
            throw new LoaderException(file.Path,
                $"header length {length} bytes is larger than the file: only {file.Length - LengthPrefixBytes} bytes follow the 8-byte length");
        return (long)length;
    }

    ReadOnlySpan<byte> Span(MappedTensor tensor)
    {
        long length = tensor.End - tensor.Begin;
        if (length > int.MaxValue)
            throw new LoaderException(Path, tensor.Name,
                $"is {length} bytes; a span holds at most {int.MaxValue} bytes (2 GB), so this tensor cannot be read as one span");
        return _file.Span(_dataStart + tensor.Begin, length, tensor.Name);
    }

    public void Dispose() => _file.Dispose();

    sealed class MappedTensor(SafetensorsCheckpoint owner, SafetensorsEntry entry)
        : TensorEntry(entry.Name, entry.DType, entry.Shape, owner.Path)
    {
        public long Begin => entry.Begin;
        public long End => entry.End;
        public override ReadOnlySpan<byte> Bytes => owner.Span(this);
    }
}
