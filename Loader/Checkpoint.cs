namespace SonicVerse.Loader;

/// <summary>One tensor of a loaded checkpoint: a read-only view of (dtype, shape, bytes).
/// Shapes are row-major, outermost first (HF [out, in]); GGUF shapes are reversed into this order on read.</summary>
public abstract class TensorEntry
{
    protected TensorEntry(string name, DType dtype, long[] shape, string sourceFile)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        SourceFile = sourceFile;
        ElementCount = DTypes.ElementCount(shape);
        ByteLength = dtype.ByteSize(ElementCount);
    }

    public string Name { get; }
    public DType DType { get; }
    public IReadOnlyList<long> Shape { get; }
    public long ElementCount { get; }
    public long ByteLength { get; }
    /// <summary>The file the bytes live in (a shard, or the checkpoint file itself).</summary>
    public string SourceFile { get; }

    /// <summary>The tensor's bytes, little endian, contiguous row-major; valid while the checkpoint is open.</summary>
    public abstract ReadOnlySpan<byte> Bytes { get; }

    public int[] ShapeAsInt() => Shape.Select(d => checked((int)d)).ToArray();

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The values as fp32 (bf16/f16 widened exactly, integers converted, GGUF blocks dequantized).</summary>
    public float[] ToFloat32()
    {
        var result = new float[checked((int)ElementCount)];
        TensorConvert.ToFloat32(DType, Bytes, result);
        return result;
    }
}

/// <summary>A loaded weight file (or a sharded set): a read-only name → tensor view plus the file's metadata.</summary>
public interface ICheckpoint : IDisposable
{
    string Path { get; }
    /// <summary>"safetensors", "pytorch" or "gguf".</summary>
    string Format { get; }
    IReadOnlyList<TensorEntry> Tensors { get; }
    /// <summary>safetensors <c>__metadata__</c> strings, GGUF key/values (strings, numbers, arrays), PyTorch: empty.</summary>
    IReadOnlyDictionary<string, object> Metadata { get; }
    TensorEntry? Find(string name);
}
