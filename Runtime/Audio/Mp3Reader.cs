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
        RefuseEmbeddedRiffHeader(path, stream);
        try
        {
            _mpeg = new MpegFile(new EndOfFileGuard(path, "MP3", stream));
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

    /// <summary>NLayer 3.0.1 treats a "RIFF....WAVEfmt " header met while looking for frames as a frame and walks its chunk
    /// sizes with no bound: a negative size loops forever (found by fuzzing: Tests/fuzz/regressions/wav). A RIFF/WAVE header
    /// never belongs inside an MPEG stream (RIFF files go to the WAV reader), so such a file is refused before NLayer sees it.
    /// One pass over the bytes; the stream is left at 0.</summary>
    static void RefuseEmbeddedRiffHeader(string path, Stream stream)
    {
        ReadOnlySpan<byte> riff = "RIFF"u8, waveFmt = "WAVEfmt "u8;
        var buffer = new byte[1 << 16];
        long bufferStart = 0;
        int kept = 0;
        while (true)
        {
            int n = stream.Read(buffer, kept, buffer.Length - kept);
            int length = kept + n;
            var span = buffer.AsSpan(0, length);
            for (int at = span.IndexOf(riff); at >= 0; at = NextFrom(span, riff, at + 1))
                if (at + 16 <= length && span.Slice(at + 8, 8).SequenceEqual(waveFmt))
                    throw new InputException($"{path}: corrupt MP3: a RIFF/WAVE header at byte {bufferStart + at} inside the MPEG stream");
            if (n == 0) break;
            kept = Math.Min(15, length);   // a header may straddle two reads
            buffer.AsSpan(length - kept, kept).CopyTo(buffer);
            bufferStart += length - kept;
        }
        stream.Position = 0;
    }

    static int NextFrom(ReadOnlySpan<byte> span, ReadOnlySpan<byte> pattern, int from)
    {
        if (from >= span.Length) return -1;
        int i = span[from..].IndexOf(pattern);
        return i < 0 ? -1 : from + i;
    }
}
