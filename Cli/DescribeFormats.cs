using System.Text;
using System.Text.Json;
using SonicVerse.Runtime.Models.Projector;
using SonicVerse.Runtime.Pipeline;

namespace SonicVerse.Cli;

public enum DescribeFormat { Text, Json, Markdown }

/// <summary>How a <see cref="SongDescription"/> is written: plain text, JSON, or Markdown.</summary>
public static class DescribeFormats
{
    public static string Extension(DescribeFormat format) => format switch
    {
        DescribeFormat.Json => "json",
        DescribeFormat.Markdown => "md",
        _ => "txt",
    };

    /// <summary>Writes <paramref name="song"/> to <paramref name="output"/>; JSON is one line unless <paramref name="indented"/>.</summary>
    public static void Write(SongDescription song, FeatureLabels labels, DescribeFormat format, bool indented, Stream output)
    {
        if (format == DescribeFormat.Json)
        {
            WriteJson(song, labels, indented, output);
            return;
        }
        string text = format == DescribeFormat.Markdown ? Markdown(song, labels) : song.Description + "\n";
        output.Write(new UTF8Encoding(false).GetBytes(text));
        output.Flush();
    }

    /// <summary><c>{"file", "duration_seconds", "chunks": [{"start","end","caption","features"}], "chain_prompt",
    /// "description", "seconds": {...}}</c></summary>
    static void WriteJson(SongDescription song, FeatureLabels labels, bool indented, Stream output)
    {
        var options = new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var w = new Utf8JsonWriter(output, options))
        {
            w.WriteStartObject();
            w.WriteString("file", song.File);
            w.WriteNumber("duration_seconds", Math.Round(song.DurationSeconds, 3));
            w.WriteStartArray("chunks");
            foreach (var chunk in song.Chunks)
            {
                w.WriteStartObject();
                w.WriteNumber("start", Math.Round(chunk.StartSeconds, 3));
                w.WriteNumber("end", Math.Round(chunk.EndSeconds, 3));
                w.WriteString("caption", chunk.Caption);
                FeatureJson.Write(w, chunk.FeatureLogits, labels);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("chain_prompt", song.ChainPrompt);
            w.WriteString("description", song.Description);
            w.WriteStartObject("seconds");
            foreach (var (stage, seconds) in song.Seconds) w.WriteNumber(stage, Math.Round(seconds, 4));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        output.WriteByte((byte)'\n');
        output.Flush();
    }

    /// <summary>A title (the song name), the description, then one table row per chunk with its top features.</summary>
    static string Markdown(SongDescription song, FeatureLabels labels)
    {
        var sb = new StringBuilder();
        sb.Append("# ").Append(Path.GetFileNameWithoutExtension(song.File)).Append("\n\n");
        sb.Append(song.Description).Append("\n\n");
        sb.Append("| time | caption | top features |\n|---|---|---|\n");
        foreach (var chunk in song.Chunks)
        {
            var top = FeatureJson.Heads.Select(h => labels.Top(h.Head, chunk.FeatureLogits[h.Head], 1)[0])
                .Select(s => $"{s.Label} ({s.Score:0.00})");
            sb.Append("| ").Append(ChainPrompt.Stamp(chunk.StartSeconds)).Append("–").Append(ChainPrompt.Stamp(chunk.EndSeconds))
                .Append(" s | ").Append(Cell(chunk.Caption)).Append(" | ").Append(Cell(string.Join(", ", top))).Append(" |\n");
        }
        return sb.ToString();
    }

    /// <summary>Table cells cannot hold a pipe or a line break.</summary>
    static string Cell(string text) => text.Replace("|", "\\|").Replace("\r", " ").Replace("\n", " ");
}
