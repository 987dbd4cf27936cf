using System.Diagnostics;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Text;

namespace SonicVerse.Runtime.Pipeline;

/// <summary>The caption of one chunk, with its window in seconds and its feature heads' logits.</summary>
public sealed record ChunkCaption(double StartSeconds, double EndSeconds, string Caption, int[] Ids,
    IReadOnlyDictionary<string, float[]> FeatureLogits);

/// <summary>How <see cref="LongFormDescriber.Describe"/> works (defaults: the reference's, SPEC §7–8).</summary>
public sealed record DescribeOptions
{
    public double ChunkSeconds { get; init; } = 10;
    public double MinTailSeconds { get; init; } = 3;
    /// <summary>Chunks per decode batch; 0 = all chunks of the song in one batch.</summary>
    public int BatchSize { get; init; }
    /// <summary>The prompt each chunk is captioned with.</summary>
    public string UserText { get; init; } = SonicVerseCaptioner.DefaultPrompt;
    public GenerationOptions ChunkGeneration { get; init; } = new() { MaxNewTokens = 128 };
    /// <summary>The reference asks GPT-4 for at most 1000 tokens at temperature 0.</summary>
    public GenerationOptions ChainGeneration { get; init; } = new() { MaxNewTokens = 1000 };
    public string ChainTemplate { get; init; } = ChainPrompt.DefaultTemplate;
}

/// <summary>The stages of <see cref="LongFormDescriber.Describe"/>, in order.</summary>
public enum DescribeStage
{
    /// <summary>MERT and the projector on each chunk; counts chunks.</summary>
    Encoding,
    /// <summary>The chunk prompts prefilled as one batch (or one batch of <see cref="DescribeOptions.BatchSize"/>);
    /// counts the batch's chunks, done when the pass ends.</summary>
    CaptionPrefill,
    /// <summary>Decode steps of the batch's captions; counts steps up to the token budget (all may stop earlier).</summary>
    Captioning,
    /// <summary>The chaining prompt prefilled; counts its tokens.</summary>
    ChainPrefill,
    /// <summary>The description generated; counts its tokens up to the budget.</summary>
    Describing,
}

/// <summary>Where <see cref="LongFormDescriber.Describe"/> is: <paramref name="Done"/> of <paramref name="Total"/> (null
/// when the file does not declare its length) units of <paramref name="Stage"/>.</summary>
public readonly record struct DescribeProgress(DescribeStage Stage, int Done, int? Total);

/// <summary>What describe produced for one song. <paramref name="Seconds"/>: time per stage.</summary>
public sealed record SongDescription(string File, double DurationSeconds, double DroppedSeconds, IReadOnlyList<ChunkCaption> Chunks,
    string ChainPrompt, string Description, int[] Ids, IReadOnlyDictionary<string, double> Seconds);

/// <summary>
/// Long-form descriptions (SPEC §8): the song is read in chunks (<see cref="ChunkSplitter"/>), every chunk is captioned
/// by the SonicVerse captioner, and the captions are chained into one description by the same loaded Mistral with the
/// LoRA switched off (the plain Instruct model), greedy by default.
/// </summary>
public sealed class LongFormDescriber(SonicVerseCaptioner captioner)
{
    public SonicVerseCaptioner Captioner { get; } = captioner;

    /// <summary>The chunk layout for <paramref name="options"/> at the captioner's rate and canvas.
    /// Throws <see cref="ArgumentException"/> for a chunk length the canvas cannot hold.</summary>
    public ChunkLayout Layout(DescribeOptions options) =>
        ChunkLayout.FromSeconds(options.ChunkSeconds, options.MinTailSeconds, Captioner.SampleRate, Captioner.MaxClipSamples);

    /// <summary>Describes one file. <paramref name="onText"/> hears the description as it is generated;
    /// <paramref name="progress"/> hears each stage's progress (on a cpu a song's stages take minutes each).</summary>
    public SongDescription Describe(string path, DescribeOptions options, Action<string>? onText = null,
        Action<string>? warn = null, Action<DescribeProgress>? progress = null)
    {
        var seconds = new Dictionary<string, double>();
        var total = Stopwatch.StartNew();
        var splitter = new ChunkSplitter(Layout(options));
        int? expected = progress is null ? null : ExpectedChunks(path, splitter);
        var chunks = CaptionChunks(splitter.Read(path, Captioner.SampleRate), options.ChunkGeneration, options.BatchSize,
            options.UserText, seconds: seconds, progress: progress, expectedChunks: expected);
        double rate = Captioner.SampleRate;
        if (splitter.DroppedSamples > 0)
            warn?.Invoke($"{path}: dropped the last {splitter.DroppedSamples / rate:0.##} s: shorter than the minimum tail of " +
                         $"{splitter.Layout.MinTailSamples / rate:0.##} s and too long to join the previous chunk");

        string songName = Path.GetFileNameWithoutExtension(path);
        string prompt = ChainPrompt.Render(options.ChainTemplate, songName,
            chunks.Select(c => ChainPrompt.ChunkLine(c.StartSeconds, c.EndSeconds, c.Caption)));
        var (description, ids) = Chain(prompt, options.ChainGeneration, onText, seconds, progress);
        seconds["total"] = total.Elapsed.TotalSeconds;
        return new SongDescription(path, splitter.TotalSamples / rate, splitter.DroppedSamples / rate, chunks, prompt,
            description, ids, seconds);
    }

