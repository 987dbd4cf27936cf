using System.Text;
using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mistral;

/// <summary>LoRA against the kit's peft-merged reference, and the clear errors of bad input.</summary>
public class MistralLoraAndErrorTests
{
    [Theory]
    [InlineData(DeviceKind.Cpu, "adapter_model.safetensors", false)]
    [InlineData(DeviceKind.Cpu, "adapter_model.bin", false)]
    [InlineData(DeviceKind.Cpu, "adapter_model.safetensors", true)]
    [InlineData(DeviceKind.Cpu, "adapter_model.bin", true)]
    [InlineData(DeviceKind.IlgpuCpu, "adapter_model.safetensors", false)]  // decode steps' RoPE in the q/k/v B products
    public void LoraGivesTheMergedReferenceIds(DeviceKind device, string weightsFile, bool merge)
    {
        int steps = device == DeviceKind.Cpu ? 32 : 2;
        using var backend = Backend.Create(device);
        var options = new MistralLoadOptions
        {
            LoraFolder = MistralKit.LoraFolder,
            LoraWeightsFile = Path.Combine(MistralKit.LoraFolder, weightsFile),
            MergeLora = merge,
        };
        using var model = MistralModel.Load(MistralKit.HfFolder, backend, options);
        Assert.Equal(!merge, model.HasLoraSidePath);
        if (!merge) Assert.Contains("side path, bf16", model.Description);  // the kit's adapter is bf16, its scale 2
        // ilgpu-cpu: one prompt's prefill and first decode step (the side path's B products rotating q and k).
        foreach (string prompt in device == DeviceKind.Cpu ? MistralKit.PromptNames : ["plain"])
            MistralParityTests.AssertGreedy(MistralKit.Run("hf_lora_merged", prompt), model, steps, 1e-3);
    }

