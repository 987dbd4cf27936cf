using System.Diagnostics;
using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Projector;

namespace SonicVerse.Peers;

/// <summary>Our MERT and projector on the weights torch_peers.py wrote, timed like the PyTorch side (one warm-up, best of
/// the rounds), with the largest difference from PyTorch's output as evidence that both ran the same computation.</summary>
public static class EncoderBench
{
    public sealed record Timing(double Milliseconds, double MaxAbsDiff, double ReferenceMaxAbs);

    public static Timing Mert(string folder, string io, int rounds)
    {
        using var backend = CpuBackend.Create();
        using var model = MertModel.Load(folder, backend);
        using var file = CheckpointFile.Open(io);
        float[] input = file.Find("input")!.ToFloat32();
        float[] expected = file.Find("last_hidden")!.ToFloat32();
        var (ms, states) = BestOf(rounds, () => model.Encode(input));
        return Compare(ms, expected, states[states.Count - 1]);
    }

    public static Timing Projector(string weights, string io, int rounds)
    {
        using var backend = CpuBackend.Create();
        using var checkpoint = CheckpointFile.Open(weights);
        using var model = ProjectorModel.Load(checkpoint, backend);
        using var file = CheckpointFile.Open(io);
        var hiddenEntry = file.Find("hidden")!;
        float[] expected = file.Find("tokens")!.ToFloat32();
        using var hidden = backend.Upload(hiddenEntry.ToFloat32(), hiddenEntry.ShapeAsInt());
        var (ms, output) = BestOf(rounds, () => model.Project(hidden));
        return Compare(ms, expected, output.Tokens);
    }

    static (double Milliseconds, T Result) BestOf<T>(int rounds, Func<T> run)
    {
        var result = run();
        double best = double.MaxValue;
        for (int i = 0; i < rounds; i++)
        {
            var clock = Stopwatch.StartNew();
            result = run();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return (best, result);
    }

    static Timing Compare(double ms, float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length)
            throw new InvalidOperationException($"output has {actual.Length} values, PyTorch's {expected.Length}");
        double diff = 0, max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(expected[i] - actual[i]));
            max = Math.Max(max, Math.Abs(expected[i]));
        }
        return new Timing(ms, diff, max);
    }
}
