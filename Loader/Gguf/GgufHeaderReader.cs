using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace SonicVerse.Loader;

/// <summary>One tensor info record as stored: dims innermost first (GGUF order), offset relative to the data section.</summary>
internal readonly record struct GgufTensorInfo(string Name, ulong[] Dims, uint GgmlType, ulong Offset);

/// <summary>The parsed header: key/values in file order, tensor infos, and where the data section starts.</summary>
internal sealed record GgufHeader(uint Version, Dictionary<string, object> Metadata, List<GgufTensorInfo> Tensors,
    uint Alignment, long DataStart);

/// <summary>
/// Reads the GGUF header (gguf.cpp <c>gguf_init_from_file_impl</c> order) from a mapped file with a bounds-checked
/// cursor. Every count and length is checked against the bytes left in the file before anything is allocated,
/// so a hostile header fails fast instead of exhausting memory.
/// </summary>
internal sealed unsafe class GgufHeaderReader
{
    // Fewest bytes a tensor info (empty name, 0 dims) and a KV (empty key, u8 value) can take.
    const int MinTensorInfoBytes = 8 + 4 + 4 + 8;
    const int MinKvBytes = 8 + 4 + 1;
    /// <summary>Arrays of arrays nest at most this deep: the reader recurses per level, and a file of nested empty
    /// arrays (12 bytes a level) would otherwise overflow the stack. gguf.cpp refuses nesting altogether.</summary>
    public const int MaxArrayNesting = 8;

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly byte* _base;
    readonly long _length;
    readonly string _path;
    long _position;
    int _arrayDepth;

    GgufHeaderReader(byte* mapped, long length, string path)
    {
        _base = mapped;
        _length = length;
        _path = path;
    }

    long Remaining => _length - _position;

    public static GgufHeader Read(byte* mapped, long length, string path) => new GgufHeaderReader(mapped, length, path).ReadHeader();

    GgufHeader ReadHeader()
    {
        uint magic = U32("magic");
        if (magic != GgufFormat.Magic)
            throw Fail($"not a GGUF file: bad magic {Convert.ToHexString(BitConverter.GetBytes(magic))}, expected 47475546 ('GGUF')");
        uint version = U32("version");
        // v1 had u32 counts and lengths; v2 and v3 share this layout (v3 only added big-endian files, marked by version).
        if (version is not (2 or 3))
            throw Fail(version is 0x03000000 or 0x02000000
                ? "big-endian GGUF is not supported (expected a little-endian file)"
                : $"unsupported GGUF version {version}, expected 2 or 3");
        ulong tensorCount = U64("tensor count");
        ulong kvCount = U64("key/value count");
        CheckCounts(tensorCount, kvCount);

        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++) ReadKeyValue(i, metadata);

        var tensors = new List<GgufTensorInfo>();
        for (ulong i = 0; i < tensorCount; i++) tensors.Add(ReadTensorInfo(i));

