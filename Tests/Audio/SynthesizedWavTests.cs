using SonicVerse.Runtime.Audio;

namespace SonicVerse.Tests.Audio;

/// <summary>WAV variants the kit lacks, synthesized here from integer ramps whose float values are known exactly.</summary>
public class SynthesizedWavTests
{
    readonly string _dir = TestWav.TempDir();

    /// <summary>A deterministic sample pattern covering both extremes of an n-bit signed integer.</summary>
    static long Value(int i, int bits)
    {
        long max = (1L << (bits - 1)) - 1, min = -(1L << (bits - 1));
        return (i % 7) switch { 0 => max, 1 => min, 2 => 0, _ => (i * 2654435761L % (max - min + 1)) + min };
    }

    static (byte[] Bytes, float[] Expected) IntegerData(int frames, int channels, int bits)
    {
        int bytesPer = bits / 8, n = frames * channels;
        var data = new byte[n * bytesPer];
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            long v = Value(i, bits);
            long stored = bits == 8 ? v + 128 : v; // 8-bit WAV is unsigned
            for (int k = 0; k < bytesPer; k++) data[i * bytesPer + k] = (byte)(stored >> (8 * k));
            expected[i] = (float)(v / Math.Pow(2, bits - 1));
        }
        return (data, expected);
    }

    [Theory]
    [InlineData(8, 1, false, false)]
    [InlineData(16, 2, false, false)]
    [InlineData(24, 1, false, false)]
    [InlineData(32, 2, false, false)]
    [InlineData(16, 3, false, false)]
    [InlineData(24, 3, true, false)]
    [InlineData(32, 2, true, true)]
    public void IntegerPcm_ScalesBy2PowBitsMinus1(int bits, int channels, bool extensible, bool rf64)
    {
        var (data, expected) = IntegerData(1001, channels, bits);
        string path = Path.Combine(_dir, $"pcm{bits}_{channels}.wav");
        TestWav.Write(path, data, channels, 22050, bits, TestWav.Encoding.Pcm, extensible, rf64);
        using var reader = AudioFile.Open(path);
        Assert.Equal((22050, channels, 1001L), (reader.SampleRate, reader.Channels, reader.TotalFrames!.Value));
        Assert.Equal(expected, TestWav.ReadAll(reader, block: 100));
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(32, true)]
    public void Float_IsPassedThrough(int bits, bool extensible)
    {
        var values = Enumerable.Range(0, 3000).Select(i => Math.Sin(i * 0.01) * 0.9 + (i % 5 == 0 ? 1e-9 : 0)).ToArray();
        byte[] data = bits == 32 ? values.SelectMany(v => BitConverter.GetBytes((float)v)).ToArray() : values.SelectMany(BitConverter.GetBytes).ToArray();
        string path = Path.Combine(_dir, $"float{bits}.wav");
        TestWav.Write(path, data, 2, 48000, bits, TestWav.Encoding.Float, extensible);
        float[] got = TestWav.DecodeFile(path);
        Assert.Equal(values.Select(v => (float)v).ToArray(), got);
    }

    [Fact]
    public void ThreeChannels_MonoIsTheChannelMean()
    {
        var (data, expected) = IntegerData(2000, 3, 16);
        string path = Path.Combine(_dir, "three.wav");
        TestWav.Write(path, data, 3, 24000, 16, TestWav.Encoding.Pcm);
        float[] mono = AudioLoader.LoadMono(path, 24000);
        Assert.Equal(2000, mono.Length);
        for (int i = 0; i < mono.Length; i++)
            Assert.Equal((expected[3 * i] + expected[3 * i + 1] + expected[3 * i + 2]) / 3.0, mono[i], 1e-6);
    }
}
