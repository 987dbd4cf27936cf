using System.Collections;
using System.Globalization;
using System.Text.Json;
using SonicVerse.Loader;

namespace SonicVerse.Cli;

/// <summary><c>sonicverse inspect FILE|DIR [--json]</c>: format, tensors, metadata, totals.</summary>
public static class InspectVerb
{
    public static int Run(IEnumerable<string> argv)
    {
        var args = new Args(argv, "json");
        bool json = args.Has("json");
        args.RejectUnknown("inspect");
        if (args.Positionals.Count != 1) throw new UsageException("inspect: give exactly one FILE or DIR");

        using var checkpoint = CheckpointFile.Open(args.Positionals[0]);
        if (json) WriteJson(checkpoint, Console.OpenStandardOutput());
        else WriteText(checkpoint, Console.Out);
        return ExitCodes.Ok;
    }

    public static void WriteText(ICheckpoint checkpoint, TextWriter o)
    {
        o.WriteLine($"{checkpoint.Path}: {checkpoint.Format}, {checkpoint.Tensors.Count} tensors");
        int nameWidth = checkpoint.Tensors.Count == 0 ? 4 : Math.Min(80, checkpoint.Tensors.Max(t => t.Name.Length));
        foreach (var t in checkpoint.Tensors)
            o.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.DType,-5}  {t.ShapeText,-22} {t.ByteLength,14:N0} B");
        long values = checkpoint.Tensors.Sum(t => t.ElementCount);
        long bytes = checkpoint.Tensors.Sum(t => t.ByteLength);
        var byType = checkpoint.Tensors.GroupBy(t => t.DType).Select(g => $"{g.Key} {g.Count()}");
        o.WriteLine($"total: {checkpoint.Tensors.Count} tensors, {values:N0} values, {bytes:N0} bytes ({string.Join(", ", byType)})");
        if (checkpoint.Metadata.Count == 0) return;
        o.WriteLine("metadata:");
        foreach (var (key, value) in checkpoint.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            o.WriteLine($"  {key} = {Describe(value)}");
    }

    public static void WriteJson(ICheckpoint checkpoint, Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("path", checkpoint.Path);
        w.WriteString("format", checkpoint.Format);
        w.WriteStartArray("tensors");
        foreach (var t in checkpoint.Tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("dtype", t.DType.ToString());
            w.WriteStartArray("shape");
            foreach (long d in t.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteNumber("bytes", t.ByteLength);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("total_values", checkpoint.Tensors.Sum(t => t.ElementCount));
        w.WriteNumber("total_bytes", checkpoint.Tensors.Sum(t => t.ByteLength));
        w.WritePropertyName("metadata");
        w.WriteStartObject();
        foreach (var (key, value) in checkpoint.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.WritePropertyName(key);
            WriteValue(w, value);
        }
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
    }

    static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case float f when float.IsFinite(f): w.WriteNumberValue(f); break;
            case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
            case float or double: w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
            case byte or sbyte or short or ushort or int or uint or long: w.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case ulong u: w.WriteNumberValue(u); break;
            case IEnumerable e:
                w.WriteStartArray();
                foreach (object? item in e) WriteValue(w, item);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue(value.ToString()); break;
        }
    }

    /// <summary>Long arrays (GGUF vocabularies) are shortened in the text listing: first items and the length.</summary>
    static string Describe(object? value)
    {
        if (value is string s) return s.Length > 200 ? $"\"{s[..200]}...\" ({s.Length} chars)" : $"\"{s}\"";
        if (value is IEnumerable e and not string)
        {
            var items = e.Cast<object?>().ToList();
            string head = string.Join(", ", items.Take(8).Select(Describe));
            return items.Count > 8 ? $"[{head}, ...] ({items.Count} items)" : $"[{head}]";
        }
        return Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null";
    }
}
