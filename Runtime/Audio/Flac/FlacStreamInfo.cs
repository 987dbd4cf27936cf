namespace SonicVerse.Runtime.Audio.Flac;

/// <summary>The STREAMINFO metadata block (RFC 9639 §8.2). TotalSamples 0 means unknown.</summary>
sealed record FlacStreamInfo(int MinBlockSize, int MaxBlockSize, int SampleRate, int Channels, int BitsPerSample, long TotalSamples)
{
    public static FlacStreamInfo Read(FlacBitReader r, int length, string path)
    {
        if (length < 34) throw new InputException($"{path}: FLAC: STREAMINFO block of {length} bytes (need 34)");
        int minBlock = (int)r.ReadUInt(16);
        int maxBlock = (int)r.ReadUInt(16);
        r.ReadBits(24); // min frame size
        r.ReadBits(24); // max frame size
        int rate = (int)r.ReadUInt(20);
        int channels = (int)r.ReadUInt(3) + 1;
        int bits = (int)r.ReadUInt(5) + 1;
        long total = (long)r.ReadBits(36);
        r.ReadBits(56); // MD5, first 7 bytes
        r.ReadBits(56); // MD5, last 9 bytes
        r.ReadBits(16);
        for (int i = 34; i < length; i++) r.ReadBits(8);
        if (rate == 0) throw new InputException($"{path}: FLAC: STREAMINFO sample rate 0");
        if (bits < 4) throw new InputException($"{path}: FLAC: STREAMINFO bit depth {bits} (need 4..32)");
        if (maxBlock < 16) throw new InputException($"{path}: FLAC: STREAMINFO maximum block size {maxBlock} (need >= 16)");
        return new FlacStreamInfo(minBlock, maxBlock, rate, channels, bits, total);
    }
}
