using System.Buffers.Binary;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Tests.Mert;

public class TraceWriterTests
{
    [Fact]
    public void WritesAlignedFp32SafetensorsThatAnIndependentReaderReads()
    {
        string path = Path.Combine(Path.GetTempPath(), $"trace-{Guid.NewGuid():N}.safetensors");
        try
        {
            var writer = new SafetensorsTraceWriter(path, name => name != "skipped");
            Assert.False(writer.Wants("skipped"));
            writer.Record("a.b", [2, 3], [1, 2, 3, 4, 5, -6.5f]);
            writer.Record("c", [1], [float.Epsilon]);
            Assert.Throws<ArgumentException>(() => writer.Record("c", [1], [0f]));
            Assert.Throws<ArgumentException>(() => writer.Record("d", [2, 2], [0f]));
            writer.Save();

            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
            var read = new RefTensors(path);
            Assert.Equal(new[] { "a.b", "c" }, read.Names.Order());
            Assert.Equal(new[] { 2, 3 }, read.Shape("a.b"));
            Assert.Equal(new double[] { 1, 2, 3, 4, 5, -6.5 }, read.Values("a.b"));
            Assert.Equal(float.Epsilon, (float)read.Values("c")[0]);
            Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".tmp-*"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
