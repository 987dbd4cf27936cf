namespace SonicVerse.Runtime.Backends;

/// <summary>How RoPE pairs the dimensions of a head (SPEC §6). HF safetensors: (j, j + d/2), "rotate_half";
/// GGUF (q/k rows permuted by the converter): adjacent pairs (2j, 2j + 1). A property of the loaded weights.</summary>
public enum RopeLayout { HalfSplit, Interleaved }

/// <summary>A rotary position embedding as <see cref="IOps.Rope"/> applies it: each row's position ([n] I32), theta, the
/// pairing of a head's elements and the head size. Given to the products that finish an attention block's q and k
/// (<see cref="IOps.MatMulNormed"/>, or <see cref="IOps.MatMulAccumulateEach"/> when a side path adds to them), it
/// rotates their first two outputs — <see cref="IOps.Rope"/> of ys[0], ys[1] seen as [n, heads, headDim] — on a GPU in
/// the same launch for a single row (the rotation in the products' epilogue).</summary>
public readonly record struct RotaryEmbedding(DeviceTensor Positions, float Theta, RopeLayout Layout, int HeadDim);

/// <summary>An element-wise function a matrix product applies to its outputs (after the bias): none, exact-erf GELU
/// (<see cref="IOps.Gelu"/>) or ReLU.</summary>
public enum Activation { None, Gelu, Relu }

