using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Runtime.Models.Projector;

/// <summary>One feature head of the projector (SPEC §4): 512→256→C classifier plus its token MLPs.</summary>
public sealed record FeatureHeadConfig(string Name, int Classes, int HiddenWidth, int Tokens);

/// <summary>Sizes of SonicVerse's MultiTaskSharedModel, read from the checkpoint's tensor shapes (never hard-coded).</summary>
public sealed record ProjectorConfig(
    int Layers, int InputWidth, int BackboneWidth, int ContentTokens, int TokenWidth,
    IReadOnlyList<FeatureHeadConfig> Heads, int CanvasFrames)
{
    /// <summary>40 content tokens, then each head's tokens in head order.</summary>
    public int TotalTokens => ContentTokens + Heads.Sum(h => h.Tokens);
}

/// <summary>The projector's result for one clip: the tokens spliced into the prompt and each head's logits.</summary>
public sealed record ProjectorOutput(float[] Tokens, int TokenCount, int TokenWidth, IReadOnlyDictionary<string, float[]> Logits)
{
    /// <summary>tokens: [TokenCount, TokenWidth], row-major.</summary>
    public ReadOnlySpan<float> Token(int index) => Tokens.AsSpan(index * TokenWidth, TokenWidth);

    /// <summary>Trace points <c>projector.tokens</c> [TokenCount, TokenWidth] and <c>projector.{head}.logits</c> [classes].</summary>
    public void Record(ITraceSink trace)
    {
        if (trace.Wants("projector.tokens")) trace.Record("projector.tokens", [TokenCount, TokenWidth], Tokens);
        foreach (var (head, logits) in Logits)
        {
            string name = $"projector.{head}.logits";
            if (trace.Wants(name)) trace.Record(name, [logits.Length], logits);
        }
    }
}

/// <summary>
/// SonicVerse's multi-task projector (<c>MultiTaskSharedModel</c>; the code, not the paper — SPEC §4).
/// Content path: time mean over the whole canvas → softmax layer weighting → 40 MLPs.
/// Feature heads: ReLU backbone per layer and frame → time SUM → layer mean → classifier → 4 token MLPs each.
/// </summary>
public sealed class ProjectorModel : IDisposable
{
    /// <summary>Head order is the token order of the released model (SPEC §4).</summary>
    public static readonly string[] HeadNames =
        ["instrument_detection", "mood_detection", "genre_detection", "key_detection", "vocals_detection"];

    /// <summary>SonicVerse pads or trims MERT's time axis to this many frames before projecting (SPEC §3).</summary>
    public const int DefaultCanvasFrames = 760;

    readonly IBackend _backend;
    readonly DeviceTensor _backboneW, _backboneB;      // [backbone, input], [backbone]
    readonly DeviceTensor _layerWeights;               // [1, layers]: softmax(lmm_projector.aggregator), folded at load
    readonly TokenMlps _contentMlps;
    readonly Head[] _heads;

    public ProjectorConfig Config { get; }

    ProjectorModel(IBackend backend, ProjectorConfig config, DeviceTensor backboneW, DeviceTensor backboneB,
        DeviceTensor layerWeights, TokenMlps contentMlps, Head[] heads)
    {
        _backend = backend;
        Config = config;
        _backboneW = backboneW;
        _backboneB = backboneB;
        _layerWeights = layerWeights;
        _contentMlps = contentMlps;
        _heads = heads;
    }

    /// <summary>tok_j = L2_j(GELU(L1_j(GELU(x)))) — nn.Sequential(GELU, Linear, GELU, Linear), hence indices 1 and 3 —
    /// for the token MLPs that read the same x (the content tokens; each head's tokens): their first layers stacked at
    /// load into one [count·width, input] matrix, so one product (its GELU fused) serves them all, then each second
    /// layer on its own hidden row. On a GPU that is count + 1 launches where 2·count were.</summary>
    sealed class TokenMlps(DeviceTensor w1, DeviceTensor b1, DeviceTensor[] w2, DeviceTensor[] b2) : IDisposable
    {
        public int Count => w2.Length;
        public int Width => w2[0].Dim(0);

