using SonicVerse.Runtime.Benchmarking;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Text;
using Xunit.Abstractions;

namespace SonicVerse.Tests.Benchmarking;

/// <summary>The token counts <c>bench --describe-seconds</c> stands on, against the real Mistral tokenizer (kit) and the
/// real chunking.</summary>
public class DescribeWorkloadTests(ITestOutputHelper output)
{
    const int Rate = 24000, Slots = 60;

    /// <summary>The real canvas (760 frames, MERT's hop 320 and receptive field 400): 10.13 s.</summary>
    const int MaxClip = 759 * 320 + 400;

    [Fact]
    public void ChunkPromptCountsAreTheTokenizers()
    {
        var prompt = SonicVersePrompt.Encode(TextKit.Tokenizer, SonicVersePrompt.DemoUserText);
        output.WriteLine($"{prompt.Ids.Length} ids, slots from {prompt.SlotPositions[0]}");
        Assert.Equal(DescribeWorkload.ChunkPromptTextTokens, prompt.Ids.Count(id => id != SonicVersePrompt.SlotId));
        Assert.Equal(DescribeWorkload.ChunkSlotStart, prompt.SlotPositions[0]);
        Assert.Equal(DescribeWorkload.ChunkPromptTextTokens + Slots,
            DescribeWorkload.ForSong(360, Rate, MaxClip, Slots).ChunkPromptTokens);
    }

    /// <summary>The chaining prompt's length for a 6-minute song whose 36 captions are real-sized sentences: the
    /// workload's estimate (template + a line per chunk) is at least the tokenizer's count and within a token a line.</summary>
    [Fact]
    public void ChainPromptCountsAreTheTokenizers()
    {
        int Tokens(IEnumerable<string> lines) => ChatTemplate.Encode(TextKit.Tokenizer,
            ChainPrompt.UserMessage(ChainPrompt.Render(ChainPrompt.DefaultTemplate, "song", lines)), ChatTemplateVariant.Old).Length;
        Assert.Equal(DescribeWorkload.ChainTemplateTokens, Tokens([]));

        const string caption = "This is a calm piano piece in C major with soft strings and a slow tempo, suitable for relaxation.";
        int captionTokens = TextKit.Tokenizer.Encode(caption, addBos: false).Length;
        var lines = Enumerable.Range(0, 36).Select(i => ChainPrompt.ChunkLine(10 * i, 10 * i + 10, caption)).ToList();
        int actual = Tokens(lines), estimate = DescribeWorkload.ChainTemplateTokens + 36 * (DescribeWorkload.ChunkLineTokens + captionTokens);
        output.WriteLine($"36 lines of {captionTokens}-token captions: {actual} tokens, estimated {estimate}");
        Assert.InRange(estimate - actual, 0, 36);
    }

    [Theory]
    [InlineData(360, 36)]   // six minutes: 36 chunks of 10 s
    [InlineData(365, 37)]   // a 5 s tail is a chunk of its own
    [InlineData(362, 36)]   // a 2 s tail is too short alone and too long to join (12 s > the canvas' 10.13 s): dropped
    [InlineData(4, 1)]      // shorter than a chunk: one chunk
    public void ChunksAreDescribes(double seconds, int chunks)
    {
        var work = DescribeWorkload.ForSong(seconds, Rate, MaxClip, Slots);
        Assert.Equal(chunks, work.Chunks);
        var defaults = new DescribeOptions();
        Assert.Equal(defaults.ChunkGeneration.MaxNewTokens, work.CaptionTokens);
        Assert.Equal(defaults.ChainGeneration.MaxNewTokens, work.ChainTokens);
        Assert.Equal(DescribeWorkload.ChainTemplateTokens + chunks * (DescribeWorkload.ChunkLineTokens + work.CaptionTokens),
            work.ChainPromptTokens);
    }
}
