using System.Runtime.InteropServices;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Backends;

/// <summary>One op compared between a device backend and the cpu backend: the largest absolute error, the largest
/// error relative to the reference's largest magnitude, and whether every element was within
/// |Δ| ≤ Absolute + Relative·|reference|.</summary>
public sealed record KernelCheckResult(string Op, string Shape, double MaxAbsError, double MaxRelError, double Absolute,
    double Relative, bool Pass);

/// <summary>
/// Runs every op on a device backend and on the cpu backend with the same seeded random inputs and compares the
/// outputs (what <c>sonicverse check-kernels</c> prints). Edge shapes exercise the kernels' boundaries (below a warp,
/// not a multiple of a group or tile, the GEMV/GEMM switch at 64 rows, attention split over the keys); real shapes are
/// Mistral-7B's 4096/14336 GEMVs per weight dtype, its decode attention, MERT's 768-wide attention and a 32000-entry
/// log-softmax.
/// </summary>
public sealed class KernelCheck(IBackend device, IBackend cpu)
{
    static readonly DType[] WeightTypes = [DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0];
    int seed = 1;

    public List<KernelCheckResult> Run(bool small)
    {
        var results = new List<KernelCheckResult>();
        EdgeShapes(results);
        if (!small) RealShapes(results);
        return results;
    }

    /// <summary>A few GEMM cases — exact and split weights, tiles cut by n and m, GELU/ReLU, the residual add, a strided
    /// convolution — for a device whose GEMM differs from its other products: the tensor-core tiles, emulated on the
    /// CPU accelerator by a 32-lane warp (a rendezvous of OS threads per shuffle, so few and small).</summary>
    public List<KernelCheckResult> RunGemm()
    {
        var r = new List<KernelCheckResult>();
        r.Add(MatMul(DType.F16, 70, 37, 40, true, Activation.Gelu));  // weights exact in TF32: two products a block
        r.Add(MatMul(DType.F32, 70, 37, 70, false, Activation.Relu));  // tiles cut by n and m
        r.Add(MatMulAccumulate(DType.Q4_0, 65, 64, 24));
        r.Add(Conv1d(3, 140, 40, 3, 2, 1, 1));
        // The small-batch product (9-64 rows of x, k a multiple of 64): column blocks cut by n, weight rows cut by m,
        // split over k, each weight format (F32 splits its weights as well), up to its 8 column blocks. (The residual
        // add: the model test of a batched step, BatchedDecodingTests.)
        r.Add(MatMul(DType.Q4_0, 9, 512, 24, true));
        r.Add(MatMul(DType.F16, 36, 128, 40, true, Activation.Gelu));
        r.Add(MatMul(DType.F32, 20, 128, 16, false, Activation.Relu));
        r.Add(MatMul(DType.Q8_0, 64, 128, 20, false));
        r.Add(MatMul(DType.BF16, 17, 128, 32, true));
        r.Add(MatMulAccumulate(DType.BF16, 36, 64, 40));  // a LoRA B product: rank 64, one k-step
        r.Add(MatMul(DType.Q8_0, 12, 192, 24, false));  // quantized rows not of whole 128s: read element by element
        // Its shared form (q/k/v, gate/up of a batched step): three matrices written directly, two split over k.
        r.Add(MatMulShared(DType.F16, 12, 3, 128));
        r.Add(MatMulShared(DType.Q4_0, 12, 2, 256));
        r.Add(SwiGlu(DType.Q4_0, 12, 256, 32));  // gate and up split over k: the split sum gates
        r.Add(MatMulAccumulateEach(DType.BF16, 64, 3, 12));  // LoRA B products of a batched step, each its own x
        return r;
    }

