using SonicVerse.Runtime.Tracing;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Mert;

/// <summary>Collects trace records in memory.</summary>
public sealed class MemoryTraceSink : ITraceSink
{
    public Dictionary<string, (int[] Shape, float[] Values)> Records { get; } = new(StringComparer.Ordinal);

    public bool Wants(string name) => true;

    public void Record(string name, int[] shape, ReadOnlySpan<float> values) => Records.Add(name, (shape, values.ToArray()));
}

/// <summary>The kit's tiny MERT variants and their HF golden outputs.</summary>
public static class MertKit
{
    public const string PostLn = "model";
    public const string PreLn = "model-prelayernorm";

    public static string ModelDir(string variant) => ReferenceKit.File("mert-tiny", variant);

    /// <summary>The processor output (normalized samples) for the kit clip; the same for both variants.</summary>
    public static float[] InputValues() => new RefTensors(ReferenceKit.File("mert-tiny", "ref_hf_fp32.safetensors")).Floats("input_values");

    public static RefTensors Fp64(string variant) => new(ReferenceKit.File("mert-tiny",
        variant == PostLn ? "ref_hf_fp64.safetensors" : "ref_prelayernorm_hf_fp64.safetensors"));

    public static RefTensors Fp32(string variant) => new(ReferenceKit.File("mert-tiny",
        variant == PostLn ? "ref_hf_fp32.safetensors" : "ref_prelayernorm_hf_fp32.safetensors"));

    /// <summary>Max |a − b| over all elements; fails on a length mismatch.</summary>
    public static double MaxAbs(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, string what)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: {actual.Length} values, reference has {expected.Length}");
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (!(d <= max)) max = double.IsNaN(d) ? double.PositiveInfinity : d;
        }
        return max;
    }
}
