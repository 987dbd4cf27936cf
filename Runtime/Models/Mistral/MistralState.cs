using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>
/// Everything one sequence mutates (whisper.cpp's state): the KV cache, the position, scratch buffers and the last
/// logits. The model's weights never change, so several states can share one model.
/// </summary>
public sealed class MistralState : IDisposable
{
    readonly IBackend _backend;
    readonly MistralConfig _config;
    MistralScratch? _scratch;
    MistralScratch? _batchScratch;

    internal MistralState(IBackend backend, MistralConfig config, int capacity, bool useLora, MistralCachePool? pool = null,
        int poolIndex = 0)
    {
        _backend = backend;
        _config = config;
        Capacity = capacity;
        UseLora = useLora;
        Pool = pool;
        PoolIndex = poolIndex;
        KeyCache = new DeviceTensor[config.LayerCount];
        ValueCache = new DeviceTensor[config.LayerCount];
        for (int i = 0; i < config.LayerCount; i++)
        {
            KeyCache[i] = pool?.Keys[i].Rows(poolIndex * capacity, capacity)
                          ?? backend.Allocate(DType.F32, capacity, config.KvHeadCount, config.HeadDim);
            ValueCache[i] = pool?.Values[i].Rows(poolIndex * capacity, capacity)
                            ?? backend.Allocate(DType.F32, capacity, config.KvHeadCount, config.HeadDim);
        }
        LastHidden = backend.Allocate(DType.F32, 1, config.HiddenSize);
        Logits = backend.Allocate(DType.F32, 1, config.VocabSize);
    }

    /// <summary>The shared cache this sequence's rows live in (<see cref="MistralModel.CreateStates"/>), or null.</summary>
    internal MistralCachePool? Pool { get; }

    /// <summary>This sequence's slot in <see cref="Pool"/>: its cache rows start at PoolIndex × Capacity.</summary>
    internal int PoolIndex { get; }

    /// <summary>Positions the KV cache holds; a sequence can never be longer.</summary>
    public int Capacity { get; }

    /// <summary>Tokens already in the cache: the position of the next token.</summary>
    public int Position { get; private set; }

    /// <summary>Whether the model's LoRA side path applies to this sequence's next forward passes
    /// (e.g. off for the long-form chaining step, which wants the plain Instruct model).</summary>
    public bool UseLora { get; set; }

    /// <summary>Receives <c>llm.hidden_states.{i}</c> (HF convention: 0 = embeddings, the last after the final norm).</summary>
    public ITraceSink? Trace { get; set; }

    // Per layer, [capacity, kvHeads, headDim].
    internal DeviceTensor[] KeyCache { get; }
    internal DeviceTensor[] ValueCache { get; }
    // x of the last position: [1, hidden]
    internal DeviceTensor LastHidden { get; }
    // [1, vocab]
    internal DeviceTensor Logits { get; }

    /// <summary>Forgets the sequence (the cache is overwritten from position 0 on).</summary>
    public void Reset() => Position = 0;

    /// <summary>Keeps only the first <paramref name="position"/> tokens, e.g. to reuse a shared prompt prefix.</summary>
    public void Truncate(int position)
    {
        if (position < 0 || position > Position)
            throw new ArgumentOutOfRangeException(nameof(position), $"cannot truncate a sequence of {Position} tokens to {position}");
        Position = position;
    }

    internal void Advance(int count) => Position += count;

    /// <summary>Scratch buffers for <paramref name="tokens"/> rows; the last size is kept, so decoding (1 row at a time)
    /// allocates once.</summary>
    internal MistralScratch Scratch(int tokens, int loraRank)
    {
        if (_scratch is { } s && s.Tokens == tokens && s.LoraRank == loraRank) return s;
        _scratch?.Dispose();
        _scratch = new MistralScratch(_backend, _config, tokens, loraRank);
        return _scratch;
    }

    /// <summary>Scratch for a batched pass led by this state (kept apart from <see cref="Scratch"/> so batched and
    /// single passes do not reallocate each other's buffers; reallocated when the batch shrinks).</summary>
    internal MistralScratch BatchScratch(int tokens, int loraRank)
    {
        if (_batchScratch is { } s && s.Tokens == tokens && s.LoraRank == loraRank) return s;
        _batchScratch?.Dispose();
        _batchScratch = new MistralScratch(_backend, _config, tokens, loraRank);
        return _batchScratch;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _batchScratch?.Dispose();
        foreach (var t in KeyCache) t.Dispose();
        foreach (var t in ValueCache) t.Dispose();
        LastHidden.Dispose();
        Logits.Dispose();
        _scratch?.Dispose();
        Pool?.Release();
    }

    bool _disposed;
}

/// <summary>
/// The KV caches of a batch of sequences in one buffer per layer ([count × capacity, kvHeads, headDim]; sequence i owns
/// rows [i·capacity, (i + 1)·capacity)), so a batched decode step writes every sequence's new k and v with one scatter
/// and attends all of them in one launch. Freed when the last of its states is disposed.
/// </summary>
sealed class MistralCachePool
{
    int _live;

