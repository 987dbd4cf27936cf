using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Runtime.Models.Mert;

/// <summary>
/// MERT-v1 encoder (HuBERT architecture, SPEC §3): waveform → conv feature encoder → feature projection →
/// positional conv → transformer (post-LN for 95M, pre-LN when <c>do_stable_layer_norm</c>) → L+1 hidden states.
/// The weights are immutable after <see cref="Load(string, IBackend)"/>; each <see cref="Encode"/> call allocates its
/// own scratch on the backend and frees it before returning, so one model may serve calls one after another.
/// Trace names: <c>mert.input</c> [N], <c>mert.conv.{i}</c> [C, T_i], <c>mert.feat_proj_layer_norm</c> [T, C],
/// <c>mert.projection</c> [T, H], <c>mert.pos_conv</c> [T, H], <c>mert.hidden_states.{i}</c> [T, H].
/// </summary>
public sealed class MertModel : IDisposable
{
    readonly IBackend _backend;
    readonly IReadOnlyList<DeviceTensor> _owned;
    readonly ConvLayer[] _convLayers;
    readonly Norm? _projectionNorm;
    readonly Linear _projection;
    readonly PositionalConv _positionalConv;
    readonly Norm _encoderNorm;
    readonly EncoderLayer[] _layers;

    MertModel(MertConfig config, IBackend backend, IReadOnlyList<DeviceTensor> owned, ConvLayer[] convLayers,
        Norm? projectionNorm, Linear projection, PositionalConv positionalConv, Norm encoderNorm, EncoderLayer[] layers)
    {
        Config = config;
        _backend = backend;
        _owned = owned;
        _convLayers = convLayers;
        _projectionNorm = projectionNorm;
        _projection = projection;
        _positionalConv = positionalConv;
        _encoderNorm = encoderNorm;
        _layers = layers;
    }

    public MertConfig Config { get; }

    public IBackend Backend => _backend;

    /// <summary>Reads <c>config.json</c>, <c>preprocessor_config.json</c> and the weights (<c>model.safetensors</c> or
    /// <c>pytorch_model.bin</c>, see <see cref="CheckpointFile.Open"/>) from a MERT model folder.</summary>
    public static MertModel Load(string modelDir, IBackend backend)
    {
        var config = MertConfig.Load(modelDir);
        using var checkpoint = CheckpointFile.Open(modelDir);
        return Load(config, checkpoint, backend);
    }

    /// <summary>Loads strictly: every tensor the config implies must be present with its shape, and every tensor in
    /// the checkpoint must be used or ignored by name (<see cref="LoaderException"/> otherwise).</summary>
    public static MertModel Load(MertConfig config, ICheckpoint checkpoint, IBackend backend)
    {
        // Uploaded as fp32: 4 bytes per value whatever the file stores.
        MemoryBudget.EnsureFits(backend, checkpoint.Tensors.Sum(t => t.ElementCount) * 4, $"the MERT encoder {checkpoint.Path}");
        var w = new Weights(checkpoint);
        // modeling_MERT/modeling_hubert: the SpecAugment mask vector is only used when masking time steps in training.
        w.Ignore(name => name == "masked_spec_embed", "SpecAugment mask embedding (training only)");
        var up = new WeightUploader(backend);
        try
        {
            var features = w.Sub("feature_extractor").Sub("conv_layers");
            var convLayers = Enumerable.Range(0, config.ConvLayers).Select(i => ConvLayer.Load(features.Sub(i), config, i, up)).ToArray();
            var projection = w.Sub("feature_projection");
            var projectionNorm = config.FeatProjLayerNorm ? Norm.Load(projection.Sub("layer_norm"), config.ExtractDim, up) : null;
            var projectionLinear = Linear.Load(projection.Sub("projection"), config.HiddenSize, config.ExtractDim, up);
            var encoder = w.Sub("encoder");
            var positionalConv = PositionalConv.Load(encoder.Sub("pos_conv_embed"), config, up);
            var encoderNorm = Norm.Load(encoder.Sub("layer_norm"), config.HiddenSize, up);
            var layers = Enumerable.Range(0, config.NumHiddenLayers)
                .Select(i => EncoderLayer.Load(encoder.Sub("layers").Sub(i), config, up)).ToArray();
            w.EnsureAllUsed();
            return new MertModel(config, backend, up.Uploaded.ToList(), convLayers, projectionNorm, projectionLinear,
                positionalConv, encoderNorm, layers);
        }
        catch
        {
            up.Dispose();
            throw;
        }
    }