        /// <summary>MLPs 0 .. count − 1 under <paramref name="layers"/>; every first layer must share one dtype.</summary>
        public static TokenMlps Load(IBackend backend, Weights layers, int count, int input, int width)
        {
            var firsts = Enumerable.Range(0, count).Select(j => layers.Sub(j).Sub("1").Get("weight", width, input)).ToArray();
            var dtype = firsts[0].DType;
            if (firsts.FirstOrDefault(t => t.DType != dtype) is { } other)
                throw new LoaderException(other.SourceFile, other.Name,
                    $"is {other.DType}, the other token MLPs' first layers are {dtype}");
            var stacked = new byte[firsts.Sum(t => (long)t.Bytes.Length)];
            long at = 0;
            foreach (var t in firsts)
            {
                t.Bytes.CopyTo(stacked.AsSpan((int)at));
                at += t.Bytes.Length;
            }
            var biases = Enumerable.Range(0, count).SelectMany(j => layers.Sub(j).Sub("1").Get("bias", width).ToFloat32()).ToArray();
            return new TokenMlps(backend.Upload(stacked, dtype, count * width, input), backend.Upload(biases, count * width),
                [.. Enumerable.Range(0, count).Select(j => Upload(backend, layers.Sub(j).Sub("3").Get("weight", width, width)))],
                [.. Enumerable.Range(0, count).Select(j => UploadF32(backend, layers.Sub(j).Sub("3").Get("bias", width)))]);
        }

        /// <summary>geluX: GELU(x) [1, input] (the first GELU, computed once); hidden: scratch [count, width]; tokens:
        /// [count, width], MLP j's token into row j.</summary>
        public void Forward(IOps ops, DeviceTensor geluX, DeviceTensor hidden, DeviceTensor tokens)
        {
            ops.MatMul(geluX, w1, b1, hidden.View(1, Count * Width), Activation.Gelu);
            for (int j = 0; j < Count; j++) ops.MatMul(hidden.Rows(j, 1), w2[j], b2[j], tokens.Rows(j, 1));
        }

        public void Dispose()
        {
            w1.Dispose(); b1.Dispose();
            foreach (var t in w2) t.Dispose();
            foreach (var t in b2) t.Dispose();
        }
    }

    sealed class Head(FeatureHeadConfig config, DeviceTensor hiddenW, DeviceTensor hiddenB, DeviceTensor outW, DeviceTensor outB,
        TokenMlps tokens) : IDisposable
    {
        public FeatureHeadConfig Config => config;
        public DeviceTensor HiddenW => hiddenW;
        public DeviceTensor HiddenB => hiddenB;
        public DeviceTensor OutW => outW;
        public DeviceTensor OutB => outB;
        public TokenMlps Tokens => tokens;

        public void Dispose()
        {
            hiddenW.Dispose(); hiddenB.Dispose(); outW.Dispose(); outB.Dispose();
            tokens.Dispose();
        }
    }

    /// <summary>Weight matrices stay as stored (bf16 in the release); the matmul widens them to fp32 like the reference.</summary>
    static DeviceTensor Upload(IBackend backend, TensorEntry t) => backend.Upload(t.Bytes, t.DType, t.ShapeAsInt());

    /// <summary>Biases are added in fp32 (ops take F32 biases); bf16 → fp32 is exact.</summary>
    static DeviceTensor UploadF32(IBackend backend, TensorEntry t) => backend.Upload(t.ToFloat32(), t.ShapeAsInt());

