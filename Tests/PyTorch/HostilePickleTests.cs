using SonicVerse.Loader;

namespace SonicVerse.Tests.PyTorch;

/// <summary>Pickles that would run code or build foreign objects under Python's unpickler: every one must be refused
/// with a LoaderException naming the offending global or opcode, and no payload may run.</summary>
public class HostilePickleTests
{
    [Theory]
    [InlineData("os.system", "refused pickle global 'os system'")]
    [InlineData("posix.system", "refused pickle global 'posix system'")]
    [InlineData("builtins.eval via STACK_GLOBAL", "refused pickle global 'builtins eval'")]
    [InlineData("subprocess.Popen", "refused pickle global 'subprocess Popen'")]
    [InlineData("builtins.getattr", "refused pickle global 'builtins getattr'")]
    [InlineData("INST", "refused pickle opcode INST")]
    [InlineData("OBJ", "refused pickle opcode OBJ")]
    [InlineData("NEWOBJ", "refused pickle opcode NEWOBJ")]
    [InlineData("EXT1", "refused pickle opcode EXT1")]
    [InlineData("BUILD on a global", "refused BUILD on global 'torch._utils _rebuild_tensor_v2'")]
    [InlineData("BUILD on a list", "refused BUILD on list")]
    [InlineData("REDUCE of a storage class", "unsupported call 'torch FloatStorage'")]
    [InlineData("persistent id too short", "persistent id must be ('storage', storage_type, key, location, numel)")]
    [InlineData("persistent id a string", "persistent id must be ('storage', storage_type, key, location, numel)")]
    [InlineData("persistent id with a foreign type", "persistent id must be ('storage', storage_type, key, location, numel)")]
    [InlineData("memo read before write", "memo entry 5 read before it was written")]
    [InlineData("string longer than the pickle", "BINUNICODE length 4294967280 exceeds")]
    public void HostilePickleIsRefusedAndNothingRuns(string attack, string expectedMessage)
    {
        string marker = Path.Combine(Path.GetTempPath(), $"sonicverse-pwned-{Guid.NewGuid():N}");
        string command = $"touch {marker}";

        var e = HandBuiltCheckpointTests.OpenFails(Hostile(attack, command), new());

        Assert.Contains(expectedMessage, e.Message);
        Assert.False(File.Exists(marker), $"payload ran: {marker} exists");
    }

    static byte[] Hostile(string attack, string command)
    {
        var p = new PickleWriter().Proto();
        return (attack switch
        {
            "os.system" => p.Global("os", "system").Str(command).Raw(0x85).Reduce(),
            "posix.system" => p.Global("posix", "system").Str(command).Raw(0x85).Reduce(),
            "builtins.eval via STACK_GLOBAL" => p.Str("builtins").Str("eval").Raw(0x93)
                .Str($"__import__('os').system('{command}')").Raw(0x85).Reduce(),
            "subprocess.Popen" => p.Global("subprocess", "Popen").Mark().Str("sh").Str("-c").Str(command).Op('l').Raw(0x85).Reduce(),
            "builtins.getattr" => p.Global("builtins", "getattr").Global("collections", "OrderedDict").Str("__init__").Raw(0x86).Reduce(),
            "INST" => p.Mark().Str(command).Op('i').Raw("os\nsystem\n"u8.ToArray()),
            "OBJ" => p.Mark().Global("collections", "OrderedDict").Op('o'),
            "NEWOBJ" => p.Global("collections", "OrderedDict").EmptyTuple().Raw(0x81),
            "EXT1" => p.Raw(0x82, 1).EmptyTuple().Reduce(),
            "BUILD on a global" => p.Global("torch._utils", "_rebuild_tensor_v2").EmptyDict().Op('b'),
            "BUILD on a list" => p.Op(']').EmptyDict().Op('b'),
            "REDUCE of a storage class" => p.Global("torch", "FloatStorage").EmptyTuple().Reduce(),
            "persistent id too short" => p.Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Tuple().Op('Q'),
            "persistent id a string" => p.Str(command).Op('Q'),
            "persistent id with a foreign type" => p.Mark().Str("storage").Str("os.system").Str("0").Str("cpu").Int(4).Tuple().Op('Q'),
            "memo read before write" => p.Raw((byte)'h', 5),
            "string longer than the pickle" => p.Op('X').Raw(0xF0, 0xFF, 0xFF, 0xFF).Raw("abc"u8.ToArray()),
            _ => throw new ArgumentOutOfRangeException(nameof(attack), attack, null),
        }).Stop().ToArray();
    }

    [Fact]
    public void StackDepthIsBounded()
    {
        var p = new PickleWriter().Proto();
        for (int i = 0; i <= 1 << 20; i++) p.Op('N');
        var e = HandBuiltCheckpointTests.OpenFails(p.Stop().ToArray(), new());
        Assert.Contains("stack deeper than", e.Message);
    }

    [Fact]
    public void RefusalNamesTheFileAndThePickleMember()
    {
        var e = HandBuiltCheckpointTests.OpenFails(new PickleWriter().Proto().Global("os", "system").Stop().ToArray(), new());
        Assert.EndsWith(".bin", e.FilePath);
        Assert.Contains("archive/data.pkl", e.Message);
    }
}
