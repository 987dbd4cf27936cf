namespace SonicVerse.Runtime.Audio.Flac;

/// <summary>The two checksums of a FLAC frame (RFC 9639 §9.1.8, §9.3): CRC-8 (poly 0x07) over the header,
/// CRC-16 (poly 0x8005) over the whole frame; both MSB first, initial value 0.</summary>
static class FlacCrc
{
    public static readonly byte[] Crc8Table = BuildTable8();
    public static readonly ushort[] Crc16Table = BuildTable16();

    static byte[] BuildTable8()
    {
        var t = new byte[256];
        for (int i = 0; i < 256; i++)
        {
            int c = i;
            for (int b = 0; b < 8; b++) c = (c & 0x80) != 0 ? (c << 1) ^ 0x07 : c << 1;
            t[i] = (byte)c;
        }
        return t;
    }

    static ushort[] BuildTable16()
    {
        var t = new ushort[256];
        for (int i = 0; i < 256; i++)
        {
            int c = i << 8;
            for (int b = 0; b < 8; b++) c = (c & 0x8000) != 0 ? (c << 1) ^ 0x8005 : c << 1;
            t[i] = (ushort)c;
        }
        return t;
    }
}
