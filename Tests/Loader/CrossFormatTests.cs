using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Loader;

/// <summary>The same tensors read from two formats of the kit must agree bit for bit (or within the quantization step).</summary>
public class CrossFormatTests
{
    [Fact]
    public void EveryKitWeightFileOpensAndEveryTensorIsReadable()
    {
        var files = KitWeights.AllWeightFiles().ToList();
        Assert.True(files.Count >= 15, $"expected the kit's weight files, found {files.Count}");
        foreach (string file in files)
        {
            using var checkpoint = CheckpointFile.Open(file);
            Assert.NotEmpty(checkpoint.Tensors);
            foreach (var t in checkpoint.Tensors)
                Assert.Equal(t.ByteLength, t.Bytes.Length);
        }
    }

    [Theory]
    [InlineData("mert-tiny/model/pytorch_model.bin", "mert-tiny/model/model.safetensors")]
    [InlineData("mert-tiny/model-prelayernorm/pytorch_model.bin", "mert-tiny/model-prelayernorm/model.safetensors")]
    [InlineData("mistral-tiny/lora/adapter_model.bin", "mistral-tiny/lora/adapter_model.safetensors")]
    public void PyTorchZipEqualsSafetensorsBitForBit(string bin, string safetensors)
    {
        using var a = CheckpointFile.Open(ReferenceKit.File(bin.Split('/')));
        using var b = CheckpointFile.Open(ReferenceKit.File(safetensors.Split('/')));
        Assert.Equal(b.Tensors.Select(t => t.Name).Order(), a.Tensors.Select(t => t.Name).Order());
        foreach (var ta in a.Tensors)
        {
            var tb = b.Find(ta.Name)!;
            Assert.Equal(tb.DType, ta.DType);
            Assert.Equal(tb.Shape, ta.Shape);
            Assert.True(ta.Bytes.SequenceEqual(tb.Bytes), $"{ta.Name}: bytes differ");
        }
    }

    [Fact]
    public void GgufF32EqualsHfBf16AfterTheQkRowPermutation()
    {
        using var hf = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));
        using var gguf = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "gguf", "tiny-mistral-f32.gguf"));
        using var config = ReferenceKit.Json("mistral-tiny", "hf", "config.json");
        Assert.Equal(hf.Tensors.Count, gguf.Tensors.Count);
        foreach (var g in gguf.Tensors)
        {
            var h = hf.Find(KitWeights.HfNameOfGguf(g.Name)) ?? throw new Xunit.Sdk.XunitException($"no HF tensor for {g.Name}");
            Assert.Equal(DType.F32, g.DType);
            Assert.Equal(h.Shape, g.Shape);
            float[] expected = HfInGgufRowOrder(h, config.RootElement);
            float[] actual = g.ToFloat32();
            for (int i = 0; i < expected.Length; i++)
                if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                    Assert.Fail($"{g.Name}[{i}]: GGUF {actual[i]} != HF {expected[i]}");
        }
    }

    [Theory]
    [InlineData("tiny-mistral-q8_0.gguf")]
    [InlineData("tiny-mistral-q4_0.gguf")]
    public void GgufQuantizedDequantizesWithinHalfAStepOfHf(string file)
    {
        using var hf = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));
        using var gguf = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "gguf", file));
        using var config = ReferenceKit.Json("mistral-tiny", "hf", "config.json");
        int quantized = 0;
        foreach (var g in gguf.Tensors)
        {
            var h = hf.Find(KitWeights.HfNameOfGguf(g.Name))!;
            float[] expected = HfInGgufRowOrder(h, config.RootElement);
            float[] actual = g.ToFloat32();
            if (!g.DType.IsQuantized())
            {
                Assert.Equal(expected, actual);
                continue;
            }
            quantized++;
            float[] scales = BlockScales(g);
            for (int i = 0; i < expected.Length; i++)
            {
                float step = Math.Abs(scales[i / 32]);
                // ggml's Q4_0 maps the block's signed extreme to -8; a value of the opposite sign and equal magnitude
                // would need +8 and is clamped to +7: that one value may be a whole step off (quantize_row_q4_0_ref).
                // ggml computes q with the exact fp32 scale but stores d as f16, so each value may also be off by
                // |q|·|d|·2⁻¹¹ (f16 rounding of d); a strict half step does not hold for ggml's own quantizer.
                float quant = step == 0 ? 0 : Math.Abs(actual[i]) / step;
                float allowed = 0.5f * step * 1.0001f + quant * step / 2048f + 1e-7f;
                float error = Math.Abs(actual[i] - expected[i]);
                bool clampedTop = g.DType == DType.Q4_0 && Math.Abs(actual[i] - 7 * scales[i / 32]) < 1e-12f;
                if (error > allowed && !(clampedTop && error <= step * 1.0001f))
                    Assert.Fail($"{g.Name}[{i}]: dequantized {actual[i]} vs HF {expected[i]}, block scale {step}");
            }
        }
        Assert.True(quantized >= 14, $"expected every 2-D tensor quantized, got {quantized}");
    }

    /// <summary>HF values widened to fp32, with q/k rows reordered the way the GGUF converter stores them.</summary>
    static float[] HfInGgufRowOrder(TensorEntry hf, System.Text.Json.JsonElement config)
    {
        float[] values = hf.ToFloat32();
        int heads = KitWeights.PermutedHeads(hf.Name, config);
        if (heads == 0) return values;
        int rows = (int)hf.Shape[0], cols = (int)hf.Shape[1], headDim = rows / heads;
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
            Array.Copy(values, KitWeights.HfRowOfGgufRow(r, headDim) * cols, result, r * cols, cols);
        return result;
    }

    /// <summary>The f16 scale d that starts every 32-value block (Q8_0: 34-byte blocks, Q4_0: 18-byte blocks).</summary>
    static float[] BlockScales(TensorEntry t)
    {
        int blockBytes = t.DType.BlockBytes();
        var bytes = t.Bytes;
        var scales = new float[bytes.Length / blockBytes];
        for (int b = 0; b < scales.Length; b++)
            scales[b] = (float)BitConverter.UInt16BitsToHalf(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(b * blockBytes)..]));
        return scales;
    }
}
