namespace SonicVerse.Cli;

/// <summary>Dispatches <c>sonicverse VERB ...</c>.</summary>
public static class Verbs
{
    const string Usage = """
        sonicverse — SonicVerse music captioner, native C# runtime

        usage: sonicverse VERB [options]

          inspect FILE|DIR [--json]    list a weight file's tensors (safetensors, PyTorch .bin, GGUF) and metadata
          trace AUDIO --mert DIR --out FILE.safetensors
                                       dump every intermediate (audio.samples, mert.*) as fp32 safetensors

        Every verb that computes takes --device auto|cuda|cpu|ilgpu-cpu (auto = CUDA when present, else cpu).
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }
        string verb = args[0];
        var rest = args.Skip(1);
        return verb switch
        {
            "inspect" => InspectVerb.Run(rest),
            "trace" => TraceVerb.Run(rest),
            _ => throw new UsageException($"unknown verb '{verb}'"),
        };
    }
}
