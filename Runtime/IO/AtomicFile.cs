namespace SonicVerse.Runtime.IO;

/// <summary>Writes a file all or nothing: the content goes to a temporary file in the destination's folder (same file
/// system, so the rename is atomic), is flushed to disk, then renamed over the destination. If the writer throws or is
/// cancelled, the temporary file is deleted and the destination is left as it was.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write, CancellationToken cancel = default) =>
        WriteAsync(path, (stream, _) => { write(stream); return Task.CompletedTask; }, cancel).GetAwaiter().GetResult();

    public static void WriteAllText(string path, string text, CancellationToken cancel = default) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        }, cancel);

    public static async Task WriteAsync(string path, Func<Stream, CancellationToken, Task> write, CancellationToken cancel = default)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                await write(stream, cancel);
                cancel.ThrowIfCancellationRequested();
                await stream.FlushAsync(cancel);
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
}