    /// <summary>Encodes a clip given at the model's sample rate, before normalization: applies the
    /// <c>preprocessor_config.json</c> normalization when <c>do_normalize</c> is set (SPEC §2.4), then
    /// <see cref="Encode"/>.</summary>
    public MertHiddenStates EncodeAudio(ReadOnlySpan<float> samples, ITraceSink? trace = null)
    {
        return Encode(Config.Preprocessor.Apply(samples.ToArray()), trace);
    }

    /// <summary>Runs the encoder on model-ready (already normalized) samples; returns the L+1 hidden states.
    /// A clip shorter than one receptive field (400 samples for MERT-v1) is an <see cref="InputException"/>.</summary>
    public MertHiddenStates Encode(ReadOnlySpan<float> samples, ITraceSink? trace = null)
    {
        var states = new float[Config.HiddenStateCount][];
        int frames = 0;
        Run(samples, trace, (index, hidden) =>
        {
            states[index] = Collect(hidden, index, trace);
            frames = hidden.Dim(0);
        });
        return new MertHiddenStates(frames, Config.HiddenSize, states);
    }

    /// <summary>
    /// <see cref="EncodeAudio"/> for the projector, without leaving the device: the L+1 hidden states are copied
    /// straight onto a zeroed canvas [L+1, canvasFrames, hidden] (zero-padded or cut to canvasFrames frames, as
    /// <c>ProjectorModel.PlaceOnCanvas</c> does on the host). Downloading the 13 states of a 10 s clip to the host and
    /// uploading the canvas again took 29 ms of an H100's 64 ms per clip. The caller owns the returned tensor; the
    /// device has finished with it when this returns (so stage timings stay honest).
    /// </summary>
    public DeviceTensor EncodeAudioToCanvas(ReadOnlySpan<float> samples, int canvasFrames, ITraceSink? trace = null)
    {
        var samplesReady = Config.Preprocessor.Apply(samples.ToArray());
        var canvas = _backend.Allocate(DType.F32, Config.HiddenStateCount, canvasFrames, Config.HiddenSize);
        try
        {
            long plane = (long)canvasFrames * Config.HiddenSize;
            Run(samplesReady, trace, (index, hidden) =>
            {
                long kept = (long)Math.Min(hidden.Dim(0), canvasFrames) * Config.HiddenSize;
                _backend.Ops.Copy(hidden, 0, kept, canvas, index * plane);
                if (trace?.Wants($"mert.hidden_states.{index}") == true) Collect(hidden, index, trace);
            });
            _backend.Synchronize();
            return canvas;
        }
        catch
        {
            canvas.Dispose();
            throw;
        }
    }

    /// <summary>The encoder; <paramref name="onHiddenState"/> sees each of the L+1 hidden states ([T, H], valid only
    /// during the call) in order.</summary>
    void Run(ReadOnlySpan<float> samples, ITraceSink? trace, Action<int, DeviceTensor> onHiddenState)
    {
        int frames = Config.FrameCount(samples.Length);
        if (frames < 1)
            throw new InputException(
                $"audio too short for MERT: {samples.Length} samples ({samples.Length * 1000.0 / Config.SampleRate:0.#} ms at " +
                $"{Config.SampleRate} Hz); at least {Config.ReceptiveField} samples are needed for one frame");
        if (trace?.Wants("mert.input") == true) trace.Record("mert.input", [samples.Length], samples);

        using var scope = new TensorScope(_backend);
        var input = scope.Upload(samples, 1, samples.Length);  // [1, N]
        var features = FeatureEncoder(input, scope, trace);  // [C, T]
        var hidden = FeatureProjection(features, scope, trace);  // [T, H]
        AddPositionalEmbedding(hidden, scope, trace);
        Transformer(hidden, scope, onHiddenState);
    }

    /// <summary>7 conv layers on the waveform. x: [1, N] → [C, T].</summary>
    DeviceTensor FeatureEncoder(DeviceTensor x, TensorScope scope, ITraceSink? trace)
    {
        var ops = _backend.Ops;
        int samples = x.Dim(1);
        for (int i = 0; i < _convLayers.Length; i++)
        {
            var layer = _convLayers[i];
            var y = scope.F32(layer.OutChannels, Config.ConvOutputLength(samples, i));  // [C, T_i]
            ops.Conv1d(x, layer.Weight, layer.Bias, layer.Stride, 0, 1, y);
            if (layer.Norm is Norm norm)
            {
                if (layer.NormIsLayerNorm) LayerNormOverChannels(y, norm, scope);
                else ops.ChannelNorm(y, norm.Weight, norm.Bias, Config.LayerNormEps, y);
            }
            ops.Gelu(y, y);
            Trace(trace, $"mert.conv.{i}", y);
            x = y;
        }
        return x;
    }

