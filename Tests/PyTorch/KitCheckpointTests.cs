using SonicVerse.Loader;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.PyTorch;

/// <summary>The kit's real torch.save files against the same tensors in the kit's safetensors files, bit for bit.</summary>
public class KitCheckpointTests
{
    [Theory]
    [InlineData("mert-tiny/model/pytorch_model.bin", "mert-tiny/model/model.safetensors", 211)]
    [InlineData("mert-tiny/model-prelayernorm/pytorch_model.bin", "mert-tiny/model-prelayernorm/model.safetensors", -1)]
    [InlineData("mistral-tiny/lora/adapter_model.bin", "mistral-tiny/lora/adapter_model.safetensors", -1)]
    public void TensorsMatchSafetensorsBitExactly(string bin, string safetensors, int expectedCount)
    {
        var expected = RawSafetensors.Read(ReferenceKit.File(safetensors.Split('/')));
        using var checkpoint = PyTorchCheckpoint.Open(ReferenceKit.File(bin.Split('/')));

        Assert.Equal("pytorch", checkpoint.Format);
        if (expectedCount >= 0) Assert.Equal(expectedCount, checkpoint.Tensors.Count);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), checkpoint.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var tensor in checkpoint.Tensors)
        {
            var reference = expected[tensor.Name];
            Assert.Equal(reference.DType, tensor.DType.SafetensorsName());
            Assert.Equal(reference.Shape, tensor.Shape);
            Assert.True(reference.Data.AsSpan().SequenceEqual(tensor.Bytes), $"bytes of {tensor.Name} differ");
            Assert.Same(tensor, checkpoint.Find(tensor.Name));
        }
    }

    [Fact]
    public void ProjectorTrainablesMatchTheKitDescription()
    {
        using var info = ReferenceKit.Json("projector-tiny", "projector_ref.json");
        var expected = info.RootElement.GetProperty("non_lora_trainables.bin");
        string prefix = expected.GetProperty("prefix").GetString()!;

        using var checkpoint = CheckpointFile.Open(ReferenceKit.File("projector-tiny", "non_lora_trainables.bin"));

        Assert.Equal("pytorch", checkpoint.Format);
        Assert.Equal(expected.GetProperty("tensors").GetInt32(), checkpoint.Tensors.Count);
        Assert.Equal(expected.GetProperty("values").GetInt64(), checkpoint.Tensors.Sum(t => t.ElementCount));
        Assert.All(checkpoint.Tensors, t => Assert.Equal(DType.BF16, t.DType));
        Assert.All(checkpoint.Tensors, t => Assert.StartsWith(prefix, t.Name));
        var firstKeys = expected.GetProperty("keys_first").EnumerateArray().Select(k => k.GetString()!).ToList();
        Assert.Equal(firstKeys, checkpoint.Tensors.Take(firstKeys.Count).Select(t => t.Name));
        Assert.All(checkpoint.Tensors, t => Assert.Equal(t.ByteLength, t.Bytes.Length));
    }

    [Fact]
    public void CheckpointFileChoosesThisReaderForAZip()
    {
        using var checkpoint = CheckpointFile.Open(ReferenceKit.File("mistral-tiny", "lora", "adapter_model.bin"));
        Assert.IsType<PyTorchCheckpoint>(checkpoint);
    }
}
