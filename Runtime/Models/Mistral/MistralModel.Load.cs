using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

public sealed partial class MistralModel
{
    /// <summary>
    /// Loads a HF folder (config.json + safetensors in bf16/f16/f32, sharded or not) or a GGUF file (arch llama;
    /// F32/F16/Q8_0/Q4_0 kept as stored, Q4_K/Q6_K dequantized to F32) onto <paramref name="backend"/>.
    /// </summary>
    public static MistralModel Load(string path, IBackend backend, MistralLoadOptions? options = null)
    {
        using var checkpoint = MistralCheckpoint.Open(path);
        return Load(checkpoint, backend, options ?? new MistralLoadOptions());
    }

    /// <summary>Loads HF-named tensors from an already open checkpoint (e.g. a synthetic one for benchmarks) with
    /// <paramref name="config"/> given directly. The caller keeps ownership of <paramref name="file"/>.</summary>
    public static MistralModel Load(ICheckpoint file, MistralConfig config, IBackend backend, MistralLoadOptions? options = null)
    {
        var checkpoint = MistralCheckpoint.FromHf(file, config);
        return Load(checkpoint, backend, options ?? new MistralLoadOptions());
    }

    /// <summary>What the weights will take on the device, before anything is uploaded: matrices quantized on load take
    /// their block size, K-quants and merged-LoRA matrices widen to fp32, everything else stays as stored.</summary>
    static long DeviceBytes(ICheckpoint file, MistralLoadOptions options)
    {
        long total = 0;
        foreach (var t in file.Tensors)
        {
            bool matrix = t.Shape.Count == 2;
            total += matrix && options.Quantize is { } q ? Math.Max(0, q.ByteSize(t.ElementCount))
                : t.DType is DType.Q4_K or DType.Q6_K || (matrix && options.MergeLora) ? t.ElementCount * 4
                : t.ByteLength;
        }
        return total;
    }

    static MistralModel Load(MistralCheckpoint checkpoint, IBackend backend, MistralLoadOptions options)
    {
        if (options.Quantize is { } q && q is not (DType.Q8_0 or DType.Q4_0))
            throw new ArgumentException($"--quant: {q} is not supported (q8_0 or q4_0)");
        var config = checkpoint.Config;
        MemoryBudget.EnsureFits(backend, DeviceBytes(checkpoint.File, options), $"the language model {checkpoint.File.Path}");
        if (options.Lora is not null && options.LoraFolder is not null)
            throw new ArgumentException("give a LoRA adapter folder or an adapter in memory, not both");
        var adapter = options.Lora
                      ?? (options.LoraFolder is { } folder ? LoraAdapter.Load(folder, config, options.LoraWeightsFile) : null);
        var sidePath = options.MergeLora ? null : adapter;
        // The side path's A and scale·B in bf16 when every value is one (the kit's adapter is stored bf16, and a
        // power-of-two scale keeps B exact), else fp32: lossless either way, half the bytes a step in the first case.
        var loraDType = sidePath is not null && LoraExactInBf16(sidePath) ? DType.BF16 : DType.F32;

        var uploaded = new List<IDisposable>();
        try
        {
            var blocks = new MistralBlock[config.LayerCount];
            for (int i = 0; i < config.LayerCount; i++)
            {
                blocks[i] = LoadBlock(backend, checkpoint, i, options, adapter, loraDType);
                uploaded.Add(blocks[i]);
            }
            var embedding = MistralWeightUpload.Matrix(backend, checkpoint.File, checkpoint.Embedding, options.Quantize, null);
            uploaded.Add(embedding);
            var finalNorm = MistralWeightUpload.Vector(backend, checkpoint.FinalNorm);
            uploaded.Add(finalNorm);
            var lmHead = ReferenceEquals(checkpoint.LmHead, checkpoint.Embedding)
                ? embedding
                : MistralWeightUpload.Matrix(backend, checkpoint.File, checkpoint.LmHead, options.Quantize, null);
            string description = Describe(checkpoint, options, adapter, loraDType);
            return new MistralModel(backend, config, checkpoint.Layout, embedding, finalNorm, lmHead, blocks,
                sidePath?.Rank ?? 0, description);
        }
        catch
        {
            foreach (var d in uploaded) d.Dispose();
            throw;
        }
    }

