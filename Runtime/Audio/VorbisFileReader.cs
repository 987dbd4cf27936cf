using NVorbis;

namespace SonicVerse.Runtime.Audio;

/// <summary>Ogg Vorbis through NVorbis.</summary>
sealed class VorbisFileReader : IAudioReader
{
    readonly VorbisReader _vorbis;

    public string Path { get; }
    public int SampleRate { get; }
    public int Channels { get; }
    public long? TotalFrames { get; }

    public VorbisFileReader(string path, Stream stream)
    {
        Path = path;
        try
        {
            _vorbis = new VorbisReader(new EndOfFileGuard(path, stream), closeOnDispose: true);
            SampleRate = _vorbis.SampleRate;
            Channels = _vorbis.Channels;
            long total = _vorbis.TotalSamples;
            TotalFrames = total > 0 ? total : null;
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"{path}: corrupt Ogg Vorbis: {e.Message}", e);
        }
        if (SampleRate <= 0 || Channels <= 0) throw new InputException($"{path}: corrupt Ogg Vorbis: invalid identification header");
    }

    public int Read(Span<float> interleaved)
    {
        int want = interleaved.Length - interleaved.Length % Channels;
        int total = 0;
        try
        {
            while (total < want)
            {
                int got = _vorbis.ReadSamples(interleaved[total..want]);
                if (got <= 0) break;
                total += got;
            }
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"{Path}: corrupt Ogg Vorbis: {e.Message}", e);
        }
        return total - total % Channels;
    }

    public void Dispose() => _vorbis.Dispose();

    /// <summary>NVorbis 0.10.5 can spin forever calling Read at the end of a file whose last page is corrupt (found by
    /// fuzzing: Tests/fuzz/regressions/ogg). A decoder that keeps reading nothing is stuck; this turns that into an error.</summary>
    sealed class EndOfFileGuard(string path, Stream inner) : Stream
    {
        const int MaxEmptyReadsInARow = 1024;
        int _emptyReads;

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count), count);

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer), buffer.Length);

        int Count(int read, int requested)
        {
            if (read > 0 || requested == 0) _emptyReads = 0;
            else if (++_emptyReads > MaxEmptyReadsInARow)
                throw new InputException($"{path}: corrupt Ogg Vorbis: the decoder is stuck at the end of the file");
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
}