    void EdgeShapes(List<KernelCheckResult> r)
    {
        foreach (var dtype in WeightTypes)
        {
            bool quant = dtype is DType.Q8_0 or DType.Q4_0;
            foreach (int n in new[] { 1, 3, 64, 65 })
            {
                r.Add(MatMul(dtype, n, quant ? 96 : 37, 13, n == 3));
                r.Add(MatMul(dtype, n, quant ? 256 : 64, 7, false));
            }
            r.Add(MatMul(dtype, 1, 32, 6, false));  // one block a row: fewer chunks than a group's threads
            foreach (int n in new[] { 1, 3, 70 })  // the activations fused into the single-row GEMV, the GEMV, the GEMM
            {
                r.Add(MatMul(dtype, n, quant ? 96 : 64, 13, true, Activation.Gelu));
                r.Add(MatMul(dtype, n, quant ? 96 : 64, 13, false, Activation.Relu));
            }
            r.Add(MatMul(dtype, 9, 1024, 16, true, Activation.Gelu));  // split over k: the split sum applies it
            r.Add(MatMul(dtype, 9, 1024, 16, true));  // few tiles, long k: the GEMM split over k
            foreach (int n in new[] { 1, 9, 70 }) r.Add(MatMulAccumulate(dtype, n, 1024, 24));
            r.Add(MatMulShared(dtype, 1, 3));
            r.Add(MatMulShared(dtype, 5, 2));
            // k = 128: x and the norm read 16 bytes at a time; 96/100: element by element or quantized blocks.
            foreach (var (n, k, count) in new[] { (1, quant ? 256 : 128, 3), (1, quant ? 96 : 100, 1), (3, 128, 2) })
                r.Add(MatMulNormed(dtype, n, k, count));
            foreach (var (n, k, ffn) in new[] { (1, quant ? 256 : 128, 37), (1, quant ? 96 : 100, 6), (2, 128, 10) })
                r.Add(SwiGlu(dtype, n, k, ffn));
            // q, k, v with RoPE folded in (one row: pairs of a head per group, both layouts) or after them (two rows).
            foreach (var layout in new[] { RopeLayout.HalfSplit, RopeLayout.Interleaved })
            {
                r.Add(MatMulNormedRotated(dtype, layout, 1, quant ? 256 : 128, 4, 2, 16));
                r.Add(MatMulNormedRotated(dtype, layout, 2, 64, 2, 1, 8));
            }
            r.Add(MatMulNormedRotated(dtype, RopeLayout.HalfSplit, 1, 64, 3, 1, 6));  // heads not of whole groups: RoPE after
        }
        foreach (int count in new[] { 3, 37, 1000 }) Elementwise(r, count);
        foreach (var (n, d) in new[] { (1, 3), (3, 37), (2, 4096) }) Norms(r, n, d);
        r.Add(Rope(RopeLayout.HalfSplit, 3, 2, 10));
        r.Add(Rope(RopeLayout.Interleaved, 3, 2, 10));
        r.Add(RopePair(RopeLayout.HalfSplit, 3, 4, 2, 10));
        r.Add(RopePair(RopeLayout.Interleaved, 2, 8, 2, 6));
        foreach (var a in new[] { (2, 4, 2, 5, 7, -1, 0), (3, 2, 1, 13, 9, 6, 0), (4, 4, 2, 8, 11, 7, 3), (1, 2, 1, 13, 300, 299, 0),
                     (1, 1, 1, 8, 260, 259, 100), (1, 1, 1, 5, 200, -1, 0), (9, 2, 1, 6, 40, 31, 0), (7, 2, 1, 3, 50, 43, 5),
                     // one query, heads of whole quads (16-byte staging): GQA 4, split keys, a window
                     (1, 8, 2, 16, 300, 299, 0), (1, 4, 1, 12, 37, 36, 0), (1, 8, 2, 8, 90, 89, 20),
                     // long enough to split over the keys (at least 4 tiles a split): one query, two causal queries
                     (1, 2, 1, 16, 600, 599, 0), (2, 1, 1, 8, 700, 698, 0) })
            r.Add(Attention(a.Item1, a.Item2, a.Item3, a.Item4, a.Item5, a.Item6, a.Item7));
        r.Add(AttentionDecodeBatch(3, 4, 2, 8, 40, 0));
        r.Add(AttentionDecodeBatch(5, 8, 2, 8, 50, 6));
        r.Add(ScatterRows(5, 24, 12));
        r.Add(LogSoftmax(2, 37));
        foreach (var dtype in WeightTypes) r.Add(Embedding(dtype, 5, 64));
        r.Add(Conv1d(4, 23, 4, 5, 2, 2, 2));
        r.Add(Layout(3, 13));
        // The LoRA B products of a decode step: 16-byte x rows (rank 16), element by element (rank 12), a half dtype.
        foreach (var (dtype, k, count) in new[] { (DType.F32, 16, 3), (DType.F32, 12, 2), (DType.F16, 64, 3) })
            r.Add(MatMulAccumulateEach(dtype, k, count));
        // ... which rotate q and k when a side path finishes them (one row: in the GEMV's epilogue, after reading both old
        // values of a pair; two rows: RoPE's own launch after).
        foreach (var layout in new[] { RopeLayout.HalfSplit, RopeLayout.Interleaved })
            foreach (int n in new[] { 1, 2 })
                r.Add(MatMulAccumulateEach(DType.F32, 16, 3, n, [32, 16, 16], layout));
        foreach (var (a, b, c) in new[] { (3, 37, 13), (2, 1, 5), (1, 70, 40) }) r.Add(SumMiddle(a, b, c));
    }

