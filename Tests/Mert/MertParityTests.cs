using System.Diagnostics;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Tests.Support;
using Xunit.Abstractions;

namespace SonicVerse.Tests.Mert;

/// <summary>The tiny MERT (post-LN and pre-LN) against HF transformers' fp64 run of the same weights and input
/// (SPEC §10: 1e-4 max-abs on every intermediate and hidden state).</summary>
public class MertParityTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-4;

    [Theory]
    [InlineData(MertKit.PostLn, "model.safetensors")]
    [InlineData(MertKit.PostLn, "pytorch_model.bin")]
    [InlineData(MertKit.PreLn, "model.safetensors")]
    [InlineData(MertKit.PreLn, "pytorch_model.bin")]
    public void EveryStageMatchesHfOnCpu(string variant, string weightFile) => EncodeAndCompare(DeviceKind.Cpu, variant, weightFile);

    /// <summary>The ILGPU kernels on the CPU accelerator, both variants, against the cpu backend (itself checked against
    /// HF above) on the first 0.5 s of the kit's input: the warp-level kernels need minutes for the whole clip there.</summary>
    [Theory]
    [InlineData(MertKit.PostLn)]
    [InlineData(MertKit.PreLn)]
    public void IlgpuCpuMatchesCpu(string variant)
    {
        float[] input = MertKit.InputValues()[..12_000];
        MertHiddenStates Encode(DeviceKind device)
        {
            using var backend = Backend.Create(device);
            using var model = MertModel.Load(MertKit.ModelDir(variant), backend);
            return model.Encode(input);
        }
        var cpu = Encode(DeviceKind.Cpu);
        var ilgpu = Encode(DeviceKind.IlgpuCpu);
        Assert.Equal(cpu.Count, ilgpu.Count);
        for (int i = 0; i < cpu.Count; i++)
            AssertClose(ilgpu[i], cpu[i].Select(v => (double)v).ToArray(), $"hidden state {i}");
    }

    /// <summary>The pipeline's device path (hidden states copied onto the projector's canvas) is the host path's
    /// PlaceOnCanvas, bit for bit, when the clip is cut (100 of 112 frames) and when it is padded (150).</summary>
    [Theory]
    [InlineData(100)]
    [InlineData(150)]
    public void CanvasOnTheDeviceIsTheHostCanvas(int canvasFrames)
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MertModel.Load(MertKit.ModelDir(MertKit.PostLn), backend);
        float[] samples = MertKit.InputValues();
        var host = model.EncodeAudio(samples);
        float[] expected = Runtime.Models.Projector.ProjectorModel.PlaceOnCanvas(host.States, host.Frames, host.Width, canvasFrames);
        using var canvas = model.EncodeAudioToCanvas(samples, canvasFrames);
        Assert.Equal([host.Count, canvasFrames, host.Width], canvas.Shape);
        var actual = new float[canvas.ElementCount];
        backend.Download(canvas, actual);
        Assert.Equal(expected, actual);
    }

    void EncodeAndCompare(DeviceKind device, string variant, string weightFile)
    {
        using var backend = Backend.Create(device);
        var config = MertConfig.Load(MertKit.ModelDir(variant));
        using var checkpoint = CheckpointFile.Open(Path.Combine(MertKit.ModelDir(variant), weightFile));
        using var model = MertModel.Load(config, checkpoint, backend);
        var sink = new MemoryTraceSink();
        var clock = Stopwatch.StartNew();
        var states = model.Encode(MertKit.InputValues(), sink);
        output.WriteLine($"{variant}/{weightFile}: encode {clock.ElapsedMilliseconds} ms on {backend.Description}");

        Assert.Equal(config.HiddenStateCount, states.Count);
        Assert.Equal(112, states.Frames);
        CompareTraces(variant, sink);
        var reference = MertKit.Fp64(variant);
        for (int i = 0; i < states.Count; i++)
            AssertClose(states[i], reference.Slice("hidden_states", i), $"hidden state {i}");
    }

    /// <summary>Every trace point that has a reference tensor, fp64 where the kit has it, else fp32.</summary>
    void CompareTraces(string variant, MemoryTraceSink sink)
    {
        var fp64 = MertKit.Fp64(variant);
        var fp32 = MertKit.Fp32(variant);
        var pairs = new List<(string Trace, string Reference)>
        {
            ("mert.feat_proj_layer_norm", "feat_proj_layer_norm"),
            ("mert.projection", "feature_projection"),
            ("mert.pos_conv", "pos_conv_embed"),
        };
        pairs.AddRange(Enumerable.Range(0, 7).Select(i => ($"mert.conv.{i}", $"conv_{i}")));
        pairs.AddRange(Enumerable.Range(0, fp64.Shape("hidden_states")[0]).Select(i => ($"mert.hidden_states.{i}", $"hidden_states.{i}")));
        int compared = 0;
        double worst = 0;
        foreach (var (trace, name) in pairs)
        {
            bool isState = name.StartsWith("hidden_states.", StringComparison.Ordinal);
            string file = isState ? "hidden_states" : name;
            var source = fp64.Has(file) ? fp64 : fp32.Has(file) ? fp32 : null;
            if (source is null) continue;
            Assert.True(sink.Records.ContainsKey(trace), $"trace {trace} missing");
            var (shape, values) = sink.Records[trace];
            double[] expected = isState ? source.Slice(file, int.Parse(name[14..])) : source.Values(file);
            if (!isState) Assert.Equal(source.Shape(file), shape);
            worst = Math.Max(worst, AssertClose(values, expected, trace));
            compared++;
        }
        output.WriteLine($"{compared} trace points compared, worst max-abs error {worst:E2}");
        Assert.True(compared >= (variant == MertKit.PostLn ? 23 : 9), $"only {compared} trace points compared");
    }

    static double AssertClose(float[] actual, double[] expected, string what)
    {
        double err = MertKit.MaxAbs(actual, expected, what);
        Assert.True(err <= Tolerance, $"{what}: max abs error {err:E3} > {Tolerance:E0}");
        return err;
    }
}
