using System.Diagnostics;
using System.Text.Json;
using SonicVerse.Cli;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.IO;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Audio;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary>The tiny captioner, loaded once for the describe tests, and synthetic songs at 24 kHz.</summary>
public sealed class DescribeFixture : IDisposable
{
    public const int Rate = 24000;

    public string Folder { get; } = Directory.CreateTempSubdirectory("sonicverse-describe-").FullName;
    public IBackend Backend { get; } = Runtime.Backends.Backend.Create(DeviceKind.Cpu);
    public SonicVerseCaptioner Captioner { get; }
    public string Song35 { get; }
    public string Song32 { get; }

    public DescribeFixture()
    {
        Captioner = SonicVerseCaptioner.Load(ModelFiles.Resolve(ReferenceKit.File("sonicverse-tiny"), null, null, null), Backend);
        Song35 = WriteSong(Path.Combine(Folder, "song thirty-five.wav"), 35);
        Song32 = WriteSong(Path.Combine(Folder, "song32.wav"), 32);
    }

    /// <summary>A PCM16 mono song whose pitch and loudness change every second, so chunks differ.</summary>
    public static string WriteSong(string path, double seconds)
    {
        int n = (int)Math.Round(seconds * Rate);
        var data = new byte[2 * n];
        for (int i = 0; i < n; i++)
        {
            int second = i / Rate;
            double f = 110 * (1 + second % 7), amp = 0.2 + 0.05 * (second % 5);
            double x = amp * Math.Sin(2 * Math.PI * f * i / Rate) + 0.1 * Math.Sin(2 * Math.PI * 3.3 * f * i / Rate);
            short s = (short)Math.Round(x * 32767);
            data[2 * i] = (byte)s;
            data[2 * i + 1] = (byte)(s >> 8);
        }
        TestWav.Write(path, data, 1, Rate, 16, TestWav.Encoding.Pcm);
        return path;
    }

    public void Dispose()
    {
        Captioner.Dispose();
        Backend.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}

public class DescribeTests(DescribeFixture fixture) : IClassFixture<DescribeFixture>
{
    const int Rate = DescribeFixture.Rate;

    static readonly DescribeOptions Fast = new()
    {
        ChunkGeneration = new GenerationOptions { MaxNewTokens = 4 },
        ChainGeneration = new GenerationOptions { MaxNewTokens = 8 },
    };

    static string Model => ReferenceKit.File("sonicverse-tiny");

    /// <summary>SPEC §8's prompt, typed here from the spec (not from the product's constant).</summary>
    static string SpecPrompt(string song, IEnumerable<string> lines) =>
        "You are a music critic. Given the following chronological 10-second chunk descriptions of a single piece, write one flowing, detailed description of the entire song—its structure, instrumentation, and standout moments. Mention transition points in terms of time stamps. If the description of certain chunks does not seem to fit with those for the chunks before and after, treat those as bad descriptions with lower accuracy and do not incorporate the information. Retain concrete musical attributes such as key, chords, tempo.\n"
        + "\n"
        + $"Chunks for \"{song}\":\n"
        + string.Concat(lines.Select(l => l + "\n"))
        + "\n"
        + "Full song description:";

    [Fact]
    public void CanvasHoldsTenPointOneThreeSeconds()
    {
        // 760 frames: 759 hops of 320 samples plus one 400-sample receptive field (MERT conv stack, SPEC §3).
        Assert.Equal(759 * 320 + 400, fixture.Captioner.MaxClipSamples);
    }

    [Fact]
    public void ThirtyFiveSecondsGiveFourChunksWithRealStamps()
    {
        var splitter = new ChunkSplitter(new LongFormDescriber(fixture.Captioner).Layout(Fast));
        var chunks = splitter.Read(fixture.Song35, Rate).ToList();
        Assert.Equal(new (long, long)[] { (0, 240000), (240000, 480000), (480000, 720000), (720000, 840000) },
            chunks.Select(c => (c.StartSample, c.EndSample)));
        Assert.Equal(840000, splitter.TotalSamples);
        Assert.Equal(0, splitter.DroppedSamples);
        Assert.Equal(4, splitter.CountChunks(840000));
    }

