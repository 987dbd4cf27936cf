using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace SonicVerse.Loader;

/// <summary>A read-only memory mapping of a whole file with bounds-checked access, so multi-GB checkpoints are
/// read in place instead of copied into managed memory. The one mapping every reader (safetensors, PyTorch zip, GGUF)
/// uses; tensor bytes are spans into it, valid until <see cref="Dispose"/>.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    byte* _pointer;
    bool _disposed;

    MappedFile(string path, FileStream stream)
    {
        Path = path;
        Length = stream.Length;
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
        _pointer += _view.PointerOffset;
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/>; a file shorter than <paramref name="minimumLength"/> bytes is refused
    /// with a message saying what its format needs first (<paramref name="formatStart"/>).</summary>
    public static MappedFile Open(string path, long minimumLength, string formatStart)
    {
        FileStream stream;
        try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LoaderException(path, $"cannot open: {e.Message}", e);
        }
        // The open stream's length, not FileInfo's: FileInfo describes a symbolic link itself, and the Hugging Face
        // cache's snapshot files are links to blobs.
        long length = stream.Length;
        if (length < Math.Max(1, minimumLength))
        {
            stream.Dispose();
            throw new LoaderException(path, length == 0
                ? $"truncated: the file is empty; expected {formatStart}"
                : $"truncated: the file is {length} bytes, too short for {formatStart} ({minimumLength} bytes)");
        }
        try { return new MappedFile(path, stream); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new LoaderException(path, $"cannot map the file: {e.Message}", e);
        }
    }

    /// <summary>The first byte of the mapping (for parsers that walk the header with pointers).</summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _pointer;
        }
    }

    /// <summary><paramref name="length"/> bytes at <paramref name="offset"/>; throws a LoaderException naming
    /// <paramref name="what"/> when the range leaves the file.</summary>
    public ReadOnlySpan<byte> Span(long offset, long length, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new LoaderException(Path, $"{what}: bytes [{offset}, {offset}+{length}) lie outside the file ({Length} bytes)");
        if (length > int.MaxValue)
            throw new LoaderException(Path, $"{what}: {length} bytes is more than one span can hold (2 GiB)");
        return new ReadOnlySpan<byte>(_pointer + offset, (int)length);
    }

    public ushort U16(long offset, string what) => BinaryPrimitives.ReadUInt16LittleEndian(Span(offset, 2, what));
    public uint U32(long offset, string what) => BinaryPrimitives.ReadUInt32LittleEndian(Span(offset, 4, what));
    public ulong U64(long offset, string what) => BinaryPrimitives.ReadUInt64LittleEndian(Span(offset, 8, what));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
