using System.Diagnostics;
using System.Text.RegularExpressions;
using ILGPU.Runtime.Cuda;
using SonicVerse.Kernels.Ilgpu;

// sonicverse-kernel-report --ptxas PATH --cuobjdump PATH [--keep DIR] [--only TEXT (variants whose label contains it)]
// Prints a Markdown table: per kernel variant, what ptxas assembled for an H100 (sm_90).
var options = ParseOptions(args);
string work = options.GetValueOrDefault("--keep") ?? Directory.CreateTempSubdirectory("sonicverse-ptx-").FullName;
Directory.CreateDirectory(work);
using var context = PtxCatalog.CreateContext();

Console.WriteLine("| kernel | registers | spill bytes | warps/SM by registers | SASS instructions | global loads (LDG) | generic loads (LD) | shared loads | shuffles | barriers |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
string only = options.GetValueOrDefault("--only") ?? "";
foreach (var variant in PtxCatalog.Variants.Where(v => v.Label.Contains(only, StringComparison.Ordinal)))
{
    string stem = Path.Combine(work, Regex.Replace(variant.Label, "[^A-Za-z0-9_]+", "_"));
    File.WriteAllText(stem + ".ptx", PtxCatalog.CompilePtx(context, variant, CudaArchitecture.SM_90, CudaInstructionSet.ISA_78));
    string info = Run(options["--ptxas"], $"-arch=sm_90 -v -o {stem}.cubin {stem}.ptx");
    string sass = Run(options["--cuobjdump"], $"-sass {stem}.cubin");
    File.WriteAllText(stem + ".sass", sass);
    int registers = Number(info, @"Used (\d+) registers"), spills = Number(info, @"(\d+) bytes spill stores");
    var opcodes = Regex.Matches(sass, @"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P[T0-9]\s+)?([A-Z][A-Z0-9_]*)").Select(m => m.Groups[1].Value).ToList();
    int Count(string opcode) => opcodes.Count(o => o == opcode);
    Console.WriteLine($"| {variant.Label} | {registers} | {spills} | {WarpsByRegisters(registers)} | {opcodes.Count(o => o != "NOP")} | " +
        $"{Count("LDG")} | {Count("LD")} | {Count("LDS")} | {Count("SHFL")} | {Count("BAR")} |");
}
return 0;

// sm_90: 65,536 registers a multiprocessor, allocated per warp in units of 256 (8 a thread), at most 64 warps.
static int WarpsByRegisters(int registers) => Math.Min(64, 65536 / ((registers + 7) / 8 * 8 * 32));

static int Number(string text, string pattern) =>
    Regex.Match(text, pattern) is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;

static string Run(string tool, string arguments)
{
    var start = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {tool}");
    var stderr = process.StandardError.ReadToEndAsync();
    string stdout = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} {arguments} failed: {stderr.Result}");
    return stdout + stderr.Result;
}

static Dictionary<string, string> ParseOptions(string[] args)
{
    var options = new Dictionary<string, string>();
    for (int i = 0; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
    foreach (var required in new[] { "--ptxas", "--cuobjdump" })
        if (!options.ContainsKey(required))
        {
            Console.Error.WriteLine($"error: {required} PATH is required (Benchmarks/kernel-report.sh fetches the tools)");
            Environment.Exit(2);
        }
    return options;
}
