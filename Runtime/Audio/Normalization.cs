namespace SonicVerse.Runtime.Audio;

/// <summary>SPEC §2.4, Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm: (x − mean) / sqrt(var + 1e-7) over the
/// whole clip, population variance, accumulated in double, float32 result.</summary>
public static class Normalization
{
    public const double Epsilon = 1e-7;

    public static float[] ZeroMeanUnitVariance(ReadOnlySpan<float> samples)
    {
        var result = new float[samples.Length];
        ZeroMeanUnitVariance(samples, result);
        return result;
    }

    /// <summary><paramref name="destination"/> may be the same memory as <paramref name="samples"/>.</summary>
    public static void ZeroMeanUnitVariance(ReadOnlySpan<float> samples, Span<float> destination)
    {
        if (destination.Length != samples.Length) throw new ArgumentException($"destination length {destination.Length} != {samples.Length}");
        if (samples.IsEmpty) return;
        double sum = 0;
        foreach (float x in samples) sum += x;
        double mean = sum / samples.Length;
        double squares = 0;
        foreach (float x in samples) squares += (x - mean) * (x - mean);
        double scale = 1 / Math.Sqrt(squares / samples.Length + Epsilon);
        for (int i = 0; i < samples.Length; i++) destination[i] = (float)((samples[i] - mean) * scale);
    }
}
