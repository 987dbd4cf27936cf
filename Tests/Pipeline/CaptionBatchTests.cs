using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Pipeline;

/// <summary>Clips captioned as one batch give the kit's reference ids and each clip's ids when captioned alone.</summary>
public class CaptionBatchTests
{
    [Fact]
    public void ABatchOfClipsGivesTheIdsOfEachClipAlone()
    {
        using var e2e = ReferenceKit.Json("sonicverse-tiny", "e2e_ref.json");
        using var backend = Backend.Create(DeviceKind.Cpu);
        using var captioner = SonicVerseCaptioner.Load(
            ModelFiles.Resolve(ReferenceKit.File("sonicverse-tiny"), null, null, null), backend);
        float[] clip = captioner.DecodeAudio(ReferenceKit.File("audio", "clip_24k_mono_pcm16.wav"));
        float[] shorter = clip[..(clip.Length / 2)];
        var options = new GenerationOptions { MaxNewTokens = 32 };

        var results = captioner.CaptionBatch([clip, shorter], options);

        int[] reference = e2e.RootElement.GetProperty("generated").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(reference, results[0].Ids);
        Assert.Equal(e2e.RootElement.GetProperty("text").GetString(), results[0].Caption);
        var alone = captioner.SpliceEmbeddings(captioner.EncodePrompt(), captioner.Project(captioner.EncodeAudio(shorter)));
        Assert.Equal(captioner.Generate(alone, options).Select(t => t.Id), results[1].Ids);
        Assert.Equal("clip 1", results[1].File);
    }
}
