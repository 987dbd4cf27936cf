using System.Text;
using SonicVerse.Runtime.Audio.Flac;

namespace SonicVerse.Runtime.Audio;

/// <summary>Opens an audio file with the decoder its content calls for (magic bytes, never the extension).</summary>
public static class AudioFile
{
    /// <summary>Supported: WAV (RIFF/RF64: PCM 8/16/24/32-bit, float 32/64, extensible), MP3, Ogg Vorbis, FLAC.</summary>
    public static IAudioReader Open(string path)
    {
        FileStream stream;
        try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{path}: cannot open audio file: {e.Message}", e);
        }
        try
        {
            return OpenStream(path, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    static IAudioReader OpenStream(string path, Stream stream)
    {
        if (stream.Length == 0) throw new InputException($"{path}: empty file (0 bytes)");
        var head = new byte[64];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        ReadOnlySpan<byte> h = head.AsSpan(0, n);
        if (n >= 12 && (h[..4].SequenceEqual("RIFF"u8) || h[..4].SequenceEqual("RF64"u8)) && h.Slice(8, 4).SequenceEqual("WAVE"u8))
            return new WavReader(path, stream);
        if (h.StartsWith("fLaC"u8)) return new FlacReader(path, stream);
        if (h.StartsWith("OggS"u8)) return OpenOgg(path, stream, h);
        long audioStart = Id3v2Length(h);
        if (audioStart > 0) return OpenAfterId3(path, stream, audioStart);
        if (Mp3Reader.IsFrameSync(h)) return new Mp3Reader(path, stream, 0);
        throw new InputException($"{path}: unsupported audio format ({Describe(h)}); expected WAV, FLAC, MP3 or Ogg Vorbis");
    }

    static IAudioReader OpenOgg(string path, Stream stream, ReadOnlySpan<byte> h)
    {
        // Ogg page header is 27 bytes + segment table; the first packet of a Vorbis stream starts "\x01vorbis".
        int segments = h.Length > 26 ? h[26] : 0;
        int packet = 27 + segments;
        if (h.Length >= packet + 7 && h[packet] == 1 && h.Slice(packet + 1, 6).SequenceEqual("vorbis"u8))
            return new VorbisFileReader(path, stream);
        string codec = h.Length >= packet + 8 ? Printable(h.Slice(packet, 8)) : "unknown";
        throw new InputException($"{path}: unsupported Ogg codec ({codec}); only Ogg Vorbis is supported");
    }

    static IAudioReader OpenAfterId3(string path, Stream stream, long audioStart)
    {
        if (audioStart >= stream.Length) throw new InputException($"{path}: truncated: ID3 tag of {audioStart} bytes but no audio after it");
        var head = new byte[4];
        stream.Position = audioStart;
        int n = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        if (n == 4 && head.AsSpan().SequenceEqual("fLaC"u8))
        {
            stream.Position = audioStart;
            return new FlacReader(path, stream);
        }
        if (Mp3Reader.IsFrameSync(head.AsSpan(0, n))) return new Mp3Reader(path, stream, audioStart);
        throw new InputException($"{path}: unsupported audio format after an ID3 tag ({Describe(head.AsSpan(0, n))})");
    }

    /// <summary>Size of an ID3v2 tag at the start (10-byte header + syncsafe size [+ footer]), 0 when none.</summary>
    public static long Id3v2Length(ReadOnlySpan<byte> h)
    {
        if (h.Length < 10 || !h.StartsWith("ID3"u8)) return 0;
        int size = (h[6] & 0x7F) << 21 | (h[7] & 0x7F) << 14 | (h[8] & 0x7F) << 7 | (h[9] & 0x7F);
        bool footer = (h[5] & 0x10) != 0;
        return 10 + size + (footer ? 10 : 0);
    }

    static string Describe(ReadOnlySpan<byte> h)
    {
        if (h.StartsWith("FORM"u8)) return "AIFF/IFF container";
        if (h.StartsWith("RIFX"u8)) return "big-endian RIFX";
        if (h.Length >= 8 && h.Slice(4, 4).SequenceEqual("ftyp"u8)) return "MP4/M4A container";
        return h.Length == 0 ? "no bytes" : $"first bytes {Convert.ToHexString(h[..Math.Min(8, h.Length)])}";
    }

    static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (byte c in b) sb.Append(c is >= 32 and < 127 ? (char)c : '.');
        return sb.ToString();
    }
}
