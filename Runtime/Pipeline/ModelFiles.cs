using System.Text.Json;

namespace SonicVerse.Runtime.Pipeline;

/// <summary>Where the parts of a SonicVerse model are on disk.</summary>
/// <param name="Mert">MERT folder (config.json, preprocessor_config.json, pytorch_model.bin or model.safetensors).</param>
/// <param name="Llm">Mistral: an HF folder, or a .gguf file.</param>
/// <param name="Tokenizer">tokenizer.model, or null when <paramref name="Llm"/> is a GGUF with its own vocabulary.</param>
/// <param name="LoraAdapter">peft folder (adapter_config.json + adapter_model.*).</param>
/// <param name="Projector">non_lora_trainables.bin.</param>
/// <param name="Labels">labels.json naming the feature heads' classes, when the bundle names one (key "labels") or the
/// model folder holds one.</param>
public sealed record ModelFiles(string Mert, string Llm, string? Tokenizer, string LoraAdapter, string Projector, string? Labels = null)
{
    public const string MertRepo = "m-a-p/MERT-v1-95M";
    public const string LlmRepo = "mistralai/Mistral-7B-Instruct-v0.1";
    public const string SonicVerseRepo = "amaai-lab/SonicVerse";

    /// <summary>
    /// Resolves the model parts, in this order: explicit <c>--mert/--llm/--sonicverse</c> (all three, or none);
    /// <c>--model DIR</c> with a <c>bundle.json</c> naming the parts by relative path, or with the folders
    /// <c>mert/</c>, <c>llm/</c> (HF folder or one .gguf) and <c>sonicverse/</c>; else the Hugging Face cache
    /// (<c>$HF_HOME/hub</c> or <c>~/.cache/huggingface/hub</c>). A missing piece is one <see cref="InputException"/> saying
    /// which file is missing and how to get it.
    /// </summary>
    public static ModelFiles Resolve(string? model, string? mert, string? llm, string? sonicverse, string? hubCache = null)
    {
        bool anyExplicit = mert is not null || llm is not null || sonicverse is not null;
        if (anyExplicit)
        {
            if (model is not null) throw new InputException("give either --model or --mert/--llm/--sonicverse, not both");
            if (mert is null || llm is null || sonicverse is null)
                throw new InputException("--mert, --llm and --sonicverse go together: give all three (or --model DIR)");
            return FromParts(mert, llm, sonicverse, sonicverse);
        }
        if (model is not null)
        {
            if (!Directory.Exists(model)) throw new InputException($"{model}: no such model folder");
            string bundle = Path.Combine(model, "bundle.json");
            return File.Exists(bundle) ? FromBundle(bundle) : FromLayout(model);
        }
        return FromHuggingFaceCache(hubCache ?? DefaultHubCache());
    }

