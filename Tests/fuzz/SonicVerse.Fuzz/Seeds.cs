using SonicVerse.Loader;
using SonicVerse.Tests.Gguf;

namespace SonicVerse.Fuzz;

/// <summary>Seeds no kit file gives in a small enough size: AFL works best on inputs of a few KB.</summary>
static class Seeds
{
    const uint F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8;

    /// <summary>A GGUF with the kinds of content the kit's files have: architecture and integer keys, a token list with
    /// scores and types, and F32, F16, Q8_0 and Q4_0 tensors.</summary>
    public static void WriteGguf(string folder)
    {
        byte[] file = new GgufTestWriter()
            .String("general.architecture", "llama")
            .U32("llama.block_count", 1)
            .StringArray("tokenizer.ggml.tokens", "<unk>", "<s>", "</s>", "▁a")
            .FloatArray("tokenizer.ggml.scores", 0, 0, 0, -1)
            .Kv("tokenizer.ggml.token_type", GgufValueType.Array, w =>
            {
                w.Write((uint)GgufValueType.Int32);
                w.Write(4UL);
                foreach (int t in new[] { 2, 3, 3, 1 }) w.Write(t);
            })
            .U32("tokenizer.ggml.bos_token_id", 1)
            .Tensor("a", [3, 2], F32, GgufTestWriter.Floats(1, 2, 3, 4, 5, 6))
            .Tensor("b", [4], F16, [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x00, 0x00])
            .Tensor("q8", [32, 1], Q8_0, Block(34))
            .Tensor("q4", [32, 1], Q4_0, Block(18))
            .Build();
        File.WriteAllBytes(Path.Combine(folder, "small.gguf"), file);
    }

    /// <summary>A quantized block: scale 1.0 (f16 0x3C00) followed by varied quants.</summary>
    static byte[] Block(int bytes)
    {
        var block = new byte[bytes];
        block[1] = 0x3C;
        for (int j = 2; j < bytes; j++) block[j] = (byte)(j * 37);
        return block;
    }
}
