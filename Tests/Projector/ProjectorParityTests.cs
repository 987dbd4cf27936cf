using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Projector;

/// <summary>The tiny projector against the real SonicVerse MultiTaskSharedModel run (projector-tiny/ref_projector.safetensors).</summary>
public class ProjectorParityTests
{
    [Theory]
    [InlineData(DeviceKind.Cpu)]
    [InlineData(DeviceKind.IlgpuCpu)]
    public void TokensAndLogitsMatchTheReference(DeviceKind device)
    {
        using var reference = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "ref_projector.safetensors"));
        using var weights = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "non_lora_trainables.bin"));
        using var backend = Backend.Create(device);
        using var model = ProjectorModel.Load(weights, backend);

        var c = model.Config;
        Assert.Equal((13, 32, 16, 40, 64, 760), (c.Layers, c.InputWidth, c.BackboneWidth, c.ContentTokens, c.TokenWidth, c.CanvasFrames));
        Assert.Equal(new[] { 40, 56, 87, 24, 3 }, c.Heads.Select(h => h.Classes));
        Assert.Equal(60, c.TotalTokens);

        var input = reference.Find("mert_hidden_states")!;   // (13, T, 32), unpadded
        int frames = (int)input.Shape[1], width = (int)input.Shape[2];
        float[] all = input.ToFloat32();
        var layers = Enumerable.Range(0, c.Layers).Select(l => all.AsSpan(l * frames * width, frames * width).ToArray()).ToList();
        float[] canvas = ProjectorModel.PlaceOnCanvas(layers, frames, width);
        using var hidden = backend.Upload(canvas, c.Layers, c.CanvasFrames, width);

        var output = model.Project(hidden);

        AssertClose(reference.Find("projectors")!.ToFloat32(), output.Tokens, 1e-5f, "projectors");
        foreach (string head in ProjectorModel.HeadNames)
            AssertClose(reference.Find(head + ".logits")!.ToFloat32(), output.Logits[head], 1e-4f, head);
    }

    [Fact]
    public void CanvasPadsWithZerosAndTruncatesLongInput()
    {
        var layer = Enumerable.Range(1, 6).Select(i => (float)i).ToArray();   // 3 frames × 2
        float[] padded = ProjectorModel.PlaceOnCanvas([layer], 3, 2, canvasFrames: 5);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 0, 0, 0, 0 }, padded);
        float[] trimmed = ProjectorModel.PlaceOnCanvas([layer], 3, 2, canvasFrames: 2);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, trimmed);
    }

    [Fact]
    public void MissingOrExtraTensorsAreRefused()
    {
        using var weights = CheckpointFile.Open(ReferenceKit.File("mert-tiny", "model", "model.safetensors"));
        using var backend = Backend.Create(DeviceKind.Cpu);
        var e = Assert.Throws<LoaderException>(() => ProjectorModel.Load(weights, backend));
        Assert.Contains("backbone.hidden_layer_1.weight", e.Message);
    }

    static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            float d = Math.Abs(expected[i] - actual[i]);
            if (!(d <= worst)) { worst = d; at = i; }
        }
        Assert.True(worst <= tolerance, $"{what}: max abs diff {worst} at {at} (expected {expected[Math.Max(at, 0)]}, got {actual[Math.Max(at, 0)]})");
    }
}
