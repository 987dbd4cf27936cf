using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using SonicVerse.Kernels;
using SonicVerse.Kernels.Ilgpu;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>The ILGPU backend: the same hand-written kernels on CUDA (<c>--device cuda</c>) or on ILGPU's CPU
/// accelerator (<c>--device ilgpu-cpu</c>, for testing the kernels without a GPU). Owns the context, the accelerator and
/// one stream that every launch is queued on.</summary>
public sealed class IlgpuBackend : IBackend
{
    readonly Context context;
    readonly Accelerator accelerator;
    readonly AcceleratorStream stream;
    readonly HashSet<IlgpuTensor> live = [];
    readonly IlgpuOps ops;
    /// <summary>Buffers of disposed tensors by length, for the next tensor of that length: a device allocation costs
    /// ~0.1 ms on CUDA and freeing one waits for the device (H100, commit 2e31d2d: 20 allocations were 2.9 ms of a
    /// MERT clip, 72 were 2.1 ms of three projector clips). Every launch goes on the one stream, so work queued on a
    /// buffer before it was given back runs before any work of its next tensor.</summary>
    readonly Dictionary<long, Stack<MemoryBuffer1D<byte, Stride1D.Dense>>> spare = [];
    long spareBytes;
    long allocated;
    long launches;
    bool disposed;

    IlgpuBackend(Context context, Accelerator accelerator, DeviceKind kind, string description, bool tensorCores = false,
        bool int8Activations = false)
    {
        this.context = context;
        this.accelerator = accelerator;
        stream = accelerator.CreateStream();
        Kind = kind;
        Description = description + (int8Activations ? ", int8 activations for quantized weights" : "");
        TensorCores = tensorCores;
        Int8Activations = int8Activations;
        ops = new IlgpuOps(this, accelerator, stream, tensorCores, int8Activations);
    }

    /// <summary>Whether products with Q8_0/Q4_0 weights take x rounded to int8 blocks and multiply integers (dp4a),
    /// llama.cpp's arithmetic (<c>--int8-activations</c>; the cpu backend's <see cref="CpuBackend.Int8Activations"/>).</summary>
    public bool Int8Activations { get; }

    /// <summary>Whether the GEMM (prefill, MERT, the projector's backbone) multiplies its tiles on tensor cores (3×TF32,
    /// see MatMulKernels.TensorCores.cs) and batches of 9–64 rows (batched decode) take the small-batch tensor-core
    /// product (MatMulKernels.SmallBatch.cs).</summary>
    public bool TensorCores { get; }

    /// <summary>The environment variable that turns the tensor-core GEMM on (1) or off (0) on CUDA devices of sm_80 and
    /// later; off when unset.</summary>
    public const string TensorCoresVariable = "SONICVERSE_TENSOR_CORES";

