using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using static SonicVerse.Tests.Backends.Reference;

namespace SonicVerse.Tests.Backends;

/// <summary>The ILGPU kernels' int8 activations (MatMulKernels.Int8.cs) on the CPU accelerator against the cpu backend's
/// (<see cref="Int8ActivationTests"/> checks those against ggml's rule): the single-row GEMV that rounds x itself and
/// dots by dp4a — plain, with the residual add and a bias, shared, RMSNorm-fused, SwiGLU; rows of 16-byte loads and
/// element by element; several blocks a thread — and the rounding launch before products of more rows (the GEMV of a
/// few rows, the GEMM). Both backends round the same values to the same integers, so they differ only by float
/// summation order; each case also shows that the rounding happened (fp32 activations are further off).</summary>
public sealed class IlgpuInt8ActivationTests : IDisposable
{
    readonly IBackend gpu = IlgpuBackend.CreateCpuAccelerator(int8Activations: true);
    readonly IBackend cpu = CpuBackend.Create(int8Activations: true);
    readonly IBackend fp32 = CpuBackend.Create();

    public void Dispose()
    {
        gpu.Dispose();
        cpu.Dispose();
        fp32.Dispose();
    }

    /// <summary>Runs <paramref name="op"/> on each backend and compares with the cpu's int8 result: the device within
    /// summation rounding, fp32 activations further off than that.</summary>
    void Check(string what, int k, Func<IBackend, float[]> op)
    {
        float[] expected = op(cpu), actual = op(gpu), unrounded = op(fp32);
        double tolerance = 2e-5 * Math.Max(1, Math.Sqrt(k / 64.0));
        Close(expected, actual, tolerance, 1e-5, $"{what} int8 on ilgpu-cpu");
        double rounding = expected.Zip(unrounded).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(rounding > 20 * tolerance, $"{what}: int8 activations moved the result by only {rounding:G3}");
    }

    [Theory]
    [InlineData(DType.Q4_0, 1, 256, 13)]    // 16-byte x loads, 8-byte quant loads
    [InlineData(DType.Q8_0, 1, 96, 13)]     // rows not of whole 128s: element by element
    [InlineData(DType.Q4_0, 1, 1024, 9)]    // several blocks a thread
    [InlineData(DType.Q8_0, 1, 512, 6)]
    [InlineData(DType.Q4_0, 3, 256, 13)]    // the GEMV of a few rows, on rounded x
    [InlineData(DType.Q8_0, 70, 96, 13)]    // the GEMM, on rounded x
    public void MatMulWithBias(DType dtype, int n, int k, int m)
    {
        var x = Random(n * k, 1, scale: 3f);
        var (bytes, _) = Weights(dtype, m, k, 2);
        var bias = Random(m, 3);
        Check($"MatMul {dtype} n={n} k={k}", k, b =>
        {
            using var xt = b.Upload(x, n, k);
            using var wt = b.Upload(bytes, dtype, m, k);
            using var bt = b.Upload(bias, m);
            using var y = b.Allocate(DType.F32, n, m);
            b.Ops.MatMul(xt, wt, bt, y);
            return Download(b, y);
        });
    }

    [Theory]
    [InlineData(DType.Q8_0, 1, 1024)]
    [InlineData(DType.Q4_0, 9, 256)]
    public void MatMulAccumulate(DType dtype, int n, int k)
    {
        const int m = 24;
        var x = Random(n * k, 1);
        var (bytes, _) = Weights(dtype, m, k, 2);
        var residual = Random(n * m, 3);
        Check($"MatMulAccumulate {dtype} n={n}", k, b =>
        {
            using var xt = b.Upload(x, n, k);
            using var wt = b.Upload(bytes, dtype, m, k);
            using var y = b.Upload(residual, n, m);
            b.Ops.MatMulAccumulate(xt, wt, y);
            return Download(b, y);
        });
    }

    [Theory]
    [InlineData(DType.Q4_0, 1, 512)]
    [InlineData(DType.Q8_0, 5, 256)]
    public void MatMulShared(DType dtype, int n, int k)
    {
        int[] ms = [16, 5, 9];
        var weights = ms.Select((m, i) => Weights(dtype, m, k, 10 + i).Bytes).ToArray();
        var x = Random(n * k, 1);
        Check($"MatMulShared {dtype} n={n}", k, b =>
        {
            using var xt = b.Upload(x, n, k);
            var wt = weights.Select((w, i) => b.Upload(w, dtype, ms[i], k)).ToArray();
            var yt = ms.Select(m => b.Allocate(DType.F32, n, m)).ToArray();
            b.Ops.MatMulShared(xt, wt, yt);
            var result = yt.SelectMany(y => Download(b, y)).ToArray();
            foreach (var t in wt.Concat(yt)) t.Dispose();
            return result;
        });
    }

