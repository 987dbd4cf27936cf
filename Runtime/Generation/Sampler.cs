namespace SonicVerse.Runtime.Generation;

/// <summary>Picks the next id from a step's log-probs. Sampling uses its own <see cref="Random"/> seeded once, so a
/// seed reproduces a run.</summary>
public sealed class Sampler
{
    readonly GenerationOptions _options;
    readonly Random _random;

    public Sampler(GenerationOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed);
    }

    public int Next(ReadOnlySpan<float> logprobs) =>
        _options.IsGreedy ? ArgMax(logprobs) : Sample(logprobs);

    /// <summary>First index of the maximum (torch.argmax's tie rule).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>The <paramref name="k"/> largest entries, most likely first (ties: lower id first).</summary>
    public static TokenLogprob[] Top(ReadOnlySpan<float> logprobs, int k)
    {
        k = Math.Min(k, logprobs.Length);
        var top = new List<TokenLogprob>(k + 1);
        for (int i = 0; i < logprobs.Length; i++)
        {
            float v = logprobs[i];
            if (top.Count == k && v <= top[^1].Logprob) continue;
            int at = top.Count;
            while (at > 0 && top[at - 1].Logprob < v) at--;
            top.Insert(at, new TokenLogprob(i, v));
            if (top.Count > k) top.RemoveAt(top.Count - 1);
        }
        return top.ToArray();
    }

    int Sample(ReadOnlySpan<float> logprobs)
    {
        // softmax(logits / T) = softmax(logprobs / T): log-probs differ from logits by a constant per step.
        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, logprobs.Length) : logprobs.Length;
        var candidates = Top(logprobs, keep);
        float max = candidates[0].Logprob / _options.Temperature;
        var weights = new double[candidates.Length];
        double total = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            weights[i] = Math.Exp(candidates[i].Logprob / _options.Temperature - max);
            total += weights[i];
        }
        int count = NucleusSize(weights, total);
        double kept = 0;
        for (int i = 0; i < count; i++) kept += weights[i];
        double draw = _random.NextDouble() * kept;
        for (int i = 0; i < count; i++)
        {
            draw -= weights[i];
            if (draw < 0) return candidates[i].Id;
        }
        return candidates[count - 1].Id;
    }

    /// <summary>HF TopPLogitsWarper: the most likely tokens up to and including the one where the cumulative
    /// probability reaches top-p (at least one).</summary>
    int NucleusSize(double[] weights, double total)
    {
        if (_options.TopP >= 1f) return weights.Length;
        double cumulative = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i] / total;
            if (cumulative >= _options.TopP) return i + 1;
        }
        return weights.Length;
    }
}
