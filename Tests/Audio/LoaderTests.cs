using SonicVerse.Runtime.Audio;
using SonicVerse.Tests.Support;
using Xunit.Abstractions;

namespace SonicVerse.Tests.Audio;

public class LoaderTests(ITestOutputHelper output)
{
    static string Kit(string name) => ReferenceKit.File("audio", name);

    [Fact]
    public void Resample44k1StereoTo24kMono_ClosesToSox()
    {
        var (sox, _) = Npy.ReadFloat32(Kit("ref_sox_resample_24k_mono.npy"));
        float[] got = AudioLoader.LoadMono(Kit("clip_44k1_stereo_f32.wav"), 24000);
        Assert.Equal(sox.Length, got.Length);
        double sq = 0, max = 0, signal = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double d = got[i] - sox[i];
            sq += d * d;
            signal += sox[i] * (double)sox[i];
            max = Math.Max(max, Math.Abs(d));
        }
        double rms = Math.Sqrt(sq / got.Length);
        double snr = 10 * Math.Log10(signal / sq);
        output.WriteLine($"vs sox rate -v: rms diff {rms:E3}, max abs diff {max:E3}, SNR {snr:F1} dB");
        // Measured 2.2e-4 RMS / 1.1e-3 max (MANIFEST: another good resampler gives ~1e-3 RMS); a margin of ~2x.
        Assert.True(rms < 5e-4 && max < 2.5e-3, $"rms diff {rms}, max abs diff {max}");
        // Issue 4: SNR >= 40 dB against sox (an ideal band-limited resampler reaches about 46 dB; sox rolls off at 95 %).
        Assert.True(snr >= 40, $"SNR {snr:F1} dB against sox");
    }

    [Fact]
    public void EqualRates_AreCopiedExactly()
    {
        float[] decoded = TestWav.DecodeFile(Kit("clip_24k_mono_pcm16.wav"));
        Assert.Equal(decoded, AudioLoader.LoadMono(Kit("clip_24k_mono_pcm16.wav"), 24000));
    }

    [Fact]
    public void Chunks_ConcatenateToTheWholeFile()
    {
        float[] whole = AudioLoader.LoadMono(Kit("clip_44k1_stereo_f32.wav"), 24000);
        var chunks = AudioLoader.ReadMonoChunks(Kit("clip_44k1_stereo_f32.wav"), 24000, 10000).ToList();
        Assert.Equal([10000, 10000, 10000, 6000], chunks.Select(c => c.Length));
        Assert.Equal(whole, chunks.SelectMany(c => c).ToArray());
    }

    [Fact]
    public void Chunks_AtTheFilesOwnRateConcatenateToTheWholeFile()
    {
        // Regression: without resampling, the read after the end of the file used to hand out the last block again.
        float[] whole = AudioLoader.LoadMono(Kit("clip_24k_mono_pcm16.wav"), 24000);
        var chunks = AudioLoader.ReadMonoChunks(Kit("clip_24k_mono_pcm16.wav"), 24000, 10000).ToList();
        Assert.Equal([10000, 10000, 10000, 6000], chunks.Select(c => c.Length));
        Assert.Equal(whole, chunks.SelectMany(c => c).ToArray());
    }

    [Fact]
    public void Resampler_ReproducesASineAndRejectsTheStopband()
    {
        // Scalar reference: a 1 kHz sine at 44.1 kHz resampled to 24 kHz is the same sine sampled at 24 kHz.
        const int n = 44100;
        var pass = new float[n];
        var stop = new float[n];
        for (int i = 0; i < n; i++)
        {
            pass[i] = (float)Math.Sin(2 * Math.PI * 1000 * i / 44100.0);
            stop[i] = (float)Math.Sin(2 * Math.PI * 12500 * i / 44100.0); // above the 12 kHz output Nyquist
        }
        float[] a = Run(pass), b = Run(stop);
        Assert.Equal(24000, a.Length);
        double maxErr = 0, stopRms = 0;
        for (int i = 2000; i < 22000; i++)
        {
            maxErr = Math.Max(maxErr, Math.Abs(a[i] - Math.Sin(2 * Math.PI * 1000 * i / 24000.0)));
            stopRms += b[i] * (double)b[i];
        }
        stopRms = Math.Sqrt(stopRms / 20000);
        output.WriteLine($"1 kHz max error {maxErr:E2}; 12.5 kHz leak {20 * Math.Log10(stopRms / Math.Sqrt(0.5)):F1} dB");
        Assert.True(maxErr < 1e-5, $"passband error {maxErr}");
        Assert.True(stopRms < 1e-5, $"stopband leak {stopRms}");
    }

    static float[] Run(float[] input)
    {
        var r = new Resampler(44100, 24000);
        var result = new List<float>();
        var buffer = new float[r.MaxOutput(3000)];
        for (int at = 0; at < input.Length; at += 3000)
        {
            int n = r.Process(input.AsSpan(at, Math.Min(3000, input.Length - at)), buffer);
            result.AddRange(buffer.AsSpan(0, n));
        }
        var tail = new float[r.Pending];
        result.AddRange(tail.AsSpan(0, r.Flush(tail)));
        return result.ToArray();
    }

    [Fact]
    public void Normalized_EqualsTheHfProcessorInputValues()
    {
        var (expected, _) = MiniSafetensors.ReadF32(ReferenceKit.File("mert-tiny", "ref_hf_fp32.safetensors"), "input_values");
        var config = PreprocessorConfig.Read(ReferenceKit.File("mert-tiny", "model", "preprocessor_config.json"));
        Assert.True(config.DoNormalize);
        Assert.Equal(24000, config.SamplingRate);
        float[] samples = AudioLoader.LoadMono(Kit("clip_24k_mono_pcm16.wav"), config.SamplingRate);
        float[] got = config.Apply(samples);
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(expected[i] - got[i]) <= 1e-6, $"sample {i}: {got[i]} vs {expected[i]}");
    }

    [Fact]
    public void Normalization_MatchesTheFormulaAndLeavesSilenceFinite()
    {
        float[] x = [1, 2, 3, 4];
        double sd = Math.Sqrt(1.25 + 1e-7);
        Assert.Equal(new[] { (float)(-1.5 / sd), (float)(-0.5 / sd), (float)(0.5 / sd), (float)(1.5 / sd) }, Normalization.ZeroMeanUnitVariance(x));
        Assert.All(Normalization.ZeroMeanUnitVariance(new float[500]), v => Assert.Equal(0f, v));
        Assert.True(AudioLoader.IsSilent(new float[500]));
    }
}
