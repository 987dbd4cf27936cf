using System.Diagnostics;
using SonicVerse.Loader;

namespace SonicVerse.Tests.Safetensors;

/// <summary>Hostile and broken files: each must be a <see cref="LoaderException"/> naming the file (and tensor) and the problem.</summary>
public sealed class SafetensorsBadInputTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    static readonly byte[] Eight = [1, 2, 3, 4, 5, 6, 7, 8];

    LoaderException Refused(byte[] file, string expected, string? tensor = null)
    {
        string path = _dir.Write("bad.safetensors", file);
        var e = Assert.Throws<LoaderException>(() => SafetensorsCheckpoint.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains(expected, e.Message);
        return e;
    }

    static byte[] Header(string json, int dataBytes = 8) => SafetensorsTestWriter.Raw(json, new byte[dataBytes]);

    [Fact]
    public void EmptyFile() => Refused([], "the file is empty");

    [Fact]
    public void TruncatedLengthPrefix() => Refused([2, 0, 0, 0, 0], "truncated: the file is 5 bytes, too short for an 8-byte header length");

    [Fact]
    public void HeaderLengthLargerThanTheFile() =>
        Refused(SafetensorsTestWriter.Raw("{}", [], declaredLength: 1000), "header length 1000 bytes is larger than the file: only 2 bytes follow");

    [Fact]
    public void HundredGigabyteHeaderLengthIsRefusedWithoutAllocating()
    {
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        Refused(SafetensorsTestWriter.Raw("{}", [], declaredLength: 100UL << 30), "header length 107374182400 bytes exceeds the 100000000-byte limit");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore < 10_000_000, "allocated a buffer for the claimed header");
    }

    [Theory]
    [InlineData("{\"a\": {\"dtype\": \"F32\", ", "header is not valid JSON")]
    [InlineData("", "header is not valid JSON")]
    [InlineData("[1, 2]", "header must be a JSON object, found Array")]
    [InlineData("{\"__metadata__\": {\"n\": 3}}", "value of 'n' must be a string, found Number 3")]
    [InlineData("{\"__metadata__\": [\"x\"]}", "'__metadata__' must be an object of strings")]
    public void BadHeaderJson(string json, string expected) => Refused(Header(json), expected);

    [Theory]
    [InlineData("\"x\"", "header entry must be an object")]
    [InlineData("{\"shape\": [2], \"data_offsets\": [0, 8]}", "header entry has no 'dtype'")]
    [InlineData("{\"dtype\": \"F32\", \"data_offsets\": [0, 8]}", "header entry has no 'shape'")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [2]}", "header entry has no 'data_offsets'")]
    [InlineData("{\"dtype\": 5, \"shape\": [2], \"data_offsets\": [0, 8]}", "'dtype' must be a JSON String, found Number 5")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": \"2\", \"data_offsets\": [0, 8]}", "'shape' must be a JSON Array, found String")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}", "shape[0] must be a non-negative 64-bit integer, found -2")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}", "shape[0] must be a non-negative 64-bit integer, found 1.5")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}", "data_offsets must be [begin, end], found 1 numbers")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}", "data_offsets begin 8 is after end 0")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}", "data_offsets end 16 is past the end of the data section (8 bytes)")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}", "shape [3] × F32 needs 12 bytes, data_offsets [0, 8] hold 8")]
    [InlineData("{\"dtype\": \"F8_E4M3\", \"shape\": [8], \"data_offsets\": [0, 8]}", "unknown dtype 'F8_E4M3'")]
    [InlineData("{\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 8]}", "overflows a 64-bit byte count")]
    [InlineData("{\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 8]}", "overflows a 64-bit byte count")]
    public void BadTensorEntry(string entry, string expected) => Refused(Header($"{{\"w\": {entry}}}"), expected, "w");

    [Fact]
    public void OverlappingTensors()
    {
        byte[] file = new SafetensorsTestWriter()
            .Add("first", "F32", [2], Eight, offsets: [0, 8])
            .Add("second", "I16", [2], [0, 0, 0, 0], offsets: [6, 10])
            .Add("third", "U8", [2], [0, 0], offsets: [10, 12])
            .ToBytes();
        Refused(file, "data_offsets [6, 10] overlap tensor 'first' at [0, 8]", "second");
    }

    [Fact]
    public void OverlapIsFoundWhateverTheHeaderOrder()
    {
        byte[] file = new SafetensorsTestWriter()
            .Add("late", "F32", [2], Eight, offsets: [8, 16])
            .Add("early", "F32", [3], new byte[12], offsets: [0, 12])
            .ToBytes();
        Refused(file, "overlap tensor 'early' at [0, 12]", "late");
    }

    [Fact]
    public void DuplicateTensorName() =>
        Refused(Header("{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, " +
                       "\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}"), "listed twice", "w");

    [Fact]
    public void MissingFileIsALoaderException()
    {
        string path = _dir.File("absent.safetensors");
        var e = Assert.Throws<LoaderException>(() => SafetensorsCheckpoint.Open(path));
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void TensorOverTwoGigabytesRefusesASpanButStillOpens()
    {
        // A sparse file: the 2^31-byte tensor's data costs no disk or memory.
        const long Big = 1L << 31;
        byte[] head = SafetensorsTestWriter.Raw(
            $"{{\"big\": {{\"dtype\": \"U8\", \"shape\": [{Big}], \"data_offsets\": [0, {Big}]}}}}", []);
        string path = _dir.File("big.safetensors");
        using (var f = new FileStream(path, FileMode.Create))
        {
            f.Write(head);
            f.SetLength(head.Length + Big);
        }

        using ICheckpoint ckpt = SafetensorsCheckpoint.Open(path);
        TensorEntry big = ckpt.Find("big")!;
        Assert.Equal(Big, big.ByteLength);
        var e = Assert.Throws<LoaderException>(() => big.Bytes.Length);
        Assert.Equal("big", e.TensorName);
        Assert.Contains("2 GB", e.Message);
    }

    [Fact]
    public void GoodFileReadsBackEveryDTypeWithMetadataAndHeaderOrder()
    {
        string[] dtypes = ["F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL"];
        int[] sizes = [4, 2, 2, 8, 1, 1, 2, 4, 8, 1];
        var writer = new SafetensorsTestWriter().Metadata("format", "pt").Metadata("note", "ünïcode");
        for (int i = 0; i < dtypes.Length; i++)
            writer.Add($"t{dtypes.Length - i}", dtypes[i], [3], Enumerable.Range(0, 3 * sizes[i]).Select(b => (byte)(b + i)).ToArray());
        writer.Add("empty", "F32", [0, 5], []);
        string path = writer.WriteTo(_dir.File("good.safetensors"));

        using ICheckpoint ckpt = SafetensorsCheckpoint.Open(path);

        Assert.Equal(Enumerable.Range(0, dtypes.Length).Select(i => $"t{dtypes.Length - i}").Append("empty"), ckpt.Tensors.Select(t => t.Name));
        Assert.Equal(dtypes, ckpt.Tensors.Take(dtypes.Length).Select(t => t.DType.SafetensorsName()));
        for (int i = 0; i < dtypes.Length; i++)
            Assert.Equal(Enumerable.Range(0, 3 * sizes[i]).Select(b => (byte)(b + i)), ckpt.Tensors[i].Bytes.ToArray());
        Assert.Equal(0, ckpt.Find("empty")!.Bytes.Length);
        Assert.Equal("ünïcode", ckpt.Metadata["note"]);
        Assert.Null(ckpt.Find("absent"));
    }

    [Fact]
    public void BytesAfterDisposeThrowInsteadOfReadingUnmappedMemory()
    {
        string path = new SafetensorsTestWriter().Add("w", "F32", [2], Eight).WriteTo(_dir.File("w.safetensors"));
        ICheckpoint ckpt = SafetensorsCheckpoint.Open(path);
        TensorEntry w = ckpt.Find("w")!;
        ckpt.Dispose();
        Assert.Throws<ObjectDisposedException>(() => w.Bytes.Length);
    }

    [Fact]
    public void HeaderThatIsNotUtf8()
    {
        byte[] header = [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        Refused([(byte)header.Length, 0, 0, 0, 0, 0, 0, 0, .. header], "header is not valid UTF-8");
    }
}
