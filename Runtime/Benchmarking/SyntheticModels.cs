using SonicVerse.Loader;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>The projector's sizes (SPEC §4), which the real model reads from tensor shapes.</summary>
/// <param name="HeadClasses">classes per feature head, in <see cref="ProjectorModel.HeadNames"/> order.</param>
public sealed record ProjectorShape(int ContentTokens, int BackboneWidth, int HeadHidden, int[] HeadClasses, int TokensPerHead);

/// <summary>The three models' shapes for a synthetic benchmark: the real SonicVerse ones, or tiny ones for quick runs.</summary>
/// <param name="PromptTokens">the default prompt length to prefill.</param>
/// <param name="ClipSeconds">the default clip MERT encodes: shorter for the small preset, whose 10 s clip takes about a
/// minute on ILGPU's CPU accelerator.</param>
public sealed record SyntheticPreset(string Name, MistralConfig Mistral, MertConfig Mert, ProjectorShape Projector,
    int PromptTokens, double ClipSeconds)
{
    public static readonly string[] Names = ["mistral-7b", "small"];

    public static SyntheticPreset Get(string name) => name switch
    {
        "mistral-7b" => new(name, Mistral7B, Mert95M, RealProjector, PromptTokens: 128, ClipSeconds: 10),
        "small" => new(name, SmallMistral, TinyMert, SmallProjector, PromptTokens: 64, ClipSeconds: 2),
        _ => throw new ArgumentException($"unknown synthetic model '{name}': use {string.Join(" or ", Names)}"),
    };

    /// <summary>SPEC §6: Mistral-7B-Instruct-v0.1.</summary>
    static MistralConfig Mistral7B => new(HiddenSize: 4096, IntermediateSize: 14336, LayerCount: 32, HeadCount: 32,
        KvHeadCount: 8, HeadDim: 128, RmsNormEps: 1e-5f, RopeTheta: 10000f, VocabSize: 32000, SlidingWindow: 4096,
        MaxPositions: 32768, TieWordEmbeddings: false);

    /// <summary>Small enough for a 2-core machine and ILGPU's CPU accelerator; keeps GQA (4 query heads per 2 KV heads)
    /// and the real head width.</summary>
    static MistralConfig SmallMistral => new(HiddenSize: 256, IntermediateSize: 512, LayerCount: 2, HeadCount: 4,
        KvHeadCount: 2, HeadDim: 64, RmsNormEps: 1e-5f, RopeTheta: 10000f, VocabSize: 4096, SlidingWindow: 4096,
        MaxPositions: 4096, TieWordEmbeddings: false);

    /// <summary>SPEC §3: MERT-v1-95M.</summary>
    static MertConfig Mert95M => MertShape(hidden: 768, layers: 12, heads: 12, ffn: 3072, convChannels: 512, posTaps: 128, posGroups: 16);

    /// <summary>The real conv strides and kernels (so a 10 s clip still makes 749 frames), narrow everywhere else.</summary>
    static MertConfig TinyMert => MertShape(hidden: 32, layers: 2, heads: 2, ffn: 64, convChannels: 16, posTaps: 16, posGroups: 4);

    static MertConfig MertShape(int hidden, int layers, int heads, int ffn, int convChannels, int posTaps, int posGroups) => new(
        HiddenSize: hidden, NumHiddenLayers: layers, NumAttentionHeads: heads, IntermediateSize: ffn,
        ConvDim: Enumerable.Repeat(convChannels, 7).ToArray(), ConvKernel: [10, 3, 3, 3, 3, 2, 2], ConvStride: [5, 2, 2, 2, 2, 2, 2],
        ConvBias: false, FeatExtractNorm: "group", DoStableLayerNorm: false, FeatProjLayerNorm: true, LayerNormEps: 1e-5f,
        NumConvPosEmbeddings: posTaps, NumConvPosEmbeddingGroups: posGroups,
        Preprocessor: new PreprocessorConfig { SamplingRate = 24000, DoNormalize = true });

    /// <summary>SPEC §4: 40 content tokens, heads of 40/56/87/24/3 classes with 4 tokens each.</summary>
    static ProjectorShape RealProjector => new(40, 512, 256, [40, 56, 87, 24, 3], 4);

    static ProjectorShape SmallProjector => new(4, 16, 16, [4, 4, 4, 4, 3], 1);
}

/// <summary>Synthetic checkpoints under the names the real files use (HF Mistral, HF MERT, SonicVerse's
/// <c>non_lora_trainables.bin</c> without its training prefix).</summary>
public static class SyntheticModels
{
    /// <summary>HF Mistral names; matrices (embedding and lm_head included) in <paramref name="weights"/>, norm gains 1 in F32.</summary>
    public static SyntheticCheckpoint Mistral(MistralConfig c, DType weights, ulong seed)
    {
        var ck = new SyntheticCheckpoint($"synthetic:mistral:{weights}", seed);
        var one = SyntheticInit.Fill(1f);
        ck.Add("model.embed_tokens.weight", weights, SyntheticInit.Uniform(1f), c.VocabSize, c.HiddenSize);
        for (int i = 0; i < c.LayerCount; i++)
        {
            string layer = $"model.layers.{i}";
            foreach (var p in Enum.GetValues<MistralProjection>())
            {
                var (o, n) = p.Shape(c);
                ck.Add($"{layer}.{p.HfBlock()}.{p.HfName()}.weight", weights, SyntheticInit.ForFanIn(n), o, n);
            }
            ck.Add($"{layer}.input_layernorm.weight", DType.F32, one, c.HiddenSize);
            ck.Add($"{layer}.post_attention_layernorm.weight", DType.F32, one, c.HiddenSize);
        }
        ck.Add("model.norm.weight", DType.F32, one, c.HiddenSize);
        ck.Add("lm_head.weight", weights, SyntheticInit.ForFanIn(c.HiddenSize), c.VocabSize, c.HiddenSize);
        return ck;
    }

