namespace SonicVerse.Loader;

// PLACEHOLDER: replaced by the reader's real implementation.
public static class PyTorchCheckpoint
{
    public static ICheckpoint Open(string path) => throw new LoaderException(path, "PyTorchCheckpoint is not written yet");
}
