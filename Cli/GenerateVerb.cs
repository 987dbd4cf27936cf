using System.Diagnostics;
using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Runtime.Text;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse generate --model DIR|FILE.gguf --prompt TEXT [...]</c>: text from the decoder alone,
/// streamed to stdout as tokens arrive, or one JSON object with <c>--json</c>.</summary>
public static class GenerateVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json", "chat", "lora-merge", "int8-activations");
        string modelPath = args.Require("model");
        string prompt = args.Require("prompt");
        bool chat = args.Has("chat"), json = args.Has("json");
        var load = new MistralLoadOptions
        {
            Quantize = ParseQuant(args.Get("quant")),
            LoraFolder = args.Get("lora"),
            MergeLora = args.Has("lora-merge"),
        };
        var options = new GenerationOptions
        {
            MaxNewTokens = args.GetInt("max-new-tokens", 128),
            Temperature = args.GetFloat("temperature", 0f),
            TopK = args.GetInt("top-k", 0),
            TopP = args.GetFloat("top-p", 1f),
            Seed = args.GetInt("seed", 0),
            TopLogprobs = args.GetInt("top-logprobs", 0),
        };
        string? device = args.Get("device");
        bool int8Activations = args.Has("int8-activations");
        args.RejectUnknown("generate");
        if (args.Positionals.Count > 0) throw new UsageException($"generate: unexpected argument '{args.Positionals[0]}'");
        if (load.MergeLora && load.LoraFolder is null) throw new UsageException("--lora-merge needs --lora DIR");
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        var tokenizer = MistralTokenizerFile.Open(modelPath);
        int[] promptIds = chat ? ChatTemplate.Encode(tokenizer, prompt, ChatTemplateVariant.Old) : tokenizer.Encode(prompt, addBos: true);

        using var backend = Backend.Create(DeviceKinds.Parse(device), msg => Console.Error.WriteLine(msg), int8Activations);
        using var model = MistralModel.Load(modelPath, backend, load);
        Console.Error.WriteLine($"model: {model.Description}");
        if (int8Activations && model.Int8ActivationsUnused() is { } unused) Console.Error.WriteLine($"warning: {unused}");
        options = options with { EosId = model.Config.EosId, Cancel = Interrupts.Current };
        int capacity = Math.Min(promptIds.Length + Math.Max(options.MaxNewTokens, 1), model.Config.MaxPositions);
        using var state = model.CreateState(capacity);

        var clock = Stopwatch.StartNew();
        var generated = new List<GeneratedToken>();
        var streamer = new TextStreamer(tokenizer);
        TimeSpan prefill = TimeSpan.Zero;
        foreach (var token in TokenGenerator.Generate(model, state, promptIds, options))
        {
            if (generated.Count == 0) prefill = clock.Elapsed;
            generated.Add(token);
            if (!json) Console.Out.Write(streamer.Append(token.Id));
        }
        double decodeSeconds = (clock.Elapsed - prefill).TotalSeconds;
        if (!json) Console.Out.WriteLine(streamer.Flush());
        Console.Error.WriteLine($"prompt {promptIds.Length} tokens in {prefill.TotalSeconds:F2} s; generated {generated.Count} tokens" +
            (generated.Count > 1 ? $", {(generated.Count - 1) / decodeSeconds:F1} tok/s" : ""));

        if (json) WriteJson(promptIds, generated, tokenizer.Decode(generated.Select(g => g.Id)).Trim(), Console.OpenStandardOutput());
        return ExitCodes.Ok;
    }

    internal static DType? ParseQuant(string? text) => text?.ToLowerInvariant() switch
    {
        null => null,
        "q8_0" => DType.Q8_0,
        "q4_0" => DType.Q4_0,
        _ => throw new UsageException($"--quant: unknown '{text}', use q8_0 or q4_0"),
    };

    /// <summary><c>{"prompt_ids": [...], "ids": [...], "text": "...", "top_logprobs": [[{"id", "logprob"}, ...] per step]}</c>.</summary>
    static void WriteJson(int[] promptIds, List<GeneratedToken> generated, string text, Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteStartArray("prompt_ids");
        foreach (int id in promptIds) w.WriteNumberValue(id);
        w.WriteEndArray();
        w.WriteStartArray("ids");
        foreach (var g in generated) w.WriteNumberValue(g.Id);
        w.WriteEndArray();
        w.WriteString("text", text);
        w.WriteStartArray("top_logprobs");
        foreach (var g in generated)
        {
            w.WriteStartArray();
            foreach (var t in g.TopLogprobs)
            {
                w.WriteStartObject();
                w.WriteNumber("id", t.Id);
                w.WriteNumber("logprob", t.Logprob);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
    }
}
