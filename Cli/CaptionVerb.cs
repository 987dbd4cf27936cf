using System.Text.Json;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse caption AUDIO... [--model DIR | --mert DIR --llm DIR|GGUF --sonicverse DIR] [...]</c>:
/// one caption per file, the model loaded once.</summary>
public static class CaptionVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json", "int8-activations");
        var files = ModelFiles.Resolve(args.Get("model"), args.Get("mert"), args.Get("llm"), args.Get("sonicverse"));
        string prompt = args.Get("prompt") ?? SonicVerseCaptioner.DefaultPrompt;
        var options = new GenerationOptions { MaxNewTokens = args.GetInt("max-new-tokens", 128) };
        var quant = GenerateVerb.ParseQuant(args.Get("quant"));
        string? labelsPath = args.Get("labels") ?? files.Labels;
        bool json = args.Has("json");
        string? device = args.Get("device");
        bool int8Activations = args.Has("int8-activations");
        args.RejectUnknown("caption");
        if (args.Positionals.Count == 0) throw new UsageException("caption: give one or more AUDIO files");
        foreach (string audio in args.Positionals)
            if (!File.Exists(audio)) throw new InputException($"{audio}: no such file");
        var labels = labelsPath is null ? FeatureLabels.Default : FeatureLabels.Load(labelsPath);

        using var backend = Backend.Create(DeviceKinds.Parse(device), msg => Console.Error.WriteLine(msg), int8Activations);
        using var captioner = SonicVerseCaptioner.Load(files, backend, quant, msg => Console.Error.WriteLine(msg));
        if (int8Activations && captioner.Llm.Int8ActivationsUnused() is { } unused) Console.Error.WriteLine($"warning: {unused}");
        options = options with { EosId = captioner.Llm.Config.EosId, Cancel = Interrupts.Current };
        foreach (string audio in args.Positionals)
        {
            Interrupts.Current.ThrowIfCancellationRequested();
            bool many = args.Positionals.Count > 1;
            if (!json && many) Console.Out.Write($"{audio}: ");
            var result = captioner.Caption(audio, options, prompt,
                onText: json ? null : text => Console.Out.Write(text),
                warn: msg => Console.Error.WriteLine($"warning: {msg}"));
            if (json) WriteJson(result, labels, Console.OpenStandardOutput());
            else Console.Out.WriteLine();
        }
        return ExitCodes.Ok;
    }

    /// <summary>One compact object per line (JSON Lines), so several files stream as they finish:
    /// <c>{"file", "caption", "ids", "features": {head: [{"label","score"}] top 5, "vocals": [raw]}, "seconds": {...}}</c></summary>
    static void WriteJson(CaptionResult r, FeatureLabels labels, Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("file", r.File);
        w.WriteString("caption", r.Caption);
        w.WriteStartArray("ids");
        foreach (int id in r.Ids) w.WriteNumberValue(id);
        w.WriteEndArray();
        FeatureJson.Write(w, r.Projection, labels);
        w.WriteStartObject("seconds");
        foreach (var (stage, seconds) in r.Seconds) w.WriteNumber(stage, Math.Round(seconds, 4));
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
    }
}

/// <summary>The "features" object shared by caption and describe output.</summary>
public static class FeatureJson
{
    /// <summary>The labelled heads: output key and projector head name.</summary>
    public static readonly (string Key, string Head)[] Heads =
    [
        ("instrument", "instrument_detection"), ("mood", "mood_detection"), ("genre", "genre_detection"), ("key", "key_detection"),
    ];

    public static void Write(Utf8JsonWriter w, ProjectorOutput projection, FeatureLabels labels) => Write(w, projection.Logits, labels);

    /// <param name="logits">the feature heads' logits by head name (ProjectorOutput.Logits).</param>
    public static void Write(Utf8JsonWriter w, IReadOnlyDictionary<string, float[]> logits, FeatureLabels labels)
    {
        w.WriteStartObject("features");
        foreach (var (key, head) in Heads)
        {
            w.WriteStartArray(key);
            foreach (var s in labels.Top(head, logits[head]))
            {
                w.WriteStartObject();
                w.WriteString("label", s.Label);
                w.WriteNumber("score", Math.Round(s.Score, 5));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        // SPEC §4: the 3 vocals classes are undocumented: raw sigmoid scores, no invented labels.
        w.WriteStartArray("vocals");
        foreach (float logit in logits["vocals_detection"]) w.WriteNumberValue(Math.Round(FeatureLabels.Sigmoid(logit), 5));
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
