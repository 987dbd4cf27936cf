namespace SonicVerse.Runtime.Backends;

// PLACEHOLDER: replaced by the managed SIMD backend.
public static class CpuBackend
{
    public static IBackend Create() => throw new NotImplementedException("CpuBackend is not written yet");
}
