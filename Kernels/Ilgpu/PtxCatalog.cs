using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>One compiled form of a device kernel: its family, method and the values of its <c>SpecializedValue</c>
/// parameters in order (what a launcher passes), named for reports.</summary>
public sealed record KernelVariant(Type Family, string Method, string Label, params int[] Specialization);

/// <summary>
/// Every device kernel in the forms the launchers compile, and their PTX for a CUDA architecture built on any machine
/// (no GPU or driver needed). The tests compile each one, so a construct the PTX backend rejects fails here rather than
/// on a lent GPU; <c>Benchmarks/kernel-report.sh</c> feeds the PTX to ptxas for registers, spills and instruction mix.
/// </summary>
public static class PtxCatalog
{
    const int F32 = (int)WeightFormat.F32, F16 = (int)WeightFormat.F16, BF16 = (int)WeightFormat.BF16,
        Q8 = (int)WeightFormat.Q8_0, Q4 = (int)WeightFormat.Q4_0;
    static readonly (int Format, string Name)[] Formats = [(F32, "f32"), (F16, "f16"), (BF16, "bf16"), (Q8, "q8_0"), (Q4, "q4_0")];

    // MatMulKernels' epilogue flags, GEMM input modes and GPU tile depth.
    const int Bias = MatMulKernels.Bias, Accumulate = MatMulKernels.Accumulate, Gelu = MatMulKernels.Gelu,
        PlainInput = MatMulKernels.PlainInput, ConvolutionOutput = MatMulKernels.UnfoldedInputTransposedOutput,
        PlainInputQuads = MatMulKernels.PlainInputQuads, GpuTileK = MatMulKernels.GpuTileK, FoldNorm = MatMulKernels.FoldNorm,
        FoldRope = MatMulKernels.FoldRope, FoldInt8 = MatMulKernels.FoldInt8;

    /// <summary>The variants the runtime launches on a GPU: every weight format of the matrix products (decode GEMV
    /// with and without the residual accumulate, the shared-x GEMV, the GEMM for prefill, MERT's biased linears and
    /// convolutions), attention single and batched, and each unspecialized kernel once.</summary>
    public static IReadOnlyList<KernelVariant> Variants { get; } = BuildVariants();

