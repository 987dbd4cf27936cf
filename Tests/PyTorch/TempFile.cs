namespace SonicVerse.Tests.PyTorch;

/// <summary>A file in the temp folder holding given bytes, deleted on dispose.</summary>
public sealed class TempFile : IDisposable
{
    public TempFile(byte[] bytes, string extension = ".bin")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sonicverse-test-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(Path, bytes);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
