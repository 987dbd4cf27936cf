using System.Globalization;
using SonicVerse.Loader;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.IO;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse describe AUDIO|DIR... [--format text|json|markdown] [--out FILE|DIR] [--shard K/N] [...]</c>:
/// one long description per song (SPEC §8), the model loaded once for all files.</summary>
public static class DescribeVerb
{
    public const string Help = """
        usage: sonicverse describe AUDIO|DIR... [model flags as for caption] [options]

        Describes whole songs: the song is cut into chunks, every chunk is captioned by SonicVerse, and the plain
        Mistral-7B-Instruct (the same loaded model with the SonicVerse LoRA off) turns the time-stamped chunk
        captions into one description, greedy. The model loads once for all inputs.

        inputs
          AUDIO|DIR...             audio files (WAV, FLAC, MP3, Ogg Vorbis); a folder stands for its audio files
                                   (*.wav *.flac *.mp3 *.ogg *.oga, not its subfolders). The inputs are processed in
                                   sorted (ordinal) order of their paths.
        chunks
          --chunk-seconds S        chunk length (default 10); at most one projector canvas: 760 MERT frames = 10.13 s
          --min-tail-seconds S     (default 3) the last piece of a song, when shorter than S, is not captioned on its own:
                                   it is appended to the previous chunk if the two together still fit one canvas
                                   (10.13 s; with 10 s chunks that means tails up to 0.13 s), and dropped otherwise
                                   (a warning says how much). A song shorter than S is one chunk. Time stamps are the
                                   real windows: 0 to 10, 10 to 20, ..., and a merged tail extends the last window.
          --batch N                chunks decoded together in one batch (default: all chunks of the song)
          --chunk-max-new-tokens N tokens per chunk caption (default 128)
          --prompt TEXT            the chunk prompt (default "Describe the music. <sound>")
        chaining
          --max-new-tokens N       tokens of the description (default 1000)
          --chain-prompt FILE      a template for the chaining prompt instead of SPEC §8's: {song_name} becomes the
                                   file name without extension, {chunks} the lines " START to END seconds. CAPTION"
                                   (one per chunk, joined by newlines); trailing line breaks of FILE are ignored
        output
          --format text|json|markdown
                                   text (default): the description, streamed to stdout as it is generated when there
                                   is no --out. json: {"file","duration_seconds","chunks":[{"start","end","caption",
                                   "features"}],"chain_prompt","description","seconds":{...}} (one line per song on
                                   stdout). markdown: a title, the description, a table of chunks with top features.
          --out FILE|DIR           FILE for one input; DIR (an existing folder, a path ending in /, a folder input, or
                                   several inputs) gets one <input-stem>.txt|json|md per input. Files are written
                                   atomically (temporary file + rename): an interrupted run leaves no partial output.
          --force                  redo inputs whose output already exists (default: skip them, so reruns resume)
          --shard K/N              process only the inputs whose position in the sorted input list is K mod N
                                   (0 <= K < N): N machines with the same arguments cover every input exactly once
          --labels FILE  --device auto|cuda|cpu|ilgpu-cpu  --quant q8_0|q4_0  --int8-activations (as caption)

        A file that cannot be described gets one "error: FILE: ..." line on stderr; the others are still described and
        the exit code is 4 at the end. When stderr is a terminal a progress line shows each stage: encoding the
        chunks, captioning them (decode steps), reading the captions (the chaining prompt's tokens), describing.
        """;

    static readonly string[] AudioExtensions = [".wav", ".flac", ".mp3", ".ogg", ".oga"];

