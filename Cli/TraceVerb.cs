using SonicVerse.Loader;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse trace AUDIO --mert DIR --out FILE.safetensors [--device ...]</c>: runs the pipeline stages
/// named by the options on one clip and writes every trace point as fp32 safetensors, for comparison against a
/// reference run (STYLE habit 8). Records <c>audio.samples</c> [N] (at the model rate, before normalization) and
/// <c>mert.*</c>; later stages add their own options here.</summary>
public static class TraceVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv);
        string mertDir = args.Require("mert");
        string outPath = args.Require("out");
        var device = DeviceKinds.Parse(args.Get("device"));
        args.RejectUnknown("trace");
        if (args.Positionals.Count != 1) throw new UsageException("trace: give exactly one AUDIO file");
        string audioPath = args.Positionals[0];

        var config = MertConfig.Load(mertDir);
        float[] samples = AudioLoader.LoadMono(audioPath, config.SampleRate);
        if (AudioLoader.IsSilent(samples)) Console.Error.WriteLine($"warning: {audioPath} is silent");
        var trace = new SafetensorsTraceWriter(outPath);
        trace.Record("audio.samples", [samples.Length], samples);

        using var backend = Backend.Create(device, msg => Console.Error.WriteLine(msg));
        using var checkpoint = CheckpointFile.Open(mertDir);
        using var mert = MertModel.Load(config, checkpoint, backend);
        var states = mert.EncodeAudio(samples, trace);
        trace.Save();
        Console.Error.WriteLine($"mert: {states.Count} hidden states of [{states.Frames}, {states.Width}]");
        Console.WriteLine($"wrote {trace.Names.Count} tensors to {outPath}");
        return ExitCodes.Ok;
    }
}
