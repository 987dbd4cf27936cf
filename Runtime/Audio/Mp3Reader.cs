using NLayer;

namespace SonicVerse.Runtime.Audio;

/// <summary>MP3 through NLayer, with the gapless trimming of the LAME tag applied here (see <see cref="Mp3GaplessInfo"/>).</summary>
sealed class Mp3Reader : IAudioReader
{
    readonly Stream _stream;
    readonly MpegFile _mpeg;
    long _toSkip;          // floats still to drop at the start
    long _floatsLeft;      // floats still to emit; long.MaxValue when the length is unknown
    float[] _scratch = [];

    public string Path { get; }
    public int SampleRate { get; }
    public int Channels { get; }
    public long? TotalFrames { get; }

    public Mp3Reader(string path, Stream stream, long firstFrame)
    {
        Path = path;
        _stream = stream;
        var head = new byte[2048];
        stream.Position = firstFrame;
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        Mp3GaplessInfo? gapless = Mp3GaplessInfo.Parse(head.AsSpan(0, n));
        try
        {
            _mpeg = new MpegFile(stream);
            SampleRate = _mpeg.SampleRate;
            Channels = _mpeg.Channels;
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"{path}: corrupt MP3: {e.Message}", e);
        }
        if (SampleRate <= 0 || Channels <= 0) throw new InputException($"{path}: corrupt MP3: no valid frame header");
        _toSkip = gapless is null ? 0 : gapless.StartSkip * Channels;
        _floatsLeft = gapless is null ? long.MaxValue : gapless.OutputFrames * Channels;
        TotalFrames = gapless?.OutputFrames;
    }

    /// <summary>An MPEG audio frame header: 11 sync bits, a valid version, layer, bitrate and sample rate index.</summary>
    public static bool IsFrameSync(ReadOnlySpan<byte> h) =>
        h.Length >= 4 && h[0] == 0xFF && (h[1] & 0xE0) == 0xE0 && (h[1] >> 3 & 3) != 1 && (h[1] >> 1 & 3) != 0
        && (h[2] >> 4) != 15 && (h[2] >> 2 & 3) != 3;

    public int Read(Span<float> interleaved)
    {
        int want = (int)Math.Min(interleaved.Length - interleaved.Length % Channels, _floatsLeft);
        if (want <= 0) return 0;
        while (_toSkip > 0)
        {
            int got = Decode(interleaved[..(int)Math.Min(want, _toSkip)]);
            if (got == 0) return 0;
            _toSkip -= got;
        }
        int n = Decode(interleaved[..want]);
        _floatsLeft -= n;
        return n;
    }

    int Decode(Span<float> destination)
    {
        if (_scratch.Length < destination.Length) _scratch = new float[destination.Length];
        int total = 0;
        try
        {
            // NLayer may return fewer floats than asked before the end; loop until full or at the end.
            while (total < destination.Length)
            {
                int got = _mpeg.ReadSamples(_scratch, total, destination.Length - total);
                if (got <= 0) break;
                total += got;
            }
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"{Path}: corrupt MP3: {e.Message}", e);
        }
        total -= total % Channels;
        _scratch.AsSpan(0, total).CopyTo(destination);
        return total;
    }

    public void Dispose()
    {
        _mpeg.Dispose();
        _stream.Dispose();
    }
}
