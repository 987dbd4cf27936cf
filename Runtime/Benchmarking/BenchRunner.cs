using System.Diagnostics;
using System.Numerics.Tensors;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Models.Projector;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>
/// <c>sonicverse bench</c>: loads the three models (synthetic or real), then times each stage the way a caption call
/// runs it — MERT on a 10 s clip, the projector on its hidden states, a prompt prefill and greedy decode steps that
/// download the logits each step. Every stage runs once untimed first, so CUDA kernel compilation is not counted; every
/// timed stage ends with a download, which waits for the device.
/// </summary>
public static class BenchRunner
{
    const double WarmupClipSeconds = 0.5;
    const int ProjectorRepeats = 3;

    public static BenchReport Run(BenchOptions options, Action<string>? log = null)
    {
        options.Validate();
        var preset = options.Synthetic is { } name ? SyntheticPreset.Get(name) : null;
        options = options with
        {
            PromptTokens = options.PromptTokens ?? preset?.PromptTokens ?? 128,
            GenTokens = options.GenTokens ?? 32,
            ClipSeconds = options.ClipSeconds ?? preset?.ClipSeconds ?? 10,
        };
        var profile = options.Profile ? new OpProfile() : null;
        using var backend = new PeakMemoryBackend(Backend.Create(options.Device, log, options.Int8Activations), profile);
        log?.Invoke(preset is null
            ? $"loading {options.Model}"
            : $"generating synthetic {preset.Name} weights ({options.Quant ?? DType.F16}) tensor by tensor, seed {options.Seed}");
        var clock = Stopwatch.StartNew();
        using var models = preset is null
            ? BenchModels.FromFiles(options.Model!, options.Quant, backend)
            : BenchModels.Synthetic(preset, options.Quant ?? DType.F16, options.Seed, backend, options.LoraRank);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        log?.Invoke($"loaded {models.Name} ({models.Weights}) in {loadSeconds:F1} s; {backend.AllocatedBytes / 1e9:F2} GB on the device");
        if (options.Int8Activations && models.Llm.Int8ActivationsUnused() is { } unused) log?.Invoke($"warning: {unused}");

        var bandwidth = MemoryBandwidth.Of(backend);
        double clipSeconds = options.ClipSeconds.Value;
        void Profiled(string stage)
        {
            if (profile is null) return;
            log?.Invoke(profile.Table(stage));
            profile.Clear();
        }
        using var canvas = TimeMert(models.Mert, models.Projector.Config.CanvasFrames, clipSeconds, options.Seed, profile, out double mertMs);
        log?.Invoke($"MERT: {mertMs:F1} ms for a {clipSeconds:F1} s clip");
        Profiled($"MERT, one {clipSeconds:F1} s clip");
        double projectorMs = TimeProjector(models.Projector, canvas, profile);
        log?.Invoke($"projector: {projectorMs:F1} ms");
        Profiled($"projector, {ProjectorRepeats} clips");
        int promptTokens = options.PromptTokens.Value, genTokens = options.GenTokens.Value;
        var (prefill, decode, launches) = TimeDecoder(models.Llm, options.Batch, promptTokens, genTokens, options.Seed, profile, Profiled);
        log?.Invoke($"prefill {prefill:F1} tok/s, decode {decode:F2} tok/s");
        var describe = options.DescribeSeconds is { } song ? TimeDescribe(models, song, options.Seed, log) : null;

        double ceilingSteps = bandwidth.BytesPerSecond / models.WeightBytesPerStep;
        return new BenchReport
        {
            Device = backend.Kind.CliName(),
            DeviceDescription = backend.Description,
            Model = models.Name,
            Weights = models.Weights,
            LoraRank = options.LoraRank,
            Batch = options.Batch,
            BatchNote = options.Batch == 1
                ? "one sequence: Forward per token"
                : $"{options.Batch} sequences prefilled in one ForwardBatch and stepped together by DecodeBatch (each weight read once per step)",
            PromptTokens = promptTokens,
            GenTokens = genTokens,
            LoadSeconds = loadSeconds,
            MertClipSeconds = clipSeconds,
            MertMsPer10sClip = mertMs * 10 / clipSeconds,
            ProjectorMs = projectorMs,
            PrefillTokPerS = prefill,
            DecodeTokPerSPerSeq = decode,
            DecodeTokPerSTotal = decode * options.Batch,
            PeakDeviceBytes = backend.PeakAllocatedBytes,
            DeviceMemoryBytes = backend.MemoryBytes,
            WeightBytesPerStep = models.WeightBytesPerStep,
            BandwidthBytesPerS = bandwidth.BytesPerSecond,
            BandwidthSource = bandwidth.Source,
            CeilingTokPerS = ceilingSteps * options.Batch,
            AchievedFraction = decode / ceilingSteps,
            LaunchesPerDecodeStep = launches,
            Describe = describe,
        };
    }

