using SonicVerse.Cli;
using SonicVerse.Loader;
using SonicVerse.Runtime;

// The only place that catches: one `error: ...` line, a distinct exit code per kind of failure.
using var interrupts = Interrupts.Install();
try
{
    return Verbs.Run(args);
}
catch (OperationCanceledException) when (interrupts.Token.IsCancellationRequested)
{
    Console.Error.WriteLine("error: interrupted");
    return ExitCodes.Interrupted;
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine("run 'sonicverse --help' for usage");
    return ExitCodes.Usage;
}
catch (LoaderException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return ExitCodes.BadModelFile;
}
catch (InputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return ExitCodes.BadInput;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                              or NotSupportedException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return ExitCodes.Failure;
}
