using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace SonicVerse.Loader.PyTorch;

/// <summary>One member of a zip archive, from its central directory record. <see cref="DataOffset"/> is where the
/// (possibly compressed) bytes start, found through the local header.</summary>
internal sealed record ZipEntry(string Name, ushort Method, long CompressedSize, long UncompressedSize, long DataOffset);

/// <summary>The bytes of one zip member: a range of the mapping for stored members, a managed copy for deflated ones.</summary>
internal sealed class ZipBlob
{
    readonly MappedFile? _file;
    readonly long _offset;
    readonly byte[]? _copy;
    readonly string _name;

    public ZipBlob(MappedFile file, long offset, long length, string name)
    {
        _file = file;
        _offset = offset;
        Length = length;
        _name = name;
    }

    public ZipBlob(byte[] copy, string name)
    {
        _copy = copy;
        Length = copy.Length;
        _name = name;
    }

    public long Length { get; }

    public ReadOnlySpan<byte> Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{length}) outside zip member '{_name}' ({Length} bytes)");
        return _copy is not null ? _copy.AsSpan(checked((int)offset), checked((int)length)) : _file!.Span(_offset + offset, length, _name);
    }
}

/// <summary>Reads a zip archive's central directory (PKWARE APPNOTE 6.3: end of central directory, zip64 locator and
/// record, zip64 extra field 0x0001) over a memory mapping. Only stored (0) and deflated (8) members can be opened.</summary>
internal sealed class ZipIndex
{
    const uint EndSignature = 0x06054b50, End64Signature = 0x06064b50, Locator64Signature = 0x07064b50;
    const uint CentralSignature = 0x02014b50, LocalSignature = 0x04034b50;
    const int EndSize = 22, MaxCommentLength = 0xFFFF;
    const ushort MethodStored = 0, MethodDeflate = 8, Zip64ExtraId = 0x0001;
    /// <summary>Deflate emits at least one bit per 258-byte match (RFC 1951), so no stream inflates more than ~1032×;
    /// a larger declared size is refused before the buffer is allocated.</summary>
    const long MaxDeflateRatio = 1032;
    /// <summary>Hard cap on one inflated member (torch.save stores members uncompressed; only re-zipped files deflate).</summary>
    const long MaxInflatedBytes = 1L << 30;

    readonly MappedFile _file;
    readonly Dictionary<string, ZipEntry> _byName;

    ZipIndex(MappedFile file, List<ZipEntry> entries)
    {
        _file = file;
        Entries = entries;
        _byName = new Dictionary<string, ZipEntry>(StringComparer.Ordinal);
        foreach (var e in entries)
            if (!_byName.TryAdd(e.Name, e)) throw new LoaderException(file.Path, $"zip member '{e.Name}' appears twice");
    }

    public IReadOnlyList<ZipEntry> Entries { get; }

    public ZipEntry? Find(string name) => _byName.GetValueOrDefault(name);

    public static ZipIndex Read(MappedFile file)
    {
        long end = FindEnd(file);
        long count = file.U16(end + 10, "end of central directory");
        long directorySize = file.U32(end + 12, "end of central directory");
        long directoryOffset = file.U32(end + 16, "end of central directory");
        if (end >= 20 && file.U32(end - 20, "zip64 locator") == Locator64Signature)
            (count, directorySize, directoryOffset) = ReadEnd64(file, end - 20);
        file.Span(directoryOffset, directorySize, "central directory");

        var entries = new List<ZipEntry>();
        long pos = directoryOffset, stop = directoryOffset + directorySize;
        while (pos < stop)
        {
            var (entry, next) = ReadCentralRecord(file, pos);
            entries.Add(entry);
            pos = next;
        }
        if (entries.Count != count)
            throw new LoaderException(file.Path, $"zip central directory holds {entries.Count} members, its end record says {count}");
        return new ZipIndex(file, entries);
    }

    /// <summary>The member's bytes: in place for a stored member, decompressed for a deflated one.</summary>
    public ZipBlob Open(ZipEntry entry)
    {
        if (entry.Method == MethodStored)
        {
            if (entry.CompressedSize != entry.UncompressedSize)
                throw new LoaderException(_file.Path, $"zip member '{entry.Name}' is stored but its sizes differ ({entry.CompressedSize} vs {entry.UncompressedSize})");
            _file.Span(entry.DataOffset, entry.UncompressedSize, $"zip member '{entry.Name}'");
            return new ZipBlob(_file, entry.DataOffset, entry.UncompressedSize, entry.Name);
        }
        if (entry.Method != MethodDeflate)
            throw new LoaderException(_file.Path, $"zip member '{entry.Name}' uses compression method {entry.Method}; only stored (0) and deflate (8) are supported");
        return new ZipBlob(Inflate(entry), entry.Name);
    }