    /// <summary>
    /// The model work <c>describe</c> does for a song of <paramref name="songSeconds"/> (<see cref="DescribeWorkload"/>),
    /// stage by stage as <see cref="Pipeline.LongFormDescriber"/> runs it: each chunk's 10 s of noise through MERT and
    /// the projector; every chunk's prompt (random ids, the projector's tokens in its slots) prefilled in one
    /// <see cref="MistralModel.ForwardBatch"/> and its caption decoded by <see cref="MistralModel.DecodeBatch"/>; then the
    /// chaining prompt (random ids) prefilled and the description decoded alone, without the LoRA side path (as
    /// <c>describe</c> runs the plain Instruct model there; captions run it when the model has one: --lora-rank). Not
    /// timed: decoding the audio file and the tokenizer.
    /// Runs after the stages above, so every kernel is already compiled.
    /// </summary>
    static DescribeTiming TimeDescribe(BenchModels models, double songSeconds, ulong seed, Action<string>? log)
    {
        var llm = models.Llm;
        int rate = models.Mert.Config.SampleRate, slots = models.Projector.Config.TotalTokens, hidden = llm.Config.HiddenSize;
        var work = DescribeWorkload.ForSong(songSeconds, rate, Pipeline.SonicVerseCaptioner.MaxClipSamplesOf(
            models.Mert.Config, models.Projector.Config), slots);
        if (work.ChainPromptTokens + work.ChainTokens > llm.Config.MaxPositions)
            throw new ArgumentException($"a {songSeconds} s song's chaining prompt ({work.ChainPromptTokens} + {work.ChainTokens} tokens) " +
                                        $"does not fit {models.Name}'s context of {llm.Config.MaxPositions}: describe a shorter song");
        log?.Invoke($"describe of a {songSeconds:0.#} s song: {work.Chunks} chunks of {work.ChunkPromptTokens} prompt tokens and " +
                    $"{work.CaptionTokens} caption tokens, a chaining prompt of {work.ChainPromptTokens} tokens and {work.ChainTokens} more");
        var clip = Noise(10 * rate, seed + 2);
        var chunkIds = RandomIds(work.ChunkPromptTokens, llm.Config.VocabSize, seed + 3);
        var prompts = new float[work.Chunks][];
        double mert = 0, projector = 0;
        var clock = new Stopwatch();
        for (int i = 0; i < work.Chunks; i++)
        {
            clock.Restart();
            using var canvas = models.Mert.EncodeAudioToCanvas(clip, models.Projector.Config.CanvasFrames);
            mert += clock.Elapsed.TotalSeconds;
            clock.Restart();
            var projection = models.Projector.Project(canvas);
            prompts[i] = EmbedOnHost(llm, chunkIds);
            for (int j = 0; j < slots; j++)
                projection.Token(j).CopyTo(prompts[i].AsSpan((DescribeWorkload.ChunkSlotStart + j) * hidden, hidden));
            projector += clock.Elapsed.TotalSeconds;
        }

        var (prefill, generate) = TimeGeneration(llm, prompts, null, work.CaptionTokens, lora: true);
        var chainIds = RandomIds(work.ChainPromptTokens, llm.Config.VocabSize, seed + 4);
        var (chainPrefill, chainGenerate) = TimeGeneration(llm, null, chainIds, work.ChainTokens, lora: false);
        var timing = new DescribeTiming(work, mert, projector, prefill, generate, chainPrefill, chainGenerate);
        log?.Invoke($"describe: {timing.TotalSeconds:F2} s (MERT {mert:F2}, projector {projector:F2}, prefill {prefill:F2}, " +
                    $"captions {generate:F2}, chain prefill {chainPrefill:F2}, description {chainGenerate:F2})");
        return timing;
    }

