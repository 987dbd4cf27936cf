using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Tests.Backends;

/// <summary>Zero-copy views (<see cref="DeviceTensor.View"/>, <see cref="DeviceTensor.Rows"/>) on every backend:
/// shared storage, lifetime, allocation accounting, alias checks.</summary>
public sealed class TensorViewTests
{
    public static TheoryData<DeviceKind> Devices() => new() { DeviceKind.Cpu, DeviceKind.IlgpuCpu };

    static float[] Iota(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    [Theory]
    [MemberData(nameof(Devices))]
    public void AViewSharesStorageWithoutAllocating(DeviceKind device)
    {
        using var backend = Backend.Create(device);
        var flat = backend.Upload(Iota(24), 4, 6);
        long before = backend.AllocatedBytes;
        var heads = flat.View(4, 2, 3);
        Assert.Equal(before, backend.AllocatedBytes);
        Assert.Equal([4, 2, 3], heads.Shape);
        Assert.Same(flat, heads.Base);

        // Written through the view, read through the base (and back): one storage.
        backend.Ops.Scale(heads, 2f, heads);
        var host = new float[24];
        backend.Download(flat, host);
        Assert.Equal(Iota(24).Select(v => 2 * v), host);
        backend.Write([-1f], flat, 5);
        backend.Download(heads, host);
        Assert.Equal(-1f, host[5]);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void RowsSeeTheirPartOfTheBaseAndOpsWriteOnlyThere(DeviceKind device)
    {
        using var backend = Backend.Create(device);
        var x = backend.Upload(Iota(12), 4, 3);
        var middle = x.Rows(1, 2);
        var nested = middle.View(6).Rows(3, 3).View(1, 3);   // row 2 of x
        Assert.Equal(6, nested.Offset);
        var got = new float[6];
        backend.Download(middle, got);
        Assert.Equal(new float[] { 3, 4, 5, 6, 7, 8 }, got);

        backend.Ops.Scale(nested, 10f, nested);
        var all = new float[12];
        backend.Download(x, all);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 60, 70, 80, 9, 10, 11 }, all);

        // Ops read and write views at their offsets: y rows 0..1 = x rows 2..3 + 1.
        var y = backend.Allocate(DType.F32, 4, 3);
        var ones = backend.Upload(Enumerable.Repeat(1f, 6).ToArray(), 2, 3);
        backend.Ops.Add(x.Rows(2, 2), ones, y.Rows(0, 2));
        backend.Download(y, all);
        Assert.Equal(new float[] { 61, 71, 81, 10, 11, 12, 0, 0, 0, 0, 0, 0 }, all);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void QuantizedRowsStartOnBlocks(DeviceKind device)
    {
        using var backend = Backend.Create(device);
        // Q8_0: 34 bytes per 32 values; 2 rows of 64 values, row 1 set to f16 scale 1.0 (0x3C00) and quant 3.
        var bytes = new byte[2 * 2 * 34];
        for (int block = 2; block < 4; block++)
        {
            bytes[block * 34 + 1] = 0x3C;
            for (int j = 2; j < 34; j++) bytes[block * 34 + j] = 3;
        }
        var w = backend.Upload(bytes, DType.Q8_0, 2, 64);
        var x = backend.Upload(Enumerable.Repeat(1f, 64).ToArray(), 1, 64);
        var y = backend.Allocate(DType.F32, 1, 1);
        backend.Ops.MatMul(x, w.Rows(1, 1), null, y);
        var got = new float[1];
        backend.Download(y, got);
        Assert.Equal(64 * 3f, got[0]);
        Assert.Throws<ArgumentException>(() => w.View(128).Rows(1, 1));  // row of 1 value: not a block boundary
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void DisposingAViewLeavesTheBaseAndADisposedBaseEndsItsViews(DeviceKind device)
    {
        using var backend = Backend.Create(device);
        var a = backend.Upload(Iota(6), 2, 3);
        long held = backend.AllocatedBytes;
        var v = a.View(3, 2);
        v.Dispose();
        Assert.True(v.IsDisposed);
        Assert.False(a.IsDisposed);
        Assert.Equal(held, backend.AllocatedBytes);
        var host = new float[6];
        backend.Download(a, host);
        Assert.Equal(Iota(6), host);

        var w = a.Rows(1, 1);
        a.Dispose();
        Assert.True(w.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => backend.Download(w, new float[3]));
        Assert.Throws<ObjectDisposedException>(() => w.View(3));
        Assert.Equal(held - IlgpuPadding(device, 24), backend.AllocatedBytes);
    }

    static long IlgpuPadding(DeviceKind device, long bytes) => device == DeviceKind.Cpu ? bytes : (bytes + 3) / 4 * 4;

    [Theory]
    [MemberData(nameof(Devices))]
    public void ShapesMustHoldTheSameElementsAndAliasesAreCaught(DeviceKind device)
    {
        using var backend = Backend.Create(device);
        var a = backend.Allocate(DType.F32, 4, 6);
        Assert.Throws<ArgumentException>(() => a.View(5, 5));
        Assert.Throws<ArgumentException>(() => a.Rows(3, 2));
        var w = backend.Allocate(DType.F32, 6, 6);
        // MatMul's destination may not alias its input: a view of the same storage is the same memory.
        Assert.Throws<ArgumentException>(() => backend.Ops.MatMul(a.Rows(0, 2), w, null, a.Rows(1, 2)));
        backend.Ops.MatMul(a.Rows(0, 2), w, null, a.Rows(2, 2));   // disjoint rows are fine
    }
}
