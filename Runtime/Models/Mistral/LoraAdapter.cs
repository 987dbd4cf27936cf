using System.Text.Json;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Models.Mistral;

/// <summary>The seven linear layers of a decoder block, named as peft's <c>target_modules</c> name them.</summary>
public enum MistralProjection { QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj }

public static class MistralProjections
{
    public static string HfName(this MistralProjection p) => p switch
    {
        MistralProjection.QProj => "q_proj",
        MistralProjection.KProj => "k_proj",
        MistralProjection.VProj => "v_proj",
        MistralProjection.OProj => "o_proj",
        MistralProjection.GateProj => "gate_proj",
        MistralProjection.UpProj => "up_proj",
        _ => "down_proj",
    };

    /// <summary>The HF module holding the projection: <c>self_attn</c> or <c>mlp</c>.</summary>
    public static string HfBlock(this MistralProjection p) => p <= MistralProjection.OProj ? "self_attn" : "mlp";

    /// <summary>[out, in] of the projection's weight.</summary>
    public static (int Out, int In) Shape(this MistralProjection p, MistralConfig c) => p switch
    {
        MistralProjection.QProj => (c.QueryWidth, c.HiddenSize),
        MistralProjection.KProj or MistralProjection.VProj => (c.KvWidth, c.HiddenSize),
        MistralProjection.OProj => (c.HiddenSize, c.QueryWidth),
        MistralProjection.GateProj or MistralProjection.UpProj => (c.IntermediateSize, c.HiddenSize),
        _ => (c.HiddenSize, c.IntermediateSize),
    };

    public static MistralProjection? FromHfName(string name) =>
        Enum.GetValues<MistralProjection>().Cast<MistralProjection?>().FirstOrDefault(p => p!.Value.HfName() == name);
}

/// <summary>One low-rank pair: ΔW = Scale · B·A. A: [rank, in], B: [out, rank], fp32 on the host.</summary>
public sealed record LoraPair(float[] A, float[] B, int Rank, int In, int Out, float Scale);

/// <summary>
/// A peft LoRA adapter (SPEC §6): <c>adapter_config.json</c> (r, lora_alpha, target_modules) and
/// <c>adapter_model.safetensors</c> or <c>.bin</c> with keys
/// <c>base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A,B}.weight</c>. Scale = lora_alpha / r
/// (peft LoraLayer.update_layer; lora_alpha / √r with use_rslora). Every shape is checked against the model's config.
/// </summary>
public sealed class LoraAdapter
{
    readonly Dictionary<(int Layer, MistralProjection Projection), LoraPair> _pairs;

    LoraAdapter(string path, int rank, float alpha, float scale, Dictionary<(int, MistralProjection), LoraPair> pairs)
    {
        Path = path;
        Rank = rank;
        Alpha = alpha;
        Scale = scale;
        _pairs = pairs;
    }

    public string Path { get; }
    public int Rank { get; }
    public float Alpha { get; }
    public float Scale { get; }
    public int PairCount => _pairs.Count;

    public LoraPair? Find(int layer, MistralProjection projection) => _pairs.GetValueOrDefault((layer, projection));

    public IEnumerable<LoraPair> Pairs => _pairs.Values;

    /// <summary>A seeded random adapter at <paramref name="config"/>'s shapes on all seven projections (peft's defaults
    /// for a Mistral target list, SPEC §6), for benchmarks: A and B uniform in ±1/√in and ±1/√rank, so the side path
    /// adds a delta of the base product's size, not a zero one a kernel could skip; values rounded to bf16, the dtype
    /// the kit's adapter is stored in.</summary>
    public static LoraAdapter Synthetic(MistralConfig config, int rank, float alpha, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        var rng = new Random(unchecked((int)seed));
        float[] Uniform(int count, int fanIn)
        {
            float bound = 1f / MathF.Sqrt(fanIn);
            var values = new float[count];
            for (int i = 0; i < values.Length; i++)
                values[i] = TensorConvert.BF16ToFloat(TensorConvert.FloatToBF16((float)(rng.NextDouble() * 2 - 1) * bound));
            return values;
        }
        float scale = alpha / rank;  // peft, without rsLoRA
        var pairs = new Dictionary<(int, MistralProjection), LoraPair>();
        for (int i = 0; i < config.LayerCount; i++)
            foreach (var projection in Enum.GetValues<MistralProjection>())
            {
                var (outDim, inDim) = projection.Shape(config);
                pairs[(i, projection)] = new LoraPair(Uniform(rank * inDim, inDim), Uniform(outDim * rank, rank), rank, inDim, outDim, scale);
            }
        return new LoraAdapter("synthetic", rank, alpha, scale, pairs);
    }

