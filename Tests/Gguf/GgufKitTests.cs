using System.Buffers.Binary;
using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Gguf;

/// <summary>The kit's tiny Mistral GGUFs (F32, Q8_0, Q4_0; written with ggml's reference quantizers) against
/// hf/config.json and against each other.</summary>
public class GgufKitTests
{
    static string KitGguf(string kind) => ReferenceKit.File("mistral-tiny", "gguf", $"tiny-mistral-{kind}.gguf");

    [Theory]
    [InlineData("f32")]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void ShapesAndMetadataMatchTheHfConfig(string kind)
    {
        using var config = ReferenceKit.Json("mistral-tiny", "hf", "config.json");
        var c = config.RootElement;
        long hidden = c.GetProperty("hidden_size").GetInt64(), ffn = c.GetProperty("intermediate_size").GetInt64();
        long vocab = c.GetProperty("vocab_size").GetInt64(), headDim = c.GetProperty("head_dim").GetInt64();
        long heads = c.GetProperty("num_attention_heads").GetInt64(), kvHeads = c.GetProperty("num_key_value_heads").GetInt64();
        int layers = c.GetProperty("num_hidden_layers").GetInt32();

        using var gguf = GgufCheckpoint.OpenFile(KitGguf(kind));
        Assert.Equal("gguf", gguf.Format);
        Assert.Equal(3u, gguf.Version);
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(hidden, gguf.GetArchInteger("embedding_length"));
        Assert.Equal(layers, gguf.GetArchInteger("block_count"));
        Assert.Equal(heads, gguf.GetArchInteger("attention.head_count"));
        Assert.Equal(kvHeads, gguf.GetArchInteger("attention.head_count_kv"));
        Assert.Equal(ffn, gguf.GetArchInteger("feed_forward_length"));
        Assert.Equal((float)c.GetProperty("rope_theta").GetDouble(), gguf.GetArchFloat("rope.freq_base"));
        Assert.Equal((float)c.GetProperty("rms_norm_eps").GetDouble(), gguf.GetArchFloat("attention.layer_norm_rms_epsilon"));

        var expected = new Dictionary<string, long[]>
        {
            ["token_embd.weight"] = [vocab, hidden],
            ["output_norm.weight"] = [hidden],
            ["output.weight"] = [vocab, hidden],
        };
        for (int i = 0; i < layers; i++)
        {
            expected[$"blk.{i}.attn_norm.weight"] = [hidden];
            expected[$"blk.{i}.ffn_norm.weight"] = [hidden];
            expected[$"blk.{i}.attn_q.weight"] = [heads * headDim, hidden];
            expected[$"blk.{i}.attn_k.weight"] = [kvHeads * headDim, hidden];
            expected[$"blk.{i}.attn_v.weight"] = [kvHeads * headDim, hidden];
            expected[$"blk.{i}.attn_output.weight"] = [hidden, heads * headDim];
            expected[$"blk.{i}.ffn_gate.weight"] = [ffn, hidden];
            expected[$"blk.{i}.ffn_up.weight"] = [ffn, hidden];
            expected[$"blk.{i}.ffn_down.weight"] = [hidden, ffn];
        }
        Assert.Equal(expected.Keys.Order(), gguf.Tensors.Select(t => t.Name).Order());
        DType quant = kind switch { "q8_0" => DType.Q8_0, "q4_0" => DType.Q4_0, _ => DType.F32 };
        foreach (var t in gguf.Tensors)
        {
            Assert.Equal(expected[t.Name], t.Shape);
            Assert.Equal(t.Shape.Count == 2 ? quant : DType.F32, t.DType);
            Assert.Equal(t.ByteLength, t.Bytes.Length);
        }
    }

    [Fact]
    public void VocabularyIsTheMistralTokenizer()
    {
        using var gguf = GgufCheckpoint.OpenFile(KitGguf("f32"));
        var vocab = gguf.Vocabulary;
        Assert.NotNull(vocab);
        Assert.Equal("llama", vocab.Model);
        Assert.Equal(32000, vocab.Tokens.Length);
        Assert.Equal(32000, vocab.Scores!.Length);
        Assert.Equal(32000, vocab.TokenTypes!.Length);
        Assert.Equal(["<unk>", "<s>", "</s>"], vocab.Tokens[..3]);
        Assert.Equal([2, 3, 3], vocab.TokenTypes[..3]); // unknown, control, control
        Assert.Equal(1, vocab.BosId);
        Assert.Equal(2, vocab.EosId);
        Assert.Equal(0, vocab.UnknownId);
        Assert.True(vocab.AddBos);
        Assert.False(vocab.AddEos);
        Assert.IsType<string[]>(gguf.Metadata["tokenizer.ggml.tokens"]);
        Assert.IsType<float[]>(gguf.Metadata["tokenizer.ggml.scores"]);
        Assert.IsType<int[]>(gguf.Metadata["tokenizer.ggml.token_type"]);
        Assert.IsType<uint>(gguf.Metadata["llama.block_count"]);
        Assert.Equal(26, gguf.Metadata.Count);
    }

