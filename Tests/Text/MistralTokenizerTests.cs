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

    /// <summary>Microsoft.ML.Tokenizers' LlamaTokenizer (SPEC §6) as a second implementation of the same model. It treats
    /// literal "&lt;s&gt;" as text like SentencePiece, and agrees on every kit case but two: it drops the BOS of empty
    /// text, and on a run of equal-score merges ("aaaa…") it does not merge leftmost first as bpe_model.cc does (the
    /// kit's SentencePiece and llama.cpp ids agree with each other there, and with this tokenizer).</summary>
    [Fact]
    public void AgreesWithMlTokenizersLlamaTokenizerExceptKnownDifferences()
    {
        using var stream = File.OpenRead(ReferenceKit.File("tokenizer", "tokenizer.model"));
        var llama = LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
        var differing = TextKit.Cases.Where(c => !llama.EncodeToIds(c.Text).SequenceEqual(c.Ids)).Select(c => c.Text).ToArray();
        foreach (string text in differing) output.WriteLine($"ML.Tokenizers differs on '{text}': [{string.Join(",", llama.EncodeToIds(text))}]");
        Assert.Equal(["", new string('a', 58)], differing);
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

    /// <summary>Bound on CPU time of this thread, not wall time: the test machine may be shared and loaded.</summary>
    [Fact]
    public void Encodes100KilobytesWellUnderASecond()
    {
        var text = new StringBuilder();
        while (text.Length < 100_000)
            foreach (var c in TextKit.Cases.Where(c => c.Decoded == c.Text)) text.Append(c.Text).Append(' ');
        string s = text.ToString();
        Tok.Encode(s, addBos: true); // JIT warm-up
        var wall = Stopwatch.StartNew();
        TimeSpan cpuStart = ThreadCpuTime.Now;
        int[] ids = Tok.Encode(s, addBos: true);
        TimeSpan cpu = ThreadCpuTime.Now - cpuStart;
        output.WriteLine($"encoded {s.Length} chars -> {ids.Length} ids: {cpu.TotalMilliseconds:F1} ms CPU, " +
                         $"{wall.Elapsed.TotalMilliseconds:F1} ms wall");
        Assert.Equal(s, Tok.Decode(ids));
        Assert.True(cpu < TimeSpan.FromSeconds(0.5), $"took {cpu} CPU");
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

/// <summary>CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID); wall time elsewhere.</summary>
static partial class ThreadCpuTime
{
    const int ClockThreadCpuTimeId = 3;

    struct TimeSpec
    {
        public long Seconds, Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static TimeSpan Now
    {
        get
        {
            if (!OperatingSystem.IsLinux()) return TimeSpan.FromTicks(Stopwatch.GetTimestamp() * TimeSpan.TicksPerSecond / Stopwatch.Frequency);
            if (ClockGetTime(ClockThreadCpuTimeId, out var t) != 0) throw new InvalidOperationException("clock_gettime failed");
            return TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100);
        }
    }
}
