using System.Buffers.Binary;
using System.Text;

namespace SonicVerse.Tests.PyTorch;

/// <summary>Writes pickle bytes opcode by opcode (CPython pickletools.py names), to build benign and hostile
/// data.pkl files by hand.</summary>
public sealed class PickleWriter
{
    readonly List<byte> _bytes = new();

    public byte[] ToArray() => _bytes.ToArray();

    public PickleWriter Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public PickleWriter Op(char opcode) => Raw((byte)opcode);
    public PickleWriter Proto(byte version = 2) => Raw(0x80, version);
    public PickleWriter Mark() => Op('(');
    public PickleWriter Tuple() => Op('t');
    public PickleWriter EmptyTuple() => Op(')');
    public PickleWriter EmptyDict() => Op('}');
    public PickleWriter Reduce() => Op('R');
    public PickleWriter SetItems() => Op('u');
    public PickleWriter False() => Raw(0x89);
    public PickleWriter Stop() => Op('.');

    public PickleWriter Global(string module, string name) => Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    public PickleWriter Str(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, utf8.Length);
        return Op('X').Raw(length).Raw(utf8);
    }

    public PickleWriter Int(long value)
    {
        if (value is >= 0 and < 256) return Raw((byte)'K', (byte)value);
        if (value is < int.MinValue or > int.MaxValue)
        {
            var wide = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(wide, value);
            return Raw(0x8a, 8).Raw(wide); // LONG1 of 8 bytes
        }
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, checked((int)value));
        return Op('J').Raw(bytes);
    }

    public PickleWriter Ints(params long[] values)
    {
        Mark();
        foreach (long v in values) Int(v);
        return Tuple();
    }

    /// <summary>The persistent id torch writes for a storage: ('storage', torch.&lt;type&gt;, key, 'cpu', numel), then BINPERSID.</summary>
    public PickleWriter Storage(string storageType, string key, long numel) =>
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Op('Q');

    /// <summary><c>_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())</c> as torch.save writes it.</summary>
    public PickleWriter Tensor(string storageType, string key, long numel, long offset, long[] shape, long[] stride) =>
        Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Storage(storageType, key, numel).Int(offset).Ints(shape).Ints(stride).False()
            .Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Tuple().Reduce();
}
