using System.Text;

namespace SonicVerse.Runtime.Text;

/// <summary>Turns ids into text as they arrive (streaming generation). A character split over several byte-fallback
/// pieces is held back until its last byte arrives, so increments never contain half a character; the
/// concatenation of all increments plus <see cref="Flush"/> equals <see cref="MistralTokenizer.Decode"/>. One per
/// stream; not thread-safe.</summary>
public sealed class TextStreamer(MistralTokenizer tokenizer, bool skipSpecial = true)
{
    // Replacement (not exception) fallback: invalid bytes become U+FFFD, as SentencePiece's decoder does.
    readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    char[] _chars = new char[64];
    bool _atStart = true;

    /// <summary>The text that <paramref name="id"/> completes; empty while a character is still incomplete.</summary>
    public string Append(int id)
    {
        if (tokenizer.IsSpecial(id))
        {
            // Specials neither print (when skipped) nor end the window in which the dummy-prefix space is dropped.
            return skipSpecial ? "" : Convert(tokenizer.SurfaceBytes(id), flush: false);
        }
        ReadOnlySpan<byte> bytes = tokenizer.SurfaceBytes(id);
        // sentencepiece_processor.cc Decode: the first text piece loses the "▁" that add_dummy_prefix put there.
        if (_atStart && tokenizer.StartsWithSpaceSymbol(id)) bytes = bytes[1..];
        _atStart = false;
        return Convert(bytes, flush: false);
    }

    /// <summary>Ends the stream: bytes of an unfinished character come out as U+FFFD.</summary>
    public string Flush() => Convert([], flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, flush);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, 2 * _chars.Length)];
        int count = _utf8.GetChars(bytes, _chars, flush);
        return new string(_chars, 0, count);
    }
}
