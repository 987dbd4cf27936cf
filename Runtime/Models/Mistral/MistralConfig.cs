using System.Collections;
using System.Globalization;
using System.Text.Json;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>Sizes of a Mistral/Llama decoder (SPEC §6), read from HF <c>config.json</c> or GGUF <c>llama.*</c> metadata.
/// Nothing is hard-coded to 7B.</summary>
public sealed record MistralConfig(
    int HiddenSize,
    int IntermediateSize,
    int LayerCount,
    int HeadCount,
    int KvHeadCount,
    int HeadDim,
    float RmsNormEps,
    float RopeTheta,
    int VocabSize,
    int? SlidingWindow,
    int MaxPositions,
    bool TieWordEmbeddings,
    int BosId = 1,
    int EosId = 2)
{
    public int QueryWidth => HeadCount * HeadDim;
    public int KvWidth => KvHeadCount * HeadDim;

    /// <summary>Reads a HF <c>config.json</c> (MistralConfig / LlamaConfig field names).</summary>
    public static MistralConfig FromHfJson(string path)
    {
        if (!File.Exists(path)) throw new LoaderException(path, "no config.json beside the weights");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        int Int(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetInt32()
            : throw new LoaderException(path, $"config.json: '{key}' is missing or not a number");
        int? OptionalInt(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
        float Float(string key, float fallback) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetSingle() : fallback;

        int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
        var config = new MistralConfig(
            HiddenSize: hidden,
            IntermediateSize: Int("intermediate_size"),
            LayerCount: Int("num_hidden_layers"),
            HeadCount: heads,
            KvHeadCount: OptionalInt("num_key_value_heads") ?? heads,
            HeadDim: OptionalInt("head_dim") ?? hidden / heads,
            RmsNormEps: Float("rms_norm_eps", 1e-6f),
            RopeTheta: Float("rope_theta", 10000f),
            VocabSize: Int("vocab_size"),
            SlidingWindow: OptionalInt("sliding_window"),
            MaxPositions: OptionalInt("max_position_embeddings") ?? 4096,
            TieWordEmbeddings: root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True,
            BosId: OptionalInt("bos_token_id") ?? 1,
            EosId: OptionalInt("eos_token_id") ?? 2);
        config.Validate(path);
        return config;
    }

    /// <summary>Reads GGUF metadata (<c>{arch}.embedding_length</c> etc.); the vocabulary size is the length of
    /// <c>tokenizer.ggml.tokens</c>. Only the llama architecture (which Mistral GGUFs use) is accepted.</summary>
    public static MistralConfig FromGguf(ICheckpoint gguf)
    {
        var meta = gguf.Metadata;
        string arch = meta.TryGetValue("general.architecture", out var a) ? a.ToString() ?? "" : "";
        if (arch is not ("llama" or "mistral"))
            throw new LoaderException(gguf.Path, $"general.architecture is '{arch}', expected 'llama' (a Mistral/Llama decoder)");
        long Number(string key) => meta.TryGetValue(key, out var v) && v is IConvertible
            ? Convert.ToInt64(v, CultureInfo.InvariantCulture)
            : throw new LoaderException(gguf.Path, $"GGUF metadata '{key}' is missing or not a number");
        long? OptionalNumber(string key) => meta.TryGetValue(key, out var v) && v is IConvertible ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : null;
        float Real(string key, float fallback) => meta.TryGetValue(key, out var v) && v is IConvertible
            ? Convert.ToSingle(v, CultureInfo.InvariantCulture) : fallback;

        int hidden = (int)Number($"{arch}.embedding_length"), heads = (int)Number($"{arch}.attention.head_count");
        var config = new MistralConfig(
            HiddenSize: hidden,
            IntermediateSize: (int)Number($"{arch}.feed_forward_length"),
            LayerCount: (int)Number($"{arch}.block_count"),
            HeadCount: heads,
            KvHeadCount: (int)(OptionalNumber($"{arch}.attention.head_count_kv") ?? heads),
            HeadDim: (int)(OptionalNumber($"{arch}.attention.key_length") ?? hidden / heads),
            RmsNormEps: Real($"{arch}.attention.layer_norm_rms_epsilon", 1e-5f),
            RopeTheta: Real($"{arch}.rope.freq_base", 10000f),
            VocabSize: VocabularySize(gguf),
            SlidingWindow: null,
            MaxPositions: (int)(OptionalNumber($"{arch}.context_length") ?? 4096),
            TieWordEmbeddings: gguf.Find("output.weight") is null,
            BosId: (int)(OptionalNumber("tokenizer.ggml.bos_token_id") ?? 1),
            EosId: (int)(OptionalNumber("tokenizer.ggml.eos_token_id") ?? 2));
        config.Validate(gguf.Path);
        return config;
    }

    static int VocabularySize(ICheckpoint gguf)
    {
        if (gguf.Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens is IEnumerable e and not string)
            return tokens is ICollection c ? c.Count : e.Cast<object>().Count();
        var embedding = gguf.Find("token_embd.weight")
            ?? throw new LoaderException(gguf.Path, "no tokenizer.ggml.tokens and no token_embd.weight: cannot tell the vocabulary size");
        return (int)embedding.Shape[0];
    }

    void Validate(string source)
    {
        if (HiddenSize <= 0 || IntermediateSize <= 0 || LayerCount <= 0 || HeadCount <= 0 || KvHeadCount <= 0 || HeadDim <= 0 || VocabSize <= 0)
            throw new LoaderException(source, $"sizes must be positive: {this}");
        if (HeadCount % KvHeadCount != 0)
            throw new LoaderException(source, $"{HeadCount} attention heads are not a multiple of {KvHeadCount} KV heads");
        if (HeadDim % 2 != 0) throw new LoaderException(source, $"head_dim {HeadDim} must be even for RoPE");
    }
}
