using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary><c>sonicverse trace</c> over the projector and the language model, against the kit's reference stages.</summary>
public class TraceStagesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sv-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string Clip => ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav");

    [Fact]
    public void WholePromptTraceMatchesTheReferenceHiddenStates()
    {
        string output = Path.Combine(_dir, "t.safetensors");
        var r = CliRunner.Run("trace", Clip, "--model", ReferenceKit.File("sonicverse-tiny"), "--out", output, "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var trace = CheckpointFile.Open(output);
        using var golden = CheckpointFile.Open(ReferenceKit.File("sonicverse-tiny", "ref_e2e.safetensors"));

        AssertClose(golden.Find("inputs_embeds")!.ToFloat32(), trace.Find("llm.inputs_embeds")!.ToFloat32(), 1e-5f, "inputs_embeds");
        var reference = golden.Find("prompt_hidden_states")!;   // (layers + 1, L, H), the last after the final norm
        int layers = (int)reference.Shape[0], perLayer = (int)(reference.Shape[1] * reference.Shape[2]);
        float[] all = reference.ToFloat32();
        for (int i = 0; i < layers; i++)
            AssertClose(all[(i * perLayer)..((i + 1) * perLayer)], trace.Find($"llm.hidden_states.{i}")!.ToFloat32(), 1e-4f, $"hidden state {i}");
    }

    /// <summary>With a Q4_0 language model, <c>--int8-activations</c> reaches the traced hidden states (llama.cpp's
    /// arithmetic moves them) and leaves the prompt's embeddings alone.</summary>
    [Fact]
    public void Int8ActivationsReachTheTracedHiddenStates()
    {
        string sonicverse = ReferenceKit.SonicVerseFolder(_dir);
        float[] Trace(string name, params string[] extra)
        {
            string output = Path.Combine(_dir, name);
            var r = CliRunner.Run(["trace", Clip, "--mert", ReferenceKit.File("mert-tiny", "model"), "--sonicverse", sonicverse, "--llm",
                ReferenceKit.File("mistral-tiny", "gguf", "tiny-mistral-q4_0.gguf"), "--out", output, "--device", "cpu", .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var trace = CheckpointFile.Open(output);
            return [.. trace.Find("llm.inputs_embeds")!.ToFloat32(), .. trace.Find("llm.hidden_states.1")!.ToFloat32()];
        }
        float[] fp32 = Trace("fp32.safetensors"), int8 = Trace("int8.safetensors", "--int8-activations");
        int embeds = fp32.Length / 2;
        Assert.Equal(fp32[..embeds], int8[..embeds]);
        Assert.True(fp32[embeds..].Zip(int8[embeds..]).Max(p => Math.Abs(p.First - p.Second)) > 1e-4,
            "--int8-activations left the hidden states as they were");
    }

    [Fact]
    public void EncoderAndProjectorTraceMatchesTheProjectorReference()
    {
        string output = Path.Combine(_dir, "p.safetensors");
        var r = CliRunner.Run("trace", Clip, "--mert", ReferenceKit.File("mert-tiny", "model"),
            "--sonicverse", ReferenceKit.File("projector-tiny", "non_lora_trainables.bin"), "--out", output, "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var trace = CheckpointFile.Open(output);
        using var golden = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        Assert.Null(trace.Find("llm.inputs_embeds"));
        // The kit's projector run starts from HF's MERT states; ours from our own MERT: the 1e-4 MERT tolerance carries over.
        AssertClose(golden.Find("projectors")!.ToFloat32(), trace.Find("projector.tokens")!.ToFloat32(), 1e-4f, "projector tokens");
        AssertClose(golden.Find("genre_detection.logits")!.ToFloat32(), trace.Find("projector.genre_detection.logits")!.ToFloat32(), 1e-3f, "genre logits");
    }

    static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }
}
