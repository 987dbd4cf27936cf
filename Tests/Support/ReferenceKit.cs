using System.Text.Json;

namespace SonicVerse.Tests.Support;

/// <summary>Finds the reference kit: $SONICVERSE_REFERENCE, else ../shared/reference beside the repository root.
/// A missing kit fails the test with a message that says where it looked (never a silent skip).</summary>
public static class ReferenceKit
{
    static readonly Lazy<string> RootPath = new(Locate);

    public static string Root => RootPath.Value;

    public static string File(params string[] relative)
    {
        string path = Path.Combine([Root, .. relative]);
        if (!System.IO.File.Exists(path) && !Directory.Exists(path))
            throw new FileNotFoundException($"reference kit file missing: {path}");
        return path;
    }

    public static JsonDocument Json(params string[] relative) => JsonDocument.Parse(System.IO.File.ReadAllText(File(relative)));

    /// <summary>A SonicVerse folder as the Hugging Face repo lays it out (projector weights and LoRA adapter side by side),
    /// made in <paramref name="dir"/> of links to the kit's component folders: what <c>--sonicverse DIR</c> takes beside
    /// <c>--mert</c> and <c>--llm</c>.</summary>
    public static string SonicVerseFolder(string dir)
    {
        string sv = Path.Combine(dir, "sv");
        Directory.CreateDirectory(sv);
        System.IO.File.CreateSymbolicLink(Path.Combine(sv, "non_lora_trainables.bin"), File("projector-tiny", "non_lora_trainables.bin"));
        foreach (string f in new[] { "adapter_config.json", "adapter_model.bin" })
            System.IO.File.CreateSymbolicLink(Path.Combine(sv, f), File("mistral-tiny", "lora", f));
        return sv;
    }

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (System.IO.File.Exists(Path.Combine(dir.FullName, "SonicVerse.Native.sln"))) return dir.FullName;
            throw new InvalidOperationException($"cannot find SonicVerse.Native.sln above {AppContext.BaseDirectory}");
        }
    }

    static string Locate()
    {
        string? env = Environment.GetEnvironmentVariable("SONICVERSE_REFERENCE");
        string path = !string.IsNullOrEmpty(env) ? env : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "reference"));
        if (!System.IO.File.Exists(Path.Combine(path, "MANIFEST.md")))
            throw new InvalidOperationException(
                $"reference kit not found at {path} (no MANIFEST.md): put the kit at ../shared/reference beside the repository " +
                "or set SONICVERSE_REFERENCE to its folder");
        return path;
    }
}
