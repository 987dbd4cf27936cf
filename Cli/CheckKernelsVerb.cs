using System.Text.Json;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse check-kernels [--device cuda|ilgpu-cpu] [--small|--full] [--int8-activations] [--json]</c>: every
/// op on the ILGPU device against the cpu backend (both with int8 activations when asked: the int8 GEMVs against the
/// cpu's int8 row dots); exit 1 when any op is out of tolerance. Real shapes are the default on CUDA only (on the CPU
/// accelerator they would take hours).</summary>
public static class CheckKernelsVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json", "small", "full", "int8-activations");
        string device = args.Get("device") ?? "cuda";
        bool json = args.Has("json"), small = args.Has("small"), full = args.Has("full"), int8 = args.Has("int8-activations");
        args.RejectUnknown("check-kernels");
        var kind = DeviceKinds.Parse(device);
        if (kind is not (DeviceKind.Cuda or DeviceKind.IlgpuCpu))
            throw new UsageException("check-kernels: --device must be cuda or ilgpu-cpu");
        if (small && full) throw new UsageException("check-kernels: --small and --full exclude each other");

        using var gpu = Backend.Create(kind, msg => Console.Error.WriteLine(msg), int8);
        using var cpu = CpuBackend.Create(int8);
        bool edgeOnly = small || (!full && kind == DeviceKind.IlgpuCpu);
        var started = DateTime.UtcNow;
        var results = new KernelCheck(gpu, cpu).Run(edgeOnly);
        double seconds = (DateTime.UtcNow - started).TotalSeconds;
        if (json) WriteJson(gpu.Description, edgeOnly, seconds, results, Console.OpenStandardOutput());
        else WriteText(gpu.Description, seconds, results, Console.Out);
        return results.All(r => r.Pass) ? ExitCodes.Ok : ExitCodes.Failure;
    }

    static void WriteText(string device, double seconds, List<KernelCheckResult> results, TextWriter o)
    {
        o.WriteLine($"check-kernels on {device} vs cpu");
        foreach (var r in results)
            o.WriteLine($"{(r.Pass ? "PASS" : "FAIL")}  {r.Op,-22} {r.Shape,-52} max|Δ| {r.MaxAbsError,10:G3}  rel {r.MaxRelError,10:G3}  tol {r.Absolute:G2}+{r.Relative:G2}·|ref|");
        int failed = results.Count(r => !r.Pass);
        o.WriteLine($"{results.Count - failed}/{results.Count} passed in {seconds:F1} s");
    }

    static void WriteJson(string device, bool small, double seconds, List<KernelCheckResult> results, Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("device", device);
        w.WriteBoolean("small", small);
        w.WriteNumber("seconds", Math.Round(seconds, 2));
        w.WriteBoolean("pass", results.All(r => r.Pass));
        w.WriteStartArray("ops");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("op", r.Op);
            w.WriteString("shape", r.Shape);
            w.WriteNumber("max_abs_error", Finite(r.MaxAbsError));
            w.WriteNumber("max_rel_error", Finite(r.MaxRelError));
            w.WriteNumber("tolerance_abs", r.Absolute);
            w.WriteNumber("tolerance_rel", r.Relative);
            w.WriteBoolean("pass", r.Pass);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static double Finite(double v) => double.IsFinite(v) ? v : double.MaxValue;
}
