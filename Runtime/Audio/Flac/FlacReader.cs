namespace SonicVerse.Runtime.Audio.Flac;

/// <summary>Native FLAC (RFC 9639): metadata, frames with CRC-8 header and CRC-16 frame checks, stereo decorrelation,
/// 4–32 bit depth. Samples scale by 2^(bits-1), so 16-bit FLAC equals the int16/32768 of the WAV it came from.
/// Any corrupt frame is an <see cref="InputException"/>; there is no resynchronisation.</summary>
sealed class FlacReader : IAudioReader
{
    readonly Stream _stream;
    readonly FlacBitReader _bits;
    readonly FlacStreamInfo _info;
    readonly long[][] _channels;
    int _blockSize, _blockPos, _blockBits;
    long _framesRead;

    public string Path { get; }
    public int SampleRate => _info.SampleRate;
    public int Channels => _info.Channels;
    public long? TotalFrames => _info.TotalSamples > 0 ? _info.TotalSamples : null;

    public FlacReader(string path, Stream stream)
    {
        Path = path;
        _stream = stream;
        _bits = new FlacBitReader(stream, path);
        if (_bits.ReadUInt(32) != 0x664C6143) throw FlacFrameHeader.Corrupt(path, "missing 'fLaC' marker");
        _info = ReadMetadata();
        _channels = new long[_info.Channels][];
        for (int c = 0; c < _channels.Length; c++) _channels[c] = new long[_info.MaxBlockSize];
    }

    FlacStreamInfo ReadMetadata()
    {
        FlacStreamInfo? info = null;
        bool last = false;
        while (!last)
        {
            last = _bits.ReadBits(1) != 0;
            int type = (int)_bits.ReadUInt(7);
            int length = (int)_bits.ReadUInt(24);
            if (type == 0) info = FlacStreamInfo.Read(_bits, length, Path);
            else if (type == 127) throw FlacFrameHeader.Corrupt(Path, "invalid metadata block type 127");
            else for (int i = 0; i < length; i++) _bits.ReadBits(8);
        }
        return info ?? throw FlacFrameHeader.Corrupt(Path, "no STREAMINFO block");
    }

    public int Read(Span<float> interleaved)
    {
        int channels = _info.Channels;
        int written = 0;
        while (written + channels <= interleaved.Length)
        {
            if (_blockPos == _blockSize && !NextFrameChecked()) break;
            int frames = Math.Min(_blockSize - _blockPos, (interleaved.Length - written) / channels);
            float scale = 1f / (1L << (_blockBits - 1));
            for (int c = 0; c < channels; c++)
            {
                long[] src = _channels[c];
                for (int i = 0; i < frames; i++) interleaved[written + i * channels + c] = src[_blockPos + i] * scale;
            }
            _blockPos += frames;
            written += frames * channels;
        }
        return written;
    }

    /// <summary>Corrupt data can drive the decoder into arithmetic or bounds faults; all of them mean a corrupt file.</summary>
    bool NextFrameChecked()
    {
        try
        {
            return NextFrame();
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException)
        {
            throw FlacFrameHeader.Corrupt(Path, $"undecodable frame at sample {_framesRead} ({e.GetType().Name})");
        }
    }

    bool NextFrame()
    {
        if (_info.TotalSamples > 0 && _framesRead >= _info.TotalSamples) return false;
        if (_bits.AtEnd)
        {
            if (_info.TotalSamples > 0)
                throw new InputException($"{Path}: FLAC: truncated: {_framesRead} of {_info.TotalSamples} samples present");
            return false;
        }
        var header = FlacFrameHeader.Read(_bits, _info, Path);
        DecodeChannels(header);
        _bits.AlignToByte();
        ushort expected = _bits.Crc16;
        if (_bits.ReadUInt(16) != expected) throw FlacFrameHeader.Corrupt(Path, $"frame CRC-16 mismatch at sample {_framesRead}");
        _blockSize = header.BlockSize;
        _blockBits = header.BitsPerSample;
        _blockPos = 0;
        if (_info.TotalSamples > 0) _blockSize = (int)Math.Min(_blockSize, _info.TotalSamples - _framesRead);
        _framesRead += _blockSize;
        return _blockSize > 0;
    }

    void DecodeChannels(FlacFrameHeader h)
    {
        int n = h.BlockSize;
        for (int c = 0; c < h.Channels; c++)
        {
            // The side channel carries one extra bit (RFC 9639 §9.2): channel 1 for left/side and mid/side, 0 for side/right.
            bool side = h.Assignment is ChannelAssignment.LeftSide or ChannelAssignment.MidSide ? c == 1
                : h.Assignment == ChannelAssignment.SideRight && c == 0;
            FlacSubframe.Decode(_bits, n, h.BitsPerSample + (side ? 1 : 0), Path, _channels[c]);
        }
        Span<long> a = _channels[0].AsSpan(0, n);
        Span<long> b = h.Channels > 1 ? _channels[1].AsSpan(0, n) : default;
        switch (h.Assignment)
        {
            case ChannelAssignment.LeftSide:
                for (int i = 0; i < n; i++) b[i] = a[i] - b[i];
                break;
            case ChannelAssignment.SideRight:
                for (int i = 0; i < n; i++) a[i] += b[i];
                break;
            case ChannelAssignment.MidSide:
                for (int i = 0; i < n; i++)
                {
                    long mid = a[i] << 1 | (b[i] & 1);
                    long sideValue = b[i];
                    a[i] = (mid + sideValue) >> 1;
                    b[i] = (mid - sideValue) >> 1;
                }
                break;
        }
    }

    public void Dispose() => _stream.Dispose();
}
