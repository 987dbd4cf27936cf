using ILGPU;
using ILGPU.Runtime;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A tensor of an ILGPU backend: one byte buffer (length rounded up to 4 so it can be viewed as float, int
/// or ushort) holding F32/I32 values or the stored bytes of a weight dtype.</summary>
public sealed class IlgpuTensor : DeviceTensor
{
    readonly IlgpuBackend owner;
    MemoryBuffer1D<byte, Stride1D.Dense>? buffer;

    internal IlgpuTensor(IlgpuBackend owner, Accelerator accelerator, DType dtype, int[] shape) : base(owner, dtype, shape)
    {
        this.owner = owner;
        buffer = accelerator.Allocate1D<byte>(PaddedBytes(ByteLength));
    }

    /// <summary>Bytes actually held on the device.</summary>
    internal static long PaddedBytes(long byteLength) => Math.Max(4, (byteLength + 3) / 4 * 4);

    public override bool IsDisposed => buffer is null;

    internal ArrayView<byte> Bytes => (buffer ?? throw Gone()).View;
    internal ArrayView<float> Floats => Bytes.Cast<float>().SubView(0, DType == DType.F32 ? ElementCount : Bytes.Length / 4);
    internal ArrayView<int> Ints => Bytes.Cast<int>().SubView(0, DType == DType.I32 ? ElementCount : Bytes.Length / 4);
    internal ArrayView<ushort> Halves => Bytes.Cast<ushort>();

    public override void Dispose()
    {
        if (buffer is null) return;
        buffer.Dispose();
        buffer = null;
        owner.Release(this);
    }

    ObjectDisposedException Gone() => new(ToString(), "the tensor (or its backend) has been disposed");
}
