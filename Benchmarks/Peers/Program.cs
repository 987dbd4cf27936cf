using System.Text.Json;
using SonicVerse.Peers;

// sonicverse-peers gguf --template T.gguf --out F.gguf --quant q4_0|q8_0
// sonicverse-peers decode --model F.gguf [--threads 2] [--prompt-tokens 128] [--gen-tokens 32] [--rounds 3]
// sonicverse-peers mert --model DIR --io mert-io.safetensors [--rounds 3]
// sonicverse-peers projector --weights projector.safetensors --io projector-io.safetensors [--rounds 3]
// Each measuring verb prints one JSON object on stdout (Benchmarks/cpu-vs-peers.sh collects them).
var options = new Dictionary<string, string>();
for (int i = 1; i + 1 < args.Length; i += 2) options[args[i].TrimStart('-')] = args[i + 1];
string Get(string name, string? fallback = null) =>
    options.TryGetValue(name, out var v) ? v : fallback ?? throw new ArgumentException($"--{name} is required");
int rounds = int.Parse(Get("rounds", "3"));
var json = new JsonSerializerOptions { WriteIndented = false };

switch (args.Length > 0 ? args[0] : "")
{
    case "gguf":
        SyntheticGguf.Write(Get("template"), Get("out"), GgufShape.Default, Get("quant") == "q4_0", seed: 42);
        break;
    case "decode":
        var timings = DecodeBench.Run(Get("model"), int.Parse(Get("threads", "2")), int.Parse(Get("prompt-tokens", "128")),
            int.Parse(Get("gen-tokens", "32")), rounds);
        Console.WriteLine(JsonSerializer.Serialize(timings, json));
        break;
    case "mert":
        Console.WriteLine(JsonSerializer.Serialize(EncoderBench.Mert(Get("model"), Get("io"), rounds), json));
        break;
    case "projector":
        Console.WriteLine(JsonSerializer.Serialize(EncoderBench.Projector(Get("weights"), Get("io"), rounds), json));
        break;
    default:
        Console.Error.WriteLine("usage: sonicverse-peers gguf|decode|mert|projector [--option value ...]");
        return 2;
}
return 0;
