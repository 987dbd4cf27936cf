namespace SonicVerse.Loader;

/// <summary>Helpers over the C# values GGUF metadata is read into.</summary>
internal static class GgufValues
{
    /// <summary>An integer of any GGUF integer type as long; null for non-integers and for u64 above long.MaxValue.</summary>
    public static long? AsInteger(object value) => value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        ulong v when v <= long.MaxValue => (long)v,
        long v => v,
        _ => null,
    };

    /// <summary>"u32 7", "string \"llama\"", "f32[32000]": the GGUF type (and a short value) for error messages.</summary>
    public static string Describe(object value) => value switch
    {
        string s => $"string \"{(s.Length > 40 ? s[..40] + "…" : s)}\"",
        System.Array a => $"{TypeName(a.GetType().GetElementType()!)}[{a.Length}]",
        _ => $"{TypeName(value.GetType())} {value}",
    };

    static string TypeName(Type t) => t switch
    {
        _ when t == typeof(byte) => "u8",
        _ when t == typeof(sbyte) => "i8",
        _ when t == typeof(ushort) => "u16",
        _ when t == typeof(short) => "i16",
        _ when t == typeof(uint) => "u32",
        _ when t == typeof(int) => "i32",
        _ when t == typeof(ulong) => "u64",
        _ when t == typeof(long) => "i64",
        _ when t == typeof(float) => "f32",
        _ when t == typeof(double) => "f64",
        _ when t == typeof(bool) => "bool",
        _ when t == typeof(string) => "string",
        _ => "array",
    };
}

/// <summary>
/// The vocabulary llama.cpp embeds under <c>tokenizer.ggml.*</c>: token strings, SentencePiece scores, token types
/// (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), and the special ids.
/// </summary>
public sealed record GgufVocabulary(
    string? Model,
    string[] Tokens,
    float[]? Scores,
    int[]? TokenTypes,
    int? BosId,
    int? EosId,
    int? UnknownId,
    int? PaddingId,
    bool? AddBos,
    bool? AddEos)
{
    internal static GgufVocabulary? From(GgufCheckpoint gguf)
    {
        var tokens = gguf.GetArray<string>("tokenizer.ggml.tokens");
        if (tokens is null) return null;
        var scores = gguf.GetArray<float>("tokenizer.ggml.scores");
        var types = gguf.GetArray<int>("tokenizer.ggml.token_type");
        CheckLength(gguf, "tokenizer.ggml.scores", scores?.Length, tokens.Length);
        CheckLength(gguf, "tokenizer.ggml.token_type", types?.Length, tokens.Length);
        return new GgufVocabulary(
            gguf.GetString("tokenizer.ggml.model"), tokens, scores, types,
            Id(gguf, "tokenizer.ggml.bos_token_id", tokens.Length),
            Id(gguf, "tokenizer.ggml.eos_token_id", tokens.Length),
            Id(gguf, "tokenizer.ggml.unknown_token_id", tokens.Length),
            Id(gguf, "tokenizer.ggml.padding_token_id", tokens.Length),
            gguf.GetBool("tokenizer.ggml.add_bos_token"),
            gguf.GetBool("tokenizer.ggml.add_eos_token"));
    }

    static void CheckLength(GgufCheckpoint gguf, string key, int? length, int expected)
    {
        if (length is { } n && n != expected)
            throw new LoaderException(gguf.Path, $"key '{key}': expected {expected} entries (one per token), found {n}");
    }

    static int? Id(GgufCheckpoint gguf, string key, int vocabSize)
    {
        long? id = gguf.GetInteger(key);
        if (id is null) return null;
        if (id < 0 || id >= vocabSize)
            throw new LoaderException(gguf.Path, $"key '{key}': token id {id} outside the vocabulary of {vocabSize}");
        return (int)id;
    }
}
