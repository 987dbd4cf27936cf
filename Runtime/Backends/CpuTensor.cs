using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A tensor of the <c>cpu</c> backend over a managed array: float[] for F32, int[] for I32, and the stored
/// bytes for every other dtype (F16/BF16/Q8_0/Q4_0 weights stay as stored). A view is a segment of its base's array.</summary>
public sealed class CpuTensor : DeviceTensor
{
    readonly CpuBackend owner;
    readonly CpuTensor? storage;   // the base, for a view
    readonly ActivationPool? pool;  // where the floats came from and go back to (Allocate's tensors)
    float[]? floats;
    int[]? ints;
    byte[]? bytes;
    bool viewDisposed;

    internal CpuTensor(CpuBackend owner, DType dtype, int[] shape, ActivationPool? pool) : base(owner, dtype, shape)
    {
        this.owner = owner;
        switch (dtype)
        {
            case DType.F32:
                this.pool = pool;
                floats = pool?.Rent(checked((int)ElementCount)) ?? new float[ElementCount];
                break;
            case DType.I32: ints = new int[ElementCount]; break;
            default: bytes = new byte[ByteLength]; break;
        }
    }

    CpuTensor(CpuTensor source, long offset, int[] shape) : base(source, offset, shape)
    {
        owner = source.owner;
        storage = (CpuTensor)source.Base;
    }

    public override bool IsDisposed => storage is null
        ? floats is null && ints is null && bytes is null
        : viewDisposed || storage.IsDisposed;

    internal ArraySegment<float> Floats => new(Root.floats ?? throw Gone(), checked((int)Offset), checked((int)ElementCount));
    internal ArraySegment<int> Ints => new(Root.ints ?? throw Gone(), checked((int)Offset), checked((int)ElementCount));
    internal ArraySegment<byte> Bytes =>
        new(Root.bytes ?? throw Gone(), checked((int)DType.ByteSize(Offset)), checked((int)ByteLength));

    CpuTensor Root => viewDisposed ? throw Gone() : storage ?? this;

    protected override DeviceTensor CreateView(long offset, int[] shape) => new CpuTensor(this, offset, shape);

    public override void Dispose()
    {
        if (storage is not null)
        {
            viewDisposed = true;
            return;
        }
        if (IsDisposed) return;
        if (floats is not null) pool?.Return(floats);
        floats = null;
        ints = null;
        bytes = null;
        owner.Release(this);
    }

    ObjectDisposedException Gone() => new(ToString(), "the tensor (or its base, or its backend) has been disposed");
}