    public static int Run(IEnumerable<string> argv)
    {
        var list = argv.ToList();
        if (list.Contains("--help") || list.Contains("-h"))
        {
            Console.WriteLine(Help);
            return ExitCodes.Ok;
        }
        var args = new Args(list, "force", "int8-activations");
        var plan = ReadPlan(args);
        var work = plan.Inputs.Where(input => plan.Force || !OutputExists(plan, input)).ToList();
        foreach (string skipped in plan.Inputs.Except(work))
            Console.Error.WriteLine($"skip: {skipped}: {plan.OutputFor(skipped)} exists (--force to redo)");
        if (work.Count == 0) return ExitCodes.Ok;

        using var backend = Backend.Create(DeviceKinds.Parse(plan.Device), msg => Console.Error.WriteLine(msg), plan.Int8Activations);
        using var captioner = SonicVerseCaptioner.Load(plan.Files, backend, plan.Quant, msg => Console.Error.WriteLine(msg));
        if (plan.Int8Activations && captioner.Llm.Int8ActivationsUnused() is { } unused) Console.Error.WriteLine($"warning: {unused}");
        var describer = new LongFormDescriber(captioner);
        var options = plan.Options with
        {
            ChunkGeneration = plan.Options.ChunkGeneration with { EosId = captioner.Llm.Config.EosId, Cancel = Interrupts.Current },
            ChainGeneration = plan.Options.ChainGeneration with { EosId = captioner.Llm.Config.EosId, Cancel = Interrupts.Current },
        };
        try { describer.Layout(options); }
        catch (ArgumentException e) { throw new UsageException($"describe: {e.Message}"); }

        int failed = work.Count(input => !DescribeOne(describer, plan, options, input));
        Console.Error.WriteLine($"describe: {work.Count - failed} described, {plan.Inputs.Count - work.Count} skipped, {failed} failed");
        return failed > 0 ? ExitCodes.BadInput : ExitCodes.Ok;
    }

    static bool OutputExists(DescribePlan plan, string input) => plan.OutputFor(input) is string output && File.Exists(output);

    /// <summary>Describes and writes one input; a bad input is one error line and <c>false</c>, never the end of the run.</summary>
    static bool DescribeOne(LongFormDescriber describer, DescribePlan plan, DescribeOptions options, string input)
    {
        string? output = plan.OutputFor(input);
        bool stream = output is null && plan.Format == DescribeFormat.Text;
        var bar = Console.IsErrorRedirected ? null : new ProgressBar(Path.GetFileName(input));
        try
        {
            if (output is not null) AtomicFile.RemoveStale(output);
            if (stream && plan.Inputs.Count > 1) Console.Out.WriteLine($"==> {input} <==");
            var song = describer.Describe(input, options,
                onText: stream ? text => { bar?.Clear(); Console.Out.Write(text); } : null,
                warn: msg => { bar?.Clear(); Console.Error.WriteLine($"warning: {msg}"); },
                progress: bar is null ? null : p => ShowProgress(bar, p, textOnTerminal: stream && !Console.IsOutputRedirected));
            bar?.Clear();
            if (stream) Console.Out.WriteLine();
            else Write(song, plan, output);
            return true;
        }
        catch (Exception e) when (e is InputException or IOException or InvalidDataException or UnauthorizedAccessException
                                      or NotSupportedException)
        {
            bar?.Clear();
            string message = e.Message.StartsWith(input + ": ", StringComparison.Ordinal) ? e.Message[(input.Length + 2)..] : e.Message;
            Console.Error.WriteLine($"error: {input}: {message}");
            return false;
        }
    }

    /// <summary>Each stage on the bar; the description's tokens only when its text is not streamed to the terminal,
    /// where the text itself shows them.</summary>
    static void ShowProgress(ProgressBar bar, DescribeProgress p, bool textOnTerminal)
    {
        switch (p.Stage)
        {
            case DescribeStage.Encoding: bar.Report("encoding", p.Done, p.Total, "chunks"); break;
            case DescribeStage.CaptionPrefill: bar.Report($"captioning {p.Total} chunks: reading their prompts", 0, null, ""); break;
            case DescribeStage.Captioning: bar.Report("captioning", p.Done, p.Total, "steps"); break;
            case DescribeStage.ChainPrefill: bar.Report("reading the captions", p.Done, p.Total, "tokens"); break;
            case DescribeStage.Describing when !textOnTerminal: bar.Report("describing", p.Done, p.Total, "tokens"); break;
        }
    }

    static void Write(SongDescription song, DescribePlan plan, string? output)
    {
        if (output is null)
        {
            Console.Out.Flush();
            using var stdout = Console.OpenStandardOutput();
            DescribeFormats.Write(song, plan.Labels, plan.Format, indented: false, stdout);
            return;
        }
        AtomicFile.Write(output, stream => DescribeFormats.Write(song, plan.Labels, plan.Format, indented: true, stream));
        Console.Error.WriteLine($"wrote {output}");
    }

    /// <summary>Everything the flags say, checked before the model loads.</summary>
    sealed record DescribePlan(ModelFiles Files, DType? Quant, string? Device, bool Int8Activations, FeatureLabels Labels,
        DescribeOptions Options, DescribeFormat Format, IReadOnlyList<string> Inputs, string? Out, bool OutIsDir, bool Force)
    {
        public string? OutputFor(string input) =>
            Out is null ? null
            : OutIsDir ? Path.Combine(Out, Path.GetFileNameWithoutExtension(input) + "." + DescribeFormats.Extension(Format))
            : Out;
    }