    byte[] Inflate(ZipEntry entry)
    {
        if (entry.UncompressedSize > MaxInflatedBytes)
            throw new LoaderException(_file.Path, $"zip member '{entry.Name}' is deflated and {entry.UncompressedSize} bytes, " +
                                                  $"more than the {MaxInflatedBytes} bytes this reader decompresses in memory");
        if ((entry.UncompressedSize - 1024) / MaxDeflateRatio > entry.CompressedSize) // division: no overflow on zip64 sizes
            throw new LoaderException(_file.Path, $"zip member '{entry.Name}' claims {entry.UncompressedSize} bytes from " +
                                                  $"{entry.CompressedSize} deflated bytes, beyond deflate's {MaxDeflateRatio}:1 limit: the sizes are corrupt");
        var result = new byte[entry.UncompressedSize];
        unsafe
        {
            var packed = _file.Span(entry.DataOffset, entry.CompressedSize, $"zip member '{entry.Name}'");
            fixed (byte* p = packed)
            {
                using var source = new UnmanagedMemoryStream(p, packed.Length);
                using var inflater = new DeflateStream(source, CompressionMode.Decompress);
                int read;
                bool trailing;
                try
                {
                    read = inflater.ReadAtLeast(result, result.Length, throwOnEndOfStream: false);
                    trailing = inflater.ReadByte() != -1;
                }
                catch (InvalidDataException e)  // zlib's verdict on a corrupt stream (found by the pytorch fuzz target)
                {
                    throw new LoaderException(_file.Path, $"zip member '{entry.Name}' is not valid deflate data ({e.Message})");
                }
                if (read != result.Length || trailing)
                    throw new LoaderException(_file.Path, $"zip member '{entry.Name}' does not inflate to its declared {entry.UncompressedSize} bytes");
            }
        }
        return result;
    }

    static long FindEnd(MappedFile file)
    {
        long lowest = Math.Max(0, file.Length - EndSize - MaxCommentLength);
        for (long pos = file.Length - EndSize; pos >= lowest; pos--)
            if (file.U32(pos, "end of central directory") == EndSignature) return pos;
        throw new LoaderException(file.Path, "not a zip archive: no end of central directory record");
    }

    static (long Count, long Size, long Offset) ReadEnd64(MappedFile file, long locator)
    {
        long end64 = ToLong(file, file.U64(locator + 8, "zip64 locator"), "zip64 end record offset");
        if (file.U32(end64, "zip64 end record") != End64Signature)
            throw new LoaderException(file.Path, $"zip64 locator points at {end64}, where there is no zip64 end of central directory record");
        return (ToLong(file, file.U64(end64 + 32, "zip64 end record"), "member count"),
                ToLong(file, file.U64(end64 + 40, "zip64 end record"), "central directory size"),
                ToLong(file, file.U64(end64 + 48, "zip64 end record"), "central directory offset"));
    }

    static (ZipEntry Entry, long Next) ReadCentralRecord(MappedFile file, long pos)
    {
        const string what = "central directory record";
        if (file.U32(pos, what) != CentralSignature)
            throw new LoaderException(file.Path, $"corrupt zip: no central directory record at {pos}");
        ushort flags = file.U16(pos + 8, what), method = file.U16(pos + 10, what);
        long compressed = file.U32(pos + 20, what), uncompressed = file.U32(pos + 24, what);
        int nameLength = file.U16(pos + 28, what), extraLength = file.U16(pos + 30, what), commentLength = file.U16(pos + 32, what);
        long local = file.U32(pos + 42, what);
        string name = Encoding.UTF8.GetString(file.Span(pos + 46, nameLength, what));
        if ((flags & 1) != 0) throw new LoaderException(file.Path, $"zip member '{name}' is encrypted");

        var extra = file.Span(pos + 46 + nameLength, extraLength, what);
        ApplyZip64Extra(file, name, extra, ref uncompressed, ref compressed, ref local);
        long data = DataOffset(file, name, local);
        return (new ZipEntry(name, method, compressed, uncompressed, data), pos + 46 + nameLength + extraLength + commentLength);
    }

    /// <summary>APPNOTE 4.5.3: the zip64 extra field holds, in this order, only the fields whose 32-bit value is 0xFFFFFFFF.</summary>
    static void ApplyZip64Extra(MappedFile file, string name, ReadOnlySpan<byte> extra, ref long uncompressed, ref long compressed, ref long local)
    {
        while (extra.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra), size = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (size > extra.Length - 4) throw new LoaderException(file.Path, $"zip member '{name}': extra field overruns its record");
            var body = extra.Slice(4, size);
            extra = extra[(4 + size)..];
            if (id != Zip64ExtraId) continue;
            int at = 0;
            uncompressed = TakeIfMarked(file, name, body, uncompressed, ref at);
            compressed = TakeIfMarked(file, name, body, compressed, ref at);
            local = TakeIfMarked(file, name, body, local, ref at);
        }
        if (uncompressed == uint.MaxValue || compressed == uint.MaxValue || local == uint.MaxValue)
            throw new LoaderException(file.Path, $"zip member '{name}': 32-bit size/offset marked zip64 but no zip64 extra field gives it");
    }

    static long TakeIfMarked(MappedFile file, string name, ReadOnlySpan<byte> body, long value, ref int at)
    {
        if (value != uint.MaxValue) return value;
        if (at + 8 > body.Length) throw new LoaderException(file.Path, $"zip member '{name}': zip64 extra field is too short");
        ulong wide = BinaryPrimitives.ReadUInt64LittleEndian(body[at..]);
        at += 8;
        return ToLong(file, wide, $"zip64 field of '{name}'");
    }

    static long DataOffset(MappedFile file, string name, long local)
    {
        string what = $"local header of '{name}'";
        if (file.U32(local, what) != LocalSignature)
            throw new LoaderException(file.Path, $"corrupt zip: member '{name}' has no local header at {local}");
        int nameLength = file.U16(local + 26, what), extraLength = file.U16(local + 28, what);
        if (!file.Span(local + 30, nameLength, what).SequenceEqual(Encoding.UTF8.GetBytes(name)))
            throw new LoaderException(file.Path, $"corrupt zip: the local header of '{name}' names another member");
        return local + 30 + nameLength + extraLength;
    }

    static long ToLong(MappedFile file, ulong value, string what) =>
        value <= long.MaxValue ? (long)value : throw new LoaderException(file.Path, $"zip {what} {value} is out of range");
}