    void RealShapes(List<KernelCheckResult> r)
    {
        foreach (var dtype in WeightTypes)
        {
            r.Add(MatMul(dtype, 1, 4096, 14336, false));
            r.Add(MatMul(dtype, 1, 14336, 4096, false));
            r.Add(MatMul(dtype, 36, 4096, 4096, false));
            r.Add(MatMul(dtype, 256, 4096, 4096, true));
        }
        r.Add(MatMul(DType.F32, 500, 768, 3072, true));
        r.Add(Attention(1, 32, 8, 128, 4096, 4095, 0));
        r.Add(Attention(500, 12, 12, 64, 500, -1, 0));
        r.Add(Attention(512, 32, 8, 128, 512, 0, 0));
        r.Add(MatMulShared(DType.Q4_0, 36, 3, 4096, [4096, 1024, 1024]));  // a batched step's q, k, v
        foreach (var dtype in new[] { DType.F16, DType.Q4_0 })  // a decode step's q, k, v with RoPE, both layouts
            foreach (var layout in new[] { RopeLayout.HalfSplit, RopeLayout.Interleaved })
                r.Add(MatMulNormedRotated(dtype, layout, 1, 4096, 32, 8, 128));
        r.Add(SwiGlu(DType.Q4_0, 36, 4096, 14336));  // its norm, gate, up and gating
        r.Add(MatMulAccumulateEach(DType.BF16, 64, 3, 36, [4096, 1024, 1024]));  // a rank-64 side path's q/k/v B products
        r.Add(MatMulAccumulateEach(DType.BF16, 64, 3, 1, [4096, 1024, 1024], RopeLayout.HalfSplit, 128));  // ... a decode step's, rotated
        r.Add(AttentionDecodeBatch(36, 32, 8, 128, 512, 0));
        r.Add(ScatterRows(36, 1024, 36 * 512));
        r.Add(SumMiddle(13, 1000, 768));   // the projector's time sum over the canvas
        r.Add(LogSoftmax(1, 32000));
        Norms(r, 36, 4096);
    }

    KernelCheckResult MatMul(DType dtype, int n, int k, int m, bool bias, Activation activation = Activation.None)
    {
        var w = WeightBytes(dtype, m, k);
        var x = Floats(n * k);
        var b = Floats(m);
        string name = $"MatMul {dtype}{(bias ? " +bias" : "")}{(activation == Activation.None ? "" : " " + activation)}";
        return Compare(name, $"n={n} k={k} m={m}", 1e-4, 1e-3, [n, m], be =>
        {
            DeviceTensor[] t = [be.Upload(x, n, k), be.Upload(w, dtype, m, k), be.Upload(b, m)];
            return Owning(be, t, y => be.Ops.MatMul(t[0], t[1], bias ? t[2] : null, y, activation));
        });
    }