    /// <summary>Loads the adapter in <paramref name="folder"/>; <paramref name="weightsFile"/> picks the weight file when
    /// the folder has both (default: adapter_model.safetensors, else adapter_model.bin).</summary>
    public static LoraAdapter Load(string folder, MistralConfig config, string? weightsFile = null)
    {
        string configPath = System.IO.Path.Combine(folder, "adapter_config.json");
        if (!File.Exists(configPath)) throw new LoaderException(folder, "not a LoRA adapter folder: no adapter_config.json");
        var (rank, alpha, scale, targets) = ReadConfig(configPath);

        using var checkpoint = CheckpointFile.Open(weightsFile ?? folder);
        var root = new Weights(checkpoint);
        var layers = root.Sub("base_model").Sub("model").Sub("model").Sub("layers");
        var pairs = new Dictionary<(int, MistralProjection), LoraPair>();
        for (int i = 0; i < config.LayerCount; i++)
            foreach (var projection in targets)
            {
                var (outDim, inDim) = projection.Shape(config);
                var module = layers.Sub(i).Sub(projection.HfBlock()).Sub(projection.HfName());
                var a = module.Sub("lora_A").Get("weight", rank, inDim).ToFloat32();
                var b = module.Sub("lora_B").Get("weight", outDim, rank).ToFloat32();
                pairs[(i, projection)] = new LoraPair(a, b, rank, inDim, outDim, scale);
            }
        root.EnsureAllUsed();
        return new LoraAdapter(weightsFile ?? folder, rank, alpha, scale, pairs);
    }

    static (int Rank, float Alpha, float Scale, MistralProjection[] Targets) ReadConfig(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        if (root.TryGetProperty("peft_type", out var type) && type.GetString() is { } t && t != "LORA")
            throw new LoaderException(path, $"peft_type is '{t}', only LORA is supported");
        if (!root.TryGetProperty("r", out var r) || r.ValueKind != JsonValueKind.Number || r.GetInt32() <= 0)
            throw new LoaderException(path, "'r' is missing or not a positive integer");
        if (!root.TryGetProperty("lora_alpha", out var alphaElement) || alphaElement.ValueKind != JsonValueKind.Number)
            throw new LoaderException(path, "'lora_alpha' is missing or not a number");
        foreach (string perModule in new[] { "rank_pattern", "alpha_pattern" })
            if (root.TryGetProperty(perModule, out var p) && p.ValueKind == JsonValueKind.Object && p.EnumerateObject().Any())
                throw new LoaderException(path, $"'{perModule}' (per-module ranks) is not supported");

        int rank = r.GetInt32();
        float alpha = alphaElement.GetSingle();
        bool rsLora = root.TryGetProperty("use_rslora", out var rs) && rs.ValueKind == JsonValueKind.True;
        float scale = rsLora ? alpha / MathF.Sqrt(rank) : alpha / rank;
        return (rank, alpha, scale, ReadTargets(root, path));
    }

    static MistralProjection[] ReadTargets(JsonElement root, string path)
    {
        if (!root.TryGetProperty("target_modules", out var targets) || targets.ValueKind != JsonValueKind.Array)
            throw new LoaderException(path, "'target_modules' is missing or not a list");
        var result = new List<MistralProjection>();
        foreach (var t in targets.EnumerateArray())
        {
            string name = t.GetString() ?? "";
            var projection = MistralProjections.FromHfName(name)
                ?? throw new LoaderException(path, $"target module '{name}' is not a Mistral linear layer (q/k/v/o/gate/up/down_proj)");
            if (!result.Contains(projection)) result.Add(projection);
        }
        if (result.Count == 0) throw new LoaderException(path, "'target_modules' is empty");
        result.Sort();
        return result.ToArray();
    }
}
