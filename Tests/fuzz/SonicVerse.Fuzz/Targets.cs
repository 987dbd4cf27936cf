using SonicVerse.Loader;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Text;

namespace SonicVerse.Fuzz;

/// <summary>One fuzz target per untrusted-file reader. Each reads the whole input the way the product does (every tensor's
/// bytes converted, every audio sample decoded) and swallows only the reader's own error type: any other exception
/// escapes, and SharpFuzz reports it to AFL as a crash.</summary>
static class Targets
{
    public static readonly IReadOnlyDictionary<string, Action<string>> All = new Dictionary<string, Action<string>>
    {
        ["safetensors"] = path => Weights(path, SafetensorsCheckpoint.Open),
        ["pytorch"] = path => Weights(path, PyTorchCheckpoint.Open),
        ["gguf"] = Gguf,
        ["tokenizer-model"] = TokenizerModel,
        ["wav"] = Audio,
        ["mp3"] = Audio,
        ["ogg"] = Audio,
        ["flac"] = Audio,
    };

    static void Weights(string path, Func<string, ICheckpoint> open)
    {
        try
        {
            using var checkpoint = open(path);
            ReadEveryTensor(checkpoint);
        }
        catch (LoaderException) { }
    }

    static void Gguf(string path)
    {
        try
        {
            using var gguf = GgufCheckpoint.OpenFile(path);
            _ = gguf.Vocabulary;
            ReadEveryTensor(gguf);
        }
        catch (LoaderException) { }
    }

    static void ReadEveryTensor(ICheckpoint checkpoint)
    {
        foreach (var tensor in checkpoint.Tensors)
        {
            _ = tensor.Bytes.Length;
            _ = tensor.ToFloat32();
        }
    }

    static void TokenizerModel(string path)
    {
        try { _ = SentencePieceModel.Read(File.ReadAllBytes(path), path); }
        catch (LoaderException) { }
    }

    /// <summary>The four decoders share one entry point (AudioFile picks by content); the targets differ by their seeds.</summary>
    static void Audio(string path)
    {
        try
        {
            using var reader = AudioFile.Open(path);
            var buffer = new float[1 << 14];
            while (reader.Read(buffer) > 0) { }
        }
        catch (InputException) { }
    }
}
