using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace SonicVerse.Loader;

/// <summary>
/// A safetensors file, memory-mapped read-only: u64 little-endian header length N, N bytes of JSON header, then the data
/// section the header's offsets point into. Tensor bytes are spans over the mapping (no copy); <see cref="Dispose"/> unmaps.
/// </summary>
public sealed unsafe class SafetensorsCheckpoint : ICheckpoint
{
    const int LengthPrefixBytes = 8;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _data; // first byte of the data section inside the mapping
    readonly TensorEntry[] _tensors;
    readonly Dictionary<string, TensorEntry> _byName;
    bool _disposed;

    SafetensorsCheckpoint(string path, FileStream stream, long dataStart, SafetensorsHeader header)
    {
        Path = path;
        Metadata = header.Metadata;
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        catch
        {
            _map.Dispose();
            throw;
        }
        byte* start = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _data = start + _view.PointerOffset + dataStart;
        _tensors = header.Entries.Select(e => (TensorEntry)new MappedTensor(this, e)).ToArray();
        _byName = _tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public string Format => "safetensors";
    /// <summary>Tensors in the order the header lists them.</summary>
    public IReadOnlyList<TensorEntry> Tensors => _tensors;
    /// <summary>The header's <c>__metadata__</c>: string → string.</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Maps <paramref name="path"/> after validating its header against the file (see <see cref="SafetensorsHeader"/>).</summary>
    public static ICheckpoint Open(string path)
    {
        FileStream stream = OpenStream(path);
        try
        {
            long fileLength = stream.Length;
            long headerLength = ReadHeaderLength(path, stream, fileLength);
            var json = new byte[headerLength];
            stream.ReadExactly(json);
            long dataStart = LengthPrefixBytes + headerLength;
            var header = SafetensorsHeader.Parse(path, json, fileLength - dataStart);
            return new SafetensorsCheckpoint(path, stream, dataStart, header);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new LoaderException(path, $"cannot read or map the file: {e.Message}", e);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    static FileStream OpenStream(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LoaderException(path, $"cannot open: {e.Message}", e);
        }
    }

    /// <summary>Reads and bounds the u64 header length before anything is allocated for the header.</summary>
    static long ReadHeaderLength(string path, FileStream stream, long fileLength)
    {
        if (fileLength == 0)
            throw new LoaderException(path, "the file is empty; expected an 8-byte header length, a JSON header and the tensor data");
        if (fileLength < LengthPrefixBytes)
            throw new LoaderException(path,
                $"truncated header: the file is {fileLength} bytes, expected at least {LengthPrefixBytes} (the u64 little-endian header length)");
        Span<byte> prefix = stackalloc byte[LengthPrefixBytes];
        stream.ReadExactly(prefix);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > SafetensorsHeader.MaxHeaderBytes)
            throw new LoaderException(path,
                $"header length {length} bytes exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit (corrupt, or not a safetensors file)");
        if ((long)length > fileLength - LengthPrefixBytes)
            throw new LoaderException(path,
                $"header length {length} bytes is larger than the file: only {fileLength - LengthPrefixBytes} bytes follow the 8-byte length");
        return (long)length;
    }

    ReadOnlySpan<byte> Span(MappedTensor tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long length = tensor.End - tensor.Begin;
        if (length > int.MaxValue)
            throw new LoaderException(Path, tensor.Name,
                $"is {length} bytes; a span holds at most {int.MaxValue} bytes (2 GB), so this tensor cannot be read as one span");
        return new ReadOnlySpan<byte>(_data + tensor.Begin, (int)length);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    sealed class MappedTensor(SafetensorsCheckpoint owner, SafetensorsEntry entry)
        : TensorEntry(entry.Name, entry.DType, entry.Shape, owner.Path)
    {
        public long Begin => entry.Begin;
        public long End => entry.End;
        public override ReadOnlySpan<byte> Bytes => owner.Span(this);
    }
}
