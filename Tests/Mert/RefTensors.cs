using System.Buffers.Binary;
using System.Text.Json;

namespace SonicVerse.Tests.Mert;

/// <summary>A minimal safetensors reader for the kit's golden outputs (F32/F64), independent of the product's
/// readers, so a reader bug cannot hide a model bug.</summary>
public sealed class RefTensors
{
    readonly Dictionary<string, (int[] Shape, double[] Values)> _tensors = new(StringComparer.Ordinal);

    public RefTensors(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        int dataStart = 8 + headerLength;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            string dtype = p.Value.GetProperty("dtype").GetString()!;
            int[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var span = bytes.AsSpan(checked((int)(dataStart + offsets[0])), checked((int)(offsets[1] - offsets[0])));
            _tensors[p.Name] = (shape, Decode(dtype, span, p.Name));
        }
    }

    public IEnumerable<string> Names => _tensors.Keys;

    public bool Has(string name) => _tensors.ContainsKey(name);

    public int[] Shape(string name) => Entry(name).Shape;

    public double[] Values(string name) => Entry(name).Values;

    public float[] Floats(string name) => Entry(name).Values.Select(v => (float)v).ToArray();

    /// <summary>Row <paramref name="index"/> of the outermost axis (e.g. one hidden state of (L+1, T, H)).</summary>
    public double[] Slice(string name, int index)
    {
        var (shape, values) = Entry(name);
        int inner = values.Length / shape[0];
        return values.AsSpan(index * inner, inner).ToArray();
    }

    (int[] Shape, double[] Values) Entry(string name) =>
        _tensors.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"reference tensor '{name}' missing");

    static double[] Decode(string dtype, ReadOnlySpan<byte> span, string name)
    {
        int size = dtype switch { "F32" => 4, "F64" => 8, _ => throw new NotSupportedException($"{name}: dtype {dtype}") };
        var values = new double[span.Length / size];
        for (int i = 0; i < values.Length; i++)
            values[i] = size == 4 ? BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]) : BinaryPrimitives.ReadDoubleLittleEndian(span[(8 * i)..]);
        return values;
    }
}
