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
            _vorbis = new VorbisReader(new EndOfFileGuard(path, "Ogg Vorbis", stream), closeOnDispose: true);
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
}
