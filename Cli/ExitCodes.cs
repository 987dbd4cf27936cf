namespace SonicVerse.Cli;

/// <summary>Distinct exit codes so scripts can tell failures apart.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int BadModelFile = 3;
    public const int BadInput = 4;
    public const int Interrupted = 130;
}

/// <summary>Wrong flags or arguments.</summary>
public sealed class UsageException(string message) : Exception(message);
