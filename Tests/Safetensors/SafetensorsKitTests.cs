using System.Buffers.Binary;
using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Safetensors;

/// <summary>The reader against the reference kit's safetensors files and the facts its JSON files state about them.</summary>
public class SafetensorsKitTests
{
    static string[] KitFiles() =>
        Directory.EnumerateFiles(ReferenceKit.Root, "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void EveryKitFileOpensAndItsTensorsCoverTheDataSection()
    {
        string[] files = KitFiles();
        Assert.Equal(11, files.Length); // MANIFEST.md lists 11 .safetensors files
        foreach (string file in files)
        {
            using ICheckpoint ckpt = SafetensorsCheckpoint.Open(file);
            Assert.Equal("safetensors", ckpt.Format);
            Assert.Equal("pt", ckpt.Metadata["format"]);
            Assert.NotEmpty(ckpt.Tensors);
            // The kit's writer packs tensors back to back: length prefix + header + every tensor = the file.
            byte[] prefix = new byte[8];
            using (var f = File.OpenRead(file)) f.ReadExactly(prefix);
            long header = (long)BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            Assert.Equal(new FileInfo(file).Length, 8 + header + ckpt.Tensors.Sum(t => (long)t.Bytes.Length));
            foreach (TensorEntry t in ckpt.Tensors)
            {
                Assert.Equal(t.ByteLength, t.Bytes.Length);
                Assert.Same(t, ckpt.Find(t.Name));
                Assert.Equal(file, t.SourceFile);
            }
        }
    }

    [Theory]
    [InlineData("model")]
    [InlineData("model-prelayernorm")]
    public void MertModelMatchesStateDictCountsInMertRefJson(string variant)
    {
        using JsonDocument reference = ReferenceKit.Json("mert-tiny", "mert_ref.json");
        JsonElement expected = reference.RootElement.GetProperty("variants").GetProperty(variant);
        using ICheckpoint ckpt = SafetensorsCheckpoint.Open(ReferenceKit.File("mert-tiny", variant, "model.safetensors"));

        Assert.Equal(expected.GetProperty("state_dict_tensors").GetInt32(), ckpt.Tensors.Count);
        Assert.Equal(expected.GetProperty("state_dict_values").GetInt64(), ckpt.Tensors.Sum(t => t.ElementCount));
        Assert.All(ckpt.Tensors, t => Assert.Equal(DType.F32, t.DType));
        Assert.Equal([32], ckpt.Find("encoder.layer_norm.weight")!.Shape);
    }

    [Theory]
    [InlineData("ref_hf_fp32.safetensors", "model", DType.F32)]
    [InlineData("ref_hf_fp64.safetensors", "model", DType.F64)]
    [InlineData("ref_prelayernorm_hf_fp32.safetensors", "model-prelayernorm", DType.F32)]
    [InlineData("ref_prelayernorm_hf_fp64.safetensors", "model-prelayernorm", DType.F64)]
    public void MertGoldenShapesMatchMertRefJson(string file, string variant, DType dtype)
    {
        using JsonDocument reference = ReferenceKit.Json("mert-tiny", "mert_ref.json");
        JsonElement shapes = reference.RootElement.GetProperty("variants").GetProperty(variant).GetProperty("shapes");
        using ICheckpoint ckpt = SafetensorsCheckpoint.Open(ReferenceKit.File("mert-tiny", file));

        foreach (TensorEntry t in ckpt.Tensors)
        {
            long[] expected = shapes.GetProperty(t.Name).EnumerateArray().Select(d => d.GetInt64()).ToArray();
            Assert.Equal(expected, t.Shape);
            Assert.Equal(dtype, t.DType);
        }
        Assert.NotNull(ckpt.Find("hidden_states"));
    }

    [Fact]
    public void MistralTensorsHaveTheShapesItsConfigImplies()
    {
        using JsonDocument config = ReferenceKit.Json("mistral-tiny", "hf", "config.json");
        JsonElement c = config.RootElement;
        long vocab = c.GetProperty("vocab_size").GetInt64(), hidden = c.GetProperty("hidden_size").GetInt64();
        long ffn = c.GetProperty("intermediate_size").GetInt64(), headDim = c.GetProperty("head_dim").GetInt64();
        long q = c.GetProperty("num_attention_heads").GetInt64() * headDim, kv = c.GetProperty("num_key_value_heads").GetInt64() * headDim;
        var expected = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [vocab, hidden],
            ["lm_head.weight"] = [vocab, hidden],
            ["model.norm.weight"] = [hidden],
        };
        for (int layer = 0; layer < c.GetProperty("num_hidden_layers").GetInt32(); layer++)
        {
            string p = $"model.layers.{layer}.";
            expected[p + "self_attn.q_proj.weight"] = [q, hidden];
            expected[p + "self_attn.k_proj.weight"] = [kv, hidden];
            expected[p + "self_attn.v_proj.weight"] = [kv, hidden];
            expected[p + "self_attn.o_proj.weight"] = [hidden, q];
            expected[p + "mlp.gate_proj.weight"] = [ffn, hidden];
            expected[p + "mlp.up_proj.weight"] = [ffn, hidden];
            expected[p + "mlp.down_proj.weight"] = [hidden, ffn];
            expected[p + "input_layernorm.weight"] = [hidden];
            expected[p + "post_attention_layernorm.weight"] = [hidden];
        }

        using ICheckpoint ckpt = SafetensorsCheckpoint.Open(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), ckpt.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (TensorEntry t in ckpt.Tensors)
        {
            Assert.Equal(expected[t.Name], t.Shape);
            Assert.Equal(DType.BF16, t.DType);
        }
    }

