using SharpFuzz;
using SonicVerse.Fuzz;

// SonicVerse.Fuzz TARGET            run under afl-fuzz (Tests/fuzz/run.sh)
// SonicVerse.Fuzz TARGET FILE...    replay saved inputs once each (a crash AFL found, a regression file)
// SonicVerse.Fuzz seed-gguf FOLDER  write the small GGUF seed
if (args is ["seed-gguf", string folder])
{
    Seeds.WriteGguf(folder);
    return 0;
}
if (args.Length == 0 || !Targets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: SonicVerse.Fuzz TARGET [FILE...]; targets: {string.Join(", ", Targets.All.Keys)}");
    return 2;
}
if (args.Length > 1)
{
    foreach (string file in args.Skip(1)) target(file);
    return 0;
}

// The readers take paths (they memory-map), so each input is written to one scratch file per process.
string scratch = Path.Combine(Path.GetTempPath(), $"sonicverse-fuzz-{Environment.ProcessId}.bin");
try
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using (var file = File.Create(scratch)) stream.CopyTo(file);
        target(scratch);
    });
}
finally
{
    File.Delete(scratch);
}
return 0;