    /// <summary>The RMSNorm-fused products: each product and then the normalised x, side by side in the output.</summary>
    KernelCheckResult MatMulNormed(DType dtype, int n, int k, int count)
    {
        int[] ms = [40, 9, 24];
        var weights = Enumerable.Range(0, count).Select(i => WeightBytes(dtype, ms[i], k)).ToArray();
        var x = Floats(n * k);
        var norm = Floats(k);
        int total = ms.Take(count).Sum() + k;
        return Compare($"MatMulNormed {dtype}", $"n={n} k={k} m={string.Join("+", ms.Take(count))}", 1e-4, 1e-3, [n, total], be =>
        {
            var w = weights.Select((bytes, i) => be.Upload(bytes, dtype, ms[i], k)).ToArray();
            DeviceTensor[] t = [be.Upload(x, n, k), be.Upload(norm, k), .. w];
            return Owning(be, t, y =>
            {
                var parts = Enumerable.Range(0, count).Select(i => be.Allocate(DType.F32, n, ms[i])).Append(be.Allocate(DType.F32, n, k))
                    .ToArray();
                be.Ops.MatMulNormed(t[0], t[1], 1e-5f, parts[^1], w, parts[..^1]);
                WriteSideBySide(be, parts, y);
            });
        });
    }

    /// <summary>An attention block's inputs (<see cref="IOps.MatMulNormed"/> with a <see cref="RotaryEmbedding"/>): q, k,
    /// v of the normed rows with RoPE on q and k at positions 617·i + 5, then the normalised x, side by side.</summary>
    KernelCheckResult MatMulNormedRotated(DType dtype, RopeLayout layout, int n, int k, int heads, int kvHeads, int d)
    {
        int[] ms = [heads * d, kvHeads * d, kvHeads * d];
        var weights = ms.Select(m => WeightBytes(dtype, m, k)).ToArray();
        var x = Floats(n * k);
        var norm = Floats(k);
        int[] positions = [.. Enumerable.Range(0, n).Select(i => 617 * i + 5)];
        int total = ms.Sum() + k;
        return Compare($"MatMulNormed {dtype} + RoPE {layout}", $"n={n} k={k} heads={heads}+{kvHeads} d={d}", 1e-4, 1e-3, [n, total], be =>
        {
            var w = weights.Select((bytes, i) => be.Upload(bytes, dtype, ms[i], k)).ToArray();
            DeviceTensor[] t = [be.Upload(x, n, k), be.Upload(norm, k), be.Upload(positions, n), .. w];
            return Owning(be, t, y =>
            {
                var parts = ms.Select(m => be.Allocate(DType.F32, n, m)).Append(be.Allocate(DType.F32, n, k)).ToArray();
                be.Ops.MatMulNormed(t[0], t[1], 1e-5f, parts[^1], w, parts[..^1], new RotaryEmbedding(t[2], 1e6f, layout, d));
                WriteSideBySide(be, parts, y);
            });
        });
    }

    /// <summary>The RMSNorm-fused SwiGLU: y = silu(normed·gateᵀ)·(normed·upᵀ), then the normalised x beside it.</summary>
    KernelCheckResult SwiGlu(DType dtype, int n, int k, int ffn)
    {
        var gate = WeightBytes(dtype, ffn, k);
        var up = WeightBytes(dtype, ffn, k);
        var x = Floats(n * k);
        var norm = Floats(k);
        return Compare($"SwiGlu {dtype}", $"n={n} k={k} ffn={ffn}", 1e-4, 1e-3, [n, ffn + k], be =>
        {
            DeviceTensor[] t = [be.Upload(x, n, k), be.Upload(norm, k), be.Upload(gate, dtype, ffn, k), be.Upload(up, dtype, ffn, k)];
            return Owning(be, t, y =>
            {
                using var upScratch = be.Allocate(DType.F32, n, ffn);
                DeviceTensor h = be.Allocate(DType.F32, n, ffn), normed = be.Allocate(DType.F32, n, k);
                be.Ops.SwiGlu(t[0], t[1], 1e-5f, normed, t[2], t[3], upScratch, h);
                WriteSideBySide(be, [h, normed], y);
            });
        });
    }

    /// <summary>Outputs [n, m_i] laid side by side into y [n, Σ m_i] (row r of each, one after another), then disposed.</summary>
    static void WriteSideBySide(IBackend be, DeviceTensor[] parts, DeviceTensor y)
    {
        int n = y.Dim(0), total = y.Dim(1);
        var host = new float[n * total];
        int offset = 0;
        foreach (var part in parts)
        {
            int m = part.Dim(1);
            var values = new float[n * m];
            be.Download(part, values);
            for (int r = 0; r < n; r++) values.AsSpan(r * m, m).CopyTo(host.AsSpan(r * total + offset));
            offset += m;
            part.Dispose();
        }
        be.Write(host, y);
    }

