using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SonicVerse.Kernels;
using SonicVerse.Kernels.Cpu;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>The managed SIMD backend (<c>--device cpu</c>): the reference every ILGPU kernel is tested against, and what
/// users without a GPU run. Ops run synchronously on the calling thread (parallel inside big ops).</summary>
public sealed class CpuBackend : IBackend, IOps
{
    readonly HashSet<CpuTensor> live = [];
    readonly Dictionary<(float Theta, int HeadDim), float[]> ropeFrequencies = [];
    readonly ActivationPool activations = new(Math.Min(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8, 4L << 30));
    long allocated;
    bool disposed;

    /// <summary>Whether products with Q4_0/Q8_0 weights round x to Q8_0 blocks first, as llama.cpp does
    /// (<see cref="Int8Rows"/>): llama.cpp's numbers and faster decoding, at ~0.1 of a log-prob from the fp32 reference.</summary>
    public bool Int8Activations { get; }

    CpuBackend(bool int8Activations) => Int8Activations = int8Activations;

    /// <param name="int8Activations">round the activations of quantized products to int8 (<see cref="Int8Activations"/>).</param>
    public static IBackend Create(bool int8Activations = false) => new CpuBackend(int8Activations);

    public DeviceKind Kind => DeviceKind.Cpu;

    public string Description => $"cpu: {Environment.ProcessorCount} threads, {SimdName()}{(Int8Activations ? ", int8 activations for quantized weights" : "")}";

    public long MemoryBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    public long AllocatedBytes => Interlocked.Read(ref allocated);

    public IOps Ops => this;

    public DeviceTensor Allocate(DType dtype, params int[] shape) => New(dtype, shape, activations);

