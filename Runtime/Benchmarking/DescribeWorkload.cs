using SonicVerse.Runtime.Pipeline;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>
/// The model work of <c>describe</c> on a song of a given length, in the token counts that set its cost (SPEC §8):
/// every chunk through MERT and the projector, all chunks' prompts prefilled together and their captions decoded in one
/// batch, then the chaining prompt prefilled and the description decoded. Captions and the description run to their
/// <see cref="DescribeOptions"/> limits (128 and 1000 tokens): the upper bound a song can cost, since synthetic weights
/// say nothing about where real ones would stop.
/// </summary>
/// <param name="ChunkPromptTokens">each chunk's prompt: the text tokens around its sound slots plus the slots.</param>
/// <param name="ChainPromptTokens">the chaining prompt: template, then a time-stamped line per chunk caption.</param>
public sealed record DescribeWorkload(double SongSeconds, int Chunks, int ChunkPromptTokens, int CaptionTokens, int ChainPromptTokens,
    int ChainTokens)
{
    /// <summary>Text tokens of the chunk prompt <c>[INST] Describe the music. &lt;sound&gt; [/INST]</c> besides its sound
    /// slots, as Mistral's tokenizer encodes it (with BOS); a test checks it against the real tokenizer.</summary>
    public const int ChunkPromptTextTokens = 14;

    /// <summary>Where the chunk prompt's sound slots start: after BOS and "[INST] Describe the music." (checked against
    /// the real tokenizer by a test).</summary>
    public const int ChunkSlotStart = 9;

    /// <summary>Tokens of the rendered chaining prompt with no chunk lines, chat template included (song name "song");
    /// checked against the real tokenizer by a test.</summary>
    public const int ChainTemplateTokens = 138;

    /// <summary>Tokens a chunk line adds besides its caption (" 350 to 360 seconds. " and the line break: Mistral's
    /// tokenizer spells numbers digit by digit, 11.4 tokens a line on average over a 6-minute song's stamps; 12 keeps
    /// the estimate an upper bound). Checked against the real tokenizer by a test.</summary>
    public const int ChunkLineTokens = 12;

    /// <summary>The workload for <paramref name="songSeconds"/> of audio cut as <c>describe</c> cuts it by default
    /// (10 s chunks, a shorter tail joined or dropped), at the model's sample rate and canvas.</summary>
    public static DescribeWorkload ForSong(double songSeconds, int sampleRate, int maxClipSamples, int soundSlots)
    {
        var options = new DescribeOptions();
        var layout = ChunkLayout.FromSeconds(options.ChunkSeconds, options.MinTailSeconds, sampleRate, maxClipSamples);
        int chunks = new ChunkSplitter(layout).CountChunks((long)Math.Round(songSeconds * sampleRate));
        if (chunks == 0) throw new ArgumentException($"a {songSeconds} s song has no chunk to describe");
        int captionTokens = options.ChunkGeneration.MaxNewTokens;
        return new DescribeWorkload(songSeconds, chunks, ChunkPromptTextTokens + soundSlots, captionTokens,
            ChainTemplateTokens + chunks * (ChunkLineTokens + captionTokens), options.ChainGeneration.MaxNewTokens);
    }
}

/// <summary>Seconds each stage of a <see cref="DescribeWorkload"/> took, summed over its chunks.</summary>
public sealed record DescribeTiming(DescribeWorkload Workload, double MertSeconds, double ProjectorSeconds, double PrefillSeconds,
    double GenerateSeconds, double ChainPrefillSeconds, double ChainGenerateSeconds)
{
    public double TotalSeconds => MertSeconds + ProjectorSeconds + PrefillSeconds + GenerateSeconds + ChainPrefillSeconds + ChainGenerateSeconds;
}
