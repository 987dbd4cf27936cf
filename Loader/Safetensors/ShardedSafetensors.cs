namespace SonicVerse.Loader;

// PLACEHOLDER: replaced by the reader's real implementation.
public static class ShardedSafetensors
{
    public static ICheckpoint Open(string path) => throw new LoaderException(path, "ShardedSafetensors is not written yet");
}
