namespace SonicVerse.Cli;

/// <summary>A one-line progress bar on stderr (only made when stderr is a terminal): redrawn in place with '\r'.</summary>
public sealed class ProgressBar(string label)
{
    const int Width = 30;
    int _drawn;

    /// <summary>Draws <paramref name="done"/> of <paramref name="total"/> chunks (a counter when the total is unknown).</summary>
    public void Report(int done, int? total)
    {
        string line = total is int t && t > 0
            ? $"{label} [{new string('#', Width * Math.Min(done, t) / t).PadRight(Width, '.')}] {done}/{t} chunks"
            : $"{label} {done} chunks";
        Console.Error.Write("\r" + line.PadRight(_drawn));
        _drawn = line.Length;
    }

    /// <summary>Erases the bar so other output starts on a clean line.</summary>
    public void Clear()
    {
        if (_drawn == 0) return;
        Console.Error.Write("\r" + new string(' ', _drawn) + "\r");
        _drawn = 0;
    }
}
