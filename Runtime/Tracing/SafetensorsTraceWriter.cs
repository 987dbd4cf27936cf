using System.Buffers.Binary;
using System.Text.Json;
using SonicVerse.Runtime.IO;

namespace SonicVerse.Runtime.Tracing;

/// <summary>Collects trace records in memory and writes them as one fp32 safetensors file on <see cref="Save"/>:
/// u64 LE header length, JSON header <c>{name: {dtype, shape, data_offsets}}</c> padded with spaces to an 8-byte
/// boundary, then the raw little-endian data. Written through <see cref="AtomicFile"/>, so a reader never sees half a file.</summary>
public sealed class SafetensorsTraceWriter(string path, Func<string, bool>? wants = null) : ITraceSink
{
    readonly List<(string Name, int[] Shape, float[] Values)> _records = new();
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public string Path { get; } = path;

    public IReadOnlyList<string> Names => _records.Select(r => r.Name).ToList();

    public bool Wants(string name) => wants?.Invoke(name) ?? true;

    public void Record(string name, int[] shape, ReadOnlySpan<float> values)
    {
        long count = shape.Aggregate(1L, (n, d) => checked(n * d));
        if (count != values.Length)
            throw new ArgumentException($"trace '{name}': shape [{string.Join(", ", shape)}] holds {count} values, got {values.Length}");
        if (!_names.Add(name)) throw new ArgumentException($"trace '{name}' was recorded twice");
        _records.Add((name, (int[])shape.Clone(), values.ToArray()));
    }

    /// <summary>Writes every record (in recording order) to <see cref="Path"/>, replacing any existing file.</summary>
    public void Save(CancellationToken cancel = default)
    {
        byte[] header = Header();
        AtomicFile.Write(Path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var record in _records) WriteFloats(record.Values, stream);
        }, cancel);
    }

    byte[] Header()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            long offset = 0;
            foreach (var (name, shape, values) in _records)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += 4L * values.Length;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (int)((buffer.Length + 7) / 8 * 8);
        byte[] header = new byte[padded];
        buffer.ToArray().CopyTo(header, 0);
        header.AsSpan((int)buffer.Length).Fill((byte)' ');
        return header;
    }

    static void WriteFloats(float[] values, Stream stream)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        stream.Write(bytes);
    }
}
