namespace SonicVerse.Loader;

// PLACEHOLDER: replaced by the reader's real implementation.
public static class GgufCheckpoint
{
    public static ICheckpoint Open(string path) => throw new LoaderException(path, "GgufCheckpoint is not written yet");
}
