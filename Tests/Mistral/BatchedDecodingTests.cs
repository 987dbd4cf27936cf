using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mistral;

namespace SonicVerse.Tests.Mistral;

/// <summary>Batched decoding (several sequences, one step) against the kit's reference ids and against each sequence
/// decoded alone; the kit's three prompts have different lengths.</summary>
public class BatchedDecodingTests
{
    /// <summary>(model file, reference run, int8 activations): HF bf16 against transformers in fp32, GGUF Q4_0 against its
    /// dequantized run, and with int8 activations against llama.cpp's run.</summary>
    public static TheoryData<string, string, bool> Models() => new()
    {
        { "hf", "hf_f32", false },
        { "q4_0", "hf_q4_0_dequant", false },
        { "q4_0", "llamacpp_q4_0", true },
    };

    static MistralModel Load(string model, IBackend backend) =>
        MistralModel.Load(model == "hf" ? MistralKit.HfFolder : MistralKit.Gguf(model), backend);

    static ReferenceRun[] References(string file) => MistralKit.PromptNames.Select(p => MistralKit.Run(file, p)).ToArray();

    [Theory]
    [MemberData(nameof(Models))]
    public void KitPromptsTogetherGiveTheReferenceIdsAndTheIdsOfEachAlone(string modelName, string referenceFile, bool int8Activations)
    {
        var references = References(referenceFile);
        using var backend = Backend.Create(DeviceKind.Cpu, int8Activations: int8Activations);
        using var model = Load(modelName, backend);
        var batched = RunBatch(model, references, references.Select(_ => Options(32)).ToArray());
        for (int i = 0; i < references.Length; i++)
        {
            var alone = MistralKit.Greedy(model, references[i].PromptIds, 32, topLogprobs: 0).Select(t => t.Id);
            Assert.Equal(references[i].Generated, batched[i]);
            Assert.Equal(alone, batched[i]);
        }
    }

    [Fact]
    public void SequencesStopAtTheirOwnBudgetAndDropOutOfTheBatch()
    {
        var references = References("hf_f32");
        int[] budgets = [5, 32, 12];
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        var tokens = RunBatchTokens(model, references, budgets.Select(Options).ToArray());
        for (int i = 0; i < references.Length; i++)
            Assert.Equal(references[i].Generated.Take(budgets[i]), tokens.Where(t => t.Sequence == i).Select(t => t.Token.Id));
        // Step-major order: every step lists the sequences still running, in order, and finished ones never return.
        for (int step = 0; step < 32; step++)
            Assert.Equal(Enumerable.Range(0, 3).Where(i => step < budgets[i]), tokens.Where(t => t.Step == step).Select(t => t.Sequence));
    }

    [Fact]
    public void ASequenceEndsAtEosWhileTheOthersGoOn()
    {
        var references = References("hf_f32");
        // An id the first sequence emits early plays the end-of-sequence token: every sequence stops right after its
        // first occurrence of it (or runs its 32 tokens).
        int eos = references[0].Generated[3];
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        var batched = RunBatch(model, references, references.Select(_ => Options(32) with { EosId = eos }).ToArray());
        for (int i = 0; i < references.Length; i++)
        {
            int at = Array.IndexOf(references[i].Generated, eos);
            var expected = at < 0 ? references[i].Generated : references[i].Generated[..(at + 1)];
            Assert.Equal(expected, batched[i]);
        }
        Assert.True(batched[0].Count <= 4 && batched.Max(b => b.Count) == 32, "one sequence ends early, another runs on");
    }

    /// <summary>The kit's prompts as one pooled batch on ilgpu-cpu, two steps: the reference's ids — and with int8
    /// activations (each batched product's x rounded by a launch first) llama.cpp's, which differ from the fp32
    /// reference's at step 0 for "inst". (A model test of ilgpu against the cpu backend's int8 logits does not hold to
    /// 1e-4: a float ulp apart upstream, an element can round to the other integer.)</summary>
    [Theory]
    [InlineData("hf", "hf_f32", false)]
    [InlineData("q4_0", "llamacpp_q4_0", true)]
    public void IlgpuCpuBatchOfTwoStepsGivesTheReferenceIds(string modelName, string referenceFile, bool int8Activations)
    {
        var references = References(referenceFile);
        using var backend = Backend.Create(DeviceKind.IlgpuCpu, int8Activations: int8Activations);
        using var model = Load(modelName, backend);
        var batched = RunBatch(model, references, references.Select(_ => Options(2)).ToArray(), pooled: true);
        for (int i = 0; i < references.Length; i++) Assert.Equal(references[i].Generated.Take(2), batched[i]);
    }

