using ILGPU;
using ILGPU.Runtime;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A tensor of an ILGPU backend: one byte buffer (length rounded up to 4 so it can be viewed as float, int
/// or ushort) holding F32/I32 values or the stored bytes of a weight dtype. A view is a sub-view of its base's buffer.</summary>
public sealed class IlgpuTensor : DeviceTensor
{
    readonly IlgpuBackend owner;
    readonly IlgpuTensor? storage;   // the base, for a view
    MemoryBuffer1D<byte, Stride1D.Dense>? buffer;
    bool viewDisposed;

    internal IlgpuTensor(IlgpuBackend owner, DType dtype, int[] shape) : base(owner, dtype, shape)
    {
        this.owner = owner;
        buffer = owner.Rent(PaddedBytes(ByteLength));
    }

    IlgpuTensor(IlgpuTensor source, long offset, int[] shape) : base(source, offset, shape)
    {
        owner = source.owner;
        storage = (IlgpuTensor)source.Base;
    }

    /// <summary>Bytes actually held on the device.</summary>
    internal static long PaddedBytes(long byteLength) => Math.Max(4, (byteLength + 3) / 4 * 4);

    public override bool IsDisposed => storage is null ? buffer is null : viewDisposed || storage.IsDisposed;

    internal ArrayView<byte> Bytes => storage is null ? (buffer ?? throw Gone()).View : ViewBytes();
    internal ArrayView<float> Floats => Bytes.Cast<float>().SubView(0, DType == DType.F32 ? ElementCount : Bytes.Length / 4);
    internal ArrayView<int> Ints => Bytes.Cast<int>().SubView(0, DType == DType.I32 ? ElementCount : Bytes.Length / 4);
    internal ArrayView<ushort> Halves => Bytes.Cast<ushort>();

    protected override DeviceTensor CreateView(long offset, int[] shape) => new IlgpuTensor(this, offset, shape);

    /// <summary>This view's bytes of the base buffer: its own length padded to 4 as far as the base allows.</summary>
    ArrayView<byte> ViewBytes()
    {
        if (viewDisposed) throw Gone();
        var all = storage!.Bytes;
        long start = DType.ByteSize(Offset);
        return all.SubView(start, Math.Min(PaddedBytes(ByteLength), all.Length - start));
    }

    public override void Dispose()
    {
        if (storage is not null)
        {
            viewDisposed = true;
            return;
        }
        if (buffer is null) return;
        var released = buffer;
        buffer = null;
        owner.Release(this, released);
    }

    ObjectDisposedException Gone() => new(ToString(), "the tensor (or its backend) has been disposed");
}
