using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary>The whole captioner against the real SonicVerse path run by the kit (sonicverse-tiny/e2e_ref.json).</summary>
public class CaptionEndToEndTests
{
    static string Clip => ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav");

    static ModelFiles Bundle => ModelFiles.Resolve(ReferenceKit.File("sonicverse-tiny"), null, null, null);

    [Fact]
    public void CaptionOnCpuMatchesTheReferenceIdsTextAndEmbeddings()
    {
        using var e2e = ReferenceKit.Json("sonicverse-tiny", "e2e_ref.json");
        using var golden = CheckpointFile.Open(ReferenceKit.File("sonicverse-tiny", "ref_e2e.safetensors"));
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var captioner = SonicVerseCaptioner.Load(Bundle, backend);

        // Stage by stage: prompt ids with the slots, then the spliced embeddings.
        var prompt = captioner.EncodePrompt();
        int[] expectedPrompt = e2e.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expectedPrompt, prompt.Ids);
        var hidden = captioner.EncodeAudio(captioner.DecodeAudio(Clip));
        float[] embeds = captioner.SpliceEmbeddings(prompt, captioner.Project(hidden));
        float[] expectedEmbeds = golden.Find("inputs_embeds")!.ToFloat32();
        Assert.Equal(expectedEmbeds.Length, embeds.Length);
        for (int i = 0; i < embeds.Length; i++)
            Assert.True(Math.Abs(embeds[i] - expectedEmbeds[i]) <= 1e-5f, $"inputs_embeds[{i}]: {embeds[i]} vs {expectedEmbeds[i]}");

        var result = captioner.Caption(Clip, new GenerationOptions { MaxNewTokens = 32 });
        int[] expectedIds = e2e.RootElement.GetProperty("generated").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expectedIds, result.Ids);
        Assert.Equal(e2e.RootElement.GetProperty("text").GetString(), result.Caption);
        Assert.All(new[] { "decode_audio", "mert", "projector", "prefill", "generate" }, k => Assert.True(result.Seconds[k] >= 0));
    }

    [Fact]
    public void FirstStepLogProbsMatchTheReference()
    {
        var (expected, _) = Npy.ReadFloat32(ReferenceKit.File("sonicverse-tiny", "ref_e2e_first_logprobs.npy"));
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var captioner = SonicVerseCaptioner.Load(Bundle, backend);
        float[] embeds = captioner.SpliceEmbeddings(captioner.EncodePrompt(), captioner.Project(captioner.EncodeAudio(captioner.DecodeAudio(Clip))));
        var first = captioner.Generate(embeds, new GenerationOptions { MaxNewTokens = 1, TopLogprobs = 20 }).First();
        foreach (var t in first.TopLogprobs)
            Assert.True(Math.Abs(t.Logprob - expected[t.Id]) <= 1e-4f, $"id {t.Id}: {t.Logprob} vs {expected[t.Id]}");
    }

    /// <summary>The whole pipeline on the ILGPU kernels (CPU accelerator) against the cpu backend, on the first 0.5 s of
    /// the clip and 2 tokens: the simulated GPU needs minutes for the full clip (its kernels are each checked against the
    /// cpu ops in Tests/Backends, and the cpu pipeline against the kit above).</summary>
    [Fact]
    public void IlgpuCpuPipelineMatchesTheCpuPipeline()
    {
        var options = new GenerationOptions { MaxNewTokens = 2 };
        (float[] Tokens, int[] Ids) Run(DeviceKind device)
        {
            using var backend = Backend.Create(device);
            using var captioner = SonicVerseCaptioner.Load(Bundle, backend);
            float[] samples = captioner.DecodeAudio(Clip)[..12_000];
            var projection = captioner.Project(captioner.EncodeAudio(samples));
            float[] embeds = captioner.SpliceEmbeddings(captioner.EncodePrompt(), projection);
            return (projection.Tokens, captioner.Generate(embeds, options).Select(t => t.Id).ToArray());
        }
        var cpu = Run(DeviceKind.Cpu);
        var ilgpu = Run(DeviceKind.IlgpuCpu);
        for (int i = 0; i < cpu.Tokens.Length; i++)
            Assert.True(Math.Abs(cpu.Tokens[i] - ilgpu.Tokens[i]) <= 1e-4f, $"projector token value {i}: {ilgpu.Tokens[i]} vs {cpu.Tokens[i]}");
        Assert.Equal(cpu.Ids, ilgpu.Ids);
    }

    [Fact]
    public void CliCaptionsSeveralFilesWithOneModelAndWritesFeatures()
    {
        string flac = ReferenceKit.File("audio", "clip_24k_mono.flac");
        var r = CliRunner.Run("caption", Clip, flac, "--model", ReferenceKit.File("sonicverse-tiny"), "--max-new-tokens", "8",
            "--device", "cpu", "--json", "--labels", ReferenceKit.File("labels.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("loading MERT"));   // loaded once for both files
        var objects = ReadJsonObjects(r.Stdout);
        Assert.Equal(2, objects.Count);
        using var e2e = ReferenceKit.Json("sonicverse-tiny", "e2e_ref.json");
        int[] expected = e2e.RootElement.GetProperty("generated").EnumerateArray().Take(8).Select(e => e.GetInt32()).ToArray();
        foreach (var o in objects)
        {
            // The FLAC decodes to the WAV's samples exactly, so both captions are the reference's.
            Assert.Equal(expected, o.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
            var features = o.GetProperty("features");
            foreach (string head in new[] { "instrument", "mood", "genre", "key" })
                Assert.Equal(5, features.GetProperty(head).GetArrayLength());
            Assert.Equal(3, features.GetProperty("vocals").GetArrayLength());
            Assert.Matches("^[A-G]#? (major|minor)$", features.GetProperty("key")[0].GetProperty("label").GetString()!);
            foreach (string stage in new[] { "decode_audio", "mert", "projector", "prefill", "generate" })
                Assert.True(o.GetProperty("seconds").GetProperty(stage).GetDouble() >= 0);
        }
    }

    [Fact]
    public void FeatureScoresAreTheSigmoidOfTheReferenceLogits()
    {
        using var reference = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        float[] logits = reference.Find("instrument_detection.logits")!.ToFloat32();
        using var labels = ReferenceKit.Json("labels.json");
        string[] names = labels.RootElement.GetProperty("instrument_detection").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int best = Array.IndexOf(logits, logits.Max());
        var r = CliRunner.Run("caption", Clip, "--model", ReferenceKit.File("sonicverse-tiny"), "--max-new-tokens", "1",
            "--device", "cpu", "--json", "--labels", ReferenceKit.File("labels.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var top = ReadJsonObjects(r.Stdout)[0].GetProperty("features").GetProperty("instrument")[0];
        Assert.Equal(names[best], top.GetProperty("label").GetString());
        Assert.Equal(1 / (1 + Math.Exp(-logits[best])), top.GetProperty("score").GetDouble(), 4);
    }

    /// <summary>caption --json writes JSON Lines: one object per file.</summary>
    static List<JsonElement> ReadJsonObjects(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
}