    /// <summary>Loads <c>non_lora_trainables.bin</c> (or any checkpoint with the same tensors), with the training prefix
    /// <c>base_model.model.model.audio_mert_lmm_projector.</c> or none. Strict: every tensor used or ignored by name.</summary>
    public static ProjectorModel Load(ICheckpoint checkpoint, IBackend backend, int canvasFrames = DefaultCanvasFrames)
    {
        MemoryBudget.EnsureFits(backend, checkpoint.Tensors.Sum(t => t.ByteLength), $"the projector {checkpoint.Path}");
        const string trainingPrefix = "base_model.model.model.audio_mert_lmm_projector";
        var root = new Weights(checkpoint, checkpoint.Find(trainingPrefix + ".lmm_projector.aggregator") is not null ? trainingPrefix : "");
        // SPEC §4: each head's aggregator is a softmax over a size-1 axis, i.e. all ones: it has no effect.
        root.Ignore(n => n.EndsWith("_detection.aggregator", StringComparison.Ordinal), "softmax over a size-1 axis: no effect");

        var backbone = root.Sub("backbone").Sub("hidden_layer_1");
        var backboneW = backbone.Get("weight", -1, -1);
        int backboneWidth = (int)backboneW.Shape[0], inputWidth = (int)backboneW.Shape[1];
        var content = root.Sub("lmm_projector");
        var aggregator = content.Get("aggregator", -1);
        int layers = (int)aggregator.Shape[0];
        int contentTokens = CountIndexed(checkpoint, content.Sub("layers").Prefix);
        int tokenWidth = (int)content.Sub("layers").Sub(0).Sub("3").Get("weight", -1, -1).Shape[0];

        var heads = new List<FeatureHeadConfig>();
        foreach (string name in HeadNames)
        {
            var output = root.Sub(name).Sub("output").Get("weight", -1, -1);
            heads.Add(new FeatureHeadConfig(name, (int)output.Shape[0], (int)output.Shape[1],
                CountIndexed(checkpoint, root.Sub(name + "_projector").Sub("layers").Prefix)));
        }
        var config = new ProjectorConfig(layers, inputWidth, backboneWidth, contentTokens, tokenWidth, heads, canvasFrames);

        var contentMlps = TokenMlps.Load(backend, content.Sub("layers"), contentTokens, inputWidth, tokenWidth);
        var loadedHeads = heads.Select(h => LoadHead(backend, root, h, backboneWidth, tokenWidth)).ToArray();
        var model = new ProjectorModel(backend, config,
            Upload(backend, backboneW), UploadF32(backend, backbone.Get("bias", backboneWidth)),
            backend.Upload(Softmax(aggregator.ToFloat32()), 1, layers), contentMlps, loadedHeads);
        root.EnsureAllUsed();
        return model;
    }

    static Head LoadHead(IBackend backend, Weights root, FeatureHeadConfig h, int backboneWidth, int tokenWidth)
    {
        var head = root.Sub(h.Name);
        var tokens = TokenMlps.Load(backend, root.Sub(h.Name + "_projector").Sub("layers"), h.Tokens, h.Classes, tokenWidth);
        return new Head(h,
            Upload(backend, head.Sub("hidden_layer_1").Get("weight", h.HiddenWidth, backboneWidth)),
            UploadF32(backend, head.Sub("hidden_layer_1").Get("bias", h.HiddenWidth)),
            Upload(backend, head.Sub("output").Get("weight", h.Classes, h.HiddenWidth)),
            UploadF32(backend, head.Sub("output").Get("bias", h.Classes)),
            tokens);
    }

    /// <summary>How many <c>{prefix}.{j}.1.weight</c> exist for j = 0, 1, ... (the checkpoint decides the token count).</summary>
    static int CountIndexed(ICheckpoint checkpoint, string prefix)
    {
        int n = 0;
        while (checkpoint.Find($"{prefix}.{n}.1.weight") is not null) n++;
        if (n == 0) throw new LoaderException(checkpoint.Path, $"{prefix}.0.1.weight", "missing: no token MLPs found");
        return n;
    }

    static float[] Softmax(float[] logits)
    {
        double max = logits.Max(), sum = logits.Sum(v => Math.Exp(v - max));
        return logits.Select(v => (float)(Math.Exp(v - max) / sum)).ToArray();
    }

