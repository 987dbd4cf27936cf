namespace SonicVerse.Cli;

/// <summary>Minimal, strict flag parser: <c>--name value</c>, <c>--flag</c>, positionals. Unknown flags are errors.</summary>
public sealed class Args
{
    readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = new();

    /// <param name="switches">flags that take no value (e.g. "json", "chat").</param>
    public Args(IEnumerable<string> args, params string[] switches)
    {
        var isSwitch = new HashSet<string>(switches, StringComparer.Ordinal);
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (!isSwitch.Contains(name))
                {
                    if (!e.MoveNext()) throw new UsageException($"--{name} needs a value");
                    value = e.Current;
                }
                _options[name] = value;
            }
            else Positionals.Add(a);
        }
    }

    public bool Has(string name) { _read.Add(name); return _options.ContainsKey(name); }

    public string? Get(string name) { _read.Add(name); return _options.GetValueOrDefault(name); }

    public string Require(string name) => Get(name) ?? throw new UsageException($"--{name} is required");

    public int GetInt(string name, int fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n)
            ? n : throw new UsageException($"--{name} expects an integer, got '{v}'");
    }

    public float GetFloat(string name, float fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return float.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out float f)
            ? f : throw new UsageException($"--{name} expects a number, got '{v}'");
    }

    /// <summary>Call after reading every option: any flag the verb did not ask about is a usage error.</summary>
    public void RejectUnknown(string verb)
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"{verb}: unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
