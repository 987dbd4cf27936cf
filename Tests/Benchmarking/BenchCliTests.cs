using System.Text.Json;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Benchmarking;

/// <summary><c>sonicverse bench --json</c> as a user runs it: every field present and positive (not a timing assert).</summary>
public class BenchCliTests
{
    static readonly string[] NumberFields =
    [
        "batch", "prompt_tokens", "gen_tokens", "load_seconds", "mert_clip_seconds", "mert_ms_per_10s_clip", "projector_ms",
        "prefill_tok_per_s", "decode_tok_per_s_per_seq", "decode_tok_per_s_total", "peak_device_bytes", "device_memory_bytes",
        "weight_bytes_per_step", "bandwidth_bytes_per_s", "ceiling_tok_per_s", "achieved_fraction",
    ];

    static readonly string[] TextFields = ["device", "device_description", "model", "weights", "batch_note", "bandwidth_source"];

    /// <summary>Counted by the ILGPU backends only; null on cpu.</summary>
    const string LaunchField = "launches_per_decode_step";

    [Fact]
    public void SyntheticSmallOnCpuPrintsEveryField()
    {
        var r = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--json",
            "--prompt-tokens", "8", "--gen-tokens", "4", "--clip-seconds", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        foreach (string f in NumberFields)
        {
            Assert.True(root.TryGetProperty(f, out var v), $"missing {f}");
            Assert.True(v.ValueKind == JsonValueKind.Number && v.GetDouble() > 0, $"{f} = {v}");
        }
        foreach (string f in TextFields)
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty(f).GetString()), $"{f} is empty");
        Assert.Equal(JsonValueKind.Null, root.GetProperty(LaunchField).ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("describe").ValueKind);  // only with --describe-seconds
        Assert.Equal(JsonValueKind.Null, root.GetProperty("lora_rank").ValueKind);  // only with --lora-rank
        Assert.Equal(NumberFields.Length + TextFields.Length + 3, root.EnumerateObject().Count());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.Equal("q4_0", JsonDocument.Parse(CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--json",
            "--quant", "q4_0", "--prompt-tokens", "4", "--gen-tokens", "2", "--clip-seconds", "1").Stdout).RootElement.GetProperty("weights").GetString());
        // Weights read per step: the small preset's decoder without its embedding table, in f16.
        var c = Runtime.Benchmarking.SyntheticPreset.Get("small").Mistral;
        long matrices = (long)c.LayerCount * (2L * c.HiddenSize * c.QueryWidth + 2L * c.HiddenSize * c.KvWidth + 3L * c.HiddenSize * c.IntermediateSize)
            + (long)c.VocabSize * c.HiddenSize;
        long norms = (2L * c.LayerCount + 1) * c.HiddenSize * 4;
        Assert.InRange(root.GetProperty("weight_bytes_per_step").GetInt64(), 2 * matrices + norms, 2 * matrices + norms + 64 * 1024);
    }

    [Fact]
    public void OnTheIlgpuCpuAcceleratorLaunchesPerStepAreCounted()
    {
        var r = CliRunner.Run("bench", "--synthetic", "small", "--device", "ilgpu-cpu", "--json",
            "--prompt-tokens", "2", "--gen-tokens", "2", "--clip-seconds", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("ilgpu-cpu", root.GetProperty("device").GetString());
        foreach (string f in NumberFields)
            Assert.True(root.GetProperty(f).GetDouble() > 0, $"{f} = {root.GetProperty(f)}");
        // Every layer launches several kernels per step; the small preset has more than one layer.
        var c = Runtime.Benchmarking.SyntheticPreset.Get("small").Mistral;
        double launches = root.GetProperty(LaunchField).GetDouble();
        Assert.InRange(launches, 5.0 * c.LayerCount, 100.0 * c.LayerCount);
    }

    /// <summary><c>--lora-rank</c> gives the synthetic decoder a random side path on all seven projections (what it costs
    /// in launches: MistralLoraAndErrorTests.LoraSidePathAddsNineLaunchesABlock).</summary>
    [Fact]
    public void LoraRankAddsASidePath()
    {
        var lora = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--json", "--lora-rank", "4",
            "--prompt-tokens", "2", "--gen-tokens", "2", "--clip-seconds", "1");
        Assert.True(lora.ExitCode == 0, lora.Stderr);
        var withLora = JsonDocument.Parse(lora.Stdout).RootElement;
        Assert.Equal(4, withLora.GetProperty("lora_rank").GetInt32());
        Assert.Contains("LoRA r=4", withLora.GetProperty("model").GetString());
    }

    [Fact]
    public void BatchedDecodeReportsPerSequenceAndTotal()
    {
        var r = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--json", "--batch", "3",
            "--prompt-tokens", "4", "--gen-tokens", "2", "--clip-seconds", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(3, root.GetProperty("batch").GetInt32());
        double perSeq = root.GetProperty("decode_tok_per_s_per_seq").GetDouble();
        Assert.Equal(3 * perSeq, root.GetProperty("decode_tok_per_s_total").GetDouble(), 6);
        Assert.Contains("DecodeBatch", root.GetProperty("batch_note").GetString());
    }

    /// <summary>A 25 s song (captions through a LoRA side path): 3 chunks (the 5 s tail is its own), every stage timed,
    /// the total their sum.</summary>
    [Fact]
    public void DescribeSecondsTimesEveryStageOfASong()
    {
        var r = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--json", "--lora-rank", "4",
            "--prompt-tokens", "4", "--gen-tokens", "2", "--clip-seconds", "1", "--describe-seconds", "25");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var describe = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("describe");
        var work = describe.GetProperty("workload");
        Assert.Equal(3, work.GetProperty("chunks").GetInt32());
        Assert.Equal(128, work.GetProperty("caption_tokens").GetInt32());
        double sum = 0;
        foreach (string stage in new[] { "mert_seconds", "projector_seconds", "prefill_seconds", "generate_seconds",
                     "chain_prefill_seconds", "chain_generate_seconds" })
        {
            double seconds = describe.GetProperty(stage).GetDouble();
            Assert.True(seconds > 0, $"{stage} = {seconds}");
            sum += seconds;
        }
        Assert.Equal(sum, describe.GetProperty("total_seconds").GetDouble(), 9);
        Assert.Contains("describe: ", r.Stderr);
    }

    [Fact]
    public void BadFlagsAreUsageErrors()
    {
        Assert.Equal(2, CliRunner.Run("bench", "--device", "cpu").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--synthetic", "huge", "--device", "cpu").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--synthetic", "small", "--quant", "q5").ExitCode);
        var song = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--describe-seconds", "0");
        Assert.Equal(2, song.ExitCode);
        Assert.Contains("--describe-seconds must be in [1, 3600], got 0", song.Stderr);
        var rank = CliRunner.Run("bench", "--synthetic", "small", "--device", "cpu", "--lora-rank", "0");
        Assert.Equal(2, rank.ExitCode);
        Assert.Contains("--lora-rank must be in [1, 1024], got 0", rank.Stderr);
        var real = CliRunner.Run("bench", "--model", "somewhere", "--device", "cpu", "--lora-rank", "8");
        Assert.Equal(2, real.ExitCode);
        Assert.Contains("--lora-rank applies to synthetic weights", real.Stderr);
    }
}
