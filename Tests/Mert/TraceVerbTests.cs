using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mert;

/// <summary><c>sonicverse trace</c> end to end, as a user runs it.</summary>
public sealed class TraceVerbTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("mert-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TraceOfTheKitClipMatchesHf()
    {
        string output = Path.Combine(_dir, "trace.safetensors");
        var result = CliRunner.Run("trace", ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"),
            "--mert", MertKit.ModelDir(MertKit.PostLn), "--out", output, "--device", "cpu");
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}");

        var trace = new RefTensors(output);
        Assert.Equal(new[] { 36000 }, trace.Shape("audio.samples"));
        // The kit's input_values are the processor output for the same file: checks decoding and normalization.
        double inputErr = MertKit.MaxAbs(trace.Floats("mert.input"), new RefTensors(
            ReferenceKit.File("mert-tiny", "ref_hf_fp32.safetensors")).Values("input_values"), "mert.input");
        Assert.True(inputErr <= 1e-5, $"mert.input: max abs error {inputErr:E3}");
        Assert.Equal(new[] { 112, 32 }, trace.Shape("mert.hidden_states.12"));
        double err = MertKit.MaxAbs(trace.Floats("mert.hidden_states.12"),
            MertKit.Fp64(MertKit.PostLn).Slice("hidden_states", 12), "mert.hidden_states.12");
        Assert.True(err <= 1e-4, $"mert.hidden_states.12: max abs error {err:E3}");
        Assert.True(trace.Has("mert.conv.0") && trace.Has("mert.pos_conv") && trace.Has("mert.projection"));
    }

    [Fact]
    public void MissingMertOptionIsAUsageError()
    {
        var result = CliRunner.Run("trace", ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"), "--out", Path.Combine(_dir, "x.safetensors"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--mert", result.Stderr);
    }
}