    static List<KernelVariant> BuildVariants()
    {
        var m = typeof(MatMulKernels);
        var list = new List<KernelVariant>();
        foreach (var (f, name) in Formats) list.Add(new(m, "GemvKernel", $"gemv {name}", 1, f, 0));
        list.Add(new(m, "GemvKernel", "gemv q4_0 y+=", 1, Q4, Accumulate));
        list.Add(new(m, "GemvKernel", "gemv f32 +bias, unaligned x", 0, F32, Bias));
        foreach (var (f, name) in Formats) list.Add(new(m, "GemvSharedKernel", $"gemv shared {name}", 1, f));
        foreach (var (f, name) in Formats) list.Add(new(m, "SingleRowGemvKernel", $"gemv 1 row {name}", 1, f, 0, 0));
        list.Add(new(m, "SingleRowGemvKernel", "gemv 1 row q4_0 y+=", 1, Q4, Accumulate, 0));
        list.Add(new(m, "SingleRowGemvKernel", "gemv 1 row f16 +bias, GELU (projector)", 1, F16, Bias | Gelu, 0));
        list.Add(new(m, "SingleRowGemvKernel", "gemv 1 row f32 +bias, unaligned x", 0, F32, Bias, 0));
        foreach (var (f, name) in Formats) list.Add(new(m, "SingleRowGemvSharedKernel", $"gemv 1 row shared {name}", 1, f, 0, 0));
        list.Add(new(m, "SingleRowGemvSharedKernel", "gemv 1 row rmsnorm + shared q4_0", 1, Q4, FoldNorm, 0));
        list.Add(new(m, "SingleRowGemvSharedKernel", "gemv 1 row rmsnorm + shared q4_0 + rope (q, k, v)", 1, Q4, FoldNorm | FoldRope, 0));
        list.Add(new(m, "SingleRowGemvSharedKernel", "gemv 1 row rmsnorm + shared f16 + rope (q, k, v)", 1, F16, FoldNorm | FoldRope, 0));
        list.Add(new(m, "SingleRowGemvSharedKernel", "gemv 1 row each y+= f32 (LoRA B)", 1, F32, 0, Accumulate));
        list.Add(new(m, "SingleRowGemvSharedKernel", "gemv 1 row each y+= bf16 (LoRA B) + rope", 1, BF16, FoldRope, Accumulate));
        list.Add(new(m, "SingleRowSwiGluKernel", "gemv 1 row rmsnorm + swiglu q4_0", 1, Q4, 0));
        list.Add(new(m, "SingleRowSwiGluKernel", "gemv 1 row rmsnorm + swiglu f16", 1, F16, 0));
        // --int8-activations: x rounded to int8 blocks in the single-row GEMV, dp4a dots (MatMulKernels.Int8.cs).
        foreach (var (f, name) in new[] { (Q8, "q8_0"), (Q4, "q4_0") })
        {
            list.Add(new(m, "SingleRowGemvKernel", $"gemv 1 row int8 x {name} y+=", 1, f, Accumulate, 1));
            list.Add(new(m, "SingleRowGemvSharedKernel", $"gemv 1 row int8 x rmsnorm + shared {name} + rope", 1, f, FoldNorm | FoldRope | FoldInt8, 0));
            list.Add(new(m, "SingleRowSwiGluKernel", $"gemv 1 row int8 x rmsnorm + swiglu {name}", 1, f, 1));
        }
        list.Add(new(m, "RoundBlocksKernel", "round x to int8 blocks"));
        foreach (var (f, name) in Formats) list.Add(new(m, "GemmKernel", $"gemm {name}", f, 0, GpuTileK, PlainInputQuads, 0));
        list.Add(new(m, "GemmKernel", "gemm q4_0 y+=", Q4, Accumulate, GpuTileK, PlainInputQuads, 0));
        list.Add(new(m, "GemmKernel", "gemm f32 +bias", F32, Bias, GpuTileK, PlainInputQuads, 0));
        list.Add(new(m, "GemmKernel", "gemm f32 +bias, GELU (MERT FFN)", F32, Bias | Gelu, GpuTileK, PlainInputQuads, 0));
        list.Add(new(m, "GemmKernel", "gemm f32 +bias, unaligned x", F32, Bias, GpuTileK, PlainInput, 0));
        list.Add(new(m, "GemmKernel", "conv1d f32 +bias", F32, Bias, GpuTileK, ConvolutionOutput, 0));
        foreach (var (f, name) in Formats)
            list.Add(new(m, "GemmKernel", $"gemm tensor cores {name}", f, 0, GpuTileK, PlainInputQuads, 1));
        list.Add(new(m, "GemmKernel", "gemm tensor cores f32 +bias, GELU (MERT FFN)", F32, Bias | Gelu, GpuTileK, PlainInputQuads, 1));
        list.Add(new(m, "GemmKernel", "conv1d tensor cores f32 +bias", F32, Bias, GpuTileK, ConvolutionOutput, 1));
        // The small-batch product compiles for ~10 s a variant: its three ways of multiplying (F32 split, halves exact,
        // quants scaled) at batch 36, and Q4_0 at its largest batch.
        foreach (var (f, name) in new[] { (F32, "f32"), (F16, "f16"), (Q4, "q4_0") })
            list.Add(new(m, "SmallBatchKernel", $"small batch tensor cores {name} (36 rows)", f, 1, 5, 0));
        list.Add(new(m, "SmallBatchKernel", "small batch tensor cores q4_0 y+= (64 rows)", Q4, 1, 8, Accumulate));
        list.Add(new(m, "SumSplitsKernel", "gemm split sum"));
        list.Add(new(m, "SumSharedSplitsKernel", "small batch split sum"));
        var a = typeof(AttentionKernels);
        list.Add(new(a, "AttentionKernel", "attention d=128", 128, 1, 0));
        list.Add(new(a, "AttentionKernel", "attention d=64 (MERT)", 64, 1, 0));
        list.Add(new(a, "AttentionKernel", "attention d=128 batched decode", 128, 1, 1));
        list.Add(new(a, "AttentionKernel", "attention d=13, single floats", 13, 0, 0));
        list.Add(new(a, "CombineKernel", "attention split combine"));
        foreach (var family in new[] { typeof(ElementwiseKernels), typeof(LayoutKernels), typeof(NormKernels),
                     typeof(RopeKernels), typeof(SoftmaxKernels) })
            foreach (var method in KernelMethods(family))
                list.Add(new(family, method.Name, method.Name));
        return list;
    }