    /// <summary><c>$HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c> (huggingface_hub's order).</summary>
    public static string DefaultHubCache()
    {
        string? hfHome = Environment.GetEnvironmentVariable("HF_HOME");
        return Environment.GetEnvironmentVariable("HF_HUB_CACHE")
            ?? (hfHome is not null ? Path.Combine(hfHome, "hub")
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub"));
    }

    static ModelFiles FromBundle(string bundlePath)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(bundlePath))!;
        JsonElement root;
        try { root = JsonDocument.Parse(File.ReadAllText(bundlePath)).RootElement; }
        catch (JsonException e) { throw new InputException($"{bundlePath}: not valid JSON ({e.Message})"); }
        string Part(string key) =>
            root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
                ? Path.GetFullPath(Path.Combine(dir, v.GetString()!))
                : throw new InputException($"{bundlePath}: key \"{key}\" (a relative path) is missing");
        string? tokenizer = root.TryGetProperty("tokenizer", out _) ? Part("tokenizer") : null;
        string? labels = root.TryGetProperty("labels", out _) ? Part("labels") : LabelsIn(dir);
        var files = new ModelFiles(Part("mert"), Part("base_llm"), tokenizer, Part("lora_adapter"), Part("non_lora_trainables"), labels);
        return files.WithTokenizerFromLlm().Checked($"bundle {bundlePath}");
    }

    static ModelFiles FromLayout(string dir)
    {
        string mert = Path.Combine(dir, "mert"), llm = Path.Combine(dir, "llm"), sv = Path.Combine(dir, "sonicverse");
        foreach (var (folder, repo) in new[] { (mert, MertRepo), (llm, LlmRepo), (sv, SonicVerseRepo) })
            if (!Directory.Exists(folder))
                throw new InputException($"{dir}: no bundle.json and no {Path.GetFileName(folder)}/ folder " +
                    $"(expected mert/, llm/, sonicverse/; get {repo} with: huggingface-cli download {repo} --local-dir {folder})");
        return FromParts(mert, llm, sv, sv) with { Labels = LabelsIn(dir) };
    }

    static string? LabelsIn(string dir)
    {
        string path = Path.Combine(dir, "labels.json");
        return File.Exists(path) ? path : null;
    }

    static ModelFiles FromParts(string mert, string llm, string projectorFolderOrFile, string loraFolder)
    {
        string llmPath = SingleGgufIn(llm) ?? llm;
        string projector = Directory.Exists(projectorFolderOrFile)
            ? Path.Combine(projectorFolderOrFile, "non_lora_trainables.bin")
            : projectorFolderOrFile;
        string lora = Directory.Exists(loraFolder) ? loraFolder : Path.GetDirectoryName(Path.GetFullPath(loraFolder))!;
        return new ModelFiles(mert, llmPath, null, lora, projector).WithTokenizerFromLlm().Checked("model");
    }

    static string? SingleGgufIn(string llm)
    {
        if (!Directory.Exists(llm)) return null;
        var ggufs = Directory.GetFiles(llm, "*.gguf");
        bool hasHf = File.Exists(Path.Combine(llm, "config.json"));
        return ggufs.Length == 1 && !hasHf ? ggufs[0] : null;
    }

    ModelFiles WithTokenizerFromLlm()
    {
        if (Tokenizer is not null || Llm.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return this;
        return this with { Tokenizer = Path.Combine(Llm, "tokenizer.model") };
    }

    ModelFiles Checked(string source)
    {
        Require(Path.Combine(Mert, "config.json"), MertRepo, source);
        if (!File.Exists(Path.Combine(Mert, "pytorch_model.bin")) && !File.Exists(Path.Combine(Mert, "model.safetensors")))
            Require(Path.Combine(Mert, "pytorch_model.bin"), MertRepo, source);
        if (Llm.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) Require(Llm, LlmRepo + " (GGUF)", source);
        else Require(Path.Combine(Llm, "config.json"), LlmRepo, source);
        if (Tokenizer is not null) Require(Tokenizer, LlmRepo, source);
        Require(Projector, SonicVerseRepo, source);
        Require(Path.Combine(LoraAdapter, "adapter_config.json"), SonicVerseRepo, source);
        return this;
    }

    static void Require(string file, string repo, string source)
    {
        if (!File.Exists(file))
            throw new InputException($"{source}: missing {file} (from the Hugging Face repo {repo}; get it with: huggingface-cli download {repo.Split(' ')[0]})");
    }

    static ModelFiles FromHuggingFaceCache(string hub)
    {
        string Snapshot(string repo)
        {
            string snapshots = Path.Combine(hub, "models--" + repo.Replace("/", "--"), "snapshots");
            var newest = Directory.Exists(snapshots)
                ? new DirectoryInfo(snapshots).GetDirectories().OrderByDescending(d => d.LastWriteTimeUtc).FirstOrDefault()
                : null;
            return newest?.FullName ?? throw new InputException(
                $"no model given and {repo} is not in the Hugging Face cache ({hub}): pass --model DIR, or download it " +
                $"with: huggingface-cli download {repo}");
        }
        string sv = Snapshot(SonicVerseRepo);
        return FromParts(Snapshot(MertRepo), Snapshot(LlmRepo), sv, sv);
    }
}
