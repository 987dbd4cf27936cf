using System.Buffers.Binary;
using System.Text.Json;

namespace SonicVerse.Tests.Audio;

/// <summary>Just enough safetensors for the audio tests: one F32 tensor by name (u64 header length, JSON header, data).</summary>
static class MiniSafetensors
{
    public static (float[] Data, int[] Shape) ReadF32(string path, string name)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        JsonElement entry = header.RootElement.GetProperty(name);
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        int[] shape = entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        long begin = entry.GetProperty("data_offsets")[0].GetInt64(), end = entry.GetProperty("data_offsets")[1].GetInt64();
        long dataStart = 8 + headerLength;
        var data = new float[(end - begin) / 4];
        for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(dataStart + begin + 4 * i)));
        return (data, shape);
    }
}