    /// <summary>Two or three products over one x (one launch: the GEMV, or the small-batch product); the outputs are
    /// compared side by side. <paramref name="rows"/>: the weights' rows (default 40, 9, 24).</summary>
    KernelCheckResult MatMulShared(DType dtype, int n, int count, int k = 512, int[]? rows = null)
    {
        int[] ms = rows ?? [40, 9, 24];
        var weights = Enumerable.Range(0, count).Select(i => WeightBytes(dtype, ms[i], k)).ToArray();
        var x = Floats(n * k);
        int total = ms.Take(count).Sum();
        return Compare($"MatMulShared {dtype}", $"n={n} k={k} m={string.Join("+", ms.Take(count))}", 1e-4, 1e-3, [n, total], be =>
        {
            var w = weights.Select((bytes, i) => be.Upload(bytes, dtype, ms[i], k)).ToArray();
            DeviceTensor[] t = [be.Upload(x, n, k), .. w];
            return Owning(be, t, y =>
            {
                // Each product into its own tensor, then side by side into y ([n, m0 + m1 (+ m2)]).
                var parts = Enumerable.Range(0, count).Select(i => be.Allocate(DType.F32, n, ms[i])).ToArray();
                be.Ops.MatMulShared(t[0], w, parts);
                WriteSideBySide(be, parts, y);
            });
        });
    }

    /// <summary>ys[i] = residual, then ys[i] += x_i·W_iᵀ for count weights in one call, each with its own n rows of x
    /// (the LoRA B products of a step), laid one after another into y. <paramref name="rows"/>: the weights' rows
    /// (default 40, 9, 24). With <paramref name="layout"/>, ys[0] and ys[1] (q, k of heads of
    /// <paramref name="headDim"/>) are then rotated at positions 617·i + 5.</summary>
    KernelCheckResult MatMulAccumulateEach(DType dtype, int k, int count, int n = 1, int[]? rows = null, RopeLayout? layout = null,
        int headDim = 8)
    {
        int[] ms = rows ?? [40, 9, 24];
        var weights = Enumerable.Range(0, count).Select(i => WeightBytes(dtype, ms[i], k)).ToArray();
        var x = Floats(count * n * k);
        int total = n * ms.Take(count).Sum();
        var residual = Floats(total);
        int[] positions = [.. Enumerable.Range(0, n).Select(i => 617 * i + 5)];
        string rope = layout is { } l ? $" + RoPE {l}" : "";
        return Compare($"MatMulAccumulateEach {dtype}{rope}", $"n={n} k={k} m={string.Join("+", ms.Take(count))}", 1e-4, 1e-3,
            [1, total], be =>
        {
            var w = weights.Select((bytes, i) => be.Upload(bytes, dtype, ms[i], k)).ToArray();
            DeviceTensor[] t = [be.Upload(x, count * n, k), be.Upload(positions, n), .. w];
            return Owning(be, t, y =>
            {
                var parts = Enumerable.Range(0, count)
                    .Select(i => be.Upload(residual.AsSpan(n * ms.Take(i).Sum(), n * ms[i]), n, ms[i])).ToArray();
                be.Ops.MatMulAccumulateEach(t[0], w, parts,
                    layout is { } rotated ? new RotaryEmbedding(t[1], 1e6f, rotated, headDim) : null);
                var host = new float[total];
                for (int i = 0, offset = 0; i < count; offset += n * ms[i++])
                {
                    be.Download(parts[i], host.AsSpan(offset, n * ms[i]));
                    parts[i].Dispose();
                }
                be.Write(host, y);
            });
        });
    }

    /// <summary>y = residual, then y += x·Wᵀ (the GEMV, split GEMM and plain GEMM epilogues).</summary>
    KernelCheckResult MatMulAccumulate(DType dtype, int n, int k, int m)
    {
        var w = WeightBytes(dtype, m, k);
        var x = Floats(n * k);
        var residual = Floats(n * m);
        return Compare($"MatMulAccumulate {dtype}", $"n={n} k={k} m={m}", 1e-4, 1e-3, [n, m], be =>
        {
            DeviceTensor[] t = [be.Upload(x, n, k), be.Upload(w, dtype, m, k), be.Upload(residual, n, m)];
            return Owning(be, t, y =>
            {
                be.Ops.Copy(t[2], 0, (long)n * m, y, 0);
                be.Ops.MatMulAccumulate(t[0], t[1], y);
            });
        });
    }