    [Fact]
    public void ATwoSecondTailIsDroppedWhenItCannotJoinAndMergedWhenItCan()
    {
        var describer = new LongFormDescriber(fixture.Captioner);
        // 10 s chunks: 10 + 2 s exceed the 10.13 s canvas, so the tail is dropped.
        var tenSeconds = new ChunkSplitter(describer.Layout(Fast));
        Assert.Equal(new (long, long)[] { (0, 240000), (240000, 480000), (480000, 720000) },
            tenSeconds.Read(fixture.Song32, Rate).Select(c => (c.StartSample, c.EndSample)));
        Assert.Equal(2 * Rate, tenSeconds.DroppedSamples);
        Assert.Equal(3, tenSeconds.CountChunks(32 * Rate));
        // 7.5 s chunks: 4 × 7.5 + 2; 7.5 + 2 = 9.5 s fits, so the last window is 22.5 to 32.
        var merged = new ChunkSplitter(describer.Layout(Fast with { ChunkSeconds = 7.5 }));
        var chunks = merged.Read(fixture.Song32, Rate).ToList();
        Assert.Equal(new (long, long)[] { (0, 180000), (180000, 360000), (360000, 540000), (540000, 768000) },
            chunks.Select(c => (c.StartSample, c.EndSample)));
        Assert.Equal(0, merged.DroppedSamples);
        Assert.Equal(4, merged.CountChunks(32 * Rate));
        // The merged chunk holds exactly the song's last 9.5 s.
        float[] all = AudioLoader.LoadMono(fixture.Song32, Rate);
        Assert.Equal(all[540000..], chunks[^1].Samples);
    }

    [Fact]
    public void ASongShorterThanTheMinimumTailIsOneChunk()
    {
        var splitter = new ChunkSplitter(new ChunkLayout(240000, 72000, 243280));
        var chunks = splitter.Split([new float[1000]]).ToList();
        Assert.Single(chunks);
        Assert.Equal(1000, chunks[0].EndSample);
    }

    [Fact]
    public void EachChunkCaptionEqualsCaptioningThatChunkAloneAndTheChainPromptIsSpecs()
    {
        var describer = new LongFormDescriber(fixture.Captioner);
        var song = describer.Describe(fixture.Song35, Fast);
        Assert.Equal(35.0, song.DurationSeconds, 6);
        Assert.Equal(new (double, double)[] { (0, 10), (10, 20), (20, 30), (30, 35) }, song.Chunks.Select(c => (c.StartSeconds, c.EndSeconds)));

        float[] all = AudioLoader.LoadMono(fixture.Song35, Rate);
        for (int i = 0; i < 4; i++)
        {
            // The chunk cut by hand from the whole song, written as PCM16 (exact: the song is PCM16), captioned alone.
            string path = Path.Combine(fixture.Folder, $"chunk{i}.wav");
            TestWav.Write(path, Pcm16(all[(i * 10 * Rate)..Math.Min(all.Length, (i + 1) * 10 * Rate)]), 1, Rate, 16, TestWav.Encoding.Pcm);
            var alone = fixture.Captioner.Caption(path, Fast.ChunkGeneration);
            Assert.Equal(alone.Ids, song.Chunks[i].Ids);
            Assert.Equal(alone.Caption, song.Chunks[i].Caption);
            Assert.Equal(alone.Projection.Logits["key_detection"], song.Chunks[i].FeatureLogits["key_detection"]);
        }

        string[] stamps = ["0 to 10", "10 to 20", "20 to 30", "30 to 35"];
        string expected = SpecPrompt("song thirty-five", song.Chunks.Select((c, i) => $" {stamps[i]} seconds. {c.Caption}"));
        Assert.Equal(expected, song.ChainPrompt);
    }

    [Fact]
    public void ProgressGoesThroughEveryStageInOrderWithItsCounts()
    {
        var describer = new LongFormDescriber(fixture.Captioner);
        var heard = new List<DescribeProgress>();
        var options = Fast with { ChunkGeneration = Fast.ChunkGeneration with { MaxNewTokens = 5 } };
        var song = describer.Describe(fixture.Song35, options, progress: heard.Add);

        Assert.Equal(Enumerable.Range(1, 4).Select(i => new DescribeProgress(DescribeStage.Encoding, i, 4)),
            heard.TakeWhile(p => p.Stage == DescribeStage.Encoding));
        int steps = song.Chunks.Max(c => c.Ids.Length), promptTokens = heard.Last(p => p.Stage == DescribeStage.ChainPrefill).Done;
        DescribeProgress[] expected =
        [
            .. Enumerable.Range(1, 4).Select(i => new DescribeProgress(DescribeStage.Encoding, i, 4)),
            new(DescribeStage.CaptionPrefill, 0, 4),
            .. Enumerable.Range(1, steps).Select(i => new DescribeProgress(DescribeStage.Captioning, i, 5)),
            new(DescribeStage.ChainPrefill, promptTokens, promptTokens),
            .. Enumerable.Range(1, song.Ids.Length).Select(i => new DescribeProgress(DescribeStage.Describing, i, 8)),
        ];
        Assert.Equal(expected, heard);
        Assert.True(promptTokens > 100, $"the chaining prompt has {promptTokens} tokens");
    }

