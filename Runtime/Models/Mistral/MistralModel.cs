using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>How to load a decoder: on-load quantization and an optional LoRA adapter.</summary>
public sealed record MistralLoadOptions
{
    /// <summary>Q8_0 or Q4_0: quantize every 2-D float weight on load (llama.cpp rounding); null keeps stored dtypes.</summary>
    public DType? Quantize { get; init; }

    /// <summary>A peft adapter folder (adapter_config.json + adapter_model.safetensors or .bin).</summary>
    public string? LoraFolder { get; init; }

    /// <summary>An adapter already in memory (<see cref="LoraAdapter.Synthetic"/>), instead of <see cref="LoraFolder"/>.</summary>
    public LoraAdapter? Lora { get; init; }

    /// <summary>The adapter's weight file when the folder holds both formats (default: .safetensors first).</summary>
    public string? LoraWeightsFile { get; init; }

    /// <summary>Merge W' = W + scale·B·A in fp32 on load (stored F32, LoRA always on) instead of a switchable side path.</summary>
    public bool MergeLora { get; init; }
}

/// <summary>y = x·Wᵀ, plus, when an adapter is attached and the state wants it, the side path y += scale·B(A x).
/// B is stored already scaled (scale·B, <see cref="MistralModel"/>'s loader), so the side path is two products, the
/// second accumulating into y: three launches a layer with the base product, where a separate scale and add made five.</summary>
sealed class MistralLinear(DeviceTensor weight, DeviceTensor? loraA, DeviceTensor? scaledLoraB) : IDisposable
{
    public DeviceTensor Weight { get; } = weight;             // [out, in]
    public DeviceTensor? LoraA { get; } = loraA;              // [rank, in] F32
    public DeviceTensor? ScaledLoraB { get; } = scaledLoraB;  // [out, rank] F32, scale·B

    bool SidePath(bool useLora) => useLora && LoraA is not null && ScaledLoraB is not null;

    /// <summary>ys[i] = layers[i](normed) with normed = RMSNorm(x; norm, eps), for layers that read the same normed x
    /// (q, k, v; gate, up): the norm and the base products in one <see cref="IOps.MatMulNormed"/> when the weights share
    /// a dtype, then one shared product of the adapters' A matrices over normed and each B product accumulated into its
    /// y. With <paramref name="rotary"/> (q, k, v), RoPE is folded into the call that finishes q and k — the base
    /// products, or the B products when side paths add to both — and the return says whether it was (else the caller
    /// rotates). Spans, so a decode step's calls allocate nothing.</summary>
    public static bool ApplyNormed(IOps ops, DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, bool useLora,
        MistralScratch scratch, ReadOnlySpan<MistralLinear> layers, ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary = null)
    {
        var weights = new Shared();
        bool sameType = layers.Length <= Shared.Capacity;
        for (int i = 0; i < layers.Length && sameType; i++)
        {
            sameType = layers[i].Weight.DType == layers[0].Weight.DType;
            weights[i] = layers[i].Weight;
        }
        if (!sameType)
        {
            ops.RmsNorm(x, norm, eps, normed);
            for (int i = 0; i < layers.Length; i++) layers[i].Apply(ops, normed, useLora, scratch, ys[i]);
            return false;
        }
        bool sidePaths = false;
        for (int i = 0; i < layers.Length; i++) sidePaths |= layers[i].SidePath(useLora);
        ops.MatMulNormed(x, norm, eps, normed, ((ReadOnlySpan<DeviceTensor>)weights)[..layers.Length], ys, sidePaths ? null : rotary);
        if (!sidePaths) return rotary is not null;
        return ApplySidePaths(ops, normed, useLora, scratch, layers, ys, rotary);
    }

