using SonicVerse.Runtime.Audio;

namespace SonicVerse.Runtime.Pipeline;

/// <summary>How a song is cut (SPEC §8), in samples at the encoder's rate.</summary>
/// <param name="ChunkSamples">length of every chunk but the last.</param>
/// <param name="MinTailSamples">a last piece shorter than this is not captioned on its own (the reference's tiny tail
/// chunk makes the model hallucinate: upstream issue #2).</param>
/// <param name="MaxWindowSamples">the longest window the projector's canvas holds (760 MERT frames).</param>
public sealed record ChunkLayout(int ChunkSamples, int MinTailSamples, int MaxWindowSamples)
{
    public static ChunkLayout FromSeconds(double chunkSeconds, double minTailSeconds, int sampleRate, int maxWindowSamples)
    {
        if (!(chunkSeconds > 0)) throw new ArgumentException($"the chunk length must be positive, got {chunkSeconds} s");
        if (!(minTailSeconds >= 0)) throw new ArgumentException($"the minimum tail must be ≥ 0 s, got {minTailSeconds} s");
        long chunk = (long)Math.Round(chunkSeconds * sampleRate);
        if (chunk > maxWindowSamples)
            throw new ArgumentException($"chunks of {chunkSeconds} s do not fit the projector's canvas of " +
                                        $"{maxWindowSamples / (double)sampleRate:0.###} s");
        if (chunk < AudioLoader.MinSamples)
            throw new ArgumentException($"chunks of {chunkSeconds} s are shorter than one MERT frame ({AudioLoader.MinSamples} samples)");
        // A piece under MinSamples gives no MERT frame at all (SPEC §2.5), whatever the user asked for.
        int tail = (int)Math.Max(AudioLoader.MinSamples, Math.Round(minTailSeconds * sampleRate));
        return new ChunkLayout((int)chunk, tail, maxWindowSamples);
    }
}

/// <summary>One window of the song: samples [StartSample, EndSample) at the encoder's rate.</summary>
public sealed record AudioChunk(int Index, long StartSample, float[] Samples)
{
    public long EndSample => StartSample + Samples.Length;
}

/// <summary>
/// Cuts a stream of samples into non-overlapping chunks of <see cref="ChunkLayout.ChunkSamples"/>, holding one chunk of
/// look-ahead so the last piece can be judged. The tail rule: a last piece at least
/// <see cref="ChunkLayout.MinTailSamples"/> long is a chunk of its own; a shorter one is appended to the previous chunk
/// when the two together fit <see cref="ChunkLayout.MaxWindowSamples"/>, and dropped otherwise (counted in
/// <see cref="DroppedSamples"/>). A song shorter than the minimum tail is still one chunk: something is better than
/// nothing. Memory: two chunks at a time, whatever the song's length.
/// </summary>
public sealed class ChunkSplitter(ChunkLayout layout)
{
    public ChunkLayout Layout { get; } = layout;

    /// <summary>Samples seen so far (the whole song once the enumeration has ended).</summary>
    public long TotalSamples { get; private set; }

    /// <summary>Samples of a short tail that could not be merged.</summary>
    public long DroppedSamples { get; private set; }

    /// <summary>Chunks of the file at <paramref name="sampleRate"/>, decoded lazily (AudioLoader.ReadMonoChunks).</summary>
    public IEnumerable<AudioChunk> Read(string path, int sampleRate) =>
        Split(AudioLoader.ReadMonoChunks(path, sampleRate, Layout.ChunkSamples));

    /// <summary>Chunks of consecutive <paramref name="pieces"/>, each <see cref="ChunkLayout.ChunkSamples"/> long but the
    /// last (ReadMonoChunks' contract).</summary>
    public IEnumerable<AudioChunk> Split(IEnumerable<float[]> pieces)
    {
        TotalSamples = DroppedSamples = 0;
        AudioChunk? held = null;
        foreach (float[] piece in pieces)
        {
            long start = TotalSamples;
            TotalSamples += piece.Length;
            bool shortTail = piece.Length < Layout.ChunkSamples && piece.Length < Layout.MinTailSamples;
            if (held is not null && shortTail)
            {
                if (held.Samples.Length + piece.Length <= Layout.MaxWindowSamples) held = held with { Samples = [.. held.Samples, .. piece] };
                else DroppedSamples += piece.Length;
                continue;
            }
            if (held is not null) yield return held;
            held = new AudioChunk(held is null ? 0 : held.Index + 1, start, piece);
        }
        if (held is not null) yield return held;
    }

    /// <summary>How many chunks a song of <paramref name="totalSamples"/> gives (for a progress bar).</summary>
    public int CountChunks(long totalSamples)
    {
        long full = totalSamples / Layout.ChunkSamples;
        long tail = totalSamples % Layout.ChunkSamples;
        if (tail == 0) return (int)Math.Max(full, 1);
        return (int)(full == 0 || tail >= Layout.MinTailSamples ? full + 1 : full);
    }
}