    [Fact]
    public void LoraSwitchedOffGivesTheBaseIds()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend, new MistralLoadOptions { LoraFolder = MistralKit.LoraFolder });
        foreach (string prompt in MistralKit.PromptNames)
        {
            MistralParityTests.AssertGreedy(MistralKit.Run("hf_f32", prompt), model, 32, 1e-3, useLora: false);
            MistralParityTests.AssertGreedy(MistralKit.Run("hf_lora_merged", prompt), model, 4, 1e-3, useLora: true);
        }
    }

    /// <summary>The side path costs one shared A product per group of layers that read the same x and the B products,
    /// those of a group in one accumulating launch: 9 launches a block on top of the base step (counted below). RoPE
    /// stays folded in: into the q/k/v products without the side path, into its B products (which finish q and k) with
    /// it.</summary>
    [Fact]
    public void LoraSidePathAddsNineLaunchesABlock()
    {
        using var backend = (IlgpuBackend)IlgpuBackend.CreateCpuAccelerator();
        using var model = MistralModel.Load(MistralKit.HfFolder, backend, new MistralLoadOptions { LoraFolder = MistralKit.LoraFolder });
        long LaunchesOfOneStep(bool useLora)
        {
            using var state = model.CreateState();
            state.UseLora = useLora;
            model.Forward([1, 2, 3], state);
            long before = backend.LaunchCount;
            model.Forward([4], state);
            return backend.LaunchCount - before;
        }
        // q/k/v: A shared, B each from its own mid (2); gate/up: the norm apart from the products, A, B, SiLU·up (3);
        // o and down: A and B (2 each).
        Assert.Equal(LaunchesOfOneStep(false) + 9 * model.Config.LayerCount, LaunchesOfOneStep(true));
    }

    /// <summary>An adapter made in memory (what <c>bench --lora-rank</c> runs) plugs into both ways of applying one: its
    /// side path gives the logits of the same adapter merged into the weights, with the side path stored in bf16 when
    /// scale·B stays exact there (scale 2) and in fp32 when it does not (scale 0.75).</summary>
    [Theory]
    [InlineData(8f, "bf16")]
    [InlineData(3f, "f32")]
    public void SyntheticAdapterSidePathMatchesItsMerge(float alpha, string stored)
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        MistralConfig config;
        using (var plain = MistralModel.Load(MistralKit.HfFolder, backend)) config = plain.Config;
        var adapter = LoraAdapter.Synthetic(config, rank: 4, alpha: alpha, seed: 7);
        Assert.Equal(7 * config.LayerCount, adapter.PairCount);
        float[] Logits(bool merge, bool useLora)
        {
            using var model = MistralModel.Load(MistralKit.HfFolder, backend, new MistralLoadOptions { Lora = adapter, MergeLora = merge });
            if (!merge) Assert.Contains($"side path, {stored}", model.Description);
            using var state = model.CreateState();
            state.UseLora = useLora;
            var logits = new float[config.VocabSize];
            backend.Download(model.Forward([1, 415, 2936, 9060], state), logits);
            return logits;
        }
        float[] side = Logits(merge: false, useLora: true), merged = Logits(merge: true, useLora: true);
        float[] none = Logits(merge: false, useLora: false);
        float scale = side.Max(MathF.Abs);
        for (int i = 0; i < side.Length; i++) Assert.True(MathF.Abs(side[i] - merged[i]) <= 1e-4f * scale, $"logit {i}");
        Assert.True(side.Zip(none).Max(p => MathF.Abs(p.First - p.Second)) > 1e-2f * scale, "the adapter changed nothing");
    }

    [Fact]
    public void LoraOnAGgufFollowsItsRowOrder()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.Gguf("f32"), backend, new MistralLoadOptions { LoraFolder = MistralKit.LoraFolder });
        MistralParityTests.AssertGreedy(MistralKit.Run("hf_lora_merged", "long"), model, 32, 1e-3);
    }

    [Fact]
    public void LoraWithShapesThatDoNotMatchIsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("lora-bad-").FullName;
        try
        {
            File.Copy(Path.Combine(MistralKit.LoraFolder, "adapter_model.safetensors"), Path.Combine(dir, "adapter_model.safetensors"));
            var config = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(Path.Combine(MistralKit.LoraFolder, "adapter_config.json")))!;
            config["r"] = JsonSerializer.SerializeToElement(8);   // the file's tensors have rank 4
            File.WriteAllText(Path.Combine(dir, "adapter_config.json"), JsonSerializer.Serialize(config));
            using var backend = Backend.Create(DeviceKind.Cpu);
            var e = Assert.Throws<LoaderException>(() =>
                MistralModel.Load(MistralKit.HfFolder, backend, new MistralLoadOptions { LoraFolder = dir }));
            Assert.Contains("lora_A.weight", e.Message);
            Assert.Contains("expected shape [8, 64]", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void PromptLongerThanTheContextIsRefused()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend);
        var ids = MistralKit.Run("hf_f32", "long").PromptIds;
        using var state = model.CreateState(16);
        var e = Assert.Throws<InputException>(() => model.Forward(ids, state));
        Assert.Contains("context of 16", e.Message);
        Assert.Throws<InputException>(() => model.CreateState(model.Config.MaxPositions + 1));
    }

    [Fact]
    public void UnknownTokenIdIsRefused()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend);
        using var state = model.CreateState(8);
        var e = Assert.Throws<InputException>(() => model.Forward([1, 32000], state));
        Assert.Contains("32000", e.Message);
        Assert.Throws<InputException>(() => model.Forward([-1], state));
        Assert.Equal(0, state.Position);
    }

    [Fact]
    public void GgufOfAnotherArchitectureIsRefused()
    {
        string path = Path.Combine(Path.GetTempPath(), $"gpt2-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, MinimalGguf("gpt2"));
        try
        {
            using var backend = Backend.Create(DeviceKind.Cpu);
            var e = Assert.Throws<LoaderException>(() => MistralModel.Load(path, backend));
            Assert.Contains("gpt2", e.Message);
            Assert.Contains("llama", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A GGUF v3 with no tensors and one key, general.architecture (gguf.md: magic, version, tensor count,
    /// kv count, then key = u64 length + bytes, u32 type 8 = string, value = u64 length + bytes).</summary>
    static byte[] MinimalGguf(string architecture)
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write(0UL);
        w.Write(1UL);
        void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            w.Write((ulong)bytes.Length);
            w.Write(bytes);
        }
        String("general.architecture");
        w.Write(8u);
        String(architecture);
        while (stream.Length % 32 != 0) w.Write((byte)0);
        w.Flush();
        return stream.ToArray();
    }
}
