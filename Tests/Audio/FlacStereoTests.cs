using SonicVerse.Runtime.Audio;

namespace SonicVerse.Tests.Audio;

/// <summary>The kit's FLAC is mono; these hand-built one-frame files (RFC 9639 written out bit by bit, VERBATIM
/// subframes) cover the four channel assignments, the side channel's extra bit and wasted bits.</summary>
public class FlacStereoTests
{
    sealed class BitWriter
    {
        readonly List<byte> _bytes = [];
        int _acc, _n;

        public void Write(long value, int bits)
        {
            for (int i = bits - 1; i >= 0; i--)
            {
                _acc = _acc << 1 | (int)(value >> i & 1);
                if (++_n == 8) { _bytes.Add((byte)_acc); _acc = 0; _n = 0; }
            }
        }

        public void Align() { while (_n != 0) Write(0, 1); }
        public List<byte> Bytes => _bytes;
    }

    static int Crc(IEnumerable<byte> bytes, int poly, int width)
    {
        int crc = 0, top = 1 << (width - 1), mask = (1 << width) - 1;
        foreach (byte b in bytes)
        {
            crc ^= b << (width - 8);
            for (int k = 0; k < 8; k++) crc = ((crc & top) != 0 ? crc << 1 ^ poly : crc << 1) & mask;
        }
        return crc;
    }

    static byte[] OneFrameFlac(int channelCode, long[] ch0, long[] ch1, int bps, int rate)
    {
        var w = new BitWriter();
        w.Write(0x664C6143, 32);
        w.Write(1, 1); w.Write(0, 7); w.Write(34, 24);                       // last block, STREAMINFO, length
        w.Write(ch0.Length, 16); w.Write(ch0.Length, 16); w.Write(0, 24); w.Write(0, 24);
        w.Write(rate, 20); w.Write(1, 3); w.Write(bps - 1, 5); w.Write(ch0.Length, 36);
        for (int i = 0; i < 4; i++) w.Write(0, 32);                          // MD5
        int frameStart = w.Bytes.Count;
        w.Write(0xFFF8, 16); w.Write(7, 4); w.Write(0, 4); w.Write(channelCode, 4); w.Write(0, 3); w.Write(0, 1);
        w.Write(0, 8);                                                       // frame number 0
        w.Write(ch0.Length - 1, 16);
        w.Write(Crc(w.Bytes.Skip(frameStart), 0x07, 8), 8);
        bool sideFirst = channelCode == 9, sideSecond = channelCode is 8 or 10;
        Verbatim(w, ch0, bps + (sideFirst ? 1 : 0));
        Verbatim(w, ch1, bps + (sideSecond ? 1 : 0));
        w.Align();
        w.Write(Crc(w.Bytes.Skip(frameStart), 0x8005, 16), 16);
        return w.Bytes.ToArray();
    }

    static void Verbatim(BitWriter w, long[] samples, int bits)
    {
        bool even = samples.All(s => s % 2 == 0);
        w.Write(0, 1); w.Write(1, 6);
        if (even) { w.Write(1, 1); w.Write(1, 1); } else w.Write(0, 1);      // wasted bits: unary "1" = 1 bit
        foreach (long s in samples) w.Write((even ? s >> 1 : s) & ((1L << (bits - (even ? 1 : 0))) - 1), bits - (even ? 1 : 0));
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(8, 16)]
    [InlineData(9, 24)]
    [InlineData(10, 16)]
    [InlineData(10, 32)]
    public void ChannelAssignments_DecodeToLeftAndRight(int channelCode, int bps)
    {
        long full = 1L << (bps - 1);
        var rnd = new Random(channelCode * 100 + bps);
        long[] left = Enumerable.Range(0, 64).Select(i => i == 0 ? -full : rnd.NextInt64(-full, full)).ToArray();
        long[] right = Enumerable.Range(0, 64).Select(i => i == 0 ? full - 1 : rnd.NextInt64(-full, full)).ToArray();
        if (channelCode == 1) for (int i = 0; i < 64; i++) left[i] &= ~1L; // give channel 0 a wasted bit
        long[] side = left.Zip(right, (l, r) => l - r).ToArray();
        long[] mid = left.Zip(right, (l, r) => (l + r) >> 1).ToArray();
        (long[] a, long[] b) = channelCode switch { 1 => (left, right), 8 => (left, side), 9 => (side, right), _ => (mid, side) };
        string path = Path.Combine(TestWav.TempDir(), "stereo.flac");
        File.WriteAllBytes(path, OneFrameFlac(channelCode, a, b, bps, 44100));
        float[] got = TestWav.DecodeFile(path);
        var expected = new float[128];
        for (int i = 0; i < 64; i++)
        {
            expected[2 * i] = (float)(left[i] / (double)full);
            expected[2 * i + 1] = (float)(right[i] / (double)full);
        }
        Assert.Equal(expected, got);
    }
}
