namespace SonicVerse.Runtime.Audio;

/// <summary>The Xing/Info + LAME tag of an MP3's first frame: the frame count and the encoder's delay/padding,
/// which NLayer does not apply. Trimming follows ffmpeg mp3dec (mp3_parse_info_tag): skip delay + 529 samples
/// (529 = the decoder's own filterbank delay, 528 + 1) and stop at frames·spf − padding + 529.</summary>
public sealed record Mp3GaplessInfo(long AudioFrames, int SamplesPerFrame, int EncoderDelay, int EncoderPadding)
{
    public const int DecoderDelay = 529;

    public long StartSkip => EncoderDelay + DecoderDelay;

    /// <summary>Frames left after trimming (ffmpeg's first_discard_sample − start_skip_samples).</summary>
    public long OutputFrames => Math.Max(0, AudioFrames * SamplesPerFrame - EncoderPadding - EncoderDelay);

    /// <summary>Parses the tag in the frame at the start of <paramref name="frame"/>; null when the frame is plain audio
    /// or the tag carries no LAME-style delay (ffmpeg then trims nothing).</summary>
    public static Mp3GaplessInfo? Parse(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 4 || !Mp3Reader.IsFrameSync(frame)) return null;
        int version = frame[1] >> 3 & 3;          // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
        int layer = frame[1] >> 1 & 3;            // 1 = Layer III
        bool mono = (frame[3] >> 6) == 3;
        if (layer != 1) return null;
        bool mpeg1 = version == 3;
        int sideInfo = mpeg1 ? (mono ? 17 : 32) : (mono ? 9 : 17);
        int spf = mpeg1 ? 1152 : 576;
        int at = 4 + sideInfo;
        if (frame.Length < at + 8) return null;
        var tag = frame[at..];
        if (!tag.StartsWith("Xing"u8) && !tag.StartsWith("Info"u8)) return null;
        int flags = BigEndian(tag[4..], 4);
        int o = 8;
        long frames = -1;
        if ((flags & 1) != 0) { frames = (uint)BigEndian(tag[o..], 4); o += 4; }
        if ((flags & 2) != 0) o += 4;   // byte count
        if ((flags & 4) != 0) o += 100; // seek table
        if ((flags & 8) != 0) o += 4;   // quality
        // LAME tag: 9-byte encoder string, revision, lowpass, peak (4), radio + audiophile gain (2 + 2), flags, bitrate,
        // then delay (12 bits) and padding (12 bits) at offset 21.
        if (frames < 0 || tag.Length < o + 24) return null;
        var lame = tag[o..];
        if (!lame.StartsWith("LAME"u8) && !lame.StartsWith("Lavf"u8) && !lame.StartsWith("Lavc"u8)) return null;
        int v = BigEndian(lame[21..], 3);
        return new Mp3GaplessInfo(frames, spf, v >> 12, v & 0xFFF);
    }

    static int BigEndian(ReadOnlySpan<byte> b, int count)
    {
        int v = 0;
        for (int i = 0; i < count; i++) v = v << 8 | b[i];
        return v;
    }
}
