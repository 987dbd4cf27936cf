using System.Text;
using SonicVerse.Loader;

namespace SonicVerse.Tests.Gguf;

/// <summary>
/// Test-only GGUF writer (layout from ggml docs/gguf.md), able to write well-formed and deliberately broken files:
/// counts, offsets, magic and version can be overridden, and raw KV payloads written by hand.
/// </summary>
internal sealed class GgufTestWriter
{
    readonly List<(string Key, GgufValueType Type, Action<BinaryWriter> Write)> _kvs = new();
    readonly List<(string Name, ulong[] Dims, uint Type, byte[] Data, ulong? Offset)> _tensors = new();

    public byte[] Magic { get; set; } = "GGUF"u8.ToArray();
    public uint Version { get; set; } = 3;
    public ulong? TensorCount { get; set; }
    public ulong? KvCount { get; set; }
    /// <summary>Placement alignment of the data section and of automatic offsets; written as general.alignment
    /// only through <see cref="U32"/>.</summary>
    public uint Alignment { get; set; } = 32;

    public GgufTestWriter Kv(string key, GgufValueType type, Action<BinaryWriter> writeValue)
    {
        _kvs.Add((key, type, writeValue));
        return this;
    }

    public GgufTestWriter String(string key, string value) => Kv(key, GgufValueType.String, w => WriteString(w, value));

    public GgufTestWriter U32(string key, uint value) => Kv(key, GgufValueType.UInt32, w => w.Write(value));

    public GgufTestWriter StringArray(string key, params string[] values) => Kv(key, GgufValueType.Array, w =>
    {
        w.Write((uint)GgufValueType.String);
        w.Write((ulong)values.Length);
        foreach (string v in values) WriteString(w, v);
    });

    public GgufTestWriter FloatArray(string key, params float[] values) => Kv(key, GgufValueType.Array, w =>
    {
        w.Write((uint)GgufValueType.Float32);
        w.Write((ulong)values.Length);
        foreach (float v in values) w.Write(v);
    });

    /// <summary>A tensor with GGUF dims (innermost first); <paramref name="offset"/> null = next aligned offset.</summary>
    public GgufTestWriter Tensor(string name, ulong[] dims, uint ggmlType, byte[] data, ulong? offset = null)
    {
        _tensors.Add((name, dims, ggmlType, data, offset));
        return this;
    }

    public byte[] Build()
    {
        var header = new MemoryStream();
        var w = new BinaryWriter(header);
        w.Write(Magic);
        w.Write(Version);
        w.Write(TensorCount ?? (ulong)_tensors.Count);
        w.Write(KvCount ?? (ulong)_kvs.Count);
        foreach (var (key, type, write) in _kvs)
        {
            WriteString(w, key);
            w.Write((uint)type);
            write(w);
        }
        var offsets = WriteTensorInfos(w);
        w.Flush();
        long dataStart = AlignUp(header.Length, Alignment);
        long end = _tensors.Select((t, i) => (long)offsets[i] + t.Data.Length).DefaultIfEmpty(0).Max();
        var file = new byte[dataStart + end];
        header.ToArray().CopyTo(file, 0);
        for (int i = 0; i < _tensors.Count; i++) _tensors[i].Data.CopyTo(file, dataStart + (long)offsets[i]);
        return file;
    }

    List<ulong> WriteTensorInfos(BinaryWriter w)
    {
        var offsets = new List<ulong>();
        ulong next = 0;
        foreach (var (name, dims, type, data, offset) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (ulong d in dims) w.Write(d);
            w.Write(type);
            ulong at = offset ?? next;
            w.Write(at);
            offsets.Add(at);
            next = (ulong)AlignUp((long)at + data.Length, Alignment);
        }
        return offsets;
    }

    public static void WriteString(BinaryWriter w, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    public static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    static long AlignUp(long n, long alignment) => (n + alignment - 1) / alignment * alignment;
}

/// <summary>A file in the temp folder, deleted on dispose.</summary>
internal sealed class TempGguf : IDisposable
{
    public TempGguf(byte[] contents)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sonicverse-gguf-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(Path, contents);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
