using System.IO.Compression;
using SonicVerse.Loader;

namespace SonicVerse.Tests.PyTorch;

/// <summary>Hand-written torch.save archives: shared storages, storage offsets, strided views, parameters, zip64 and
/// deflated members, against values computed here from the storage formula.</summary>
public class HandBuiltCheckpointTests
{
    public enum Container { Stored, Zip64, Deflated }

    /// <summary>Storage "0": 12 fp32 values, element k = 0.5k − 1.</summary>
    static float StorageValue(long k) => 0.5f * k - 1;

    static byte[] FloatStorage(int count) =>
        Enumerable.Range(0, count).SelectMany(k => BitConverter.GetBytes(StorageValue(k))).ToArray();

    /// <summary>Four views of one 12-element storage, inside an OrderedDict that carries _metadata through BUILD.</summary>
    static byte[] SharedStoragePickle() => new PickleWriter().Proto()
        .Global("collections", "OrderedDict").EmptyTuple().Reduce()
        .Mark()
        .Str("m").Tensor("FloatStorage", "0", 12, 0, [3, 4], [4, 1])
        .Str("mt").Tensor("FloatStorage", "0", 12, 0, [4, 3], [1, 4])
        .Str("tail").Tensor("FloatStorage", "0", 12, 8, [4], [1])
        .Str("cols").Tensor("FloatStorage", "0", 12, 1, [3, 2], [4, 2])
        .Str("param").Global("torch._utils", "_rebuild_parameter").Mark()
            .Tensor("FloatStorage", "0", 12, 4, [1, 4], [99, 1]).False()
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce()
        .SetItems()
        .EmptyDict().Str("_metadata").EmptyDict().Op('s').Op('b')
        .Stop().ToArray();

    static byte[] Archive(Container container, byte[] pickle, Dictionary<string, byte[]> storages) => container switch
    {
        Container.Stored => TorchZip.Checkpoint("archive", pickle, storages),
        Container.Zip64 => TorchZip.Checkpoint("archive", pickle, storages, zip64: true),
        _ => Deflated("archive", pickle, storages),
    };

    static byte[] Deflated(string root, byte[] pickle, Dictionary<string, byte[]> storages)
    {
        var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
                s.Write(data);
            }
            Add($"{root}/data.pkl", pickle);
            foreach (var (key, data) in storages) Add($"{root}/data/{key}", data);
        }
        return stream.ToArray();
    }

    [Theory]
    [InlineData(Container.Stored)]
    [InlineData(Container.Zip64)]
    [InlineData(Container.Deflated)]
    public void ViewsOfASharedStorageReadTheRightElements(Container container)
    {
        using var file = new TempFile(Archive(container, SharedStoragePickle(), new() { ["0"] = FloatStorage(12) }));
        using var checkpoint = PyTorchCheckpoint.Open(file.Path);

        Assert.Equal(["m", "mt", "tail", "cols", "param"], checkpoint.Tensors.Select(t => t.Name));
        AssertView(checkpoint, "m", [3, 4], (i, j) => 4 * i + j);
        AssertView(checkpoint, "mt", [4, 3], (i, j) => i + 4 * j);
        AssertView(checkpoint, "tail", [4], (i, _) => 8 + i);
        AssertView(checkpoint, "cols", [3, 2], (i, j) => 1 + 4 * i + 2 * j);
        AssertView(checkpoint, "param", [1, 4], (_, j) => 4 + j);
    }

    static void AssertView(ICheckpoint checkpoint, string name, long[] shape, Func<long, long, long> storageIndex)
    {
        var tensor = checkpoint.Find(name)!;
        Assert.Equal(DType.F32, tensor.DType);
        Assert.Equal(shape, tensor.Shape);
        long rows = shape[0], cols = shape.Length > 1 ? shape[1] : 1;
        var expected = new List<float>();
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < cols; j++)
                expected.Add(StorageValue(shape.Length > 1 ? storageIndex(i, j) : storageIndex(i, 0)));
        Assert.Equal(expected, tensor.ToFloat32());
    }

    [Fact]
    public void StateDictNestedUnderStateDictKeyIsFound()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("epoch").Int(3)
            .Str("state_dict").EmptyDict().Mark().Str("w").Tensor("BFloat16Storage", "k", 2, 0, [2], [1]).SetItems()
            .SetItems().Stop().ToArray();
        using var file = new TempFile(TorchZip.Checkpoint("ckpt", pickle, new Dictionary<string, byte[]> { ["k"] = [0x80, 0x3f, 0x00, 0xc0] }));
        using var checkpoint = PyTorchCheckpoint.Open(file.Path);

        var w = Assert.Single(checkpoint.Tensors);
        Assert.Equal(DType.BF16, w.DType);
        Assert.Equal([1f, -2f], w.ToFloat32());
    }

    [Fact]
    public void ViewPastTheEndOfItsStorageIsRefused()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", 12, 10, [4], [1]).SetItems().Stop().ToArray();
        var e = OpenFails(pickle, new() { ["0"] = FloatStorage(12) });
        Assert.Equal("w", e.TensorName);
        Assert.Contains("reaches element 13", e.Message);
    }

    [Fact]
    public void StorageBlobOfTheWrongSizeIsRefused()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", 12, 0, [12], [1]).SetItems().Stop().ToArray();
        var e = OpenFails(pickle, new() { ["0"] = FloatStorage(10) });
        Assert.Contains("storage '0'", e.Message);
        Assert.Contains("40 bytes, expected", e.Message);
    }

    [Fact]
    public void MissingStorageBlobIsNamed()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "7", 12, 0, [12], [1]).SetItems().Stop().ToArray();
        var e = OpenFails(pickle, new() { ["0"] = FloatStorage(12) });
        Assert.Contains("storage '7' is missing", e.Message);
        Assert.Contains("archive/data/7", e.Message);
    }

    [Fact]
    public void NonTensorValueIsRefusedByName()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Mark().Str("lr").Int(3).SetItems().Stop().ToArray();
        var e = OpenFails(pickle, new());
        Assert.Equal("lr", e.TensorName);
    }

    [Fact]
    public void ZipWithoutDataPklIsRefused()
    {
        using var file = new TempFile(TorchZip.Build([("archive/version", "3\n"u8.ToArray()), ("archive/data/0", FloatStorage(2))]));
        var e = Assert.Throws<LoaderException>(() => PyTorchCheckpoint.Open(file.Path));
        Assert.Contains("no data.pkl", e.Message);
    }

    [Fact]
    public void TruncatedPickleIsRefused()
    {
        byte[] whole = SharedStoragePickle();
        var e = OpenFails(whole[..(whole.Length / 2)], new() { ["0"] = FloatStorage(12) });
        Assert.Contains("truncated pickle", e.Message);
    }

    [Fact]
    public void LegacyNonZipFileIsRefusedWithAResaveHint()
    {
        using var file = new TempFile(new PickleWriter().Proto().EmptyDict().Stop().ToArray());
        var e = Assert.Throws<LoaderException>(() => CheckpointFile.Open(file.Path));
        Assert.Contains("legacy", e.Message);
    }

    internal static LoaderException OpenFails(byte[] pickle, Dictionary<string, byte[]> storages)
    {
        using var file = new TempFile(TorchZip.Checkpoint("archive", pickle, storages));
        return Assert.Throws<LoaderException>(() => { using var _ = PyTorchCheckpoint.Open(file.Path); });
    }
}
