namespace SonicVerse.Runtime.Audio;

/// <summary>Decoders from packages can spin forever calling Read at the end of a corrupt file, found by fuzzing
/// (Tests/fuzz/regressions): NVorbis 0.10.5 on an Ogg whose last page is corrupt, NLayer 3.0.1 on a RIFF-wrapped MPEG
/// stream. A decoder that keeps reading nothing is stuck; this stream turns that into an <see cref="InputException"/>.</summary>
sealed class EndOfFileGuard(string path, string format, Stream inner) : Stream
{
    const int MaxEmptyReadsInARow = 1024;
    int _emptyReads;

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    /// <summary>Zero-length requests count too: NVorbis 0.10.5 was seen asking for 0 bytes at the end of a corrupt Ogg
    /// forever (fuzz regression ogg/nvorbis-zero-length-reads-at-eof.ogg), which the guard used to take as progress.</summary>
    int Count(int read)
    {
        if (read > 0) _emptyReads = 0;
        else if (++_emptyReads > MaxEmptyReadsInARow)
            throw new InputException($"{path}: corrupt {format}: the decoder is stuck at the end of the file");
        return read;
    }

    public override bool CanRead => true;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