    void Elementwise(List<KernelCheckResult> r, int count)
    {
        var a = Floats(count, 6f);
        var b = Floats(count, 6f);
        string shape = $"{count}";
        r.Add(Unary("Add", shape, a, b, (o, x, z, y) => o.Add(x, z, y), 0, 0));
        r.Add(Unary("Scale", shape, a, b, (o, x, _, y) => o.Scale(x, -1.7f, y), 0, 0));
        r.Add(Unary("Relu", shape, a, b, (o, x, _, y) => o.Relu(x, y), 0, 0));
        r.Add(Unary("Gelu", shape, a, b, (o, x, _, y) => o.Gelu(x, y), 1e-6, 1e-5));
        r.Add(Unary("SiluMul", shape, a, b, (o, x, z, y) => o.SiluMul(x, z, y), 1e-6, 1e-5));
    }

    void Norms(List<KernelCheckResult> r, int n, int d)
    {
        var x = Floats(n * d, 3f);
        var w = Floats(d);
        var b = Floats(d);
        var cw = Floats(n);
        var cb = Floats(n);
        string shape = $"n={n} d={d}";
        r.Add(Compare("RmsNorm", shape, 1e-5, 1e-4, [n, d], be => Bind(be, [(x, [n, d]), (w, [d])], (o, t, y) => o.RmsNorm(t[0], t[1], 1e-6f, y))));
        r.Add(Compare("LayerNorm", shape, 1e-5, 1e-4, [n, d], be => Bind(be, [(x, [n, d]), (w, [d]), (b, [d])], (o, t, y) => o.LayerNorm(t[0], t[1], t[2], 1e-5f, y))));
        r.Add(Compare("ChannelNorm", shape, 1e-5, 1e-4, [n, d], be => Bind(be, [(x, [n, d]), (cw, [n]), (cb, [n])], (o, t, y) => o.ChannelNorm(t[0], t[1], t[2], 1e-5f, y))));
    }

    /// <summary>q and k rotated in one call: q [n, heads, d] and k [n, kvHeads, d] side by side in the compared output.</summary>
    KernelCheckResult RopePair(RopeLayout layout, int n, int heads, int kvHeads, int d)
    {
        var q = Floats(n * heads * d);
        var k = Floats(n * kvHeads * d);
        int[] positions = [.. Enumerable.Range(0, n).Select(i => i * 617 + 3)];
        return Compare($"Rope {layout} q+k", $"n={n} heads={heads}+{kvHeads} d={d}", 1e-5, 1e-5, [n * (heads + kvHeads) * d], be =>
        {
            DeviceTensor[] t = [be.Upload(positions, n), be.Upload(q, n, heads, d), be.Upload(k, n, kvHeads, d)];
            return Owning(be, t, y =>
            {
                be.Ops.Rope(t[0], 1e6f, layout, t[1], t[2]);
                be.Ops.Copy(t[1], 0, q.Length, y, 0);
                be.Ops.Copy(t[2], 0, k.Length, y, q.Length);
            });
        });
    }

    KernelCheckResult Rope(RopeLayout layout, int n, int heads, int d)
    {
        var x = Floats(n * heads * d);
        int[] positions = [.. Enumerable.Range(0, n).Select(i => i * 617)];
        return Compare($"Rope {layout}", $"n={n} heads={heads} d={d}", 1e-5, 1e-5, [n, heads, d], be =>
        {
            DeviceTensor[] t = [be.Upload(positions, n)];
            return Owning(be, t, y =>
            {
                be.Write(x, y);
                be.Ops.Rope(t[0], 1e6f, layout, y);
            });
        });
    }