    public MistralCachePool(IBackend backend, MistralConfig config, int count, int capacity)
    {
        Keys = new DeviceTensor[config.LayerCount];
        Values = new DeviceTensor[config.LayerCount];
        try
        {
            for (int i = 0; i < config.LayerCount; i++)
            {
                Keys[i] = backend.Allocate(DType.F32, count * capacity, config.KvHeadCount, config.HeadDim);
                Values[i] = backend.Allocate(DType.F32, count * capacity, config.KvHeadCount, config.HeadDim);
            }
        }
        catch
        {
            Free();
            throw;
        }
        _live = count;
    }

    public DeviceTensor[] Keys { get; }
    public DeviceTensor[] Values { get; }

    public void Release()
    {
        if (Interlocked.Decrement(ref _live) == 0) Free();
    }

    void Free()
    {
        foreach (var t in Keys) t?.Dispose();
        foreach (var t in Values) t?.Dispose();
    }
}

/// <summary>Activations of one forward pass over <see cref="Tokens"/> rows.</summary>
sealed class MistralScratch : IDisposable
{
    readonly List<DeviceTensor> _all = new();
    readonly IBackend _backend;
    readonly MistralConfig _config;
    (DeviceTensor Hidden, DeviceTensor Logits)? _outputs;

    public MistralScratch(IBackend backend, MistralConfig c, int tokens, int loraRank)
    {
        _backend = backend;
        _config = c;
        Tokens = tokens;
        LoraRank = loraRank;
        DeviceTensor New(DType dtype, params int[] shape)
        {
            var t = backend.Allocate(dtype, shape);
            _all.Add(t);
            return t;
        }
        Ids = New(DType.I32, tokens);
        Positions = New(DType.I32, tokens);
        CacheRows = New(DType.I32, tokens);
        CacheStarts = New(DType.I32, tokens);
        KeyCounts = New(DType.I32, tokens);
        X = New(DType.F32, tokens, c.HiddenSize);
        Normed = New(DType.F32, tokens, c.HiddenSize);
        QFlat = New(DType.F32, tokens, c.QueryWidth);
        Q = QFlat.View(tokens, c.HeadCount, c.HeadDim);
        KFlat = New(DType.F32, tokens, c.KvWidth);
        K = KFlat.View(tokens, c.KvHeadCount, c.HeadDim);
        V = New(DType.F32, tokens, c.KvWidth);
        Attended = New(DType.F32, tokens, c.QueryWidth);
        Gate = New(DType.F32, tokens, c.IntermediateSize);
        Up = New(DType.F32, tokens, c.IntermediateSize);
        _loraMids = loraRank > 0 ? New(DType.F32, 3 * tokens, loraRank) : null;
    }

    public int Tokens { get; }
    public int LoraRank { get; }
    public DeviceTensor Ids { get; }          // [n] I32
    public DeviceTensor Positions { get; }    // [n] I32
    // A pooled batch's decode step (one row per sequence): each row's cache row in the pool, its sequence's first pool
    // row and its key count.
    public DeviceTensor CacheRows { get; }    // [n] I32
    public DeviceTensor CacheStarts { get; }  // [n] I32
    public DeviceTensor KeyCounts { get; }    // [n] I32
    public DeviceTensor X { get; }            // residual stream [n, hidden]
    public DeviceTensor Normed { get; }       // [n, hidden]
    public DeviceTensor QFlat { get; }        // [n, heads·headDim]
    public DeviceTensor Q { get; }            // [n, heads, headDim]: a view of QFlat
    public DeviceTensor KFlat { get; }        // [n, kvHeads·headDim]
    public DeviceTensor K { get; }            // [n, kvHeads, headDim]: a view of KFlat
    public DeviceTensor V { get; }            // [n, kvHeads·headDim]
    public DeviceTensor Attended { get; }     // [n, heads·headDim]
    public DeviceTensor Gate { get; }         // [n, ffn]
    public DeviceTensor Up { get; }           // [n, ffn]
    readonly DeviceTensor? _loraMids;  // [3·n, rank]: A x of up to three side paths sharing x (q, k, v)

    /// <summary>LoRA mid <paramref name="index"/> (0–2) of a pass of <paramref name="rows"/> rows: rows index·rows ..
    /// of the mids, so a pass's mids lie one after another (<see cref="LoraMids"/>).</summary>
    public DeviceTensor LoraMid(int index, int rows) => _loraMids!.Rows(index * rows, rows);

    /// <summary>Mids 0 .. count − 1 of a pass of <paramref name="rows"/> rows as one [count·rows, rank] tensor (see
    /// <see cref="IOps.MatMulAccumulateEach"/>).</summary>
    public DeviceTensor LoraMids(int count, int rows) => _loraMids!.Rows(0, count * rows);

    /// <summary>Each sequence's last row and its logits for a batched pass: [count, hidden] and [count, vocab].</summary>
    public (DeviceTensor Hidden, DeviceTensor Logits) Outputs(int count)
    {
        if (_outputs is { } o && o.Hidden.Dim(0) == count) return o;
        if (_outputs is { } old)
        {
            old.Hidden.Dispose();
            old.Logits.Dispose();
        }
        _outputs = (_backend.Allocate(DType.F32, count, _config.HiddenSize), _backend.Allocate(DType.F32, count, _config.VocabSize));
        return _outputs.Value;
    }

    public void Dispose()
    {
        if (_outputs is { } o)
        {
            o.Hidden.Dispose();
            o.Logits.Dispose();
        }
        foreach (var t in _all) t.Dispose();
    }
}