    static MistralBlock LoadBlock(IBackend backend, MistralCheckpoint checkpoint, int layer, MistralLoadOptions options,
        LoraAdapter? adapter, DType loraDType)
    {
        var tensors = checkpoint.Blocks[layer];
        var linear = new Dictionary<MistralProjection, MistralLinear>();
        var attnNorm = MistralWeightUpload.Vector(backend, tensors.AttnNorm);
        var mlpNorm = MistralWeightUpload.Vector(backend, tensors.MlpNorm);
        foreach (var (projection, entry) in tensors.Projections)
        {
            var pair = adapter?.Find(layer, projection);
            int? permuteHeadDim = checkpoint.Layout == RopeLayout.Interleaved
                && projection is MistralProjection.QProj or MistralProjection.KProj ? checkpoint.Config.HeadDim : null;
            if (pair is not null && options.MergeLora)
            {
                var delta = InCheckpointRowOrder(MistralWeightUpload.LoraDelta(pair), pair.In, permuteHeadDim);
                linear[projection] = new MistralLinear(
                    MistralWeightUpload.Matrix(backend, checkpoint.File, entry, options.Quantize, delta), null, null);
                continue;
            }
            var weight = MistralWeightUpload.Matrix(backend, checkpoint.File, entry, options.Quantize, null);
            if (pair is null)
            {
                linear[projection] = new MistralLinear(weight, null, null);
                continue;
            }
            // Side path: B's rows are output rows, so they follow the checkpoint's q/k row order; B is stored scaled.
            var a = UploadLora(backend, pair.A, loraDType, pair.Rank, pair.In);
            var scaledB = InCheckpointRowOrder(pair.B, pair.Rank, permuteHeadDim).Select(b => b * pair.Scale).ToArray();
            linear[projection] = new MistralLinear(weight, a, UploadLora(backend, scaledB, loraDType, pair.Out, pair.Rank));
        }
        return new MistralBlock(attnNorm, mlpNorm, linear);
    }

    /// <summary>Whether every value of the side path's A and scale·B matrices is a bf16 value (low 16 bits zero).</summary>
    static bool LoraExactInBf16(LoraAdapter adapter)
    {
        static bool Exact(float v) => (BitConverter.SingleToUInt32Bits(v) & 0xFFFF) == 0;
        foreach (var pair in adapter.Pairs)
        {
            foreach (float a in pair.A) if (!Exact(a)) return false;
            foreach (float b in pair.B) if (!Exact(b * pair.Scale)) return false;
        }
        return true;
    }

    /// <summary>A side-path matrix [rows, cols] as <paramref name="dtype"/>: F32, or BF16 for values that are all bf16
    /// (<see cref="LoraExactInBf16"/>: their top 16 bits).</summary>
    static DeviceTensor UploadLora(IBackend backend, float[] values, DType dtype, int rows, int cols)
    {
        if (dtype == DType.F32) return backend.Upload(values, rows, cols);
        var bf16 = new ushort[values.Length];
        for (int i = 0; i < bf16.Length; i++) bf16[i] = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
        return backend.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(bf16.AsSpan()), DType.BF16, rows, cols);
    }

    /// <summary>LoRA tensors come in HF row order; a GGUF's q/k rows are permuted (<see cref="GgufRowOrder"/>).</summary>
    static float[] InCheckpointRowOrder(float[] rows, int rowLength, int? permuteHeadDim) =>
        permuteHeadDim is { } d ? GgufRowOrder.HfToGguf<float>(rows, rowLength, d) : rows;

    static string Describe(MistralCheckpoint checkpoint, MistralLoadOptions options, LoraAdapter? adapter, DType loraDType)
    {
        var stored = checkpoint.Blocks[0].Projections.Values.Select(t => t.DType).Distinct();
        string weights = options.Quantize is { } q ? $"{q} (quantized on load)" : string.Join("/", stored);
        string applied = options.MergeLora ? "merged" : $"side path, {loraDType.ToString().ToLowerInvariant()}";
        string lora = adapter is null ? "" : $", LoRA r={adapter.Rank} scale={adapter.Scale} ({applied})";
        var c = checkpoint.Config;
        return $"{checkpoint.File.Format} {c.LayerCount} layers, hidden {c.HiddenSize}, vocab {c.VocabSize}, weights {weights}, " +
               $"RoPE {checkpoint.Layout}{lora}";
    }
}
