using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>The checkpoint tensors of one decoder block, by role.</summary>
sealed record MistralBlockTensors(TensorEntry AttnNorm, TensorEntry MlpNorm, IReadOnlyDictionary<MistralProjection, TensorEntry> Projections);

/// <summary>
/// A Mistral checkpoint's tensors by role, read strictly (every tensor present with its shape, no leftovers), with the
/// RoPE layout its q/k rows imply: HF safetensors → <see cref="RopeLayout.HalfSplit"/>; GGUF, whose converter
/// permutes q/k rows → <see cref="RopeLayout.Interleaved"/>. The checkpoint stays open while the model uploads.
/// </summary>
sealed class MistralCheckpoint : IDisposable
{
    MistralCheckpoint(ICheckpoint file, MistralConfig config, RopeLayout layout, TensorEntry embedding, TensorEntry finalNorm,
        TensorEntry lmHead, MistralBlockTensors[] blocks)
    {
        File = file;
        Config = config;
        Layout = layout;
        Embedding = embedding;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        Blocks = blocks;
    }

    public ICheckpoint File { get; }
    public MistralConfig Config { get; }
    public RopeLayout Layout { get; }
    public TensorEntry Embedding { get; }
    public TensorEntry FinalNorm { get; }
    public TensorEntry LmHead { get; }
    public MistralBlockTensors[] Blocks { get; }

    public void Dispose() => File.Dispose();

    /// <summary>A HF folder (config.json + safetensors, sharded or not) or a GGUF file.</summary>
    public static MistralCheckpoint Open(string path)
    {
        var file = CheckpointFile.Open(path);
        try
        {
            return file.Format == "gguf" ? ReadGguf(file) : ReadHf(file, path);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static MistralCheckpoint ReadHf(ICheckpoint file, string path)
    {
        string folder = Directory.Exists(path) ? path : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        return FromHf(file, MistralConfig.FromHfJson(System.IO.Path.Combine(folder, "config.json")));
    }

    /// <summary>HF tensor names over any checkpoint (e.g. an in-memory synthetic one) with a config given directly.
    /// The returned object owns <paramref name="file"/>.</summary>
    public static MistralCheckpoint FromHf(ICheckpoint file, MistralConfig c)
    {
        var root = new Weights(file);
        // Older exports carry the RoPE table as a buffer; it is recomputed from rope_theta.
        root.Ignore(n => n.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal), "RoPE frequencies are computed from rope_theta");
        var model = root.Sub("model");
        var embedding = model.Sub("embed_tokens").Get("weight", c.VocabSize, c.HiddenSize);
        var blocks = new MistralBlockTensors[c.LayerCount];
        for (int i = 0; i < c.LayerCount; i++)
        {
            var layer = model.Sub("layers").Sub(i);
            var projections = Enum.GetValues<MistralProjection>().ToDictionary(p => p, p =>
            {
                var (o, n) = p.Shape(c);
                return layer.Sub(p.HfBlock()).Sub(p.HfName()).Get("weight", o, n);
            });
            blocks[i] = new MistralBlockTensors(
                layer.Sub("input_layernorm").Get("weight", c.HiddenSize),
                layer.Sub("post_attention_layernorm").Get("weight", c.HiddenSize),
                projections);
        }
        var finalNorm = model.Sub("norm").Get("weight", c.HiddenSize);
        var lmHead = c.TieWordEmbeddings && !root.Has("lm_head.weight")
            ? embedding
            : root.Sub("lm_head").Get("weight", c.VocabSize, c.HiddenSize);
        root.EnsureAllUsed();
        return new MistralCheckpoint(file, c, RopeLayout.HalfSplit, embedding, finalNorm, lmHead, blocks);
    }

    static readonly Dictionary<MistralProjection, string> GgufNames = new()
    {
        [MistralProjection.QProj] = "attn_q",
        [MistralProjection.KProj] = "attn_k",
        [MistralProjection.VProj] = "attn_v",
        [MistralProjection.OProj] = "attn_output",
        [MistralProjection.GateProj] = "ffn_gate",
        [MistralProjection.UpProj] = "ffn_up",
        [MistralProjection.DownProj] = "ffn_down",
    };

    static MistralCheckpoint ReadGguf(ICheckpoint file)
    {
        var c = MistralConfig.FromGguf(file);
        var root = new Weights(file);
        // convert_hf_to_gguf writes a precomputed RoPE table for some models; this runtime computes it.
        root.Ignore(n => n == "rope_freqs.weight", "RoPE frequencies are computed from rope.freq_base");
        var embedding = root.Sub("token_embd").Get("weight", c.VocabSize, c.HiddenSize);
        var blocks = new MistralBlockTensors[c.LayerCount];
        for (int i = 0; i < c.LayerCount; i++)
        {
            var blk = root.Sub("blk").Sub(i);
            var projections = Enum.GetValues<MistralProjection>().ToDictionary(p => p, p =>
            {
                var (o, n) = p.Shape(c);
                return blk.Sub(GgufNames[p]).Get("weight", o, n);
            });
            blocks[i] = new MistralBlockTensors(
                blk.Sub("attn_norm").Get("weight", c.HiddenSize),
                blk.Sub("ffn_norm").Get("weight", c.HiddenSize),
                projections);
        }
        var finalNorm = root.Sub("output_norm").Get("weight", c.HiddenSize);
        var lmHead = root.Has("output.weight") ? root.Sub("output").Get("weight", c.VocabSize, c.HiddenSize) : embedding;
        root.EnsureAllUsed();
        return new MistralCheckpoint(file, c, RopeLayout.Interleaved, embedding, finalNorm, lmHead, blocks);
    }
}
