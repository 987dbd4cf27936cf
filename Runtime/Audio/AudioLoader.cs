namespace SonicVerse.Runtime.Audio;

/// <summary>SPEC §2 items 1–3 and 5: decode, mono = mean over channels, resample to the model rate, refuse clips
/// too short for one frame. Silence is not refused (normalization maps it to zeros); callers may warn with
/// <see cref="IsSilent"/>.</summary>
public static class AudioLoader
{
    /// <summary>SPEC §2.5: MERT's conv stack (receptive field 400 samples) gives no frame below this.</summary>
    public const int MinSamples = 400;

    /// <summary>Peak below −100 dBFS counts as silent.</summary>
    public const float SilencePeak = 1e-5f;

    /// <summary>10 minutes at 24 kHz: buffers grow past this only as samples actually arrive.</summary>
    const long MaxPreallocatedSamples = 24_000 * 600;

    /// <summary>The whole file as mono samples at <paramref name="targetRate"/>. Memory: the output array plus one block
    /// (exact size when the file declares its length).</summary>
    public static float[] LoadMono(string path, int targetRate)
    {
        using var reader = new MonoReader(path, targetRate);
        // The declared length sizes the buffer only up to a cap: a header may claim hours the file does not hold.
        float[] samples = new float[Math.Clamp(reader.TotalSamples ?? (1 << 16), 1, MaxPreallocatedSamples)];
        int count = 0;
        while (true)
        {
            if (count == samples.Length) Array.Resize(ref samples, (int)Math.Min(Array.MaxLength, 2L * samples.Length));
            int n = reader.Read(samples.AsSpan(count));
            if (n == 0) break;
            count += n;
        }
        CheckLength(path, count, targetRate);
        if (count != samples.Length) Array.Resize(ref samples, count);
        return samples;
    }

    /// <summary>The file as consecutive mono chunks of <paramref name="chunkSamples"/> at <paramref name="targetRate"/>
    /// (the last one shorter), decoded lazily: for the long-form path, one chunk in memory at a time.</summary>
    public static IEnumerable<float[]> ReadMonoChunks(string path, int targetRate, int chunkSamples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSamples, 1);
        using var reader = new MonoReader(path, targetRate);
        long total = 0;
        while (true)
        {
            var chunk = new float[chunkSamples];
            int count = 0, n;
            while (count < chunkSamples && (n = reader.Read(chunk.AsSpan(count))) > 0) count += n;
            total += count;
            if (count < chunkSamples) CheckLength(path, total, targetRate);
            if (count == 0) yield break;
            if (count < chunkSamples) Array.Resize(ref chunk, count);
            yield return chunk;
            if (count < chunkSamples) yield break;
        }
    }

    public static bool IsSilent(ReadOnlySpan<float> samples)
    {
        foreach (float x in samples)
            if (Math.Abs(x) >= SilencePeak) return false;
        return true;
    }

    static void CheckLength(string path, long count, int rate)
    {
        if (count == 0) throw new InputException($"{path}: contains no audio samples");
        if (count < MinSamples)
            throw new InputException($"{path}: too short: {count} samples at {rate} Hz; at least {MinSamples} are needed");
    }
}
