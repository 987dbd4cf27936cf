using System.Text.Json;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mistral;

/// <summary><c>sonicverse generate</c> and <c>tokenize</c> as a user runs them.</summary>
public class GenerateCliTests
{
    [Fact]
    public void GenerateJsonGivesTheReferenceIds()
    {
        var reference = MistralKit.Run("hf_f32", "plain");
        var result = CliRunner.Run("generate", "--model", MistralKit.HfFolder, "--prompt", "The capital of France is",
            "--max-new-tokens", "8", "--top-logprobs", "3", "--device", "cpu", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal(reference.PromptIds, root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(reference.Generated.Take(8), root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        var top = root.GetProperty("top_logprobs").EnumerateArray().ToList();
        Assert.Equal(8, top.Count);
        var first = top[0].EnumerateArray().First();
        Assert.Equal(reference.Top[0][0].Id, first.GetProperty("id").GetInt32());
        Assert.Equal(reference.Top[0][0].Logprob, first.GetProperty("logprob").GetDouble(), 1e-3);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("text").GetString()));
    }

    [Fact]
    public void GenerateStreamsTextFromAGguf()
    {
        var result = CliRunner.Run("generate", "--model", MistralKit.Gguf("q8_0"), "--prompt", "Write one sentence about a cello.",
            "--chat", "--max-new-tokens", "4", "--device", "cpu");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(result.Stdout));
    }

    [Fact]
    public void Int8ActivationsGiveLlamaCppsIds()
    {
        // "inst" is where llama.cpp's Q4_0 run leaves the dequantized fp32 reference at step 0 (MANIFEST).
        var result = CliRunner.Run("generate", "--model", MistralKit.Gguf("q4_0"), "--prompt", PromptText("inst"), "--max-new-tokens", "8",
            "--device", "cpu", "--int8-activations", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("int8 activations", result.Stderr);
        AssertIds(MistralKit.Run("llamacpp_q4_0", "inst"), result.Stdout, 8);

        // (On ilgpu-cpu, through the same Backend.Create: MistralParityTests and BatchedDecodingTests.)

        var unquantized = CliRunner.Run("generate", "--model", MistralKit.HfFolder, "--prompt", "Hi", "--max-new-tokens", "1",
            "--device", "cpu", "--int8-activations");
        Assert.True(unquantized.ExitCode == 0, unquantized.Stderr);
        Assert.Contains("warning: --int8-activations changes nothing here: the language model's weights are BF16", unquantized.Stderr);
    }

    /// <summary>A CPU without AVX-512 (the runtime told so) decodes with the AVX2 row dots, in both activation modes, and
    /// gives the same ids: the dequantized reference's, and with int8 activations llama.cpp's.</summary>
    [Fact]
    public void WithoutAvx512TheCpuGivesTheSameIds()
    {
        var avx2 = new Dictionary<string, string> { ["DOTNET_EnableAVX512"] = "0" };
        foreach (var (kind, int8, reference) in new[] { ("q4_0", false, "hf_q4_0_dequant"), ("q8_0", false, "hf_q8_0_dequant"),
                     ("q4_0", true, "llamacpp_q4_0") })
        {
            string[] flags = int8 ? ["--int8-activations"] : [];
            var result = CliRunner.Run(avx2, ["generate", "--model", MistralKit.Gguf(kind), "--prompt", PromptText("inst"),
                "--max-new-tokens", "8", "--device", "cpu", "--json", .. flags]);
            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Contains("256-bit SIMD (AVX2)", result.Stderr);
            AssertIds(MistralKit.Run(reference, "inst"), result.Stdout, 8);
        }
    }

    static string PromptText(string name)
    {
        using var prompts = ReferenceKit.Json("mistral-tiny", "ref", "prompts.json");
        return prompts.RootElement.GetProperty("prompts").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == name).GetProperty("text").GetString()!;
    }

    static void AssertIds(ReferenceRun reference, string json, int steps)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(reference.PromptIds, doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(reference.Generated.Take(steps), doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void TokenizeJsonGivesTheKitIdsAndPieces()
    {
        using var prompts = ReferenceKit.Json("mistral-tiny", "ref", "prompts.json");
        var inst = prompts.RootElement.GetProperty("prompts").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "inst");
        var result = CliRunner.Run("tokenize", "--tokenizer", ReferenceKit.File("tokenizer", "tokenizer.model"), "--json",
            inst.GetProperty("text").GetString()!);
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal(inst.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()),
            doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(inst.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()),
            doc.RootElement.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()));

        var plain = CliRunner.Run("tokenize", "--tokenizer", MistralKit.Gguf("f32"), "--no-bos", "The capital of France is");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal("415 5565 302 4843 349", plain.Stdout.Trim());
    }

    [Fact]
    public void PromptLongerThanTheContextExitsWithBadInput()
    {
        string dir = Directory.CreateTempSubdirectory("mistral-ctx-").FullName;
        try
        {
            foreach (string f in new[] { "model.safetensors", "tokenizer.model" })
                File.Copy(Path.Combine(MistralKit.HfFolder, f), Path.Combine(dir, f));
            string config = File.ReadAllText(Path.Combine(MistralKit.HfFolder, "config.json"))
                .Replace("\"max_position_embeddings\": 32768", "\"max_position_embeddings\": 8");
            File.WriteAllText(Path.Combine(dir, "config.json"), config);
            var result = CliRunner.Run("generate", "--model", dir, "--prompt", "one two three four five six seven eight nine ten",
                "--device", "cpu");
            Assert.Equal(4, result.ExitCode);
            Assert.Contains("context", result.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
