namespace SonicVerse.Loader.PyTorch;

// The only values the restricted unpickler ever builds. None is null, ints are long, floats double, strings string,
// lists List<object?>. Nothing here can run code.

internal sealed class PickleTuple
{
    public static readonly PickleTuple Empty = new([]);

    public PickleTuple(object?[] items)
    {
        Items = items;
        foreach (object? item in items)
            if (item is PickleTuple inner && inner.Depth >= Depth) Depth = inner.Depth + 1;
    }

    public object?[] Items { get; }
    /// <summary>Tuples inside tuples, counting this one: 1 for a flat tuple. The unpickler bounds it.</summary>
    public int Depth { get; } = 1;
}

/// <summary>A Python dict or OrderedDict: insertion-ordered, later assignments to a key replace earlier ones.</summary>
internal sealed class PickleDict
{
    readonly Dictionary<object, int> _index = new();
    readonly List<KeyValuePair<object, object?>> _items = new();

    public IReadOnlyList<KeyValuePair<object, object?>> Items => _items;

    /// <summary>Keys are limited to str and int: that is all a state dict uses, and it keeps hashing trivial.</summary>
    public bool TrySet(object? key, object? value)
    {
        if (key is not (string or long)) return false;
        if (_index.TryGetValue(key, out int at)) _items[at] = new(key, value);
        else
        {
            _index[key] = _items.Count;
            _items.Add(new(key, value));
        }
        return true;
    }

    public object? Get(string key) => _index.TryGetValue(key, out int at) ? _items[at].Value : null;
}

internal enum GlobalKind { OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, StorageType, DTypeValue }

/// <summary>A whitelisted global: a marker naming what it stands for, never a callable object.</summary>
internal sealed record PickleGlobal(string Module, string Name, GlobalKind Kind, DType DType = default)
{
    public override string ToString() => $"{Module} {Name}";
}

/// <summary>A storage from a persistent id <c>('storage', storage_type, key, location, numel)</c>: the blob <c>data/&lt;key&gt;</c>.</summary>
internal sealed record StorageRef(DType DType, string Key, string Location, long ElementCount);

/// <summary>The arguments of <c>torch._utils._rebuild_tensor_v2</c>: a strided view of a storage (offset and strides in elements).</summary>
internal sealed record TensorRef(StorageRef Storage, long StorageOffset, long[] Shape, long[] Strides);