    /// <summary>modeling_hubert HubertLayerNormConvLayer: LayerNorm over channels at each time step. y: [C, T] in place.</summary>
    void LayerNormOverChannels(DeviceTensor y, Norm norm, TensorScope scope)
    {
        var ops = _backend.Ops;
        var transposed = scope.F32(y.Dim(1), y.Dim(0));  // [T, C]
        ops.Transpose(y, transposed);
        ops.LayerNorm(transposed, norm.Weight, norm.Bias, Config.LayerNormEps, transposed);
        ops.Transpose(transposed, y);
    }

    /// <summary>features: [C, T] → LayerNorm(C) (when configured) → Linear(C → H): [T, H].</summary>
    DeviceTensor FeatureProjection(DeviceTensor features, TensorScope scope, ITraceSink? trace)
    {
        var ops = _backend.Ops;
        int frames = features.Dim(1);
        var x = scope.F32(frames, features.Dim(0));  // [T, C]
        ops.Transpose(features, x);
        if (_projectionNorm is Norm norm)
        {
            ops.LayerNorm(x, norm.Weight, norm.Bias, Config.LayerNormEps, x);
            Trace(trace, "mert.feat_proj_layer_norm", x);
        }
        var hidden = scope.F32(frames, Config.HiddenSize);  // [T, H]
        _projection.Forward(ops, x, hidden);
        Trace(trace, "mert.projection", hidden);
        return hidden;
    }

    /// <summary>HubertPositionalConvEmbedding: grouped conv with padding k/2, the last frame dropped when k is even
    /// (HubertSamePadLayer), GELU; then hidden += pos. hidden: [T, H] in place.</summary>
    void AddPositionalEmbedding(DeviceTensor hidden, TensorScope scope, ITraceSink? trace)
    {
        var ops = _backend.Ops;
        var conv = _positionalConv;
        int frames = hidden.Dim(0), width = hidden.Dim(1);
        int padding = conv.Kernel / 2;
        int convFrames = frames + 2 * padding - conv.Kernel + 1;  // T + 1 when k is even
        var channelsFirst = scope.F32(width, frames);  // [H, T]
        ops.Transpose(hidden, channelsFirst);
        var convOut = scope.F32(width, convFrames);  // [H, T']
        ops.Conv1d(channelsFirst, conv.Weight, conv.Bias, 1, padding, conv.Groups, convOut);
        var framesFirst = scope.F32(convFrames, width);  // [T', H]
        ops.Transpose(convOut, framesFirst);
        var pos = framesFirst.Rows(0, frames);  // [T, H]: first T frames
        ops.Gelu(pos, pos);
        Trace(trace, "mert.pos_conv", pos);
        ops.Add(hidden, pos, hidden);
    }

    /// <summary>The transformer stack. Post-LN (HubertEncoder): h = LN(x + pos) is state 0, each layer's output
    /// is state i. Pre-LN (HubertEncoderStableLayerNorm): state 0 is x + pos unnormalized, states 1..L−1 are raw layer
    /// outputs, and encoder.layer_norm applies only to the last one.</summary>
    void Transformer(DeviceTensor hidden, TensorScope scope, Action<int, DeviceTensor> onHiddenState)
    {
        var ops = _backend.Ops;
        bool preLn = Config.DoStableLayerNorm;
        var buffers = new LayerBuffers(scope, hidden.Dim(0), Config);
        if (!preLn) ops.LayerNorm(hidden, _encoderNorm.Weight, _encoderNorm.Bias, Config.LayerNormEps, hidden);
        onHiddenState(0, hidden);
        for (int i = 0; i < _layers.Length; i++)
        {
            if (preLn) PreLnLayer(_layers[i], hidden, buffers);
            else PostLnLayer(_layers[i], hidden, buffers);
            if (preLn && i == _layers.Length - 1)
                ops.LayerNorm(hidden, _encoderNorm.Weight, _encoderNorm.Bias, Config.LayerNormEps, hidden);
            onHiddenState(i + 1, hidden);
        }
    }

