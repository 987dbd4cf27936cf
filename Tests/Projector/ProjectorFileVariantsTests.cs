using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Tests.Safetensors;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Projector;

/// <summary>The projector loads from the released layout and its variants, and refuses mismatched parts naming both sides.</summary>
public class ProjectorFileVariantsTests : IDisposable
{
    const string Prefix = "base_model.model.model.audio_mert_lmm_projector.";
    readonly string _dir = Directory.CreateTempSubdirectory("sv-projector-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Rewrites the kit's projector as safetensors, through <paramref name="edit"/> (null drops a tensor).</summary>
    string Rewrite(string name, Func<string, float[], long[], (string Name, float[] Values, long[] Shape)?> edit, bool asF32)
    {
        using var source = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "non_lora_trainables.bin"));
        var writer = new SafetensorsTestWriter();
        foreach (var t in source.Tensors)
        {
            var edited = edit(t.Name, t.ToFloat32(), t.Shape.ToArray());
            if (edited is not { } e) continue;
            byte[] bytes = asF32
                ? e.Values.SelectMany(BitConverter.GetBytes).ToArray()
                : e.Values.SelectMany(v => BitConverter.GetBytes(TensorConvert.FloatToBF16(v))).ToArray();
            writer.Add(e.Name, asF32 ? "F32" : "BF16", e.Shape, bytes);
        }
        return writer.WriteTo(Path.Combine(_dir, name));
    }

    static ProjectorOutput ProjectKitInput(string projectorFile)
    {
        using var reference = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        using var weights = CheckpointFile.Open(projectorFile);
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = ProjectorModel.Load(weights, backend);
        var input = reference.Find("mert_hidden_states")!;
        int layers = (int)input.Shape[0], frames = (int)input.Shape[1], width = (int)input.Shape[2];
        float[] all = input.ToFloat32();
        var states = Enumerable.Range(0, layers).Select(l => all.AsSpan(l * frames * width, frames * width).ToArray()).ToList();
        using var hidden = backend.Upload(ProjectorModel.PlaceOnCanvas(states, frames, width), layers, 760, width);
        return model.Project(hidden);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void LoadsWithOrWithoutThePrefixInBf16OrF32(bool keepPrefix, bool asF32)
    {
        string file = Rewrite("p.safetensors", (n, v, s) => (keepPrefix ? n : n[Prefix.Length..], v, s), asF32);
        var output = ProjectKitInput(file);
        using var reference = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        float[] expected = reference.Find("projectors")!.ToFloat32();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - output.Tokens[i]) <= 1e-5f, $"token value {i}: {output.Tokens[i]} vs {expected[i]}");
    }

    [Fact]
    public void AMissingHeadIsRefusedByName()
    {
        string file = Rewrite("no-vocals.safetensors", (n, v, s) => n.Contains("vocals_detection") ? null : (n, v, s), asF32: false);
        using var weights = CheckpointFile.Open(file);
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => ProjectorModel.Load(weights, backend));
        Assert.Contains("vocals_detection", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void TokenWidthOtherThanTheLlmHiddenSizeIsRefusedNamingBoth()
    {
        // Every token MLP cut to width 48: a consistent projector, but the tiny Mistral's hidden size is 64.
        string file = Rewrite("narrow.safetensors", (n, v, s) => Narrow(n, v, s, 48), asF32: false);
        var kit = ModelFiles.Resolve(ReferenceKit.File("sonicverse-tiny"), null, null, null);
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => SonicVerseCaptioner.Load(kit with { Projector = file }, backend));
        Assert.Contains("width 48", e.Message);
        Assert.Contains("hidden size is 64", e.Message);
    }

    [Fact]
    public void MertLayerCountOtherThanTheProjectorsIsRefusedNamingBoth()
    {
        var kit = ModelFiles.Resolve(ReferenceKit.File("sonicverse-tiny"), null, null, null);
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() =>
            SonicVerseCaptioner.Load(kit with { Mert = ReferenceKit.File("mert-tiny", "model-prelayernorm") }, backend));
        Assert.Contains("expects 13 MERT layers of width 32", e.Message);
        Assert.Contains("gives 5 of width 32", e.Message);
    }

    /// <summary>Keeps the first <paramref name="width"/> outputs of every token MLP (and inputs of their second layer).</summary>
    static (string, float[], long[])? Narrow(string name, float[] values, long[] shape, int width)
    {
        bool first = name.Contains(".layers.") && (name.EndsWith(".1.weight") || name.EndsWith(".1.bias"));
        bool second = name.Contains(".layers.") && (name.EndsWith(".3.weight") || name.EndsWith(".3.bias"));
        if (!first && !second) return (name, values, shape);
        if (shape.Length == 1) return (name, values[..width], [width]);
        int cols = (int)shape[1], keptCols = second ? width : cols;
        var kept = new float[width * keptCols];
        for (int r = 0; r < width; r++) Array.Copy(values, r * cols, kept, r * keptCols, keptCols);
        return (name, kept, [width, keptCols]);
    }
}
