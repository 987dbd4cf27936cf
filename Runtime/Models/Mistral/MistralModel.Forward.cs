using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>Rows [Row, Row + Count) of a forward pass belong to <see cref="State"/>'s sequence, appended at its position.</summary>
readonly record struct MistralSegment(MistralState State, int Row, int Count);

public sealed partial class MistralModel
{
    /// <summary>
    /// The decoder over the rows already in <c>s.X</c> (HF MistralModel.forward), one or more sequences side by side:
    /// h = x + o(Attn(rope(q(RMS₁ x)), rope(k(RMS₁ x)), v(RMS₁ x))); out = h + down(silu(gate(RMS₂ h)) · up(RMS₂ h));
    /// then the final norm and lm_head on each sequence's last row. Every linear layer reads its weight once for all
    /// rows; attention runs per sequence against its own cache. logits: [segments, vocab].
    /// </summary>
    DeviceTensor Run(MistralScratch s, IReadOnlyList<MistralSegment> segments, DeviceTensor lastHidden, DeviceTensor logits)
    {
        var ops = Backend.Ops;
        var c = Config;
        bool lora = segments[0].State.UseLora;
        var trace = segments.Count == 1 ? segments[0].State : null;
        var (queries, attended) = SegmentViews(s, segments);
        // One sequence: k and v are projected straight into its cache rows (no copies); several: into the batch's
        // k, v rows, then each sequence's rows are copied into its own cache.
        bool direct = segments.Count == 1 && segments[0].Count == s.X.Dim(0);
        bool pooled = IsPooledDecodeStep(segments);
        TraceHidden(trace, 0, s.X);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];

            // Attention: q, k, v of the normed stream; RoPE on q and k (each row at its own position);
            // k, v appended to each sequence's cache.
            var (keys, keysFlat, values) = direct ? CacheRows(segments[0], l) : (s.K, s.KFlat, s.V);
            if (!MistralLinear.ApplyNormed(ops, s.X, b.AttnNorm, c.RmsNormEps, s.Normed, lora, s, [b.Q, b.K, b.V],
                    [s.QFlat, keysFlat, values], new RotaryEmbedding(s.Positions, c.RopeTheta, RopeLayout, c.HeadDim)))
                ops.Rope(s.Positions, c.RopeTheta, RopeLayout, s.Q, keys);
            if (pooled) AttendPooled(s, segments[0].State.Pool!, l);
            else
                for (int i = 0; i < segments.Count; i++)
                    Attend(s, segments[i], l, queries[i], attended[i], copyKv: !direct);
            b.O.ApplyAdd(ops, s.Attended, lora, s, s.X);

            // MLP: down(silu(gate(x)) · up(x)) of the normed stream.
            MistralLinear.SwiGlu(ops, s.X, b.MlpNorm, c.RmsNormEps, s.Normed, lora, s, b.Gate, b.Up, s.Up, s.Gate);
            b.Down.ApplyAdd(ops, s.Gate, lora, s, s.X);

