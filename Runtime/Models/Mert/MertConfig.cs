using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Runtime.Audio;

namespace SonicVerse.Runtime.Models.Mert;

/// <summary>MERT-v1 (HuBERT architecture) hyper-parameters, read from the model folder's <c>config.json</c> and
/// <c>preprocessor_config.json</c> (SPEC §3). Nothing here is hard-coded to the 95M sizes.</summary>
public sealed record MertConfig(
    int HiddenSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int IntermediateSize,
    int[] ConvDim,
    int[] ConvKernel,
    int[] ConvStride,
    bool ConvBias,
    string FeatExtractNorm,
    bool DoStableLayerNorm,
    bool FeatProjLayerNorm,
    float LayerNormEps,
    int NumConvPosEmbeddings,
    int NumConvPosEmbeddingGroups,
    PreprocessorConfig Preprocessor)
{
    /// <summary>The rate the model expects its input at (<c>sampling_rate</c>, 24 kHz for MERT-v1).</summary>
    public int SampleRate => Preprocessor.SamplingRate;

    /// <summary>Whether the input is normalized to zero mean, unit variance before encoding (SPEC §2.4).</summary>
    public bool DoNormalize => Preprocessor.DoNormalize;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public int ConvLayers => ConvDim.Length;

    /// <summary>Channels of the feature encoder's output (the last conv layer).</summary>
    public int ExtractDim => ConvDim[^1];

    /// <summary>Hidden states returned by the encoder: the encoder input plus one per layer (13 for 95M).</summary>
    public int HiddenStateCount => NumHiddenLayers + 1;

    /// <summary>Samples covered by one output frame (400 for MERT-v1): the shortest clip that yields a frame.</summary>
    public int ReceptiveField
    {
        get
        {
            int r = 1;
            for (int i = ConvLayers - 1; i >= 0; i--) r = (r - 1) * ConvStride[i] + ConvKernel[i];
            return r;
        }
    }

    /// <summary>Samples between consecutive frames (320 for MERT-v1: 75 Hz at 24 kHz): the product of the conv strides.</summary>
    public int HopLength => ConvStride.Aggregate(1, (hop, stride) => hop * stride);

    /// <summary>Output length of conv layer <paramref name="layer"/> for <paramref name="samples"/> input samples (no padding).</summary>
    public int ConvOutputLength(int samples, int layer)
    {
        long t = samples;
        for (int i = 0; i <= layer; i++) t = t < ConvKernel[i] ? 0 : (t - ConvKernel[i]) / ConvStride[i] + 1;
        return (int)t;
    }

    /// <summary>Encoder frames for a clip: <c>floor((N − 400) / 320) + 1</c> for MERT-v1, 0 when the clip is too short.</summary>
    public int FrameCount(int samples) => ConvOutputLength(samples, ConvLayers - 1);

    /// <summary>Reads <c>config.json</c> and <c>preprocessor_config.json</c> from a model folder.</summary>
    public static MertConfig Load(string modelDir)
    {
        string configPath = Path.Combine(modelDir, "config.json");
        string preprocessorPath = Path.Combine(modelDir, "preprocessor_config.json");
        using var config = ReadJson(configPath);
        var preprocessor = File.Exists(preprocessorPath) ? PreprocessorConfig.Read(preprocessorPath) : null;
        return FromJson(config.RootElement, configPath, preprocessor);
    }

    /// <summary>Builds the config from parsed <c>config.json</c>. Without a preprocessor config the input is
    /// normalized (the Wav2Vec2FeatureExtractor default) at <c>config.json</c>'s <c>sample_rate</c>: MERT files carry
    /// one, and the feature extractor's own 16 kHz default would be wrong for MERT.</summary>
    public static MertConfig FromJson(JsonElement config, string source, PreprocessorConfig? preprocessor)
    {
        var json = new ConfigReader(config, source);
        string act = json.String("hidden_act");
        if (act != "gelu")
            throw new LoaderException(source, $"hidden_act '{act}' is not supported (MERT-v1 uses exact-erf 'gelu')");
        string featAct = json.StringOr("feat_extract_activation", "gelu");
        if (featAct != "gelu")
            throw new LoaderException(source, $"feat_extract_activation '{featAct}' is not supported (expected 'gelu')");

        preprocessor ??= new PreprocessorConfig { SamplingRate = json.IntOr("sample_rate", 24000) };

        var result = new MertConfig(
            HiddenSize: json.Int("hidden_size"),
            NumHiddenLayers: json.Int("num_hidden_layers"),
            NumAttentionHeads: json.Int("num_attention_heads"),
            IntermediateSize: json.Int("intermediate_size"),
            ConvDim: json.IntArray("conv_dim"),
            ConvKernel: json.IntArray("conv_kernel"),
            ConvStride: json.IntArray("conv_stride"),
            ConvBias: json.BoolOr("conv_bias", false),
            FeatExtractNorm: json.StringOr("feat_extract_norm", "group"),
            DoStableLayerNorm: json.BoolOr("do_stable_layer_norm", false),
            FeatProjLayerNorm: json.BoolOr("feat_proj_layer_norm", true),
            LayerNormEps: (float)json.DoubleOr("layer_norm_eps", 1e-5),
            NumConvPosEmbeddings: json.Int("num_conv_pos_embeddings"),
            NumConvPosEmbeddingGroups: json.Int("num_conv_pos_embedding_groups"),
            Preprocessor: preprocessor);
        result.Validate(source);
        return result;
    }

    void Validate(string source)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new LoaderException(source, what);
        }
        Require(ConvDim.Length > 0 && ConvDim.Length == ConvKernel.Length && ConvDim.Length == ConvStride.Length,
            $"conv_dim, conv_kernel and conv_stride must have the same non-zero length ({ConvDim.Length}, {ConvKernel.Length}, {ConvStride.Length})");
        Require(ConvDim.All(d => d > 0) && ConvKernel.All(k => k > 0) && ConvStride.All(s => s > 0), "conv sizes must be positive");
        Require(HiddenSize > 0 && NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0,
            $"hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}");
        Require(NumHiddenLayers > 0 && IntermediateSize > 0, "num_hidden_layers and intermediate_size must be positive");
        Require(NumConvPosEmbeddings > 0 && NumConvPosEmbeddingGroups > 0 && HiddenSize % NumConvPosEmbeddingGroups == 0,
            $"hidden_size {HiddenSize} is not a multiple of num_conv_pos_embedding_groups {NumConvPosEmbeddingGroups}");
        Require(FeatExtractNorm is "group" or "layer", $"feat_extract_norm '{FeatExtractNorm}' is not 'group' or 'layer'");
        Require(SampleRate > 0, $"sampling rate {SampleRate} must be positive");
    }

    static JsonDocument ReadJson(string path)
    {
        if (!File.Exists(path)) throw new LoaderException(path, "MERT config file missing");
        try { return JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new LoaderException(path, $"not valid JSON: {e.Message}", e); }
    }

    /// <summary>Typed, error-naming access to one JSON config object.</summary>
    sealed class ConfigReader(JsonElement root, string source)
    {
        public int Int(string key) => Required(key, JsonValueKind.Number).GetInt32();

        public int IntOr(string key, int fallback) => Optional(key, JsonValueKind.Number)?.GetInt32() ?? fallback;

        public double DoubleOr(string key, double fallback) => Optional(key, JsonValueKind.Number)?.GetDouble() ?? fallback;

        public string String(string key) => Required(key, JsonValueKind.String).GetString()!;

        public string StringOr(string key, string fallback) => Optional(key, JsonValueKind.String)?.GetString() ?? fallback;

        public bool BoolOr(string key, bool fallback) =>
            root.TryGetProperty(key, out var v) && v.ValueKind is not JsonValueKind.Null
                ? v.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new LoaderException(source, $"'{key}' must be true or false, found {v.ValueKind}"),
                }
                : fallback;

        public int[] IntArray(string key)
        {
            var array = Required(key, JsonValueKind.Array);
            return array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number
                ? e.GetInt32()
                : throw new LoaderException(source, $"'{key}' must hold integers")).ToArray();
        }

        JsonElement Required(string key, JsonValueKind kind) =>
            Optional(key, kind) ?? throw new LoaderException(source, $"'{key}' is missing");

        JsonElement? Optional(string key, JsonValueKind kind)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != kind) throw new LoaderException(source, $"'{key}' must be a {kind}, found {v.ValueKind}");
            return v;
        }
    }
}
