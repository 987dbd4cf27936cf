namespace SonicVerse.Runtime.Audio;

/// <summary>Pulls a file as mono (mean over channels) at a target rate, block by block: memory stays bounded by the
/// block size whatever the file's length. Equal rates are copied untouched; otherwise <see cref="Resampler"/>.</summary>
public sealed class MonoReader : IDisposable
{
    const int BlockFrames = 1 << 14;

    readonly IAudioReader _reader;
    readonly Resampler? _resampler;
    readonly float[] _interleaved, _mono;
    float[] _pending;
    int _pendingPos, _pendingCount;
    bool _ended;

    public string Path => _reader.Path;
    public int SampleRate { get; }

    /// <summary>The number of samples <see cref="Read"/> will yield in all, when the file declares its length.</summary>
    public long? TotalSamples { get; }

    public MonoReader(string path, int targetRate)
    {
        if (targetRate <= 0) throw new ArgumentOutOfRangeException(nameof(targetRate), targetRate, "target rate must be positive");
        _reader = AudioFile.Open(path);
        SampleRate = targetRate;
        _interleaved = new float[BlockFrames * _reader.Channels];
        _mono = new float[BlockFrames];
        if (_reader.SampleRate != targetRate)
        {
            _resampler = new Resampler(_reader.SampleRate, targetRate);
            _pending = new float[Math.Max(_resampler.MaxOutput(BlockFrames), _resampler.Pending + 1)];
        }
        else _pending = new float[BlockFrames];
        TotalSamples = _reader.TotalFrames is long frames ? _resampler?.OutputLength(frames) ?? frames : null;
    }

    /// <summary>Fills <paramref name="destination"/> as far as the stream allows; returns the count, 0 at the end.</summary>
    public int Read(Span<float> destination)
    {
        int written = 0;
        while (written < destination.Length)
        {
            if (_pendingPos == _pendingCount && !Refill()) break;
            int n = Math.Min(_pendingCount - _pendingPos, destination.Length - written);
            _pending.AsSpan(_pendingPos, n).CopyTo(destination[written..]);
            _pendingPos += n;
            written += n;
        }
        return written;
    }

    bool Refill()
    {
        // Empty before anything else: a call after the end must not hand out the last block again.
        _pendingPos = _pendingCount = 0;
        if (_ended) return false;
        int floats = _reader.Read(_interleaved);
        if (floats == 0)
        {
            _ended = true;
            if (_resampler is null) return false;
            if (_pending.Length < _resampler.Pending) _pending = new float[_resampler.Pending];
            _pendingCount = _resampler.Flush(_pending);
            return _pendingCount > 0;
        }
        int frames = floats / _reader.Channels;
        Downmix(_interleaved.AsSpan(0, floats), _reader.Channels, _mono.AsSpan(0, frames));
        if (_resampler is null)
        {
            _mono.AsSpan(0, frames).CopyTo(_pending);
            _pendingCount = frames;
        }
        else _pendingCount = _resampler.Process(_mono.AsSpan(0, frames), _pending);
        return true;
    }

    void Downmix(ReadOnlySpan<float> interleaved, int channels, Span<float> mono)
    {
        if (channels == 1) interleaved.CopyTo(mono);
        else
            for (int i = 0; i < mono.Length; i++)
            {
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += interleaved[i * channels + c];
                mono[i] = sum / channels;
            }
        foreach (float x in mono)
            if (!float.IsFinite(x)) throw new InputException($"{Path}: audio contains NaN or infinite samples");
    }

    public void Dispose() => _reader.Dispose();
}
