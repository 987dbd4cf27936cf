using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

public sealed partial class MistralModel
{
    /// <summary>
    /// The decoder over the n rows already in <c>s.X</c> (HF MistralModel.forward):
    /// h = x + o(Attn(rope(q(RMS₁ x)), rope(k(RMS₁ x)), v(RMS₁ x))); out = h + down(silu(gate(RMS₂ h)) · up(RMS₂ h));
    /// then the final norm and lm_head on the last row only.
    /// </summary>
    DeviceTensor Run(MistralScratch s, MistralState state)
    {
        var ops = Backend.Ops;
        var c = Config;
        int n = s.Tokens, start = state.Position;
        bool lora = state.UseLora;
        TraceHidden(state, 0, s.X, n);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];

            // Attention: q, k, v of the normed stream; RoPE on q and k; k, v appended to the cache.
            ops.RmsNorm(s.X, b.AttnNorm, c.RmsNormEps, s.Normed);
            b.Q.Apply(ops, s.Normed, lora, s, s.QFlat);
            b.K.Apply(ops, s.Normed, lora, s, s.KFlat);
            b.V.Apply(ops, s.Normed, lora, s, s.V);
            // [n, heads·d] and [n, heads, d] are the same memory; Copy gives the op its 3-D shape.
            ops.Copy(s.QFlat, 0, s.QFlat.ElementCount, s.Q, 0);
            ops.Copy(s.KFlat, 0, s.KFlat.ElementCount, s.K, 0);
            ops.Rope(s.Positions, c.RopeTheta, RopeLayout, s.Q);
            ops.Rope(s.Positions, c.RopeTheta, RopeLayout, s.K);
            long rowOffset = (long)start * c.KvWidth;
            ops.Copy(s.K, 0, s.K.ElementCount, state.KeyCache[l], rowOffset);
            ops.Copy(s.V, 0, s.V.ElementCount, state.ValueCache[l], rowOffset);
            ops.Attention(s.Q, state.KeyCache[l], state.ValueCache[l], start + n, start, c.SlidingWindow ?? 0,
                1f / MathF.Sqrt(c.HeadDim), s.Attended);
            b.O.Apply(ops, s.Attended, lora, s, s.Projected);
            ops.Add(s.X, s.Projected, s.X);

            // MLP: down(silu(gate(x)) · up(x)) of the normed stream.
            ops.RmsNorm(s.X, b.MlpNorm, c.RmsNormEps, s.Normed);
            b.Gate.Apply(ops, s.Normed, lora, s, s.Gate);
            b.Up.Apply(ops, s.Normed, lora, s, s.Up);
            ops.SiluMul(s.Gate, s.Up, s.Gate);
            b.Down.Apply(ops, s.Gate, lora, s, s.Projected);
            ops.Add(s.X, s.Projected, s.X);

            if (l < _blocks.Length - 1) TraceHidden(state, l + 1, s.X, n);
        }
        TraceFinalNorm(state, s, n);

        ops.Copy(s.X, (long)(n - 1) * c.HiddenSize, c.HiddenSize, state.LastHidden, 0);
        ops.RmsNorm(state.LastHidden, _finalNorm, c.RmsNormEps, state.LastHidden);
        ops.MatMul(state.LastHidden, _lmHead, null, state.Logits);
        state.Advance(n);
        return state.Logits;
    }

    /// <summary>HF's <c>hidden_states</c> tuple: index 0 the embeddings, i the output of block i, and the last index the
    /// final block's output after <c>model.norm</c>.</summary>
    void TraceHidden(MistralState state, int index, DeviceTensor x, int n)
    {
        string name = $"llm.hidden_states.{index}";
        if (state.Trace is not { } trace || !trace.Wants(name)) return;
        var values = new float[x.ElementCount];
        Backend.Download(x, values);
        trace.Record(name, [n, Config.HiddenSize], values);
    }

    void TraceFinalNorm(MistralState state, MistralScratch s, int n)
    {
        string name = $"llm.hidden_states.{_blocks.Length}";
        if (state.Trace is not { } trace || !trace.Wants(name)) return;
        Backend.Ops.RmsNorm(s.X, _finalNorm, Config.RmsNormEps, s.Normed);
        TraceHidden(state, _blocks.Length, s.Normed, n);
    }
}
