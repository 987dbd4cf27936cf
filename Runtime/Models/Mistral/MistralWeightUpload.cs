using System.Numerics.Tensors;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>Host → device for decoder weights: matrices keep their stored dtype (F32/F16/BF16/Q8_0/Q4_0, which MatMul
/// and Embedding read directly) unless they must be changed on load: K-quants are dequantized to F32, a merged LoRA
/// delta makes the result F32, and <c>--quant</c> quantizes with llama.cpp's reference rounding.</summary>
public static class MistralWeightUpload
{
    /// <summary>llama.cpp's quantize_row_q8_0_ref / q4_0_ref over whole rows; the row length must be a multiple of 32.</summary>
    public static byte[] Quantize(ReadOnlySpan<float> values, DType target)
    {
        long bytes = target.ByteSize(values.Length);
        if (target is not (DType.Q8_0 or DType.Q4_0) || bytes < 0)
            throw new ArgumentException($"cannot quantize {values.Length} values to {target} (Q8_0/Q4_0, multiples of 32)");
        var result = new byte[bytes];
        if (target == DType.Q8_0) GgufQuants.QuantizeQ8_0(values, result);
        else GgufQuants.QuantizeQ4_0(values, result);
        return result;
    }

    /// <summary>Uploads a [out, in] matrix; <paramref name="delta"/> (same order and shape, fp32) is added first.</summary>
    public static DeviceTensor Matrix(IBackend backend, ICheckpoint file, TensorEntry entry, DType? quantize, float[]? delta)
    {
        int[] shape = entry.ShapeAsInt();
        bool keepsStored = delta is null && !entry.DType.IsKQuant() && (quantize is null || entry.DType.IsQuantized());
        if (keepsStored)
        {
            if (entry.DType is not (DType.F32 or DType.F16 or DType.BF16 or DType.Q8_0 or DType.Q4_0))
                throw new LoaderException(file.Path, entry.Name, $"dtype {entry.DType} is not a supported weight type");
            return backend.Upload(entry.Bytes, entry.DType, shape);
        }
        float[] values = entry.ToFloat32();
        if (delta is not null) TensorPrimitives.Add(values, delta, values);
        if (quantize is not { } target) return backend.Upload(values, shape);
        if (shape[^1] % target.BlockElements() != 0)
            throw new LoaderException(file.Path, entry.Name, $"rows of {shape[^1]} values cannot be quantized to {target} (blocks of 32)");
        return backend.Upload(Quantize(values, target), target, shape);
    }

    /// <summary>Norm weights are always F32 on the device (RMSNorm runs in fp32).</summary>
    public static DeviceTensor Vector(IBackend backend, TensorEntry entry) => backend.Upload(entry.ToFloat32(), entry.ShapeAsInt());

    /// <summary>ΔW = scale · (B·A) in fp32, as peft's merge computes it: [out, in].</summary>
    public static float[] LoraDelta(LoraPair pair)
    {
        var delta = new float[(long)pair.Out * pair.In];
        Parallel.For(0, pair.Out, o =>
        {
            var row = delta.AsSpan(o * pair.In, pair.In);
            for (int r = 0; r < pair.Rank; r++)
                TensorPrimitives.MultiplyAdd(pair.A.AsSpan(r * pair.In, pair.In), pair.B[o * pair.Rank + r], row, row);
            TensorPrimitives.Multiply(row, pair.Scale, row);
        });
        return delta;
    }

    static bool IsKQuant(this DType t) => t is DType.Q4_K or DType.Q6_K;
}