    /// <summary>The side paths of these layers over normed: one shared product of the adapters' A matrices, then each B
    /// product accumulated into its y — in one call when the B matrices allow, which also rotates ys[0] and ys[1] when
    /// <paramref name="rotary"/> is given and both have a side path. Returns whether it rotated them.</summary>
    static bool ApplySidePaths(IOps ops, DeviceTensor normed, bool useLora, MistralScratch scratch, ReadOnlySpan<MistralLinear> layers,
        ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary)
    {
        var adapters = new Shared();
        var mids = new Shared();
        var bs = new Shared();
        var outputs = new Shared();
        int count = 0;
        for (int i = 0; i < layers.Length; i++)
            if (layers[i].SidePath(useLora))
            {
                adapters[count] = layers[i].LoraA!;
                mids[count] = scratch.LoraMid(count, normed.Dim(0));
                bs[count] = layers[i].ScaledLoraB!;
                outputs[count++] = ys[i];
            }
        if (count == 0) return false;
        if (count == 1) ops.MatMul(normed, adapters[0], null, mids[0]);
        else ops.MatMulShared(normed, ((ReadOnlySpan<DeviceTensor>)adapters)[..count], ((ReadOnlySpan<DeviceTensor>)mids)[..count]);
        // The B products in one call, each from its own mid (one launch for a decode step, or a batched one on tensor
        // cores).
        if (count > 1 && SameShapeAndType(((ReadOnlySpan<DeviceTensor>)bs)[..count]))
        {
            bool rotates = rotary is not null && outputs[0] == ys[0] && outputs[1] == ys[1];
            ops.MatMulAccumulateEach(scratch.LoraMids(count, normed.Dim(0)), ((ReadOnlySpan<DeviceTensor>)bs)[..count],
                ((ReadOnlySpan<DeviceTensor>)outputs)[..count], rotates ? rotary : null);
            return rotates;
        }
        for (int m = 0; m < count; m++) ops.MatMulAccumulate(mids[m], bs[m], outputs[m]);
        return false;
    }

    /// <summary>Whether the B matrices share a dtype and a rank (what one MatMulAccumulateEach needs).</summary>
    static bool SameShapeAndType(ReadOnlySpan<DeviceTensor> bs)
    {
        foreach (var b in bs)
            if (b.DType != bs[0].DType || b.Dim(1) != bs[0].Dim(1)) return false;
        return true;
    }

    /// <summary>y = silu(gate(normed)) · up(normed), normed = RMSNorm(x; norm, eps): one fused <see cref="IOps.SwiGlu"/>
    /// without side paths; with them, the norm and products (<see cref="ApplyNormed"/>, gate into y, up into
    /// upOutput) and then the gating. [n, ffn] each.</summary>
    public static void SwiGlu(IOps ops, DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, bool useLora,
        MistralScratch scratch, MistralLinear gate, MistralLinear up, DeviceTensor upOutput, DeviceTensor y)
    {
        if (!gate.SidePath(useLora) && !up.SidePath(useLora) && gate.Weight.DType == up.Weight.DType)
        {
            ops.SwiGlu(x, norm, eps, normed, gate.Weight, up.Weight, upOutput, y);
            return;
        }
        ApplyNormed(ops, x, norm, eps, normed, useLora, scratch, [gate, up], [y, upOutput]);
        ops.SiluMul(y, upOutput, y);
    }

    /// <summary>Room for the tensors of one shared product (q, k, v at most) without an array.</summary>
    [System.Runtime.CompilerServices.InlineArray(Capacity)]
    struct Shared
    {
        public const int Capacity = 3;
        DeviceTensor _first;
    }

    /// <summary>residual += this(x): the base product accumulated into the residual, then the side path's.
    /// (HF adds base + adapter before the residual; the sum's order differs in the last bits only.)</summary>
    public void ApplyAdd(IOps ops, DeviceTensor x, bool useLora, MistralScratch scratch, DeviceTensor residual)
    {
        ops.MatMulAccumulate(x, Weight, residual);
        AddSidePath(ops, x, useLora, scratch, residual);
    }

    public void Apply(IOps ops, DeviceTensor x, bool useLora, MistralScratch scratch, DeviceTensor y)
    {
        ops.MatMul(x, Weight, null, y);
        AddSidePath(ops, x, useLora, scratch, y);
    }

    /// <summary>y += scale·B(A x) when the side path is on.</summary>
    void AddSidePath(IOps ops, DeviceTensor x, bool useLora, MistralScratch scratch, DeviceTensor y)
    {
        if (!SidePath(useLora)) return;
        var mid = scratch.LoraMid(0, x.Dim(0));
        ops.MatMul(x, LoraA!, null, mid);
        ops.MatMulAccumulate(mid, ScaledLoraB!, y);
    }

    public void Dispose()
    {
        Weight.Dispose();
        LoraA?.Dispose();
        ScaledLoraB?.Dispose();
    }
}