    KernelCheckResult Attention(int nq, int hq, int hkv, int d, int keyCount, int first, int window)
    {
        int capacity = keyCount + 2;
        var q = Floats(nq * hq * d);
        var k = Floats(capacity * hkv * d);
        var v = Floats(capacity * hkv * d);
        float scale = 1f / MathF.Sqrt(d);
        return Compare("Attention", $"nq={nq} hq={hq} hkv={hkv} d={d} keys={keyCount} first={first} window={window}", 1e-5, 1e-4,
            [nq, hq * d], be => Bind(be, [(q, [nq, hq, d]), (k, [capacity, hkv, d]), (v, [capacity, hkv, d])],
                (o, t, y) => o.Attention(t[0], t[1], t[2], keyCount, first, window, scale, y)));
    }

    /// <summary>n sequences' decode queries against their own rows (key counts 1, 2, … up to the capacity, cycling) of
    /// one shared cache, and the k rows' scatter into it.</summary>
    KernelCheckResult AttentionDecodeBatch(int n, int hq, int hkv, int d, int capacity, int window)
    {
        var q = Floats(n * hq * d);
        var k = Floats(n * capacity * hkv * d);
        var v = Floats(n * capacity * hkv * d);
        int[] starts = Enumerable.Range(0, n).Select(i => i * capacity).ToArray();
        int[] counts = Enumerable.Range(0, n).Select(i => 1 + i * 37 % capacity).ToArray();
        float scale = 1f / MathF.Sqrt(d);
        return Compare("AttentionDecodeBatch", $"n={n} hq={hq} hkv={hkv} d={d} capacity={capacity} window={window}", 1e-5, 1e-4,
            [n, hq * d], be =>
            {
                DeviceTensor[] t = [be.Upload(q, n, hq, d), be.Upload(k, n * capacity, hkv, d), be.Upload(v, n * capacity, hkv, d),
                    be.Upload(starts, n), be.Upload(counts, n)];
                return Owning(be, t, y => be.Ops.AttentionDecodeBatch(t[0], t[1], t[2], t[3], t[4], window, scale, y));
            });
    }

    KernelCheckResult ScatterRows(int n, int width, int rows)
    {
        var src = Floats(n * width);
        int[] targets = Enumerable.Range(0, n).Select(i => (i * 7 + 3) % rows).ToArray();  // distinct while rows ≥ n and gcd(7, rows) = 1
        return Compare("ScatterRows", $"n={n} w={width} rows={rows}", 0, 0, [rows, width], be =>
        {
            DeviceTensor[] t = [be.Upload(src, n, width), be.Upload(targets, n)];
            return Owning(be, t, y => be.Ops.ScatterRows(t[0], t[1], y));
        });
    }

    KernelCheckResult LogSoftmax(int n, int v)
    {
        var x = Floats(n * v, 10f);
        return Compare("LogSoftmax", $"n={n} v={v}", 1e-4, 1e-5, [n, v], be => Bind(be, [(x, [n, v])], (o, t, y) => o.LogSoftmax(t[0], y)));
    }

    KernelCheckResult Embedding(DType dtype, int vocab, int d)
    {
        var table = WeightBytes(dtype, vocab, d);
        int[] ids = [4, 0, 2];
        return Compare($"Embedding {dtype}", $"V={vocab} d={d}", 0, 0, [ids.Length, d], be =>
        {
            DeviceTensor[] t = [be.Upload(table, dtype, vocab, d), be.Upload(ids, ids.Length)];
            return Owning(be, t, y => be.Ops.Embedding(t[0], t[1], y));
        });
    }

    KernelCheckResult Conv1d(int cin, int t, int cout, int kernel, int stride, int padding, int groups)
    {
        int tOut = (t + 2 * padding - kernel) / stride + 1;
        var x = Floats(cin * t);
        var w = Floats(cout * cin / groups * kernel);
        var b = Floats(cout);
        return Compare("Conv1d", $"cin={cin} t={t} cout={cout} k={kernel} s={stride} p={padding} g={groups}", 1e-5, 1e-4,
            [cout, tOut], be => Bind(be, [(x, [cin, t]), (w, [cout, cin / groups, kernel]), (b, [cout])],
                (o, ts, y) => o.Conv1d(ts[0], ts[1], ts[2], stride, padding, groups, y)));
    }

    KernelCheckResult Layout(int a, int b)
    {
        var x = Floats(a * b);
        return Compare("Transpose", $"{a}x{b}", 0, 0, [b, a], be => Bind(be, [(x, [a, b])], (o, t, y) => o.Transpose(t[0], y)));
    }

