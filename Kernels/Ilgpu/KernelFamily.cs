using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Base of the per-accelerator kernel families: each family loads its kernels on first use and keeps them
/// (ILGPU compiles on load), and every launcher takes the stream explicitly.</summary>
public abstract class KernelFamily(Accelerator accelerator)
{
    /// <summary>ILGPU's O2 adds address-space inference: loads through views become <c>ld.global</c> instead of generic
    /// loads with 64-bit address conversions. For sm_90, ptxas then gives the decode GEMV 65–68 registers instead of
    /// 162–168 (F32/F16/BF16) and 46 instead of 82 (Q8_0/Q4_0): 2.5× and 1.8× the warps resident to hide memory
    /// latency (<c>Benchmarks/kernel-report.sh</c>). Every context that compiles these kernels uses it (the CPU
    /// accelerator too, so the tests run the same IR transformations).</summary>
    public const OptimizationLevel Optimization = OptimizationLevel.O2;

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

/// <summary>Warp-wide reductions by butterfly shuffles (device code): every lane gets the result; the width is the
/// accelerator's warp size (32 on NVIDIA, 4 on the test CPU accelerator), never assumed.</summary>
public static class WarpReduce
{
    public static float Sum(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) value += Warp.ShuffleXor(value, offset);
        return value;
    }

    public static float Max(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) value = Math.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }
}

/// <summary>Group-wide reductions (device code): a shuffle reduction per warp, one partial per warp through shared
/// memory, then every thread folds the (at most 32) partials. The kernel allocates
/// <c>SharedMemory.Allocate&lt;float&gt;(GroupReduce.Slots)</c> and passes it in; every thread of the group must call,
/// and the group size must be a multiple of the warp size.</summary>
public static class GroupReduce
{
    public const int MaxGroup = 256;
    public const int Slots = MaxGroup + 1;

    public static float Sum(float value, ArrayView<float> shared)
    {
        value = WarpReduce.Sum(value);
        if (Warp.IsFirstLane) shared[Warp.WarpIdx] = value;
        Group.Barrier();
        float sum = 0;
        for (int i = 0; i < Group.DimX / Warp.WarpSize; i++) sum += shared[i];
        Group.Barrier();
        return sum;
    }

    public static float Max(float value, ArrayView<float> shared)
    {
        value = WarpReduce.Max(value);
        if (Warp.IsFirstLane) shared[Warp.WarpIdx] = value;
        Group.Barrier();
        float max = shared[0];
        for (int i = 1; i < Group.DimX / Warp.WarpSize; i++) max = Math.Max(max, shared[i]);
        Group.Barrier();
        return max;
    }
}

/// <summary>
/// Keeps a kernel's loads where its source puts them (device code). ILGPU's O2 ends with a code placement pass
/// (<c>CodePlacement</c>, aggressive mode) that moves every value, loads included, to just before its first use, so a
/// loop that loads eight values and then sums them is emitted as load, multiply-add, load, multiply-add, …; ptxas then
/// kept two or three of them in flight (the attention combine). An inline-PTX <c>mov</c> of a loaded value is an
/// assembly statement, which the pass leaves where it is, so the load it reads stays ahead of it; ptxas drops the mov
/// (and the local-memory slot ILGPU gives an asm operand). The identity off CUDA. What ptxas then schedules is its own
/// choice: the combine's eight loads go out four at a time; the decode GEMV's pinned loads came out as one copy of its
/// loop where ILGPU had also peeled a first iteration (62 → 56 registers, the fused SwiGLU 84 → 74), though ptxas still
/// spreads the four rows' loads through the arithmetic (sm_90, <c>Benchmarks/kernel-report.sh</c>).
/// </summary>
public static class LoadOrder
{
    public static uint Pin(uint value)
    {
        if (!CudaAsm.IsSupported) return value;
        Output<uint> pinned = default;
        Input<uint> input = value;
        CudaAsm.EmitRef("mov.b32 %0, %1;", ref pinned, ref input);
        return pinned.Value;
    }

    public static float Pin(float value) => Interop.IntAsFloat(Pin(Interop.FloatAsInt(value)));

    public static Quad Pin(Quad q) => new() { X = Pin(q.X), Y = Pin(q.Y), Z = Pin(q.Z), W = Pin(q.W) };
}
