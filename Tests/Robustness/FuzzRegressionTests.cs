using SonicVerse.Loader;
using SonicVerse.Runtime;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Robustness;

/// <summary>Replays every input the fuzzer once crashed on (Tests/fuzz/regressions/TARGET/*, minimized with afl-tmin):
/// each must now give the reader's own error type or a clean read, like the harness in Tests/fuzz/SonicVerse.Fuzz.</summary>
public class FuzzRegressionTests
{
    static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    static readonly Dictionary<string, Action<string>> Readers = new()
    {
        ["safetensors"] = path => Weights(() => SafetensorsCheckpoint.Open(path)),
        ["pytorch"] = path => Weights(() => PyTorchCheckpoint.Open(path)),
        ["gguf"] = path => Weights(() => GgufCheckpoint.Open(path)),
        ["tokenizer-model"] = path => AllowsOnly<LoaderException>(() => SentencePieceModel.Read(File.ReadAllBytes(path), path)),
        ["wav"] = Audio,
        ["mp3"] = Audio,
        ["ogg"] = Audio,
        ["flac"] = Audio,
    };

    /// <summary>A Fact over the folder rather than a Theory, so an empty folder (no crash found yet) is not an error.</summary>
    [Fact]
    public async Task EveryCrashInputIsNowAReaderErrorOrARead()
    {
        string root = Path.Combine(ReferenceKit.RepoRoot, "Tests", "fuzz", "regressions");
        foreach (string folder in Directory.GetDirectories(root).Order())
        {
            string target = Path.GetFileName(folder);
            Assert.True(Readers.TryGetValue(target, out var read), $"unknown fuzz target folder '{target}'");
            foreach (string file in Directory.GetFiles(folder).Order())
            {
                // Some findings were hangs: a read still running after the limit fails instead of blocking the suite.
                string name = $"{target}/{Path.GetFileName(file)}";
                try { await Task.Run(() => read(file)).WaitAsync(HangLimit); }
                catch (TimeoutException) { Assert.Fail($"{name}: still running after {HangLimit}"); }
                catch (Exception e) { Assert.Fail($"{name}: {e}"); }
            }
        }
    }

    static void Weights(Func<ICheckpoint> open) => AllowsOnly<LoaderException>(() =>
    {
        using var checkpoint = open();
        foreach (var tensor in checkpoint.Tensors) _ = tensor.ToFloat32();
    });

    static void Audio(string path) => AllowsOnly<InputException>(() =>
    {
        using var reader = AudioFile.Open(path);
        var buffer = new float[1 << 14];
        while (reader.Read(buffer) > 0) { }
    });

    /// <summary>The reader's own error type is the only acceptable failure; any other exception fails the test.</summary>
    static void AllowsOnly<T>(Action read) where T : Exception
    {
        try { read(); }
        catch (T) { }
    }
}
