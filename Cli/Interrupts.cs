using System.Runtime.InteropServices;

namespace SonicVerse.Cli;

/// <summary>
/// Process-wide SIGINT/SIGTERM handling. The first signal cancels <see cref="Token"/>: the running verb unwinds through
/// its <c>using</c>/<c>finally</c> blocks (temporary output files deleted, backend disposed) and <c>Main</c> exits with
/// <see cref="ExitCodes.Interrupted"/>. A second signal exits at once, for a verb stuck where it cannot observe the token.
/// </summary>
public sealed class Interrupts : IDisposable
{
    static Interrupts? _installed;

    readonly CancellationTokenSource _cancel = new();
    readonly Action<int> _exit;
    readonly List<PosixSignalRegistration> _registrations = new();
    int _signals;

    /// <param name="exit">what a second signal does (Environment.Exit in the CLI; a recorder in tests)</param>
    public Interrupts(Action<int> exit) => _exit = exit;

    /// <summary>The token of the installed handler; never cancelled when none is installed.</summary>
    public static CancellationToken Current => _installed?.Token ?? CancellationToken.None;

    public CancellationToken Token => _cancel.Token;

    /// <summary>Registers the handlers for this process and makes them <see cref="Current"/>.</summary>
    public static Interrupts Install()
    {
        var interrupts = new Interrupts(Environment.Exit);
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            interrupts._registrations.Add(PosixSignalRegistration.Create(signal, interrupts.OnSignal));
        _installed = interrupts;
        return interrupts;
    }

    void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // keep the process alive so the verb can clean up
        Signal();
    }

    /// <summary>What a received signal does: the first cancels <see cref="Token"/>, the second exits immediately.</summary>
    public void Signal()
    {
        if (Interlocked.Increment(ref _signals) > 1)
        {
            _exit(ExitCodes.Interrupted);
            return;
        }
        Console.Error.WriteLine("interrupted: stopping (send the signal again to quit at once)");
        _cancel.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        if (_installed == this) _installed = null;
        _cancel.Dispose();
    }
}
