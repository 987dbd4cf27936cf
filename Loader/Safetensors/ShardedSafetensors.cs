using System.Text.Json;

namespace SonicVerse.Loader;

/// <summary>
/// A sharded safetensors checkpoint: <c>model.safetensors.index.json</c> = <c>{"metadata": {...}, "weight_map": {tensor: shard}}</c>
/// (HF transformers <c>save_pretrained</c> layout). Each shard, relative to the index's folder, is mapped once; the
/// checkpoint is the union of their tensors in weight_map order. The map and the shards must agree exactly.
/// </summary>
public sealed class ShardedSafetensors : ICheckpoint
{
    /// <summary>An index is a few MB at most (Mistral-7B's is 24 kB); anything bigger is not an index.</summary>
    const long MaxIndexBytes = SafetensorsHeader.MaxHeaderBytes;

    readonly ICheckpoint[] _shards;
    readonly TensorEntry[] _tensors;
    readonly Dictionary<string, TensorEntry> _byName;

    ShardedSafetensors(string path, IReadOnlyDictionary<string, object> metadata, ICheckpoint[] shards, TensorEntry[] tensors)
    {
        Path = path;
        Metadata = metadata;
        _shards = shards;
        _tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The index file.</summary>
    public string Path { get; }
    public string Format => "safetensors";
    /// <summary>Tensors in weight_map order; each entry's <see cref="TensorEntry.SourceFile"/> is its shard.</summary>
    public IReadOnlyList<TensorEntry> Tensors => _tensors;
    /// <summary>The index's "metadata": strings, integers as long, other numbers as double.</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    public static ICheckpoint Open(string indexPath)
    {
        using JsonDocument index = ReadIndex(indexPath);
        var metadata = ParseMetadata(indexPath, index.RootElement);
        List<(string Tensor, string Shard)> weightMap = ParseWeightMap(indexPath, index.RootElement);
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;

        var shards = new Dictionary<string, ICheckpoint>(StringComparer.Ordinal);
        try
        {
            foreach (string shard in weightMap.Select(e => e.Shard).Distinct())
                shards.Add(shard, OpenShard(indexPath, folder, shard));
            TensorEntry[] tensors = weightMap.Select(e => FindInShard(indexPath, shards[e.Shard], e.Tensor)).ToArray();
            CheckNoUnassigned(indexPath, weightMap, shards);
            return new ShardedSafetensors(indexPath, metadata, shards.Values.ToArray(), tensors);
        }
        catch
        {
            foreach (ICheckpoint shard in shards.Values) shard.Dispose();
            throw;
        }
    }

    static JsonDocument ReadIndex(string indexPath)
    {
        try
        {
            using var stream = File.OpenRead(indexPath);   // the stream's length follows symbolic links (HF cache)
            if (stream.Length > MaxIndexBytes)
                throw new LoaderException(indexPath, $"index is {stream.Length} bytes, more than the {MaxIndexBytes}-byte limit for an index");
            return JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new LoaderException(indexPath, $"shard index is not valid JSON: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LoaderException(indexPath, $"cannot read the shard index: {e.Message}", e);
        }
    }

    static Dictionary<string, object> ParseMetadata(string indexPath, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new LoaderException(indexPath, $"shard index must be a JSON object, found {root.ValueKind}");
        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        if (!root.TryGetProperty("metadata", out JsonElement element) || element.ValueKind == JsonValueKind.Null) return metadata;
        if (element.ValueKind != JsonValueKind.Object)
            throw new LoaderException(indexPath, $"\"metadata\" must be an object, found {element.ValueKind}");
        foreach (JsonProperty item in element.EnumerateObject())
            metadata[item.Name] = item.Value.ValueKind switch
            {
                JsonValueKind.String => item.Value.GetString()!,
                JsonValueKind.Number when item.Value.TryGetInt64(out long n) => n,
                JsonValueKind.Number => item.Value.GetDouble(),
                _ => item.Value.GetRawText(),
            };
        return metadata;
    }

    static List<(string Tensor, string Shard)> ParseWeightMap(string indexPath, JsonElement root)
    {
        if (!root.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            throw new LoaderException(indexPath, "shard index has no \"weight_map\" object ({tensor name: shard file})");
        var entries = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty item in map.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(item.Value.GetString()))
                throw new LoaderException(indexPath, item.Name, $"weight_map value must be a shard file name, found {item.Value.GetRawText()}");
            if (!seen.Add(item.Name)) throw new LoaderException(indexPath, item.Name, "listed twice in weight_map");
            entries.Add((item.Name, item.Value.GetString()!));
        }
        return entries;
    }

    /// <summary>Shards are named relative to the index's folder and must stay inside it.</summary>
    static ICheckpoint OpenShard(string indexPath, string folder, string shard)
    {
        string path = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, shard));
        if (!path.StartsWith(folder + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new LoaderException(indexPath, $"shard '{shard}' is outside the index's folder {folder}");
        if (!File.Exists(path))
            throw new LoaderException(indexPath, $"shard '{shard}' named in the weight_map is missing: no file {path}");
        return SafetensorsCheckpoint.Open(path);
    }

    static TensorEntry FindInShard(string indexPath, ICheckpoint shard, string tensor) =>
        shard.Find(tensor) ?? throw new LoaderException(shard.Path, tensor,
            $"the index {indexPath} assigns this tensor to this shard, but the shard does not contain it");

    /// <summary>A shard tensor the map does not assign to that shard would be silently dropped: refuse it.</summary>
    static void CheckNoUnassigned(string indexPath, List<(string Tensor, string Shard)> weightMap, Dictionary<string, ICheckpoint> shards)
    {
        var assigned = weightMap.ToDictionary(e => e.Tensor, e => e.Shard, StringComparer.Ordinal);
        foreach ((string shardName, ICheckpoint shard) in shards)
            foreach (TensorEntry tensor in shard.Tensors)
            {
                if (assigned.GetValueOrDefault(tensor.Name) == shardName) continue;
                string where = assigned.TryGetValue(tensor.Name, out string? other) ? $"assigns it to '{other}'" : "does not list it";
                throw new LoaderException(shard.Path, tensor.Name, $"is in this shard, but the weight_map of {indexPath} {where}");
            }
    }

    public void Dispose()
    {
        foreach (ICheckpoint shard in _shards) shard.Dispose();
    }
}