    KernelCheckResult SumMiddle(int a, int b, int c)
    {
        var x = Floats(a * b * c);
        // b terms in [-1, 1] summed in another order: rounding grows with b.
        return Compare("SumMiddle", $"{a}x{b}x{c}", 1e-6 * b, 1e-5, [a, c],
            be => Bind(be, [(x, [a, b, c])], (o, t, y) => o.SumMiddle(t[0], y)));
    }

    KernelCheckResult Unary(string op, string shape, float[] a, float[] b, Action<IOps, DeviceTensor, DeviceTensor, DeviceTensor> run,
        double absolute, double relative) =>
        Compare(op, shape, absolute, relative, [a.Length],
            be => Bind(be, [(a, [a.Length]), (b, [b.Length])], (o, t, y) => run(o, t[0], t[1], y)));

    /// <summary>Uploads the inputs to <paramref name="backend"/> and returns the launch; the inputs are freed after it ran.</summary>
    static Action<DeviceTensor> Bind(IBackend backend, (float[] Values, int[] Shape)[] inputs,
        Action<IOps, DeviceTensor[], DeviceTensor> op)
    {
        var tensors = inputs.Select(i => backend.Upload(i.Values, i.Shape)).ToArray();
        return Owning(backend, tensors, y => op(backend.Ops, tensors, y));
    }

    /// <summary>The launch, followed by a synchronize and the disposal of its input tensors.</summary>
    static Action<DeviceTensor> Owning(IBackend backend, DeviceTensor[] tensors, Action<DeviceTensor> launch) => y =>
    {
        launch(y);
        backend.Synchronize();
        foreach (var t in tensors) t.Dispose();
    };

    KernelCheckResult Compare(string op, string shape, double absolute, double relative, int[] outShape,
        Func<IBackend, Action<DeviceTensor>> prepare)
    {
        var expected = RunOn(cpu, outShape, prepare);
        var actual = RunOn(device, outShape, prepare);
        double scaleRef = expected.Length == 0 ? 1 : Math.Max(1e-30, expected.Max(v => Math.Abs((double)v)));
        double maxAbs = 0;
        bool pass = true;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)expected[i] - actual[i]);
            if (!(diff <= absolute + relative * Math.Abs(expected[i]))) pass = false;
            if (!(diff <= maxAbs)) maxAbs = double.IsNaN(diff) ? double.PositiveInfinity : diff;
        }
        return new KernelCheckResult(op, shape, maxAbs, maxAbs / scaleRef, absolute, relative, pass);
    }

    static float[] RunOn(IBackend backend, int[] outShape, Func<IBackend, Action<DeviceTensor>> prepare)
    {
        using var y = backend.Allocate(DType.F32, outShape);
        prepare(backend)(y);
        var values = new float[y.ElementCount];
        backend.Download(y, values);
        return values;
    }

    float[] Floats(int count, float scale = 1f)
    {
        var rng = new Random(seed++);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Stored bytes of a random [rows, k] weight: values in ±1 (±0.02·127 or ±0.05·8 per quantized block).</summary>
    byte[] WeightBytes(DType dtype, int rows, int k)
    {
        var rng = new Random(seed++);
        int count = rows * k;
        switch (dtype)
        {
            case DType.F32:
                return MemoryMarshal.AsBytes(Floats(count).AsSpan()).ToArray();
            case DType.F16:
                return MemoryMarshal.AsBytes(Floats(count).Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray().AsSpan()).ToArray();
            case DType.BF16:
                return MemoryMarshal.AsBytes(Floats(count).Select(TensorConvert.FloatToBF16).ToArray().AsSpan()).ToArray();
        }
        bool q8 = dtype == DType.Q8_0;
        int blockBytes = q8 ? 34 : 18;
        var bytes = new byte[count / 32 * blockBytes];
        rng.NextBytes(bytes);
        for (int b = 0; b < count / 32; b++)
        {
            ushort scale = BitConverter.HalfToUInt16Bits((Half)((q8 ? 0.008 : 0.12) * (0.5 + rng.NextDouble())));
            BitConverter.TryWriteBytes(bytes.AsSpan(b * blockBytes, 2), scale);
        }
        return bytes;
    }
}
