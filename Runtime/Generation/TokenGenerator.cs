using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mistral;

namespace SonicVerse.Runtime.Generation;

/// <summary>
/// Autoregressive decoding over a <see cref="MistralState"/>: each step turns the last logits into log-probs
/// (LogSoftmax op), picks an id, yields it at once (so callers can stream text) and feeds it back.
/// Stops after EOS, after the token budget, or when the state's context is full.
/// </summary>
public static partial class TokenGenerator
{
    /// <summary>Runs <paramref name="promptIds"/> through the model, then generates.</summary>
    public static IEnumerable<GeneratedToken> Generate(MistralModel model, MistralState state, IReadOnlyList<int> promptIds,
        GenerationOptions options)
    {
        options.Validate();
        var logits = model.Forward(promptIds.ToArray(), state);
        return Continue(model, state, logits, options);
    }

    /// <summary>Generates from a state whose prompt is already in the cache (e.g. after
    /// <see cref="MistralModel.ForwardEmbeddings(DeviceTensor, MistralState)"/>); <paramref name="logits"/> are the
    /// logits that prompt pass returned.</summary>
    public static IEnumerable<GeneratedToken> Continue(MistralModel model, MistralState state, DeviceTensor logits,
        GenerationOptions options)
    {
        options.Validate();
        return Steps(model, state, logits, options);
    }

    static IEnumerable<GeneratedToken> Steps(MistralModel model, MistralState state, DeviceTensor logits, GenerationOptions options)
    {
        var backend = model.Backend;
        var sampler = new Sampler(options);
        var host = new float[model.Config.VocabSize];
        using var logprobs = backend.Allocate(DType.F32, 1, model.Config.VocabSize);
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            options.Cancel.ThrowIfCancellationRequested();
            backend.Ops.LogSoftmax(logits, logprobs);
            backend.Download(logprobs, host);
            int id = sampler.Next(host);
            var top = options.TopLogprobs > 0 ? Sampler.Top(host, options.TopLogprobs) : [];
            yield return new GeneratedToken(id, top);
            bool last = step == options.MaxNewTokens - 1 || id == options.EosId || state.Position >= state.Capacity;
            if (last) yield break;
            logits = model.Forward([id], state);
        }
    }
}
