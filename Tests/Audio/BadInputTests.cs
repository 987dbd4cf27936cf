using SonicVerse.Runtime;
using SonicVerse.Runtime.Audio;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Audio;

/// <summary>Bad files fail with one InputException whose message names the file and the problem.</summary>
public class BadInputTests
{
    readonly string _dir = TestWav.TempDir();

    string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static void AssertFails(string path, string problem)
    {
        var e = Assert.Throws<InputException>(() => AudioLoader.LoadMono(path, 24000));
        Assert.Contains(path, e.Message);
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void EmptyFile() => AssertFails(Write("empty.wav", []), "empty file");

    [Fact]
    public void TruncatedWavHeader()
    {
        byte[] wav = File.ReadAllBytes(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"));
        AssertFails(Write("trunc.wav", wav[..30]), "truncated");
    }

    [Fact]
    public void TruncatedWavData()
    {
        byte[] wav = File.ReadAllBytes(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"));
        AssertFails(Write("trunc-data.wav", wav[..5000]), "truncated");
    }

    [Fact]
    public void RandomBytes()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        bytes[0] = 0x12;
        AssertFails(Write("noise.mp3", bytes), "unsupported audio format");
    }

    [Fact]
    public void CorruptFlacFrame_FailsItsCrc()
    {
        byte[] flac = File.ReadAllBytes(ReferenceKit.File("audio", "clip_24k_mono.flac"));
        flac[flac.Length / 2] ^= 0x10;
        AssertFails(Write("corrupt.flac", flac), "corrupt FLAC");
    }

    [Fact]
    public void TruncatedFlac()
    {
        byte[] flac = File.ReadAllBytes(ReferenceKit.File("audio", "clip_24k_mono.flac"));
        AssertFails(Write("short.flac", flac[..(flac.Length * 2 / 3)]), "truncated");
    }

    [Fact]
    public void TooShortWav()
    {
        string path = Path.Combine(_dir, "short.wav");
        TestWav.Write(path, new byte[200], 1, 24000, 16, TestWav.Encoding.Pcm);
        AssertFails(path, "too short: 100 samples");
    }

    [Fact]
    public void WavWithoutSamples()
    {
        string path = Path.Combine(_dir, "nothing.wav");
        TestWav.Write(path, [], 1, 24000, 16, TestWav.Encoding.Pcm);
        AssertFails(path, "no audio samples");
    }

    [Fact]
    public void UnsupportedWavEncoding()
    {
        string path = Path.Combine(_dir, "alaw.wav");
        TestWav.Write(path, new byte[2000], 1, 8000, 12, TestWav.Encoding.Pcm);
        AssertFails(path, "unsupported WAV encoding");
    }

    [Fact]
    public void MissingFile() => AssertFails(Path.Combine(_dir, "absent.wav"), "cannot open");
}

/// <summary>Flipped bits anywhere in each kit file: the decode succeeds or fails with InputException, nothing else.</summary>
public class FuzzTests
{
    [Theory]
    [InlineData("clip_24k_mono.flac")]
    [InlineData("clip_24k_mono_pcm16.wav")]
    [InlineData("clip_24k_mono.ogg")]
    [InlineData("clip_44k1_stereo.mp3")]
    public void FlippedBits_GiveInputExceptionOrAudio(string name)
    {
        byte[] original = File.ReadAllBytes(ReferenceKit.File("audio", name));
        string dir = TestWav.TempDir();
        var rnd = new Random(name.Length);
        int trials = name.EndsWith(".mp3") ? 6 : 20;
        for (int t = 0; t < trials; t++)
        {
            byte[] bytes = (byte[])original.Clone();
            int at = t < trials / 2 ? rnd.Next(Math.Min(200, bytes.Length)) : rnd.Next(bytes.Length);
            bytes[at] ^= (byte)(1 << rnd.Next(8));
            string path = Path.Combine(dir, $"{t}_{name}");
            File.WriteAllBytes(path, bytes);
            try
            {
                AudioLoader.LoadMono(path, 24000);
            }
            catch (InputException e)
            {
                Assert.Contains(path, e.Message);
            }
        }
    }
}
