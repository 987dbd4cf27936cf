namespace SonicVerse.Cli;

/// <summary>Dispatches <c>sonicverse VERB ...</c>.</summary>
public static class Verbs
{
    const string Usage = """
        sonicverse — SonicVerse music captioner, native C# runtime

        usage: sonicverse VERB [options]

          inspect FILE|DIR [--json]    list a weight file's tensors (safetensors, PyTorch .bin, GGUF) and metadata
          generate --model DIR|FILE.gguf --prompt TEXT [--chat] [--lora DIR [--lora-merge]] [--quant q8_0|q4_0]
                   [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S] [--top-logprobs K] [--json]
                                       text from the Mistral decoder alone, streamed as it is generated
          tokenize --tokenizer FILE [--no-bos] [--json] TEXT
                                       token ids (and pieces with --json) of TEXT; FILE: tokenizer.model, model folder or GGUF
          caption AUDIO... [--model DIR | --mert DIR --llm DIR|FILE.gguf --sonicverse DIR] [--prompt TEXT]
                   [--max-new-tokens 128] [--quant q8_0|q4_0] [--labels FILE] [--json]
                                       caption clips (up to 10.13 s; longer: the first part, see describe); the model
                                       loads once for all files. Without model flags: the Hugging Face cache.
          describe AUDIO|DIR... [model flags as for caption] [--format text|json|markdown] [--out FILE|DIR] [--force]
                   [--chunk-seconds 10] [--min-tail-seconds 3] [--batch N] [--chunk-max-new-tokens 128]
                   [--max-new-tokens 1000] [--chain-prompt FILE] [--shard K/N]
                                       whole songs: 10 s chunks captioned, then chained by the plain Instruct model
                                       into one description; resumable, shardable ('describe --help' for details)
          trace AUDIO (--mert DIR [--sonicverse DIR [--llm DIR|FILE.gguf]] | --model DIR) --out FILE.safetensors [--int8-activations]
                                       dump every intermediate (audio.samples, mert.*, projector.*, llm.*) as fp32
                                       safetensors, to compare a stage against a reference run
          bench --synthetic mistral-7b|small | --model DIR  [--quant f16|q8_0|q4_0] [--batch N]
                [--prompt-tokens 128] [--gen-tokens 32] [--clip-seconds 10] [--seed S] [--json] [--profile]
                [--lora-rank R] [--describe-seconds S]
                                       MERT ms per 10 s clip, projector ms, prefill and decode tok/s, peak device
                                       memory, and decode as a fraction of the memory-bandwidth ceiling;
                                       --profile logs each stage's time per op (a device wait around every op);
                                       --lora-rank adds a random LoRA side path of rank R to synthetic weights
                                       (captions run SonicVerse's adapter); --describe-seconds also times
                                       describe's model work for an S-second song
                                       (captions and description at their token limits: an upper bound)

          check-kernels [--device cuda|ilgpu-cpu] [--small|--full] [--int8-activations] [--json]
                                       every op on the ILGPU device against the cpu backend (edge shapes, and on
                                       cuda also Mistral/MERT real shapes); exit 1 on any FAIL

        Every verb that computes takes --device auto|cuda|cpu|ilgpu-cpu (auto = CUDA when present, else cpu).
        generate, caption, describe, bench and trace also take --int8-activations: products with Q8_0/Q4_0 weights round their
        inputs to int8 blocks first and multiply integers, as llama.cpp does (its numbers, ~0.1 of a log-prob from the
        fp32 reference; faster decoding), on every device (CUDA: dp4a, sm_61 or later).
        """;

    /// <summary>A verb's lines of <see cref="Usage"/> and its closing paragraph (<c>sonicverse VERB --help</c>); null for
    /// an unknown verb. describe has a page of its own (<see cref="DescribeVerb.Help"/>).</summary>
    public static string? VerbUsage(string verb)
    {
        var lines = Usage.Split('\n');
        int first = Array.FindIndex(lines, l => l.StartsWith($"  {verb} ", StringComparison.Ordinal));
        if (first < 0) return null;
        // The verb's entry runs on while its lines are indented deeper than a verb name.
        int end = first + 1;
        while (end < lines.Length && lines[end].StartsWith("   ", StringComparison.Ordinal)) end++;
        int closing = Array.FindLastIndex(lines, l => l.Length == 0) + 1;
        var entry = lines[first..end].Select(l => l[2..]);
        return $"usage: sonicverse {string.Join('\n', entry)}\n\n{string.Join('\n', lines[closing..]).TrimEnd()}";
    }

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }
        string verb = args[0];
        var rest = args.Skip(1);
        if (verb != "describe" && rest.Any(a => a is "--help" or "-h") && VerbUsage(verb) is { } help)
        {
            Console.WriteLine(help);
            return ExitCodes.Ok;
        }
        return verb switch
        {
            "inspect" => InspectVerb.Run(rest),
            "generate" => GenerateVerb.Run(rest),
            "tokenize" => TokenizeVerb.Run(rest),
            "trace" => TraceVerb.Run(rest),
            "caption" => CaptionVerb.Run(rest),
            "describe" => DescribeVerb.Run(rest),
            "bench" => BenchVerb.Run(rest),
            "check-kernels" => CheckKernelsVerb.Run(rest),
            _ => throw new UsageException($"unknown verb '{verb}'"),
        };
    }
}
