namespace SonicVerse.Loader;

// PLACEHOLDER: replaced by the reader's real implementation.
public static class SafetensorsCheckpoint
{
    public static ICheckpoint Open(string path) => throw new LoaderException(path, "SafetensorsCheckpoint is not written yet");
}
