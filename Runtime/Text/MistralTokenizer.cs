using System.Text;

namespace SonicVerse.Runtime.Text;

/// <summary>SentencePiece BPE tokenizer (Mistral-7B v0.1: 32000 pieces, byte fallback <c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c> at
/// 3..258, <c>&lt;unk&gt;</c> 0, <c>&lt;s&gt;</c> 1, <c>&lt;/s&gt;</c> 2). Encodes exactly as SentencePiece's bpe_model.cc:
/// spaces become "▁", a dummy "▁" is prefixed, the text is split into code points, and adjacent symbols are merged
/// highest-score-first (ties: leftmost) while the merged string is a vocabulary piece; symbols left outside the
/// vocabulary become their UTF-8 byte pieces. Like SentencePiece (and unlike HF's tokenizer) literal "&lt;s&gt;" in the
/// text is plain text. Immutable and thread-safe.</summary>
public sealed class MistralTokenizer
{
    const char SpaceSymbol = '\u2581'; // "▁", SentencePiece's kSpaceSymbol

    readonly SentencePieceVocabulary _vocab;
    readonly Dictionary<string, int> _mergeable;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly int[] _byteIds; // byte value -> id of "<0xXX>", -1 when the vocabulary has none
    readonly byte[][] _surfaces; // id -> UTF-8 text the piece decodes to ("▁" as a space)

    public MistralTokenizer(SentencePieceVocabulary vocabulary)
    {
        _vocab = vocabulary;
        Validate(vocabulary);
        _mergeable = BuildMergeable(vocabulary);
        _lookup = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteIds = BuildByteIds(vocabulary);
        _surfaces = vocabulary.Pieces.Select(Surface).ToArray();
        ByteFallback = _byteIds.Any(id => id >= 0);
    }

    /// <summary>Reads a SentencePiece <c>tokenizer.model</c> file.</summary>
    public static MistralTokenizer FromSentencePieceModel(string path) => new(SentencePieceModel.Read(path));

    /// <summary>Builds the tokenizer from the arrays a GGUF file stores (<c>tokenizer.ggml.tokens</c>, <c>.scores</c>,
    /// <c>.token_type</c>: 1 normal, 2 unknown, 3 control, 6 byte; plus the <c>bos/eos/unknown_token_id</c> and
    /// <c>add_space_prefix</c> keys). Byte fallback is on when byte pieces are present, as llama.cpp assumes.</summary>
    public static MistralTokenizer FromVocabulary(string[] tokens, float[] scores, int[] tokenTypes,
        int bosId = 1, int eosId = 2, int unknownId = 0, bool addDummyPrefix = true)
    {
        if (scores.Length != tokens.Length || tokenTypes.Length != tokens.Length)
            throw new ArgumentException($"vocabulary arrays differ in length: tokens {tokens.Length}, scores {scores.Length}, " +
                $"types {tokenTypes.Length}");
        var types = tokenTypes.Select(t => (PieceType)t).ToArray();
        return new MistralTokenizer(new SentencePieceVocabulary(tokens, scores, types, unknownId, bosId, eosId, addDummyPrefix));
    }

    public int VocabSize => _vocab.Pieces.Length;
    public int BosId => _vocab.BosId;
    public int EosId => _vocab.EosId;
    public int UnknownId => _vocab.UnknownId;
    public bool ByteFallback { get; }

    public string IdToPiece(int id) => _vocab.Pieces[CheckId(id)];

    public PieceType TypeOf(int id) => _vocab.Types[CheckId(id)];

    /// <summary>Control and unknown pieces: the ones <see cref="Decode"/> skips by default.</summary>
    public bool IsSpecial(int id) => TypeOf(id) is PieceType.Control or PieceType.Unknown;

