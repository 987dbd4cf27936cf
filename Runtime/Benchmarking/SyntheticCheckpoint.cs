using System.Buffers.Binary;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>How a synthetic tensor's values are drawn: uniform in [−bound, bound], or one constant (norm gains, biases).</summary>
public readonly record struct SyntheticInit(float Bound, float Constant)
{
    public static SyntheticInit Uniform(float bound) => new(bound, 0f);

    public static SyntheticInit Fill(float value) => new(0f, value);

    /// <summary>Uniform with variance 1/fanIn, so activations keep unit scale through a random layer.</summary>
    public static SyntheticInit ForFanIn(long fanIn) => Uniform(MathF.Sqrt(3f / fanIn));
}

/// <summary>A tensor of a <see cref="SyntheticCheckpoint"/>: its bytes are generated from a seed when asked for, never
/// stored, so a 7B checkpoint costs no memory until a model uploads it tensor by tensor.</summary>
public sealed class SyntheticTensor : TensorEntry
{
    readonly SyntheticCheckpoint _owner;

    internal SyntheticTensor(SyntheticCheckpoint owner, string name, DType dtype, long[] shape, SyntheticInit init, ulong seed)
        : base(name, dtype, shape, "synthetic")
    {
        _owner = owner;
        Init = init;
        Seed = seed;
    }

    public SyntheticInit Init { get; }
    public ulong Seed { get; }

    public override ReadOnlySpan<byte> Bytes => _owner.BytesOf(this);
}

/// <summary>
/// An in-memory <see cref="ICheckpoint"/> of seeded random weights under real checkpoint names, so the models' own Load
/// paths build synthetic models without files. Values are a counter-based hash of (seed, index): the same tensor is
/// the same on every machine and generation parallelises. The bytes of the last tensor asked for are kept (one slot),
/// so at most one tensor's bytes live on the host at a time.
/// </summary>
public sealed class SyntheticCheckpoint : ICheckpoint
{
    readonly List<TensorEntry> _tensors = [];
    readonly Dictionary<string, SyntheticTensor> _byName = new(StringComparer.Ordinal);
    readonly ulong _seed;
    SyntheticTensor? _cachedFor;
    byte[] _cached = [];

    public SyntheticCheckpoint(string path, ulong seed)
    {
        Path = path;
        _seed = seed;
    }