        uint alignment = Alignment(metadata);
        long dataStart = (_position + alignment - 1) / alignment * alignment;
        return new GgufHeader(version, metadata, tensors, alignment, dataStart);
    }

    void CheckCounts(ulong tensorCount, ulong kvCount)
    {
        ulong left = (ulong)Remaining;
        if (tensorCount > left / MinTensorInfoBytes)
            throw Fail($"tensor count {tensorCount} is impossible: the {left} bytes after the header hold at most " +
                       $"{left / MinTensorInfoBytes} tensor infos of at least {MinTensorInfoBytes} bytes");
        if (kvCount > left / MinKvBytes || tensorCount * MinTensorInfoBytes + kvCount * MinKvBytes > left)
            throw Fail($"key/value count {kvCount} with {tensorCount} tensors is impossible in the {left} bytes after the header");
    }

    void ReadKeyValue(ulong index, Dictionary<string, object> metadata)
    {
        string key = String($"key of key/value {index}");
        var type = (GgufValueType)U32($"type of '{key}'");
        object value = Value(type, key);
        if (!metadata.TryAdd(key, value)) throw Fail($"duplicate key '{key}'");
    }

    GgufTensorInfo ReadTensorInfo(ulong index)
    {
        string name = String($"name of tensor {index}");
        uint nDims = U32($"tensor '{name}' n_dims");
        if (nDims > GgufFormat.MaxDims)
            throw new LoaderException(_path, name, $"n_dims {nDims}, expected at most {GgufFormat.MaxDims}");
        var dims = new ulong[nDims];
        for (int d = 0; d < dims.Length; d++) dims[d] = U64($"tensor '{name}' dim {d}");
        uint ggmlType = U32($"tensor '{name}' type");
        ulong offset = U64($"tensor '{name}' offset");
        return new GgufTensorInfo(name, dims, ggmlType, offset);
    }

    uint Alignment(Dictionary<string, object> metadata)
    {
        if (!metadata.TryGetValue(GgufFormat.AlignmentKey, out object? value)) return GgufFormat.DefaultAlignment;
        if (value is not uint alignment)
            throw Fail($"'{GgufFormat.AlignmentKey}' must be a u32, found {GgufValues.Describe(value)}");
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw Fail($"'{GgufFormat.AlignmentKey}' must be a power of two, found {alignment}");
        return alignment;
    }

    object Value(GgufValueType type, string key) => type switch
    {
        GgufValueType.UInt8 => Take(1, key)[0],
        GgufValueType.Int8 => (sbyte)Take(1, key)[0],
        GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, key)),
        GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(Take(2, key)),
        GgufValueType.UInt32 => U32(key),
        GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(Take(4, key)),
        GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(Take(4, key)),
        GgufValueType.Bool => Take(1, key)[0] != 0,
        GgufValueType.String => String(key),
        GgufValueType.Array => Array(key),
        GgufValueType.UInt64 => U64(key),
        GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(Take(8, key)),
        GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, key)),
        _ => throw Fail($"'{key}': unknown value type {(uint)type}"),
    };

    /// <summary>An array as a typed C# array (string[], float[], int[], ...); arrays of arrays as object[].</summary>
    object Array(string key)
    {
        if (_arrayDepth >= MaxArrayNesting)
            throw Fail($"'{key}': arrays nested more than {MaxArrayNesting} deep at offset {_position}");
        _arrayDepth++;
        try { return ArrayBody(key); }
        finally { _arrayDepth--; }
    }

    object ArrayBody(string key)
    {
        var type = (GgufValueType)U32($"'{key}' array element type");
        ulong count = U64($"'{key}' array length");
        int minSize = GgufFormat.MinEncodedSize(type);
        if (minSize == 0) throw Fail($"'{key}': unknown array element type {(uint)type}");
        if (count > (ulong)(Remaining / minSize) || count > (ulong)System.Array.MaxLength)
            throw Fail($"'{key}': array of {count} {type} values cannot fit in the {Remaining} bytes left " +
                       $"(each takes at least {minSize} bytes) at offset {_position}");
        int n = (int)count;
        return type switch
        {
            GgufValueType.UInt8 => Fixed<byte>(n, key),
            GgufValueType.Int8 => Fixed<sbyte>(n, key),
            GgufValueType.UInt16 => Fixed<ushort>(n, key),
            GgufValueType.Int16 => Fixed<short>(n, key),
            GgufValueType.UInt32 => Fixed<uint>(n, key),
            GgufValueType.Int32 => Fixed<int>(n, key),
            GgufValueType.Float32 => Fixed<float>(n, key),
            GgufValueType.UInt64 => Fixed<ulong>(n, key),
            GgufValueType.Int64 => Fixed<long>(n, key),
            GgufValueType.Float64 => Fixed<double>(n, key),
            GgufValueType.Bool => Fixed<byte>(n, key).Select(b => b != 0).ToArray(),
            GgufValueType.String => Repeat(n, () => String(key)),
            _ => Repeat(n, () => Array(key)),
        };
    }

    static T[] Repeat<T>(int n, Func<T> read)
    {
        var result = new T[n];
        for (int i = 0; i < n; i++) result[i] = read();
        return result;
    }

    /// <summary>Fixed-size little-endian values; GGUF v2/v3 little-endian files on a little-endian host need no swap.</summary>
    T[] Fixed<T>(int n, string what) where T : unmanaged =>
        MemoryMarshal.Cast<byte, T>(Take((long)n * sizeof(T), what)).ToArray();

    string String(string what)
    {
        ulong length = U64($"{what} (string length)");
        if (length > (ulong)Remaining)
            throw Fail($"{what}: string length {length} exceeds the {Remaining} bytes left in the file at offset {_position}");
        var bytes = Take((long)length, what);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e) { throw Fail($"{what}: string is not valid UTF-8", e); }
    }

    uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count > Remaining)
            throw Fail($"truncated: {what} needs {count} bytes at offset {_position}, the file has {_length} bytes");
        if (count > int.MaxValue) throw Fail($"{what}: {count} bytes in one value is more than this reader supports (2 GiB)");
        var span = new ReadOnlySpan<byte>(_base + _position, (int)count);
        _position += count;
        return span;
    }

    LoaderException Fail(string problem, Exception? inner = null) => new(_path, problem, inner);
}
