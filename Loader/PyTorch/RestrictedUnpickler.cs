using System.Buffers.Binary;
using System.Text;

namespace SonicVerse.Loader.PyTorch;

/// <summary>
/// A whitelist interpreter of the pickle opcodes (Python's pickletools.py documents each one) that
/// <c>torch.save(state_dict)</c> writes. It only builds plain values (PickleValues.cs): globals are resolved
/// against a fixed list to inert markers, REDUCE is interpreted for those markers only, persistent ids must be
/// storage tuples. Any other global or opcode is refused with a <see cref="LoaderException"/> naming it.
/// </summary>
internal sealed class RestrictedUnpickler
{
    /// <summary>Bounds on interpreter state; real state dicts stay far below them (a 7B model: ~300 memo entries per layer).</summary>
    public const int MaxStackDepth = 1 << 20, MaxMemoEntries = 1 << 22, MaxMarkDepth = 1 << 16;
    /// <summary>Tuples nest at most this deep (a state dict nests 3: args → size tuple); deeper nesting would make
    /// anything that walks a value, such as an error message, recurse without bound.</summary>
    public const int MaxTupleNesting = 64;
    const int MaxGlobalNameLength = 256;

    readonly byte[] _data;
    readonly string _file;
    readonly string _entry;
    readonly List<object?> _stack = new();
    readonly List<int> _marks = new();
    readonly Dictionary<long, object?> _memo = new();
    readonly Dictionary<string, StorageRef> _storages = new(StringComparer.Ordinal);
    int _pos;
    int _opcodeAt;

    RestrictedUnpickler(byte[] data, string file, string entry)
    {
        _data = data;
        _file = file;
        _entry = entry;
    }

    /// <summary>Interprets <paramref name="pickle"/> (the bytes of <paramref name="entry"/> in <paramref name="file"/>)
    /// up to STOP and returns the top-level value.</summary>
    public static object? Load(byte[] pickle, string file, string entry) => new RestrictedUnpickler(pickle, file, entry).Run();

    object? Run()
    {
        while (true)
        {
            _opcodeAt = _pos;
            byte op = ReadByte();
            if (op == (byte)'.') return Stop();
            if (!(PushScalar(op) || Container(op) || Memo(op) || Call(op)))
                throw Fail($"refused pickle opcode {PickleOpcodes.Name(op)} (0x{op:x2}): not used by torch.save of a state dict");
        }
    }

    object? Stop()
    {
        if (_stack.Count != 1 || _marks.Count != 0)
            throw Fail($"STOP with {_stack.Count} value(s) on the stack and {_marks.Count} open mark(s); expected exactly one value");
        return _stack[0];
    }

