namespace SonicVerse.Runtime.Backends;

// PLACEHOLDER: replaced by the ILGPU backend.
public static class IlgpuBackend
{
    public static IBackend? TryCreateCuda(out string why) { why = "not written yet"; return null; }
    public static IBackend CreateCpuAccelerator() => throw new NotImplementedException("IlgpuBackend is not written yet");
}
