using System.Diagnostics;
using SonicVerse.Loader;

namespace SonicVerse.Tests.Gguf;

/// <summary>Malformed and hostile GGUF files built with <see cref="GgufTestWriter"/>: each must fail with a
/// <see cref="LoaderException"/> that names the problem, quickly and without large allocations.</summary>
public class GgufHostileTests
{
    const uint F32 = 0, F16 = 1, Q8_0 = 8;

    /// <summary>A small valid file: two KVs, an F32 and an F16 tensor, a Q8_0 tensor.</summary>
    static GgufTestWriter Valid() => new GgufTestWriter()
        .String("general.architecture", "llama")
        .StringArray("tokenizer.ggml.tokens", "<unk>", "<s>", "</s>")
        .Tensor("a", [3, 2], F32, GgufTestWriter.Floats(1, 2, 3, 4, 5, 6))
        .Tensor("b", [4], F16, [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x00, 0x00]) // 1, -2, 0.5, 0
        .Tensor("q", [32, 1], Q8_0, Q8Block());

    static byte[] Q8Block()
    {
        var block = new byte[34];
        block[1] = 0x3C; // d = 1.0
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j - 16);
        return block;
    }

    static LoaderException Refused(GgufTestWriter writer) => Refused(writer.Build());

    static LoaderException Refused(byte[] contents)
    {
        using var file = new TempGguf(contents);
        var e = Assert.Throws<LoaderException>(() => GgufCheckpoint.Open(file.Path).Dispose());
        Assert.Equal(file.Path, e.FilePath);
        return e;
    }

    [Fact]
    public void TheValidFileReadsBack()
    {
        using var file = new TempGguf(Valid().Build());
        using var gguf = GgufCheckpoint.OpenFile(file.Path);
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(["<unk>", "<s>", "</s>"], gguf.GetArray<string>("tokenizer.ggml.tokens")!);
        Assert.Null(gguf.GetString("absent"));
        Assert.Throws<LoaderException>(() => gguf.GetInteger("general.architecture"));
        var a = gguf.Find("a")!;
        Assert.Equal(new long[] { 2, 3 }, a.Shape); // GGUF [3, 2] → row-major [2, 3]
        Assert.Equal([1f, 2, 3, 4, 5, 6], a.ToFloat32());
        Assert.Equal([1f, -2, 0.5f, 0], gguf.Find("b")!.ToFloat32());
        Assert.Equal(Enumerable.Range(-16, 32).Select(v => (float)v), gguf.Find("q")!.ToFloat32());
        gguf.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.Bytes.Length);
    }

    [Fact]
    public void AlignmentKeyMovesTheDataSection()
    {
        var writer = Valid().U32("general.alignment", 256);
        writer.Alignment = 256;
        using var file = new TempGguf(writer.Build());
        using var gguf = GgufCheckpoint.OpenFile(file.Path);
        Assert.Equal(256u, gguf.Alignment);
        Assert.Equal(0, gguf.DataStart % 256);
        Assert.Equal([1f, -2, 0.5f, 0], gguf.Find("b")!.ToFloat32());
    }

    [Fact]
    public void BadMagic()
    {
        var writer = Valid();
        writer.Magic = "GGML"u8.ToArray();
        Assert.Contains("bad magic", Refused(writer).Message);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(4u)]
    public void UnsupportedVersion(uint version)
    {
        var writer = Valid();
        writer.Version = version;
        Assert.Contains($"unsupported GGUF version {version}", Refused(writer).Message);
    }

    [Fact]
    public void UnknownTensorTypeIsNamed()
    {
        var e = Refused(new GgufTestWriter().Tensor("blk.0.attn_q.weight", [32], 3, new byte[20]));
        Assert.Equal("blk.0.attn_q.weight", e.TensorName);
        Assert.Contains("unsupported ggml type 3 (Q4_1)", e.Message);
    }

    [Fact]
    public void TensorDataPastTheEndOfTheFile()
    {
        var e = Refused(new GgufTestWriter().Tensor("big", [64], F32, new byte[16]));
        Assert.Equal("big", e.TensorName);
        Assert.Contains("past the end of the file", e.Message);
    }

    [Fact]
    public void ArrayOfTwoToThe62StringsIsRefusedBeforeAllocating()
    {
        var writer = new GgufTestWriter().Kv("tokenizer.ggml.tokens", GgufValueType.Array, w =>
        {
            w.Write((uint)GgufValueType.String);
            w.Write(1UL << 62);
            w.Write(new byte[64]);
        });
        using var file = new TempGguf(writer.Build());
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<LoaderException>(() => GgufCheckpoint.Open(file.Path));
        clock.Stop();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Contains("array of 4611686018427387904 String values cannot fit", e.Message);
        Assert.True(clock.ElapsedMilliseconds < 2000, $"took {clock.ElapsedMilliseconds} ms");
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void StringLongerThanTheFile()
    {
        var writer = new GgufTestWriter().Kv("general.name", GgufValueType.String, w => w.Write(1UL << 40));
        Assert.Contains("string length 1099511627776 exceeds", Refused(writer).Message);
    }

    [Fact]
    public void EveryTruncationIsALoaderException()
    {
        byte[] whole = Valid().Build();
        for (int length = 0; length < whole.Length; length++)
        {
            var e = Refused(whole[..length]);
            Assert.Matches("truncated|past the end|impossible|cannot fit|exceeds", e.Message);
        }
    }

    [Fact]
    public void AbsurdTensorAndKvCounts()
    {
        var writer = Valid();
        writer.TensorCount = ulong.MaxValue;
        Assert.Contains("tensor count 18446744073709551615 is impossible", Refused(writer).Message);
        writer = Valid();
        writer.KvCount = 1UL << 60;
        Assert.Contains("key/value count 1152921504606846976", Refused(writer).Message);
    }

    [Fact]
    public void MoreThanFourDims()
    {
        var e = Refused(new GgufTestWriter().Tensor("t", [1, 1, 1, 1, 1], F32, new byte[4]));
        Assert.Equal("t", e.TensorName);
        Assert.Contains("n_dims 5, expected at most 4", e.Message);
    }

    [Fact]
    public void MisalignedOffset()
    {
        var e = Refused(new GgufTestWriter().Tensor("t", [4], F32, new byte[16], offset: 4));
        Assert.Contains("not a multiple of the alignment 32", e.Message);
    }

    [Fact]
    public void OverlappingTensors()
    {
        var e = Refused(new GgufTestWriter()
            .Tensor("first", [16], F32, new byte[64], offset: 0)
            .Tensor("second", [8], F32, new byte[32], offset: 32));
        Assert.Equal("second", e.TensorName);
        Assert.Contains("overlaps tensor 'first'", e.Message);
    }

    [Fact]
    public void QuantizedRowNotAWholeNumberOfBlocks()
    {
        var e = Refused(new GgufTestWriter().Tensor("t", [48, 2], Q8_0, new byte[34 * 3]));
        Assert.Contains("row length 48 is not a multiple of the 32-value Q8_0 block", e.Message);
    }

    [Fact]
    public void DuplicateKeysAndTensors()
    {
        Assert.Contains("duplicate key", Refused(Valid().String("general.architecture", "again")).Message);
        Assert.Contains("appears twice", Refused(Valid().Tensor("a", [1], F32, new byte[4])).Message);
    }

    [Fact]
    public void BadAlignmentValue()
    {
        Assert.Contains("power of two", Refused(Valid().U32("general.alignment", 24)).Message);
        Assert.Contains("must be a u32", Refused(Valid().String("general.alignment", "32")).Message);
    }

    [Fact]
    public void InvalidUtf8AndUnknownValueType()
    {
        var badUtf8 = new GgufTestWriter().Kv("k", GgufValueType.String, w => { w.Write(2UL); w.Write(new byte[] { 0xC3, 0x28 }); });
        Assert.Contains("not valid UTF-8", Refused(badUtf8).Message);
        Assert.Contains("unknown value type 13", Refused(new GgufTestWriter().Kv("k", (GgufValueType)13, w => w.Write(0))).Message);
    }

    [Fact]
    public void CheckpointFileDispatchesOnTheMagic()
    {
        using var file = new TempGguf(Valid().Build());
        using var checkpoint = CheckpointFile.Open(file.Path);
        Assert.Equal("gguf", checkpoint.Format);
        Assert.IsType<GgufCheckpoint>(checkpoint);
    }
}
