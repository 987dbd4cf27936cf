using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A tensor of the <c>cpu</c> backend over a managed array: float[] for F32, int[] for I32, and the stored
/// bytes for every other dtype (F16/BF16/Q8_0/Q4_0 weights stay as stored).</summary>
public sealed class CpuTensor : DeviceTensor
{
    readonly CpuBackend owner;
    float[]? floats;
    int[]? ints;
    byte[]? bytes;

    internal CpuTensor(CpuBackend owner, DType dtype, int[] shape) : base(owner, dtype, shape)
    {
        this.owner = owner;
        switch (dtype)
        {
            case DType.F32: floats = new float[ElementCount]; break;
            case DType.I32: ints = new int[ElementCount]; break;
            default: bytes = new byte[ByteLength]; break;
        }
    }

    public override bool IsDisposed => floats is null && ints is null && bytes is null;

    internal float[] Floats => floats ?? throw Gone();
    internal int[] Ints => ints ?? throw Gone();
    internal byte[] Bytes => bytes ?? throw Gone();

    public override void Dispose()
    {
        if (IsDisposed) return;
        floats = null;
        ints = null;
        bytes = null;
        owner.Release(this);
    }

    ObjectDisposedException Gone() => new(ToString(), "the tensor (or its backend) has been disposed");
}
