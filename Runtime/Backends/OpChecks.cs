using SonicVerse.Kernels;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>The dtype and shape rules of every <see cref="IOps"/> op, shared by all backends. Each check throws
/// <see cref="ArgumentException"/> naming the op and the shapes, and returns the sizes the kernel needs.</summary>
public static class OpChecks
{
    /// <summary>The kernel-side weight format of a MatMul/Embedding weight dtype.</summary>
    public static WeightFormat Format(string op, DeviceTensor w) => w.DType switch
    {
        DType.F32 => WeightFormat.F32,
        DType.F16 => WeightFormat.F16,
        DType.BF16 => WeightFormat.BF16,
        DType.Q8_0 => WeightFormat.Q8_0,
        DType.Q4_0 => WeightFormat.Q4_0,
        _ => throw Fail(op, $"weight dtype {w.DType} is not supported (F32, F16, BF16, Q8_0, Q4_0)", w),
    };

    public static (int N, int K, int M, WeightFormat Format) MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias,
        DeviceTensor y)
    {
        const string op = nameof(IOps.MatMul);
        var format = Format(op, w);
        F32(op, x, y);
        if (bias is not null) F32(op, bias);
        Rank(op, 2, x, w, y);
        int n = x.Dim(0), k = x.Dim(1), m = w.Dim(0);
        if (w.Dim(1) != k || y.Dim(0) != n || y.Dim(1) != m || (bias is not null && (bias.Rank != 1 || bias.Dim(0) != m)))
            throw Fail(op, "expected x [n, k], w [m, k], bias [m], y [n, m]", x, w, bias, y);
        NoAlias(op, y, x, w);
        return (n, k, m, format);
    }

    /// <summary>MatMulShared: 2 or 3 weights of one dtype over one x, each checked as a MatMul. Returns (n, k, format).</summary>
    public static (int N, int K, WeightFormat Format) MatMulShared(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys)
    {
        const string op = nameof(IOps.MatMulShared);
        if (weights.Length != ys.Length || weights.Length is < 2 or > 3)
            throw new ArgumentException($"{op}: expected 2 or 3 weights and as many outputs, got {weights.Length} and {ys.Length}");
        var (n, k, _, format) = MatMul(x, weights[0], null, ys[0]);
        for (int i = 1; i < weights.Length; i++)
        {
            if (weights[i].DType != weights[0].DType) throw Fail(op, "the weights' dtypes differ", weights[0], weights[i]);
            MatMul(x, weights[i], null, ys[i]);
            for (int j = 0; j < i; j++) NoAlias(op, ys[i], ys[j]);
        }
        return (n, k, format);
    }

    /// <summary>MatMulAccumulateEach: x [count·n, k] with count 2 or 3 weights of one dtype, rows i·n.. of x checked as
    /// a MatMul with weights[i] into ys[i] ([n, m_i]). Returns (n, k, format).</summary>
    public static (int N, int K, WeightFormat Format) MatMulAccumulateEach(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys)
    {
        const string op = nameof(IOps.MatMulAccumulateEach);
        if (weights.Length != ys.Length || weights.Length is < 2 or > 3)
            throw new ArgumentException($"{op}: expected 2 or 3 weights and as many outputs, got {weights.Length} and {ys.Length}");
        int n = ys[0].Rank == 2 ? ys[0].Dim(0) : 0;
        if (x.Rank != 2 || n == 0 || x.Dim(0) != weights.Length * n)
            throw Fail(op, $"expected x [{weights.Length}·n, k]: n rows per weight, n the rows of ys[0]", x, ys[0]);
        int k = 0;
        var format = default(WeightFormat);
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i].DType != weights[0].DType) throw Fail(op, "the weights' dtypes differ", weights[0], weights[i]);
            (_, k, _, format) = MatMul(x.Rows(i * n, n), weights[i], null, ys[i]);
            NoAlias(op, ys[i], x);
            for (int j = 0; j < i; j++) NoAlias(op, ys[i], ys[j]);
        }
        return (n, k, format);
    }

    /// <summary>MatMulNormed: x, normed [n, k] apart, norm [k], 1–3 weights of one dtype each checked as a MatMul of
    /// normed. Returns (n, k, format).</summary>
    public static (int N, int K, WeightFormat Format) MatMulNormed(DeviceTensor x, DeviceTensor norm, DeviceTensor normed,
        ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys)
    {
        const string op = nameof(IOps.MatMulNormed);
        if (weights.Length != ys.Length || weights.Length is < 1 or > 3)
            throw new ArgumentException($"{op}: expected 1 to 3 weights and as many outputs, got {weights.Length} and {ys.Length}");
        RowNorm(op, x, [norm], normed);
        NoAlias(op, normed, x);
        if (weights.Length > 1) return MatMulShared(normed, weights, ys);
        var (n, k, _, format) = MatMul(normed, weights[0], null, ys[0]);
        return (n, k, format);
    }

    /// <summary>A rotary embedding given to a product of n rows (see <see cref="RotaryEmbedding"/>): ys[0] and ys[1] whole
    /// heads of an even size, positions I32 [n], theta positive. Returns (heads, kvHeads).</summary>
    public static (int Heads, int KvHeads) Rotary(string op, RotaryEmbedding rotary, int n, ReadOnlySpan<DeviceTensor> ys)
    {
        int d = rotary.HeadDim;
        if (ys.Length < 2) throw new ArgumentException($"{op}: RoPE turns the first two outputs (q, k), got {ys.Length}");
        if (d <= 0 || d % 2 != 0 || ys[0].Dim(1) % d != 0 || ys[1].Dim(1) % d != 0)
            throw Fail(op, $"q and k must be whole heads of an even size (head size {d})", ys[0], ys[1]);
        if (rotary.Positions.DType != DType.I32 || rotary.Positions.Rank != 1 || rotary.Positions.Dim(0) != n)
            throw Fail(op, $"positions must be I32 [{n}]", rotary.Positions);
        if (!(rotary.Theta > 0)) throw Fail(op, $"theta must be positive, got {rotary.Theta}", ys[0]);
        return (ys[0].Dim(1) / d, ys[1].Dim(1) / d);
    }

    /// <summary>SwiGlu: as MatMulNormed with weights [gate, up] and outputs [y, upScratch]. Returns (n, k, format).</summary>
    public static (int N, int K, WeightFormat Format) SwiGlu(DeviceTensor x, DeviceTensor norm, DeviceTensor normed,
        DeviceTensor gate, DeviceTensor up, DeviceTensor upScratch, DeviceTensor y) =>
        MatMulNormed(x, norm, normed, [gate, up], [y, upScratch]);

    public static void SameShape(string op, params ReadOnlySpan<DeviceTensor> tensors)
    {
        F32(op, tensors);
        foreach (var t in tensors)
            if (!t.Shape.AsSpan().SequenceEqual(tensors[0].Shape)) throw Fail(op, "shapes differ", tensors.ToArray());
    }

    /// <summary>x: [n, d] with per-column parameters [d] (RmsNorm, LayerNorm). Returns (n, d).</summary>
    public static (int N, int D) RowNorm(string op, DeviceTensor x, DeviceTensor[] parameters, DeviceTensor y)
    {
        SameShape(op, x, y);
        F32(op, parameters);
        if (x.Rank != 2 || parameters.Any(p => p.Rank != 1 || p.Dim(0) != x.Dim(1)))
            throw Fail(op, "expected x [n, d] and parameters [d]", [x, .. parameters, y]);
        return (x.Dim(0), x.Dim(1));
    }

    /// <summary>x: [c, t]; w, b: [c]. Returns (c, t).</summary>
    public static (int C, int T) ChannelNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, DeviceTensor y)
    {
        const string op = nameof(IOps.ChannelNorm);
        SameShape(op, x, y);
        F32(op, w, b);
        if (x.Rank != 2 || w.Rank != 1 || b.Rank != 1 || w.Dim(0) != x.Dim(0) || b.Dim(0) != x.Dim(0))
            throw Fail(op, "expected x [c, t], w [c], b [c]", x, w, b, y);
        return (x.Dim(0), x.Dim(1));
    }

    /// <summary>positions: [n] I32; q: [n, heads, headDim], headDim even; k (optional): [n, kvHeads, headDim], not
    /// overlapping q. Returns (n, heads, kvHeads (0 without k), headDim).</summary>
    public static (int N, int Heads, int KvHeads, int HeadDim) Rope(DeviceTensor positions, float theta, DeviceTensor q,
        DeviceTensor? k)
    {
        const string op = nameof(IOps.Rope);
        F32(op, q);
        if (positions.DType != DType.I32) throw Fail(op, "positions must be I32", positions);
        if (q.Rank != 3 || positions.Rank != 1 || positions.Dim(0) != q.Dim(0) || q.Dim(2) % 2 != 0)
            throw Fail(op, "expected positions [n], q [n, heads, headDim] with headDim even", positions, q);
        if (!(theta > 0)) throw Fail(op, $"theta must be positive, got {theta}", q);
        if (k is null) return (q.Dim(0), q.Dim(1), 0, q.Dim(2));
        F32(op, k);
        if (k.Rank != 3 || k.Dim(0) != q.Dim(0) || k.Dim(2) != q.Dim(2))
            throw Fail(op, "expected k [n, kvHeads, headDim] beside q [n, heads, headDim]", q, k);
        NoAlias(op, k, q);
        return (q.Dim(0), q.Dim(1), k.Dim(1), q.Dim(2));
    }

    public static AttentionShape Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keyCount,
        int firstQueryPosition, int slidingWindow, float scale, DeviceTensor y)
    {
        const string op = nameof(IOps.Attention);
        var (nq, hq, hkv, d) = AttentionTensors(op, q, k, v, y);
        if (keyCount < 1 || keyCount > k.Dim(0))
            throw Fail(op, $"keyCount {keyCount} outside [1, capacity {k.Dim(0)}]", q, k);
        if (firstQueryPosition >= 0 && firstQueryPosition + nq > keyCount)
            throw Fail(op, $"causal queries at positions {firstQueryPosition}..{firstQueryPosition + nq - 1} need their own keys, but keyCount is {keyCount}", q, k);
        NoAlias(op, y, q, k, v);
        return new AttentionShape(nq, hq, hkv, d, keyCount, firstQueryPosition, slidingWindow, scale);
    }

    /// <summary>q [nq, hq, d], k = v [rows, hkv, d] with hkv | hq, y [nq, hq·d], all F32. Returns (nq, hq, hkv, d).</summary>
    static (int Nq, int Hq, int Hkv, int D) AttentionTensors(string op, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor y)
    {
        F32(op, q, k, v, y);
        Rank(op, 3, q, k, v);
        int nq = q.Dim(0), hq = q.Dim(1), d = q.Dim(2), hkv = k.Dim(1);
        bool shapesOk = k.Shape.AsSpan().SequenceEqual(v.Shape) && k.Dim(2) == d && hkv > 0 && hq % hkv == 0
            && y.Rank == 2 && y.Dim(0) == nq && y.Dim(1) == hq * d;
        if (!shapesOk) throw Fail(op, "expected q [nq, hq, d], k = v [rows, hkv, d] with hkv | hq, y [nq, hq·d]", q, k, v, y);
        return (nq, hq, hkv, d);
    }

    /// <summary>AttentionDecodeBatch: q [n, hq, d], k = v [rows, hkv, d], cacheStarts and keyCounts [n] I32, y [n, hq·d].
    /// Returns the shape of one sequence (1 query; KeyCount and FirstQueryPosition are per sequence, set to −1 here).</summary>
    public static AttentionShape AttentionDecodeBatch(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor cacheStarts,
        DeviceTensor keyCounts, int slidingWindow, float scale, DeviceTensor y)
    {
        const string op = nameof(IOps.AttentionDecodeBatch);
        var (n, hq, hkv, d) = AttentionTensors(op, q, k, v, y);
        foreach (var t in new[] { cacheStarts, keyCounts })
            if (t.DType != DType.I32 || t.Rank != 1 || t.Dim(0) != n) throw Fail(op, $"expected [{n}] I32 cache starts and key counts", t);
        NoAlias(op, y, q, k, v);
        return new AttentionShape(1, hq, hkv, d, -1, -1, slidingWindow, scale);
    }

    /// <summary>ScatterRows: src [n, w] F32, rows [n] I32, dst [R, w] F32. Returns (n, w).</summary>
    public static (int N, int W) ScatterRows(DeviceTensor src, DeviceTensor rows, DeviceTensor dst)
    {
        const string op = nameof(IOps.ScatterRows);
        F32(op, src, dst);
        Rank(op, 2, src, dst);
        if (rows.DType != DType.I32 || rows.Rank != 1 || rows.Dim(0) != src.Dim(0) || dst.Dim(1) != src.Dim(1))
            throw Fail(op, "expected src [n, w], rows [n] I32, dst [R, w]", src, rows, dst);
        NoAlias(op, dst, src);
        return (src.Dim(0), src.Dim(1));
    }

    /// <summary>x: [n, v]. Returns (n, v).</summary>
    public static (int N, int V) LogSoftmax(DeviceTensor x, DeviceTensor y)
    {
        const string op = nameof(IOps.LogSoftmax);
        SameShape(op, x, y);
        Rank(op, 2, x);
        return (x.Dim(0), x.Dim(1));
    }

    /// <summary>table: [V, d]; ids: [n] I32; y: [n, d]. Returns (V, d, format).</summary>
    public static (int V, int D, WeightFormat Format) Embedding(DeviceTensor table, DeviceTensor ids, DeviceTensor y)
    {
        const string op = nameof(IOps.Embedding);
        var format = Format(op, table);
        F32(op, y);
        if (ids.DType != DType.I32) throw Fail(op, "ids must be I32", ids);
        if (table.Rank != 2 || ids.Rank != 1 || y.Rank != 2 || y.Dim(0) != ids.Dim(0) || y.Dim(1) != table.Dim(1))
            throw Fail(op, "expected table [V, d], ids [n], y [n, d]", table, ids, y);
        return (table.Dim(0), table.Dim(1), format);
    }

    public static ConvShape Conv1d(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, int stride, int padding, int groups,
        DeviceTensor y)
    {
        const string op = nameof(IOps.Conv1d);
        F32(op, x, w, y);
        if (bias is not null) F32(op, bias);
        Rank(op, 2, x, y);
        Rank(op, 3, w);
        if (stride < 1 || padding < 0 || groups < 1)
            throw Fail(op, $"stride {stride}, padding {padding}, groups {groups} out of range", x, w);
        var s = new ConvShape(x.Dim(0), x.Dim(1), w.Dim(0), w.Dim(2), stride, padding, groups);
        bool ok = s.InChannels % groups == 0 && s.OutChannels % groups == 0 && w.Dim(1) == s.InPerGroup
            && s.Length + 2 * padding >= s.Kernel && y.Dim(0) == s.OutChannels && y.Dim(1) == s.OutLength
            && (bias is null || (bias.Rank == 1 && bias.Dim(0) == s.OutChannels));
        if (!ok) throw Fail(op, $"expected x [cin, t], w [cout, cin/{groups}, k], bias [cout], y [cout, (t + 2·{padding} − k)/{stride} + 1]", x, w, bias, y);
        NoAlias(op, y, x, w);
        return s;
    }

    /// <summary>x: [a, b]; y: [b, a]. Returns (a, b).</summary>
    public static (int A, int B) Transpose(DeviceTensor x, DeviceTensor y)
    {
        const string op = nameof(IOps.Transpose);
        F32(op, x, y);
        Rank(op, 2, x, y);
        if (y.Dim(0) != x.Dim(1) || y.Dim(1) != x.Dim(0)) throw Fail(op, "expected x [a, b], y [b, a]", x, y);
        NoAlias(op, y, x);
        return (x.Dim(0), x.Dim(1));
    }

    /// <summary>Same dtype, ranges inside both tensors; for block dtypes offsets and count whole blocks.</summary>
    public static void Copy(DeviceTensor src, long srcOffset, long count, DeviceTensor dst, long dstOffset)
    {
        const string op = nameof(IOps.Copy);
        if (src.DType != dst.DType) throw Fail(op, $"dtypes differ ({src.DType} vs {dst.DType})", src, dst);
        if (count < 0 || srcOffset < 0 || dstOffset < 0 || srcOffset + count > src.ElementCount || dstOffset + count > dst.ElementCount)
            throw Fail(op, $"range src[{srcOffset}..+{count}] → dst[{dstOffset}..] out of bounds", src, dst);
        int block = src.DType.BlockElements();
        if (srcOffset % block != 0 || dstOffset % block != 0 || count % block != 0)
            throw Fail(op, $"offsets and count must be whole {block}-element blocks", src, dst);
    }

    /// <summary>x: [a, b, c]; y: [a, c]. Returns (a, b, c).</summary>
    public static (int A, int B, int C) SumMiddle(DeviceTensor x, DeviceTensor y)
    {
        const string op = nameof(IOps.SumMiddle);
        F32(op, x, y);
        Rank(op, 3, x);
        Rank(op, 2, y);
        if (y.Dim(0) != x.Dim(0) || y.Dim(1) != x.Dim(2)) throw Fail(op, "expected x [a, b, c], y [a, c]", x, y);
        NoAlias(op, y, x);
        return (x.Dim(0), x.Dim(1), x.Dim(2));
    }

    /// <summary>Host values written at an element offset into an F32/I32 tensor (or read back from one).</summary>
    public static void Range(string op, DeviceTensor tensor, DType dtype, long offset, long count)
    {
        if (tensor.DType != dtype) throw Fail(op, $"tensor is {tensor.DType}, values are {dtype}", tensor);
        if (offset < 0 || offset + count > tensor.ElementCount)
            throw Fail(op, $"range [{offset}, {offset + count}) outside {tensor.ElementCount} elements", tensor);
    }

    /// <summary>A new tensor's shape has no negative dimension.</summary>
    public static void NonNegative(int[] shape)
    {
        if (shape.Any(d => d < 0)) throw new ArgumentException($"negative dimension in [{string.Join(", ", shape)}]");
    }

    /// <summary>Checks an upload's byte count against its shape before anything is allocated (a failed upload leaves
    /// no tensor behind).</summary>
    public static void UploadLength(DType dtype, int[] shape, long bytes)
    {
        NonNegative(shape);
        long expected = dtype.ByteSize(DeviceTensor.Count(shape));
        if (bytes != expected)
            throw new ArgumentException($"Upload: {dtype}[{string.Join(", ", shape)}] needs {expected} bytes, got {bytes}");
    }

    public static void F32(string op, params ReadOnlySpan<DeviceTensor> tensors)
    {
        foreach (var t in tensors)
            if (t.DType != DType.F32) throw Fail(op, $"expected F32 activations, got {t.DType}", tensors.ToArray());
    }

    static void Rank(string op, int rank, params ReadOnlySpan<DeviceTensor> tensors)
    {
        foreach (var t in tensors)
            if (t.Rank != rank) throw Fail(op, $"expected rank {rank}", tensors.ToArray());
    }

    static void NoAlias(string op, DeviceTensor destination, params ReadOnlySpan<DeviceTensor> sources)
    {
        foreach (var source in sources)
            if (destination.Overlaps(source)) throw Fail(op, "destination may not alias a source", sources.ToArray());
    }

    // params spans: the checks run on every op of every token, so they must not allocate (arrays only when failing).
    static ArgumentException Fail(string op, string what, params DeviceTensor?[] tensors) =>
        new($"{op}: {what} (got {string.Join(", ", tensors.Where(t => t is not null))})");
}