    /// <summary>The first CUDA device, or null with the reason when there is no usable device or driver (or, for
    /// <paramref name="int8Activations"/>, one without dp4a: before sm_61).</summary>
    public static IBackend? TryCreateCuda(out string why, bool int8Activations = false)
    {
        Context? context = null;
        try
        {
            LetDriverLoadByItsSoname();
            context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(KernelFamily.Optimization));
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
            {
                why = "no CUDA device found (no NVIDIA driver, or no GPU visible)";
                context.Dispose();
                return null;
            }
            var cuda = context.CreateCudaAccelerator(0);
            if (int8Activations && cuda.Architecture is { } arch && (arch.Major, arch.Minor).CompareTo((6, 1)) < 0)
            {
                why = $"--int8-activations needs dp4a (sm_61 or later); {cuda.Name} is sm_{arch.Major}{arch.Minor}";
                cuda.Dispose();
                context.Dispose();
                return null;
            }
            why = "";
            bool tensorCores = cuda.Architecture is { Major: >= 8 } && Environment.GetEnvironmentVariable(TensorCoresVariable) == "1";
            return new IlgpuBackend(context, cuda, DeviceKind.Cuda, CudaDescription(cuda) + (tensorCores ? ", tensor-core GEMM" : ""),
                tensorCores, int8Activations);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            why = $"CUDA unavailable: {e.Message}";
            context?.Dispose();
            return null;
        }
    }

    static int sonameResolverAdded;

    /// <summary>ILGPU imports the driver as "cuda", which .NET probes as <c>libcuda.so</c>: a file only the driver's
    /// development package installs. Containers and driver-only installs have just <c>libcuda.so.1</c> (the soname the
    /// CUDA runtime itself loads), so when the plain name fails, try that one.</summary>
    static void LetDriverLoadByItsSoname()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref sonameResolverAdded, 1) == 1) return;
        System.Runtime.Loader.AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
            name == "cuda" && NativeLibrary.TryLoad("libcuda.so.1", out nint handle) ? handle : 0;
    }

    /// <summary>ILGPU's CPU accelerator with 32-lane warps (2 a group: 64×64 tiles) and the tensor-core GEMM on, its mma
    /// emulated by shuffles: tests of that kernel's fragments, tiling and stores without a GPU. 64 OS threads a group
    /// and a rendezvous per shuffle, so only for small products. Two multiprocessors, so plans that fill the device
    /// split small products over k.</summary>
    public static IBackend CreateCpuAcceleratorWithTensorCores() =>
        CpuAccelerator(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 2, numMultiprocessors: 2), tensorCores: true);

    /// <summary>ILGPU's CPU accelerator with a small simulated device (warp 4, 2 warps per group, 1 multiprocessor):
    /// each simulated thread is an OS thread, so this keeps a 2-core machine usable. Kernels read the warp and group
    /// sizes from the accelerator.</summary>
    public static IBackend CreateCpuAccelerator(bool int8Activations = false) =>
        CpuAccelerator(new CPUDevice(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 2, numMultiprocessors: 1), tensorCores: false,
            int8Activations);

    static IlgpuBackend CpuAccelerator(CPUDevice device, bool tensorCores, bool int8Activations = false)
    {
        var context = Context.Create(b => b.CPU(device).EnableAlgorithms().Optimize(KernelFamily.Optimization));
        var cpu = context.CreateCPUAccelerator(0);
        return new IlgpuBackend(context, cpu, DeviceKind.IlgpuCpu,
            $"ilgpu-cpu: {cpu.MaxNumThreadsPerGroup} threads per group, warp {cpu.WarpSize}{(tensorCores ? ", tensor cores emulated" : "")}",
            tensorCores, int8Activations);
    }

    public DeviceKind Kind { get; }

    public string Description { get; }

    public long MemoryBytes => accelerator.AcceleratorType == AcceleratorType.CPU
        ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes
        : accelerator.MemorySize;

    public long AllocatedBytes => Interlocked.Read(ref allocated);

    /// <summary>Peak memory bandwidth in bytes/s from the CUDA device properties (2 for double data rate · memory clock ·
    /// bus width / 8); null on the CPU accelerator or when the driver reports no clock.</summary>
    public double? PeakMemoryBandwidth => accelerator is CudaAccelerator cuda ? CudaBandwidth(cuda) : null;

    /// <summary>Operations queued on the stream since creation: one kernel launch or one device copy each (ILGPU has
    /// no CUDA graphs, so launches per decode step bound small-batch speed).</summary>
    public long LaunchCount => Interlocked.Read(ref launches);

    internal void CountLaunch() => Interlocked.Increment(ref launches);

    public IOps Ops => ops;

    public DeviceTensor Allocate(DType dtype, params int[] shape)
    {
        var t = New(dtype, shape);
        t.Bytes.MemSetToZero(stream);
        return t;
    }

    /// <summary>Copies the bytes to the device. Q8_0/Q4_0 weights land in a pooled buffer first and are rewritten from
    /// there into the split rows the kernels read (<see cref="SonicVerse.Kernels.Ilgpu.WeightViews"/>): same bytes, no
    /// host copy.</summary>
    public DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape)
    {
        OpChecks.UploadLength(dtype, shape, bytes.Length);
        var t = New(dtype, shape);
        if (dtype is DType.Q8_0 or DType.Q4_0)
        {
            using var gguf = New(dtype, shape);
            Copy(bytes, gguf);
            ops.SplitQuantizedRows(gguf, t);
            return t;
        }
        Copy(bytes, t);
        return t;
    }

    /// <summary>The bytes into the start of <paramref name="t"/>'s buffer, the padding after them zeroed.</summary>
    void Copy(ReadOnlySpan<byte> bytes, IlgpuTensor t)
    {
        ((ArrayView1D<byte, Stride1D.Dense>)t.Bytes.SubView(0, bytes.Length)).CopyFromCPU(stream, bytes);
        if (t.Bytes.Length > bytes.Length) t.Bytes.SubView(bytes.Length).MemSetToZero(stream);
    }

    public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape) =>
        Upload(MemoryMarshal.AsBytes(values), DType.F32, shape);

    public DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape) =>
        Upload(MemoryMarshal.AsBytes(values), DType.I32, shape);

    public void Download(DeviceTensor tensor, Span<float> destination) => Download(tensor, 0, destination);

    public void Download(DeviceTensor tensor, long offset, Span<float> destination)
    {
        var t = Own(tensor);
        OpChecks.Range(nameof(Download), t, DType.F32, offset, destination.Length);
        ((ArrayView1D<float, Stride1D.Dense>)t.Floats.SubView(offset, destination.Length)).CopyToCPU(stream, destination);
        stream.Synchronize();
    }

    public void Write(ReadOnlySpan<float> values, DeviceTensor destination, long offset = 0)
    {
        var t = Own(destination);
        OpChecks.Range(nameof(Write), t, DType.F32, offset, values.Length);
        ((ArrayView1D<float, Stride1D.Dense>)t.Floats.SubView(offset, values.Length)).CopyFromCPU(stream, values);
    }

    public void Write(ReadOnlySpan<int> values, DeviceTensor destination, long offset = 0)
    {
        var t = Own(destination);
        OpChecks.Range(nameof(Write), t, DType.I32, offset, values.Length);
        ((ArrayView1D<int, Stride1D.Dense>)t.Ints.SubView(offset, values.Length)).CopyFromCPU(stream, values);
    }

    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        stream.Synchronize();
    }

    public void Dispose()
    {
        if (disposed) return;
        stream.Synchronize();
        IlgpuTensor[] tensors;
        lock (live) tensors = [.. live];
        foreach (var t in tensors) t.Dispose();
        FreeSpares();
        ops.Dispose();
        disposed = true;
        stream.Dispose();
        accelerator.Dispose();
        context.Dispose();
    }

    /// <summary>Most bytes kept in spare buffers: an eighth of the device's memory, at most 2 GB.</summary>
    long MaxSpareBytes => Math.Min(2L << 30, MemoryBytes / 8);

    /// <summary>A buffer of <paramref name="bytes"/> for a new tensor: a spare one of that length, else a new one (when
    /// the device is full, after freeing the spares).</summary>
    internal MemoryBuffer1D<byte, Stride1D.Dense> Rent(long bytes)
    {
        lock (live)
            if (spare.TryGetValue(bytes, out var buffers) && buffers.Count > 0)
            {
                spareBytes -= bytes;
                return buffers.Pop();
            }
        try
        {
            return accelerator.Allocate1D<byte>(bytes);
        }
        catch (Exception) when (FreeSpares())
        {
            return accelerator.Allocate1D<byte>(bytes);
        }
    }

    /// <summary>Frees every spare buffer; false when there were none.</summary>
    bool FreeSpares()
    {
        List<MemoryBuffer1D<byte, Stride1D.Dense>> buffers;
        lock (live)
        {
            buffers = [.. spare.Values.SelectMany(b => b)];
            spare.Clear();
            spareBytes = 0;
        }
        foreach (var b in buffers) b.Dispose();
        return buffers.Count > 0;
    }

    /// <summary>A tensor's end: its buffer becomes a spare (or is freed when the spares are full).</summary>
    internal void Release(IlgpuTensor tensor, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        lock (live)
        {
            if (live.Remove(tensor)) Interlocked.Add(ref allocated, -IlgpuTensor.PaddedBytes(tensor.ByteLength));
            if (!disposed && spareBytes + buffer.Length <= MaxSpareBytes)
            {
                if (!spare.TryGetValue(buffer.Length, out var buffers)) spare[buffer.Length] = buffers = new();
                buffers.Push(buffer);
                spareBytes += buffer.Length;
                return;
            }
        }
        buffer.Dispose();
    }

    internal IlgpuTensor Own(DeviceTensor tensor)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (tensor is not IlgpuTensor t || !ReferenceEquals(t.Backend, this))
            throw new ArgumentException($"tensor {tensor} belongs to another backend ({tensor.Backend.Description})");
        if (t.IsDisposed) throw new ObjectDisposedException(t.ToString(), "the tensor has been disposed");
        return t;
    }

    IlgpuTensor New(DType dtype, int[] shape)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        OpChecks.NonNegative(shape);
        var t = new IlgpuTensor(this, dtype, (int[])shape.Clone());
        lock (live) live.Add(t);
        Interlocked.Add(ref allocated, IlgpuTensor.PaddedBytes(t.ByteLength));
        return t;
    }

    /// <summary>"cuda: NVIDIA H100 (79 GB, 3352 GB/s)": peak bandwidth = 2 (double data rate) · memory clock · bus width.</summary>
    static string CudaDescription(CudaAccelerator cuda)
    {
        double gb = cuda.MemorySize / 1e9;
        return CudaBandwidth(cuda) is { } bandwidth
            ? $"cuda: {cuda.Name} ({gb:F0} GB, {bandwidth / 1e9:F0} GB/s)"
            : $"cuda: {cuda.Name} ({gb:F0} GB)";
    }

    /// <summary>ILGPU reports MemoryClockRate in MHz (the driver's kHz divided by 1000: an H100 SXM gives 2619) and
    /// MemoryBusWidth in bits. Read as kHz, as cudaDeviceProp documents it, the first H100 run reported 3 GB/s.</summary>
    static double? CudaBandwidth(CudaAccelerator cuda)
    {
        double bandwidth = 2.0 * cuda.MemoryClockRate * 1e6 * cuda.MemoryBusWidth / 8;
        return bandwidth > 0 ? bandwidth : null;
    }
}
