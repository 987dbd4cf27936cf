using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Tracing;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mistral;

/// <summary>The tiny Mistral in every weight format against the kit's HF transformers and llama.cpp runs.
/// Everything on <c>cpu</c>; on <c>ilgpu-cpu</c> the same checks over the first 2 generated tokens, for one prompt and one
/// quantized format: there each 32000-row lm_head product alone takes ~9 s (a warp per row on the simulated GPU), and
/// every kernel is also compared with the cpu op at edge sizes in Tests/Backends/IlgpuOpsTests.</summary>
public class MistralParityTests
{
    public static TheoryData<DeviceKind, string> DevicesAndPrompts()
    {
        var data = new TheoryData<DeviceKind, string>();
        foreach (string prompt in MistralKit.PromptNames) data.Add(DeviceKind.Cpu, prompt);
        data.Add(DeviceKind.IlgpuCpu, "plain");
        return data;
    }

    static int Steps(DeviceKind device) => device == DeviceKind.Cpu ? 32 : 2;

    [Theory]
    [MemberData(nameof(DevicesAndPrompts))]
    public void HfBf16GreedyIdsAndLogprobsMatchTransformers(DeviceKind device, string prompt)
    {
        var reference = MistralKit.Run("hf_f32", prompt);
        using var backend = Backend.Create(device);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend);
        Assert.Equal(RopeLayout.HalfSplit, model.RopeLayout);

