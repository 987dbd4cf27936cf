namespace SonicVerse.Loader.PyTorch;

/// <summary>The whitelist: every global a <c>torch.save</c> of a state dict may name (torch 1.6–2.x), each mapped to an
/// inert marker. Anything not listed here is refused by the unpickler.</summary>
internal static class AllowedGlobals
{
    static readonly Dictionary<(string, string), PickleGlobal> Table = Build();

    public static PickleGlobal? Find(string module, string name) => Table.GetValueOrDefault((module, name));

    static Dictionary<(string, string), PickleGlobal> Build()
    {
        var table = new Dictionary<(string, string), PickleGlobal>();
        void Add(string module, string name, GlobalKind kind, DType dtype = default) =>
            table[(module, name)] = new PickleGlobal(module, name, kind, dtype);

        Add("collections", "OrderedDict", GlobalKind.OrderedDict);
        Add("torch._utils", "_rebuild_tensor_v2", GlobalKind.RebuildTensorV2);
        Add("torch._utils", "_rebuild_parameter", GlobalKind.RebuildParameter);
        Add("torch._utils", "_rebuild_parameter_with_state", GlobalKind.RebuildParameterWithState);

        // torch/storage.py legacy typed storage classes, named in persistent ids by pickle_storage_type().
        foreach (var (name, dtype) in new[]
                 {
                     ("FloatStorage", DType.F32), ("HalfStorage", DType.F16), ("BFloat16Storage", DType.BF16),
                     ("DoubleStorage", DType.F64), ("LongStorage", DType.I64), ("IntStorage", DType.I32),
                     ("ShortStorage", DType.I16), ("CharStorage", DType.I8), ("ByteStorage", DType.U8), ("BoolStorage", DType.Bool),
                 })
            Add("torch", name, GlobalKind.StorageType, dtype);
        // torch >= 2.0 saves an untyped storage as raw bytes (serialization.py: storage_dtype = torch.uint8).
        Add("torch", "UntypedStorage", GlobalKind.StorageType, DType.U8);
        Add("torch.storage", "UntypedStorage", GlobalKind.StorageType, DType.U8);

        foreach (var (name, dtype) in new[]
                 {
                     ("float32", DType.F32), ("float", DType.F32), ("float16", DType.F16), ("half", DType.F16),
                     ("bfloat16", DType.BF16), ("float64", DType.F64), ("double", DType.F64), ("int64", DType.I64),
                     ("long", DType.I64), ("int32", DType.I32), ("int", DType.I32), ("int16", DType.I16), ("short", DType.I16),
                     ("int8", DType.I8), ("uint8", DType.U8), ("bool", DType.Bool),
                 })
            Add("torch", name, GlobalKind.DTypeValue, dtype);
        return table;
    }
}