    /// <summary>
    /// Projects MERT hidden states already placed on the canvas. hidden: [layers, canvasFrames, inputWidth] F32
    /// (see <see cref="PlaceOnCanvas"/>). Returns the tokens (content first, then each head's) and the heads' logits.
    /// </summary>
    public ProjectorOutput Project(DeviceTensor hidden)
    {
        var c = Config;
        if (hidden.Rank != 3 || hidden.Dim(0) != c.Layers || hidden.Dim(1) != c.CanvasFrames || hidden.Dim(2) != c.InputWidth)
            throw new ArgumentException($"projector input must be [{c.Layers}, {c.CanvasFrames}, {c.InputWidth}], got {hidden.ShapeText}");
        var ops = _backend.Ops;
        using var scope = new TensorScope(_backend);
        var tokens = scope.F32(c.TotalTokens, c.TokenWidth);

        // Content path: mean over all canvas frames (padding included: divide by the canvas length), layer-weighted sum.
        var timeMean = scope.F32(c.Layers, c.InputWidth);
        ops.SumMiddle(hidden, timeMean);
        ops.Scale(timeMean, 1f / c.CanvasFrames, timeMean);
        var timeMeanT = scope.F32(c.InputWidth, c.Layers);
        ops.Transpose(timeMean, timeMeanT);
        var pooled = scope.F32(1, c.InputWidth);
        ops.MatMul(_layerWeights, timeMeanT, null, pooled);   // [1, layers] · [width, layers]ᵀ
        var mlpHidden = scope.F32(Math.Max(c.ContentTokens, _heads.Max(h => h.Tokens.Count)), c.TokenWidth);
        var geluPooled = scope.F32(1, c.InputWidth);
        ops.Gelu(pooled, geluPooled);
        _contentMlps.Forward(ops, geluPooled, mlpHidden.Rows(0, c.ContentTokens), tokens.Rows(0, c.ContentTokens));

        // Shared backbone per layer and frame, then the time SUM (padding frames contribute ReLU(bias)) and the layer mean.
        var frames = hidden.View(c.Layers * c.CanvasFrames, c.InputWidth);
        var backbone = scope.F32(c.Layers * c.CanvasFrames, c.BackboneWidth);
        ops.MatMul(frames, _backboneW, _backboneB, backbone, Activation.Relu);
        var perLayer = scope.F32(c.Layers, c.BackboneWidth);
        ops.SumMiddle(backbone.View(c.Layers, c.CanvasFrames, c.BackboneWidth), perLayer);
        var features = scope.F32(1, c.BackboneWidth);
        ops.SumMiddle(perLayer.View(1, c.Layers, c.BackboneWidth), features);
        ops.Scale(features, 1f / c.Layers, features);

        // Every head's logits in one tensor, downloaded once at the end: a download waits for the device, and one per
        // head left it idle while the host queued the next head (6 waits a clip, ~0.4 ms on an H100).
        var allLogits = scope.F32(_heads.Sum(h => h.Config.Classes), 1);
        int next = c.ContentTokens, logitsAt = 0;
        foreach (var head in _heads)
        {
            var hiddenHead = scope.F32(1, head.Config.HiddenWidth);
            ops.MatMul(features, head.HiddenW, head.HiddenB, hiddenHead, Activation.Relu);
            var headLogits = allLogits.Rows(logitsAt, head.Config.Classes).View(1, head.Config.Classes);
            logitsAt += head.Config.Classes;
            ops.MatMul(hiddenHead, head.OutW, head.OutB, headLogits);
            // SPEC §4: no sigmoid before the token MLPs.
            var geluLogits = scope.F32(1, head.Config.Classes);
            ops.Gelu(headLogits, geluLogits);
            head.Tokens.Forward(ops, geluLogits, mlpHidden.Rows(0, head.Tokens.Count), tokens.Rows(next, head.Tokens.Count));
            next += head.Tokens.Count;
        }
        var hostTokens = new float[tokens.ElementCount];
        _backend.Download(tokens, hostTokens);
        var hostLogits = new float[allLogits.ElementCount];
        _backend.Download(allLogits, hostLogits);
        var logits = new Dictionary<string, float[]>();
        logitsAt = 0;
        foreach (var head in _heads)
        {
            logits[head.Config.Name] = hostLogits[logitsAt..(logitsAt + head.Config.Classes)];
            logitsAt += head.Config.Classes;
        }
        return new ProjectorOutput(hostTokens, c.TotalTokens, c.TokenWidth, logits);
    }

    /// <summary>
    /// Stacks MERT hidden states ([frames, width] each) on the canvas: [layers, canvasFrames, width], zero-padded or
    /// truncated to the first canvasFrames frames, as SonicVerse does (SPEC §3: the zeros matter).
    /// </summary>
    public static float[] PlaceOnCanvas(IReadOnlyList<float[]> hiddenStates, int frames, int width, int canvasFrames = DefaultCanvasFrames)
    {
        var canvas = new float[hiddenStates.Count * canvasFrames * width];
        int kept = Math.Min(frames, canvasFrames);
        for (int l = 0; l < hiddenStates.Count; l++)
        {
            if (hiddenStates[l].Length != frames * width)
                throw new ArgumentException($"hidden state {l} has {hiddenStates[l].Length} values, expected {frames}×{width}");
            hiddenStates[l].AsSpan(0, kept * width).CopyTo(canvas.AsSpan(l * canvasFrames * width));
        }
        return canvas;
    }

    public void Dispose()
    {
        _backboneW.Dispose();
        _backboneB.Dispose();
        _layerWeights.Dispose();
        _contentMlps.Dispose();
        foreach (var h in _heads) h.Dispose();
    }
}
