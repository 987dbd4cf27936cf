using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mistral;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mistral;

/// <summary>One prompt of a kit reference run: its ids, the 32 greedy ids and the top-10 (id, log-prob) per step.</summary>
public sealed record ReferenceRun(string Name, int[] PromptIds, int[] Generated, (int Id, double Logprob)[][] Top);

/// <summary>The kit's mistral-tiny files and reference runs, read without the product's code.</summary>
public static class MistralKit
{
    public static string HfFolder => ReferenceKit.File("mistral-tiny", "hf");
    public static string Gguf(string kind) => ReferenceKit.File("mistral-tiny", "gguf", $"tiny-mistral-{kind}.gguf");
    public static string LoraFolder => ReferenceKit.File("mistral-tiny", "lora");

    public static string[] PromptNames => ["plain", "inst", "long"];

    /// <summary>ref/{file}.json: hf_f32, hf_q8_0_dequant, hf_lora_merged, llamacpp_q4_0, ...</summary>
    public static ReferenceRun Run(string file, string prompt)
    {
        using var doc = ReferenceKit.Json("mistral-tiny", "ref", file + ".json");
        var p = doc.RootElement.GetProperty("prompts").EnumerateArray().Single(e => e.GetProperty("name").GetString() == prompt);
        int[] Ints(string key) => p.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var top = p.GetProperty("top").EnumerateArray()
            .Select(step => step.EnumerateArray().Select(pair => (pair[0].GetInt32(), pair[1].GetDouble())).ToArray())
            .ToArray();
        return new ReferenceRun(prompt, Ints("prompt_ids"), Ints("generated"), top);
    }

    /// <summary>Greedy decoding of <paramref name="steps"/> tokens without an EOS stop (as the references were made).</summary>
    public static List<GeneratedToken> Greedy(MistralModel model, int[] promptIds, int steps, bool useLora = true, int topLogprobs = 10) =>
        GreedyAfterPrompt(model, promptIds, steps, useLora, topLogprobs).Tokens;

    /// <summary><see cref="Greedy"/>, with the whole log-softmax after the prompt (every vocabulary entry, where each
    /// step's tokens carry only the top few) from the same prompt pass: on ilgpu-cpu a prompt pass of "long" takes
    /// seconds.</summary>
    public static (List<GeneratedToken> Tokens, float[] FirstLogprobs) GreedyAfterPrompt(MistralModel model, int[] promptIds,
        int steps, bool useLora = true, int topLogprobs = 10)
    {
        using var state = model.CreateState(promptIds.Length + steps);
        state.UseLora = useLora && model.HasLoraSidePath;
        var logits = model.Forward(promptIds, state);
        var first = new float[model.Config.VocabSize];
        using (var logprobs = model.Backend.Allocate(DType.F32, 1, model.Config.VocabSize))
        {
            model.Backend.Ops.LogSoftmax(logits, logprobs);
            model.Backend.Download(logprobs, first);
        }
        var options = new GenerationOptions { MaxNewTokens = steps, EosId = null, TopLogprobs = topLogprobs };
        return (TokenGenerator.Continue(model, state, logits, options).ToList(), first);
    }

    /// <summary>Full step-0 log-probs of ref/{file}_first_logprobs.npy, row of <paramref name="prompt"/>.</summary>
    public static float[] FirstLogprobs(string file, string prompt)
    {
        var (data, shape) = Npy.ReadFloat32(ReferenceKit.File("mistral-tiny", "ref", file + "_first_logprobs.npy"));
        int row = Array.IndexOf(PromptNames, prompt), vocab = shape[1];
        return data.AsSpan(row * vocab, vocab).ToArray();
    }

    public static JsonElement HfConfig()
    {
        using var doc = ReferenceKit.Json("mistral-tiny", "hf", "config.json");
        return doc.RootElement.Clone();
    }
}
