using System.Buffers.Binary;
using System.Text.Json;

namespace SonicVerse.Tests.Support;

/// <summary>Independent knowledge about the kit's weight files, written without the product's readers:
/// raw safetensors headers and the GGUF ↔ HF Mistral name map with the converter's q/k row permutation.</summary>
public static class KitWeights
{
    /// <summary>Every weight file in the kit: *.safetensors, *.bin, *.gguf.</summary>
    public static IEnumerable<string> AllWeightFiles() =>
        Directory.EnumerateFiles(ReferenceKit.Root, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".safetensors") || f.EndsWith(".bin") || f.EndsWith(".gguf"))
            .Order(StringComparer.Ordinal);

    /// <summary>name → (dtype, shape) straight from a safetensors JSON header.</summary>
    public static Dictionary<string, (string DType, long[] Shape)> SafetensorsHeader(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        f.ReadExactly(len);
        var json = new byte[BinaryPrimitives.ReadUInt64LittleEndian(len)];
        f.ReadExactly(json);
        using var doc = JsonDocument.Parse(json);
        var result = new Dictionary<string, (string, long[])>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            result[p.Name] = (p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        }
        return result;
    }

    /// <summary>HF Mistral name for a llama.cpp GGUF tensor name (convert_hf_to_gguf naming).</summary>
    public static string HfNameOfGguf(string gguf)
    {
        if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
        if (gguf == "output_norm.weight") return "model.norm.weight";
        if (gguf == "output.weight") return "lm_head.weight";
        var parts = gguf.Split('.');
        if (parts.Length != 4 || parts[0] != "blk") throw new ArgumentException($"unexpected GGUF name {gguf}");
        string module = parts[2] switch
        {
            "attn_q" => "self_attn.q_proj", "attn_k" => "self_attn.k_proj", "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj", "ffn_gate" => "mlp.gate_proj", "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj", "attn_norm" => "input_layernorm", "ffn_norm" => "post_attention_layernorm",
            _ => throw new ArgumentException($"unexpected GGUF name {gguf}"),
        };
        return $"model.layers.{parts[1]}.{module}.{parts[3]}";
    }

    /// <summary>The HF row that GGUF row <paramref name="ggufRow"/> of a q/k weight came from. The converter reshapes
    /// each head's rows (2, headDim/2) → (headDim/2, 2): GGUF row h·d + 2i + s = HF row h·d + s·d/2 + i.</summary>
    public static int HfRowOfGgufRow(int ggufRow, int headDim)
    {
        int head = ggufRow / headDim, within = ggufRow % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }

    /// <summary>How many heads share a q/k weight (others: 0 = not permuted), from the tiny Mistral config.</summary>
    public static int PermutedHeads(string hfName, JsonElement config) =>
        hfName.EndsWith("q_proj.weight") ? config.GetProperty("num_attention_heads").GetInt32()
        : hfName.EndsWith("k_proj.weight") ? config.GetProperty("num_key_value_heads").GetInt32()
        : 0;
}
