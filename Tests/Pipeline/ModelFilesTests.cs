using SonicVerse.Runtime;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary>Finding the three parts: bundle.json, the mert/ llm/ sonicverse/ layout, explicit flags, the Hugging Face cache.</summary>
public class ModelFilesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sv-models-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string Kit(params string[] p) => ReferenceKit.File(p);

    /// <summary>A folder laid out like the amaai-lab/SonicVerse repo, its files linked from the kit.</summary>
    string SonicVerseRepoAt(string dir)
    {
        Directory.CreateDirectory(dir);
        File.CreateSymbolicLink(Path.Combine(dir, "config.json"), Kit("sonicverse-tiny", "config.json"));
        File.CreateSymbolicLink(Path.Combine(dir, "non_lora_trainables.bin"), Kit("projector-tiny", "non_lora_trainables.bin"));
        foreach (string f in new[] { "adapter_config.json", "adapter_model.safetensors" })
            File.CreateSymbolicLink(Path.Combine(dir, f), Kit("mistral-tiny", "lora", f));
        return dir;
    }

    [Fact]
    public void BundleNamesThePartsByRelativePath()
    {
        var files = ModelFiles.Resolve(Kit("sonicverse-tiny"), null, null, null);
        Assert.Equal(Path.GetFullPath(Kit("mert-tiny", "model")), files.Mert);
        Assert.Equal(Path.GetFullPath(Kit("mistral-tiny", "hf")), files.Llm);
        Assert.Equal(Path.GetFullPath(Kit("tokenizer", "tokenizer.model")), files.Tokenizer);
        Assert.Equal(Path.GetFullPath(Kit("projector-tiny", "non_lora_trainables.bin")), files.Projector);
        Assert.Equal(Path.GetFullPath(Kit("mistral-tiny", "lora")), files.LoraAdapter);
    }

    [Fact]
    public void FolderLayoutWithAnHfLlmOrAGguf()
    {
        Directory.CreateSymbolicLink(Path.Combine(_dir, "mert"), Kit("mert-tiny", "model"));
        SonicVerseRepoAt(Path.Combine(_dir, "sonicverse"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "llm"), Kit("mistral-tiny", "hf"));
        var hf = ModelFiles.Resolve(_dir, null, null, null);
        Assert.Equal(Path.Combine(_dir, "llm", "tokenizer.model"), hf.Tokenizer);
        Assert.Equal(Path.Combine(_dir, "sonicverse"), hf.LoraAdapter);

        Directory.Delete(Path.Combine(_dir, "llm"));
        Directory.CreateDirectory(Path.Combine(_dir, "llm"));
        File.CreateSymbolicLink(Path.Combine(_dir, "llm", "m.gguf"), Kit("mistral-tiny", "gguf", "tiny-mistral-q8_0.gguf"));
        var gguf = ModelFiles.Resolve(_dir, null, null, null);
        Assert.Equal(Path.Combine(_dir, "llm", "m.gguf"), gguf.Llm);
        Assert.Null(gguf.Tokenizer);   // the GGUF's own vocabulary
    }

    [Fact]
    public void HuggingFaceCacheSnapshots()
    {
        string hub = Path.Combine(_dir, "hub");
        string Snapshot(string repo) => Path.Combine(hub, "models--" + repo.Replace("/", "--"), "snapshots", "0123abcd");
        Directory.CreateDirectory(Path.GetDirectoryName(Snapshot(ModelFiles.MertRepo))!);
        Directory.CreateSymbolicLink(Snapshot(ModelFiles.MertRepo), Kit("mert-tiny", "model"));
        Directory.CreateDirectory(Path.GetDirectoryName(Snapshot(ModelFiles.LlmRepo))!);
        Directory.CreateSymbolicLink(Snapshot(ModelFiles.LlmRepo), Kit("mistral-tiny", "hf"));
        SonicVerseRepoAt(Snapshot(ModelFiles.SonicVerseRepo));
        var files = ModelFiles.Resolve(null, null, null, null, hubCache: hub);
        Assert.Equal(Snapshot(ModelFiles.MertRepo), files.Mert);
        Assert.Equal(Snapshot(ModelFiles.LlmRepo), files.Llm);
        Assert.Equal(Path.Combine(Snapshot(ModelFiles.SonicVerseRepo), "non_lora_trainables.bin"), files.Projector);
    }

    [Fact]
    public void MissingPiecesSayWhichRepoAndHowToGetIt()
    {
        var e = Assert.Throws<InputException>(() => ModelFiles.Resolve(null, null, null, null, hubCache: Path.Combine(_dir, "empty")));
        Assert.Contains("huggingface-cli download", e.Message);

        string sv = SonicVerseRepoAt(Path.Combine(_dir, "sv"));
        File.Delete(Path.Combine(sv, "non_lora_trainables.bin"));
        e = Assert.Throws<InputException>(() => ModelFiles.Resolve(null, Kit("mert-tiny", "model"), Kit("mistral-tiny", "hf"), sv));
        Assert.Contains("non_lora_trainables.bin", e.Message);
        Assert.Contains(ModelFiles.SonicVerseRepo, e.Message);

        e = Assert.Throws<InputException>(() => ModelFiles.Resolve(null, Kit("mert-tiny", "model"), null, null));
        Assert.Contains("--mert, --llm and --sonicverse go together", e.Message);
    }

    [Fact]
    public void ExplicitPartsWork()
    {
        string sv = SonicVerseRepoAt(Path.Combine(_dir, "sv"));
        var files = ModelFiles.Resolve(null, Kit("mert-tiny", "model"), Kit("mistral-tiny", "gguf", "tiny-mistral-f32.gguf"), sv);
        Assert.EndsWith("tiny-mistral-f32.gguf", files.Llm);
        Assert.Null(files.Tokenizer);
        Assert.Equal(sv, files.LoraAdapter);
    }
}