    [Fact]
    public void ProjectorInputIsBitIdenticalToMertHiddenStates()
    {
        // projector_ref.json: mert_hidden_states are the 13 hidden states of mert-tiny/model for the test clip.
        using ICheckpoint mert = SafetensorsCheckpoint.Open(ReferenceKit.File("mert-tiny", "ref_hf_fp32.safetensors"));
        using ICheckpoint projector = SafetensorsCheckpoint.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        TensorEntry a = mert.Find("hidden_states")!, b = projector.Find("mert_hidden_states")!;
        Assert.Equal(a.Shape, b.Shape);
        Assert.True(a.Bytes.SequenceEqual(b.Bytes));
    }

    [Fact]
    public void MertInputValuesEqualTheNormalizedWavSamples()
    {
        // mert_ref.json "input": (x - mean) / sqrt(var + 1e-7) of int16/32768 samples, computed here in double.
        double[] x = ReadPcm16Wav(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"));
        double mean = x.Average(), variance = x.Sum(v => (v - mean) * (v - mean)) / x.Length;
        using ICheckpoint mert = SafetensorsCheckpoint.Open(ReferenceKit.File("mert-tiny", "ref_hf_fp32.safetensors"));
        float[] inputValues = mert.Find("input_values")!.ToFloat32();

        Assert.Equal(x.Length, inputValues.Length);
        double maxError = x.Select((v, i) => Math.Abs((v - mean) / Math.Sqrt(variance + 1e-7) - inputValues[i])).Max();
        Assert.True(maxError < 1e-6, $"max |error| {maxError}");
    }

    [Fact]
    public void CheckpointFileOpensASafetensorsFileAndAFolderHoldingOne()
    {
        string file = ReferenceKit.File("mert-tiny", "model", "model.safetensors");
        using ICheckpoint fromFile = CheckpointFile.Open(file);
        using ICheckpoint fromFolder = CheckpointFile.Open(Path.GetDirectoryName(file)!);

        Assert.Equal("safetensors", fromFile.Format);
        Assert.Equal(file, fromFolder.Path);
        Assert.Equal(211, fromFolder.Tensors.Count);
    }

    [Fact]
    public void CheckpointFileDoesNotMistakeA640ByteHeaderForAPickle()
    {
        // 640 = 0x280: the file starts 80 02, the way a protocol-2 pickle does.
        using var dir = new TempFolder();
        var writer = new SafetensorsTestWriter().Add("w", "U8", [1], [7]);
        writer.Metadata("pad", new string('x', 640 - writer.HeaderJson().Length - "\"__metadata__\":{\"pad\":\"\"},".Length));
        Assert.Equal(640, writer.HeaderJson().Length);
        string path = writer.WriteTo(dir.File("small.safetensors"));

        using ICheckpoint ckpt = CheckpointFile.Open(path);

        Assert.Equal("safetensors", ckpt.Format);
        Assert.Equal([7], ckpt.Find("w")!.Bytes.ToArray());
    }

    static double[] ReadPcm16Wav(string path)
    {
        byte[] wav = File.ReadAllBytes(path);
        for (int at = 12; at + 8 <= wav.Length; at += 8 + BinaryPrimitives.ReadInt32LittleEndian(wav.AsSpan(at + 4)))
        {
            int size = BinaryPrimitives.ReadInt32LittleEndian(wav.AsSpan(at + 4));
            if (wav[at] != 'd' || wav[at + 1] != 'a' || wav[at + 2] != 't' || wav[at + 3] != 'a') continue;
            var samples = new double[size / 2];
            for (int i = 0; i < samples.Length; i++)
                samples[i] = BinaryPrimitives.ReadInt16LittleEndian(wav.AsSpan(at + 8 + 2 * i)) / 32768.0;
            return samples;
        }
        throw new InvalidDataException($"{path}: no data chunk");
    }
}
