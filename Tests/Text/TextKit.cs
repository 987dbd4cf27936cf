using System.Text;
using System.Text.Json;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Text;

/// <summary>The kit's tokenizer cases and two independent ways to build the tokenizer.</summary>
public static class TextKit
{
    public sealed record Case(string Text, int[] Ids, int[] IdsNoBos, string[] Pieces, string Decoded, int[] HfIdsNoBos);

    static readonly Lazy<MistralTokenizer> FromModel =
        new(() => MistralTokenizer.FromSentencePieceModel(ReferenceKit.File("tokenizer", "tokenizer.model")));

    static readonly Lazy<MistralTokenizer> FromGguf = new(() =>
    {
        var (tokens, scores, types) = GgufVocabulary.Read(ReferenceKit.File("mistral-tiny", "gguf", "tiny-mistral-f32.gguf"));
        return MistralTokenizer.FromVocabulary(tokens, scores, types);
    });

    static readonly Lazy<Case[]> AllCases = new(LoadCases);

    /// <summary>Built from tokenizer/tokenizer.model.</summary>
    public static MistralTokenizer Tokenizer => FromModel.Value;

    /// <summary>Built from the tokenizer.ggml.* arrays llama.cpp's converter wrote into the kit's GGUF.</summary>
    public static MistralTokenizer GgufTokenizer => FromGguf.Value;

    public static Case[] Cases => AllCases.Value;

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    static Case[] LoadCases()
    {
        using var doc = ReferenceKit.Json("tokenizer", "cases.json");
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!,
            Ints(c.GetProperty("ids")),
            Ints(c.GetProperty("ids_no_bos")),
            c.GetProperty("pieces").EnumerateArray().Select(p => p.GetString()!).ToArray(),
            c.GetProperty("decoded").GetString()!,
            Ints(c.GetProperty("hf_slow_tokenizer_ids_no_bos")))).ToArray();
    }
}

/// <summary>Just enough GGUF (v3) to pull out <c>tokenizer.ggml.tokens/scores/token_type</c>: the header and the
/// key-value section; tensors are never touched. Test-only, so the tokenizer is checked against llama.cpp's arrays
/// without depending on the product's GGUF loader.</summary>
static class GgufVocabulary
{
    const uint TypeString = 8, TypeArray = 9;

    public static (string[] Tokens, float[] Scores, int[] Types) Read(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        if (Encoding.ASCII.GetString(r.ReadBytes(4)) != "GGUF") throw new InvalidDataException($"{path}: not GGUF");
        r.ReadUInt32(); // version
        r.ReadUInt64(); // tensor count
        ulong kvCount = r.ReadUInt64();
        string[]? tokens = null;
        float[]? scores = null;
        int[]? types = null;
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = ReadString(r);
            uint type = r.ReadUInt32();
            object value = ReadValue(r, type);
            switch (key)
            {
                case "tokenizer.ggml.tokens": tokens = ((object[])value).Cast<string>().ToArray(); break;
                case "tokenizer.ggml.scores": scores = ((object[])value).Cast<float>().ToArray(); break;
                case "tokenizer.ggml.token_type": types = ((object[])value).Cast<int>().ToArray(); break;
            }
        }
        return (tokens ?? throw Missing("tokens"), scores ?? throw Missing("scores"), types ?? throw Missing("token_type"));

        InvalidDataException Missing(string what) => new($"{path}: no tokenizer.ggml.{what}");
    }

    static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));

    static object ReadValue(BinaryReader r, uint type) => type switch
    {
        0 => r.ReadByte(),
        1 => r.ReadSByte(),
        2 => r.ReadUInt16(),
        3 => r.ReadInt16(),
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadBoolean(),
        TypeString => ReadString(r),
        TypeArray => ReadArray(r),
        10 => r.ReadUInt64(),
        11 => r.ReadInt64(),
        12 => r.ReadDouble(),
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };

    static object[] ReadArray(BinaryReader r)
    {
        uint elementType = r.ReadUInt32();
        ulong count = r.ReadUInt64();
        var items = new object[count];
        for (ulong i = 0; i < count; i++) items[i] = ReadValue(r, elementType);
        return items;
    }
}
