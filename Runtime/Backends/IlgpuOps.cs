using ILGPU;
using ILGPU.Runtime;
using SonicVerse.Kernels;
using SonicVerse.Kernels.Ilgpu;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>The <see cref="IOps"/> of an <see cref="IlgpuBackend"/>: validates through <see cref="OpChecks"/> and
/// queues the kernel of the same name on the backend's stream. Kernel families are created once per accelerator.
/// With <paramref name="int8Activations"/>, every product with Q8_0/Q4_0 weights takes x rounded to int8 blocks
/// (MatMulKernels.Int8.cs): a single row inside the GEMV, more rows by a rounding launch into a buffer of their own
/// (<see cref="ProductInput"/>).</summary>
sealed class IlgpuOps(IlgpuBackend backend, Accelerator accelerator, AcceleratorStream stream, bool tensorCores,
    bool int8Activations) : IOps, IDisposable
{
    readonly MatMulKernels matMul = new(accelerator) { TensorCores = tensorCores, Int8Activations = int8Activations };
    readonly ElementwiseKernels elementwise = new(accelerator);
    readonly NormKernels norms = new(accelerator);
    readonly RopeKernels rope = new(accelerator);
    readonly AttentionKernels attention = new(accelerator);
    readonly SoftmaxKernels softmax = new(accelerator);
    readonly LayoutKernels layout = new(accelerator);
    MemoryBuffer1D<float, Stride1D.Dense>? scratch;
    MemoryBuffer1D<float, Stride1D.Dense>? roundedX;

    public void MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, DeviceTensor y, Activation activation = Activation.None) =>
        MatMul(x, w, bias, y, false, activation);

    public void MatMulAccumulate(DeviceTensor x, DeviceTensor w, DeviceTensor y) => MatMul(x, w, null, y, true, Activation.None);

    public void MatMulShared(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys)
    {
        var (n, k, format) = OpChecks.MatMulShared(x, weights, ys);
        var (w, y0, y1, y2) = SharedProduct(weights, ys, format, k);
        if (matMul.SmallBatchPlan(n, k, w.M0, w.M1, w.M2) is { } batch)
        {
            // A batched decode step on tensor cores: all the products in one launch (and one split sum).
            SmallBatch(x, w, 0, batch, y0, y1, y2);
            return;
        }
        if (matMul.Plan(n, k, ys[0].Dim(1)) is not null)
        {
            // Prefill-sized x: each product is a GEMM with tiles enough of its own.
            for (int i = 0; i < weights.Length; i++) MatMul(x, weights[i], null, ys[i], false, Activation.None);
            return;
        }
        var input = ProductInput(x, format);
        backend.CountLaunch();
        matMul.GemvShared(stream, input, n, w, y0, y1, y2);
    }

    public void MatMulAccumulateEach(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys,
        RotaryEmbedding? rotary = null)
    {
        var (n, k, format) = OpChecks.MatMulAccumulateEach(x, weights, ys);
        var heads = rotary is { } r ? OpChecks.Rotary(nameof(MatMulAccumulateEach), r, n, ys) : default;
        var (w, y0, y1, y2) = SharedProduct(weights, ys, format, k);
        if (n == 1)
        {
            var folded = FoldedRope(rotary);
            backend.CountLaunch();
            matMul.GemvEachAccumulate(stream, F(x), w, y0, y1, y2, folded);
            if (folded is null) Rotate(rotary, n, heads, ys);
            return;
        }
        if (matMul.SmallBatchPlan(n, k, w.M0, w.M1, w.M2) is { } batch)
        {
            // A batched step on tensor cores: every product in one launch, each reading its own n rows of x.
            SmallBatch(x, w, MatMulKernels.Accumulate, batch, y0, y1, y2, xPerMatrix: n * k);
        }
        else
            for (int i = 0; i < weights.Length; i++) MatMul(x.Rows(i * n, n), weights[i], null, ys[i], true, Activation.None);
        Rotate(rotary, n, heads, ys);
    }

    public void MatMulNormed(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary = null)
    {
        var (n, k, format) = OpChecks.MatMulNormed(x, norm, normed, weights, ys);
        var heads = rotary is { } r ? OpChecks.Rotary(nameof(MatMulNormed), r, n, ys) : default;
        if (n != 1)
        {
            // Several rows: the norm, then the products (a GEMM stages x in tiles; it never holds a whole row).
            RmsNorm(x, norm, eps, normed);
            if (weights.Length == 1) MatMul(normed, weights[0], null, ys[0], false, Activation.None);
            else MatMulShared(normed, weights, ys);
            Rotate(rotary, n, heads, ys);
            return;
        }
        var folded = FoldedRope(rotary);
        backend.CountLaunch();
        var (shared, y0, y1, y2) = SharedProduct(weights, ys, format, k);
        matMul.GemvNormed(stream, F(x), new RowNorm(F(norm), default, eps, F(normed)), shared, y0, y1, y2, folded);
        if (folded is null) Rotate(rotary, n, heads, ys);
    }

    /// <summary>The rotation a single-row GEMV folds into its q and k products (<see cref="RowRope"/>): null without one,
    /// or for heads its groups cannot pair up (a head size not a multiple of 4).</summary>
    RowRope? FoldedRope(RotaryEmbedding? rotary) =>
        rotary is { HeadDim: var d } r && d % 4 == 0
            ? new RowRope(backend.Own(r.Positions).Ints, rope.Frequencies(r.Theta, d), d, r.Layout == RopeLayout.Interleaved ? 1 : 0)
            : null;

    /// <summary>RoPE's own launch on ys[0] and ys[1] (q, k) after the products that finish them, when asked.</summary>
    void Rotate(RotaryEmbedding? rotary, int n, (int Heads, int KvHeads) heads, ReadOnlySpan<DeviceTensor> ys)
    {
        if (rotary is not { } r) return;
        backend.CountLaunch();
        rope.Rope(stream, backend.Own(r.Positions).Ints, r.Theta, r.Layout == RopeLayout.Interleaved, n, heads.Heads, heads.KvHeads,
            r.HeadDim, F(ys[0]), F(ys[1]));
    }

    /// <summary>The small-batch product of these weights over x (one launch, and its split sum when split), counted.</summary>
    void SmallBatch(DeviceTensor x, SharedWeights w, int epilogue, GemmShape plan, ArrayView<float> y0, ArrayView<float> y1,
        ArrayView<float> y2, int xPerMatrix = 0)
    {
        var input = ProductInput(x, (WeightFormat)w.W0.Format);
        backend.CountLaunch();
        if (plan.Splits > 1) backend.CountLaunch();
        matMul.SmallBatch(stream, input, w, default, epilogue, plan, y0, y1, y2,
            MatMulKernels.ScratchLength(plan) is > 0 and var length ? Scratch(length) : y0, xPerMatrix);
    }

    /// <summary>One to three weights of one format and their outputs as the views of one shared product; the unused
    /// places repeat the first with no rows.</summary>
    (SharedWeights W, ArrayView<float> Y0, ArrayView<float> Y1, ArrayView<float> Y2) SharedProduct(ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys, WeightFormat format, int k)
    {
        var w0 = Weights(weights[0], format, k);
        var w1 = weights.Length > 1 ? Weights(weights[1], format, k) : w0;
        var w2 = weights.Length > 2 ? Weights(weights[2], format, k) : w0;
        var y0 = F(ys[0]);
        var shared = new SharedWeights(w0, ys[0].Dim(1), w1, ys.Length > 1 ? ys[1].Dim(1) : 0, w2, ys.Length > 2 ? ys[2].Dim(1) : 0);
        return (shared, y0, ys.Length > 1 ? F(ys[1]) : y0, ys.Length > 2 ? F(ys[2]) : y0);
    }

    public void SwiGlu(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, DeviceTensor gate, DeviceTensor up,
        DeviceTensor upScratch, DeviceTensor y)
    {
        var (n, k, format) = OpChecks.SwiGlu(x, norm, normed, gate, up, upScratch, y);
        int ffn = y.Dim(1);
        if (matMul.SmallBatchPlan(n, k, ffn, ffn) is { Splits: > 1 } batch)
        {
            // A batched step on tensor cores: the norm, then gate and up in one launch whose split sum also gates.
            RmsNorm(x, norm, eps, normed);
            var gateViews = Weights(gate, format, k);
            var weights = new SharedWeights(gateViews, ffn, Weights(up, format, k), ffn, gateViews, 0);
            SmallBatch(normed, weights, MatMulKernels.SwiGluGate, batch, F(y), F(upScratch), F(y));
            return;
        }
        if (n != 1)
        {
            MatMulNormed(x, norm, eps, normed, [gate, up], [y, upScratch]);
            SiluMul(y, upScratch, y);
            return;
        }
        backend.CountLaunch();
        matMul.SwiGlu(stream, F(x), new RowNorm(F(norm), default, eps, F(normed)), Weights(gate, format, k), Weights(up, format, k),
            y.Dim(1), F(y));
    }

    void MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, DeviceTensor y, bool accumulate, Activation activation)
    {
        var (n, k, m, format) = OpChecks.MatMul(x, w, bias, y);
        var input = ProductInput(x, format);
        backend.CountLaunch();
        var yv = F(y);
        var plan = matMul.Plan(n, k, m);
        var partials = MatMulKernels.ScratchLength(plan) is > 0 and var length ? Scratch(length) : yv;
        matMul.MatMul(stream, input, Weights(w, format, k), bias is null ? yv : F(bias), bias is not null, accumulate,
            (int)activation, n, m, yv, plan, partials);
        if (plan is { Splits: > 1 }) backend.CountLaunch();  // the sum over the splits
    }

    public void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Add), a, b, y);
        backend.CountLaunch();
        elementwise.Add(stream, F(a), F(b), F(y));
    }

    public void Scale(DeviceTensor x, float s, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Scale), x, y);
        backend.CountLaunch();
        elementwise.Scale(stream, F(x), s, F(y));
    }

    public void RmsNorm(DeviceTensor x, DeviceTensor w, float eps, DeviceTensor y)
    {
        var (n, d) = OpChecks.RowNorm(nameof(RmsNorm), x, [w], y);
        backend.CountLaunch();
        norms.RmsNorm(stream, F(x), F(w), eps, n, d, F(y));
    }

    public void LayerNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y)
    {
        var (n, d) = OpChecks.RowNorm(nameof(LayerNorm), x, [w, b], y);
        backend.CountLaunch();
        norms.LayerNorm(stream, F(x), F(w), F(b), eps, n, d, F(y));
    }

    public void ChannelNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y)
    {
        var (c, t) = OpChecks.ChannelNorm(x, w, b, y);
        backend.CountLaunch();
        norms.ChannelNorm(stream, F(x), F(w), F(b), eps, c, t, F(y));
    }

    public void Gelu(DeviceTensor x, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Gelu), x, y);
        backend.CountLaunch();
        elementwise.Gelu(stream, F(x), F(y));
    }

    public void Relu(DeviceTensor x, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(Relu), x, y);
        backend.CountLaunch();
        elementwise.Relu(stream, F(x), F(y));
    }

    public void SiluMul(DeviceTensor gate, DeviceTensor up, DeviceTensor y)
    {
        OpChecks.SameShape(nameof(SiluMul), gate, up, y);
        backend.CountLaunch();
        elementwise.SiluMul(stream, F(gate), F(up), F(y));
    }

    public void Rope(DeviceTensor positions, float theta, RopeLayout layout, DeviceTensor q, DeviceTensor? k = null)
    {
        var (n, heads, kvHeads, headDim) = OpChecks.Rope(positions, theta, q, k);
        backend.CountLaunch();
        rope.Rope(stream, backend.Own(positions).Ints, theta, layout == RopeLayout.Interleaved, n, heads, kvHeads, headDim, F(q),
            k is null ? default : F(k));
    }

    public void Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keyCount, int firstQueryPosition,
        int slidingWindow, float scale, DeviceTensor y)
    {
        var shape = OpChecks.Attention(q, k, v, keyCount, firstQueryPosition, slidingWindow, scale, y);
        backend.CountLaunch();
        if (attention.Plan(shape).Splits > 1) backend.CountLaunch();  // the splits' combine
        attention.Attention(stream, F(q), F(k), F(v), Scratch(attention.ScratchLength(shape)), shape, F(y));
    }

    public void AttentionDecodeBatch(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor cacheStarts,
        DeviceTensor keyCounts, int slidingWindow, float scale, DeviceTensor y)
    {
        var shape = OpChecks.AttentionDecodeBatch(q, k, v, cacheStarts, keyCounts, slidingWindow, scale, y);
        backend.CountLaunch();
        attention.AttentionDecodeBatch(stream, F(q), F(k), F(v), backend.Own(cacheStarts).Ints, backend.Own(keyCounts).Ints, shape,
            q.Dim(0), F(y));
    }

    public void ScatterRows(DeviceTensor src, DeviceTensor rows, DeviceTensor dst)
    {
        var (n, w) = OpChecks.ScatterRows(src, rows, dst);
        backend.CountLaunch();
        layout.ScatterRows(stream, F(src), backend.Own(rows).Ints, n, w, F(dst));
    }

    public void LogSoftmax(DeviceTensor x, DeviceTensor y)
    {
        var (n, v) = OpChecks.LogSoftmax(x, y);
        backend.CountLaunch();
        softmax.LogSoftmax(stream, F(x), n, v, F(y));
    }

    public void Embedding(DeviceTensor table, DeviceTensor ids, DeviceTensor y)
    {
        var (vocab, d, format) = OpChecks.Embedding(table, ids, y);
        backend.CountLaunch();
        layout.Embedding(stream, Weights(table, format, d), backend.Own(ids).Ints, vocab, ids.Dim(0), F(y));
    }

    public void Conv1d(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, int stride, int padding, int groups, DeviceTensor y)
    {
        var shape = OpChecks.Conv1d(x, w, bias, stride, padding, groups, y);
        var plan = matMul.ConvPlan(shape);
        for (int i = 0; i < groups * (plan.Splits > 1 ? 2 : 1); i++) backend.CountLaunch();  // a GEMM (+ split sum) per group
        var yv = F(y);
        var partials = MatMulKernels.ScratchLength(plan) is > 0 and var length ? Scratch(length) : yv;
        matMul.Conv1d(stream, F(x), F(w), bias is null ? yv : F(bias), bias is not null, shape, yv, partials);
    }

    public void Transpose(DeviceTensor x, DeviceTensor y)
    {
        var (a, b) = OpChecks.Transpose(x, y);
        backend.CountLaunch();
        layout.Transpose(stream, F(x), a, b, F(y));
    }

    public void Copy(DeviceTensor src, long srcOffset, long count, DeviceTensor dst, long dstOffset)
    {
        OpChecks.Copy(src, srcOffset, count, dst, dstOffset);
        backend.CountLaunch();
        long bytes = src.DType.ByteSize(count);
        if (bytes == 0) return;
        var from = backend.Own(src).Bytes.SubView(src.DType.ByteSize(srcOffset), bytes);
        var to = backend.Own(dst).Bytes.SubView(dst.DType.ByteSize(dstOffset), bytes);
        ((ArrayView1D<byte, Stride1D.Dense>)from).CopyTo(stream, to);
    }

    /// <summary>Fills the Q8_0/Q4_0 weight <paramref name="split"/> from <paramref name="gguf"/>, the same tensor's bytes as
    /// GGUF stores them (interleaved blocks): the kernels read quantized rows split into scales and quants
    /// (<see cref="WeightViews"/>).</summary>
    internal void SplitQuantizedRows(IlgpuTensor gguf, IlgpuTensor split)
    {
        int k = split.Shape[^1], blocksPerRow = k / WeightFormats.BlockElements;
        int blockBytes = split.DType == DType.Q4_0 ? WeightFormats.Q4BlockBytes : WeightFormats.Q8BlockBytes;
        layout.SplitQuantizedRows(stream, gguf.Halves, split.ElementCount / WeightFormats.BlockElements, blocksPerRow, blockBytes,
            split.Halves);
    }

    public void SumMiddle(DeviceTensor x, DeviceTensor y)
    {
        var (a, b, c) = OpChecks.SumMiddle(x, y);
        backend.CountLaunch();
        layout.SumMiddle(stream, F(x), a, b, c, F(y));
    }

    public void Dispose()
    {
        rope.Dispose();
        scratch?.Dispose();
        scratch = null;
        roundedX?.Dispose();
        roundedX = null;
    }

    ArrayView<float> F(DeviceTensor tensor) => backend.Own(tensor).Floats;

    WeightViews Weights(DeviceTensor w, WeightFormat format, int k)
    {
        var t = backend.Own(w);
        return new WeightViews(t.Bytes, t.Halves, t.Bytes.Cast<float>(), format, k);
    }

    /// <summary>x as a product with <paramref name="format"/> weights reads it: as it is, or, with int8 activations,
    /// Q8_0/Q4_0 weights and more than one row, rounded to int8 blocks (d·q) into a buffer of its own — read by the one
    /// product queued next; a single row is rounded inside the GEMV.</summary>
    ArrayView<float> ProductInput(DeviceTensor x, WeightFormat format)
    {
        var view = F(x);
        if (!int8Activations || format is not (WeightFormat.Q8_0 or WeightFormat.Q4_0) || x.Dim(0) == 1) return view;
        if (roundedX is null || roundedX.Length < view.Length)
        {
            roundedX?.Dispose();
            roundedX = accelerator.Allocate1D<float>(Math.Max(view.Length, 1024));
        }
        var rounded = roundedX.View.SubView(0, view.Length);
        backend.CountLaunch();
        matMul.RoundToInt8Blocks(stream, view, rounded);
        return rounded;
    }

    /// <summary>A scratch buffer of at least <paramref name="length"/> floats (attention's split partials, split-k GEMM
    /// partials), grown (never shrunk) as needed; safe to share because every launch is ordered on the one stream.</summary>
    ArrayView<float> Scratch(long length)
    {
        if (scratch is null || scratch.Length < length)
        {
            stream.Synchronize();
            scratch?.Dispose();
            scratch = accelerator.Allocate1D<float>(Math.Max(length, 1024));
        }
        return scratch.View;
    }
}
