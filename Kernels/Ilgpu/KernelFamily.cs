using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Base of the per-accelerator kernel families: each family loads its kernels on first use and keeps them
/// (ILGPU compiles on load), and every launcher takes the stream explicitly.</summary>
public abstract class KernelFamily(Accelerator accelerator)
{
    protected Accelerator Accelerator { get; } = accelerator;

    /// <summary>Threads per group of the group-per-row kernels: a power of two, at most
    /// <see cref="GroupReduce.MaxGroup"/> and what the accelerator allows.</summary>
    protected int RowGroupSize { get; } = LargestPowerOfTwo(Math.Min(GroupReduce.MaxGroup, accelerator.MaxNumThreadsPerGroup));

    /// <summary>One group per row.</summary>
    protected KernelConfig RowGroups(int rows) => new(rows, RowGroupSize);

    static int LargestPowerOfTwo(int n)
    {
        int p = 1;
        while (p * 2 <= n) p *= 2;
        return p;
    }
}

/// <summary>Group-wide reductions through shared memory (device code). The kernel allocates
/// <c>SharedMemory.Allocate&lt;float&gt;(GroupReduce.Slots)</c> and passes it in; every thread of the group must call.</summary>
public static class GroupReduce
{
    public const int MaxGroup = 256;
    public const int Slots = MaxGroup + 1;

    public static float Sum(float value, ArrayView<float> shared)
    {
        shared[Group.IdxX] = value;
        Group.Barrier();
        if (Group.IdxX == 0)
        {
            float sum = 0;
            for (int i = 0; i < Group.DimX; i++) sum += shared[i];
            shared[MaxGroup] = sum;
        }
        return Broadcast(shared);
    }

    public static float Max(float value, ArrayView<float> shared)
    {
        shared[Group.IdxX] = value;
        Group.Barrier();
        if (Group.IdxX == 0)
        {
            float max = shared[0];
            for (int i = 1; i < Group.DimX; i++) max = Math.Max(max, shared[i]);
            shared[MaxGroup] = max;
        }
        return Broadcast(shared);
    }

    static float Broadcast(ArrayView<float> shared)
    {
        Group.Barrier();
        float result = shared[MaxGroup];
        Group.Barrier();
        return result;
    }
}
