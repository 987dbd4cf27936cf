using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Tests.Backends;

/// <summary>Allocation tracking, disposal, and the auto device choice.</summary>
public sealed class BackendLifetimeTests
{
    [Fact]
    public void CpuTracksAllocationsAndDisposal()
    {
        using var cpu = CpuBackend.Create();
        var a = cpu.Allocate(DType.F32, 10, 10);
        var b = cpu.Upload(new byte[34 * 4], DType.Q8_0, 2, 64);
        Assert.Equal(400 + 136, cpu.AllocatedBytes);
        a.Dispose();
        a.Dispose();
        Assert.Equal(136, cpu.AllocatedBytes);
        Assert.True(a.IsDisposed);
        var y = cpu.Allocate(DType.F32, 10, 10);
        Assert.Throws<ObjectDisposedException>(() => cpu.Ops.Scale(a, 2f, y));
        cpu.Dispose();
        Assert.Equal(0, cpu.AllocatedBytes);
        Assert.True(b.IsDisposed && y.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => cpu.Allocate(DType.F32, 1));
    }

    [Fact]
    public void IlgpuTracksAllocationsAndDisposal()
    {
        var gpu = IlgpuBackend.CreateCpuAccelerator();
        var a = gpu.Allocate(DType.F32, 3, 5);
        var b = gpu.Upload([1, 2, 3], 3);
        Assert.Equal(60 + 12, gpu.AllocatedBytes);
        a.Dispose();
        Assert.Equal(12, gpu.AllocatedBytes);
        Assert.Throws<ObjectDisposedException>(() => gpu.Download(a, new float[15]));
        gpu.Dispose();
        Assert.Equal(0, gpu.AllocatedBytes);
        Assert.True(b.IsDisposed);
    }

    /// <summary>A byte count that does not fit the shape is refused before anything is allocated.</summary>
    [Fact]
    public void AWrongSizedUploadLeavesNoTensorBehind()
    {
        foreach (var backend in new[] { CpuBackend.Create(), IlgpuBackend.CreateCpuAccelerator() })
            using (backend)
            {
                var error = Assert.Throws<ArgumentException>(() => backend.Upload(new byte[34 * 4 - 1], DType.Q8_0, 2, 64));
                Assert.Contains("needs 136 bytes, got 135", error.Message);
                Assert.Throws<ArgumentException>(() => backend.Upload([1f, 2f, 3f], 2, 2));
                Assert.Throws<ArgumentException>(() => backend.Upload([1, 2, 3], 4));
                Assert.Equal(0, backend.AllocatedBytes);
            }
    }

    [Fact]
    public void AutoPicksCpuWithoutCudaAndSaysWhy()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var cuda = IlgpuBackend.TryCreateCuda(out string why);
        if (cuda is not null)
        {
            cuda.Dispose();
            return; // a machine with a GPU: auto rightly picks CUDA, covered elsewhere
        }
        Assert.False(string.IsNullOrWhiteSpace(why));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"TryCreateCuda took {sw.Elapsed}");
        var lines = new List<string>();
        using var backend = Backend.Create(null, lines.Add);
        Assert.Equal(DeviceKind.Cpu, backend.Kind);
        var line = Assert.Single(lines);
        Assert.Contains("auto: no usable CUDA GPU", line);
        Assert.Contains(why, line);
    }

    [Fact]
    public void DescriptionsNameTheDevice()
    {
        using var cpu = CpuBackend.Create();
        Assert.StartsWith("cpu: ", cpu.Description);
        Assert.Contains("threads", cpu.Description);
        Assert.True(cpu.MemoryBytes > 0);
    }
}
