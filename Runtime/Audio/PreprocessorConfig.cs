using System.Text.Json;
using System.Text.Json.Serialization;

namespace SonicVerse.Runtime.Audio;

/// <summary>The model's preprocessor_config.json (Wav2Vec2FeatureExtractor); defaults are transformers' own.</summary>
public sealed record PreprocessorConfig
{
    [JsonPropertyName("do_normalize")] public bool DoNormalize { get; init; } = true;
    [JsonPropertyName("sampling_rate")] public int SamplingRate { get; init; } = 16000;
    [JsonPropertyName("feature_size")] public int FeatureSize { get; init; } = 1;
    [JsonPropertyName("padding_value")] public float PaddingValue { get; init; }
    [JsonPropertyName("return_attention_mask")] public bool ReturnAttentionMask { get; init; }

    public static PreprocessorConfig Read(string path)
    {
        PreprocessorConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<PreprocessorConfig>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new Loader.LoaderException(path, $"cannot read preprocessor config: {e.Message}", e);
        }
        if (config is null) throw new Loader.LoaderException(path, "preprocessor config is null");
        if (config.SamplingRate <= 0) throw new Loader.LoaderException(path, $"sampling_rate {config.SamplingRate} must be positive");
        if (config.FeatureSize != 1) throw new Loader.LoaderException(path, $"feature_size {config.FeatureSize}: only raw waveforms (1) are supported");
        return config;
    }

    /// <summary>SPEC §2.4: normalizes when the config says so, else returns the samples unchanged.</summary>
    public float[] Apply(float[] samples) => DoNormalize ? Normalization.ZeroMeanUnitVariance(samples) : samples;
}
