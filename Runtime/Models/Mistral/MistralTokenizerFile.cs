using System.Collections;
using System.Globalization;
using SonicVerse.Loader;
using SonicVerse.Runtime.Text;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>Finds the tokenizer that belongs to a model: a HF folder's <c>tokenizer.model</c>, or a GGUF file's
/// embedded <c>tokenizer.ggml.*</c> arrays (SPEC §6).</summary>
public static class MistralTokenizerFile
{
    /// <summary><paramref name="path"/>: a model folder, a <c>tokenizer.model</c>, or a GGUF file.</summary>
    public static MistralTokenizer Open(string path)
    {
        if (Directory.Exists(path))
        {
            string model = Path.Combine(path, "tokenizer.model");
            if (!File.Exists(model)) throw new LoaderException(path, "no tokenizer.model in the model folder");
            return MistralTokenizer.FromSentencePieceModel(model);
        }
        if (!File.Exists(path)) throw new LoaderException(path, "no such file or folder");
        if (!IsGguf(path)) return MistralTokenizer.FromSentencePieceModel(path);
        using var gguf = CheckpointFile.Open(path);
        return FromGguf(gguf);
    }

    public static MistralTokenizer FromGguf(ICheckpoint gguf)
    {
        var meta = gguf.Metadata;
        if (meta.TryGetValue("tokenizer.ggml.model", out var kind) && kind is string k && k != "llama")
            throw new LoaderException(gguf.Path, $"tokenizer.ggml.model is '{k}', expected 'llama' (SentencePiece BPE)");
        string[] tokens = Array(gguf, "tokenizer.ggml.tokens", v => v as string ?? "");
        float[] scores = Array(gguf, "tokenizer.ggml.scores", v => Convert.ToSingle(v, CultureInfo.InvariantCulture));
        int[] types = Array(gguf, "tokenizer.ggml.token_type", v => Convert.ToInt32(v, CultureInfo.InvariantCulture));
        int Id(string key, int fallback) => meta.TryGetValue(key, out var v) && v is IConvertible
            ? Convert.ToInt32(v, CultureInfo.InvariantCulture) : fallback;
        bool dummyPrefix = !meta.TryGetValue("tokenizer.ggml.add_space_prefix", out var p) || p is not false;
        return MistralTokenizer.FromVocabulary(tokens, scores, types,
            Id("tokenizer.ggml.bos_token_id", 1), Id("tokenizer.ggml.eos_token_id", 2), Id("tokenizer.ggml.unknown_token_id", 0),
            dummyPrefix);
    }

    static T[] Array<T>(ICheckpoint gguf, string key, Func<object, T> convert) =>
        gguf.Metadata.TryGetValue(key, out var value) && value is IEnumerable items and not string
            ? items.Cast<object>().Select(convert).ToArray()
            : throw new LoaderException(gguf.Path, $"no '{key}' array: the GGUF carries no tokenizer");

    static bool IsGguf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual("GGUF"u8);
    }
}
