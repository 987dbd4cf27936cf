using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Tests.Robustness;

public class MemoryBudgetTests
{
    /// <summary>Only the memory figures matter to the budget; every device operation is out of scope here.</summary>
    sealed class FakeBackend(long memory, long allocated) : IBackend
    {
        public DeviceKind Kind => DeviceKind.Cpu;
        public string Description => "fake: 16 GB";
        public long MemoryBytes => memory;
        public long AllocatedBytes => allocated;
        public IOps Ops => throw new NotSupportedException();
        public DeviceTensor Allocate(DType dtype, params int[] shape) => throw new NotSupportedException();
        public DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape) => throw new NotSupportedException();
        public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape) => throw new NotSupportedException();
        public DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape) => throw new NotSupportedException();
        public void Download(DeviceTensor tensor, Span<float> destination) => throw new NotSupportedException();
        public void Download(DeviceTensor tensor, long offset, Span<float> destination) => throw new NotSupportedException();
        public void Write(ReadOnlySpan<float> values, DeviceTensor destination, long offset = 0) => throw new NotSupportedException();
        public void Write(ReadOnlySpan<int> values, DeviceTensor destination, long offset = 0) => throw new NotSupportedException();
        public void Synchronize() { }
        public void Dispose() { }
    }

    [Fact]
    public void TooLargeForTheFreeMemoryNamesBothSizes()
    {
        var backend = new FakeBackend(16_000_000_000, 2_500_000_000);
        var e = Assert.Throws<InvalidOperationException>(() => MemoryBudget.EnsureFits(backend, 14_480_000_000, "Mistral-7B (f16)"));
        Assert.StartsWith("Mistral-7B (f16) needs 14.5 GB, the device has 13.5 GB free", e.Message);
    }

    [Fact]
    public void ExactlyTheFreeMemoryFits()
    {
        var backend = new FakeBackend(16_000_000_000, 2_500_000_000);
        MemoryBudget.EnsureFits(backend, 13_500_000_000, "model");
        Assert.Throws<InvalidOperationException>(() => MemoryBudget.EnsureFits(backend, 13_500_000_001, "model"));
    }
}
