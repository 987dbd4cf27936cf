using System.Numerics;
using System.Runtime.InteropServices;

namespace SonicVerse.Runtime.Audio;

/// <summary>Streaming band-limited resampler: polyphase windowed sinc (Kaiser) at the exact rational ratio
/// L/M = outRate/inRate reduced by their gcd (44100 → 24000 is 80/147). Linear phase and no delay, like
/// `sox rate -v`: output n is the band-limited input evaluated at time n·inRate/outRate, with zeros outside the
/// signal, and ceil(inputFrames·L/M) outputs in all. Passband flat to 0.95·Nyquist of the lower rate, stopband from
/// that Nyquist with ≥ <see cref="StopbandDb"/> dB attenuation (Kaiser's design formula).</summary>
public sealed class Resampler
{
    public const double StopbandDb = 120;
    public const double Passband = 0.95;

    readonly int _up, _down;        // L, M
    readonly int _halfTaps;         // H: each output uses input samples floor(t)-H+1 .. floor(t)+H
    readonly int _taps;             // 2H, padded to a multiple of the vector width
    readonly float[] _table;        // [L, taps]: the filter for each output phase
    float[] _history;               // input samples from absolute index _historyStart on
    int _historyCount;
    long _historyStart;
    long _inputSeen, _nextOutput;

    public int InputRate { get; }
    public int OutputRate { get; }

    public Resampler(int inputRate, int outputRate)
    {
        if (inputRate <= 0 || outputRate <= 0) throw new ArgumentOutOfRangeException(nameof(inputRate), "sample rates must be positive");
        InputRate = inputRate;
        OutputRate = outputRate;
        int g = (int)BigInteger.GreatestCommonDivisor(inputRate, outputRate);
        _up = outputRate / g;
        _down = inputRate / g;
        // Kaiser (1974): length N ≈ (A − 7.95) / (2.285·Δω), Δω the transition width in radians per input sample.
        double nyquist = 0.5 * Math.Min(inputRate, outputRate);
        double transition = 2 * Math.PI * (1 - Passband) * nyquist / inputRate;
        int length = (int)Math.Ceiling((StopbandDb - 7.95) / (2.285 * transition));
        _halfTaps = length / 2 + 1;
        int w = Vector<float>.Count;
        _taps = (2 * _halfTaps + w - 1) / w * w;
        if ((long)_up * _taps > 1 << 25)
            throw new ArgumentException($"resampling {inputRate} → {outputRate} Hz needs {_up} filter phases; unsupported ratio");
        _table = BuildTable((1 + Passband) / 2 * nyquist / inputRate);
        _history = new float[Math.Max(4 * _taps, 1 << 14)];
        _historyStart = -_halfTaps;  // H leading zeros: samples before the signal
        _historyCount = _halfTaps;
    }

    /// <summary>Outputs for <paramref name="inputFrames"/> inputs in all: ceil(inputFrames·L/M).</summary>
    public long OutputLength(long inputFrames) => (long)Math.Ceiling((decimal)inputFrames * _up / _down);

    /// <summary>An upper bound on what one <see cref="Process"/> call of <paramref name="inputCount"/> samples writes.</summary>
    public int MaxOutput(int inputCount) => (int)((long)(inputCount + 1) * _up / _down) + 2;

    /// <summary>Phase φ holds g(φ/L + H − 1 − j) for tap j, where g(τ) = 2fc·sinc(2fc·τ)·kaiser(τ/H) and fc is the
    /// cutoff in cycles per input sample; each phase is scaled to unit DC gain.</summary>
    float[] BuildTable(double cutoff)
    {
        double beta = 0.1102 * (StopbandDb - 8.7);
        double i0Beta = BesselI0(beta);
        var table = new float[_up * _taps];
        var row = new double[_taps];
        for (int phase = 0; phase < _up; phase++)
        {
            double frac = (double)phase / _up, sum = 0;
            for (int j = 0; j < 2 * _halfTaps; j++)
            {
                double tau = frac + _halfTaps - 1 - j;
                double x = tau / _halfTaps;
                double window = Math.Abs(x) >= 1 ? 0 : BesselI0(beta * Math.Sqrt(1 - x * x)) / i0Beta;
                double arg = 2 * cutoff * tau;
                row[j] = 2 * cutoff * (arg == 0 ? 1 : Math.Sin(Math.PI * arg) / (Math.PI * arg)) * window;
                sum += row[j];
            }
            for (int j = 0; j < 2 * _halfTaps; j++) table[phase * _taps + j] = (float)(row[j] / sum);
        }
        return table;
    }

    static double BesselI0(double x)
    {
        double term = 1, sum = 1, q = x * x / 4;
        for (int k = 1; k < 200 && term > 1e-17 * sum; k++)
        {
            term *= q / ((double)k * k);
            sum += term;
        }
        return sum;
    }

    /// <summary>Consumes <paramref name="input"/> and writes every output that no longer depends on future input;
    /// returns how many (at most <see cref="MaxOutput"/>).</summary>
    public int Process(ReadOnlySpan<float> input, Span<float> output)
    {
        Append(input);
        _inputSeen += input.Length;
        return Emit(_inputSeen, long.MaxValue, output);
    }

    /// <summary>Outputs still owed once the input ends: what <see cref="Flush"/> writes.</summary>
    public int Pending => (int)(OutputLength(_inputSeen) - _nextOutput);

    /// <summary>Ends the stream: writes the remaining outputs, treating input past the end as zeros.</summary>
    public int Flush(Span<float> output)
    {
        long total = OutputLength(_inputSeen);
        Append(new float[_taps]);
        return Emit(long.MaxValue, total, output);
    }

    int Emit(long availableInputs, long outputLimit, Span<float> output)
    {
        int written = 0;
        while (_nextOutput < outputLimit && written < output.Length)
        {
            long position = _nextOutput * _down;      // in units of 1/L input samples
            long floor = position / _up;
            if (floor + _halfTaps >= availableInputs) break;
            int phase = (int)(position - floor * _up);
            int start = (int)(floor - _halfTaps + 1 - _historyStart);
            if (start + 2 * _halfTaps > _historyCount) break;
            output[written++] = Dot(_table.AsSpan(phase * _taps, _taps), _history.AsSpan(start, _taps));
            _nextOutput++;
        }
        Discard(_nextOutput * _down / _up - _halfTaps + 1);
        return written;
    }

    static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        var acc = Vector<float>.Zero;
        for (int i = 0; i < va.Length; i++) acc += va[i] * vb[i];
        return Vector.Sum(acc);
    }

    void Append(ReadOnlySpan<float> input)
    {
        // Room for the input plus a filter's worth of zeros so a window read past the end stays inside the array.
        int need = _historyCount + input.Length + _taps;
        if (need > _history.Length) Array.Resize(ref _history, Math.Max(need, 2 * _history.Length));
        input.CopyTo(_history.AsSpan(_historyCount));
        _historyCount += input.Length;
        _history.AsSpan(_historyCount, _taps).Clear();
    }

    void Discard(long firstNeeded)
    {
        int drop = (int)Math.Clamp(firstNeeded - _historyStart, 0, _historyCount);
        if (drop < _history.Length / 2) return;
        _history.AsSpan(drop, _historyCount - drop).CopyTo(_history);
        _historyCount -= drop;
        _historyStart += drop;
    }
}