        float[] first = AssertGreedy(reference, model, Steps(device), 1e-3);
        AssertClose(MistralKit.FirstLogprobs("hf_f32", prompt), first, 1e-3f, "step-0 log-probs");
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("long")]
    public void HiddenStatesMatchTransformers(string prompt)
    {
        var reference = MistralKit.Run("hf_f32", prompt);
        using var expected = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "ref", "hf_f32_hidden_states.safetensors"));
        var states = expected.Find(prompt + ".hidden_states")!;   // (layers + 1, T, H)
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend);
        var sink = new CollectingSink();
        using var state = model.CreateState(reference.PromptIds.Length);
        state.Trace = sink;
        model.Forward(reference.PromptIds, state);

        int layers = (int)states.Shape[0], perLayer = (int)(states.Shape[1] * states.Shape[2]);
        Assert.Equal(model.Config.LayerCount + 1, layers);
        float[] all = states.ToFloat32();
        for (int l = 0; l < layers; l++)
            AssertClose(all.AsSpan(l * perLayer, perLayer).ToArray(), sink.Values[$"llm.hidden_states.{l}"], 1e-4f, $"hidden state {l}");
    }

    [Theory]
    [MemberData(nameof(DevicesAndPrompts))]
    public void GgufF32GivesTheHfIds(DeviceKind device, string prompt)
    {
        var reference = MistralKit.Run("hf_f32", prompt);
        using var backend = Backend.Create(device);
        using var model = MistralModel.Load(MistralKit.Gguf("f32"), backend);
        Assert.Equal(RopeLayout.Interleaved, model.RopeLayout);
        AssertGreedy(reference, model, Steps(device), 1e-3);
    }

    [Theory]
    [InlineData(DeviceKind.Cpu, "q8_0")]
    [InlineData(DeviceKind.Cpu, "q4_0")]
    [InlineData(DeviceKind.IlgpuCpu, "q4_0")]
    public void QuantizedGgufMatchesTheDequantizedReference(DeviceKind device, string kind)
    {
        using var backend = Backend.Create(device);
        using var model = MistralModel.Load(MistralKit.Gguf(kind), backend);
        foreach (string prompt in MistralKit.PromptNames)
        {
            var reference = MistralKit.Run($"hf_{kind}_dequant", prompt);
            float[] first = AssertGreedy(reference, model, Steps(device), 1e-3);
            AssertClose(MistralKit.FirstLogprobs($"hf_{kind}_dequant", prompt), first, 1e-3f, "step-0 log-probs");
            // llama.cpp also rounds activations to 8 bit: only near (MANIFEST: max 0.15 on the top 5).
            foreach (var (id, logprob) in MistralKit.Run($"llamacpp_{kind}", prompt).Top[0])
                Assert.True(Math.Abs(first[id] - logprob) <= 0.6, $"{prompt}: id {id} log-prob {first[id]} vs llama.cpp {logprob}");
        }
    }

    /// <summary>With int8 activations the cpu backend does llama.cpp's arithmetic (x rounded to Q8_0 blocks before every
    /// quantized product), so it meets the kit's llama.cpp runs as the fp32 path meets HF's: the same greedy ids, and
    /// top-5 log-probs within ~1.3e-4 — where the fp32 path is 0.1–0.15 off them and differs in ids from step 0
    /// (MANIFEST). But an element whose x·127/amax lands within float rounding of a half can round the other way after
    /// a different summation order upstream (a flip), and which ones do depends on the vector widths. Q8_0, 32 steps of
    /// each prompt: with AVX-512, "plain" step 15 is 3.1e-3 off and the next steps are back at 1e-4; with AVX2 alone
    /// (DOTNET_EnableAVX512=0) "plain" flips at step 6, the flip lands in the KV cache and keeps the rest of that prompt
    /// 0.03–0.14 off; with 128-bit vectors (Arm64; here DOTNET_EnableAVX2=0 or DOTNET_PreferredVectorBitWidth=128)
    /// "plain" flips at step 6, "inst" at 11 — and takes the greedy id at step 15, where llama.cpp's top two are 0.072
    /// apart, the other way — and "long" at step 0. Q4_0 holds 1.3e-4 throughout on all of them. So: every step within a
    /// flip's size, ids parting only where llama.cpp's top two are that close (the comparison ends there: the texts
    /// differ), and two prompts of three within 5e-3 over their first steps. Rounding halves away from zero, or
    /// multiplying by 1/d, is 2e-2 or more off from step 0 on every prompt.</summary>
    /// <para>On ilgpu-cpu the same holds for the ILGPU kernels' int8 path (the decode GEMVs' dp4a dots, the rounding
    /// launch before the prompt's products), over its first steps of "inst" — the prompt whose first id the fp32 path
    /// gets wrong (the three prompts batched: BatchedDecodingTests).</para>
    [Theory]
    [InlineData(DeviceKind.Cpu, "q8_0")]
    [InlineData(DeviceKind.Cpu, "q4_0")]
    [InlineData(DeviceKind.IlgpuCpu, "q4_0")]
    public void Int8ActivationsGiveLlamaCppsIdsAndLogprobs(DeviceKind device, string kind)
    {
        const double Tight = 5e-3, Flip = 0.2;
        using var backend = Backend.Create(device, int8Activations: true);
        using var model = MistralModel.Load(MistralKit.Gguf(kind), backend);
        string[] prompts = device == DeviceKind.Cpu ? MistralKit.PromptNames : ["inst"];
        int steps = Steps(device), firstSteps = Math.Min(4, steps);
        var flippedEarly = new List<string>();
        foreach (string prompt in prompts)
        {
            var reference = MistralKit.Run($"llamacpp_{kind}", prompt);
            var (generated, deviations, _) = GreedyDeviations(reference, model, steps);
            var worst = deviations.MaxBy(d => d.Difference)!;
            Assert.True(worst.Difference <= Flip, worst.Describe());
            int last = deviations.Count - 1;
            if (generated[last].Id != reference.Generated[last])
            {
                // Only where llama.cpp's top two are closer than a flip's deviation can a flip change the greedy id.
                var top = reference.Top[last];
                Assert.True(top[0].Logprob - top[1].Logprob <= Flip,
                    $"{reference.Name} step {last}: id {generated[last].Id} where llama.cpp took {reference.Generated[last]}, " +
                    $"its top two {top[0].Logprob - top[1].Logprob:F3} apart");
            }
            var early = deviations.Take(firstSteps).MaxBy(d => d.Difference)!;
            if (deviations.Count < firstSteps || early.Difference > Tight) flippedEarly.Add(early.Describe());
        }
        Assert.True(3 * (prompts.Length - flippedEarly.Count) >= 2 * prompts.Length,
            $"{flippedEarly.Count} of {prompts.Length} prompts leave {Tight} in their first {firstSteps} steps: {string.Join("; ", flippedEarly)}");
    }

    [Theory]
    [InlineData("q8_0", DType.Q8_0)]
    [InlineData("q4_0", DType.Q4_0)]
    public void QuantizingHfWeightsOnLoadGivesTheGgufBytesAndIds(string kind, DType dtype)
    {
        var config = MistralKit.HfConfig();
        using var hf = CheckpointFile.Open(Path.Combine(MistralKit.HfFolder, "model.safetensors"));
        using var gguf = CheckpointFile.Open(MistralKit.Gguf(kind));
        int headDim = config.GetProperty("head_dim").GetInt32();
        foreach (var tensor in gguf.Tensors.Where(t => t.Shape.Count == 2))
        {
            var source = hf.Find(KitWeights.HfNameOfGguf(tensor.Name))!;
            byte[] ours = MistralWeightUpload.Quantize(source.ToFloat32(), dtype);
            int rowBytes = (int)(ours.Length / source.Shape[0]);
            bool permuted = KitWeights.PermutedHeads(source.Name, config) > 0;
            for (int r = 0; r < tensor.Shape[0]; r++)
            {
                int hfRow = permuted ? KitWeights.HfRowOfGgufRow(r, headDim) : r;
                Assert.True(ours.AsSpan(hfRow * rowBytes, rowBytes).SequenceEqual(tensor.Bytes.Slice(r * rowBytes, rowBytes)),
                    $"{tensor.Name} row {r} differs from the quantized HF row {hfRow}");
            }
        }

        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = MistralModel.Load(MistralKit.HfFolder, backend, new MistralLoadOptions { Quantize = dtype });
        foreach (string prompt in MistralKit.PromptNames)
            AssertGreedy(MistralKit.Run($"hf_{kind}_dequant", prompt), model, 32, 1e-3);
    }

    /// <summary>Greedy ids equal over <paramref name="steps"/>; each step's reference top-5 log-probs within tolerance.
    /// Returns the whole log-softmax after the prompt, for the checks that compare every entry.</summary>
    internal static float[] AssertGreedy(ReferenceRun reference, MistralModel model, int steps, double tolerance, bool useLora = true)
    {
        var (generated, deviations, first) = GreedyDeviations(reference, model, steps, useLora);
        Assert.Equal(reference.Generated.Take(steps), generated.Select(g => g.Id));
        foreach (var deviation in deviations) Assert.True(deviation.Difference <= tolerance, deviation.Describe());
        return first;
    }

    /// <summary>Greedy decoding over <paramref name="steps"/> after the reference's prompt: our tokens, each step's
    /// largest log-prob difference over the reference's top 5 (up to and including the first step whose id differs,
    /// after which the two runs continue different texts), and the whole log-softmax after the prompt.</summary>
    internal static (List<GeneratedToken> Generated, List<StepDeviation> Steps, float[] First) GreedyDeviations(ReferenceRun reference,
        MistralModel model, int steps, bool useLora = true)
    {
        var (generated, first) = MistralKit.GreedyAfterPrompt(model, reference.PromptIds, steps, useLora);
        var deviations = new List<StepDeviation>();
        for (int step = 0; step < steps; step++)
        {
            var ours = generated[step].TopLogprobs.ToDictionary(t => t.Id, t => (double)t.Logprob);
            var deviation = new StepDeviation(reference.Name, step, -1, 0, 0);
            foreach (var (id, logprob) in reference.Top[step].Take(5))
            {
                Assert.True(ours.TryGetValue(id, out double lp), $"{reference.Name} step {step}: id {id} not in our top 10");
                if (Math.Abs(lp - logprob) > deviation.Difference) deviation = new StepDeviation(reference.Name, step, id, lp, logprob);
            }
            deviations.Add(deviation);
            if (generated[step].Id != reference.Generated[step]) break;
        }
        return (generated, deviations, first);
    }

    /// <summary>A step's largest log-prob difference from the reference, and where.</summary>
    internal sealed record StepDeviation(string Run, int Step, int Id, double Ours, double Reference)
    {
        public double Difference => Math.Abs(Ours - Reference);
        public string Describe() => $"{Run} step {Step}: id {Id} log-prob {Ours} vs {Reference}";
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            float d = Math.Abs(expected[i] - actual[i]);
            if (!(d <= worst)) { worst = d; at = i; }
        }
        Assert.True(worst <= tolerance, $"{what}: max abs diff {worst} at {at} (expected {expected[at]}, got {actual[at]})");
    }

    sealed class CollectingSink : ITraceSink
    {
        public Dictionary<string, float[]> Values { get; } = new();
        public bool Wants(string name) => true;
        public void Record(string name, int[] shape, ReadOnlySpan<float> values) => Values[name] = values.ToArray();
    }
}
