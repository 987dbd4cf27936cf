namespace SonicVerse.Loader.PyTorch;

/// <summary>A tensor of a torch.save checkpoint: a strided view (offset and strides in elements) of one storage blob.
/// Row-major contiguous views are served straight from the blob; others are gathered once, on first access.</summary>
internal sealed class PyTorchTensor : TensorEntry
{
    readonly ZipBlob _blob;
    readonly long _byteOffset;
    readonly Lazy<byte[]>? _gathered;

    PyTorchTensor(string name, DType dtype, long[] shape, string file, ZipBlob blob, long byteOffset, Lazy<byte[]>? gathered)
        : base(name, dtype, shape, file)
    {
        _blob = blob;
        _byteOffset = byteOffset;
        _gathered = gathered;
    }

    public override ReadOnlySpan<byte> Bytes => _gathered is not null ? _gathered.Value : _blob.Slice(_byteOffset, ByteLength);

    /// <summary>Checks the view against its storage (extent inside the storage, size within one span) and builds it.</summary>
    public static PyTorchTensor Create(string name, TensorRef view, ZipBlob blob, string file)
    {
        var storage = view.Storage;
        long count = DTypes.ElementCount(view.Shape);
        long bytes = storage.DType.ByteSize(count);
        if (count < 0 || bytes < 0 || bytes > int.MaxValue)
            throw new LoaderException(file, name, $"shape [{string.Join(", ", view.Shape)}] of {storage.DType} is {bytes} bytes; at most 2 GiB per tensor is supported");
        if (count > storage.ElementCount)
            throw new LoaderException(file, name,
                $"view of {count} elements is larger than its storage '{storage.Key}' ({storage.ElementCount} elements): " +
                "broadcast (stride 0) views are not supported; save a contiguous copy");
        long last = LastElement(view);
        if (count > 0 && (last < 0 || last >= storage.ElementCount))
            throw new LoaderException(file, name,
                $"view (offset {view.StorageOffset}, shape [{string.Join(", ", view.Shape)}], stride [{string.Join(", ", view.Strides)}]) " +
                $"reaches element {last} of storage '{storage.Key}', which has {storage.ElementCount}");

        int elementSize = storage.DType.BlockBytes();
        long byteOffset = view.StorageOffset * elementSize;
        var gathered = count == 0 || IsContiguous(view.Shape, view.Strides)
            ? null
            : new Lazy<byte[]>(() => Gather(blob, view, elementSize, count));
        return new PyTorchTensor(name, storage.DType, view.Shape, file, blob, byteOffset, gathered);
    }

    /// <summary>The storage index of the view's last element (strides are non-negative), or -1 on overflow.</summary>
    static long LastElement(TensorRef view)
    {
        try
        {
            long last = view.StorageOffset;
            for (int d = 0; d < view.Shape.Length; d++)
                if (view.Shape[d] > 0) last = checked(last + (view.Shape[d] - 1) * view.Strides[d]);
            return last;
        }
        catch (OverflowException) { return -1; }
    }

    /// <summary>Row-major contiguous; a dimension of size 1 may carry any stride (torch leaves it arbitrary).</summary>
    static bool IsContiguous(long[] shape, long[] strides)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>Copies the view's elements in row-major order, walking the index like an odometer.</summary>
    static byte[] Gather(ZipBlob blob, TensorRef view, int elementSize, long count)
    {
        long first = view.StorageOffset, last = LastElement(view);
        var source = blob.Slice(first * elementSize, (last - first + 1) * elementSize);
        var result = new byte[count * elementSize];
        var shape = view.Shape;
        var strides = view.Strides;
        var index = new long[shape.Length];
        long at = 0; // element index relative to `first`
        for (long i = 0; i < count; i++)
        {
            source.Slice((int)(at * elementSize), elementSize).CopyTo(result.AsSpan((int)(i * elementSize), elementSize));
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                at += strides[d];
                if (++index[d] < shape[d]) break;
                at -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
        return result;
    }
}
