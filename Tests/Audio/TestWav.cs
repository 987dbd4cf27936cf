using System.Buffers.Binary;
using System.Text;
using SonicVerse.Runtime.Audio;

namespace SonicVerse.Tests.Audio;

/// <summary>A tiny WAV writer for synthesized test files, and helpers to read decoders to the end.</summary>
static class TestWav
{
    public enum Encoding { Pcm, Float }

    /// <summary>Writes raw little-endian sample bytes as a WAV; <paramref name="extensible"/> uses WAVE_FORMAT_EXTENSIBLE,
    /// <paramref name="rf64"/> an RF64 header with a ds64 chunk and 0xFFFFFFFF sizes.</summary>
    public static void Write(string path, byte[] data, int channels, int rate, int bits, Encoding encoding, bool extensible = false, bool rf64 = false)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        ushort tag = encoding == Encoding.Pcm ? (ushort)1 : (ushort)3;
        w.Write(Ascii(rf64 ? "RF64" : "RIFF"));
        w.Write(0u); // patched below
        w.Write(Ascii("WAVE"));
        if (rf64)
        {
            w.Write(Ascii("ds64"));
            w.Write(28u);
            w.Write(0L); // riff size (unused by the reader)
            w.Write((long)data.Length);
            w.Write((long)(data.Length / (channels * bits / 8)));
            w.Write(0u);
        }
        w.Write(Ascii("fmt "));
        w.Write(extensible ? 40u : 16u);
        w.Write(extensible ? (ushort)0xFFFE : tag);
        w.Write((ushort)channels);
        w.Write((uint)rate);
        w.Write((uint)(rate * channels * bits / 8));
        w.Write((ushort)(channels * bits / 8));
        w.Write((ushort)bits);
        if (extensible)
        {
            w.Write((ushort)22);
            w.Write((ushort)bits);
            w.Write((uint)((1 << channels) - 1));
            w.Write(tag);
            w.Write(new byte[] { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 });
        }
        w.Write(Ascii("LIST")); // an unknown chunk with an odd size, to exercise skipping and padding
        w.Write(3u);
        w.Write(new byte[] { 1, 2, 3, 0 });
        w.Write(Ascii("data"));
        w.Write(rf64 ? 0xFFFFFFFFu : (uint)data.Length);
        w.Write(data);
        w.Flush();
        byte[] bytes = ms.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), rf64 ? 0xFFFFFFFFu : (uint)(bytes.Length - 8));
        File.WriteAllBytes(path, bytes);
    }

    static byte[] Ascii(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    public static float[] ReadAll(IAudioReader reader, int block = 4099)
    {
        var all = new List<float>();
        var buffer = new float[block * reader.Channels];
        int n;
        while ((n = reader.Read(buffer)) > 0) all.AddRange(buffer.AsSpan(0, n));
        return all.ToArray();
    }

    public static float[] DecodeFile(string path)
    {
        using var reader = AudioFile.Open(path);
        return ReadAll(reader);
    }

    /// <summary>A fresh temporary folder per test class instance.</summary>
    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sonicverse-audio-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
