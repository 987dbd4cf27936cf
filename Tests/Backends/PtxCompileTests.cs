using ILGPU;
using ILGPU.Runtime.Cuda;
using SonicVerse.Kernels.Ilgpu;

namespace SonicVerse.Tests.Backends;

/// <summary>One ILGPU context for every variant, as a process's CUDA backend compiles all its kernels in one: ILGPU
/// keeps the IR of the methods they share, so the 82 variants take ~31 s here where a context each took ~185.</summary>
public sealed class PtxContextFixture : IDisposable
{
    public Context Context { get; } = PtxCatalog.CreateContext();

    public void Dispose() => Context.Dispose();
}

/// <summary>Every device kernel, in each form the launchers compile, through ILGPU's PTX backend for an H100 (sm_90):
/// constructs the CUDA backend rejects fail here, on a machine without a GPU, instead of in a lent GPU's minutes.</summary>
public sealed class PtxCompileTests(PtxContextFixture fixture) : IClassFixture<PtxContextFixture>
{
    public static TheoryData<string> Variants() => new(PtxCatalog.Variants.Select(v => v.Label));

    [Theory]
    [MemberData(nameof(Variants))]
    public void CompilesToPtxForSm90(string label)
    {
        var variant = PtxCatalog.Variants.Single(v => v.Label == label);
        string ptx = PtxCatalog.CompilePtx(fixture.Context, variant, CudaArchitecture.SM_90, CudaInstructionSet.ISA_78);
        Assert.Contains(".entry Kernel_" + variant.Method, ptx);
        Assert.Contains("ret;", ptx);
    }

    /// <summary>The catalog names every kernel of every family, so the report and the test above cannot miss one.</summary>
    [Fact]
    public void CatalogCoversEveryKernel()
    {
        var families = typeof(KernelFamily).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(KernelFamily)));
        var defined = families.SelectMany(f => PtxCatalog.KernelMethods(f).Select(m => (f, m.Name))).ToHashSet();
        var listed = PtxCatalog.Variants.Select(v => (v.Family, v.Method)).ToHashSet();
        Assert.Empty(defined.Except(listed));
        Assert.Empty(listed.Except(defined));
    }
}
