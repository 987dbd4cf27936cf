using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mert;

/// <summary>Uploads checkpoint tensors as F32 and remembers them, so a failed load can release what it uploaded.</summary>
sealed class WeightUploader(IBackend backend) : IDisposable
{
    readonly List<DeviceTensor> _uploaded = new();

    public IBackend Backend => backend;

    public IReadOnlyList<DeviceTensor> Uploaded => _uploaded;

    public DeviceTensor Get(Weights w, string name, params long[] shape) => Upload(w.Get(name, shape).ToFloat32(), shape);

    public DeviceTensor Upload(float[] values, params long[] shape)
    {
        var tensor = backend.Upload(values, shape.Select(d => checked((int)d)).ToArray());
        _uploaded.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        foreach (var t in _uploaded) t.Dispose();
    }
}

/// <summary>Affine normalization parameters (LayerNorm, or GroupNorm with one group per channel).</summary>
sealed record Norm(DeviceTensor Weight, DeviceTensor Bias)
{
    public static Norm Load(Weights w, int dim, WeightUploader up) => new(up.Get(w, "weight", dim), up.Get(w, "bias", dim));
}

/// <summary>y = x·Wᵀ + b; W: [out, in].</summary>
sealed record Linear(DeviceTensor Weight, DeviceTensor Bias)
{
    public int OutDim => Weight.Dim(0);

    public static Linear Load(Weights w, int outDim, int inDim, WeightUploader up) =>
        new(up.Get(w, "weight", outDim, inDim), up.Get(w, "bias", outDim));

    public void Forward(IOps ops, DeviceTensor x, DeviceTensor y, Activation activation = Activation.None) =>
        ops.MatMul(x, Weight, Bias, y, activation);
}

/// <summary>One feature-encoder layer: conv (no padding) → optional norm → GELU. <see cref="Norm"/> is a per-channel
/// GroupNorm over the whole clip in "group" mode (layer 0 only), a LayerNorm over channels in "layer" mode.</summary>
sealed record ConvLayer(DeviceTensor Weight, DeviceTensor? Bias, Norm? Norm, bool NormIsLayerNorm, int Stride)
{
    public int OutChannels => Weight.Dim(0);

    public static ConvLayer Load(Weights w, MertConfig c, int index, WeightUploader up)
    {
        int inChannels = index == 0 ? 1 : c.ConvDim[index - 1];
        int outChannels = c.ConvDim[index];
        var conv = w.Sub("conv");
        var weight = up.Get(conv, "weight", outChannels, inChannels, c.ConvKernel[index]);
        var bias = c.ConvBias ? up.Get(conv, "bias", outChannels) : null;
        // modeling_hubert: "group" normalizes only the first layer (HubertGroupNormConvLayer); "layer" normalizes all.
        bool layerMode = c.FeatExtractNorm == "layer";
        var norm = layerMode || index == 0 ? Norm.Load(w.Sub("layer_norm"), outChannels, up) : null;
        return new ConvLayer(weight, bias, norm, layerMode, c.ConvStride[index]);
    }
}

/// <summary>The positional convolution (grouped Conv1d, "same" padding, weight norm folded at load).</summary>
sealed record PositionalConv(DeviceTensor Weight, DeviceTensor Bias, int Kernel, int Groups)
{
    public static PositionalConv Load(Weights w, MertConfig c, WeightUploader up)
    {
        int h = c.HiddenSize, k = c.NumConvPosEmbeddings, groups = c.NumConvPosEmbeddingGroups;
        float[] weight = WeightNorm.LoadFolded(w, h, h / groups, k);
        return new PositionalConv(up.Upload(weight, h, h / groups, k), up.Get(w.Sub("conv"), "bias", h), k, groups);
    }
}

/// <summary>One transformer layer (HubertEncoderLayer / HubertEncoderLayerStableLayerNorm share the weights).</summary>
sealed record EncoderLayer(Linear Q, Linear K, Linear V, Linear Out, Norm AttentionNorm,
    Linear FfnIn, Linear FfnOut, Norm FinalNorm)
{
    public static EncoderLayer Load(Weights w, MertConfig c, WeightUploader up)
    {
        int h = c.HiddenSize;
        var attention = w.Sub("attention");
        var ffn = w.Sub("feed_forward");
        return new EncoderLayer(
            Linear.Load(attention.Sub("q_proj"), h, h, up),
            Linear.Load(attention.Sub("k_proj"), h, h, up),
            Linear.Load(attention.Sub("v_proj"), h, h, up),
            Linear.Load(attention.Sub("out_proj"), h, h, up),
            Norm.Load(w.Sub("layer_norm"), h, up),
            Linear.Load(ffn.Sub("intermediate_dense"), c.IntermediateSize, h, up),
            Linear.Load(ffn.Sub("output_dense"), h, c.IntermediateSize, up),
            Norm.Load(w.Sub("final_layer_norm"), h, up));
    }
}
