namespace SonicVerse.Runtime.IO;

/// <summary>
/// Writes a file so that readers see either nothing or the whole file: the content goes to a hidden temporary file in
/// the same folder (same file system, so the rename is atomic), is flushed to disk, then renamed over the target. A
/// failure while writing deletes the temporary file; a killed process leaves one behind, which
/// <see cref="RemoveStale"/> clears on the next run. The target's name never holds partial content, so "the output
/// exists" is a sound test for "this input is done". A cancelled token (Ctrl+C) before the rename
/// deletes the temporary file and leaves the target as it was.
/// </summary>
public static class AtomicFile
{
    const string Suffix = ".partial";

    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/>; the target appears only when it returns.</summary>
    public static void Write(string path, Action<Stream> write, CancellationToken cancel = default)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $"{TempPrefix(full)}{Environment.ProcessId}-{Guid.NewGuid():N}{Suffix}");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                cancel.ThrowIfCancellationRequested();
                stream.Flush(flushToDisk: true);
            }
            cancel.ThrowIfCancellationRequested();
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text, CancellationToken cancel = default) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        }, cancel);

    /// <summary>Deletes temporary files that an interrupted <see cref="Write"/> of <paramref name="path"/> left behind.
    /// Only call it for targets this process owns: it would also delete another live writer's file.</summary>
    public static void RemoveStale(string path)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) return;
        foreach (string stale in Directory.EnumerateFiles(dir, TempPrefix(full) + "*" + Suffix)) File.Delete(stale);
    }

    /// <summary>Whether <paramref name="path"/> is one of this class's temporary files.</summary>
    public static bool IsTemporary(string path) =>
        Path.GetFileName(path).StartsWith('.') && path.EndsWith(Suffix, StringComparison.Ordinal);

    static string TempPrefix(string fullPath) => $".{Path.GetFileName(fullPath)}.";
}
