using SonicVerse.Loader;
using SonicVerse.Runtime.Audio;
using SonicVerse.Runtime.Backends;
using SonicVerse.Runtime.Generation;
using SonicVerse.Runtime.Models.Mert;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;
using SonicVerse.Runtime.Tracing;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse trace AUDIO --mert DIR [--sonicverse DIR [--llm DIR|FILE.gguf]] --out FILE.safetensors
/// [--int8-activations]</c> (or <c>--model DIR</c> for every stage): runs the stages the given models allow on one clip and writes every trace
/// point as fp32 safetensors, for comparison against a reference run (STYLE habit 8): <c>audio.samples</c> [N] (at the
/// model rate, before normalization), <c>mert.*</c>; with the projector <c>projector.*</c>; with the language model
/// <c>llm.inputs_embeds</c> [L, H] and <c>llm.hidden_states.{i}</c> [L, H] of the spliced prompt.</summary>
public static class TraceVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "int8-activations");
        string? model = args.Get("model"), mertDir = args.Get("mert"), sonicverse = args.Get("sonicverse"), llm = args.Get("llm");
        string outPath = args.Require("out");
        var device = DeviceKinds.Parse(args.Get("device"));
        bool int8Activations = args.Has("int8-activations");
        args.RejectUnknown("trace");
        if (args.Positionals.Count != 1) throw new UsageException("trace: give exactly one AUDIO file");
        if (model is null && mertDir is null) throw new UsageException("trace: give --mert DIR (or --model DIR)");
        if (llm is not null && sonicverse is null) throw new UsageException("trace: --llm needs --sonicverse (the projector feeds it)");
        string audioPath = args.Positionals[0];

        var trace = new SafetensorsTraceWriter(outPath);
        using var backend = Backend.Create(device, msg => Console.Error.WriteLine(msg), int8Activations);
        if (model is not null || llm is not null)
            TraceWholePrompt(ModelFiles.Resolve(model, mertDir, llm, sonicverse), audioPath, backend, trace);
        else
            TraceEncoder(mertDir!, sonicverse, audioPath, backend, trace);
        trace.Save(Interrupts.Current);
        Console.WriteLine($"wrote {trace.Names.Count} tensors to {outPath}");
        return ExitCodes.Ok;
    }

    static void TraceEncoder(string mertDir, string? sonicverse, string audioPath, IBackend backend, SafetensorsTraceWriter trace)
    {
        var config = MertConfig.Load(mertDir);
        float[] samples = LoadAudio(audioPath, config.SampleRate, trace);
        using var checkpoint = CheckpointFile.Open(mertDir);
        using var mert = MertModel.Load(config, checkpoint, backend);
        var states = mert.EncodeAudio(samples, trace);
        Console.Error.WriteLine($"mert: {states.Count} hidden states of [{states.Frames}, {states.Width}]");
        if (sonicverse is null) return;

        string projectorFile = Directory.Exists(sonicverse) ? Path.Combine(sonicverse, "non_lora_trainables.bin") : sonicverse;
        using var projectorCheckpoint = CheckpointFile.Open(projectorFile);
        using var projector = ProjectorModel.Load(projectorCheckpoint, backend);
        var c = projector.Config;
        using var canvas = backend.Upload(ProjectorModel.PlaceOnCanvas(states.States, states.Frames, states.Width, c.CanvasFrames),
            states.Count, c.CanvasFrames, states.Width);
        projector.Project(canvas).Record(trace);
    }

    static void TraceWholePrompt(ModelFiles files, string audioPath, IBackend backend, SafetensorsTraceWriter trace)
    {
        using var captioner = SonicVerseCaptioner.Load(files, backend, progress: msg => Console.Error.WriteLine(msg));
        float[] samples = LoadAudio(audioPath, captioner.SampleRate, trace);
        if (samples.Length > captioner.MaxClipSamples) samples = samples[..captioner.MaxClipSamples];
        var projection = captioner.Project(captioner.EncodeAudio(samples, trace), trace);
        float[] embeddings = captioner.SpliceEmbeddings(captioner.EncodePrompt(), projection);
        int hidden = captioner.Llm.Config.HiddenSize;
        trace.Record("llm.inputs_embeds", [embeddings.Length / hidden, hidden], embeddings);
        captioner.Generate(embeddings, new GenerationOptions { MaxNewTokens = 1 }, trace: trace).ToList();
    }

    static float[] LoadAudio(string path, int sampleRate, SafetensorsTraceWriter trace)
    {
        float[] samples = AudioLoader.LoadMono(path, sampleRate);
        if (AudioLoader.IsSilent(samples)) Console.Error.WriteLine($"warning: {path} is silent");
        trace.Record("audio.samples", [samples.Length], samples);
        return samples;
    }
}