    public DeviceTensor Upload(ReadOnlySpan<byte> bytes, DType dtype, params int[] shape)
    {
        OpChecks.UploadLength(dtype, shape, bytes.Length);
        var t = New(dtype, shape, pool: null);
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(t.Floats); break;
            case DType.I32: MemoryMarshal.Cast<byte, int>(bytes).CopyTo(t.Ints); break;
            default: bytes.CopyTo(t.Bytes); break;
        }
        return t;
    }

    public DeviceTensor Upload(ReadOnlySpan<float> values, params int[] shape)
    {
        OpChecks.UploadLength(DType.F32, shape, 4L * values.Length);
        var t = New(DType.F32, shape, pool: null);
        values.CopyTo(t.Floats);
        return t;
    }

    public DeviceTensor Upload(ReadOnlySpan<int> values, params int[] shape)
    {
        OpChecks.UploadLength(DType.I32, shape, 4L * values.Length);
        var t = New(DType.I32, shape, pool: null);
        values.CopyTo(t.Ints);
        return t;
    }

    public void Download(DeviceTensor tensor, Span<float> destination) => Download(tensor, 0, destination);

    public void Download(DeviceTensor tensor, long offset, Span<float> destination)
    {
        var t = Own(tensor);
        OpChecks.Range(nameof(Download), t, DType.F32, offset, destination.Length);
        t.Floats.AsSpan(checked((int)offset), destination.Length).CopyTo(destination);
    }

    public void Write(ReadOnlySpan<float> values, DeviceTensor destination, long offset = 0)
    {
        var t = Own(destination);
        OpChecks.Range(nameof(Write), t, DType.F32, offset, values.Length);
        values.CopyTo(t.Floats.AsSpan(checked((int)offset)));
    }

    public void Write(ReadOnlySpan<int> values, DeviceTensor destination, long offset = 0)
    {
        var t = Own(destination);
        OpChecks.Range(nameof(Write), t, DType.I32, offset, values.Length);
        values.CopyTo(t.Ints.AsSpan(checked((int)offset)));
    }

    /// <summary>Nothing is queued: every op has finished when it returns.</summary>
    public void Synchronize() => ThrowIfDisposed();

    public void Dispose()
    {
        if (disposed) return;
        CpuTensor[] tensors;
        lock (live) tensors = [.. live];
        foreach (var t in tensors) t.Dispose();
        activations.Clear();
        disposed = true;
    }

    // ---- IOps ----

    public void MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, DeviceTensor y, Activation activation = Activation.None)
    {
        var (n, k, m, format) = OpChecks.MatMul(x, w, bias, y);
        var b = bias is null ? ReadOnlyMemory<float>.Empty : Floats(bias);
        if (format == WeightFormat.F32)
            MatMulKernels.MatMul(Floats(x), Floats(w), b, n, k, m, Floats(y));
        else
            MatMulKernels.MatMul(Floats(x), Own(w).Bytes, format, b, n, k, m, Floats(y), Int8Activations);
        if (activation == Activation.Gelu) Gelu(y, y);
        else if (activation == Activation.Relu) Relu(y, y);
    }

    public void MatMulShared(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys)
    {
        OpChecks.MatMulShared(x, weights, ys);
        for (int i = 0; i < weights.Length; i++) MatMul(x, weights[i], null, ys[i]);
    }

    public void MatMulAccumulateEach(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys,
        RotaryEmbedding? rotary = null)
    {
        var (n, _, _) = OpChecks.MatMulAccumulateEach(x, weights, ys);
        var heads = rotary is { } r ? OpChecks.Rotary(nameof(MatMulAccumulateEach), r, n, ys) : default;
        for (int i = 0; i < weights.Length; i++) MatMulAccumulate(x.Rows(i * n, n), weights[i], ys[i]);
        Rotate(rotary, n, heads, ys);
    }

    public void MatMulNormed(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary = null)
    {
        var (n, _, _) = OpChecks.MatMulNormed(x, norm, normed, weights, ys);
        var heads = rotary is { } r ? OpChecks.Rotary(nameof(MatMulNormed), r, n, ys) : default;
        RmsNorm(x, norm, eps, normed);
        for (int i = 0; i < weights.Length; i++) MatMul(normed, weights[i], null, ys[i]);
        Rotate(rotary, n, heads, ys);
    }

    /// <summary>Rope's kernel on ys[0] and ys[1] as flat rows of heads, when asked (a view per call would allocate in
    /// every decode step).</summary>
    void Rotate(RotaryEmbedding? rotary, int n, (int Heads, int KvHeads) heads, ReadOnlySpan<DeviceTensor> ys)
    {
        if (rotary is { } r) RopeRows(r.Positions, r.Theta, r.Layout, n, heads.Heads, heads.KvHeads, r.HeadDim, ys[0], ys[1]);
    }

    /// <summary>RoPE's kernel over q ([n, heads · headDim] as stored) and k (kvHeads, when given).</summary>
    void RopeRows(DeviceTensor positions, float theta, RopeLayout layout, int n, int heads, int kvHeads, int headDim,
        DeviceTensor q, DeviceTensor? k)
    {
        var frequencies = InverseFrequencies(theta, headDim);
        bool interleaved = layout == RopeLayout.Interleaved;
        RopeKernels.Rope(Own(positions).Ints, frequencies, interleaved, n, heads, headDim, Floats(q));
        if (k is not null) RopeKernels.Rope(Own(positions).Ints, frequencies, interleaved, n, kvHeads, headDim, Floats(k));
    }

    public void SwiGlu(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, DeviceTensor gate, DeviceTensor up,
        DeviceTensor upScratch, DeviceTensor y)
    {
        OpChecks.SwiGlu(x, norm, normed, gate, up, upScratch, y);
        MatMulNormed(x, norm, eps, normed, [gate, up], [y, upScratch]);
        SiluMul(y, upScratch, y);
    }

    public void MatMulAccumulate(DeviceTensor x, DeviceTensor w, DeviceTensor y)
    {
        var (n, k, m, format) = OpChecks.MatMul(x, w, null, y);
        // The product into a pooled temporary, then one SIMD add: no launch to save on the CPU.
        var product = System.Buffers.ArrayPool<float>.Shared.Rent(n * m);
        try
        {
            var temporary = new ArraySegment<float>(product, 0, n * m);
            if (format == WeightFormat.F32)
                MatMulKernels.MatMul(Floats(x), Floats(w), ReadOnlyMemory<float>.Empty, n, k, m, temporary);
            else
                MatMulKernels.MatMul(Floats(x), Own(w).Bytes, format, ReadOnlyMemory<float>.Empty, n, k, m, temporary, Int8Activations);
            var yv = Floats(y).AsSpan();
            System.Numerics.Tensors.TensorPrimitives.Add(yv, temporary, yv);
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(product);
        }
    }

    public void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Add), a, b, y);
        ElementwiseKernels.Add(Floats(a), Floats(b), Floats(y));
    }

    public void Scale(DeviceTensor x, float s, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Scale), x, y);
        ElementwiseKernels.Scale(Floats(x), s, Floats(y));
    }

    public void RmsNorm(DeviceTensor x, DeviceTensor w, float eps, DeviceTensor y)
    {
        var (n, d) = OpChecks.RowNorm(nameof(RmsNorm), x, [w], y);
        NormKernels.RmsNorm(Floats(x), Floats(w), eps, n, d, Floats(y));
    }

    public void LayerNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y)
    {
        var (n, d) = OpChecks.RowNorm(nameof(LayerNorm), x, [w, b], y);
        NormKernels.LayerNorm(Floats(x), Floats(w), Floats(b), eps, n, d, Floats(y));
    }

    public void ChannelNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y)
    {
        var (c, t) = OpChecks.ChannelNorm(x, w, b, y);
        NormKernels.ChannelNorm(Floats(x), Floats(w), Floats(b), eps, c, t, Floats(y));
    }

    public void Gelu(DeviceTensor x, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Gelu), x, y);
        ElementwiseKernels.Gelu(Floats(x), Floats(y));
    }

    public void Relu(DeviceTensor x, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Relu), x, y);
        ElementwiseKernels.Relu(Floats(x), Floats(y));
    }

    public void SiluMul(DeviceTensor gate, DeviceTensor up, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(SiluMul), gate, up, y);
        ElementwiseKernels.SiluMul(Floats(gate), Floats(up), Floats(y));
    }

    public void Rope(DeviceTensor positions, float theta, RopeLayout layout, DeviceTensor q, DeviceTensor? k = null)
    {
        var (n, heads, kvHeads, headDim) = OpChecks.Rope(positions, theta, q, k);
        RopeRows(positions, theta, layout, n, heads, kvHeads, headDim, q, k);
    }

    public void Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keyCount, int firstQueryPosition,
        int slidingWindow, float scale, DeviceTensor y)
    {
        var shape = OpChecks.Attention(q, k, v, keyCount, firstQueryPosition, slidingWindow, scale, y);
        AttentionKernels.Attention(Floats(q), Floats(k), Floats(v), shape, Floats(y));
    }

    public void AttentionDecodeBatch(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor cacheStarts,
        DeviceTensor keyCounts, int slidingWindow, float scale, DeviceTensor y)
    {
        var shape = OpChecks.AttentionDecodeBatch(q, k, v, cacheStarts, keyCounts, slidingWindow, scale, y);
        var (starts, counts) = (Own(cacheStarts).Ints, Own(keyCounts).Ints);
        int n = q.Dim(0), perQuery = shape.QueryHeads * shape.HeadDim, kvRow = shape.KvHeads * shape.HeadDim;
        for (int i = 0; i < n; i++)
        {
            int start = starts[i], keys = counts[i];
            if (start < 0 || keys < 1 || (long)start + keys > k.Dim(0))
                throw new ArgumentException($"AttentionDecodeBatch: sequence {i} has keys [{start}, {(long)start + keys}) outside the {k.Dim(0)} cache rows");
            AttentionKernels.Attention(Floats(q).AsMemory(i * perQuery, perQuery), Floats(k).AsMemory(start * kvRow, keys * kvRow),
                Floats(v).AsMemory(start * kvRow, keys * kvRow), shape with { KeyCount = keys, FirstQueryPosition = keys - 1 },
                Floats(y).AsMemory(i * perQuery, perQuery));
        }
    }

    public void ScatterRows(DeviceTensor src, DeviceTensor rows, DeviceTensor dst)
    {
        var (n, w) = OpChecks.ScatterRows(src, rows, dst);
        var targets = Own(rows).Ints;
        if (!DistinctRows(targets.AsSpan(0, n), dst.Dim(0)))
            throw new ArgumentException($"ScatterRows: rows [{string.Join(", ", targets.AsSpan(0, n).ToArray())}] are not distinct rows of {dst}");
        for (int i = 0; i < n; i++) Floats(src).AsSpan(i * w, w).CopyTo(Floats(dst).AsSpan(targets[i] * w, w));
    }

    /// <summary>Every row in [0, count) and none twice; pairwise, so a decode step (a row per sequence) allocates nothing.</summary>
    static bool DistinctRows(ReadOnlySpan<int> rows, int count)
    {
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)count) return false;
            for (int j = 0; j < i; j++)
                if (rows[j] == rows[i]) return false;
        }
        return true;
    }

    public void LogSoftmax(DeviceTensor x, DeviceTensor y)
    {
        var (n, v) = OpChecks.LogSoftmax(x, y);
        SoftmaxKernels.LogSoftmax(Floats(x), n, v, Floats(y));
    }

    public void Embedding(DeviceTensor table, DeviceTensor ids, DeviceTensor y)
    {
        var (vocab, d, format) = OpChecks.Embedding(table, ids, y);
        var idValues = Own(ids).Ints;
        foreach (int id in idValues)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"Embedding: id {id} outside [0, {vocab}) (table {table})");
        var tableBytes = format == WeightFormat.F32 ? MemoryMarshal.AsBytes(Floats(table).AsSpan()) : Own(table).Bytes;
        LayoutKernels.Embedding(tableBytes, format, idValues, d, Floats(y));
    }

    public void Conv1d(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, int stride, int padding, int groups, DeviceTensor y)
    {
        var shape = OpChecks.Conv1d(x, w, bias, stride, padding, groups, y);
        ConvKernels.Conv1d(Floats(x), WholeArray(w), bias is null ? null : WholeArray(bias), shape, Floats(y));
    }

    public void Transpose(DeviceTensor x, DeviceTensor y)
    {
        var (a, b) = OpChecks.Transpose(x, y);
        LayoutKernels.Transpose(Floats(x), a, b, Floats(y));
    }

    public void Copy(DeviceTensor src, long srcOffset, long count, DeviceTensor dst, long dstOffset)
    {
        OpChecks.Copy(src, srcOffset, count, dst, dstOffset);
        CpuTensor s = Own(src), d = Own(dst);
        switch (s.DType)
        {
            case DType.F32: Slice(s.Floats, srcOffset, count).CopyTo(Slice(d.Floats, dstOffset, count)); break;
            case DType.I32: Slice(s.Ints, srcOffset, count).CopyTo(Slice(d.Ints, dstOffset, count)); break;
            default:
                Slice(s.Bytes, s.DType.ByteSize(srcOffset), s.DType.ByteSize(count))
                    .CopyTo(Slice(d.Bytes, d.DType.ByteSize(dstOffset), s.DType.ByteSize(count)));
                break;
        }
    }

    public void SumMiddle(DeviceTensor x, DeviceTensor y)
    {
        var (a, b, c) = OpChecks.SumMiddle(x, y);
        LayoutKernels.SumMiddle(Floats(x), a, b, c, Floats(y));
    }

    /// <summary>RoPE inverse frequencies per (theta, headDim), computed once: every decode step rotates q and k in every
    /// layer, and a fresh array per call was a third of the step's allocations.</summary>
    float[] InverseFrequencies(float theta, int headDim)
    {
        lock (ropeFrequencies)
        {
            if (!ropeFrequencies.TryGetValue((theta, headDim), out var inv))
                ropeFrequencies[(theta, headDim)] = inv = RopeFrequencies.Inverse(theta, headDim);
            return inv;
        }
    }

    // ---- tensors ----

    internal void Release(CpuTensor tensor)
    {
        lock (live)
            if (live.Remove(tensor)) Interlocked.Add(ref allocated, -tensor.ByteLength);
    }

    /// <summary>A zero-filled tensor; F32 storage comes from <paramref name="pool"/> when given (activations: uploads are
    /// weights, which are not kept once their model is gone).</summary>
    CpuTensor New(DType dtype, int[] shape, ActivationPool? pool)
    {
        ThrowIfDisposed();
        OpChecks.NonNegative(shape);
        var t = new CpuTensor(this, dtype, (int[])shape.Clone(), pool);
        lock (live) live.Add(t);
        Interlocked.Add(ref allocated, t.ByteLength);
        return t;
    }

    CpuTensor Own(DeviceTensor tensor)
    {
        ThrowIfDisposed();
        if (tensor is not CpuTensor t || !ReferenceEquals(t.Backend, this))
            throw new ArgumentException($"tensor {tensor} belongs to another backend ({tensor.Backend.Description})");
        if (t.IsDisposed) throw new ObjectDisposedException(t.ToString(), "the tensor has been disposed");
        return t;
    }

    ArraySegment<float> Floats(DeviceTensor tensor) => Own(tensor).Floats;

    /// <summary>The values as one array (the conv kernel takes arrays): the storage itself unless a row view.</summary>
    float[] WholeArray(DeviceTensor tensor)
    {
        var values = Floats(tensor);
        return values.Offset == 0 && values.Count == values.Array!.Length ? values.Array : values.ToArray();
    }

    static Span<T> Slice<T>(ArraySegment<T> values, long offset, long count) =>
        values.AsSpan(checked((int)offset), checked((int)count));

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    static string SimdName() =>
        Vector512.IsHardwareAccelerated ? "512-bit SIMD (AVX-512)"
        : Vector256.IsHardwareAccelerated ? "256-bit SIMD (AVX2)"
        : Vector128.IsHardwareAccelerated ? "128-bit SIMD"
        : "no SIMD";
}
