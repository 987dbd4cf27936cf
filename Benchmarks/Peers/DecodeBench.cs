using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mistral;

namespace SonicVerse.Peers;

/// <summary>Prefill and decode tok/s of llama.cpp (LLamaSharp) and of our cpu backend on the same GGUF, in one process,
/// alternating rounds so all see the same machine load. Ours runs twice: with fp32 activations (the default) and with
/// <c>--int8-activations</c> (llama.cpp's own arithmetic). All feed fixed token ids (no sampling), compute the logits of
/// the last position only, and start each round from an empty KV cache.</summary>
public static class DecodeBench
{
    public sealed record Timing(string Engine, double PrefillTokensPerSecond, double DecodeTokensPerSecond);

    public static List<Timing> Run(string gguf, int threads, int promptTokens, int genTokens, int rounds)
    {
        var rng = new Random(7);
        int[] prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(3, 32000)).ToArray();
        int[] generated = Enumerable.Range(0, genTokens).Select(_ => rng.Next(3, 32000)).ToArray();

        var llamaParams = new ModelParams(gguf)
        {
            ContextSize = (uint)(promptTokens + genTokens + 16),
            BatchSize = (uint)Math.Max(promptTokens, 32),
            UBatchSize = (uint)Math.Max(promptTokens, 32),
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(llamaParams);
        using var context = weights.CreateContext(llamaParams);
        using var backend = CpuBackend.Create();
        using var model = MistralModel.Load(gguf, backend);
        using var state = model.CreateState(promptTokens + genTokens);
        using var int8Backend = CpuBackend.Create(int8Activations: true);
        using var int8Model = MistralModel.Load(gguf, int8Backend);
        using var int8State = int8Model.CreateState(promptTokens + genTokens);
        Console.Error.WriteLine($"ours: {model.Description}; {backend.Description} / {int8Backend.Description}");

        var llama = new List<(double, double)>();
        var ours = new List<(double, double)>();
        var oursInt8 = new List<(double, double)>();
        for (int round = 0; round < rounds; round++)
        {
            llama.Add(Llama(context, prompt, generated));
            ours.Add(Ours(model, state, prompt, generated));
            oursInt8.Add(Ours(int8Model, int8State, prompt, generated));
            Console.Error.WriteLine($"round {round}: llama.cpp {llama[^1]}, ours {ours[^1]}, ours int8 {oursInt8[^1]} (prefill, decode tok/s)");
        }
        return [Best("llama.cpp", llama), Best("sonicverse cpu", ours), Best("sonicverse cpu, int8 activations", oursInt8)];
    }

    /// <summary>The best round of each (the least disturbed by other load on a shared machine).</summary>
    static Timing Best(string engine, List<(double Prefill, double Decode)> rounds) =>
        new(engine, rounds.Max(r => r.Prefill), rounds.Max(r => r.Decode));

    static (double Prefill, double Decode) Llama(LLamaContext context, int[] prompt, int[] generated)
    {
        context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var clock = Stopwatch.StartNew();
        Check(context.Decode(batch));
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        for (int g = 0; g < generated.Length; g++)
        {
            batch.Clear();
            batch.Add(generated[g], prompt.Length + g, LLamaSeqId.Zero, true);
            Check(context.Decode(batch));
            _ = context.NativeHandle.GetLogitsIth(0)[0];
        }
        double decode = clock.Elapsed.TotalSeconds;
        return (prompt.Length / prefill, generated.Length / decode);
    }

    static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }

    static (double Prefill, double Decode) Ours(MistralModel model, MistralState state, int[] prompt, int[] generated)
    {
        var host = new float[1];
        state.Reset();
        var clock = Stopwatch.StartNew();
        var logits = model.Forward(prompt, state);
        model.Backend.Download(logits, 0, host);
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        for (int g = 0; g < generated.Length; g++)
        {
            logits = model.Forward(generated.AsSpan(g, 1), state);
            model.Backend.Download(logits, 0, host);
        }
        double decode = clock.Elapsed.TotalSeconds;
        return (prompt.Length / prefill, generated.Length / decode);
    }
}
