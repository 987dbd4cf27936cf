namespace SonicVerse.Runtime.Generation;

/// <summary>How to pick tokens (SPEC §7). Temperature 0 (the default) is greedy: argmax, lowest id on ties.
/// Otherwise HF's order: logits / temperature → top-k → top-p → draw with a seeded RNG.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public float Temperature { get; init; }
    /// <summary>Keep the k most likely tokens; 0 = all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches p; 1 = all.</summary>
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }
    /// <summary>Report the k most likely tokens with their log-probs at every step (0 = none).</summary>
    public int TopLogprobs { get; init; }
    /// <summary>Stop after emitting this id (null: never stop early).</summary>
    public int? EosId { get; init; } = 2;
    /// <summary>Checked before every decode step: a cancelled token (Ctrl+C in the CLI) ends generation with
    /// <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken Cancel { get; init; }

    public bool IsGreedy => Temperature <= 0f;

    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException($"max new tokens must be ≥ 0, got {MaxNewTokens}");
        if (Temperature < 0 || float.IsNaN(Temperature)) throw new ArgumentException($"temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
        if (TopLogprobs < 0) throw new ArgumentException($"top-logprobs must be ≥ 0, got {TopLogprobs}");
    }
}

/// <summary>A candidate token and its log-probability under the model (before temperature).</summary>
public readonly record struct TokenLogprob(int Id, float Logprob);

/// <summary>One generated token, with the step's most likely candidates when asked for.</summary>
public sealed record GeneratedToken(int Id, IReadOnlyList<TokenLogprob> TopLogprobs);
