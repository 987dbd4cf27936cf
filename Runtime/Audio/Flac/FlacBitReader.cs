using System.Numerics;

namespace SonicVerse.Runtime.Audio.Flac;

/// <summary>MSB-first bit reader over a stream that updates the frame CRCs for every byte it takes in.
/// Bytes are pulled one at a time only when needed, so fewer than 8 unread bits are ever cached and the CRCs
/// cover exactly the bytes consumed so far.</summary>
sealed class FlacBitReader(Stream stream, string path)
{
    readonly byte[] _buffer = new byte[1 << 16];
    int _pos, _len;
    ulong _cache;        // the low _bits bits are unread, the next bit is bit _bits-1
    int _bits;

    public byte Crc8;
    public ushort Crc16;

    /// <summary>Starts both checksums at the current (byte-aligned) position.</summary>
    public void ResetCrc()
    {
        Crc8 = 0;
        Crc16 = 0;
    }

    public bool AtEnd
    {
        get
        {
            if (_bits > 0 || _pos < _len) return false;
            Refill();
            return _len == 0;
        }
    }

    void Refill()
    {
        _len = stream.Read(_buffer, 0, _buffer.Length);
        _pos = 0;
    }

    void PullByte()
    {
        if (_pos == _len)
        {
            Refill();
            if (_len == 0) throw new InputException($"{path}: FLAC: truncated: file ends inside a frame");
        }
        byte b = _buffer[_pos++];
        Crc8 = FlacCrc.Crc8Table[Crc8 ^ b];
        Crc16 = (ushort)(Crc16 << 8 ^ FlacCrc.Crc16Table[(Crc16 >> 8) ^ b]);
        _cache = _cache << 8 | b;
        _bits += 8;
    }

    /// <summary>Reads up to 56 bits as an unsigned value.</summary>
    public ulong ReadBits(int n)
    {
        if (n == 0) return 0;
        while (_bits < n) PullByte();
        _bits -= n;
        return (_cache >> _bits) & (ulong.MaxValue >> (64 - n));
    }

    public uint ReadUInt(int n) => (uint)ReadBits(n);

    /// <summary>Reads an n-bit two's complement value (n ≤ 56).</summary>
    public long ReadSigned(int n)
    {
        if (n == 0) return 0;
        ulong v = ReadBits(n);
        return (long)(v << (64 - n)) >> (64 - n);
    }

    /// <summary>Counts zero bits up to and including the terminating one bit; returns the count of zeros.</summary>
    public int ReadUnary()
    {
        int zeros = 0;
        while (true)
        {
            if (_bits == 0) PullByte();
            ulong live = _cache & (ulong.MaxValue >> (64 - _bits));
            if (live == 0)
            {
                zeros += _bits;
                _bits = 0;
                continue;
            }
            int lead = BitOperations.LeadingZeroCount(live) - (64 - _bits);
            zeros += lead;
            _bits -= lead + 1;
            return zeros;
        }
    }

    /// <summary>Drops the bits left in the current byte (frames end byte-aligned, zero padded).</summary>
    public void AlignToByte() => _bits = 0;

    public void ReadBytes(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = (byte)ReadBits(8);
    }
}