/// <summary>
/// The one op interface every model computes through; each backend implements it and every ILGPU kernel is tested
/// against the <c>cpu</c> op of the same name. Parameter order everywhere: sources, then scalars, then destination.
/// Every op validates dtypes and shapes and throws <see cref="ArgumentException"/> naming the op and the shapes.
/// Activations are F32. Ops are queued on the backend's stream; results are visible after Download/Synchronize.
/// Unless stated, the destination may not alias a source.
/// </summary>
public interface IOps
{
    /// <summary>y = activation(x · Wᵀ (+ bias)). x: [n, k] F32; w: [m, k] in F32/F16/BF16/Q8_0/Q4_0 (rows of k values,
    /// quantized blocks along k); bias: [m] F32 or null; y: [n, m]. The activation is the same function as the
    /// element-wise op of its name, fused into the product on a GPU (one launch and one pass over y fewer).</summary>
    void MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, DeviceTensor y, Activation activation = Activation.None);

    /// <summary>y += x · Wᵀ, shapes as <see cref="MatMul"/> (no bias): a residual add fused into the product it follows,
    /// one launch and one pass over y fewer. Each output is the finished product added to y, so the result is the same as
    /// MatMul into a temporary and then <see cref="Add"/>.</summary>
    void MatMulAccumulate(DeviceTensor x, DeviceTensor w, DeviceTensor y);

    /// <summary>ys[i] = x · weights[i]ᵀ for two or three weights of one dtype that read the same x (q, k, v; gate, up):
    /// one launch instead of one each on a GPU for decode-sized x. Shapes as <see cref="MatMul"/>, no bias; the results
    /// are those of separate MatMul calls.</summary>
    void MatMulShared(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys);

    /// <summary>ys[i] += x_i · weights[i]ᵀ for two or three weights of one dtype and row length, each with its own n rows
    /// of x (the LoRA B products of q, k, v or gate, up): one launch instead of one each on a GPU for a decode step (one
    /// row) or a batched one (n rows, with tensor cores). x: [count·n, k] F32, x_i its rows i·n .. i·n + n − 1;
    /// weights[i]: [m_i, k]; ys[i]: [n, m_i]. The results are those of separate MatMulAccumulate calls. With
    /// <paramref name="rotary"/>, ys[0] and ys[1] (q, k) are then rotated (<see cref="RotaryEmbedding"/>).</summary>
    void MatMulAccumulateEach(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys,
        RotaryEmbedding? rotary = null);

    /// <summary>normed = <see cref="RmsNorm"/>(x; norm, eps), then ys[i] = normed · weights[i]ᵀ for one to three weights
    /// of one dtype (a decoder block's q, k, v; gate, up; the final norm's lm_head): the norm fused into the products
    /// that read it — on a GPU one launch for a single row. normed is always written (side paths read it). x, normed:
    /// [n, k], not overlapping; norm: [k]; weights and ys as <see cref="MatMul"/>. With <paramref name="rotary"/>, ys[0]
    /// and ys[1] (q, k) are then rotated (<see cref="RotaryEmbedding"/>).</summary>
    void MatMulNormed(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary = null);

    /// <summary>The first half of a SwiGLU MLP with its norm: normed = RMSNorm(x; norm, eps), y = silu(normed · gateᵀ) ·
    /// (normed · upᵀ) — <see cref="MatMulNormed"/> then <see cref="SiluMul"/>, on a GPU one launch for a single row.
    /// upScratch [n, ffn] may receive normed · upᵀ. x, normed: [n, k]; gate, up: [ffn, k] of one dtype; y: [n, ffn].</summary>
    void SwiGlu(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, DeviceTensor gate, DeviceTensor up,
        DeviceTensor upScratch, DeviceTensor y);

    /// <summary>y = a + b, same shapes (y may alias a or b).</summary>
    void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y);

    /// <summary>y = x · s (y may alias x).</summary>
    void Scale(DeviceTensor x, float s, DeviceTensor y);

    /// <summary>y = x · rsqrt(mean(x²) + eps) · w per row. x: [n, d]; w: [d] (y may alias x).</summary>
    void RmsNorm(DeviceTensor x, DeviceTensor w, float eps, DeviceTensor y);

    /// <summary>y = (x − mean) / sqrt(var + eps) · w + b per row, biased variance. x: [n, d]; w, b: [d] (y may alias x).</summary>
    void LayerNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y);

    /// <summary>Per-channel norm over the whole time axis (GroupNorm with one group per channel), two-pass statistics.
    /// x: [c, t]; w, b: [c]; y: [c, t] (y may alias x).</summary>
    void ChannelNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y);

    /// <summary>Exact erf GELU: 0.5·x·(1 + erf(x/√2)) (y may alias x).</summary>
    void Gelu(DeviceTensor x, DeviceTensor y);

    void Relu(DeviceTensor x, DeviceTensor y);

    /// <summary>y = silu(gate) · up, same shapes (y may alias gate or up).</summary>
    void SiluMul(DeviceTensor gate, DeviceTensor up, DeviceTensor y);

    /// <summary>Rotary position embedding in place. q: [n, heads, headDim]; positions: [n] I32; k, when given:
    /// [n, kvHeads, headDim], rotated at the same positions in the same call (one launch for a layer's q and k).</summary>
    void Rope(DeviceTensor positions, float theta, RopeLayout layout, DeviceTensor q, DeviceTensor? k = null);

    /// <summary>
    /// Multi-head attention with grouped KV heads. q: [nq, hq, d]; k, v: [capacity, hkv, d] of which the first
    /// <paramref name="keyCount"/> rows are used; y: [nq, hq·d] (heads concatenated head-major).
    /// Query head h uses KV head h / (hq / hkv). Scores are scaled by <paramref name="scale"/>, softmax in fp32.
    /// <paramref name="firstQueryPosition"/> &lt; 0: bidirectional (every query sees every key). Otherwise causal:
    /// query i sits at key position firstQueryPosition + i and sees keys j ≤ that position, and with
    /// <paramref name="slidingWindow"/> &gt; 0 only the last slidingWindow of them (itself included).
    /// </summary>
    void Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keyCount, int firstQueryPosition,
        int slidingWindow, float scale, DeviceTensor y);

    /// <summary>One decode query per sequence, each against its own rows of a cache shared by the batch (a batched
    /// decode step in one launch instead of one per sequence). q: [n, hq, d]; k, v: [rows, hkv, d]; cacheStarts: [n] I32,
    /// the first cache row of sequence i; keyCounts: [n] I32, its keys (its query is at position keyCounts[i] − 1,
    /// causal, with the sliding window as in <see cref="Attention"/>); y: [n, hq·d]. The counts must keep each sequence
    /// inside the cache (checked on the cpu backend, not on a GPU).</summary>
    void AttentionDecodeBatch(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor cacheStarts, DeviceTensor keyCounts,
        int slidingWindow, float scale, DeviceTensor y);

    /// <summary>dst[rows[i]] = src[i]: each row of src to its row of dst (rows distinct, inside dst; checked on the cpu
    /// backend). src: [n, w] F32; rows: [n] I32; dst: [R, w] F32 — e.g. each sequence's new k row into the shared cache.</summary>
    void ScatterRows(DeviceTensor src, DeviceTensor rows, DeviceTensor dst);

    /// <summary>Row-wise log-softmax. x: [n, v]; y: [n, v] (y may alias x).</summary>
    void LogSoftmax(DeviceTensor x, DeviceTensor y);

    /// <summary>y[i] = table[ids[i]], converted to F32. table: [V, d] in F32/F16/BF16/Q8_0/Q4_0; ids: [n] I32; y: [n, d].</summary>
    void Embedding(DeviceTensor table, DeviceTensor ids, DeviceTensor y);

    /// <summary>1-D convolution (cross-correlation, zero padding on both sides). x: [cin, t]; w: [cout, cin/groups, k] F32;
    /// bias: [cout] or null; y: [cout, (t + 2·padding − k) / stride + 1].</summary>
    void Conv1d(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, int stride, int padding, int groups, DeviceTensor y);

    /// <summary>y = xᵀ. x: [a, b]; y: [b, a].</summary>
    void Transpose(DeviceTensor x, DeviceTensor y);

    /// <summary>Copies <paramref name="count"/> elements of the same dtype: src[srcOffset..] → dst[dstOffset..]
    /// (KV-cache writes, splicing rows).</summary>
    void Copy(DeviceTensor src, long srcOffset, long count, DeviceTensor dst, long dstOffset);

    /// <summary>Sum over the middle axis. x: [a, b, c]; y: [a, c].</summary>
    void SumMiddle(DeviceTensor x, DeviceTensor y);
}
