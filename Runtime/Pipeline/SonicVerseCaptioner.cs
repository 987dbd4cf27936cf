using System.Diagnostics;
using SonicVerse.Loader;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Text;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Runtime.Pipeline;

/// <summary>What a caption call produced, with the time each stage took.</summary>
public sealed record CaptionResult(
    string File, string Caption, int[] Ids, ProjectorOutput Projection, IReadOnlyDictionary<string, double> Seconds,
    double DurationSeconds);

/// <summary>
/// The SonicVerse captioner (SPEC §1): audio → MERT → 760-frame canvas → projector → prompt with 60 slots → Mistral with
/// the SonicVerse LoRA → caption. Weights are loaded once and serve any number of clips; every stage is a public method
/// with injectable input (STYLE habit 10).
/// </summary>
public sealed class SonicVerseCaptioner : IDisposable
{
    public const string DefaultPrompt = SonicVersePrompt.DemoUserText;

    public MertModel Mert { get; }
    public ProjectorModel Projector { get; }
    public MistralModel Llm { get; }
    public MistralTokenizer Tokenizer { get; }
    public IBackend Backend { get; }

    /// <summary>The longest clip that fits the projector's canvas: (canvas − 1) frames of hop plus one receptive field.</summary>
    public int MaxClipSamples => MaxClipSamplesOf(Mert.Config, Projector.Config);

    /// <summary><see cref="MaxClipSamples"/> for these configurations.</summary>
    public static int MaxClipSamplesOf(MertConfig mert, ProjectorConfig projector) =>
        (projector.CanvasFrames - 1) * mert.HopLength + mert.ReceptiveField;

    public int SampleRate => Mert.Config.SampleRate;

    SonicVerseCaptioner(MertModel mert, ProjectorModel projector, MistralModel llm, MistralTokenizer tokenizer, IBackend backend)
    {
        Mert = mert;
        Projector = projector;
        Llm = llm;
        Tokenizer = tokenizer;
        Backend = backend;
    }

    /// <summary>Loads the three parts onto <paramref name="backend"/>; <paramref name="progress"/> hears each step.</summary>
    public static SonicVerseCaptioner Load(ModelFiles files, IBackend backend, DType? quantize = null, Action<string>? progress = null)
    {
        var disposables = new List<IDisposable>();
        try
        {
            progress?.Invoke($"loading MERT from {files.Mert}");
            var mert = Keep(MertModel.Load(files.Mert, backend), disposables);
            progress?.Invoke($"loading the projector from {files.Projector}");
            ProjectorModel projector;
            using (var checkpoint = CheckpointFile.Open(files.Projector))
                projector = Keep(ProjectorModel.Load(checkpoint, backend), disposables);
            progress?.Invoke($"loading Mistral from {files.Llm} with the LoRA adapter {files.LoraAdapter}");
            var llm = Keep(MistralModel.Load(files.Llm, backend, new MistralLoadOptions { Quantize = quantize, LoraFolder = files.LoraAdapter }), disposables);
            var tokenizer = MistralTokenizerFile.Open(files.Tokenizer ?? files.Llm);
            CheckCompatible(mert, projector, llm, files);
            return new SonicVerseCaptioner(mert, projector, llm, tokenizer, backend);
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            throw;
        }
    }

    static T Keep<T>(T value, List<IDisposable> list) where T : IDisposable
    {
        list.Add(value);
        return value;
    }

    static void CheckCompatible(MertModel mert, ProjectorModel projector, MistralModel llm, ModelFiles files)
    {
        var p = projector.Config;
        if (p.InputWidth != mert.Config.HiddenSize || p.Layers != mert.Config.NumHiddenLayers + 1)
            throw new LoaderException(files.Projector,
                $"the projector expects {p.Layers} MERT layers of width {p.InputWidth}, the MERT model gives " +
                $"{mert.Config.NumHiddenLayers + 1} of width {mert.Config.HiddenSize}");
        if (p.TokenWidth != llm.Config.HiddenSize)
            throw new LoaderException(files.Projector,
                $"the projector writes tokens of width {p.TokenWidth}, the language model's hidden size is {llm.Config.HiddenSize}");
    }

    /// <summary>Stage 1: the file as mono samples at the encoder's rate.</summary>
    public float[] DecodeAudio(string path) => AudioLoader.LoadMono(path, SampleRate);

    /// <summary>Stage 2: MERT hidden states of a clip (samples at <see cref="SampleRate"/>, before normalization).</summary>
    public MertHiddenStates EncodeAudio(ReadOnlySpan<float> samples, ITraceSink? trace = null) => Mert.EncodeAudio(samples, trace);

    /// <summary>Stage 2 as the pipeline runs it: the hidden states placed on the projector's canvas without leaving the
    /// device ([layers, canvasFrames, width]; the caller disposes it).</summary>
    public DeviceTensor EncodeAudioToCanvas(ReadOnlySpan<float> samples, ITraceSink? trace = null) =>
        Mert.EncodeAudioToCanvas(samples, Projector.Config.CanvasFrames, trace);

