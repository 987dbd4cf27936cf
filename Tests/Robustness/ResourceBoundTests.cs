using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using SonicVerse.Loader;
using SonicVerse.Tests.Gguf;
using SonicVerse.Tests.PyTorch;
using SonicVerse.Tests.Safetensors;

namespace SonicVerse.Tests.Robustness;

/// <summary>Hostile sizes and shapes are refused before anything proportional to the claim is allocated: each case must
/// fail with a <see cref="LoaderException"/> in under 2 s and allocate under 50 MB. (The 100 GB safetensors header and
/// the GGUF array of 2^62 strings are covered the same way in SafetensorsBadInputTests and GgufHostileTests.)</summary>
public class ResourceBoundTests
{
    const long TwoToThe40 = 1L << 40;
    const long MaxAllocatedBytes = 50_000_000;

    static LoaderException RefusedQuickly(byte[] contents, Func<string, ICheckpoint> open)
    {
        using var file = new TempFile(contents);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<LoaderException>(() => open(file.Path).Dispose());
        clock.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.True(allocated < MaxAllocatedBytes, $"allocated {allocated} bytes");
        return e;
    }

    [Fact]
    public void SafetensorsShapeOfTwoToThe40Elements()
    {
        string header = $"{{\"w\": {{\"dtype\": \"F32\", \"shape\": [{TwoToThe40}], \"data_offsets\": [0, 8]}}}}";
        var e = RefusedQuickly(SafetensorsTestWriter.Raw(header, new byte[8]), SafetensorsCheckpoint.Open);
        Assert.Contains($"shape [{TwoToThe40}] × F32 needs {4 * TwoToThe40} bytes, data_offsets [0, 8] hold 8", e.Message);
    }

    [Fact]
    public void PickleShapeOfTwoToThe40Elements()
    {
        // The storage claims 2^40 floats too, so only the size check against the 16 stored bytes can stop it.
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", TwoToThe40, 0, [TwoToThe40], [1]).SetItems().Stop().ToArray();
        var e = RefusedQuickly(TorchZip.Checkpoint("archive", pickle, new Dictionary<string, byte[]> { ["0"] = new byte[16] }),
            PyTorchCheckpoint.Open);
        Assert.Contains($"storage '0' (archive/data/0) is 16 bytes, expected {TwoToThe40} × F32", e.Message);
    }

    [Fact]
    public void PickleBroadcastViewLargerThanItsStorage()
    {
        // stride 0: 2^28 elements (1 GiB once gathered) over a one-float storage
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", 1, 0, [1L << 28], [0]).SetItems().Stop().ToArray();
        var e = RefusedQuickly(TorchZip.Checkpoint("archive", pickle, new Dictionary<string, byte[]> { ["0"] = new byte[4] }),
            path => { var c = PyTorchCheckpoint.Open(path); _ = c.Tensors[0].Bytes.Length; return c; });
        Assert.Contains("view of 268435456 elements is larger than its storage '0' (1 elements)", e.Message);
    }

    [Fact]
    public void GgufShapeOfTwoToThe40Elements()
    {
        byte[] file = new GgufTestWriter().Tensor("w", [1UL << 20, 1UL << 20], 0, new byte[32]).Build();
        var e = RefusedQuickly(file, GgufCheckpoint.Open);
        Assert.Contains($"{4 * TwoToThe40} bytes: tensors over 2 GiB are not supported", e.Message);
    }

    [Fact]
    public void GgufArraysNestedDeeperThanTheLimit()
    {
        // 100 000 nested arrays of one element each: recursing per level would overflow the stack.
        byte[] file = new GgufTestWriter().Kv("deep", GgufValueType.Array, w =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                w.Write((uint)GgufValueType.Array);
                w.Write(1UL);
            }
            w.Write((uint)GgufValueType.UInt8);
            w.Write(0UL);
        }).Build();
        var e = RefusedQuickly(file, GgufCheckpoint.Open);
        Assert.Contains("'deep': arrays nested more than 8 deep", e.Message);
    }

    [Fact]
    public void PickleTuplesNestedDeeperThanTheLimit()
    {
        var p = new PickleWriter().Proto().EmptyTuple();
        for (int i = 0; i < 1_000_000; i++) p.Raw(0x85); // TUPLE1: wrap the top of the stack
        var e = RefusedQuickly(TorchZip.Checkpoint("archive", p.Stop().ToArray(), new Dictionary<string, byte[]>()), PyTorchCheckpoint.Open);
        Assert.Contains("tuples nested more than 64 deep", e.Message);
    }

    [Fact]
    public void DeflatedZipMemberClaimingAnAbsurdSize()
    {
        byte[] zip = DeflatedArchive(("archive/data.pkl", new PickleWriter().Proto().EmptyDict().Stop().ToArray()));
        SetCentralUncompressedSize(zip, "archive/data.pkl", 200_000_000);
        var e = RefusedQuickly(zip, PyTorchCheckpoint.Open);
        Assert.Contains("claims 200000000 bytes from", e.Message);
        Assert.Contains("beyond deflate's 1032:1 limit", e.Message);
    }

    static byte[] DeflatedArchive(params (string Name, byte[] Data)[] members)
    {
        var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in members)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
                s.Write(data);
            }
        return stream.ToArray();
    }

    /// <summary>Rewrites the 32-bit uncompressed size (offset 24) of the named central directory record (APPNOTE 4.3.12).</summary>
    static void SetCentralUncompressedSize(byte[] zip, string name, uint size)
    {
        byte[] signature = [0x50, 0x4b, 0x01, 0x02], nameBytes = Encoding.UTF8.GetBytes(name);
        for (int at = 0; at + 46 <= zip.Length; at++)
        {
            if (!zip.AsSpan(at, 4).SequenceEqual(signature)) continue;
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
            if (!zip.AsSpan(at + 46, nameLength).SequenceEqual(nameBytes)) continue;
            BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(at + 24), size);
            return;
        }
        throw new InvalidOperationException($"no central record for {name}");
    }
}
