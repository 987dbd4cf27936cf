using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A buffer owned by one backend, with its dtype and shape (memory-layout order, outermost first).
/// Activations are F32, token ids and positions I32; weights keep their stored dtype (F32/F16/BF16/Q8_0/Q4_0).
/// Disposing releases device memory; a backend releases any tensor still alive when it is disposed.</summary>
public abstract class DeviceTensor : IDisposable
{
    protected DeviceTensor(IBackend backend, DType dtype, int[] shape)
    {
        Backend = backend;
        DType = dtype;
        Shape = shape;
        long n = 1;
        foreach (int d in shape) n = checked(n * d);
        ElementCount = n;
        ByteLength = dtype.ByteSize(n);
        if (ByteLength < 0) throw new ArgumentException($"{dtype} cannot hold shape [{string.Join(", ", shape)}]");
    }

    public IBackend Backend { get; }
    public DType DType { get; }
    public int[] Shape { get; }
    public long ElementCount { get; }
    public long ByteLength { get; }
    public int Rank => Shape.Length;
    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public abstract bool IsDisposed { get; }
    public abstract void Dispose();

    public override string ToString() => $"{DType}{ShapeText}";
}
