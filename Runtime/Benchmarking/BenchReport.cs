using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>What <c>sonicverse bench</c> runs.</summary>
public sealed record BenchOptions
{
    /// <summary>null = auto (CUDA when present, else cpu).</summary>
    public DeviceKind? Device { get; init; }
    /// <summary>The cpu backend rounds the activations of quantized products to int8, as llama.cpp does
    /// (<c>--int8-activations</c>, <see cref="CpuBackend.Int8Activations"/>).</summary>
    public bool Int8Activations { get; init; }
    /// <summary>A <see cref="SyntheticPreset"/> name; exactly one of this and <see cref="Model"/>.</summary>
    public string? Synthetic { get; init; }
    /// <summary>A model folder or bundle, resolved like <c>caption --model</c>.</summary>
    public string? Model { get; init; }
    /// <summary>The decoder's weight type: F16 (synthetic default; a real model keeps its stored type), Q8_0 or Q4_0.</summary>
    public DType? Quant { get; init; }
    public int Batch { get; init; } = 1;
    /// <summary>null: the preset's default (128 for real shapes).</summary>
    public int? PromptTokens { get; init; }
    /// <summary>null: 32.</summary>
    public int? GenTokens { get; init; }
    /// <summary>The clip MERT encodes; null: the preset's default (10 s for real shapes). Shorter clips are reported
    /// scaled linearly to 10 s.</summary>
    public double? ClipSeconds { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>Time every op of each timed stage (with a device wait around each) and log the breakdown.</summary>
    public bool Profile { get; init; }
    /// <summary>Synthetic weights only: a random LoRA side path of this rank on all seven projections, as captions run
    /// the SonicVerse adapter (a real model brings its own); null: none.</summary>
    public int? LoraRank { get; init; }
    /// <summary>Also time <c>describe</c>'s model work for a song this long (<see cref="DescribeWorkload"/>); null: not.</summary>
    public double? DescribeSeconds { get; init; }

    public void Validate()
    {
        if ((Synthetic is null) == (Model is null)) throw new ArgumentException("give exactly one of --synthetic and --model");
        if (Quant is { } q && q is not (DType.F16 or DType.Q8_0 or DType.Q4_0))
            throw new ArgumentException($"--quant {q}: use f16, q8_0 or q4_0");
        if (Model is not null && Quant == DType.F16)
            throw new ArgumentException("--quant f16 applies to synthetic weights; a real model keeps its stored type unless q8_0/q4_0");
        if (Batch < 1) throw new ArgumentException($"--batch must be ≥ 1, got {Batch}");
        if (PromptTokens < 1 || GenTokens < 1)
            throw new ArgumentException($"--prompt-tokens and --gen-tokens must be ≥ 1, got {PromptTokens} and {GenTokens}");
        if (LoraRank is { } rank && (Synthetic is null || rank < 1 || rank > 1024))
            throw new ArgumentException(Synthetic is null
                ? "--lora-rank applies to synthetic weights; a real model runs its own adapter"
                : $"--lora-rank must be in [1, 1024], got {rank}");
        if (DescribeSeconds is { } song && !(song >= 1 && song <= 3600))
            throw new ArgumentException($"--describe-seconds must be in [1, 3600], got {song}");
        if (ClipSeconds is { } clip && !(clip >= 1 && clip <= 10))
            throw new ArgumentException($"--clip-seconds must be in [1, 10] (the projector's canvas holds 10.13 s), got {clip}");
    }
}

/// <summary>
/// One bench run, in the units users feel (STYLE habit 15). Decode is bandwidth-bound (SPEC §11): every step reads all
/// decoder weights except the embedding table once, so the ceiling is bandwidth ÷ <see cref="WeightBytesPerStep"/>
/// steps/s, and <see cref="AchievedFraction"/> = achieved steps/s ÷ that ceiling.
/// </summary>
public sealed record BenchReport
{
    public required string Device { get; init; }
    public required string DeviceDescription { get; init; }
    public required string Model { get; init; }
    public required string Weights { get; init; }
    /// <summary>The rank of the synthetic LoRA side path the decode ran through (<see cref="BenchOptions.LoraRank"/>);
    /// null: none, or a real model's own adapter (named in <see cref="Model"/>'s loading log).</summary>
    public required int? LoraRank { get; init; }
    public required int Batch { get; init; }
    /// <summary>How the batch was run.</summary>
    public required string BatchNote { get; init; }
    public required int PromptTokens { get; init; }
    public required int GenTokens { get; init; }
    public required double LoadSeconds { get; init; }
    /// <summary>The clip MERT encoded; when shorter than 10 s, <see cref="MertMsPer10sClip"/> is scaled linearly.</summary>
    public required double MertClipSeconds { get; init; }
    /// <summary>MERT on a 10 s clip at the model's rate (the projector's canvas holds 10.13 s).</summary>
    [JsonPropertyName("mert_ms_per_10s_clip")]
    public required double MertMsPer10sClip { get; init; }
    /// <summary>One clip through the projector (60 tokens at batch 1).</summary>
    public required double ProjectorMs { get; init; }
    /// <summary>Prompt tokens per second over all sequences of the batch.</summary>
    public required double PrefillTokPerS { get; init; }
    public required double DecodeTokPerSPerSeq { get; init; }
    public required double DecodeTokPerSTotal { get; init; }
    /// <summary>High-water mark of bytes held by live tensors (weights, caches, scratch) over the whole run.</summary>
    public required long PeakDeviceBytes { get; init; }
    public required long DeviceMemoryBytes { get; init; }
    public required long WeightBytesPerStep { get; init; }
    public required double BandwidthBytesPerS { get; init; }
    public required string BandwidthSource { get; init; }
    /// <summary>Total tok/s if every step only streamed the weights at full bandwidth (batch × bandwidth ÷ bytes).</summary>
    public required double CeilingTokPerS { get; init; }
    public required double AchievedFraction { get; init; }
    /// <summary>Kernel launches and device copies queued per decode step (ILGPU backends; null on cpu). ILGPU has no
    /// CUDA graphs, so at a few microseconds each they bound small-model and batch-1 speed.</summary>
    public required double? LaunchesPerDecodeStep { get; init; }
    /// <summary><c>describe</c>'s model work for a whole song, when asked for (<see cref="BenchOptions.DescribeSeconds"/>).</summary>
    public DescribeTiming? Describe { get; init; }

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // Text fields such as "2 × memory clock × bus width / 8" stay readable (the output is a report, not HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string ToText()
    {
        var s = new StringBuilder();
        void Line(string name, string value) => s.AppendLine(CultureInfo.InvariantCulture, $"{name,-28} {value}");
        string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
        Line("device", DeviceDescription);
        Line("model", $"{Model}, weights {Weights}");
        Line("batch", $"{Batch} ({BatchNote})");
        Line("load", $"{F(LoadSeconds)} s");
        Line("MERT per 10 s clip", $"{F(MertMsPer10sClip)} ms" + (MertClipSeconds < 10 ? $" (a {F(MertClipSeconds)} s clip, scaled)" : ""));
        Line("projector per clip", $"{F(ProjectorMs)} ms");
        Line("prefill", $"{F(PrefillTokPerS)} tok/s ({PromptTokens} prompt tokens" + (Batch > 1 ? $" × {Batch} sequences)" : ")"));
        Line("decode per sequence", $"{F(DecodeTokPerSPerSeq, "F2")} tok/s ({GenTokens} tokens)");
        Line("decode total", $"{F(DecodeTokPerSTotal, "F2")} tok/s");
        Line("peak device memory", $"{F(PeakDeviceBytes / 1e9, "F2")} GB of {F(DeviceMemoryBytes / 1e9, "F0")} GB");
        Line("weights read per step", $"{F(WeightBytesPerStep / 1e9, "F3")} GB");
        Line("memory bandwidth", $"{F(BandwidthBytesPerS / 1e9)} GB/s ({BandwidthSource})");
        Line("bandwidth ceiling", $"{F(CeilingTokPerS, "F2")} tok/s");
        Line("achieved fraction", $"{F(100 * AchievedFraction)} % of the ceiling");
        if (LaunchesPerDecodeStep is { } launches) Line("launches per decode step", F(launches, "F0"));
        if (Describe is { Workload: var w } d)
        {
            Line("describe", $"{F(d.TotalSeconds, "F2")} s for a {F(w.SongSeconds, "0.#")} s song ({w.Chunks} chunks; captions of " +
                             $"{w.CaptionTokens} tokens, a description of {w.ChainTokens}: the limits, so an upper bound)");
            Line("  MERT, projector", $"{F(d.MertSeconds, "F2")} s, {F(d.ProjectorSeconds, "F2")} s");
            Line("  caption prefill, decode", $"{F(d.PrefillSeconds, "F2")} s ({w.Chunks} × {w.ChunkPromptTokens} tokens), " +
                                              $"{F(d.GenerateSeconds, "F2")} s");
            Line("  chain prefill, decode", $"{F(d.ChainPrefillSeconds, "F2")} s ({w.ChainPromptTokens} tokens), " +
                                            $"{F(d.ChainGenerateSeconds, "F2")} s");
        }
        return s.ToString();
    }
}
