using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using SonicVerse.Kernels;
using SonicVerse.Kernels.Ilgpu;
using IlgpuAttention = SonicVerse.Kernels.Ilgpu.AttentionKernels;
using CpuAttention = SonicVerse.Kernels.Cpu.AttentionKernels;

namespace SonicVerse.Tests.Backends;

/// <summary>Decode attention split over many key ranges, merged by the combine kernel: the backend's test device has
/// one multiprocessor, so its splits never pass two; a CPU device of 16 multiprocessors asks for up to 32, as an H100's
/// 132 do at a long context.</summary>
public sealed class AttentionSplitTests
{
    [Theory]
    [InlineData(1, 1, 8, 700, 0)]     // 11 splits of 64 keys: the combine's eight-split steps and a remainder
    [InlineData(4, 1, 16, 2100, 0)]   // GQA: four query heads on one KV head, 33 tiles in 17 splits of two
    [InlineData(2, 2, 8, 1500, 700)]  // a sliding window: the splits cover only the visible keys
    public void ManySplitsMatchTheCpuKernel(int queryHeads, int kvHeads, int d, int keys, int window)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 2,
            numMultiprocessors: 16)).EnableAlgorithms().Optimize(KernelFamily.Optimization));
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new IlgpuAttention(accelerator);
        var shape = new AttentionShape(1, queryHeads, kvHeads, d, keys, keys - 1, window, 1f / MathF.Sqrt(d));
        Assert.True(kernels.Plan(shape).Splits >= 9, $"{kernels.Plan(shape).Splits} splits");

        var random = new Random(5);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] q = Values(queryHeads * d), k = Values(keys * kvHeads * d), v = Values(keys * kvHeads * d);
        var expected = new float[queryHeads * d];
        CpuAttention.Attention(q, k, v, shape, expected);

        using var qd = accelerator.Allocate1D(q);
        using var kd = accelerator.Allocate1D(k);
        using var vd = accelerator.Allocate1D(v);
        using var scratch = accelerator.Allocate1D<float>(Math.Max(1, kernels.ScratchLength(shape)));
        using var y = accelerator.Allocate1D<float>(expected.Length);
        kernels.Attention(accelerator.DefaultStream, qd.View, kd.View, vd.View, scratch.View, shape, y.View);
        var actual = y.GetAsArray1D();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f + 1e-4f * Math.Abs(expected[i]), $"y[{i}]: {actual[i]} vs {expected[i]}");
    }
}
