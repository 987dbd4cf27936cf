using System.Text.Json;
using SonicVerse.Loader;

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
    int SampleRate,
    bool DoNormalize)
{
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
        using var preprocessor = File.Exists(preprocessorPath) ? ReadJson(preprocessorPath) : null;
        return FromJson(config.RootElement, configPath, preprocessor?.RootElement, preprocessorPath);
    }

    /// <summary>Builds the config from parsed JSON; <paramref name="preprocessor"/> null means the HF defaults
    /// (<c>Wav2Vec2FeatureExtractor</c>: 16 kHz is its default, so MERT files always carry <c>sampling_rate</c>;
    /// without the file we fall back to <c>config.json</c>'s <c>sample_rate</c>).</summary>
    public static MertConfig FromJson(JsonElement config, string source, JsonElement? preprocessor, string preprocessorSource)
    {
        var json = new ConfigReader(config, source);
        string act = json.String("hidden_act");
        if (act != "gelu")
            throw new LoaderException(source, $"hidden_act '{act}' is not supported (MERT-v1 uses exact-erf 'gelu')");
        string featAct = json.StringOr("feat_extract_activation", "gelu");
        if (featAct != "gelu")
            throw new LoaderException(source, $"feat_extract_activation '{featAct}' is not supported (expected 'gelu')");

        int sampleRate = json.IntOr("sample_rate", 24000);
        bool doNormalize = true;
        if (preprocessor is JsonElement p)
        {
            var pre = new ConfigReader(p, preprocessorSource);
            sampleRate = pre.IntOr("sampling_rate", sampleRate);
            doNormalize = pre.BoolOr("do_normalize", doNormalize);
        }

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
            SampleRate: sampleRate,
            DoNormalize: doNormalize);
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