    /// <summary>HubertEncoderLayer: h = LN1(h + Attn(h)); h = LN2(h + FFN(h)). h: [T, H] in place.</summary>
    void PostLnLayer(EncoderLayer layer, DeviceTensor h, LayerBuffers b)
    {
        var ops = _backend.Ops;
        SelfAttention(layer, h, b, b.Delta);
        ops.Add(h, b.Delta, h);
        ops.LayerNorm(h, layer.AttentionNorm.Weight, layer.AttentionNorm.Bias, Config.LayerNormEps, h);
        FeedForward(layer, h, b, b.Delta);
        ops.Add(h, b.Delta, h);
        ops.LayerNorm(h, layer.FinalNorm.Weight, layer.FinalNorm.Bias, Config.LayerNormEps, h);
    }

    /// <summary>HubertEncoderLayerStableLayerNorm: h = h + Attn(LN1(h)); h = h + FFN(LN2(h)). h: [T, H] in place.</summary>
    void PreLnLayer(EncoderLayer layer, DeviceTensor h, LayerBuffers b)
    {
        var ops = _backend.Ops;
        ops.LayerNorm(h, layer.AttentionNorm.Weight, layer.AttentionNorm.Bias, Config.LayerNormEps, b.Normed);
        SelfAttention(layer, b.Normed, b, b.Delta);
        ops.Add(h, b.Delta, h);
        ops.LayerNorm(h, layer.FinalNorm.Weight, layer.FinalNorm.Bias, Config.LayerNormEps, b.Normed);
        FeedForward(layer, b.Normed, b, b.Delta);
        ops.Add(h, b.Delta, h);
    }

    /// <summary>Bidirectional multi-head attention, scores scaled by head_dim^-0.5 (HubertAttention scales q).
    /// x: [T, H] → y: [T, H].</summary>
    void SelfAttention(EncoderLayer layer, DeviceTensor x, LayerBuffers b, DeviceTensor y)
    {
        var ops = _backend.Ops;
        int frames = x.Dim(0);
        layer.Q.Forward(ops, x, b.QFlat);
        layer.K.Forward(ops, x, b.KFlat);
        layer.V.Forward(ops, x, b.VFlat);
        ops.Attention(b.Q, b.K, b.V, frames, -1, 0, 1f / MathF.Sqrt(Config.HeadDim), b.Context);
        layer.Out.Forward(ops, b.Context, y);
    }

    /// <summary>HubertFeedForward: output_dense(GELU(intermediate_dense(x))). x: [T, H] → y: [T, H].</summary>
    void FeedForward(EncoderLayer layer, DeviceTensor x, LayerBuffers b, DeviceTensor y)
    {
        var ops = _backend.Ops;
        layer.FfnIn.Forward(ops, x, b.Intermediate, Activation.Gelu);
        layer.FfnOut.Forward(ops, b.Intermediate, y);
    }

    float[] Collect(DeviceTensor hidden, int index, ITraceSink? trace)
    {
        var host = new float[hidden.ElementCount];
        _backend.Download(hidden, host);
        string name = $"mert.hidden_states.{index}";
        if (trace?.Wants(name) == true) trace.Record(name, hidden.Shape, host);
        return host;
    }

    void Trace(ITraceSink? trace, string name, DeviceTensor tensor)
    {
        if (trace?.Wants(name) != true) return;
        var host = new float[tensor.ElementCount];
        _backend.Download(tensor, host);
        trace.Record(name, tensor.Shape, host);
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
    }

    /// <summary>Per-call activations of the transformer, reused by every layer.</summary>
    sealed class LayerBuffers(TensorScope scope, int frames, MertConfig c)
    {
        public DeviceTensor Normed { get; } = scope.F32(frames, c.HiddenSize);  // [T, H]
        public DeviceTensor Delta { get; } = scope.F32(frames, c.HiddenSize);  // [T, H]
        // Projections written as [T, heads·d] and read by attention as the same memory [T, heads, d].
        public DeviceTensor Q { get; } = Heads(scope, frames, c);
        public DeviceTensor K { get; } = Heads(scope, frames, c);
        public DeviceTensor V { get; } = Heads(scope, frames, c);
        public DeviceTensor QFlat => Q.Base;
        public DeviceTensor KFlat => K.Base;
        public DeviceTensor VFlat => V.Base;
        public DeviceTensor Context { get; } = scope.F32(frames, c.HiddenSize);  // [T, heads·d]
        public DeviceTensor Intermediate { get; } = scope.F32(frames, c.IntermediateSize);  // [T, I]

        static DeviceTensor Heads(TensorScope scope, int frames, MertConfig c) =>
            scope.F32(frames, c.HiddenSize).View(frames, c.NumAttentionHeads, c.HeadDim);
    }
}