    /// <summary>The pooled batch (one cache buffer, a scatter and one attention launch per layer and step) gives every
    /// sequence the reference's ids, as the separate-state batch does.</summary>
    [Fact]
    public void PooledBatchGivesTheReferenceIds()
    {
        var references = References("hf_f32");
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        var pooled = RunBatch(model, references, references.Select(_ => Options(12)).ToArray(), pooled: true);
        for (int i = 0; i < references.Length; i++) Assert.Equal(references[i].Generated.Take(12), pooled[i]);
    }

    /// <summary>cpu only: on ilgpu-cpu the batched path is checked by <see cref="IlgpuCpuBatchOfTwoStepsGivesTheReferenceIds"/>
    /// (each 32000-row lm_head product takes ~9 s on the simulated GPU).</summary>
    [Theory]
    [InlineData(DeviceKind.Cpu, false)]
    [InlineData(DeviceKind.Cpu, true)]
    public void BatchStepLogitsMatchSingleSequenceSteps(DeviceKind device, bool pooled)
    {
        var references = References("hf_f32");
        using var backend = Backend.Create(device);
        using var model = Load("hf", backend);
        int vocab = model.Config.VocabSize;
        var singles = new List<MistralState>();
        var batch = pooled
            ? model.CreateStates(references.Length, references.Max(r => r.PromptIds.Length) + 2).ToList()
            : new List<MistralState>();
        try
        {
            var expected = new float[references.Length][];
            foreach (var r in references)
            {
                var single = model.CreateState(r.PromptIds.Length + 2);
                singles.Add(single);
                model.Forward(r.PromptIds, single);
                expected[singles.Count - 1] = Download(backend, model.Forward([r.Generated[0]], single), 0, vocab);
                if (!pooled) batch.Add(model.CreateState(r.PromptIds.Length + 2));
                model.Forward(r.PromptIds, batch[singles.Count - 1]);
            }
            var logits = model.DecodeBatch(batch, references.Select(r => r.Generated[0]).ToArray());
            Assert.Equal([references.Length, vocab], logits.Shape);
            for (int i = 0; i < references.Length; i++)
            {
                MistralParityTests.AssertClose(expected[i], Download(backend, logits, i, vocab), 1e-5f, $"sequence {i} logits");
                Assert.Equal(singles[i].Position, batch[i].Position);
            }
        }
        finally
        {
            foreach (var s in singles.Concat(batch)) s.Dispose();
        }
    }

    /// <summary>A batched step of 9 sequences on the tensor-core products (the mma emulated by a CPU accelerator with
    /// 32-lane warps): every product of the step goes through the small-batch product (q/k/v and gate/up shared, o and
    /// down into the residual, lm_head), on a synthetic Q4_0 decoder whose widths are whole 128s as Mistral-7B's are;
    /// its logits match the cpu backend's. (A LoRA side path's products on it, each B from its own mid, are checked op
    /// by op in KernelCheck.RunGemm: with them this test took twice as long.)</summary>
    [Fact]
    public void TensorCoreBatchStepMatchesTheCpuBackend()
    {
        var config = new MistralConfig(HiddenSize: 128, IntermediateSize: 128, LayerCount: 1, HeadCount: 4, KvHeadCount: 2,
            HeadDim: 32, RmsNormEps: 1e-5f, RopeTheta: 10000f, VocabSize: 64, SlidingWindow: null, MaxPositions: 64,
            TieWordEmbeddings: false);
        int[] prompts = [3, 14, 15, 9, 26, 5, 35, 8, 9], next = [2, 7, 1, 8, 2, 8, 18, 28, 4];
        float[][] Step(IBackend backend)
        {
            using var checkpoint = Runtime.Benchmarking.SyntheticModels.Mistral(config, DType.Q4_0, seed: 7);
            using var model = MistralModel.Load(checkpoint, config, backend);
            var states = model.CreateStates(prompts.Length, 4);
            try
            {
                for (int i = 0; i < prompts.Length; i++) model.Forward([prompts[i]], states[i]);
                var logits = model.DecodeBatch(states, next);
                return Enumerable.Range(0, prompts.Length).Select(i => Download(backend, logits, i, config.VocabSize)).ToArray();
            }
            finally
            {
                foreach (var s in states) s.Dispose();
            }
        }
        using var cpu = Backend.Create(DeviceKind.Cpu);
        using var tensorCores = IlgpuBackend.CreateCpuAcceleratorWithTensorCores();
        var expected = Step(cpu);
        var actual = Step(tensorCores);
        for (int i = 0; i < prompts.Length; i++) MistralParityTests.AssertClose(expected[i], actual[i], 1e-4f, $"sequence {i} logits");
    }