    int? ExpectedChunks(string path, ChunkSplitter splitter)
    {
        using var reader = new MonoReader(path, Captioner.SampleRate);
        return reader.TotalSamples is long n ? splitter.CountChunks(n) : null;
    }

    /// <summary>
    /// Captions every chunk, <paramref name="batchSize"/> chunks per decode batch (0 = all in one): each chunk goes
    /// through MERT and the projector as it is read (its samples are then released), and each batch is decoded
    /// together. The greedy ids equal captioning each chunk alone with <see cref="SonicVerseCaptioner.Caption"/>.
    /// <paramref name="done"/> hears each chunk as its caption is ready; <paramref name="seconds"/> accumulates
    /// decode_audio, mert, projector, prefill and generate; <paramref name="progress"/> hears the encoding, caption
    /// prefill and captioning stages (chunks out of <paramref name="expectedChunks"/>, when known).
    /// </summary>
    public IReadOnlyList<ChunkCaption> CaptionChunks(IEnumerable<AudioChunk> chunks, GenerationOptions options, int batchSize = 0,
        string userText = SonicVerseCaptioner.DefaultPrompt, Action<ChunkCaption>? done = null, IDictionary<string, double>? seconds = null,
        Action<DescribeProgress>? progress = null, int? expectedChunks = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batchSize);
        seconds ??= new Dictionary<string, double>();
        var prompt = Captioner.EncodePrompt(userText);
        var captions = new List<ChunkCaption>();
        var batch = new List<PreparedChunk>();
        int encoded = 0;
        foreach (var chunk in Timed(chunks, seconds, "decode_audio"))
        {
            options.Cancel.ThrowIfCancellationRequested();
            batch.Add(Prepare(chunk, prompt, seconds));
            progress?.Invoke(new DescribeProgress(DescribeStage.Encoding, ++encoded, expectedChunks));
            if (batch.Count == batchSize)
            {
                Decode(batch, options, seconds, captions, done, progress);
                batch.Clear();
            }
        }
        if (batch.Count > 0) Decode(batch, options, seconds, captions, done, progress);
        return captions;
    }

    /// <summary>A chunk ready for the decoder: its spliced prompt embeddings [L, hidden] and its features.</summary>
    sealed record PreparedChunk(double StartSeconds, double EndSeconds, float[] Embeddings, IReadOnlyDictionary<string, float[]> Logits);

    PreparedChunk Prepare(AudioChunk chunk, PromptIds prompt, IDictionary<string, double> seconds)
    {
        var clock = Stopwatch.StartNew();
        ProjectorOutput projection;
        using (var canvas = Captioner.EncodeAudioToCanvas(chunk.Samples))
        {
            Add(seconds, "mert", clock);
            projection = Captioner.Project(canvas);
        }
        float[] embeddings = Captioner.SpliceEmbeddings(prompt, projection);
        Add(seconds, "projector", clock);
        double rate = Captioner.SampleRate;
        return new PreparedChunk(chunk.StartSample / rate, chunk.EndSample / rate, embeddings, projection.Logits);
    }

    void Decode(List<PreparedChunk> batch, GenerationOptions options, IDictionary<string, double> seconds,
        List<ChunkCaption> captions, Action<ChunkCaption>? done, Action<DescribeProgress>? progress)
    {
        int[][] ids = GenerateBatch(batch.Select(c => c.Embeddings).ToList(), options, seconds, progress);
        for (int i = 0; i < batch.Count; i++)
        {
            // scripts/app.py: decode(skip_special_tokens=True).strip(), as SonicVerseCaptioner.Caption does.
            string text = Captioner.Tokenizer.Decode(ids[i], skipSpecial: true).Trim();
            var caption = new ChunkCaption(batch[i].StartSeconds, batch[i].EndSeconds, text, ids[i], batch[i].Logits);
            captions.Add(caption);
            done?.Invoke(caption);
        }
    }

    /// <summary>The ids of each spliced prompt of the batch, decoded together (<see cref="SonicVerseCaptioner.GenerateBatch"/>:
    /// one weight read per step for all sequences, each stopping on its own; greedy ids equal decoding each alone).</summary>
    int[][] GenerateBatch(IReadOnlyList<float[]> embeddings, GenerationOptions options, IDictionary<string, double> seconds,
        Action<DescribeProgress>? progress)
    {
        var ids = embeddings.Select(_ => new List<int>()).ToArray();
        var clock = Stopwatch.StartNew();
        double prefill = 0;
        int steps = 0;
        progress?.Invoke(new DescribeProgress(DescribeStage.CaptionPrefill, 0, embeddings.Count));
        foreach (var token in Captioner.GenerateBatch(embeddings, options, prefillSeconds: s => prefill = s))
        {
            ids[token.Sequence].Add(token.Token.Id);
            if (token.Step < steps) continue;   // a step yields a token per running sequence: report it once
            steps = token.Step + 1;
            progress?.Invoke(new DescribeProgress(DescribeStage.Captioning, steps, options.MaxNewTokens));
        }
        Add(seconds, "prefill", prefill);
        Add(seconds, "generate", clock.Elapsed.TotalSeconds - prefill);
        return ids.Select(list => list.ToArray()).ToArray();
    }

    /// <summary>Runs the chaining prompt through the plain Instruct model (LoRA off). Returns the stripped text and the
    /// ids; <paramref name="onText"/> hears the text as it is generated, <paramref name="progress"/> the prompt's tokens
    /// as they are prefilled (a piece at a time, <see cref="MistralModel.ForwardInPieces"/>; cancellable between pieces)
    /// and the description's tokens.</summary>
    public (string Text, int[] Ids) Chain(string renderedPrompt, GenerationOptions options, Action<string>? onText = null,
        IDictionary<string, double>? seconds = null, Action<DescribeProgress>? progress = null)
    {
        var llm = Captioner.Llm;
        int[] promptIds = ChatTemplate.Encode(Captioner.Tokenizer, ChainPrompt.UserMessage(renderedPrompt), ChatTemplateVariant.Old);
        if (promptIds.Length >= llm.Config.MaxPositions)
            throw new InputException($"the chaining prompt has {promptIds.Length} tokens, more than the model's context of " +
                                     $"{llm.Config.MaxPositions}: use fewer, longer chunks or a shorter --chain-prompt");
        var clock = Stopwatch.StartNew();
        using var state = llm.CreateState(Math.Min(llm.Config.MaxPositions, promptIds.Length + options.MaxNewTokens));
        state.UseLora = false;
        var logits = llm.ForwardInPieces(promptIds, state, tokens =>
        {
            options.Cancel.ThrowIfCancellationRequested();
            progress?.Invoke(new DescribeProgress(DescribeStage.ChainPrefill, tokens, promptIds.Length));
        });
        Captioner.Backend.Synchronize();
        if (seconds is not null) Add(seconds, "chain_prefill", clock);

        var ids = new List<int>();
        var streamer = new TextStreamer(Captioner.Tokenizer);
        foreach (var token in TokenGenerator.Continue(llm, state, logits, options))
        {
            ids.Add(token.Id);
            progress?.Invoke(new DescribeProgress(DescribeStage.Describing, ids.Count, options.MaxNewTokens));
            string piece = streamer.Append(token.Id);
            if (piece.Length > 0) onText?.Invoke(piece);
        }
        string tail = streamer.Flush();
        if (tail.Length > 0) onText?.Invoke(tail);
        if (seconds is not null) Add(seconds, "chain_generate", clock);
        return (Captioner.Tokenizer.Decode(ids, skipSpecial: true).Trim(), ids.ToArray());
    }

    /// <summary>Enumerates <paramref name="source"/>, adding the time spent producing each item to <paramref name="stage"/>.</summary>
    static IEnumerable<T> Timed<T>(IEnumerable<T> source, IDictionary<string, double> seconds, string stage)
    {
        using var e = source.GetEnumerator();
        var clock = Stopwatch.StartNew();
        while (e.MoveNext())
        {
            Add(seconds, stage, clock);
            yield return e.Current;
            clock.Restart();
        }
        Add(seconds, stage, clock);
    }

    static void Add(IDictionary<string, double> seconds, string stage, Stopwatch clock)
    {
        Add(seconds, stage, clock.Elapsed.TotalSeconds);
        clock.Restart();
    }

    static void Add(IDictionary<string, double> seconds, string stage, double value) =>
        seconds[stage] = seconds.TryGetValue(stage, out double sum) ? sum + value : value;
}
