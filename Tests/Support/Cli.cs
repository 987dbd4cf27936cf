using System.Diagnostics;

namespace SonicVerse.Tests.Support;

/// <summary>Runs the built <c>sonicverse</c> CLI as a separate process (the user's view: exit code, stdout, stderr).</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => Run(TimeSpan.FromMinutes(5), args);

    public static Result Run(TimeSpan timeout, params string[] args) => Run(timeout, new Dictionary<string, string>(), args);

    /// <summary>With extra environment variables (e.g. DOTNET_EnableAVX512=0: the runtime as on a CPU without AVX-512).</summary>
    public static Result Run(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Run(TimeSpan.FromMinutes(5), environment, args);

    static Result Run(TimeSpan timeout, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "sonicverse.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"sonicverse {string.Join(' ', args)} did not finish in {timeout}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
