using System.Buffers.Binary;
using SonicVerse.Runtime.Audio;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Audio;

public class DecoderTests
{
    static string Kit(string name) => ReferenceKit.File("audio", name);

    /// <summary>The int16 samples of a plain PCM WAV, found by walking the chunks by hand.</summary>
    static short[] HandDecodePcm16(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        int at = 12;
        while (System.Text.Encoding.ASCII.GetString(b, at, 4) != "data") at += 8 + BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(at + 4));
        int size = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(at + 4));
        var s = new short[size / 2];
        for (int i = 0; i < s.Length; i++) s[i] = (short)(b[at + 8 + 2 * i] | b[at + 9 + 2 * i] << 8);
        return s;
    }

    [Fact]
    public void Pcm16Wav_IsInt16Over32768()
    {
        short[] expected = HandDecodePcm16(Kit("clip_24k_mono_pcm16.wav"));
        using var reader = AudioFile.Open(Kit("clip_24k_mono_pcm16.wav"));
        Assert.Equal((24000, 1, 36000L), (reader.SampleRate, reader.Channels, reader.TotalFrames!.Value));
        float[] got = TestWav.ReadAll(reader);
        Assert.Equal(36000, got.Length);
        for (int i = 0; i < got.Length; i++) Assert.Equal(expected[i] / 32768f, got[i]);
    }

    [Fact]
    public void Flac_DecodesToTheWavSamplesBitExact()
    {
        using var reader = AudioFile.Open(Kit("clip_24k_mono.flac"));
        Assert.Equal((24000, 1, 36000L), (reader.SampleRate, reader.Channels, reader.TotalFrames!.Value));
        float[] flac = TestWav.ReadAll(reader, block: 1000);
        float[] wav = TestWav.DecodeFile(Kit("clip_24k_mono_pcm16.wav"));
        Assert.Equal(wav, flac);
        var (ffmpeg, _) = Npy.ReadFloat32(Kit("ref_ffmpeg_decoded_clip_24k_mono_flac.npy"));
        Assert.Equal(ffmpeg, flac);
    }

    [Fact]
    public void Ogg_MatchesFfmpeg()
    {
        var (expected, shape) = Npy.ReadFloat32(Kit("ref_ffmpeg_decoded_clip_24k_mono_ogg.npy"));
        using var reader = AudioFile.Open(Kit("clip_24k_mono.ogg"));
        Assert.Equal((24000, shape[1]), (reader.SampleRate, reader.Channels));
        float[] got = TestWav.ReadAll(reader);
        Assert.Equal(expected.Length, got.Length);
        Assert.True(MaxAbsDiff(expected, got) <= 1e-4, $"max abs diff {MaxAbsDiff(expected, got)}");
    }

    [Fact]
    public void Mp3_MatchesFfmpegIncludingGaplessTrim()
    {
        var (expected, shape) = Npy.ReadFloat32(Kit("ref_ffmpeg_decoded_clip_44k1_stereo_mp3.npy"));
        using var reader = AudioFile.Open(Kit("clip_44k1_stereo.mp3"));
        Assert.Equal((44100, shape[1]), (reader.SampleRate, reader.Channels));
        Assert.Equal(shape[0], reader.TotalFrames);
        float[] got = TestWav.ReadAll(reader);
        Assert.Equal(expected.Length, got.Length);
        Assert.True(MaxAbsDiff(expected, got) <= 1e-3, $"max abs diff {MaxAbsDiff(expected, got)}");
    }

    [Fact]
    public void Mp3_LameTag_DeclaresTheKitDelayAndPadding()
    {
        byte[] bytes = File.ReadAllBytes(Kit("clip_44k1_stereo.mp3"));
        long start = AudioFile.Id3v2Length(bytes);
        var info = Mp3GaplessInfo.Parse(bytes.AsSpan((int)start));
        Assert.NotNull(info);
        // audio_ref / ffmpeg: 576 + 529 = 1105 frames dropped at the start, 1242 − 529 = 713 at the end.
        Assert.Equal((576, 1242), (info.EncoderDelay, info.EncoderPadding));
        Assert.Equal(1105, info.StartSkip);
        Assert.Equal(66150, info.OutputFrames);
    }

    static double MaxAbsDiff(float[] a, float[] b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