    static DescribePlan ReadPlan(Args args)
    {
        var files = ModelFiles.Resolve(args.Get("model"), args.Get("mert"), args.Get("llm"), args.Get("sonicverse"));
        var options = new DescribeOptions
        {
            ChunkSeconds = args.GetFloat("chunk-seconds", 10),
            MinTailSeconds = args.GetFloat("min-tail-seconds", 3),
            BatchSize = args.GetInt("batch", 0),
            UserText = args.Get("prompt") ?? SonicVerseCaptioner.DefaultPrompt,
            ChunkGeneration = new GenerationOptions { MaxNewTokens = args.GetInt("chunk-max-new-tokens", 128) },
            ChainGeneration = new GenerationOptions { MaxNewTokens = args.GetInt("max-new-tokens", 1000) },
            ChainTemplate = args.Get("chain-prompt") is string template ? ReadTemplate(template) : ChainPrompt.DefaultTemplate,
        };
        if (options.BatchSize < 0) throw new UsageException("describe: --batch must be ≥ 1 (or 0 for all chunks)");
        var format = ParseFormat(args.Get("format") ?? "text");
        var quant = GenerateVerb.ParseQuant(args.Get("quant"));
        string? labelsPath = args.Get("labels") ?? files.Labels;
        var shard = ParseShard(args.Get("shard"));
        string? output = args.Get("out");
        bool force = args.Has("force");
        string? device = args.Get("device");
        bool int8Activations = args.Has("int8-activations");
        args.RejectUnknown("describe");
        if (args.Positionals.Count == 0) throw new UsageException("describe: give one or more AUDIO files or folders");

        var all = ExpandInputs(args.Positionals);
        if (all.Count == 0) throw new UsageException("describe: the folders given hold no audio files");
        bool outIsDir = output is not null && (Directory.Exists(output) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar)
                                               || all.Count > 1 || args.Positionals.Any(Directory.Exists));
        if (output is not null && outIsDir) PrepareOutputFolder(output, all);
        var labels = labelsPath is null ? FeatureLabels.Default : FeatureLabels.Load(labelsPath);
        var mine = Shards.Select(all, shard.Index, shard.Count);
        return new DescribePlan(files, quant, device, int8Activations, labels, options, format, mine, output, outIsDir, force);
    }

    static string ReadTemplate(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{path}: no such chain prompt file");
        return File.ReadAllText(path).TrimEnd('\r', '\n');
    }

    static DescribeFormat ParseFormat(string value) => value switch
    {
        "text" => DescribeFormat.Text,
        "json" => DescribeFormat.Json,
        "markdown" or "md" => DescribeFormat.Markdown,
        _ => throw new UsageException($"describe: --format expects text, json or markdown, got '{value}'"),
    };

    static (int Index, int Count) ParseShard(string? value)
    {
        if (value is null) return (0, 1);
        string[] parts = value.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 && k < n)
            return (k, n);
        throw new UsageException($"describe: --shard expects K/N with 0 <= K < N, got '{value}'");
    }

    /// <summary>Files as given, folders as their audio files; sorted and without duplicates, so every shard sees the same list.</summary>
    static List<string> ExpandInputs(IEnumerable<string> positionals)
    {
        var inputs = new List<string>();
        foreach (string p in positionals)
            if (Directory.Exists(p))
                inputs.AddRange(Directory.EnumerateFiles(p).Where(f => AudioExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())));
            else inputs.Add(p);
        return inputs.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    static void PrepareOutputFolder(string dir, IReadOnlyList<string> inputs)
    {
        if (File.Exists(dir)) throw new UsageException($"describe: --out {dir} is a file, but several inputs need a folder");
        var clash = inputs.GroupBy(Path.GetFileNameWithoutExtension, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new UsageException($"describe: {string.Join(" and ", clash)} would both write {clash.Key}.* in {dir}");
        Directory.CreateDirectory(dir);
    }
}

/// <summary>Splits a sorted input list among N independent workers (Slurm array tasks, Kubernetes indexed pods).</summary>
public static class Shards
{
    /// <summary>The items whose position is ≡ <paramref name="index"/> (mod <paramref name="count"/>).</summary>
    public static IReadOnlyList<T> Select<T>(IReadOnlyList<T> sorted, int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        return sorted.Where((_, i) => i % count == index).ToList();
    }
}
