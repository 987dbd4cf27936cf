using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

public sealed partial class MistralModel
{
    /// <summary>
    /// One decode step for several sequences at once: <paramref name="tokens"/>[i] is appended to
    /// <paramref name="states"/>[i] at that sequence's own position. The linear layers run once over all rows (each
    /// weight read once per step); attention runs per sequence against its own cache. Returns logits [batch, vocab],
    /// row i for sequence i (owned by states[0], valid until its next batched pass).
    /// </summary>
    public DeviceTensor DecodeBatch(IReadOnlyList<MistralState> states, ReadOnlySpan<int> tokens)
    {
        if (tokens.Length != states.Count)
            throw new ArgumentException($"DecodeBatch: {tokens.Length} tokens for {states.Count} sequences");
        CheckIds(tokens);
        var (s, segments) = PrepareBatch(states, Enumerable.Repeat(1, states.Count).ToArray());
        Backend.Write(tokens, s.Ids);
        Backend.Ops.Embedding(_embedding, s.Ids, s.X);
        var (hidden, logits) = s.Outputs(states.Count);
        return Run(s, segments, hidden, logits);
    }

    /// <summary>
    /// Appends each sequence's own positions given as host embeddings (row-major [nᵢ, hidden], e.g. a captioner
    /// prompt per audio chunk) in one pass, each weight read once for all rows. Returns the logits of each sequence's
    /// last position: [batch, vocab] (owned by states[0], valid until its next batched pass).
    /// </summary>
    public DeviceTensor ForwardBatch(IReadOnlyList<MistralState> states, IReadOnlyList<float[]> embeddings)
    {
        if (embeddings.Count != states.Count)
            throw new ArgumentException($"ForwardBatch: {embeddings.Count} prompts for {states.Count} sequences");
        int width = Config.HiddenSize;
        var counts = new int[states.Count];
        for (int i = 0; i < counts.Length; i++)
        {
            if (embeddings[i].Length == 0 || embeddings[i].Length % width != 0)
                throw new ArgumentException($"ForwardBatch: prompt {i} has {embeddings[i].Length} values, not whole rows of {width}");
            counts[i] = embeddings[i].Length / width;
        }
        var (s, segments) = PrepareBatch(states, counts);
        for (int i = 0; i < segments.Length; i++) Backend.Write(embeddings[i], s.X, (long)segments[i].Row * width);
        var (hidden, logits) = s.Outputs(states.Count);
        return Run(s, segments, hidden, logits);
    }

    /// <summary>Checks the batch (distinct states, one LoRA setting, room in every cache), lays the sequences' rows
    /// out one after another and writes each row's position.</summary>
    (MistralScratch Scratch, MistralSegment[] Segments) PrepareBatch(IReadOnlyList<MistralState> states, int[] counts)
    {
        if (states.Count == 0) throw new InputException("no sequences to run");
        if (states.Distinct().Count() != states.Count) throw new ArgumentException("a batch lists the same sequence twice");
        if (states.Any(st => st.UseLora != states[0].UseLora))
            throw new ArgumentException("a batch mixes sequences with and without the LoRA side path");
        var segments = new MistralSegment[states.Count];
        int rows = 0;
        for (int i = 0; i < states.Count; i++)
        {
            var state = states[i];
            if (state.Position + counts[i] > state.Capacity)
                throw new InputException(
                    $"sequence {i}: {counts[i]} more tokens after {state.Position} exceed the context of {state.Capacity} positions");
            segments[i] = new MistralSegment(state, rows, counts[i]);
            rows += counts[i];
        }
        var s = states[0].BatchScratch(rows, _loraRank);
        var positions = new int[rows];
        foreach (var seg in segments)
            for (int j = 0; j < seg.Count; j++) positions[seg.Row + j] = seg.State.Position + j;
        Backend.Write(positions, s.Positions);
        if (IsPooledDecodeStep(segments))
        {
            int capacity = states[0].Capacity;
            Backend.Write(segments.Select(g => g.State.PoolIndex * capacity + g.State.Position).ToArray(), s.CacheRows);
            Backend.Write(segments.Select(g => g.State.PoolIndex * capacity).ToArray(), s.CacheStarts);
            Backend.Write(segments.Select(g => g.State.Position + 1).ToArray(), s.KeyCounts);
        }
        return (s, segments);
    }

    /// <summary>Several sequences of one cache pool, one new row each: the step <see cref="Run"/> does with one scatter
    /// and one attention launch per layer.</summary>
    static bool IsPooledDecodeStep(IReadOnlyList<MistralSegment> segments) =>
        segments.Count > 1 && segments[0].State.Pool is { } pool
        && segments.All(g => g.Count == 1 && ReferenceEquals(g.State.Pool, pool));
}
