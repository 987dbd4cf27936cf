using System.Diagnostics;
using System.Text;
using Microsoft.ML.Tokenizers;
using SonicVerse.Loader;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Support;
using Xunit.Abstractions;

namespace SonicVerse.Tests.Text;

public class MistralTokenizerTests(ITestOutputHelper output)
{
    static MistralTokenizer Tok => TextKit.Tokenizer;

    [Fact]
    public void ModelFileGivesMistralVocabulary()
    {
        Assert.Equal(32000, Tok.VocabSize);
        Assert.Equal(1, Tok.BosId);
        Assert.Equal(2, Tok.EosId);
        Assert.Equal(0, Tok.UnknownId);
        Assert.True(Tok.ByteFallback);
        Assert.Equal("<0x00>", Tok.IdToPiece(3));
        Assert.Equal("<0xFF>", Tok.IdToPiece(258));
        Assert.Equal("▁▁", Tok.IdToPiece(259));
    }

    [Fact]
    public void EncodesEveryKitCaseAsSentencePiece()
    {
        foreach (var c in TextKit.Cases)
        {
            Assert.Equal(c.Ids, Tok.Encode(c.Text, addBos: true));
            Assert.Equal(c.IdsNoBos, Tok.Encode(c.Text, addBos: false));
            Assert.Equal(c.Pieces, c.IdsNoBos.Select(Tok.IdToPiece));
        }
    }

    [Fact]
    public void DecodesEveryKitCaseAsSentencePiece()
    {
        foreach (var c in TextKit.Cases)
        {
            Assert.Equal(c.Decoded, Tok.Decode(c.Ids));
            Assert.Equal(c.Decoded, Tok.Decode(c.IdsNoBos));
        }
    }

    [Fact]
    public void GgufArraysGiveTheSameIdsAsTheModelFile()
    {
        var gguf = TextKit.GgufTokenizer;
        Assert.Equal(Tok.VocabSize, gguf.VocabSize);
        foreach (var c in TextKit.Cases)
        {
            Assert.Equal(c.Ids, gguf.Encode(c.Text, addBos: true));
            Assert.Equal(c.Decoded, gguf.Decode(c.Ids));
        }
        foreach (var (text, ids) in KitPrompts()) Assert.Equal(ids, gguf.Encode(text, addBos: true));
    }

    [Fact]
    public void EncodesMistralTinyPrompts()
    {
        foreach (var (text, ids) in KitPrompts())
        {
            Assert.Equal(ids, Tok.Encode(text, addBos: true));
            Assert.Equal(text, Tok.Decode(ids));
        }
    }

    /// <summary>Microsoft.ML.Tokenizers' LlamaTokenizer as a second implementation. It agrees with SentencePiece on
    /// every kit case except those whose text holds a literal special token, which it parses as that token (as HF
    /// does): there it must give HF's ids instead.</summary>
    [Fact]
    public void AgreesWithMlTokenizersLlamaTokenizer()
    {
        using var stream = File.OpenRead(ReferenceKit.File("tokenizer", "tokenizer.model"));
        var llama = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        foreach (var c in TextKit.Cases)
        {
            var theirs = llama.EncodeToIds(c.Text).ToArray();
            bool hasSpecialLiteral = c.Text.Contains("<s>") || c.Text.Contains("</s>") || c.Text.Contains("<unk>");
            if (!theirs.SequenceEqual(c.IdsNoBos))
                output.WriteLine($"ML.Tokenizers differs on {c.Text}: [{string.Join(",", theirs)}]");
            Assert.Equal(hasSpecialLiteral ? c.HfIdsNoBos : c.IdsNoBos, theirs);
            Assert.Equal(c.IdsNoBos, Tok.Encode(c.Text, addBos: false));
        }
    }

    [Fact]
    public void StreamedIncrementsConcatenateToDecodeAndNeverSplitACharacter()
    {
        foreach (var c in TextKit.Cases)
        {
            var streamer = new TextStreamer(Tok);
            var text = new StringBuilder();
            foreach (int id in c.Ids)
            {
                string increment = streamer.Append(id);
                Assert.DoesNotContain('\uFFFD', increment);
                Assert.False(increment.Length > 0 && char.IsHighSurrogate(increment[^1]), $"split surrogate in {c.Text}");
                text.Append(increment);
            }
            text.Append(streamer.Flush());
            Assert.Equal(c.Decoded, text.ToString());
        }
    }

    [Fact]
    public void StreamerHoldsBackAPartialCharacter()
    {
        // 🦙 = "▁" + <0xF0> <0x9F> <0xA6> <0x99> (kit case): nothing comes out until the 4th byte.
        var streamer = new TextStreamer(Tok);
        Assert.Equal(["", "", "", "", "🦙"], new[] { 28705, 243, 162, 169, 156 }.Select(streamer.Append));
        // An unfinished character at the end becomes U+FFFD, as SentencePiece's decoder gives.
        Assert.Equal("", streamer.Append(243));
        Assert.Equal("\uFFFD", streamer.Flush());
    }

    [Fact]
    public void DecodeSkipsOrShowsSpecialTokens()
    {
        int[] ids = [1, 22557, 1526, 2];
        Assert.Equal("Hello world", Tok.Decode(ids));
        Assert.Equal("<s>Hello world</s>", Tok.Decode(ids, skipSpecial: false));
    }

    [Fact]
    public void Encodes100KilobytesWellUnderASecond()
    {
        var text = new StringBuilder();
        while (text.Length < 100_000)
            foreach (var c in TextKit.Cases.Where(c => c.Decoded == c.Text)) text.Append(c.Text).Append(' ');
        string s = text.ToString();
        Tok.Encode("warm up", addBos: true);
        var clock = Stopwatch.StartNew();
        int[] ids = Tok.Encode(s, addBos: true);
        clock.Stop();
        output.WriteLine($"encoded {s.Length} chars -> {ids.Length} ids in {clock.Elapsed.TotalMilliseconds:F1} ms");
        Assert.Equal(s, Tok.Decode(ids));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
    }

    [Fact]
    public void RejectsBadInput()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([32000]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.IdToPiece(-1));
        byte[] truncated = File.ReadAllBytes(ReferenceKit.File("tokenizer", "tokenizer.model"))[..1000];
        Assert.Throws<LoaderException>(() => SentencePieceModel.Read(truncated, "truncated.model"));
        Assert.Throws<ArgumentException>(() => MistralTokenizer.FromVocabulary(["a"], [0f, 1f], [1]));
    }

    static IEnumerable<(string Text, int[] Ids)> KitPrompts()
    {
        using var doc = ReferenceKit.Json("mistral-tiny", "ref", "prompts.json");
        return doc.RootElement.GetProperty("prompts").EnumerateArray()
            .Select(p => (p.GetProperty("text").GetString()!, TextKit.Ints(p.GetProperty("ids")))).ToArray();
    }
}