/// <summary>One decoder block's weights; norms are F32 [hidden].</summary>
sealed record MistralBlock(DeviceTensor AttnNorm, DeviceTensor MlpNorm, IReadOnlyDictionary<MistralProjection, MistralLinear> Linear)
    : IDisposable
{
    public MistralLinear Q => Linear[MistralProjection.QProj];
    public MistralLinear K => Linear[MistralProjection.KProj];
    public MistralLinear V => Linear[MistralProjection.VProj];
    public MistralLinear O => Linear[MistralProjection.OProj];
    public MistralLinear Gate => Linear[MistralProjection.GateProj];
    public MistralLinear Up => Linear[MistralProjection.UpProj];
    public MistralLinear Down => Linear[MistralProjection.DownProj];

    public void Dispose()
    {
        AttnNorm.Dispose();
        MlpNorm.Dispose();
        foreach (var l in Linear.Values) l.Dispose();
    }
}

/// <summary>
/// The Mistral decoder (SPEC §6): immutable weights on one backend. Per-sequence data lives in a
/// <see cref="MistralState"/> from <see cref="CreateState"/>; <see cref="Forward"/> and <see cref="ForwardEmbeddings"/>
/// append tokens to it and return the last position's logits.
/// </summary>
public sealed partial class MistralModel : IDisposable
{
    readonly MistralBlock[] _blocks;
    readonly DeviceTensor _embedding;   // [vocab, hidden], stored dtype
    readonly DeviceTensor _finalNorm;   // [hidden] F32
    readonly DeviceTensor _lmHead;      // [vocab, hidden]; the embedding itself when tied
    readonly int _loraRank;

    MistralModel(IBackend backend, MistralConfig config, RopeLayout layout, DeviceTensor embedding, DeviceTensor finalNorm,
        DeviceTensor lmHead, MistralBlock[] blocks, int loraRank, string description)
    {
        Backend = backend;
        Config = config;
        RopeLayout = layout;
        _embedding = embedding;
        _finalNorm = finalNorm;
        _lmHead = lmHead;
        _blocks = blocks;
        _loraRank = loraRank;
        Description = description;
    }

    public IBackend Backend { get; }
    public MistralConfig Config { get; }

    /// <summary>Fixed by the format the weights came from (HF → HalfSplit, GGUF → Interleaved), never guessed.</summary>
    public RopeLayout RopeLayout { get; }

    /// <summary>Whether a LoRA side path is attached (switch it per sequence with <see cref="MistralState.UseLora"/>).</summary>
    public bool HasLoraSidePath => _loraRank > 0;

    /// <summary>What was loaded: format, weight dtypes, adapter.</summary>
    public string Description { get; }

    /// <summary>Why <c>--int8-activations</c> would change nothing for this model (no product reads Q8_0/Q4_0 weights:
    /// only those round their inputs), or null when it applies.</summary>
    public string? Int8ActivationsUnused()
    {
        var types = _blocks.SelectMany(b => b.Linear.Values).Select(l => l.Weight.DType).Append(_lmHead.DType).Distinct().ToList();
        return types.Any(t => t is DType.Q8_0 or DType.Q4_0) ? null
            : $"--int8-activations changes nothing here: the language model's weights are {string.Join("/", types)}, and only " +
              "products with Q8_0/Q4_0 weights round their inputs (add --quant q8_0 or q4_0, or load a Q8_0/Q4_0 GGUF)";
    }

    /// <summary>A fresh sequence state holding up to <paramref name="capacity"/> positions (at most the model's context;
    /// default 4096 or the context if smaller: the F32 cache of 7B takes 256 KB per position). LoRA starts on when a side
    /// path is attached.</summary>
    public MistralState CreateState(int capacity = 0) => new(Backend, Config, CheckCapacity(ref capacity), HasLoraSidePath);

