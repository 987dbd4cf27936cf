using System.Text.Json;

namespace SonicVerse.Runtime.Models.Projector;

/// <summary>One predicted label of a feature head.</summary>
public sealed record LabelScore(string Label, float Score);

/// <summary>
/// Names for the feature heads' classes (SPEC §4 "Feature predictions for users"). Instrument, mood and genre use the
/// MTG-Jamendo tag lists in MIRFLEX order, read from a <c>labels.json</c> ({head: [names]}); without one, classes are
/// named by index (<c>instrument_detection#12</c>) rather than guessed. Key names follow MIRFLEX's classifier order
/// (i &lt; 12: major with tonic C..B, else minor) and need no file. Vocals has no documented labels: raw scores only.
/// </summary>
public sealed class FeatureLabels
{
    static readonly string[] Tonics = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

    readonly Dictionary<string, string[]> _names;

    FeatureLabels(Dictionary<string, string[]> names) => _names = names;

    public static FeatureLabels Default { get; } = new(new Dictionary<string, string[]>
    {
        ["key_detection"] = [.. Tonics.Select(t => t + " major"), .. Tonics.Select(t => t + " minor")],
    });

    /// <summary>Reads a labels.json; heads it does not list keep their default names.</summary>
    public static FeatureLabels Load(string path)
    {
        var names = new Dictionary<string, string[]>(Default._names);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Array)
                    names[p.Name] = p.Value.EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException)
        {
            throw new InputException($"{path}: cannot read the label lists ({e.Message})", e);
        }
        return new FeatureLabels(names);
    }

    public string Name(string head, int index) =>
        _names.TryGetValue(head, out var list) && index < list.Length ? list[index] : $"{head}#{index}";

    /// <summary>The <paramref name="count"/> best classes by sigmoid(logit), best first.</summary>
    public IReadOnlyList<LabelScore> Top(string head, ReadOnlySpan<float> logits, int count = 5)
    {
        var scored = new List<LabelScore>(logits.Length);
        for (int i = 0; i < logits.Length; i++) scored.Add(new LabelScore(Name(head, i), Sigmoid(logits[i])));
        return scored.OrderByDescending(s => s.Score).Take(count).ToList();
    }

    public static float Sigmoid(float x) => (float)(1.0 / (1.0 + Math.Exp(-x)));
}
