using System.Buffers.Binary;
using System.Text;

namespace SonicVerse.Tests.PyTorch;

/// <summary>Writes a torch.save-shaped zip by hand (PKWARE APPNOTE): stored members, data aligned to 64 bytes like
/// torch's writer, optionally with every size and offset moved into zip64 extra fields and a zip64 end record.</summary>
public static class TorchZip
{
    const ushort PaddingExtraId = 0x4246; // a private extra-field id used only to pad data to 64-byte alignment

    public static byte[] Build(IEnumerable<(string Name, byte[] Data)> members, bool zip64 = false)
    {
        var zip = new MemoryStream();
        var central = new MemoryStream();
        int count = 0;
        foreach (var (name, data) in members)
        {
            long localOffset = zip.Position;
            WriteLocal(zip, name, data, zip64);
            zip.Write(data);
            WriteCentral(central, name, data, localOffset, zip64);
            count++;
        }
        long centralOffset = zip.Position;
        central.Position = 0;
        central.CopyTo(zip);
        WriteEnd(zip, count, central.Length, centralOffset, zip64);
        return zip.ToArray();
    }

    /// <summary>A torch.save archive: root/data.pkl, root/data/&lt;key&gt; for each storage, root/version.</summary>
    public static byte[] Checkpoint(string root, byte[] pickle, IReadOnlyDictionary<string, byte[]> storages, bool zip64 = false)
    {
        var members = new List<(string, byte[])> { ($"{root}/data.pkl", pickle) };
        members.AddRange(storages.Select(kv => ($"{root}/data/{kv.Key}", kv.Value)));
        members.Add(($"{root}/version", Encoding.ASCII.GetBytes("3\n")));
        return Build(members, zip64);
    }

    static void WriteLocal(Stream zip, string name, byte[] data, bool zip64)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        long headerEnd = zip.Position + 30 + nameBytes.Length + 4 + (zip64 ? 20 : 0);
        int padding = (int)((64 - headerEnd % 64) % 64);
        var extra = new MemoryStream();
        if (zip64) Extra(extra, 1, U64(data.Length), U64(data.Length));
        Extra(extra, PaddingExtraId, new byte[padding]);

        Write(zip, U32(0x04034b50), U16(zip64 ? 45 : 20), U16(0), U16(0), U32(0), U32(Crc32(data)));
        uint size = zip64 ? uint.MaxValue : (uint)data.Length;
        Write(zip, U32(size), U32(size), U16(nameBytes.Length), U16((int)extra.Length), nameBytes, extra.ToArray());
    }

    static void WriteCentral(Stream central, string name, byte[] data, long localOffset, bool zip64)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        var extra = new MemoryStream();
        if (zip64) Extra(extra, 1, U64(data.Length), U64(data.Length), U64(localOffset));
        uint size = zip64 ? uint.MaxValue : (uint)data.Length;
        uint offset = zip64 ? uint.MaxValue : (uint)localOffset;
        Write(central, U32(0x02014b50), U16(zip64 ? 45 : 20), U16(zip64 ? 45 : 20), U16(0), U16(0), U32(0), U32(Crc32(data)),
            U32(size), U32(size), U16(nameBytes.Length), U16((int)extra.Length), U16(0), U16(0), U16(0), U32(0), U32(offset),
            nameBytes, extra.ToArray());
    }

    static void WriteEnd(Stream zip, int count, long centralSize, long centralOffset, bool zip64)
    {
        if (zip64)
        {
            long end64 = zip.Position;
            Write(zip, U32(0x06064b50), U64(44), U16(45), U16(45), U32(0), U32(0), U64(count), U64(count), U64(centralSize), U64(centralOffset));
            Write(zip, U32(0x07064b50), U32(0), U64(end64), U32(1));
        }
        Write(zip, U32(0x06054b50), U16(0), U16(0), U16(zip64 ? 0xFFFF : count), U16(zip64 ? 0xFFFF : count),
            U32(zip64 ? uint.MaxValue : (uint)centralSize), U32(zip64 ? uint.MaxValue : (uint)centralOffset), U16(0));
    }

    static void Extra(Stream s, ushort id, params byte[][] fields)
    {
        Write(s, U16(id), U16(fields.Sum(f => f.Length)));
        Write(s, fields);
    }

    static void Write(Stream s, params byte[][] parts)
    {
        foreach (var p in parts) s.Write(p);
    }

    static byte[] U16(int v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); return b; }
    static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    static byte[] U64(long v) { var b = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); return b; }

    /// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit: test archives are tiny.</summary>
    static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
