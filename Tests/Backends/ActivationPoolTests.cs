using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Tests.Backends;

/// <summary>The cpu backend's kept activation arrays: reused by length, cleared, bounded.</summary>
public sealed class ActivationPoolTests
{
    const int Length = ActivationPool.MinimumLength;

    [Fact]
    public void ARentedArrayIsAKeptOneOfThatLengthCleared()
    {
        var pool = new ActivationPool(1L << 20);
        var first = pool.Rent(Length);
        Array.Fill(first, 3f);
        pool.Return(first);
        Assert.Equal(4L * Length, pool.KeptBytes);
        Assert.NotSame(first, pool.Rent(Length + 1));   // only the same length is reused
        var again = pool.Rent(Length);
        Assert.Same(first, again);
        Assert.All(again, v => Assert.Equal(0f, v));
        Assert.Equal(0, pool.KeptBytes);
    }

    [Fact]
    public void PastTheCapacityTheOldestKeptArraysGo()
    {
        var pool = new ActivationPool(2L * 4 * Length);
        float[] a = new float[Length], b = new float[Length], c = new float[Length];
        pool.Return(a);
        pool.Return(b);
        pool.Return(c);   // a goes
        Assert.Equal(2L * 4 * Length, pool.KeptBytes);
        Assert.Same(c, pool.Rent(Length));   // newest first
        Assert.Same(b, pool.Rent(Length));
        Assert.NotSame(a, pool.Rent(Length));
        pool.Return(new float[Length - 1]);   // small arrays are not kept
        pool.Return(new float[3 * Length]);   // nor ones larger than the capacity
        Assert.Equal(0, pool.KeptBytes);
    }

    [Fact]
    public void CpuAllocateStaysZeroFilledWhenItReusesAFreedTensor()
    {
        using var cpu = CpuBackend.Create();
        var values = Enumerable.Range(1, Length).Select(i => (float)i).ToArray();
        var first = cpu.Allocate(DType.F32, 2, Length / 2);
        cpu.Write(values, first);
        first.Dispose();
        using var second = cpu.Allocate(DType.F32, Length / 2, 2);
        var read = new float[Length];
        cpu.Download(second, read);
        Assert.All(read, v => Assert.Equal(0f, v));
        Assert.Equal(4L * Length, cpu.AllocatedBytes);   // kept arrays are not live tensors
    }
}
