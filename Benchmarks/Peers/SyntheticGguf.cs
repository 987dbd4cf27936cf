using System.Text;

namespace SonicVerse.Peers;

/// <summary>Mistral-shaped model dimensions for the synthetic GGUF (arch "llama", as llama.cpp's converter writes Mistral).</summary>
public sealed record GgufShape(int Hidden, int Layers, int Ffn, int Heads, int KvHeads, int Vocab)
{
    public static GgufShape Default => new(2048, 16, 5632, 32, 8, 32000);
    public int HeadDim => Hidden / Heads;
}

/// <summary>
/// Writes a GGUF v3 file with seeded random Q8_0/Q4_0 weights at <see cref="GgufShape"/>: tensor names and metadata
/// keys as llama.cpp expects for arch llama. The tokenizer and every other key are copied from a template GGUF (the
/// kit's tiny Mistral, same 32000-token vocabulary); only the shape keys, name and file type are replaced.
/// Layout (ggml docs/gguf.md): header, key/values, tensor infos (dims innermost first), data aligned to 32 bytes.
/// </summary>
public static class SyntheticGguf
{
    const uint Magic = 0x46554747;  // "GGUF"
    const int Alignment = 32;
    const uint TypeUInt32 = 4, TypeString = 8, TypeArray = 9;
    const uint GgmlF32 = 0, GgmlQ4_0 = 2, GgmlQ8_0 = 8;

