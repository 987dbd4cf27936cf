using SonicVerse.Tests.Audio;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary>caption with bad or unusual input: one error line naming the file, a non-zero exit, nothing else printed.</summary>
public class CaptionInputTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sv-caption-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string Model => ReferenceKit.File("sonicverse-tiny");

    string Pcm16Wav(string name, short[] samples, int rate = 24000)
    {
        string path = Path.Combine(_dir, name);
        TestWav.Write(path, samples.SelectMany(BitConverter.GetBytes).ToArray(), 1, rate, 16, TestWav.Encoding.Pcm);
        return path;
    }

    [Fact]
    public void ATenSampleClipIsOneClearError()
    {
        string wav = Pcm16Wav("tiny.wav", new short[10]);
        var r = CliRunner.Run("caption", wav, "--model", Model, "--device", "cpu");
        Assert.Equal(4, r.ExitCode);
        string error = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("error:"));
        Assert.Contains("tiny.wav", error);
        Assert.Contains("too short", error);
        Assert.DoesNotContain("   at ", r.Stderr);   // no stack trace
    }

    [Fact]
    public void RandomBytesAreOneClearError()
    {
        string path = Path.Combine(_dir, "noise.mp3");
        File.WriteAllBytes(path, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 % 251)).ToArray());
        var r = CliRunner.Run("caption", path, "--model", Model, "--device", "cpu");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("noise.mp3", Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("error:")));
    }

    [Fact]
    public void ALongClipIsCutToTheCanvasWithAWarning()
    {
        // 12 s of a 440 Hz tone: longer than the 10.13 s the 760-frame canvas holds.
        var samples = Enumerable.Range(0, 12 * 24000).Select(i => (short)(8000 * Math.Sin(2 * Math.PI * 440 * i / 24000))).ToArray();
        string wav = Pcm16Wav("long.wav", samples);
        var r = CliRunner.Run("caption", wav, "--model", Model, "--device", "cpu", "--max-new-tokens", "2");
        Assert.Equal(0, r.ExitCode);
        string warning = Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("warning:"));
        Assert.Contains("describe", warning);
    }

    [Fact]
    public void AGgufLanguageModelGivesTheReferenceCaption()
    {
        // GGUF F32 holds exactly the bf16 values of the HF weights; the LoRA applies through the q/k row permutation.
        string sv = ReferenceKit.SonicVerseFolder(_dir);
        var r = CliRunner.Run("caption", ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"),
            "--mert", ReferenceKit.File("mert-tiny", "model"), "--llm", ReferenceKit.File("mistral-tiny", "gguf", "tiny-mistral-f32.gguf"),
            "--sonicverse", sv, "--device", "cpu", "--max-new-tokens", "8", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var e2e = ReferenceKit.Json("sonicverse-tiny", "e2e_ref.json");
        using var output = System.Text.Json.JsonDocument.Parse(r.Stdout);
        Assert.Equal(e2e.RootElement.GetProperty("generated").EnumerateArray().Take(8).Select(e => e.GetInt32()),
            output.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
    }
}
