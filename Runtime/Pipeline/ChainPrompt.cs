using System.Globalization;
using System.Text;

namespace SonicVerse.Runtime.Pipeline;

/// <summary>The chaining prompt of SPEC §8 (SonicVerse scripts/app.py): chunk captions with time stamps in, one
/// description of the whole song out.</summary>
public static class ChainPrompt
{
    /// <summary>scripts/app.py's system message to GPT-4.</summary>
    public const string SystemText = "You are an expert music writer.";

    public const string SongNamePlaceholder = "{song_name}";
    public const string ChunksPlaceholder = "{chunks}";

    /// <summary>SPEC §8's user prompt; <c>{chunks}</c> becomes one line per chunk (<see cref="ChunkLine"/>).</summary>
    public const string DefaultTemplate =
        "You are a music critic. Given the following chronological 10-second chunk descriptions of a single piece, write " +
        "one flowing, detailed description of the entire song\u2014its structure, instrumentation, and standout moments. " +
        "Mention transition points in terms of time stamps. If the description of certain chunks does not seem to fit with " +
        "those for the chunks before and after, treat those as bad descriptions with lower accuracy and do not incorporate " +
        "the information. Retain concrete musical attributes such as key, chords, tempo.\n" +
        "\n" +
        "Chunks for \"{song_name}\":\n" +
        "{chunks}\n" +
        "\n" +
        "Full song description:";

    /// <summary>One chunk as SPEC §8 lists it: <c>" {start} to {end} seconds. {caption}"</c>, with the real start
    /// (the reference's <c>(i-1)*0</c> labelled every chunk from 0).</summary>
    public static string ChunkLine(double startSeconds, double endSeconds, string caption) =>
        $" {Stamp(startSeconds)} to {Stamp(endSeconds)} seconds. {caption}";

    /// <summary>Seconds as the prompt shows them: whole seconds without decimals, else at most two (34.56).</summary>
    public static string Stamp(double seconds) => Math.Round(seconds, 2).ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Fills <paramref name="template"/>'s placeholders in one pass (text inside the song name or the captions
    /// that looks like a placeholder stays as it is).</summary>
    public static string Render(string template, string songName, IEnumerable<string> chunkLines)
    {
        string chunks = string.Join("\n", chunkLines);
        var sb = new StringBuilder(template.Length + chunks.Length + songName.Length);
        int i = 0;
        while (i < template.Length)
        {
            if (string.CompareOrdinal(template, i, SongNamePlaceholder, 0, SongNamePlaceholder.Length) == 0)
            {
                sb.Append(songName);
                i += SongNamePlaceholder.Length;
            }
            else if (string.CompareOrdinal(template, i, ChunksPlaceholder, 0, ChunksPlaceholder.Length) == 0)
            {
                sb.Append(chunks);
                i += ChunksPlaceholder.Length;
            }
            else sb.Append(template[i++]);
        }
        return sb.ToString();
    }

    /// <summary>The user turn sent to Mistral-7B-Instruct-v0.1. Its chat template has no system role (HF's raises on
    /// one), so the reference's system message goes in front of the user text, as Mistral's own guidance does.</summary>
    public static string UserMessage(string renderedPrompt) => SystemText + "\n\n" + renderedPrompt;
}
