using System.Diagnostics;
using SonicVerse.Tests.Audio;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Robustness;

/// <summary>Ctrl+C during a long run: exit code 130, no output file and no temporary file left behind.</summary>
public class InterruptTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sv-interrupt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task SigintDuringDescribeLeavesNoPartialOutput()
    {
        // 40 s of a tone: 4 chunks, then a 1000-token chain — long enough to be interrupted in the middle.
        var samples = Enumerable.Range(0, 40 * 24000).Select(i => (short)(6000 * Math.Sin(2 * Math.PI * 330 * i / 24000.0))).ToArray();
        string song = Path.Combine(_dir, "song.wav");
        TestWav.Write(song, samples.SelectMany(BitConverter.GetBytes).ToArray(), 1, 24000, 16, TestWav.Encoding.Pcm);
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;

        // As Ctrl+C meets it in a terminal: with SIGINT's default handling. A test run started in the background by a
        // non-interactive shell ignores SIGINT, children inherit that, and .NET leaves an ignored signal ignored.
        var psi = new ProcessStartInfo("env") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "--default-signal=INT", "dotnet", Path.Combine(AppContext.BaseDirectory, "sonicverse.dll"), "describe", song,
                     "--model", ReferenceKit.File("sonicverse-tiny"), "--device", "cpu", "--out", outDir, "--max-new-tokens", "100000" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var loaded = new TaskCompletionSource();
        var stderr = new System.Text.StringBuilder();
        var reader = Task.Run(() =>
        {
            while (p.StandardError.ReadLine() is { } line)
            {
                lock (stderr) stderr.AppendLine(line);
                if (line.StartsWith("loading Mistral")) loaded.TrySetResult();
            }
        });
        await loaded.Task.WaitAsync(TimeSpan.FromSeconds(120));
        await Task.Delay(1500);   // inside chunk captioning or the chain
        Assert.False(p.HasExited, $"describe finished before the interrupt: {stderr}");
        Process.Start("kill", ["-INT", p.Id.ToString()])!.WaitForExit();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await reader.WaitAsync(TimeSpan.FromSeconds(10));
        await stdout;

        Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}, not 130: {stderr}");
        lock (stderr) Assert.Contains("error: interrupted", stderr.ToString());
        Assert.Empty(Directory.GetFiles(outDir, "*", SearchOption.AllDirectories));
    }
}