    bool PushScalar(byte op)
    {
        switch (op)
        {
            case 0x80: // PROTO
                byte version = ReadByte();
                if (version > 5) throw Fail($"pickle protocol {version} is newer than 5");
                return true;
            case 0x95: // FRAME: an 8-byte length prefix for buffering; the data that follows is read as usual
                ReadCount(8, "FRAME");
                return true;
            case (byte)'N': Push(null); return true;
            case 0x88: Push(true); return true;
            case 0x89: Push(false); return true;
            case (byte)'K': Push((long)ReadByte()); return true;
            case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Read(2))); return true;
            case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Read(4))); return true;
            case 0x8a: Push(ReadLong1()); return true;
            case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Read(8))); return true;
            case 0x8c: Push(ReadString(ReadByte())); return true;
            case (byte)'X': Push(ReadString(ReadCount(4, "BINUNICODE"))); return true;
            case 0x8d: Push(ReadString(ReadCount(8, "BINUNICODE8"))); return true;
            default: return false;
        }
    }

    bool Container(byte op)
    {
        switch (op)
        {
            case (byte)'(':
                if (_marks.Count >= MaxMarkDepth) throw Fail($"more than {MaxMarkDepth} nested MARKs");
                _marks.Add(_stack.Count);
                return true;
            case (byte)')': Push(PickleTuple.Empty); return true;
            case (byte)'}': Push(new PickleDict()); return true;
            case (byte)']': Push(new List<object?>()); return true;
            case (byte)'t': Push(Tuple(PopToMark())); return true;
            case 0x85: Push(Tuple(PopMany(1))); return true;
            case 0x86: Push(Tuple(PopMany(2))); return true;
            case 0x87: Push(Tuple(PopMany(3))); return true;
            case (byte)'s': SetItems(PopMany(2)); return true;
            case (byte)'u': SetItems(PopToMark()); return true;
            case (byte)'a': Append(PopMany(1)); return true;
            case (byte)'e': Append(PopToMark()); return true;
            default: return false;
        }
    }

    bool Memo(byte op)
    {
        switch (op)
        {
            case (byte)'q': Put(ReadByte()); return true;
            case (byte)'r': Put(BinaryPrimitives.ReadUInt32LittleEndian(Read(4))); return true;
            case 0x94: Put(_memo.Count); return true;
            case (byte)'h': Get(ReadByte()); return true;
            case (byte)'j': Get(BinaryPrimitives.ReadUInt32LittleEndian(Read(4))); return true;
            default: return false;
        }
    }

    bool Call(byte op)
    {
        switch (op)
        {
            case (byte)'c': // GLOBAL: "module\nname\n"
                string module = ReadLine(), name = ReadLine();
                Push(ResolveGlobal(module, name));
                return true;
            case 0x93: // STACK_GLOBAL
                var names = PopMany(2);
                if (names[0] is not string m || names[1] is not string n)
                    throw Fail($"STACK_GLOBAL needs two strings, found {Describe(names[0])} and {Describe(names[1])}");
                Push(ResolveGlobal(m, n));
                return true;
            case (byte)'Q': Push(PersistentLoad(Pop())); return true;
            case (byte)'R':
                var call = PopMany(2);
                Push(Reduce(call[0], call[1]));
                return true;
            case (byte)'b': Build(PopMany(1)[0]); return true;
            default: return false;
        }
    }

    object ResolveGlobal(string module, string name)
    {
        var global = AllowedGlobals.Find(module, name);
        return global ?? throw Fail($"refused pickle global '{module} {name}': only the globals of a torch state dict " +
                                    "(collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage, torch dtypes) are allowed");
    }

    object? Reduce(object? callable, object? args)
    {
        if (callable is not PickleGlobal global) throw Fail($"REDUCE on {Describe(callable)}, which is not a whitelisted global");
        if (args is not PickleTuple tuple) throw Fail($"REDUCE of '{global}' with {Describe(args)} instead of an argument tuple");
        var a = tuple.Items;
        switch (global.Kind)
        {
            case GlobalKind.OrderedDict when a.Length == 0:
                return new PickleDict();
            case GlobalKind.RebuildTensorV2 when a.Length is 6 or 7:
                return RebuildTensor(a);
            case GlobalKind.RebuildParameter when a.Length == 3 && a[0] is TensorRef:
            case GlobalKind.RebuildParameterWithState when a.Length == 4 && a[0] is TensorRef:
                return a[0];
            default:
                throw Fail($"unsupported call '{global}' with {a.Length} argument(s) ({string.Join(", ", a.Select(Describe))})");
        }
    }

    /// <summary>torch/_utils.py: <c>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])</c>.</summary>
    TensorRef RebuildTensor(object?[] a)
    {
        if (a[0] is not StorageRef storage) throw Fail($"_rebuild_tensor_v2: storage argument is {Describe(a[0])}");
        if (a[1] is not long offset || offset < 0) throw Fail($"_rebuild_tensor_v2: storage offset is {Describe(a[1])}");
        long[] shape = Longs(a[2], "size"), strides = Longs(a[3], "stride");
        if (shape.Length != strides.Length)
            throw Fail($"_rebuild_tensor_v2: size has {shape.Length} dimensions but stride has {strides.Length}");
        if (a[4] is not bool) throw Fail($"_rebuild_tensor_v2: requires_grad is {Describe(a[4])}");
        if (a[5] is not PickleDict hooks || hooks.Items.Count != 0) throw Fail($"_rebuild_tensor_v2: backward_hooks is {Describe(a[5])}, expected an empty OrderedDict");
        return new TensorRef(storage, offset, shape, strides);
    }

    long[] Longs(object? value, string what)
    {
        if (value is not PickleTuple tuple) throw Fail($"_rebuild_tensor_v2: {what} is {Describe(value)}, expected a tuple of ints");
        var result = new long[tuple.Items.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = tuple.Items[i] is long v && v >= 0 ? v : throw Fail($"_rebuild_tensor_v2: {what}[{i}] is {Describe(tuple.Items[i])}");
        return result;
    }

    /// <summary>torch/serialization.py persistent_id: <c>('storage', storage_type, key, location, numel)</c>.
    /// The same key always yields the same storage (several tensors may view one storage).</summary>
    StorageRef PersistentLoad(object? pid)
    {
        if (pid is not PickleTuple { Items: ["storage", PickleGlobal { Kind: GlobalKind.StorageType or GlobalKind.DTypeValue } type, string key, string location, long numel] }
            || numel < 0)
            throw Fail($"persistent id must be ('storage', storage_type, key, location, numel), found {Describe(pid)}");
        var storage = new StorageRef(type.DType, key, location, numel);
        if (!_storages.TryGetValue(key, out var known)) return _storages[key] = storage;
        if (known.DType != storage.DType || known.ElementCount != storage.ElementCount)
            throw Fail($"storage '{key}' is referenced as {known.DType}[{known.ElementCount}] and as {storage.DType}[{storage.ElementCount}]");
        return known;
    }

    /// <summary>BUILD sets object state. A state dict's OrderedDict carries <c>_metadata</c> this way and a tensor may carry
    /// an empty state; both are ignored. BUILD on anything else would mean running foreign code, so it is refused.</summary>
    void Build(object? state)
    {
        object? target = Peek();
        if (target is not (PickleDict or TensorRef))
            throw Fail($"refused BUILD on {Describe(target)}: only an OrderedDict or a tensor may receive state");
        if (state is not (null or PickleDict or PickleTuple))
            throw Fail($"BUILD state is {Describe(state)}");
    }

    PickleTuple Tuple(object?[] items)
    {
        var tuple = new PickleTuple(items);
        if (tuple.Depth > MaxTupleNesting) throw Fail($"tuples nested more than {MaxTupleNesting} deep");
        return tuple;
    }

    void SetItems(object?[] pairs)
    {
        if (pairs.Length % 2 != 0) throw Fail($"SETITEMS with an odd number ({pairs.Length}) of keys and values");
        if (Peek() is not PickleDict dict) throw Fail($"SETITEM(S) on {Describe(Peek())}, not a dict");
        for (int i = 0; i < pairs.Length; i += 2)
            if (!dict.TrySet(pairs[i], pairs[i + 1])) throw Fail($"dict key {Describe(pairs[i])} is not a str or int");
    }

    void Append(object?[] items)
    {
        if (Peek() is not List<object?> list) throw Fail($"APPEND(S) on {Describe(Peek())}, not a list");
        list.AddRange(items);
    }

    void Put(long index)
    {
        if (_memo.Count >= MaxMemoEntries && !_memo.ContainsKey(index)) throw Fail($"more than {MaxMemoEntries} memo entries");
        _memo[index] = Peek();
    }

    void Get(long index)
    {
        if (!_memo.TryGetValue(index, out var value)) throw Fail($"memo entry {index} read before it was written");
        Push(value);
    }

    void Push(object? value)
    {
        if (_stack.Count >= MaxStackDepth) throw Fail($"stack deeper than {MaxStackDepth}");
        _stack.Add(value);
    }

    object? Pop() => PopMany(1)[0];

    object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Fail("stack underflow");
        return _stack[^1];
    }

    object?[] PopMany(int count)
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count - floor < count) throw Fail("stack underflow");
        return Take(_stack.Count - count);
    }

    object?[] PopToMark()
    {
        if (_marks.Count == 0) throw Fail("no MARK to pop to");
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        return Take(mark);
    }

    object?[] Take(int from)
    {
        var items = _stack.GetRange(from, _stack.Count - from).ToArray();
        _stack.RemoveRange(from, _stack.Count - from);
        return items;
    }

    byte ReadByte() => Read(1)[0];

    ReadOnlySpan<byte> Read(long count)
    {
        if (count < 0 || count > _data.Length - _pos)
            throw Fail($"truncated pickle: needs {count} more byte(s) but {_data.Length - _pos} remain");
        var span = _data.AsSpan(_pos, (int)count);
        _pos += (int)count;
        return span;
    }

    /// <summary>A little-endian length of <paramref name="width"/> bytes, bounded by what is left of the pickle.</summary>
    long ReadCount(int width, string op)
    {
        ulong n = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Read(4)) : BinaryPrimitives.ReadUInt64LittleEndian(Read(8));
        if (n > (ulong)(_data.Length - _pos)) throw Fail($"{op} length {n} exceeds the {_data.Length - _pos} bytes left in the pickle");
        return (long)n;
    }

    string ReadString(long length)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Read(length)); }
        catch (DecoderFallbackException e) { throw Fail($"string is not valid UTF-8 ({e.Message})"); }
    }

    /// <summary>LONG1: a little-endian two's-complement integer of n bytes; only n ≤ 8 fits the values a state dict uses.</summary>
    long ReadLong1()
    {
        int n = ReadByte();
        if (n > 8) throw Fail($"LONG1 of {n} bytes does not fit in 64 bits");
        var bytes = Read(n);
        long value = 0;
        for (int i = n - 1; i >= 0; i--) value = (value << 8) | bytes[i];
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0) value -= 1L << (8 * n);
        return value;
    }

    string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(MaxGlobalNameLength, _data.Length - _pos));
        if (end < 0) throw Fail($"GLOBAL name is unterminated or longer than {MaxGlobalNameLength} bytes");
        string line = ReadString(end - _pos);
        _pos++;
        return line;
    }

    LoaderException Fail(string problem) =>
        new(_file, $"{_entry}: {problem} (at byte {_opcodeAt} of the pickle)");

    internal static string Describe(object? value) => value switch
    {
        null => "None",
        string s => $"str '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        long l => $"int {l}",
        bool b => b ? "True" : "False",
        double d => $"float {d}",
        PickleTuple t => $"tuple({string.Join(", ", t.Items.Take(6).Select(Describe))}{(t.Items.Length > 6 ? ", ..." : "")})",
        PickleDict d => $"dict of {d.Items.Count}",
        List<object?> l => $"list of {l.Count}",
        PickleGlobal g => $"global '{g}'",
        StorageRef s => $"storage '{s.Key}' ({s.DType}[{s.ElementCount}])",
        TensorRef t => $"tensor {t.Storage.DType}[{string.Join(", ", t.Shape)}]",
        _ => value.GetType().Name,
    };
}