            if (l < _blocks.Length - 1) TraceHidden(trace, l + 1, s.X);
        }
        TraceFinalNorm(trace, s);

        // The final norm and lm_head on each sequence's last row, in one fused call; lastHidden receives the normed rows.
        ops.MatMulNormed(LastRows(s, segments), _finalNorm, c.RmsNormEps, lastHidden, [_lmHead], [logits]);
        foreach (var seg in segments) seg.State.Advance(seg.Count);
        return logits;
    }

    /// <summary>Each sequence's last row of the residual stream, [segments, hidden]: in a decode step every row is its
    /// sequence's last (a view, no copy); otherwise they are gathered into the (by now unused) normed buffer.</summary>
    DeviceTensor LastRows(MistralScratch s, IReadOnlyList<MistralSegment> segments)
    {
        int count = segments.Count, width = Config.HiddenSize;
        bool decodeStep = true;
        for (int i = 0; i < count && decodeStep; i++) decodeStep = segments[i].Count == 1;
        if (decodeStep) return count == s.X.Dim(0) ? s.X : s.X.Rows(0, count);
        var rows = s.Normed.Rows(0, count);
        for (int i = 0; i < count; i++)
        {
            var seg = segments[i];
            Backend.Ops.Copy(s.X, (long)(seg.Row + seg.Count - 1) * width, width, rows, (long)i * width);
        }
        return rows;
    }

    /// <summary>A pooled decode step's attention for one layer: every sequence's new k, v row into its pool row (one
    /// scatter each), then every query against its own rows (one launch).</summary>
    void AttendPooled(MistralScratch s, MistralCachePool pool, int layer)
    {
        var ops = Backend.Ops;
        var c = Config;
        int rows = pool.Keys[layer].Dim(0);
        ops.ScatterRows(s.KFlat, s.CacheRows, pool.Keys[layer].View(rows, c.KvWidth));
        ops.ScatterRows(s.V, s.CacheRows, pool.Values[layer].View(rows, c.KvWidth));
        ops.AttentionDecodeBatch(s.Q, pool.Keys[layer], pool.Values[layer], s.CacheStarts, s.KeyCounts, c.SlidingWindow ?? 0,
            1f / MathF.Sqrt(c.HeadDim), s.Attended);
    }

    /// <summary>The sequence's next cache rows of a layer: keys [n, kvHeads, d] and as [n, kvWidth], values [n, kvWidth].</summary>
    (DeviceTensor Keys, DeviceTensor KeysFlat, DeviceTensor Values) CacheRows(MistralSegment seg, int layer)
    {
        var state = seg.State;
        var keys = state.KeyCache[layer].Rows(state.Position, seg.Count);
        return (keys, keys.View(seg.Count, Config.KvWidth),
            state.ValueCache[layer].Rows(state.Position, seg.Count).View(seg.Count, Config.KvWidth));
    }

    /// <summary>One sequence's k, v rows into its cache at its position (unless already projected there), then its
    /// queries against that cache.</summary>
    void Attend(MistralScratch s, MistralSegment seg, int layer, DeviceTensor q, DeviceTensor y, bool copyKv)
    {
        var ops = Backend.Ops;
        var c = Config;
        var state = seg.State;
        if (copyKv)
        {
            long rows = (long)seg.Count * c.KvWidth, from = (long)seg.Row * c.KvWidth, to = (long)state.Position * c.KvWidth;
            ops.Copy(s.K, from, rows, state.KeyCache[layer], to);
            ops.Copy(s.V, from, rows, state.ValueCache[layer], to);
        }
        ops.Attention(q, state.KeyCache[layer], state.ValueCache[layer], state.Position + seg.Count, state.Position,
            c.SlidingWindow ?? 0, 1f / MathF.Sqrt(c.HeadDim), y);
    }

    /// <summary>Each sequence's rows of q [n, heads, d] and of the attention output [n, heads·d], without copies.</summary>
    static (DeviceTensor[] Queries, DeviceTensor[] Attended) SegmentViews(MistralScratch s, IReadOnlyList<MistralSegment> segments)
    {
        if (segments.Count == 1) return ([s.Q], [s.Attended]);
        var queries = new DeviceTensor[segments.Count];
        var attended = new DeviceTensor[segments.Count];
        for (int i = 0; i < segments.Count; i++)
        {
            queries[i] = s.Q.Rows(segments[i].Row, segments[i].Count);
            attended[i] = s.Attended.Rows(segments[i].Row, segments[i].Count);
        }
        return (queries, attended);
    }

    /// <summary>HF's <c>hidden_states</c> tuple: index 0 the embeddings, i the output of block i, and the last index the
    /// final block's output after <c>model.norm</c>. Traced for single-sequence passes only.</summary>
    void TraceHidden(MistralState? state, int index, DeviceTensor x)
    {
        string name = $"llm.hidden_states.{index}";
        if (state?.Trace is not { } trace || !trace.Wants(name)) return;
        var values = new float[x.ElementCount];
        Backend.Download(x, values);
        trace.Record(name, [x.Dim(0), Config.HiddenSize], values);
    }

    void TraceFinalNorm(MistralState? state, MistralScratch s)
    {
        string name = $"llm.hidden_states.{_blocks.Length}";
        if (state?.Trace is not { } trace || !trace.Wants(name)) return;
        Backend.Ops.RmsNorm(s.X, _finalNorm, Config.RmsNormEps, s.Normed);
        TraceHidden(state, _blocks.Length, s.Normed);
    }
}