    public string Path { get; }
    public string Format => "synthetic";
    public IReadOnlyList<TensorEntry> Tensors => _tensors;
    public IReadOnlyDictionary<string, object> Metadata { get; } = new Dictionary<string, object>();

    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Declares a tensor; its seed is derived from the checkpoint seed and the name.</summary>
    public SyntheticTensor Add(string name, DType dtype, SyntheticInit init, params long[] shape)
    {
        if (dtype.ByteSize(DTypes.ElementCount(shape)) < 0)
            throw new ArgumentException($"{name}: {dtype} cannot hold shape [{string.Join(", ", shape)}]");
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16 or DType.Q8_0 or DType.Q4_0))
            throw new ArgumentException($"{name}: synthetic {dtype} tensors are not supported");
        var tensor = new SyntheticTensor(this, name, dtype, shape, init, Mix(_seed ^ NameHash(name)));
        _byName.Add(name, tensor);
        _tensors.Add(tensor);
        return tensor;
    }

    /// <summary>The fp32 values a tensor was generated from (before conversion to its dtype).</summary>
    public static float[] Values(SyntheticTensor tensor)
    {
        var values = new float[checked((int)tensor.ElementCount)];
        Fill(tensor.Init, tensor.Seed, 0, values);
        return values;
    }

    internal ReadOnlySpan<byte> BytesOf(SyntheticTensor tensor)
    {
        if (!ReferenceEquals(_cachedFor, tensor))
        {
            _cachedFor = null;
            _cached = [];  // lets the previous tensor's bytes go before the next ones are made
            _cached = Generate(tensor);
            _cachedFor = tensor;
        }
        return _cached;
    }

    public void Dispose()
    {
        _cachedFor = null;
        _cached = [];
    }

    /// <summary>Chunks of 64 Ki values (whole 32-value blocks) are made in parallel, straight into the stored dtype.</summary>
    static byte[] Generate(SyntheticTensor t)
    {
        var bytes = new byte[t.ByteLength];
        long count = t.ElementCount;
        const int chunk = 1 << 16;  // a multiple of the 32-value block
        long chunks = (count + chunk - 1) / chunk;
        Parallel.For(0, chunks, () => new float[chunk], (c, _, values) =>
        {
            long start = c * chunk;
            int n = (int)Math.Min(chunk, count - start);
            var v = values.AsSpan(0, n);
            Fill(t.Init, t.Seed, start, v);
            Encode(t.DType, v, bytes.AsSpan(checked((int)t.DType.ByteSize(start)), (int)t.DType.ByteSize(n)));
            return values;
        }, _ => { });
        return bytes;
    }

    static void Encode(DType dtype, ReadOnlySpan<float> values, Span<byte> dst)
    {
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.AsBytes(values).CopyTo(dst); break;  // little endian, as every supported host
            case DType.F16: TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(dst)); break;
            case DType.BF16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], TensorConvert.FloatToBF16(values[i]));
                break;
            case DType.Q8_0: GgufQuants.QuantizeQ8_0(values, dst); break;
            default: GgufQuants.QuantizeQ4_0(values, dst); break;
        }
    }

    /// <summary>values[i] = init at element start + i: the top 24 bits of a 32-bit hash of the element index (keyed by
    /// the seed) as a uniform value in [−1, 1), exact in fp32, times the bound. SIMD over <see cref="Vector{T}"/> lanes;
    /// generation must keep pace with uploading 14 GB.</summary>
    static void Fill(SyntheticInit init, ulong seed, long start, Span<float> values)
    {
        if (init.Bound == 0f)
        {
            values.Fill(init.Constant);
            return;
        }
        uint key = (uint)seed ^ (uint)(seed >> 32);
        float scale = init.Bound / (1 << 23);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Span<uint> lane = stackalloc uint[Vector<uint>.Count];
            for (int j = 0; j < lane.Length; j++) lane[j] = (uint)j;
            var index = new Vector<uint>(lane) + new Vector<uint>((uint)start);
            var step = new Vector<uint>((uint)Vector<uint>.Count);
            var keys = new Vector<uint>(key);
            var half = new Vector<int>(1 << 23);
            for (; i <= values.Length - Vector<uint>.Count; i += Vector<uint>.Count, index += step)
            {
                var bits = Vector.ShiftRightLogical(Hash(index ^ keys), 8);
                (Vector.ConvertToSingle(Vector.AsVectorInt32(bits) - half) * scale).CopyTo(values[i..]);
            }
        }
        for (; i < values.Length; i++)
            values[i] = ((int)(Hash((uint)(start + i) ^ key) >> 8) - (1 << 23)) * scale;
    }

    /// <summary>lowbias32 (Chris Wellons' hash prospector): a bijective, well-mixed 32-bit hash.</summary>
    static uint Hash(uint x)
    {
        x = (x ^ (x >> 16)) * 0x7FEB352Du;
        x = (x ^ (x >> 15)) * 0x846CA68Bu;
        return x ^ (x >> 16);
    }

    static Vector<uint> Hash(Vector<uint> x)
    {
        x = (x ^ Vector.ShiftRightLogical(x, 16)) * new Vector<uint>(0x7FEB352Du);
        x = (x ^ Vector.ShiftRightLogical(x, 15)) * new Vector<uint>(0x846CA68Bu);
        return x ^ Vector.ShiftRightLogical(x, 16);
    }

    /// <summary>SplitMix64's finalizer: derives each tensor's seed from the checkpoint seed and the name.</summary>
    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a over the name's characters (string.GetHashCode is randomised per process).</summary>
    static ulong NameHash(string name)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char ch in name) h = (h ^ ch) * 0x100000001B3UL;
        return h;
    }
}
