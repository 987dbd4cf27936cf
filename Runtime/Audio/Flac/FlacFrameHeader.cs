namespace SonicVerse.Runtime.Audio.Flac;

enum ChannelAssignment { Independent, LeftSide, SideRight, MidSide }

/// <summary>A frame header (RFC 9639 §9.1), checked against its CRC-8.</summary>
readonly record struct FlacFrameHeader(int BlockSize, int SampleRate, int Channels, ChannelAssignment Assignment, int BitsPerSample)
{
    static readonly int[] RateCodes = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
    static readonly int[] DepthCodes = [0, 8, 12, -1, 16, 20, 24, 32];

    public static FlacFrameHeader Read(FlacBitReader r, FlacStreamInfo info, string path)
    {
        r.ResetCrc();
        uint sync = r.ReadUInt(15);
        if (sync != 0x7FFC) throw Corrupt(path, "frame sync code missing (corrupt or not a FLAC frame)");
        r.ReadBits(1); // blocking strategy: fixed vs variable; the coded number below is skipped either way
        int blockCode = (int)r.ReadUInt(4);
        int rateCode = (int)r.ReadUInt(4);
        int channelCode = (int)r.ReadUInt(4);
        int depthCode = (int)r.ReadUInt(3);
        if (r.ReadBits(1) != 0) throw Corrupt(path, "reserved bit set in frame header");
        SkipCodedNumber(r, path);
        int blockSize = blockCode switch
        {
            0 => throw Corrupt(path, "reserved block size code 0"),
            1 => 192,
            <= 5 => 576 << (blockCode - 2),
            6 => (int)r.ReadUInt(8) + 1,
            7 => (int)r.ReadUInt(16) + 1,
            _ => 256 << (blockCode - 8),
        };
        int rate = rateCode switch
        {
            0 => info.SampleRate,
            <= 11 => RateCodes[rateCode],
            12 => (int)r.ReadUInt(8) * 1000,
            13 => (int)r.ReadUInt(16),
            14 => (int)r.ReadUInt(16) * 10,
            _ => throw Corrupt(path, "invalid sample rate code 15"),
        };
        int depth = depthCode == 0 ? info.BitsPerSample : DepthCodes[depthCode];
        if (depth < 0) throw Corrupt(path, "reserved bit depth code 3");
        (int channels, ChannelAssignment assignment) = channelCode switch
        {
            <= 7 => (channelCode + 1, ChannelAssignment.Independent),
            8 => (2, ChannelAssignment.LeftSide),
            9 => (2, ChannelAssignment.SideRight),
            10 => (2, ChannelAssignment.MidSide),
            _ => throw Corrupt(path, $"reserved channel assignment {channelCode}"),
        };
        byte expected = r.Crc8;
        if (r.ReadUInt(8) != expected) throw Corrupt(path, "frame header CRC-8 mismatch");
        if (channels != info.Channels) throw Corrupt(path, $"frame has {channels} channels, STREAMINFO says {info.Channels}");
        if (blockSize > info.MaxBlockSize) throw Corrupt(path, $"block of {blockSize} samples exceeds STREAMINFO maximum {info.MaxBlockSize}");
        return new FlacFrameHeader(blockSize, rate, channels, assignment, depth);
    }

    /// <summary>The frame or sample number, UTF-8-like coded in 1 to 7 bytes.</summary>
    static void SkipCodedNumber(FlacBitReader r, string path)
    {
        uint first = r.ReadUInt(8);
        int extra = first switch { < 0x80 => 0, < 0xC0 => -1, < 0xE0 => 1, < 0xF0 => 2, < 0xF8 => 3, < 0xFC => 4, < 0xFE => 5, 0xFE => 6, _ => -1 };
        if (extra < 0) throw Corrupt(path, "invalid coded frame number");
        for (int i = 0; i < extra; i++)
            if ((r.ReadUInt(8) & 0xC0) != 0x80) throw Corrupt(path, "invalid coded frame number");
    }

    public static InputException Corrupt(string path, string problem) => new($"{path}: corrupt FLAC: {problem}");
}
