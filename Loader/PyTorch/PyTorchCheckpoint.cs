using SonicVerse.Loader.PyTorch;

namespace SonicVerse.Loader;

/// <summary>
/// A <c>torch.save</c> zip checkpoint (torch ≥ 1.6): <c>&lt;root&gt;/data.pkl</c> describes the state dict,
/// <c>&lt;root&gt;/data/&lt;key&gt;</c> hold the storages. The file is memory-mapped; contiguous tensors point into
/// stored (uncompressed) members, strided views are copied to contiguous form on first access.
/// The pickle is read by <see cref="RestrictedUnpickler"/>: nothing in the file is ever executed.
/// </summary>
public sealed class PyTorchCheckpoint : ICheckpoint
{
    /// <summary>data.pkl holds names and shapes only (~100 bytes per tensor); a larger one is not a state dict.</summary>
    const long MaxPickleBytes = 256L << 20;

    readonly MappedFile _file;
    readonly Dictionary<string, TensorEntry> _byName;

    PyTorchCheckpoint(MappedFile file, List<TensorEntry> tensors)
    {
        _file = file;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path => _file.Path;
    public string Format => "pytorch";
    public IReadOnlyList<TensorEntry> Tensors { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; } = new Dictionary<string, object>();

    public TensorEntry? Find(string name) => _byName.GetValueOrDefault(name);

    public void Dispose() => _file.Dispose();

    public static ICheckpoint Open(string path)
    {
        if (!File.Exists(path)) throw new LoaderException(path, "no such file");
        var file = MappedFile.Open(path, 22, "a zip end-of-central-directory record");
        try
        {
            var zip = ZipIndex.Read(file);
            var pickleEntry = FindPickle(path, zip);
            string root = pickleEntry.Name[..^"data.pkl".Length];
            if (pickleEntry.UncompressedSize > MaxPickleBytes)
                throw new LoaderException(path, $"{pickleEntry.Name} is {pickleEntry.UncompressedSize} bytes, more than the {MaxPickleBytes} a state dict needs");
            var pickle = zip.Open(pickleEntry);
            object? top = RestrictedUnpickler.Load(pickle.Slice(0, pickle.Length).ToArray(), path, pickleEntry.Name);
            var tensors = BuildTensors(path, zip, root, StateDict(path, top));
            return new PyTorchCheckpoint(file, tensors);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static ZipEntry FindPickle(string path, ZipIndex zip)
    {
        var pickles = zip.Entries.Where(e => e.Name == "data.pkl" || e.Name.EndsWith("/data.pkl", StringComparison.Ordinal)).ToList();
        return pickles.Count switch
        {
            1 => pickles[0],
            0 => throw new LoaderException(path, "no data.pkl in this zip: not a torch.save checkpoint " +
                                                 $"(members: {string.Join(", ", zip.Entries.Take(5).Select(e => e.Name))})"),
            _ => throw new LoaderException(path, $"several data.pkl members: {string.Join(", ", pickles.Select(e => e.Name))}"),
        };
    }

    /// <summary>The name → tensor dict: the top-level dict itself, or a training checkpoint's "state_dict"/"model" entry
    /// when the top level holds no tensors.</summary>
    static PickleDict StateDict(string path, object? top)
    {
        if (top is not PickleDict dict)
            throw new LoaderException(path, $"the pickle holds {RestrictedUnpickler.Describe(top)}, expected a dict of name → tensor");
        if (dict.Items.Any(kv => kv.Value is TensorRef)) return dict;
        foreach (string key in new[] { "state_dict", "model" })
            if (dict.Get(key) is PickleDict nested) return nested;
        return dict;
    }

    static List<TensorEntry> BuildTensors(string path, ZipIndex zip, string root, PickleDict stateDict)
    {
        var blobs = new Dictionary<string, ZipBlob>(StringComparer.Ordinal);
        var tensors = new List<TensorEntry>(stateDict.Items.Count);
        foreach (var (key, value) in stateDict.Items)
        {
            if (key is not string name) throw new LoaderException(path, $"state dict key {RestrictedUnpickler.Describe(key)} is not a string");
            if (value is not TensorRef tensor)
                throw new LoaderException(path, name, $"value is {RestrictedUnpickler.Describe(value)}, not a tensor");
            if (!blobs.TryGetValue(tensor.Storage.Key, out var blob))
                blobs[tensor.Storage.Key] = blob = StorageBlob(path, zip, root, tensor.Storage);
            tensors.Add(PyTorchTensor.Create(name, tensor, blob, path));
        }
        return tensors;
    }

    static ZipBlob StorageBlob(string path, ZipIndex zip, string root, StorageRef storage)
    {
        string member = root + "data/" + storage.Key;
        var entry = zip.Find(member)
            ?? throw new LoaderException(path, $"storage '{storage.Key}' is missing: no zip member '{member}'");
        var blob = zip.Open(entry);
        long expected = storage.DType.ByteSize(storage.ElementCount);
        if (blob.Length != expected)
            throw new LoaderException(path, $"storage '{storage.Key}' ({member}) is {blob.Length} bytes, expected " +
                                            $"{storage.ElementCount} × {storage.DType} = {expected}");
        return blob;
    }
}