    /// <summary>Prefill, then greedy steps until <paramref name="tokens"/> tokens are generated (the prefill's argmax is
    /// the first): the spliced <paramref name="prompts"/> together (batch decode), or <paramref name="ids"/> alone, with
    /// the model's LoRA side path when it has one and <paramref name="lora"/> asks for it. Returns (prefill seconds,
    /// generation seconds).</summary>
    static (double Prefill, double Generate) TimeGeneration(MistralModel llm, float[][]? prompts, int[]? ids, int tokens, bool lora)
    {
        int batch = prompts?.Length ?? 1, promptTokens = prompts is null ? ids!.Length : prompts[0].Length / llm.Config.HiddenSize;
        var states = llm.CreateStates(batch, promptTokens + tokens);
        foreach (var state in states) state.UseLora &= lora;
        try
        {
            var host = new float[batch * llm.Config.VocabSize];
            var clock = Stopwatch.StartNew();
            Prefill(llm, states, ids ?? [], prompts, host);
            double prefill = clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (int step = 1; step < tokens; step++) Step(llm, states, host);
            return (prefill, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
    }

    /// <summary>Encodes seeded noise onto the projector's canvas as a caption does: a short clip to warm up, then the
    /// timed clip (the encoder waits for the device before returning). Returns the canvas.</summary>
    static DeviceTensor TimeMert(MertModel mert, int canvasFrames, double clipSeconds, ulong seed, OpProfile? profile, out double ms)
    {
        int rate = mert.Config.SampleRate;
        var clip = Noise((int)(clipSeconds * rate), seed);
        mert.EncodeAudioToCanvas(clip.AsSpan(0, (int)(WarmupClipSeconds * rate)), canvasFrames).Dispose();
        profile?.Clear();
        var clock = Stopwatch.StartNew();
        var canvas = mert.EncodeAudioToCanvas(clip, canvasFrames);
        ms = clock.Elapsed.TotalMilliseconds;
        return canvas;
    }

    /// <summary>The mean of a few runs on the clip's canvas after one warm-up run.</summary>
    static double TimeProjector(ProjectorModel projector, DeviceTensor canvas, OpProfile? profile)
    {
        projector.Project(canvas);
        profile?.Clear();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < ProjectorRepeats; i++) projector.Project(canvas);
        return clock.Elapsed.TotalMilliseconds / ProjectorRepeats;
    }

    /// <summary>Prefill of P random ids into each of the batch's sequences, then G greedy steps for all of them, each
    /// downloading the logits as generation does. Batch 1 runs the one-sequence path (<see cref="MistralModel.Forward"/>);
    /// larger batches prefill in one <see cref="MistralModel.ForwardBatch"/> and step with
    /// <see cref="MistralModel.DecodeBatch"/>, as <c>describe</c> does. Returns (prefill tok/s over all sequences,
    /// decode tok/s per sequence, device launches per decode step or null where the backend does not count them).</summary>
    static (double Prefill, double Decode, double? Launches) TimeDecoder(MistralModel llm, int batch, int promptTokens, int genTokens,
        ulong seed, OpProfile? profile, Action<string> profiled)
    {
        var ids = RandomIds(promptTokens, llm.Config.VocabSize, seed);
        var states = llm.CreateStates(batch, promptTokens + genTokens);
        try
        {
            var prompts = batch == 1 ? null : Enumerable.Repeat(EmbedOnHost(llm, ids), batch).ToArray();
            var host = new float[batch * llm.Config.VocabSize];
            Prefill(llm, states, ids, prompts, host);  // warm-up: compiles both paths' kernels on CUDA
            Step(llm, states, host);
            foreach (var state in states) state.Reset();

            profile?.Clear();
            var clock = Stopwatch.StartNew();
            Prefill(llm, states, ids, prompts, host);
            double prefill = (double)batch * promptTokens / clock.Elapsed.TotalSeconds;
            profiled($"prefill, {batch} × {promptTokens} tokens");
            long? launchesBefore = LaunchCount(llm.Backend);
            clock.Restart();
            for (int step = 0; step < genTokens; step++) Step(llm, states, host);
            double decode = genTokens / clock.Elapsed.TotalSeconds;
            profiled($"decode, {genTokens} steps of {batch} sequence(s)");
            return (prefill, decode, (double?)(LaunchCount(llm.Backend) - launchesBefore) / genTokens);
        }
        finally
        {
            foreach (var state in states) state.Dispose();
        }
    }

    static long? LaunchCount(IBackend backend) => backend switch
    {
        IlgpuBackend ilgpu => ilgpu.LaunchCount,
        PeakMemoryBackend { Inner: var inner } => LaunchCount(inner),
        _ => null,
    };

    static void Prefill(MistralModel llm, MistralState[] states, int[] ids, float[][]? prompts, float[] host)
    {
        var logits = prompts is null ? llm.ForwardInPieces(ids, states[0]) : llm.ForwardBatch(states, prompts);
        llm.Backend.Download(logits, host);
    }

    /// <summary>One greedy step: each sequence's argmax from the last logits in <paramref name="host"/> ([batch, vocab]).</summary>
    static void Step(MistralModel llm, MistralState[] states, float[] host)
    {
        int vocab = llm.Config.VocabSize;
        var next = new int[states.Length];
        for (int i = 0; i < next.Length; i++) next[i] = TensorPrimitives.IndexOfMax(host.AsSpan(i * vocab, vocab));
        var logits = states.Length == 1 ? llm.Forward(next, states[0]) : llm.DecodeBatch(states, next);
        llm.Backend.Download(logits, host);
    }

    static float[] EmbedOnHost(MistralModel llm, int[] ids)
    {
        using var embeds = llm.Embed(ids);
        var host = new float[embeds.ElementCount];
        llm.Backend.Download(embeds, host);
        return host;
    }

    static float[] Noise(int samples, ulong seed)
    {
        var rng = new Random(unchecked((int)seed));
        var clip = new float[samples];
        for (int i = 0; i < clip.Length; i++) clip[i] = (float)(rng.NextDouble() * 2 - 1) * 0.5f;
        return clip;
    }

    /// <summary>Ids above the special tokens (SPEC §6: 0–2 are unk, bos, eos).</summary>
    static int[] RandomIds(int count, int vocab, ulong seed)
    {
        var rng = new Random(unchecked((int)seed) + 1);
        return Enumerable.Range(0, count).Select(_ => rng.Next(3, vocab)).ToArray();
    }
}