    /// <summary>Stage 3: pad/trim to the canvas and project: 60 tokens plus the feature heads' logits.</summary>
    public ProjectorOutput Project(MertHiddenStates hidden, ITraceSink? trace = null)
    {
        var c = Projector.Config;
        float[] canvas = ProjectorModel.PlaceOnCanvas(hidden.States, hidden.Frames, hidden.Width, c.CanvasFrames);
        using var input = Backend.Upload(canvas, hidden.Count, c.CanvasFrames, hidden.Width);
        return Project(input, trace);
    }

    /// <summary>Stage 3 on a canvas already on the device (<see cref="EncodeAudioToCanvas"/>).</summary>
    public ProjectorOutput Project(DeviceTensor canvas, ITraceSink? trace = null)
    {
        var output = Projector.Project(canvas);
        if (trace is not null) output.Record(trace);
        return output;
    }

    /// <summary>Stage 4: the prompt ids with one slot per projector token at each <c>&lt;sound&gt;</c>.</summary>
    public PromptIds EncodePrompt(string userText = DefaultPrompt)
    {
        var prompt = SonicVersePrompt.Encode(Tokenizer, userText, ChatTemplateVariant.Old, Projector.Config.TotalTokens);
        if (prompt.SlotPositions.Length != Projector.Config.TotalTokens)
            throw new InputException($"the prompt must contain exactly one {SonicVersePrompt.SoundToken} (got \"{userText}\")");
        return prompt;
    }

    /// <summary>Stage 5: token embeddings with the projector's tokens written into the slots, in order. Returns [L, hidden].</summary>
    public float[] SpliceEmbeddings(PromptIds prompt, ProjectorOutput projection)
    {
        int hidden = Llm.Config.HiddenSize;
        int[] ids = prompt.Ids.Select(id => id == SonicVersePrompt.SlotId ? 0 : id).ToArray();
        var embeds = new float[ids.Length * hidden];
        using (var tokens = Llm.Embed(ids)) Backend.Download(tokens, embeds);
        for (int j = 0; j < prompt.SlotPositions.Length; j++)
            projection.Token(j).CopyTo(embeds.AsSpan(prompt.SlotPositions[j] * hidden, hidden));
        return embeds;
    }

    /// <summary>Stage 6: prefill the spliced prompt and generate. <paramref name="prefillSeconds"/> reports the prefill time.</summary>
    public IEnumerable<GeneratedToken> Generate(float[] embeddings, GenerationOptions options, Action<double>? prefillSeconds = null,
        bool useLora = true, ITraceSink? trace = null)
    {
        int length = embeddings.Length / Llm.Config.HiddenSize;
        using var state = Llm.CreateState(Math.Min(Llm.Config.MaxPositions, length + options.MaxNewTokens));
        state.UseLora = useLora;
        state.Trace = trace;
        var clock = Stopwatch.StartNew();
        var logits = Llm.ForwardEmbeddings(embeddings, state);
        Backend.Synchronize();
        prefillSeconds?.Invoke(clock.Elapsed.TotalSeconds);
        state.Trace = null;
        foreach (var token in TokenGenerator.Continue(Llm, state, logits, options)) yield return token;
    }