    [Fact]
    public void BatchedPrefillOfEmbeddingsGivesTheReferenceIds()
    {
        var references = References("hf_f32");
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        var embeddings = references.Select(r =>
        {
            using var e = model.Embed(r.PromptIds);
            var host = new float[e.ElementCount];
            backend.Download(e, host);
            return host;
        }).ToArray();
        var states = references.Select(r => model.CreateState(r.PromptIds.Length + 8)).ToArray();
        try
        {
            var logits = model.ForwardBatch(states, embeddings);
            var ids = TokenGenerator.GenerateBatch(model, states, logits, references.Select(_ => Options(8)).ToArray()).ToList();
            for (int i = 0; i < references.Length; i++)
                Assert.Equal(references[i].Generated.Take(8), ids.Where(t => t.Sequence == i).Select(t => t.Token.Id));
        }
        finally
        {
            foreach (var s in states) s.Dispose();
        }
    }

    /// <summary>A prompt longer than two pieces, prefilled piece by piece, gives the logits of one pass over it and
    /// fills the cache to the same position; the pieces are reported as they finish.</summary>
    [Fact]
    public void PiecewisePrefillMatchesOnePass()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        var random = new Random(3);
        int n = 2 * MistralModel.PrefillPieceTokens + 76;
        int[] ids = Enumerable.Range(0, n).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray();
        float[] Logits(bool pieces, List<int>? heard, out int position)
        {
            using var state = model.CreateState(n + 1);
            var logits = pieces ? model.ForwardInPieces(ids, state, heard!.Add) : model.Forward(ids, state);
            var host = new float[model.Config.VocabSize];
            backend.Download(logits, host);
            position = state.Position;
            return host;
        }
        var heard = new List<int>();
        float[] whole = Logits(false, null, out int wholePosition), pieced = Logits(true, heard, out int piecedPosition);
        Assert.Equal([512, 1024, n], heard);
        Assert.Equal(n, wholePosition);
        Assert.Equal(n, piecedPosition);
        for (int i = 0; i < whole.Length; i++) Assert.True(Math.Abs(whole[i] - pieced[i]) <= 1e-4f, $"logit {i}: {whole[i]} vs {pieced[i]}");
    }

    [Fact]
    public void ABatchRejectsRepeatedSequencesAndMismatchedCounts()
    {
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var model = Load("hf", backend);
        using var state = model.CreateState(8);
        model.Forward([1], state);
        Assert.Throws<ArgumentException>(() => model.DecodeBatch([state, state], [1, 2]));
        Assert.Throws<ArgumentException>(() => model.DecodeBatch([state], [1, 2]));
    }

    static GenerationOptions Options(int maxNewTokens) => new() { MaxNewTokens = maxNewTokens, EosId = null };

    static float[] Download(IBackend backend, DeviceTensor logits, int row, int vocab)
    {
        var host = new float[vocab];
        backend.Download(logits, (long)row * vocab, host);
        return host;
    }

    static List<int>[] RunBatch(MistralModel model, ReferenceRun[] references, GenerationOptions[] options, bool pooled = false)
    {
        var ids = references.Select(_ => new List<int>()).ToArray();
        foreach (var t in RunBatchTokens(model, references, options, pooled)) ids[t.Sequence].Add(t.Token.Id);
        return ids;
    }

    /// <summary>Separate states (copies and one attention per sequence each step) or, <paramref name="pooled"/>, states
    /// sharing one cache pool (one scatter and one attention launch per layer and step).</summary>
    static List<BatchToken> RunBatchTokens(MistralModel model, ReferenceRun[] references, GenerationOptions[] options,
        bool pooled = false)
    {
        var states = pooled
            ? model.CreateStates(references.Length, references.Select((r, i) => r.PromptIds.Length + options[i].MaxNewTokens).Max())
            : references.Select((r, i) => model.CreateState(r.PromptIds.Length + options[i].MaxNewTokens)).ToArray();
        try
        {
            return TokenGenerator.GenerateBatch(model, states, references.Select(r => (IReadOnlyList<int>)r.PromptIds).ToArray(), options)
                .ToList();
        }
        finally
        {
            foreach (var s in states) s.Dispose();
        }
    }
}
