using System.Buffers.Binary;
using System.Text.Json;

namespace SonicVerse.Tests.PyTorch;

/// <summary>An independent minimal safetensors parse (u64 LE header length, JSON header, raw data) used as the reference
/// for the PyTorch reader; it deliberately shares no code with the loader.</summary>
public static class RawSafetensors
{
    public sealed record Tensor(string DType, long[] Shape, byte[] Data);

    public static Dictionary<string, Tensor> Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var header = JsonDocument.Parse(file.AsMemory(8, headerLength));
        int dataStart = 8 + headerLength;
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var property in header.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__") continue;
            var info = property.Value;
            var offsets = info.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var shape = info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            result[property.Name] = new Tensor(info.GetProperty("dtype").GetString()!, shape,
                file.AsSpan(dataStart + offsets[0], offsets[1] - offsets[0]).ToArray());
        }
        return result;
    }
}
