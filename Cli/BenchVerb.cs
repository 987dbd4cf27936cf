using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Benchmarking;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse bench</c>: stage timings, decode throughput and the fraction of the bandwidth ceiling
/// (SPEC §11), on synthetic weights (no files) or a real model. Progress goes to stderr, the report to stdout.</summary>
public static class BenchVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json", "profile", "int8-activations");
        var options = new BenchOptions
        {
            Device = DeviceKinds.Parse(args.Get("device")),
            Synthetic = args.Get("synthetic"),
            Model = args.Get("model"),
            Quant = ParseQuant(args.Get("quant")),
            Batch = args.GetInt("batch", 1),
            PromptTokens = OptionalInt(args, "prompt-tokens"),
            GenTokens = OptionalInt(args, "gen-tokens"),
            ClipSeconds = args.Has("clip-seconds") ? args.GetFloat("clip-seconds", 10) : null,
            Seed = (ulong)args.GetInt("seed", 1),
            Profile = args.Has("profile"),
            DescribeSeconds = args.Has("describe-seconds") ? args.GetFloat("describe-seconds", 360) : null,
            LoraRank = OptionalInt(args, "lora-rank"),
            Int8Activations = args.Has("int8-activations"),
        };
        bool json = args.Has("json");
        args.RejectUnknown("bench");
        if (args.Positionals.Count > 0) throw new UsageException($"bench: unexpected argument '{args.Positionals[0]}'");
        if (options.Synthetic is null && options.Model is null) throw new UsageException("bench: give --synthetic mistral-7b|small or --model DIR");
        if (options.Synthetic is not null && options.Model is not null) throw new UsageException("bench: give --synthetic or --model, not both");
        if (options.Synthetic is { } preset && !SyntheticPreset.Names.Contains(preset))
            throw new UsageException($"bench: --synthetic {preset}: use {string.Join(" or ", SyntheticPreset.Names)}");

        try { options.Validate(); }
        catch (ArgumentException e) { throw new UsageException($"bench: {e.Message}"); }

        var report = BenchRunner.Run(options, msg => Console.Error.WriteLine(msg));
        Console.WriteLine(json ? report.ToJson() : report.ToText());
        return ExitCodes.Ok;
    }

    static int? OptionalInt(Args args, string name) => args.Has(name) ? args.GetInt(name, 0) : null;

    static DType? ParseQuant(string? text) => text?.ToLowerInvariant() switch
    {
        null => null,
        "f16" => DType.F16,
        "q8_0" => DType.Q8_0,
        "q4_0" => DType.Q4_0,
        _ => throw new UsageException($"--quant {text}: use f16, q8_0 or q4_0"),
    };
}