    [Fact]
    public void Q8_0DequantizesWithinHalfAStepOfTheF32File() => CheckDequantized("q8_0", DType.Q8_0);

    [Fact]
    public void Q4_0DequantizesWithinHalfAStepOfTheF32File() => CheckDequantized("q4_0", DType.Q4_0);

    /// <summary>|y - x| ≤ |d|/2 per block, widened by the f16 rounding of d (the quantizer divides by the exact fp32
    /// d but stores d as f16: |q|·|d|·2⁻¹¹) and, for Q4_0, by the clamp of q to 15: a value on the opposite side of
    /// the block maximum maps to +8 steps, which is stored as +7 (error up to one step).</summary>
    static void CheckDequantized(string kind, DType dtype)
    {
        using var reference = GgufCheckpoint.OpenFile(KitGguf("f32"));
        using var quantized = GgufCheckpoint.OpenFile(KitGguf(kind));
        int checkedTensors = 0;
        foreach (var t in quantized.Tensors.Where(t => t.DType == dtype))
        {
            float[] x = reference.Find(t.Name)!.ToFloat32();
            float[] y = t.ToFloat32();
            var bytes = t.Bytes;
            int blockBytes = dtype.BlockBytes(), maxSteps = dtype == DType.Q8_0 ? 127 : 8;
            for (int b = 0; b < x.Length / 32; b++)
            {
                float d = Math.Abs((float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(b * blockBytes)..])));
                float max = SignedMax(x.AsSpan(b * 32, 32));
                for (int j = b * 32; j < b * 32 + 32; j++)
                {
                    bool clamped = dtype == DType.Q4_0 && Math.Abs(x[j]) > Math.Abs(max) * 7.5f / 8 && Math.Sign(x[j]) != Math.Sign(max);
                    double tol = (clamped ? 1.0 : 0.5) * d + maxSteps * d * Math.Pow(2, -11) + 1e-7 * Math.Abs(x[j]) + 1e-12;
                    if (!(Math.Abs(y[j] - x[j]) <= tol)) Assert.Fail($"{t.Name}[{j}]: dequantized {y[j]}, f32 {x[j]}, block d {d}");
                }
            }
            checkedTensors++;
        }
        Assert.Equal(2 + 7 * 2, checkedTensors); // token_embd, output, 7 matrices per layer
    }

    /// <summary>The first value with the largest |x|, sign kept (ggml's choice in quantize_row_q4_0_ref).</summary>
    static float SignedMax(ReadOnlySpan<float> block)
    {
        float max = 0;
        foreach (float v in block)
            if (Math.Abs(v) > Math.Abs(max)) max = v;
        return max;
    }

    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    public void RequantizingTheF32FileReproducesTheKitBytes(string kind)
    {
        using var reference = GgufCheckpoint.OpenFile(KitGguf("f32"));
        using var quantized = GgufCheckpoint.OpenFile(KitGguf(kind));
        var quants = quantized.Tensors.Where(t => t.DType.IsQuantized()).ToList();
        Assert.Equal(2 + 7 * 2, quants.Count);
        foreach (var t in quants)
        {
            float[] x = reference.Find(t.Name)!.ToFloat32();
            var mine = new byte[t.ByteLength];
            if (t.DType == DType.Q8_0) GgufQuants.QuantizeQ8_0(x, mine);
            else GgufQuants.QuantizeQ4_0(x, mine);
            int firstDiff = t.Bytes.CommonPrefixLength(mine);
            Assert.True(firstDiff == mine.Length,
                $"{t.Name}: first differing byte {firstDiff} (block {firstDiff / t.DType.BlockBytes()})");
        }
    }

    [Fact]
    public void DataSectionStartsAtTheAlignedEndOfTheHeader()
    {
        using var gguf = GgufCheckpoint.OpenFile(KitGguf("f32"));
        Assert.Equal(32u, gguf.Alignment);
        Assert.Equal(0, gguf.DataStart % 32);
        var first = (GgufTensor)gguf.Find("token_embd.weight")!;
        Assert.Equal(gguf.DataStart, first.FileOffset);
        Assert.Equal(new FileInfo(gguf.Path).Length, gguf.Tensors.Cast<GgufTensor>().Max(t => t.FileOffset + t.ByteLength));
    }
}
