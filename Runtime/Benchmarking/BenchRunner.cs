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
        if (options.Batch > 1)
            throw new InputException($"--batch {options.Batch}: batched decoding is not in this build yet; only --batch 1 runs");
        using var backend = new PeakMemoryBackend(Backend.Create(options.Device, log));
        log?.Invoke(preset is null
            ? $"loading {options.Model}"
            : $"generating synthetic {preset.Name} weights ({options.Quant ?? DType.F16}) tensor by tensor, seed {options.Seed}");
        var clock = Stopwatch.StartNew();
        using var models = preset is null
            ? BenchModels.FromFiles(options.Model!, options.Quant, backend)
            : BenchModels.Synthetic(preset, options.Quant ?? DType.F16, options.Seed, backend);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        log?.Invoke($"loaded {models.Name} ({models.Weights}) in {loadSeconds:F1} s; {backend.AllocatedBytes / 1e9:F2} GB on the device");

        var bandwidth = MemoryBandwidth.Of(backend);
        double clipSeconds = options.ClipSeconds.Value;
        var (hidden, mertMs) = TimeMert(models.Mert, clipSeconds, options.Seed);
        log?.Invoke($"MERT: {mertMs:F1} ms for a {clipSeconds:F1} s clip");
        double projectorMs = TimeProjector(models.Projector, hidden, backend);
        log?.Invoke($"projector: {projectorMs:F1} ms");
        int promptTokens = options.PromptTokens.Value, genTokens = options.GenTokens.Value;
        var (prefill, decode) = TimeDecoder(models.Llm, promptTokens, genTokens, options.Seed);
        log?.Invoke($"prefill {prefill:F1} tok/s, decode {decode:F2} tok/s");

        double ceilingSteps = bandwidth.BytesPerSecond / models.WeightBytesPerStep;
        return new BenchReport
        {
            Device = backend.Kind.CliName(),
            DeviceDescription = backend.Description,
            Model = models.Name,
            Weights = models.Weights,
            Batch = options.Batch,
            BatchNote = "one sequence (batched decoding is not in this build yet)",
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
        };
    }

    /// <summary>Encodes seeded noise: a short clip to warm up, then the timed 10 s clip. Returns its hidden states.</summary>
    static (MertHiddenStates Hidden, double Ms) TimeMert(MertModel mert, double clipSeconds, ulong seed)
    {
        int rate = mert.Config.SampleRate;
        var clip = Noise((int)(clipSeconds * rate), seed);
        mert.EncodeAudio(clip.AsSpan(0, (int)(WarmupClipSeconds * rate)));
        var clock = Stopwatch.StartNew();
        var hidden = mert.EncodeAudio(clip);
        return (hidden, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>The mean of a few runs on the clip's canvas after one warm-up run.</summary>
    static double TimeProjector(ProjectorModel projector, MertHiddenStates hidden, IBackend backend)
    {
        var c = projector.Config;
        float[] canvas = ProjectorModel.PlaceOnCanvas(hidden.States, hidden.Frames, hidden.Width, c.CanvasFrames);
        using var input = backend.Upload(canvas, hidden.Count, c.CanvasFrames, hidden.Width);
        projector.Project(input);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < ProjectorRepeats; i++) projector.Project(input);
        return clock.Elapsed.TotalMilliseconds / ProjectorRepeats;
    }

    /// <summary>Prefill of P random ids, then G greedy steps, each downloading the logits as generation does.
    /// Returns (prefill tok/s, decode tok/s).</summary>
    static (double Prefill, double Decode) TimeDecoder(MistralModel llm, int promptTokens, int genTokens, ulong seed)
    {
        var backend = llm.Backend;
        var ids = RandomIds(promptTokens, llm.Config.VocabSize, seed);
        var host = new float[llm.Config.VocabSize];
        using var state = llm.CreateState(promptTokens + genTokens);

        // Warm-up: both the multi-token and the one-token paths.
        llm.Forward(ids.AsSpan(0, Math.Min(2, ids.Length)), state);
        backend.Download(llm.Forward([ids[0]], state), host);
        state.Reset();

        var clock = Stopwatch.StartNew();
        backend.Download(llm.Forward(ids, state), host);
        double prefill = promptTokens / clock.Elapsed.TotalSeconds;

        clock.Restart();
        for (int step = 0; step < genTokens; step++)
            backend.Download(llm.Forward([TensorPrimitives.IndexOfMax(host)], state), host);
        double decode = genTokens / clock.Elapsed.TotalSeconds;
        return (prefill, decode);
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
