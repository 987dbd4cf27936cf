using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Benchmarking;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;

namespace SonicVerse.Tests.Benchmarking;

/// <summary>The models' own Load paths accept the synthetic checkpoints of the small preset and compute finite outputs.</summary>
public class SyntheticModelTests
{
    static readonly SyntheticPreset Small = SyntheticPreset.Get("small");

    static float[] Logits(DType weights)
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var ck = SyntheticModels.Mistral(Small.Mistral, weights, seed: 3);
        using var model = MistralModel.Load(ck, Small.Mistral, backend);
        using var state = model.CreateState(16);
        var logits = new float[Small.Mistral.VocabSize];
        backend.Download(model.Forward([5, 17, 300, 4000], state), logits);
        return logits;
    }

    /// <summary>Same seed, same generated values: the Q8_0 model must track the F32 one closely, which fails if a tensor's
    /// bytes were laid out or named wrongly in either encoding.</summary>
    [Fact]
    public void MistralLoadsAndQuantizedWeightsTrackTheF32Model()
    {
        float[] f32 = Logits(DType.F32), q8 = Logits(DType.Q8_0);
        Assert.All(f32, v => Assert.True(float.IsFinite(v)));
        double spread = Math.Sqrt(f32.Average(v => (double)v * v));
        Assert.True(spread > 0.1, $"logits have rms {spread}: the random model should not be flat");
        double rmsError = Math.Sqrt(f32.Zip(q8, (a, b) => (double)(a - b) * (a - b)).Average());
        Assert.True(rmsError < 0.05 * spread, $"Q8_0 logits differ from F32 by rms {rmsError} (logit rms {spread})");
    }

    [Fact]
    public void MertAndProjectorLoadAndProduceFiniteOutputs()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        var mertConfig = Small.Mert;
        MertHiddenStates hidden;
        using (var ck = SyntheticModels.Mert(mertConfig, seed: 1))
        using (var mert = MertModel.Load(mertConfig, ck, backend))
        {
            var clip = Enumerable.Range(0, mertConfig.SampleRate).Select(i => MathF.Sin(i * 0.05f)).ToArray();
            hidden = mert.EncodeAudio(clip);
        }
        Assert.Equal(mertConfig.HiddenStateCount, hidden.Count);
        Assert.Equal(mertConfig.FrameCount(mertConfig.SampleRate), hidden.Frames);
        Assert.All(hidden.States, s => Assert.All(s, v => Assert.True(float.IsFinite(v))));

        using var pk = SyntheticModels.Projector(Small.Projector, hidden.Count, hidden.Width, Small.Mistral.HiddenSize, DType.F16, seed: 2);
        using var projector = ProjectorModel.Load(pk, backend);
        var c = projector.Config;
        using var input = backend.Upload(ProjectorModel.PlaceOnCanvas(hidden.States, hidden.Frames, hidden.Width, c.CanvasFrames),
            hidden.Count, c.CanvasFrames, hidden.Width);
        var output = projector.Project(input);
        int tokens = Small.Projector.ContentTokens + ProjectorModel.HeadNames.Length * Small.Projector.TokensPerHead;
        Assert.Equal(tokens, output.TokenCount);
        Assert.Equal(Small.Mistral.HiddenSize, output.TokenWidth);
        Assert.All(output.Tokens, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(Small.Projector.HeadClasses, ProjectorModel.HeadNames.Select(h => output.Logits[h].Length));
    }
}
