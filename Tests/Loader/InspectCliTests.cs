using System.Text.Json;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Loader;

/// <summary><c>sonicverse inspect</c> as a user runs it: tensors and shapes as the kit's own headers and MANIFEST say,
/// and one <c>error:</c> line with a non-zero exit on bad files.</summary>
public class InspectCliTests
{
    static JsonElement InspectJson(string path)
    {
        var r = CliRunner.Run("inspect", path, "--json");
        Assert.True(r.ExitCode == 0, $"inspect {path} failed: {r.Stderr}");
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    static Dictionary<string, (string DType, long[] Shape)> Listed(JsonElement inspect) =>
        inspect.GetProperty("tensors").EnumerateArray().ToDictionary(
            t => t.GetProperty("name").GetString()!,
            t => (t.GetProperty("dtype").GetString()!, t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray()));

    [Theory]
    [InlineData("mert-tiny/model/model.safetensors")]
    [InlineData("mistral-tiny/hf/model.safetensors")]
    [InlineData("mistral-tiny/lora/adapter_model.safetensors")]
    [InlineData("mert-tiny/ref_hf_fp32.safetensors")]
    public void SafetensorsListingEqualsTheRawHeader(string file)
    {
        string path = ReferenceKit.File(file.Split('/'));
        var inspect = InspectJson(path);
        Assert.Equal("safetensors", inspect.GetProperty("format").GetString());
        var listed = Listed(inspect);
        var header = KitWeights.SafetensorsHeader(path);
        Assert.Equal(header.Keys.Order(), listed.Keys.Order());
        foreach (var (name, (dtype, shape)) in header)
        {
            Assert.Equal(dtype, listed[name].DType.ToUpperInvariant());
            Assert.Equal(shape, listed[name].Shape);
        }
    }

    [Theory]
    [InlineData("mert-tiny/model/pytorch_model.bin", "mert-tiny/model/model.safetensors", 211)]
    [InlineData("mistral-tiny/lora/adapter_model.bin", "mistral-tiny/lora/adapter_model.safetensors", 28)]
    public void PyTorchListingEqualsTheSafetensorsTwin(string bin, string twin, int manifestCount)
    {
        var listed = Listed(InspectJson(ReferenceKit.File(bin.Split('/'))));
        var header = KitWeights.SafetensorsHeader(ReferenceKit.File(twin.Split('/')));
        Assert.Equal(manifestCount, listed.Count);
        Assert.Equal(header.Keys.Order(), listed.Keys.Order());
        foreach (var (name, (_, shape)) in header) Assert.Equal(shape, listed[name].Shape);
    }

    [Fact]
    public void ProjectorListingMatchesTheManifest()
    {
        var inspect = InspectJson(ReferenceKit.File("projector-tiny", "non_lora_trainables.bin"));
        var listed = Listed(inspect);
        // MANIFEST/projector_ref.json: 268 bf16 tensors, 392,296 values, prefix base_model.model.model.audio_mert_lmm_projector.
        Assert.Equal(268, listed.Count);
        Assert.Equal(392_296, inspect.GetProperty("total_values").GetInt64());
        Assert.All(listed, kv => Assert.StartsWith("base_model.model.model.audio_mert_lmm_projector.", kv.Key));
        Assert.All(listed, kv => Assert.Equal("BF16", kv.Value.DType));
        Assert.Equal(new long[] { 16, 32 }, listed["base_model.model.model.audio_mert_lmm_projector.backbone.hidden_layer_1.weight"].Shape);
    }

    [Theory]
    [InlineData("tiny-mistral-f32.gguf", "F32")]
    [InlineData("tiny-mistral-q8_0.gguf", "Q8_0")]
    [InlineData("tiny-mistral-q4_0.gguf", "Q4_0")]
    public void GgufListingEqualsHfShapesAndCarriesMetadata(string file, string matrixType)
    {
        var inspect = InspectJson(ReferenceKit.File("mistral-tiny", "gguf", file));
        Assert.Equal("gguf", inspect.GetProperty("format").GetString());
        var listed = Listed(inspect);
        var hf = KitWeights.SafetensorsHeader(ReferenceKit.File("mistral-tiny", "hf", "model.safetensors"));
        Assert.Equal(hf.Count, listed.Count);
        foreach (var (name, (dtype, shape)) in listed)
        {
            Assert.Equal(hf[KitWeights.HfNameOfGguf(name)].Shape, shape);
            Assert.Equal(shape.Length == 2 ? matrixType : "F32", dtype);
        }
        var metadata = inspect.GetProperty("metadata");
        Assert.Equal("llama", metadata.GetProperty("general.architecture").GetString());
        Assert.Equal(32000, metadata.GetProperty("tokenizer.ggml.tokens").GetArrayLength());
    }

    [Fact]
    public void TextListingShowsTotals()
    {
        var r = CliRunner.Run("inspect", ReferenceKit.File("mert-tiny", "model", "pytorch_model.bin"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("pytorch", r.Stdout);
        Assert.Contains("total: 211 tensors, 128,864 values", r.Stdout); // mert_ref.json: state_dict_values 128864
    }

    public static TheoryData<string, byte[]> BadFiles() => new()
    {
        { "empty.safetensors", [] },
        { "short.safetensors", [1, 2, 3] },
        { "huge-header.safetensors", [0, 0, 0, 0, 0x10, 0, 0, 0, (byte)'{', (byte)'}'] },
        { "bad-magic.gguf", "GGUX\u0003\0\0\0"u8.ToArray() },
        { "not-a-zip.bin", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFileGivesOneErrorLineAndNonZeroExit(string name, byte[] content)
    {
        string dir = Directory.CreateTempSubdirectory("sv-inspect-").FullName;
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, content);
        var r = CliRunner.Run(TimeSpan.FromSeconds(60), "inspect", path);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Equal("", r.Stdout);
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(path, lines[0]);
        Directory.Delete(dir, true);
    }
}
