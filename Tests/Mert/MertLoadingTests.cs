using SonicVerse.Loader;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Tracing;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mert;

/// <summary>Strict loading (missing / extra / misshapen tensors), the three stored forms of the positional conv
/// weight, the config, and the too-short-clip error.</summary>
public sealed class MertLoadingTests : IDisposable
{
    const string PosConv = "encoder.pos_conv_embed.conv.";
    readonly string _dir = Directory.CreateTempSubdirectory("mert-load-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The kit's post-LN tensors as fp32, in file order.</summary>
    static List<(string Name, int[] Shape, float[] Values)> KitTensors()
    {
        using var checkpoint = CheckpointFile.Open(ReferenceKit.File("mert-tiny", "model", "model.safetensors"));
        return checkpoint.Tensors.Select(t => (t.Name, t.ShapeAsInt(), t.ToFloat32())).ToList();
    }

    string Write(IEnumerable<(string Name, int[] Shape, float[] Values)> tensors)
    {
        string path = Path.Combine(_dir, $"variant-{Guid.NewGuid():N}.safetensors");
        var writer = new SafetensorsTraceWriter(path);
        foreach (var (name, shape, values) in tensors) writer.Record(name, shape, values);
        writer.Save();
        return path;
    }

    static MertModel Load(string weightFile, IBackend backend)
    {
        using var checkpoint = CheckpointFile.Open(weightFile);
        return MertModel.Load(MertConfig.Load(MertKit.ModelDir(MertKit.PostLn)), checkpoint, backend);
    }

    [Fact]
    public void MissingTensorIsALoaderErrorNamingIt()
    {
        const string dropped = "encoder.layers.3.attention.k_proj.bias";
        string file = Write(KitTensors().Where(t => t.Name != dropped));
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => Load(file, backend));
        Assert.Contains(dropped, e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void UnexplainedExtraTensorIsALoaderErrorNamingIt()
    {
        const string extra = "encoder.layers.0.attention.relative_bias";
        string file = Write(KitTensors().Append((extra, new[] { 4 }, new float[4])));
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => Load(file, backend));
        Assert.Contains(extra, e.Message);
        Assert.Contains("unused", e.Message);
    }

    [Fact]
    public void WrongShapeIsALoaderError()
    {
        const string name = "feature_projection.projection.weight";
        string file = Write(KitTensors().Select(t => t.Name == name ? (t.Name, new[] { 16, 64 }, t.Values) : t));
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => Load(file, backend));
        Assert.Contains(name, e.Message);
        Assert.Contains("[16, 64]", e.Message);
    }

    [Fact]
    public void ParametrizationNamesLoadAndMatchTheReference()
    {
        var renamed = KitTensors().Select(t => t.Name switch
        {
            PosConv + "weight_g" => (PosConv + "parametrizations.weight.original0", t.Shape, t.Values),
            PosConv + "weight_v" => (PosConv + "parametrizations.weight.original1", t.Shape, t.Values),
            _ => t,
        });
        AssertLastHiddenStateMatches(Write(renamed));
    }

    [Fact]
    public void FusedPositionalWeightLoadsAndMatchesTheReference()
    {
        var tensors = KitTensors();
        var g = tensors.Single(t => t.Name == PosConv + "weight_g");
        var v = tensors.Single(t => t.Name == PosConv + "weight_v");
        var fused = tensors.Where(t => t.Name is not (PosConv + "weight_g") and not (PosConv + "weight_v"))
            .Append((PosConv + "weight", v.Shape, ScalarWeightNorm(g.Values, v.Values, v.Shape)));
        AssertLastHiddenStateMatches(Write(fused));
    }

    /// <summary>torch weight_norm(dim=2) written out plainly: W[o,i,k] = g[k]·v[o,i,k] / ‖v[:,:,k]‖.</summary>
    static float[] ScalarWeightNorm(float[] g, float[] v, int[] shape)
    {
        int outs = shape[0], ins = shape[1], taps = shape[2];
        var w = new float[v.Length];
        for (int k = 0; k < taps; k++)
        {
            double norm = 0;
            for (int o = 0; o < outs; o++)
                for (int i = 0; i < ins; i++) norm += Math.Pow(v[(o * ins + i) * taps + k], 2);
            norm = Math.Sqrt(norm);
            for (int o = 0; o < outs; o++)
                for (int i = 0; i < ins; i++) w[(o * ins + i) * taps + k] = (float)(g[k] * v[(o * ins + i) * taps + k] / norm);
        }
        return w;
    }

    static void AssertLastHiddenStateMatches(string weightFile)
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load(weightFile, backend);
        var states = model.Encode(MertKit.InputValues());
        var reference = MertKit.Fp64(MertKit.PostLn);
        double err = MertKit.MaxAbs(states[^1], reference.Slice("hidden_states", states.Count - 1), "last hidden state");
        Assert.True(err <= 1e-4, $"last hidden state: max abs error {err:E3}");
    }

    [Fact]
    public void ConfigIsReadFromTheKitFiles()
    {
        var c = MertConfig.Load(MertKit.ModelDir(MertKit.PostLn));
        Assert.Equal((32, 12, 4, 64, 8), (c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.HeadDim));
        Assert.Equal(new[] { 10, 3, 3, 3, 3, 2, 2 }, c.ConvKernel);
        Assert.Equal(new[] { 5, 2, 2, 2, 2, 2, 2 }, c.ConvStride);
        Assert.Equal((128, 16, 24000, true), (c.NumConvPosEmbeddings, c.NumConvPosEmbeddingGroups, c.SampleRate, c.DoNormalize));
        Assert.Equal(("group", false, true, 1e-5f), (c.FeatExtractNorm, c.ConvBias, c.FeatProjLayerNorm, c.LayerNormEps));
        Assert.False(c.DoStableLayerNorm);
        Assert.True(MertConfig.Load(MertKit.ModelDir(MertKit.PreLn)).DoStableLayerNorm);
        // SPEC §3.1: T = floor((N − 400) / 320) + 1.
        Assert.Equal(400, c.ReceptiveField);
        foreach (int n in new[] { 400, 719, 720, 36000, 240000 }) Assert.Equal((n - 400) / 320 + 1, c.FrameCount(n));
        Assert.Equal(0, c.FrameCount(399));
    }

    [Fact]
    public void ClipShorterThan400SamplesIsAnInputError()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MertModel.Load(MertKit.ModelDir(MertKit.PostLn), backend);
        var e = Assert.Throws<InputException>(() => model.Encode(new float[399]));
        Assert.Contains("400", e.Message);
        Assert.Equal(1, model.EncodeAudio(MertKit.InputValues()[..400]).Frames);
    }
}
