using System.Buffers.Binary;

namespace SonicVerse.Runtime.Audio;

/// <summary>WAV (RIFF and RF64): PCM 8 (unsigned), 16, 24, 32-bit integer, IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE,
/// any channel count. Integers scale by 2^(bits-1) (int16/32768, as ffmpeg pcm_f32le and soundfile do).</summary>
sealed class WavReader : IAudioReader
{
    const ushort FormatPcm = 1, FormatFloat = 3, FormatExtensible = 0xFFFE;

    readonly Stream _stream;
    readonly int _bytesPerSample;
    readonly bool _isFloat;
    readonly int _blockAlign;
    long _bytesLeft;
    byte[] _buffer = [];

    public string Path { get; }
    public int SampleRate { get; }
    public int Channels { get; }
    public long? TotalFrames { get; }

    public WavReader(string path, Stream stream)
    {
        Path = path;
        _stream = stream;
        var header = new byte[12];
        ReadExactly(header, "RIFF header");
        bool rf64 = header.AsSpan(0, 4).SequenceEqual("RF64"u8);
        long? ds64DataSize = null;
        (ushort format, int channels, int rate, int bits)? fmt = null;
        while (true)
        {
            var chunk = new byte[8];
            if (!TryReadExactly(chunk)) throw Error(fmt is null ? "truncated: no 'fmt ' chunk" : "truncated: no 'data' chunk");
            string id = System.Text.Encoding.ASCII.GetString(chunk, 0, 4);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(4));
            if (id == "data")
            {
                if (fmt is null) throw Error("'data' chunk before 'fmt ' chunk");
                (ushort format, int channels, int rate, int bits) = fmt.Value;
                Channels = channels;
                SampleRate = rate;
                _bytesPerSample = bits / 8;
                _isFloat = format == FormatFloat;
                _blockAlign = channels * _bytesPerSample;
                _bytesLeft = DataSize(rf64 && size == 0xFFFFFFFF ? ds64DataSize : size);
                TotalFrames = _bytesLeft / _blockAlign;
                return;
            }
            byte[] body = ReadChunkBody(id, size);
            if (id == "fmt ") fmt = ParseFormat(body);
            else if (id == "ds64" && body.Length >= 16) ds64DataSize = BinaryPrimitives.ReadInt64LittleEndian(body.AsSpan(8));
        }
    }

    /// <summary>Bytes of sample data: the declared size, checked against the file; streaming writers that left
    /// the size unknown (0 or 0xFFFFFFFF) get "to the end of the file".</summary>
    long DataSize(long? declared)
    {
        long remaining = _stream.Length - _stream.Position;
        if (declared is null || declared == 0 || declared == 0xFFFFFFFF) return remaining - remaining % _blockAlign;
        if (declared > remaining)
            throw Error($"truncated: 'data' chunk declares {declared} bytes but only {remaining} follow");
        return declared.Value - declared.Value % _blockAlign;
    }

    byte[] ReadChunkBody(string id, long size)
    {
        // Only small chunks are read (fmt, ds64); others are skipped. Chunks are padded to an even size.
        long padded = size + (size & 1);
        if (id is not ("fmt " or "ds64"))
        {
            if (_stream.Position + padded > _stream.Length) throw Error($"truncated inside the '{id.TrimEnd()}' chunk");
            _stream.Seek(padded, SeekOrigin.Current);
            return [];
        }
        if (size > 1 << 16) throw Error($"'{id.TrimEnd()}' chunk of {size} bytes is implausibly large");
        var body = new byte[size];
        if (!TryReadExactly(body)) throw Error($"truncated inside the '{id.TrimEnd()}' chunk");
        if ((size & 1) == 1 && _stream.Position < _stream.Length) _stream.ReadByte();
        return body;
    }

    (ushort, int, int, int) ParseFormat(byte[] b)
    {
        if (b.Length < 16) throw Error($"'fmt ' chunk of {b.Length} bytes (need 16)");
        ushort format = BinaryPrimitives.ReadUInt16LittleEndian(b);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(2));
        int rate = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4)));
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(14));
        if (format == FormatExtensible)
        {
            // WAVEFORMATEXTENSIBLE: cbSize, validBits, channelMask, then the sub-format GUID whose first 2 bytes are the tag.
            if (b.Length < 40) throw Error("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk shorter than 40 bytes");
            format = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(24));
        }
        if (channels == 0) throw Error("0 channels");
        if (rate == 0) throw Error("sample rate 0");
        bool ok = format == FormatPcm && bits is 8 or 16 or 24 or 32 || format == FormatFloat && bits is 32 or 64;
        if (!ok) throw Error($"unsupported WAV encoding (format tag 0x{format:X4}, {bits} bits); supported: PCM 8/16/24/32, float 32/64");
        return (format, channels, rate, bits);
    }

    public int Read(Span<float> interleaved)
    {
        int frames = (int)Math.Min(interleaved.Length / Channels, _bytesLeft / _blockAlign);
        if (frames == 0) return 0;
        int bytes = frames * _blockAlign;
        if (_buffer.Length < bytes) _buffer = new byte[bytes];
        if (!TryReadExactly(_buffer.AsSpan(0, bytes))) throw Error("truncated: file ends inside the 'data' chunk");
        _bytesLeft -= bytes;
        Convert(_buffer.AsSpan(0, bytes), interleaved[..(frames * Channels)]);
        return frames * Channels;
    }

    void Convert(ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (_bytesPerSample, _isFloat)
        {
            case (1, false):
                for (int i = 0; i < dst.Length; i++) dst[i] = (src[i] - 128) / 128f;
                break;
            case (2, false):
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]) / 32768f;
                break;
            case (3, false):
                for (int i = 0; i < dst.Length; i++)
                    dst[i] = (src[3 * i] | src[3 * i + 1] << 8 | (sbyte)src[3 * i + 2] << 16) / 8388608f;
                break;
            case (4, false):
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)(BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]) / 2147483648.0);
                break;
            case (4, true):
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            default:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
        }
    }

    void ReadExactly(Span<byte> buffer, string what)
    {
        if (!TryReadExactly(buffer)) throw Error($"truncated: file ends inside the {what}");
    }

    bool TryReadExactly(Span<byte> buffer) => _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;

    InputException Error(string problem) => new($"{Path}: WAV: {problem}");

    public void Dispose() => _stream.Dispose();
}
