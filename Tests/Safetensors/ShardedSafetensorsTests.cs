using System.Text.Json;
using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Safetensors;

/// <summary>A two-shard checkpoint built from the kit's tiny Mistral, and broken shard indexes.</summary>
public class ShardedSafetensorsTests
{
    const string Shard1 = "model-00001-of-00002.safetensors", Shard2 = "model-00002-of-00002.safetensors";

    static readonly byte[] Two = [1, 0, 2, 0];

    /// <summary>Writes the kit Mistral's tensors into two shards + index (weight_map sorted by name, as HF writes it).</summary>
    static Dictionary<string, string> SplitMistral(TempFolder dir, ICheckpoint source)
    {
        var shards = new[] { new SafetensorsTestWriter(), new SafetensorsTestWriter() };
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < source.Tensors.Count; i++)
        {
            TensorEntry t = source.Tensors[i];
            int shard = i < source.Tensors.Count / 2 ? 0 : 1;
            shards[shard].Add(t.Name, t.DType.SafetensorsName(), t.Shape.ToArray(), t.Bytes.ToArray());
            weightMap[t.Name] = shard == 0 ? Shard1 : Shard2;
        }
        shards[0].Metadata("format", "pt").WriteTo(dir.File(Shard1));
        shards[1].Metadata("format", "pt").WriteTo(dir.File(Shard2));
        long totalSize = source.Tensors.Sum(t => t.ByteLength);
        WriteIndex(dir, new { metadata = new { total_size = totalSize, note = "split" }, weight_map = weightMap });
        return new Dictionary<string, string>(weightMap);
    }

    static string WriteIndex(TempFolder dir, object index) =>
        dir.Write("model.safetensors.index.json", JsonSerializer.SerializeToUtf8Bytes(index));

    [Fact]
    public void TwoShardMistralGivesBitIdenticalTensorsInWeightMapOrder()
    {
        using var dir = new TempFolder();
        using ICheckpoint source = SafetensorsCheckpoint.Open(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));
        Dictionary<string, string> weightMap = SplitMistral(dir, source);

        using ICheckpoint sharded = ShardedSafetensors.Open(dir.File("model.safetensors.index.json"));

        Assert.Equal("safetensors", sharded.Format);
        Assert.Equal(weightMap.Keys, sharded.Tensors.Select(t => t.Name));
        Assert.Equal(source.Tensors.Sum(t => t.ByteLength), sharded.Metadata["total_size"]);
        Assert.Equal("split", sharded.Metadata["note"]);
        foreach (TensorEntry original in source.Tensors)
        {
            TensorEntry t = sharded.Find(original.Name)!;
            Assert.Equal(original.DType, t.DType);
            Assert.Equal(original.Shape, t.Shape);
            Assert.True(original.Bytes.SequenceEqual(t.Bytes), original.Name);
            Assert.Equal(dir.File(weightMap[original.Name]), t.SourceFile);
        }
    }

    [Fact]
    public void CheckpointFileOpensAFolderWithAShardIndex()
    {
        using var dir = new TempFolder();
        using ICheckpoint source = SafetensorsCheckpoint.Open(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));
        SplitMistral(dir, source);

        using ICheckpoint sharded = CheckpointFile.Open(dir.Path);

        Assert.Equal(source.Tensors.Count, sharded.Tensors.Count);
        Assert.EndsWith("model.safetensors.index.json", sharded.Path);
    }

    [Fact]
    public void MissingShardNamesTheShardAndTheIndex()
    {
        using var dir = new TempFolder();
        new SafetensorsTestWriter().Add("a", "I16", [2], Two).WriteTo(dir.File(Shard1));
        string index = WriteIndex(dir, new { weight_map = new Dictionary<string, string> { ["a"] = Shard1, ["b"] = Shard2 } });

        var e = Assert.Throws<LoaderException>(() => ShardedSafetensors.Open(index));

        Assert.Equal(index, e.FilePath);
        Assert.Contains(Shard2, e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void TensorMissingFromItsShardIsAnError()
    {
        using var dir = new TempFolder();
        new SafetensorsTestWriter().Add("a", "I16", [2], Two).WriteTo(dir.File(Shard1));
        string index = WriteIndex(dir, new { weight_map = new Dictionary<string, string> { ["a"] = Shard1, ["ghost"] = Shard1 } });

        var e = Assert.Throws<LoaderException>(() => ShardedSafetensors.Open(index));

        Assert.Equal("ghost", e.TensorName);
        Assert.Equal(dir.File(Shard1), e.FilePath);
        Assert.Contains("does not contain", e.Message);
    }

    [Fact]
    public void ShardTensorTheMapDoesNotAssignThereIsAnError()
    {
        using var dir = new TempFolder();
        new SafetensorsTestWriter().Add("a", "I16", [2], Two).Add("stray", "I16", [2], Two).WriteTo(dir.File(Shard1));
        string index = WriteIndex(dir, new { weight_map = new Dictionary<string, string> { ["a"] = Shard1 } });

        var e = Assert.Throws<LoaderException>(() => ShardedSafetensors.Open(index));

        Assert.Equal("stray", e.TensorName);
        Assert.Contains("does not list it", e.Message);
    }

    [Fact]
    public void TensorInTwoShardsIsAnError()
    {
        using var dir = new TempFolder();
        new SafetensorsTestWriter().Add("a", "I16", [2], Two).Add("b", "I16", [2], Two).WriteTo(dir.File(Shard1));
        new SafetensorsTestWriter().Add("b", "I16", [2], Two).WriteTo(dir.File(Shard2));
        string index = WriteIndex(dir, new { weight_map = new Dictionary<string, string> { ["a"] = Shard1, ["b"] = Shard2 } });

        var e = Assert.Throws<LoaderException>(() => ShardedSafetensors.Open(index));

        Assert.Equal("b", e.TensorName);
        Assert.Contains($"assigns it to '{Shard2}'", e.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": {\"a\": ", "not valid JSON")]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("{\"metadata\": {}}", "no \"weight_map\"")]
    [InlineData("{\"weight_map\": {\"a\": 3}}", "must be a shard file name")]
    [InlineData("{\"weight_map\": {\"a\": \"../outside.safetensors\"}}", "outside the index's folder")]
    public void BadIndexIsRefusedWithItsReason(string json, string expected)
    {
        using var dir = new TempFolder();
        string index = dir.Write("model.safetensors.index.json", System.Text.Encoding.UTF8.GetBytes(json));

        var e = Assert.Throws<LoaderException>(() => ShardedSafetensors.Open(index));

        Assert.Equal(index, e.FilePath);
        Assert.Contains(expected, e.Message);
    }
}
