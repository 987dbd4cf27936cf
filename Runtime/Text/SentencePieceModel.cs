using System.Text;
using SonicVerse.Loader;

namespace SonicVerse.Runtime.Text;

/// <summary>Piece types, numbered as SentencePiece's <c>ModelProto.SentencePiece.Type</c>; GGUF's
/// <c>tokenizer.ggml.token_type</c> uses the same numbers.</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>A SentencePiece vocabulary: pieces, their merge scores and types, plus the normalizer setting the encoder
/// needs. GGUF (<c>tokenizer.ggml.tokens/scores/token_type</c>) and <c>tokenizer.model</c> both reduce to this.</summary>
public sealed record SentencePieceVocabulary(
    string[] Pieces, float[] Scores, PieceType[] Types, int UnknownId, int BosId, int EosId, bool AddDummyPrefix);

/// <summary>Minimal reader of SentencePiece's <c>tokenizer.model</c> (a protobuf <c>ModelProto</c>, sentencepiece_model.proto):
/// field 1 = repeated SentencePiece {1: piece, 2: score, 3: type}, field 2 = TrainerSpec, field 3 = NormalizerSpec.
/// Only what BPE encoding needs is read; settings this runtime does not implement are refused, never ignored.</summary>
public static class SentencePieceModel
{
    const int WireVarint = 0, Wire64 = 1, WireLength = 2, Wire32 = 5;
    const int ModelTypeBpe = 2; // TrainerSpec.ModelType: UNIGRAM = 1 (the default), BPE = 2

    public static SentencePieceVocabulary Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        return Read(bytes, path);
    }

    /// <param name="name">the file name used in error messages</param>
    public static SentencePieceVocabulary Read(byte[] bytes, string name)
    {
        try
        {
            return Parse(bytes, name);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException)
        {
            throw new LoaderException(name, "not a valid SentencePiece model (truncated or malformed protobuf)", e);
        }
    }

    static SentencePieceVocabulary Parse(byte[] bytes, string name)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        var trainer = new TrainerSettings();
        var normalizer = new NormalizerSettings();
        var reader = new ProtoReader(bytes, 0, bytes.Length);
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == WireLength) ReadPiece(reader.Message(), pieces, scores, types);
            else if (field == 2 && wire == WireLength) trainer = ReadTrainer(reader.Message());
            else if (field == 3 && wire == WireLength) normalizer = ReadNormalizer(reader.Message());
            else reader.Skip(wire);
        }
        Validate(name, pieces.Count, trainer, normalizer);
        return new SentencePieceVocabulary(pieces.ToArray(), scores.ToArray(), types.ToArray(),
            trainer.UnknownId, trainer.BosId, trainer.EosId, normalizer.AddDummyPrefix);
    }

    static void Validate(string name, int count, TrainerSettings trainer, NormalizerSettings normalizer)
    {
        if (count == 0) throw new LoaderException(name, "SentencePiece model has no pieces");
        if (trainer.ModelType != ModelTypeBpe)
            throw new LoaderException(name, $"SentencePiece model type {trainer.ModelType} is not supported (expected BPE = 2)");
        if (normalizer.Name != "identity")
            throw new LoaderException(name, $"SentencePiece normalizer '{normalizer.Name}' is not supported (expected 'identity')");
        if (normalizer.RemoveExtraWhitespaces || !normalizer.EscapeWhitespaces)
            throw new LoaderException(name, "SentencePiece normalizer options not supported: expected " +
                "remove_extra_whitespaces = false and escape_whitespaces = true");
    }

    static void ReadPiece(ProtoReader r, List<string> pieces, List<float> scores, List<PieceType> types)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        while (r.Next(out int field, out int wire))
        {
            if (field == 1 && wire == WireLength) piece = r.String();
            else if (field == 2 && wire == Wire32) score = r.Float();
            else if (field == 3 && wire == WireVarint) type = (PieceType)r.Varint();
            else r.Skip(wire);
        }
        pieces.Add(piece);
        scores.Add(score);
        types.Add(type);
    }

    // Defaults are sentencepiece_model.proto's.
    sealed class TrainerSettings
    {
        public int ModelType = 1, UnknownId, BosId = 1, EosId = 2;
    }

    sealed class NormalizerSettings
    {
        public string Name = "nmt_nfkc";
        public bool AddDummyPrefix = true, RemoveExtraWhitespaces = true, EscapeWhitespaces = true;
    }

    static TrainerSettings ReadTrainer(ProtoReader r)
    {
        var t = new TrainerSettings();
        while (r.Next(out int field, out int wire))
        {
            if (wire != WireVarint) { r.Skip(wire); continue; }
            long v = r.Varint();
            switch (field)
            {
                case 3: t.ModelType = (int)v; break;
                case 40: t.UnknownId = (int)v; break;
                case 41: t.BosId = (int)v; break;
                case 42: t.EosId = (int)v; break;
            }
        }
        return t;
    }

    static NormalizerSettings ReadNormalizer(ProtoReader r)
    {
        var n = new NormalizerSettings();
        while (r.Next(out int field, out int wire))
        {
            if (field == 1 && wire == WireLength) n.Name = r.String();
            else if (field == 3 && wire == WireVarint) n.AddDummyPrefix = r.Varint() != 0;
            else if (field == 4 && wire == WireVarint) n.RemoveExtraWhitespaces = r.Varint() != 0;
            else if (field == 5 && wire == WireVarint) n.EscapeWhitespaces = r.Varint() != 0;
            else r.Skip(wire);
        }
        return n;
    }

    /// <summary>Protobuf wire-format cursor over bytes[start..end).</summary>
    sealed class ProtoReader(byte[] bytes, int start, int end)
    {
        int _pos = start;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_pos >= end) return false;
            long key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public long Varint()
        {
            long result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = At(_pos++);
                result |= (long)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
            throw new OverflowException("varint longer than 10 bytes");
        }

        public float Float()
        {
            At(_pos + 3);
            float v = BitConverter.ToSingle(bytes, _pos);
            _pos += 4;
            return v;
        }

        public string String()
        {
            var (from, length) = Span();
            return Encoding.UTF8.GetString(bytes, from, length);
        }

        public ProtoReader Message()
        {
            var (from, length) = Span();
            return new ProtoReader(bytes, from, from + length);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case WireVarint: Varint(); break;
                case Wire64: _pos += 8; break;
                case Wire32: _pos += 4; break;
                case WireLength: Span(); break;
                default: throw new ArgumentException($"unsupported protobuf wire type {wire}");
            }
            if (_pos > end) throw new IndexOutOfRangeException("field runs past the end of its message");
        }

        (int From, int Length) Span()
        {
            long length = Varint();
            if (length < 0 || _pos + length > end) throw new IndexOutOfRangeException("length-delimited field runs past its message");
            int from = _pos;
            _pos += (int)length;
            return (from, (int)length);
        }

        byte At(int i) => i < end ? bytes[i] : throw new IndexOutOfRangeException("unexpected end of message");
    }
}