    public static void Write(string template, string path, GgufShape shape, bool q4, int seed)
    {
        var keyValues = ReadKeyValues(template);
        var overrides = new Dictionary<string, byte[]>
        {
            ["general.name"] = StringValue($"synthetic-mistral-{shape.Hidden}x{shape.Layers}-{(q4 ? "q4_0" : "q8_0")}"),
            ["general.file_type"] = UInt32Value(q4 ? 2u : 7u),  // llama_ftype: MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7
            ["llama.attention.head_count"] = UInt32Value((uint)shape.Heads),
            ["llama.attention.head_count_kv"] = UInt32Value((uint)shape.KvHeads),
            ["llama.attention.key_length"] = UInt32Value((uint)shape.HeadDim),
            ["llama.attention.value_length"] = UInt32Value((uint)shape.HeadDim),
            ["llama.block_count"] = UInt32Value((uint)shape.Layers),
            ["llama.embedding_length"] = UInt32Value((uint)shape.Hidden),
            ["llama.feed_forward_length"] = UInt32Value((uint)shape.Ffn),
            ["llama.rope.dimension_count"] = UInt32Value((uint)shape.HeadDim),
            ["llama.vocab_size"] = UInt32Value((uint)shape.Vocab),
        };
        var tensors = Tensors(shape);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new BinaryWriter(file);
        w.Write(Magic);
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)keyValues.Count);
        foreach (var (key, value) in keyValues)
        {
            WriteString(w, key);
            w.Write(overrides.TryGetValue(key, out var replaced) ? replaced : value);
        }
        ulong offset = 0;
        foreach (var t in tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (long d in t.Dims.Reverse()) w.Write((ulong)d);  // ggml: ne[0] is the innermost (row) length
            w.Write(t.Norm ? GgmlF32 : q4 ? GgmlQ4_0 : GgmlQ8_0);
            w.Write(offset);
            offset = Align(offset + (ulong)Bytes(t, q4));
        }
        Pad(w);
        var rng = new Random(seed);
        foreach (var t in tensors)
        {
            w.Write(t.Norm ? NormBytes(t.Dims[0]) : RandomBlocks(rng, t.Dims[0] * t.Dims[1], q4));
            Pad(w);
        }
    }

    sealed record Tensor(string Name, long[] Dims, bool Norm);

    static List<Tensor> Tensors(GgufShape s)
    {
        int kv = s.KvHeads * s.HeadDim;
        var list = new List<Tensor> { new("token_embd.weight", [s.Vocab, s.Hidden], false) };
        for (int i = 0; i < s.Layers; i++)
        {
            string b = $"blk.{i}.";
            list.Add(new(b + "attn_norm.weight", [s.Hidden], true));
            list.Add(new(b + "attn_q.weight", [s.Hidden, s.Hidden], false));
            list.Add(new(b + "attn_k.weight", [kv, s.Hidden], false));
            list.Add(new(b + "attn_v.weight", [kv, s.Hidden], false));
            list.Add(new(b + "attn_output.weight", [s.Hidden, s.Hidden], false));
            list.Add(new(b + "ffn_norm.weight", [s.Hidden], true));
            list.Add(new(b + "ffn_gate.weight", [s.Ffn, s.Hidden], false));
            list.Add(new(b + "ffn_up.weight", [s.Ffn, s.Hidden], false));
            list.Add(new(b + "ffn_down.weight", [s.Hidden, s.Ffn], false));
        }
        list.Add(new("output_norm.weight", [s.Hidden], true));
        list.Add(new("output.weight", [s.Vocab, s.Hidden], false));
        return list;
    }

    static long Bytes(Tensor t, bool q4) =>
        t.Norm ? 4L * t.Dims[0] : t.Dims[0] * t.Dims[1] / 32 * (q4 ? 18 : 34);

    static byte[] NormBytes(long count)
    {
        var bytes = new byte[4 * count];
        for (long i = 0; i < count; i++) BitConverter.TryWriteBytes(bytes.AsSpan((int)(4 * i)), 1f);
        return bytes;
    }

    /// <summary>Random quants, f16 scales around 0.035/127 (Q8_0) or 0.035/8 (Q4_0): weights of magnitude ≲ 0.035, like an
    /// initialised transformer, so activations stay finite through 16 layers.</summary>
    static byte[] RandomBlocks(Random rng, long count, bool q4)
    {
        int blockBytes = q4 ? 18 : 34;
        long blocks = count / 32;
        var bytes = new byte[blocks * blockBytes];
        rng.NextBytes(bytes);
        float scale = q4 ? 0.035f / 8 : 0.035f / 127;
        for (long b = 0; b < blocks; b++)
        {
            var d = (Half)(scale * (0.5f + (float)rng.NextDouble()));
            BitConverter.TryWriteBytes(bytes.AsSpan((int)(b * blockBytes)), d);
        }
        return bytes;
    }

    static ulong Align(ulong offset) => (offset + Alignment - 1) / Alignment * Alignment;

    static void Pad(BinaryWriter w)
    {
        long position = w.BaseStream.Position;
        long padded = (long)Align((ulong)position);
        for (long i = position; i < padded; i++) w.Write((byte)0);
    }

    static byte[] UInt32Value(uint value) => [.. BitConverter.GetBytes(TypeUInt32), .. BitConverter.GetBytes(value)];

    static byte[] StringValue(string value)
    {
        var text = Encoding.UTF8.GetBytes(value);
        return [.. BitConverter.GetBytes(TypeString), .. BitConverter.GetBytes((ulong)text.Length), .. text];
    }

    static void WriteString(BinaryWriter w, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>The template's key/values in order, each value kept as its raw bytes (type tag included).</summary>
    static List<(string Key, byte[] Value)> ReadKeyValues(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadUInt32() != Magic) throw new InvalidDataException($"{path}: not a GGUF file");
        r.ReadUInt32();
        r.ReadUInt64();
        ulong count = r.ReadUInt64();
        var list = new List<(string, byte[])>();
        for (ulong i = 0; i < count; i++)
        {
            string key = Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));
            long start = r.BaseStream.Position;
            SkipValue(r, r.ReadUInt32());
            long end = r.BaseStream.Position;
            r.BaseStream.Position = start;
            list.Add((key, r.ReadBytes((int)(end - start))));
        }
        return list;
    }

    static void SkipValue(BinaryReader r, uint type)
    {
        switch (type)
        {
            case TypeString:
                long length = (long)r.ReadUInt64();  // read before Position: `Position += Read…()` reads Position first
                r.BaseStream.Position += length;
                break;
            case TypeArray:
                uint elementType = r.ReadUInt32();
                ulong n = r.ReadUInt64();
                for (ulong i = 0; i < n; i++) SkipValue(r, elementType);
                break;
            default: r.BaseStream.Position += ScalarSize(type); break;
        }
    }

    /// <summary>gguf_type sizes: u8, i8, u16, i16, u32, i32, f32, bool, (string), (array), u64, i64, f64.</summary>
    static int ScalarSize(uint type) => type switch
    {
        0 or 1 or 7 => 1,
        2 or 3 => 2,
        4 or 5 or 6 => 4,
        10 or 11 or 12 => 8,
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };
}
