namespace SonicVerse.Runtime.Backends;

/// <summary>
/// The float arrays of disposed <see cref="CpuBackend.Allocate"/> tensors, kept for the next tensor of the same length
/// (every clip MERT encodes, every pass of the same shape). A fresh large array costs the kernel a page fault per 4 KB
/// when first written — MERT's conv outputs alone are ~190 MB a 10 s clip, and on a 2-core VM the faults were ~40,000 a
/// clip and ~9 % of its time (Benchmarks/results/cpu.md) — where a kept one is only cleared. Bounded: past the capacity the oldest kept arrays are
/// let go. Kept arrays are a cache, not live tensors: <see cref="IBackend.AllocatedBytes"/> does not count them.
/// </summary>
public sealed class ActivationPool(long capacityBytes)
{
    /// <summary>Arrays below this many floats (64 KB) come cheaply from the GC's young generation and are not kept.</summary>
    public const int MinimumLength = 16 * 1024;

    readonly List<float[]> kept = [];   // oldest first
    long keptBytes;

    /// <summary>Bytes of arrays kept now.</summary>
    public long KeptBytes { get { lock (kept) return keptBytes; } }

    /// <summary>A zero-filled array of exactly <paramref name="length"/> floats: the newest kept one of that length,
    /// cleared, or a new one.</summary>
    public float[] Rent(int length)
    {
        if (length >= MinimumLength)
            lock (kept)
                for (int i = kept.Count - 1; i >= 0; i--)
                {
                    if (kept[i].Length != length) continue;
                    var array = kept[i];
                    kept.RemoveAt(i);
                    keptBytes -= 4L * length;
                    Array.Clear(array);
                    return array;
                }
        return new float[length];
    }

    /// <summary>Keeps <paramref name="array"/> (no longer used by anyone) for a later <see cref="Rent"/>, letting the
    /// oldest kept arrays go when it would pass the capacity.</summary>
    public void Return(float[] array)
    {
        long bytes = 4L * array.Length;
        if (array.Length < MinimumLength || bytes > capacityBytes) return;
        lock (kept)
        {
            while (keptBytes + bytes > capacityBytes)
            {
                keptBytes -= 4L * kept[0].Length;
                kept.RemoveAt(0);
            }
            kept.Add(array);
            keptBytes += bytes;
        }
    }

    /// <summary>Lets every kept array go.</summary>
    public void Clear()
    {
        lock (kept)
        {
            kept.Clear();
            keptBytes = 0;
        }
    }
}