    /// <summary>The device kernels a family defines: its static methods named *Kernel.</summary>
    public static IEnumerable<MethodInfo> KernelMethods(Type family) =>
        family.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            .Where(method => method.Name.EndsWith("Kernel", StringComparison.Ordinal))
            .OrderBy(method => method.Name, StringComparer.Ordinal);

    /// <summary>A context that compiles for CUDA exactly as the runtime's does (same optimisation level, XMath on).</summary>
    public static Context CreateContext() =>
        Context.Create(builder => builder.Cuda().EnableAlgorithms().Optimize(KernelFamily.Optimization));

    /// <summary>The PTX of <paramref name="variant"/> for <paramref name="architecture"/> in PTX ISA
    /// <paramref name="instructionSet"/> (what the ptxas at hand accepts; on a GPU ILGPU picks the driver's). Specialized parameters are
    /// bound the way ILGPU binds them at a launch: a wrapper passes the constants to the inlined kernel, then the IR is
    /// optimised before code generation.</summary>
    public static string CompilePtx(Context context, KernelVariant variant, CudaArchitecture architecture,
        CudaInstructionSet instructionSet)
    {
        var method = variant.Family.GetMethod(variant.Method, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            ?? throw new ArgumentException($"{variant.Family.Name} has no kernel {variant.Method}");
        bool implicitlyGrouped = method.GetParameters()[0].ParameterType == typeof(Index1D);
        var entry = implicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var specialized = entry.Parameters.SpecializedParameters;
        if (specialized.Length != variant.Specialization.Length)
            throw new ArgumentException($"{variant.Label}: {variant.Method} has {specialized.Length} specialized parameters, " +
                $"the variant gives {variant.Specialization.Length} values");
        var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, null);
        var kernel = backend.PreCompileKernelMethod(entry);
        using var ir = kernel.ExtractToContext(out var extracted);
        var wrapper = BindSpecializedValues(ir, extracted, entry, variant.Specialization);
        ir.Optimize();
        return ((PTXCompiledKernel)backend.Compile(wrapper, entry, new KernelSpecialization())).PTXAssembly;
    }

    static Method BindSpecializedValues(IRContext ir, Method kernel, EntryPointDescription entry, int[] values)
    {
        var wrapper = ir.Declare(new MethodDeclaration(MethodHandle.Create("SpecializedWrapper"), ir.VoidType), out _);
        kernel.AddFlags(MethodFlags.Inline);
        using var builder = wrapper.CreateBuilder();
        var block = builder.EntryBlockBuilder;
        var call = block.CreateCall(wrapper.Location, kernel);
        var specialized = entry.Parameters.SpecializedParameters;
        for (int i = 0, next = 0; i < kernel.NumParameters; i++)
        {
            var parameter = builder.AddParameter(kernel.Parameters[i].Type, kernel.Parameters[i].Name);
            bool isSpecialized = next < specialized.Length && specialized[next].Index == i - entry.KernelIndexParameterOffset;
            call.Add(isSpecialized ? block.CreateObjectValue(wrapper.Location, SpecializedValue.New(values[next++])) : parameter);
        }
        call.Seal();
        block.CreateReturn(wrapper.Location);
        builder.Complete();
        return wrapper;
    }
}
