using System.Text.Json;
using SonicVerse.Runtime.Models.Mistral;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse tokenize --tokenizer FILE [--no-bos] [--json] TEXT</c>: ids on one line, or
/// <c>{"ids": [...], "pieces": [...]}</c>. FILE is a tokenizer.model, a model folder or a GGUF file.</summary>
public static class TokenizeVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json", "no-bos");
        string path = args.Require("tokenizer");
        bool json = args.Has("json"), noBos = args.Has("no-bos");
        args.RejectUnknown("tokenize");
        if (args.Positionals.Count != 1) throw new UsageException("tokenize: give exactly one TEXT (quote it)");

        var tokenizer = MistralTokenizerFile.Open(path);
        int[] ids = tokenizer.Encode(args.Positionals[0], addBos: !noBos);
        if (!json)
        {
            Console.WriteLine(string.Join(' ', ids));
            return ExitCodes.Ok;
        }
        var output = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteStartArray("ids");
            foreach (int id in ids) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("pieces");
            foreach (int id in ids) w.WriteStringValue(tokenizer.IdToPiece(id));
            w.WriteEndArray();
            w.WriteEndObject();
        }
        output.WriteByte((byte)'\n');
        return ExitCodes.Ok;
    }
}
