using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mistral;

namespace SonicVerse.Runtime.Generation;

/// <summary>A token of sequence <see cref="Sequence"/> (its index in the batch) at its generation step <see cref="Step"/>.</summary>
public sealed record BatchToken(int Sequence, int Step, GeneratedToken Token);

public static partial class TokenGenerator
{
    /// <summary>
    /// Generates for several sequences at once: one <see cref="MistralModel.DecodeBatch"/> per step for every sequence
    /// still running (each weight read once per step). Sequence i starts from row i of <paramref name="logits"/>
    /// ([batch, vocab], e.g. from <see cref="MistralModel.ForwardBatch"/>), picks with its own sampler and seed
    /// (<paramref name="options"/>[i]), and drops out of the batch after EOS, its token budget or a full context.
    /// Tokens are yielded step by step, in sequence order within a step, so callers can stream.
    /// </summary>
    public static IEnumerable<BatchToken> GenerateBatch(MistralModel model, IReadOnlyList<MistralState> states,
        DeviceTensor logits, IReadOnlyList<GenerationOptions> options)
    {
        if (options.Count != states.Count)
            throw new ArgumentException($"GenerateBatch: {options.Count} options for {states.Count} sequences");
        if (logits.Rank != 2 || logits.Dim(0) != states.Count || logits.Dim(1) != model.Config.VocabSize)
            throw new ArgumentException($"GenerateBatch: logits must be [{states.Count}, {model.Config.VocabSize}], got {logits}");
        foreach (var o in options) o.Validate();
        return BatchSteps(model, states, logits, options);
    }

    /// <summary>Runs each prompt through its own state (one forward pass per sequence: prompts differ in length), then
    /// generates for all of them as one batch.</summary>
    public static IEnumerable<BatchToken> GenerateBatch(MistralModel model, IReadOnlyList<MistralState> states,
        IReadOnlyList<IReadOnlyList<int>> promptIds, IReadOnlyList<GenerationOptions> options)
    {
        if (promptIds.Count != states.Count)
            throw new ArgumentException($"GenerateBatch: {promptIds.Count} prompts for {states.Count} sequences");
        int vocab = model.Config.VocabSize;
        var first = model.Backend.Allocate(DType.F32, states.Count, vocab);
        try
        {
            for (int i = 0; i < states.Count; i++)
                model.Backend.Ops.Copy(model.Forward(promptIds[i].ToArray(), states[i]), 0, vocab, first, (long)i * vocab);
        }
        catch
        {
            first.Dispose();
            throw;
        }
        return Owning(first, GenerateBatch(model, states, first, options));
    }

    static IEnumerable<BatchToken> Owning(DeviceTensor owned, IEnumerable<BatchToken> tokens)
    {
        using (owned)
            foreach (var t in tokens) yield return t;
    }

    static IEnumerable<BatchToken> BatchSteps(MistralModel model, IReadOnlyList<MistralState> states, DeviceTensor logits,
        IReadOnlyList<GenerationOptions> options)
    {
        var backend = model.Backend;
        int vocab = model.Config.VocabSize;
        var samplers = options.Select(o => new Sampler(o)).ToArray();
        var active = Enumerable.Range(0, states.Count).Where(i => options[i].MaxNewTokens > 0).ToList();
        var host = new float[states.Count * vocab];
        DeviceTensor? logprobs = null;
        try
        {
            for (int step = 0; active.Count > 0; step++)
            {
                foreach (var o in options) o.Cancel.ThrowIfCancellationRequested();
                if (logprobs?.Dim(0) != active.Count)
                {
                    logprobs?.Dispose();
                    logprobs = backend.Allocate(DType.F32, active.Count, vocab);
                }
                backend.Ops.LogSoftmax(logits, logprobs);
                backend.Download(logprobs, host.AsSpan(0, active.Count * vocab));
                var next = new List<int>(active.Count);
                var ids = new List<int>(active.Count);
                for (int r = 0; r < active.Count; r++)
                {
                    int seq = active[r];
                    var row = host.AsSpan(r * vocab, vocab);
                    int id = samplers[seq].Next(row);
                    var top = options[seq].TopLogprobs > 0 ? Sampler.Top(row, options[seq].TopLogprobs) : [];
                    yield return new BatchToken(seq, step, new GeneratedToken(id, top));
                    bool done = step == options[seq].MaxNewTokens - 1 || id == options[seq].EosId
                        || states[seq].Position >= states[seq].Capacity;
                    if (done) continue;
                    next.Add(seq);
                    ids.Add(id);
                }
                active = next;
                if (active.Count > 0) logits = model.DecodeBatch(active.Select(i => states[i]).ToArray(), ids.ToArray());
            }
        }
        finally
        {
            logprobs?.Dispose();
        }
    }
}
