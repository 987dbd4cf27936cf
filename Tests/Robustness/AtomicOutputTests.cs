using SonicVerse.Cli;
using SonicVerse.Runtime.IO;

namespace SonicVerse.Tests.Robustness;

public sealed class AtomicOutputTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sonicverse-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string[] Files() => Directory.GetFiles(_dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void WriterThatThrowsLeavesNoFile()
    {
        string path = Path.Combine(_dir, "trace.npy");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[4096]);
            throw new IOException("disk full");
        }));
        Assert.Empty(Files());
    }

    [Fact]
    public void WriterThatThrowsLeavesTheOldFileUntouched()
    {
        string path = Path.Combine(_dir, "out.json");
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new, partial"u8);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["out.json"], Files());
    }

    [Fact]
    public void CancellationLeavesNoFile()
    {
        string path = Path.Combine(_dir, "bench.json");
        using var cancel = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("partial"u8);
            cancel.Cancel();
        }, cancel.Token));
        Assert.Empty(Files());
    }

    [Fact]
    public void SuccessReplacesTheDestination()
    {
        string path = Path.Combine(_dir, "out.json");
        File.WriteAllText(path, "old");
        AtomicFile.WriteAllText(path, "{\"caption\": \"piano\"}");
        Assert.Equal("{\"caption\": \"piano\"}", File.ReadAllText(path));
        Assert.Equal(["out.json"], Files());
    }

    [Fact]
    public void FirstSignalCancelsSecondExitsWith130()
    {
        var exits = new List<int>();
        using var interrupts = new Interrupts(exits.Add);
        interrupts.Signal();
        Assert.True(interrupts.Token.IsCancellationRequested);
        Assert.Empty(exits);
        interrupts.Signal();
        Assert.Equal([ExitCodes.Interrupted], exits);
    }
}
