namespace SonicVerse.Runtime.Backends;

/// <summary>Checks a planned allocation against the device's free memory, so a model too large for the device fails with a
/// plain message before loading instead of an allocator error halfway through.</summary>
public static class MemoryBudget
{
    const double BytesPerGB = 1e9;

    /// <summary>Throws <see cref="InvalidOperationException"/> "WHAT needs X.X GB, the device has Y.Y GB free" when
    /// <paramref name="bytesNeeded"/> exceeds <see cref="IBackend.MemoryBytes"/> − <see cref="IBackend.AllocatedBytes"/>.</summary>
    public static void EnsureFits(IBackend backend, long bytesNeeded, string what)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesNeeded);
        long free = Math.Max(0, backend.MemoryBytes - backend.AllocatedBytes);
        if (bytesNeeded > free)
            throw new InvalidOperationException(
                $"{what} needs {bytesNeeded / BytesPerGB:F1} GB, the device has {free / BytesPerGB:F1} GB free ({backend.Description})");
    }
}