    /// <summary>RMSNorm folded into the single-row products (two passes over x: the norm, then the rounding) and the
    /// normalised x they write, beside the products.</summary>
    [Theory]
    [InlineData(DType.Q4_0, 1, 256)]
    [InlineData(DType.Q8_0, 1, 96)]
    [InlineData(DType.Q4_0, 3, 128)]
    public void MatMulNormed(DType dtype, int n, int k)
    {
        int[] ms = [40, 9, 24];
        var weights = ms.Select((m, i) => Weights(dtype, m, k, 20 + i).Bytes).ToArray();
        var x = Random(n * k, 1, scale: 2f);
        var norm = Random(k, 4);
        Check($"MatMulNormed {dtype} n={n}", k, b =>
        {
            using var xt = b.Upload(x, n, k);
            using var nt = b.Upload(norm, k);
            using var normed = b.Allocate(DType.F32, n, k);
            var wt = weights.Select((w, i) => b.Upload(w, dtype, ms[i], k)).ToArray();
            var yt = ms.Select(m => b.Allocate(DType.F32, n, m)).ToArray();
            b.Ops.MatMulNormed(xt, nt, 1e-5f, normed, wt, yt);
            var result = yt.SelectMany(y => Download(b, y)).Concat(Download(b, normed)).ToArray();
            foreach (var t in wt.Concat(yt)) t.Dispose();
            return result;
        });
    }

    [Theory]
    [InlineData(DType.Q8_0, 1, 256, 37)]
    [InlineData(DType.Q4_0, 1, 96, 6)]
    [InlineData(DType.Q4_0, 2, 128, 10)]
    public void SwiGlu(DType dtype, int n, int k, int ffn)
    {
        var gate = Weights(dtype, ffn, k, 30).Bytes;
        var up = Weights(dtype, ffn, k, 31).Bytes;
        var x = Random(n * k, 1, scale: 2f);
        var norm = Random(k, 4);
        Check($"SwiGlu {dtype} n={n}", k, b =>
        {
            using var xt = b.Upload(x, n, k);
            using var nt = b.Upload(norm, k);
            using var gt = b.Upload(gate, dtype, ffn, k);
            using var ut = b.Upload(up, dtype, ffn, k);
            using var normed = b.Allocate(DType.F32, n, k);
            using var upScratch = b.Allocate(DType.F32, n, ffn);
            using var y = b.Allocate(DType.F32, n, ffn);
            b.Ops.SwiGlu(xt, nt, 1e-5f, normed, gt, ut, upScratch, y);
            return Download(b, y);
        });
    }

    /// <summary>A single row is rounded inside the GEMV (one launch, as with fp32 activations); more rows take one
    /// rounding launch before their product.</summary>
    [Fact]
    public void OnlyProductsOfSeveralRowsTakeARoundingLaunch()
    {
        var (bytes, _) = Weights(DType.Q4_0, 8, 256, 2);
        var ilgpu = (IlgpuBackend)gpu;
        long Launches(int n)
        {
            using var xt = gpu.Upload(Random(n * 256, 1), n, 256);
            using var wt = gpu.Upload(bytes, DType.Q4_0, 8, 256);
            using var y = gpu.Allocate(DType.F32, n, 8);
            long before = ilgpu.LaunchCount;
            gpu.Ops.MatMul(xt, wt, null, y);
            return ilgpu.LaunchCount - before;
        }
        Assert.Equal(1, Launches(1));
        Assert.Equal(2, Launches(3));
    }

    [Fact]
    public void FloatWeightsKeepFloatActivations()
    {
        using var plain = IlgpuBackend.CreateCpuAccelerator();
        var x = Random(256, 1);
        var (bytes, _) = Weights(DType.F16, 9, 256, 2);
        float[] Product(IBackend b)
        {
            using var xt = b.Upload(x, 1, 256);
            using var wt = b.Upload(bytes, DType.F16, 9, 256);
            using var y = b.Allocate(DType.F32, 1, 9);
            b.Ops.MatMul(xt, wt, null, y);
            return Download(b, y);
        }
        Assert.Equal(Product(plain), Product(gpu));
        Assert.Contains("int8 activations", gpu.Description);
    }
}