    /// <summary>
    /// Stage 6 for several spliced prompts at once (e.g. the chunks of a song): one batched prefill, then batched
    /// decoding in which each sequence stops on its own (<see cref="TokenGenerator.GenerateBatch(MistralModel,
    /// IReadOnlyList{MistralState}, DeviceTensor, IReadOnlyList{GenerationOptions})"/>). Greedy output per sequence
    /// equals <see cref="Generate"/> on that prompt alone. Sampling seeds are options.Seed + sequence index.
    /// </summary>
    public IEnumerable<BatchToken> GenerateBatch(IReadOnlyList<float[]> embeddings, GenerationOptions options, bool useLora = true,
        Action<double>? prefillSeconds = null)
    {
        if (embeddings.Count == 0) yield break;
        int hidden = Llm.Config.HiddenSize;
        // One cache pool for the batch: each decode step then scatters k, v and attends for all sequences at once.
        int capacity = Math.Min(Llm.Config.MaxPositions, embeddings.Max(e => e.Length / hidden) + options.MaxNewTokens);
        var states = Llm.CreateStates(embeddings.Count, capacity);
        try
        {
            foreach (var state in states) state.UseLora = useLora;
            var clock = Stopwatch.StartNew();
            var logits = Llm.ForwardBatch(states, embeddings);
            Backend.Synchronize();
            prefillSeconds?.Invoke(clock.Elapsed.TotalSeconds);
            var perSequence = Enumerable.Range(0, states.Length).Select(i => options with { Seed = options.Seed + i }).ToArray();
            foreach (var token in TokenGenerator.GenerateBatch(Llm, states, logits, perSequence)) yield return token;
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
    }

    /// <summary>Captions of several clips (samples at <see cref="SampleRate"/>, each at most <see cref="MaxClipSamples"/>)
    /// decoded as one batch; result i is clip i, named <paramref name="names"/>[i] (default "clip i"). Seconds hold
    /// each clip's own MERT and projector time and the batch's shared prefill and generate times.</summary>
    public IReadOnlyList<CaptionResult> CaptionBatch(IReadOnlyList<float[]> clips, GenerationOptions options,
        string userText = DefaultPrompt, IReadOnlyList<string>? names = null)
    {
        var prompt = EncodePrompt(userText);
        var projections = new ProjectorOutput[clips.Count];
        var embeddings = new float[clips.Count][];
        var seconds = new Dictionary<string, double>[clips.Count];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < clips.Count; i++)
        {
            if (clips[i].Length > MaxClipSamples)
                throw new InputException($"clip {i}: {clips[i].Length} samples are more than one clip of {MaxClipSamples}");
            seconds[i] = new Dictionary<string, double>();
            using (var canvas = EncodeAudioToCanvas(clips[i]))
            {
                seconds[i]["mert"] = Lap(clock);
                projections[i] = Project(canvas);
                seconds[i]["projector"] = Lap(clock);
            }
            embeddings[i] = SpliceEmbeddings(prompt, projections[i]);
        }
        var ids = clips.Select(_ => new List<int>()).ToArray();
        double prefill = 0;
        foreach (var token in GenerateBatch(embeddings, options, prefillSeconds: s => prefill = s))
            ids[token.Sequence].Add(token.Token.Id);
        double generate = Lap(clock) - prefill;
        return Enumerable.Range(0, clips.Count).Select(i =>
        {
            seconds[i]["prefill"] = prefill;
            seconds[i]["generate"] = generate;
            string caption = Tokenizer.Decode(ids[i], skipSpecial: true).Trim();
            return new CaptionResult(names?[i] ?? $"clip {i}", caption, ids[i].ToArray(), projections[i], seconds[i],
                clips[i].Length / (double)SampleRate);
        }).ToArray();
    }

    /// <summary>The whole path for one file. Longer clips than the canvas holds are cut to the first
    /// <see cref="MaxClipSamples"/> and <paramref name="warn"/> is told (the long-form path is <c>describe</c>).</summary>
    public CaptionResult Caption(string path, GenerationOptions options, string userText = DefaultPrompt,
        Action<string>? onText = null, Action<string>? warn = null, ITraceSink? trace = null)
    {
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        // Only the first clip's worth is decoded: a long file costs no more memory or time than one clip.
        float[] samples = AudioLoader.LoadMonoPrefix(path, SampleRate, MaxClipSamples, out bool longer, out long? total);
        double duration = (total ?? samples.Length) / (double)SampleRate;
        if (longer)
            warn?.Invoke($"{path}: {(total is null ? "longer" : $"{duration:0.##} s is longer")} than one " +
                         $"{MaxClipSamples / (double)SampleRate:0.##} s clip: captioning the first part only " +
                         "(use 'sonicverse describe' for whole songs)");
        if (AudioLoader.IsSilent(samples)) warn?.Invoke($"{path}: the audio is silent; the caption will not mean much");
        seconds["decode_audio"] = Lap(clock);

        ProjectorOutput projection;
        using (var canvas = EncodeAudioToCanvas(samples, trace))
        {
            seconds["mert"] = Lap(clock);
            projection = Project(canvas, trace);
            seconds["projector"] = Lap(clock);
        }
        var embeddings = SpliceEmbeddings(EncodePrompt(userText), projection);

        var ids = new List<int>();
        var streamer = new TextStreamer(Tokenizer);
        double prefill = 0;
        foreach (var token in Generate(embeddings, options, s => prefill = s, trace: trace))
        {
            ids.Add(token.Id);
            string piece = streamer.Append(token.Id);
            if (piece.Length > 0) onText?.Invoke(piece);
        }
        string tail = streamer.Flush();
        if (tail.Length > 0) onText?.Invoke(tail);
        seconds["prefill"] = prefill;
        seconds["generate"] = Lap(clock) - prefill;
        // scripts/app.py: decode(skip_special_tokens=True).strip()
        string caption = Tokenizer.Decode(ids, skipSpecial: true).Trim();
        return new CaptionResult(path, caption, ids.ToArray(), projection, seconds, duration);
    }

    static double Lap(Stopwatch clock)
    {
        double s = clock.Elapsed.TotalSeconds;
        clock.Restart();
        return s;
    }

    public void Dispose()
    {
        Llm.Dispose();
        Projector.Dispose();
        Mert.Dispose();
    }
}