    /// <summary>States for a batch that will be stepped together (<see cref="DecodeBatch"/>): their KV caches share one
    /// buffer per layer, so each decode step writes all new k, v rows with one scatter and runs attention for all of
    /// them in one launch. Each state is used and disposed like one from <see cref="CreateState"/>.</summary>
    public MistralState[] CreateStates(int count, int capacity = 0)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "at least one sequence");
        CheckCapacity(ref capacity);
        var pool = new MistralCachePool(Backend, Config, count, capacity);
        return Enumerable.Range(0, count).Select(i => new MistralState(Backend, Config, capacity, HasLoraSidePath, pool, i)).ToArray();
    }

    int CheckCapacity(ref int capacity)
    {
        int max = Config.MaxPositions;
        if (capacity <= 0) capacity = Math.Min(max, 4096);
        if (capacity > max)
            throw new InputException($"a sequence of {capacity} positions is longer than the model's context of {max}");
        return capacity;
    }

    /// <summary>Token embeddings [n, hidden] F32 (the caller owns the tensor), e.g. to splice projector vectors in.</summary>
    public DeviceTensor Embed(ReadOnlySpan<int> ids)
    {
        CheckIds(ids);
        var table = Backend.Allocate(DType.F32, ids.Length, Config.HiddenSize);
        using var idTensor = Backend.Upload(ids, ids.Length);
        Backend.Ops.Embedding(_embedding, idTensor, table);
        return table;
    }

    /// <summary>Appends <paramref name="ids"/> to the sequence; returns the last position's logits [1, vocab]
    /// (owned by the state, valid until its next forward pass).</summary>
    public DeviceTensor Forward(ReadOnlySpan<int> ids, MistralState state)
    {
        CheckIds(ids);
        var s = Prepare(ids.Length, state);
        Backend.Write(ids, s.Ids);
        Backend.Ops.Embedding(_embedding, s.Ids, s.X);
        return Run(s, state);
    }

    /// <summary>Tokens a pass of <see cref="ForwardInPieces"/> takes at most.</summary>
    public const int PrefillPieceTokens = 512;

    /// <summary><see cref="Forward"/> of a long prompt as passes of at most <see cref="PrefillPieceTokens"/> tokens, each
    /// attending to the cache the ones before it filled — the same logits, up to the order of sums — with
    /// <paramref name="tokensDone"/> told after each pass. The scratch is a piece's, not the prompt's (a 5,000-token
    /// chaining prompt's gate/up activations alone are ~0.6 GB), and a prefill that takes minutes on a cpu shows
    /// progress.</summary>
    public DeviceTensor ForwardInPieces(ReadOnlySpan<int> ids, MistralState state, Action<int>? tokensDone = null)
    {
        if (ids.IsEmpty) throw new InputException("no tokens to run");
        int done = 0;
        DeviceTensor logits;
        do
        {
            int count = Math.Min(PrefillPieceTokens, ids.Length - done);
            logits = Forward(ids.Slice(done, count), state);
            done += count;
            tokensDone?.Invoke(done);
        } while (done < ids.Length);
        return logits;
    }

    /// <summary>Appends positions given as embeddings <paramref name="embeds"/>: [n, hidden] F32.</summary>
    public DeviceTensor ForwardEmbeddings(DeviceTensor embeds, MistralState state)
    {
        if (embeds.DType != DType.F32 || embeds.Rank != 2 || embeds.Dim(1) != Config.HiddenSize)
            throw new ArgumentException($"ForwardEmbeddings: embeddings must be F32 [n, {Config.HiddenSize}], got {embeds}");
        var s = Prepare(embeds.Dim(0), state);
        Backend.Ops.Copy(embeds, 0, embeds.ElementCount, s.X, 0);
        return Run(s, state);
    }

    /// <summary>Appends positions given as host embeddings, row-major [n, hidden].</summary>
    public DeviceTensor ForwardEmbeddings(ReadOnlySpan<float> embeds, MistralState state)
    {
        if (embeds.Length == 0 || embeds.Length % Config.HiddenSize != 0)
            throw new ArgumentException($"ForwardEmbeddings: {embeds.Length} values are not whole rows of {Config.HiddenSize}");
        var s = Prepare(embeds.Length / Config.HiddenSize, state);
        Backend.Write(embeds, s.X);
        return Run(s, state);
    }

    void CheckIds(ReadOnlySpan<int> ids)
    {
        if (ids.Length == 0) throw new InputException("no tokens to run");
        foreach (int id in ids)
            if ((uint)id >= (uint)Config.VocabSize)
                throw new InputException($"token id {id} is outside the vocabulary (0..{Config.VocabSize - 1})");
    }

    MistralScratch Prepare(int tokens, MistralState state)
    {
        if (tokens == 0) throw new InputException("no tokens to run");
        if (state.Position + tokens > state.Capacity)
            throw new InputException(
                $"{tokens} more tokens after {state.Position} exceed the context of {state.Capacity} positions");
        var s = state.Scratch(tokens, _loraRank);
        var positions = new int[tokens];
        for (int i = 0; i < tokens; i++) positions[i] = state.Position + i;
        Backend.Write(positions, s.Positions);
        return s;
    }

    DeviceTensor Run(MistralScratch s, MistralState state) =>
        Run(s, [new MistralSegment(state, 0, s.Tokens)], state.LastHidden, state.Logits);

    public void Dispose()
    {
        foreach (var b in _blocks) b.Dispose();
        _embedding.Dispose();
        _finalNorm.Dispose();
        if (!ReferenceEquals(_lmHead, _embedding)) _lmHead.Dispose();
    }
}
