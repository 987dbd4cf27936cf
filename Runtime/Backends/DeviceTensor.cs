using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>A buffer owned by one backend, with its dtype and shape (memory-layout order, outermost first).
/// Activations are F32, token ids and positions I32; weights keep their stored dtype (F32/F16/BF16/Q8_0/Q4_0).
/// Disposing releases device memory; a backend releases any tensor still alive when it is disposed.
/// A view (<see cref="View"/>, <see cref="Rows"/>) shares its base's storage without owning it.</summary>
public abstract class DeviceTensor : IDisposable
{
    /// <summary>A tensor that owns its storage.</summary>
    protected DeviceTensor(IBackend backend, DType dtype, int[] shape)
    {
        Backend = backend;
        DType = dtype;
        Shape = shape;
        ElementCount = Count(shape);
        ByteLength = dtype.ByteSize(ElementCount);
        if (ByteLength < 0) throw new ArgumentException($"{dtype} cannot hold shape [{string.Join(", ", shape)}]");
        Base = this;
    }

    /// <summary>A view of <paramref name="source"/>'s storage from its element <paramref name="offset"/> on.</summary>
    protected DeviceTensor(DeviceTensor source, long offset, int[] shape) : this(source.Backend, source.DType, shape)
    {
        Base = source.Base;
        Offset = source.Offset + offset;
    }

    public IBackend Backend { get; }
    public DType DType { get; }
    public int[] Shape { get; }
    public long ElementCount { get; }
    public long ByteLength { get; }
    public int Rank => Shape.Length;
    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The tensor that owns the storage: this one unless it is a view.</summary>
    public DeviceTensor Base { get; }

    /// <summary>Where this tensor starts in its base's storage, in elements (0 unless a row view).</summary>
    public long Offset { get; }

    public bool IsView => !ReferenceEquals(Base, this);

    /// <summary>The same elements with another shape of the same element count (a reshape without a copy).
    /// Disposing the view leaves the storage alone; using it after its base is disposed throws
    /// <see cref="ObjectDisposedException"/>.</summary>
    public DeviceTensor View(params int[] shape)
    {
        ThrowIfGone();
        if (shape.Any(d => d < 0) || Count(shape) != ElementCount)
            throw new ArgumentException($"View: [{string.Join(", ", shape)}] does not hold the {ElementCount} elements of {this}");
        return CreateView(0, (int[])shape.Clone());
    }

    /// <summary>Rows [start, start + count) along the outermost axis, without a copy (same rules as <see cref="View"/>),
    /// e.g. one sequence's rows of a batched activation.</summary>
    public DeviceTensor Rows(int start, int count)
    {
        ThrowIfGone();
        if (Rank == 0 || start < 0 || count < 0 || start + count > Shape[0])
            throw new ArgumentException($"Rows: [{start}, {start + count}) is outside the rows of {this}");
        long rowElements = Shape[0] == 0 ? 0 : ElementCount / Shape[0];
        if (DType.ByteSize(start * rowElements) < 0)
            throw new ArgumentException($"Rows: row {start} of {this} does not start on a {DType} block");
        int[] shape = [count, .. Shape[1..]];
        return CreateView(start * rowElements, shape);
    }

    /// <summary>A backend's view: shares <see cref="Base"/>'s storage from element <see cref="Offset"/> + offset.</summary>
    protected abstract DeviceTensor CreateView(long offset, int[] shape);

    /// <summary>Whether this tensor's elements and <paramref name="other"/>'s share any storage.</summary>
    public bool Overlaps(DeviceTensor other) =>
        ReferenceEquals(Base, other.Base)
        && Offset < other.Offset + Math.Max(other.ElementCount, 1)
        && other.Offset < Offset + Math.Max(ElementCount, 1);

    /// <summary>True once this tensor or (for a view) its base has been disposed.</summary>
    public abstract bool IsDisposed { get; }
    public abstract void Dispose();

    public override string ToString() => $"{DType}{ShapeText}";

    void ThrowIfGone()
    {
        if (IsDisposed) throw new ObjectDisposedException(ToString(), "the tensor (or its base, or its backend) has been disposed");
    }

    /// <summary>Elements of a tensor of this shape.</summary>
    public static long Count(int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n = checked(n * d);
        return n;
    }
}
