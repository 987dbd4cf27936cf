using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>The three SonicVerse models loaded for a bench run, with what decode reads per step.</summary>
public sealed class BenchModels(MertModel mert, ProjectorModel projector, MistralModel llm, string name, string weights,
    long weightBytesPerStep) : IDisposable
{
    public MertModel Mert => mert;
    public ProjectorModel Projector => projector;
    public MistralModel Llm => llm;
    /// <summary>"synthetic mistral-7b" or the model folder.</summary>
    public string Name => name;
    /// <summary>The decoder's weight type as loaded ("f16", "q4_0", "BF16 + LoRA side path", ...).</summary>
    public string Weights => weights;
    /// <summary>Bytes of decoder weights read by one decode step: all of them except the embedding table, of which a step
    /// reads one row (SPEC §11).</summary>
    public long WeightBytesPerStep => weightBytesPerStep;

    /// <summary>Seeded random weights at a preset's shapes, made tensor by tensor as each is uploaded. MERT runs in fp32
    /// and the projector in f16 (the release stores bf16; f16 is what the GPU targets assume); the decoder in
    /// <paramref name="weights"/>, with a random LoRA side path of rank <paramref name="loraRank"/> on all seven
    /// projections when given (captions run one; α = 16, peft's default).</summary>
    public static BenchModels Synthetic(SyntheticPreset preset, DType weights, ulong seed, IBackend backend, int? loraRank = null)
    {
        var loaded = new List<IDisposable>();
        try
        {
            MertModel mert;
            using (var ck = SyntheticModels.Mert(preset.Mert, seed))
                mert = Keep(MertModel.Load(preset.Mert, ck, backend), loaded);
            ProjectorModel projector;
            using (var ck = SyntheticModels.Projector(preset.Projector, preset.Mert.HiddenStateCount, preset.Mert.HiddenSize,
                       preset.Mistral.HiddenSize, DType.F16, seed + 1))
                projector = Keep(ProjectorModel.Load(ck, backend), loaded);
            long before = backend.AllocatedBytes;
            MistralModel llm;
            using (var ck = SyntheticModels.Mistral(preset.Mistral, weights, seed + 2))
            {
                var lora = loraRank is { } rank ? LoraAdapter.Synthetic(preset.Mistral, rank, 16, seed + 3) : null;
                llm = Keep(MistralModel.Load(ck, preset.Mistral, backend, new MistralLoadOptions { Lora = lora }), loaded);
            }
            long embedding = weights.ByteSize((long)preset.Mistral.VocabSize * preset.Mistral.HiddenSize);
            string name = $"synthetic {preset.Name}" + (loraRank is { } r ? $" + LoRA r={r} (side path)" : "");
            return new BenchModels(mert, projector, llm, name, weights.ToString().ToLowerInvariant(),
                backend.AllocatedBytes - before - embedding);
        }
        catch
        {
            foreach (var d in loaded) d.Dispose();
            throw;
        }
    }

    /// <summary>A real model folder or bundle (see <see cref="ModelFiles.Resolve"/>), loaded as <c>caption</c> loads it:
    /// the decoder with the SonicVerse LoRA side path, optionally quantized on load.</summary>
    public static BenchModels FromFiles(string model, DType? quantize, IBackend backend)
    {
        var files = ModelFiles.Resolve(model, null, null, null);
        var loaded = new List<IDisposable>();
        try
        {
            var mert = Keep(MertModel.Load(files.Mert, backend), loaded);
            ProjectorModel projector;
            using (var ck = CheckpointFile.Open(files.Projector))
                projector = Keep(ProjectorModel.Load(ck, backend), loaded);
            long before = backend.AllocatedBytes;
            var llm = Keep(MistralModel.Load(files.Llm, backend,
                new MistralLoadOptions { Quantize = quantize, LoraFolder = files.LoraAdapter }), loaded);
            long embedding = llm.Config.TieWordEmbeddings ? 0 : EmbeddingBytes(files.Llm, quantize);
            return new BenchModels(mert, projector, llm, model, llm.Description, backend.AllocatedBytes - before - embedding);
        }
        catch
        {
            foreach (var d in loaded) d.Dispose();
            throw;
        }
    }

    /// <summary>The embedding table's size on the device, by <see cref="MistralWeightUpload.Matrix"/>'s rules: block-quantized
    /// tables stay as stored, K-quants become F32, float tables take <paramref name="quantize"/> when given.</summary>
    static long EmbeddingBytes(string llmPath, DType? quantize)
    {
        using var file = CheckpointFile.Open(llmPath);
        var table = file.Find("model.embed_tokens.weight") ?? file.Find("token_embd.weight")
            ?? throw new LoaderException(llmPath, "no embedding table (model.embed_tokens.weight or token_embd.weight)");
        DType onDevice = table.DType switch
        {
            DType.Q4_K or DType.Q6_K => DType.F32,
            DType.Q8_0 or DType.Q4_0 => table.DType,
            _ => quantize ?? table.DType,
        };
        return onDevice.ByteSize(table.ElementCount);
    }

    static T Keep<T>(T value, List<IDisposable> list) where T : IDisposable
    {
        list.Add(value);
        return value;
    }

    public void Dispose()
    {
        llm.Dispose();
        projector.Dispose();
        mert.Dispose();
    }
}
