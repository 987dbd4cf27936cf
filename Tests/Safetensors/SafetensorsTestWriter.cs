using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace SonicVerse.Tests.Safetensors;

/// <summary>
/// Test-only safetensors writer: well-formed files (tensors packed in the order added) and hostile ones (any
/// dtype/shape/offsets text, a raw header, a lying header length). Written from the format description, not from the reader.
/// </summary>
public sealed class SafetensorsTestWriter
{
    readonly List<(string Name, string DType, long[] Shape, byte[] Data, long[]? Offsets)> _tensors = [];
    readonly Dictionary<string, string> _metadata = [];

    /// <summary>Adds a tensor; its offsets follow the previous tensor unless <paramref name="offsets"/> overrides them.</summary>
    public SafetensorsTestWriter Add(string name, string dtype, long[] shape, byte[] data, long[]? offsets = null)
    {
        _tensors.Add((name, dtype, shape, data, offsets));
        return this;
    }

    public SafetensorsTestWriter Metadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    public string HeaderJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach ((string key, string value) in _metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                long[] offsets = t.Offsets ?? [offset, offset + t.Data.Length];
                offset += t.Data.Length;
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType);
                WriteArray(json, "shape", t.Shape);
                WriteArray(json, "data_offsets", offsets);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public byte[] ToBytes() => Raw(HeaderJson(), _tensors.SelectMany(t => t.Data).ToArray());

    public string WriteTo(string path)
    {
        File.WriteAllBytes(path, ToBytes());
        return path;
    }

    /// <summary>u64 LE length (the real one unless <paramref name="declaredLength"/> lies), header, data.</summary>
    public static byte[] Raw(string headerJson, byte[] data, ulong? declaredLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    static void WriteArray(Utf8JsonWriter json, string name, long[] values)
    {
        json.WriteStartArray(name);
        foreach (long v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }
}