    /// <summary>SentencePiece <c>encode(text)</c>, optionally preceded by BOS. Empty text gives no pieces.</summary>
    public int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos) ids.Add(BosId);
        if (text.Length > 0) EncodeInto(Normalize(text), ids);
        return ids.ToArray();
    }

    /// <summary>Text of <paramref name="ids"/>: byte pieces reassembled into UTF-8 (invalid bytes become U+FFFD), the
    /// dummy-prefix space of the first text piece removed as SentencePiece does. With <paramref name="skipSpecial"/>
    /// control and unknown ids give nothing; otherwise their piece text ("&lt;s&gt;", as HF prints them).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        var streamer = new TextStreamer(this, skipSpecial);
        var text = new StringBuilder();
        foreach (int id in ids) text.Append(streamer.Append(id));
        text.Append(streamer.Flush());
        return text.ToString();
    }

    /// <summary>The UTF-8 bytes piece <paramref name="id"/> decodes to, with "▁" as a space.</summary>
    internal ReadOnlySpan<byte> SurfaceBytes(int id) => _surfaces[CheckId(id)];

    internal bool StartsWithSpaceSymbol(int id) => _vocab.Pieces[CheckId(id)].StartsWith(SpaceSymbol);

    // normalizer.cc with the "identity" rule: only whitespace escaping and the dummy prefix.
    string Normalize(string text)
    {
        string escaped = text.Replace(' ', SpaceSymbol);
        return _vocab.AddDummyPrefix ? SpaceSymbol + escaped : escaped;
    }

    /// <summary>bpe_model.cc <c>Model::Encode</c>. A symbol is named by the index of its first char in
    /// <paramref name="s"/>; <c>length[i] == 0</c> marks a symbol merged into its left neighbour.</summary>
    void EncodeInto(string s, List<int> ids)
    {
        int n = s.Length;
        var length = new int[n];
        var prev = new int[n];
        int last = -1;
        for (int i = 0; i < n; i += length[i])
        {
            length[i] = char.IsHighSurrogate(s[i]) && i + 1 < n && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            prev[i] = last;
            last = i;
        }

        var agenda = new PriorityQueue<Candidate, Candidate>(CandidateOrder.Instance);
        for (int i = 0; i + length[i] < n; i += length[i]) TryAdd(s, length, i, agenda);

        while (agenda.TryDequeue(out var top, out _))
        {
            int left = top.Left, right = top.Right;
            // Stale entry: one side was merged away or grew since the pair was queued.
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != top.Length) continue;
            length[left] += length[right];
            length[right] = 0;
            int after = left + length[left];
            if (after < n) prev[after] = left;
            if (prev[left] >= 0) TryAdd(s, length, prev[left], agenda);
            if (after < n) TryAdd(s, length, left, agenda);
        }

        for (int i = 0; i < n; i += length[i]) AppendSymbol(s.AsSpan(i, length[i]), ids);
    }

    void TryAdd(string s, int[] length, int left, PriorityQueue<Candidate, Candidate> agenda)
    {
        int right = left + length[left];
        int total = length[left] + length[right];
        if (!_lookup.TryGetValue(s.AsSpan(left, total), out int id)) return;
        var candidate = new Candidate(left, right, total, _vocab.Scores[id]);
        agenda.Enqueue(candidate, candidate);
    }

    void AppendSymbol(ReadOnlySpan<char> symbol, List<int> ids)
    {
        if (_lookup.TryGetValue(symbol, out int id))
        {
            ids.Add(id);
            return;
        }
        if (!ByteFallback)
        {
            ids.Add(UnknownId);
            return;
        }
        Span<byte> utf8 = stackalloc byte[8];
        int count = Encoding.UTF8.GetBytes(symbol, utf8);
        foreach (byte b in utf8[..count]) ids.Add(_byteIds[b] >= 0 ? _byteIds[b] : UnknownId);
    }

    readonly record struct Candidate(int Left, int Right, int Length, float Score);

    /// <summary>bpe_model.cc's agenda order: highest score first, then the leftmost pair.</summary>
    sealed class CandidateOrder : IComparer<Candidate>
    {
        public static readonly CandidateOrder Instance = new();

        public int Compare(Candidate a, Candidate b)
        {
            int byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Left.CompareTo(b.Left);
        }
    }

    int CheckId(int id) => (uint)id < (uint)_vocab.Pieces.Length
        ? id
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary [0, {_vocab.Pieces.Length})");

    static void Validate(SentencePieceVocabulary v)
    {
        int n = v.Pieces.Length;
        if (v.Scores.Length != n || v.Types.Length != n)
            throw new ArgumentException($"vocabulary arrays differ in length: pieces {n}, scores {v.Scores.Length}, types {v.Types.Length}");
        foreach (int id in new[] { v.UnknownId, v.BosId, v.EosId })
            if ((uint)id >= (uint)n) throw new ArgumentException($"special token id {id} outside the vocabulary [0, {n})");
        for (int i = 0; i < n; i++)
        {
            // bpe_model.cc gives user-defined pieces a pre-split and re-segments unused ones; Mistral has neither.
            if (v.Types[i] is PieceType.UserDefined or PieceType.Unused)
                throw new NotSupportedException($"piece {i} '{v.Pieces[i]}' has type {v.Types[i]}, which this tokenizer does not implement");
            if (!Enum.IsDefined(v.Types[i]))
                throw new ArgumentException($"piece {i} '{v.Pieces[i]}' has unknown type {(int)v.Types[i]}");
        }
    }

    // Only normal pieces take part in merges and matching; control, unknown and byte pieces are never produced from
    // text (SentencePiece keeps them out of pieces_), which is why "<s>" in text stays text.
    static Dictionary<string, int> BuildMergeable(SentencePieceVocabulary v)
    {
        var map = new Dictionary<string, int>(v.Pieces.Length);
        for (int i = 0; i < v.Pieces.Length; i++)
            if (v.Types[i] == PieceType.Normal) map.TryAdd(v.Pieces[i], i);
        return map;
    }

    static int[] BuildByteIds(SentencePieceVocabulary v)
    {
        var ids = Enumerable.Repeat(-1, 256).ToArray();
        for (int i = 0; i < v.Pieces.Length; i++)
        {
            if (v.Types[i] != PieceType.Byte) continue;
            string p = v.Pieces[i];
            if (p.Length != 6 || !p.StartsWith("<0x") || p[5] != '>' ||
                !byte.TryParse(p.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
                throw new ArgumentException($"byte piece {i} '{p}' is not of the form <0xXX>");
            ids[b] = i;
        }
        return ids;
    }

    byte[] Surface(string piece, int id) => _vocab.Types[id] == PieceType.Byte
        ? [Convert.ToByte(piece.Substring(3, 2), 16)]
        : Encoding.UTF8.GetBytes(_vocab.Types[id] == PieceType.Normal ? piece.Replace(SpaceSymbol, ' ') : piece);
}