    /// <summary>HF MERT/HuBERT names (SPEC §3.6), all F32 as MERT runs in fp32; the positional conv as a fused weight.</summary>
    public static SyntheticCheckpoint Mert(MertConfig c, ulong seed)
    {
        var ck = new SyntheticCheckpoint("synthetic:mert", seed);
        for (int i = 0; i < c.ConvLayers; i++)
        {
            int cin = i == 0 ? 1 : c.ConvDim[i - 1];
            string conv = $"feature_extractor.conv_layers.{i}";
            ck.Add($"{conv}.conv.weight", DType.F32, SyntheticInit.ForFanIn(cin * c.ConvKernel[i]), c.ConvDim[i], cin, c.ConvKernel[i]);
            if (i == 0) Norm(ck, $"{conv}.layer_norm", c.ConvDim[i]);
        }
        Norm(ck, "feature_projection.layer_norm", c.ExtractDim);
        Linear(ck, "feature_projection.projection", DType.F32, c.HiddenSize, c.ExtractDim);
        int perGroup = c.HiddenSize / c.NumConvPosEmbeddingGroups;
        ck.Add("encoder.pos_conv_embed.conv.weight", DType.F32, SyntheticInit.ForFanIn(perGroup * c.NumConvPosEmbeddings),
            c.HiddenSize, perGroup, c.NumConvPosEmbeddings);
        ck.Add("encoder.pos_conv_embed.conv.bias", DType.F32, SyntheticInit.Fill(0f), c.HiddenSize);
        Norm(ck, "encoder.layer_norm", c.HiddenSize);
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string layer = $"encoder.layers.{i}";
            foreach (string p in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
                Linear(ck, $"{layer}.attention.{p}", DType.F32, c.HiddenSize, c.HiddenSize);
            Norm(ck, $"{layer}.layer_norm", c.HiddenSize);
            Linear(ck, $"{layer}.feed_forward.intermediate_dense", DType.F32, c.IntermediateSize, c.HiddenSize);
            Linear(ck, $"{layer}.feed_forward.output_dense", DType.F32, c.HiddenSize, c.IntermediateSize);
            Norm(ck, $"{layer}.final_layer_norm", c.HiddenSize);
        }
        return ck;
    }

    /// <summary>SonicVerse projector names (SPEC §4) for <paramref name="layers"/> MERT hidden states of
    /// <paramref name="inputWidth"/>, writing tokens of <paramref name="tokenWidth"/>; matrices in
    /// <paramref name="weights"/>, biases and the layer aggregator in F32.</summary>
    public static SyntheticCheckpoint Projector(ProjectorShape s, int layers, int inputWidth, int tokenWidth, DType weights, ulong seed)
    {
        var ck = new SyntheticCheckpoint($"synthetic:projector:{weights}", seed);
        Linear(ck, "backbone.hidden_layer_1", weights, s.BackboneWidth, inputWidth);
        ck.Add("lmm_projector.aggregator", DType.F32, SyntheticInit.Uniform(1f), layers);
        for (int j = 0; j < s.ContentTokens; j++) TokenMlp(ck, $"lmm_projector.layers.{j}", weights, inputWidth, tokenWidth);
        for (int h = 0; h < ProjectorModel.HeadNames.Length; h++)
        {
            string head = ProjectorModel.HeadNames[h];
            int classes = s.HeadClasses[h];
            ck.Add($"{head}.aggregator", DType.F32, SyntheticInit.Fill(0f), layers, 1, 1);
            Linear(ck, $"{head}.hidden_layer_1", weights, s.HeadHidden, s.BackboneWidth);
            Linear(ck, $"{head}.output", weights, classes, s.HeadHidden);
            for (int j = 0; j < s.TokensPerHead; j++) TokenMlp(ck, $"{head}_projector.layers.{j}", weights, classes, tokenWidth);
        }
        return ck;
    }

    /// <summary>nn.Sequential(GELU, Linear, GELU, Linear): the linears are indices 1 and 3.</summary>
    static void TokenMlp(SyntheticCheckpoint ck, string prefix, DType weights, int input, int width)
    {
        Linear(ck, $"{prefix}.1", weights, width, input);
        Linear(ck, $"{prefix}.3", weights, width, width);
    }

    static void Linear(SyntheticCheckpoint ck, string prefix, DType weights, int outDim, int inDim)
    {
        ck.Add($"{prefix}.weight", weights, SyntheticInit.ForFanIn(inDim), outDim, inDim);
        ck.Add($"{prefix}.bias", DType.F32, SyntheticInit.Uniform(0.1f), outDim);
    }

    static void Norm(SyntheticCheckpoint ck, string prefix, int dim)
    {
        ck.Add($"{prefix}.weight", DType.F32, SyntheticInit.Fill(1f), dim);
        ck.Add($"{prefix}.bias", DType.F32, SyntheticInit.Fill(0f), dim);
    }
}
