namespace SonicVerse.Runtime.Audio;

/// <summary>A streaming decoder: interleaved float samples in [-1, 1) at the file's own rate and channel count.
/// Open one with <see cref="AudioFile.Open"/>.</summary>
public interface IAudioReader : IDisposable
{
    /// <summary>The file being read (for error messages).</summary>
    string Path { get; }

    /// <summary>Frames per second (a frame = one sample per channel).</summary>
    int SampleRate { get; }

    int Channels { get; }

    /// <summary>Frames the stream will yield, when the container declares it; null when unknown.</summary>
    long? TotalFrames { get; }

    /// <summary>Fills <paramref name="interleaved"/> with whole frames; returns the number of floats written
    /// (a multiple of <see cref="Channels"/>), 0 at the end of the stream. Corrupt data throws <see cref="InputException"/>.</summary>
    int Read(Span<float> interleaved);
}
