namespace SonicVerse.Loader;

/// <summary>Strict, scoped name lookup over a checkpoint (candle's <c>vb.pp</c>): checkpoint names are written once,
/// through <see cref="Sub"/>; wrong shape and missing tensors throw at once; <see cref="EnsureAllUsed"/> reports leftovers.</summary>
public sealed class Weights
{
    readonly ICheckpoint _checkpoint;
    readonly string _prefix;
    readonly Usage _usage;

    sealed class Usage
    {
        public readonly HashSet<string> Used = new(StringComparer.Ordinal);
        public readonly List<(Func<string, bool> Match, string Reason)> Ignored = new();
    }

    public Weights(ICheckpoint checkpoint, string prefix = "") : this(checkpoint, prefix, new Usage()) { }

    Weights(ICheckpoint checkpoint, string prefix, Usage usage)
    {
        _checkpoint = checkpoint;
        _prefix = prefix;
        _usage = usage;
    }

    public ICheckpoint Checkpoint => _checkpoint;
    public string Prefix => _prefix;

    /// <summary>A narrower scope: <c>w.Sub("self_attn").Sub("q_proj")</c>.</summary>
    public Weights Sub(string name) => new(_checkpoint, Join(name), _usage);

    public Weights Sub(int index) => Sub(index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public bool Has(string name) => _checkpoint.Find(Join(name)) is not null;

    /// <summary>The tensor <paramref name="name"/> in this scope, checked against <paramref name="shape"/>
    /// (a -1 dimension matches anything).</summary>
    public TensorEntry Get(string name, params long[] shape)
    {
        string full = Join(name);
        var entry = _checkpoint.Find(full)
            ?? throw new LoaderException(_checkpoint.Path, full, $"missing (expected shape [{string.Join(", ", shape)}])");
        if (shape.Length > 0 && !ShapeMatches(entry.Shape, shape))
            throw new LoaderException(entry.SourceFile, full,
                $"expected shape [{string.Join(", ", shape)}], found {entry.ShapeText}");
        _usage.Used.Add(full);
        return entry;
    }

    public TensorEntry? TryGet(string name) => Has(name) ? Get(name) : null;

    /// <summary>Declares tensors that are present in released files but not needed, with the reason (llama.cpp habit).</summary>
    public void Ignore(Func<string, bool> fullNameMatches, string reason) => _usage.Ignored.Add((fullNameMatches, reason));

    /// <summary>Throws naming every tensor that was neither read nor explicitly ignored.</summary>
    public void EnsureAllUsed()
    {
        var unused = _checkpoint.Tensors
            .Select(t => t.Name)
            .Where(n => !_usage.Used.Contains(n) && !_usage.Ignored.Any(i => i.Match(n)))
            .ToList();
        if (unused.Count > 0)
            throw new LoaderException(_checkpoint.Path,
                $"{unused.Count} unused tensor(s), the file does not match the expected model: {string.Join(", ", unused.Take(10))}"
                + (unused.Count > 10 ? ", ..." : ""));
    }

    string Join(string name) => _prefix.Length == 0 ? name : _prefix + "." + name;

    static bool ShapeMatches(IReadOnlyList<long> actual, long[] expected)
    {
        if (actual.Count != expected.Length) return false;
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != -1 && expected[i] != actual[i]) return false;
        return true;
    }
}