    [Fact]
    public void BatchedAndUnbatchedChunkCaptionsAreIdentical()
    {
        // Short chunks keep MERT cheap; batching does not care about the chunk length. 6.5 s in 1.5 s chunks: the
        // 0.5 s tail joins the last chunk, so the batch mixes lengths.
        string path = DescribeFixture.WriteSong(Path.Combine(fixture.Folder, "batch.wav"), 6.5);
        var describer = new LongFormDescriber(fixture.Captioner);
        var layout = describer.Layout(Fast with { ChunkSeconds = 1.5 });
        int[][] Run(int batch) =>
            describer.CaptionChunks(new ChunkSplitter(layout).Read(path, Rate), Fast.ChunkGeneration, batch)
                .Select(c => c.Ids).ToArray();
        int[][] one = Run(1);
        Assert.Equal(4, one.Length);
        Assert.Equal(one, Run(0));
        Assert.Equal(one, Run(3));
    }

    [Fact]
    public void ChainingRunsThePlainInstructModelWithTheSystemTextInFront()
    {
        var describer = new LongFormDescriber(fixture.Captioner);
        string prompt = SpecPrompt("x", [" 0 to 10 seconds. a calm piano piece", " 10 to 12 seconds. drums join"]);
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var (text, ids) = describer.Chain(prompt, options);

        // The same weights loaded without the adapter: what "LoRA off" must reproduce.
        using var plain = MistralModel.Load(ReferenceKit.File("mistral-tiny", "hf"), fixture.Backend);
        using var state = plain.CreateState(512);
        var tokenizer = fixture.Captioner.Tokenizer;
        int[] promptIds = [1, .. tokenizer.Encode("[INST] You are an expert music writer.\n\n" + prompt + " [/INST]", addBos: false)];
        int[] expected = TokenGenerator.Generate(plain, state, promptIds, options).Select(t => t.Id).ToArray();
        Assert.Equal(expected, ids);
        Assert.Equal(tokenizer.Decode(expected, skipSpecial: true).Trim(), text);
    }

    [Fact]
    public void CustomChainPromptFillsBothPlaceholders()
    {
        string rendered = ChainPrompt.Render("Song {song_name}!\n{chunks}\nEnd {chunks_not}", "a {chunks} b", [" 0 to 10 seconds. x", " 10 to 12.5 seconds. y"]);
        Assert.Equal("Song a {chunks} b!\n 0 to 10 seconds. x\n 10 to 12.5 seconds. y\nEnd {chunks_not}", rendered);
    }

    [Fact]
    public void CliWritesJsonResumesAndReportsACorruptFile()
    {
        string dir = Directory.CreateTempSubdirectory("sonicverse-describe-cli-").FullName;
        try
        {
            string inputs = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName, outDir = Path.Combine(dir, "out");
            File.Copy(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"), Path.Combine(inputs, "a.wav"));
            File.Copy(ReferenceKit.File("audio", "clip_24k_mono.flac"), Path.Combine(inputs, "b.flac"));
            File.WriteAllText(Path.Combine(inputs, "c.wav"), "not audio at all");
            string[] common = ["describe", inputs, "--model", Model, "--device", "cpu", "--chunk-max-new-tokens", "4",
                "--max-new-tokens", "8", "--format", "json", "--out", outDir];

            var first = CliRunner.Run(common);
            Assert.Equal(4, first.ExitCode);
            Assert.Contains($"error: {Path.Combine(inputs, "c.wav")}: ", first.Stderr);
            Assert.Equal(["a.json", "b.json"], Directory.GetFiles(outDir).Select(Path.GetFileName).Order());
            using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "a.json")));
            var root = a.RootElement;
            Assert.Equal(36000 / 24000.0, root.GetProperty("duration_seconds").GetDouble(), 3);
            var chunk = Assert.Single(root.GetProperty("chunks").EnumerateArray());
            Assert.Equal(0, chunk.GetProperty("start").GetDouble());
            Assert.Equal(1.5, chunk.GetProperty("end").GetDouble(), 3);
            Assert.Equal(3, chunk.GetProperty("features").GetProperty("vocals").GetArrayLength());
            string caption = chunk.GetProperty("caption").GetString()!;
            Assert.Equal(SpecPrompt("a", [$" 0 to 1.5 seconds. {caption}"]), root.GetProperty("chain_prompt").GetString());
            Assert.True(root.GetProperty("seconds").GetProperty("chain_generate").GetDouble() >= 0);
            Assert.False(string.IsNullOrEmpty(root.GetProperty("description").GetString()));

