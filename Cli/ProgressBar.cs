namespace SonicVerse.Cli;

/// <summary>A one-line progress bar on stderr (only made when stderr is a terminal): redrawn in place with '\r'.</summary>
public sealed class ProgressBar(string label)
{
    const int Width = 30;
    int _drawn;

    /// <summary>Draws "<paramref name="what"/> [###...] done/total unit", or without the bar when the total is not
    /// known ("<paramref name="what"/> done unit"), or only <paramref name="what"/> when nothing is counted yet.</summary>
    public void Report(string what, int done, int? total, string unit)
    {
        string line = total is int t && t > 0
            ? $"{label}: {what} [{new string('#', Width * Math.Clamp(done, 0, t) / t).PadRight(Width, '.')}] {done}/{t} {unit}"
            : done > 0 ? $"{label}: {what} {done} {unit}" : $"{label}: {what}";
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