            var again = CliRunner.Run(common);
            Assert.Contains("skip: ", again.Stderr);
            Assert.DoesNotContain("wrote", again.Stderr);
            var forced = CliRunner.Run([.. common, "--force"]);
            Assert.Equal(2, forced.Stderr.Split('\n').Count(l => l.StartsWith("wrote ")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ShardsCoverEveryInputExactlyOnce()
    {
        var items = Enumerable.Range(0, 11).ToList();
        foreach (int n in new[] { 1, 2, 3, 4, 11, 13 })
        {
            var seen = Enumerable.Range(0, n).SelectMany(k => Shards.Select(items, k, n)).ToList();
            Assert.Equal(items, seen.Order());
        }
    }

    [Fact]
    public void CliShardsSplitAFolderBetweenRuns()
    {
        string dir = Directory.CreateTempSubdirectory("sonicverse-describe-shard-").FullName;
        try
        {
            string inputs = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName, outDir = Path.Combine(dir, "out");
            foreach (string name in new[] { "s1.wav", "s2.wav", "s3.wav" })
                File.Copy(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"), Path.Combine(inputs, name));
            var written = new List<string>();
            for (int k = 0; k < 2; k++)
            {
                var r = CliRunner.Run("describe", inputs, "--model", Model, "--device", "cpu", "--chunk-max-new-tokens", "2",
                    "--max-new-tokens", "2", "--out", outDir, "--shard", $"{k}/2");
                Assert.True(r.ExitCode == 0, r.Stderr);
                written.AddRange(r.Stderr.Split('\n').Where(l => l.StartsWith("wrote ")).Select(l => Path.GetFileName(l.Trim())));
            }
            Assert.Equal(["s1.txt", "s2.txt", "s3.txt"], written.Order());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AFailedWriteLeavesNeitherTheTargetNorATemporaryFile()
    {
        string dir = Directory.CreateTempSubdirectory("sonicverse-atomic-").FullName;
        try
        {
            string target = Path.Combine(dir, "song.json");
            Assert.Throws<IOException>(() => AtomicFile.Write(target, s =>
            {
                s.Write(new byte[1000]);
                throw new IOException("disk full (simulated)");
            }));
            Assert.Empty(Directory.GetFiles(dir));
            File.WriteAllText(target, "old");
            Assert.Throws<IOException>(() => AtomicFile.Write(target, _ => throw new IOException("simulated")));
            Assert.Equal("old", File.ReadAllText(target));
            // A killed writer's leftover is removed by the next run.
            File.WriteAllText(Path.Combine(dir, ".song.json.123-abc.partial"), "half");
            AtomicFile.RemoveStale(target);
            Assert.Equal([target], Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AKilledRunResumesToTheSameOutputsWithoutPartialFiles()
    {
        string dir = Directory.CreateTempSubdirectory("sonicverse-describe-kill-").FullName;
        try
        {
            string inputs = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName;
            for (int i = 0; i < 4; i++) DescribeFixture.WriteSong(Path.Combine(inputs, $"song{i}.wav"), 3 + 0.5 * i);
            string[] Args(string outDir) => ["describe", inputs, "--model", Model, "--device", "cpu", "--chunk-seconds", "1.5", "--chunk-max-new-tokens", "4",
                "--max-new-tokens", "8", "--format", "json", "--out", outDir];

            string killed = Path.Combine(dir, "killed"), clean = Path.Combine(dir, "clean");
            KillWhenFirstOutputAppears(Args(killed), killed);
            Assert.All(Directory.GetFiles(killed).Where(f => !AtomicFile.IsTemporary(f)),
                f => JsonDocument.Parse(File.ReadAllText(f)).Dispose());   // whatever exists is complete
            Assert.Equal(0, CliRunner.Run(Args(killed)).ExitCode);
            Assert.Equal(0, CliRunner.Run(Args(clean)).ExitCode);

            var names = Directory.GetFiles(killed).Select(f => Path.GetFileName(f)).Order().ToList();
            Assert.Equal(["song0.json", "song1.json", "song2.json", "song3.json"], names);
            foreach (string name in names)
                Assert.Equal(WithoutTimings(Path.Combine(clean, name)), WithoutTimings(Path.Combine(killed, name)));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    static void KillWhenFirstOutputAppears(string[] args, string outDir)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sonicverse.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (Directory.Exists(outDir) && Directory.GetFiles(outDir, "*.json").Length > 0) break;
            Thread.Sleep(20);
        }
        if (!p.HasExited) p.Kill(entireProcessTree: true);
        p.WaitForExit();
    }

    /// <summary>The JSON without its "seconds" (timings differ between runs).</summary>
    static string WithoutTimings(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return string.Join("\n", doc.RootElement.EnumerateObject().Where(p => p.Name != "seconds").Select(p => p.ToString()));
    }

    static byte[] Pcm16(float[] samples)
    {
        var bytes = new byte[2 * samples.Length];
        for (int i = 0; i < samples.Length; i++)
        {
            short s = (short)Math.Round(samples[i] * 32768);
            bytes[2 * i] = (byte)s;
            bytes[2 * i + 1] = (byte)(s >> 8);
        }
        return bytes;
    }
}
