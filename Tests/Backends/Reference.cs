using SonicVerse.Loader;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Tests.Backends;

/// <summary>Plain scalar references (double accumulation) and test data builders for the backend tests.</summary>
static class Reference
{
    public static float[] Random(int length, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static float[] Download(IBackend backend, DeviceTensor t)
    {
        var values = new float[t.ElementCount];
        backend.Download(t, values);
        return values;
    }

    public static void Close(float[] expected, float[] actual, double absolute, double relative = 0, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = absolute + relative * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tolerance:G3})");
        }
    }

    public static float[] MatMul(float[] x, float[] w, float[]? bias, int n, int k, int m)
    {
        var y = new float[n * m];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
        {
            double sum = bias?[j] ?? 0;
            for (int c = 0; c < k; c++) sum += (double)x[i * k + c] * w[j * k + c];
            y[i * m + j] = (float)sum;
        }
        return y;
    }

    /// <summary>erf by its Maclaurin series (|x| ≤ 3) or the Laplace continued fraction for erfc (|x| &gt; 3), in double.</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double result;
        if (z <= 3)
        {
            double term = z, sum = z;
            for (int n = 1; n < 200; n++)
            {
                term *= -z * z / n;
                sum += term / (2 * n + 1);
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double fraction = 0;
            for (int n = 60; n >= 1; n--) fraction = n / 2.0 / (z + fraction);
            result = 1 - Math.Exp(-z * z) / Math.Sqrt(Math.PI) / (z + fraction);
        }
        return x < 0 ? -result : result;
    }

    public static (byte[] Bytes, float[] Values) QuantizeQ8(int rows, int k, int seed)
    {
        var rng = new Random(seed);
        int blocks = k / 32;
        var bytes = new byte[rows * blocks * 34];
        var values = new float[rows * k];
        for (int b = 0; b < rows * blocks; b++)
        {
            var d = (Half)(0.001 + rng.NextDouble() * 0.02);
            BitConverter.TryWriteBytes(bytes.AsSpan(b * 34), BitConverter.HalfToUInt16Bits(d));
            for (int j = 0; j < 32; j++)
            {
                sbyte q = (sbyte)rng.Next(-127, 128);
                bytes[b * 34 + 2 + j] = (byte)q;
                values[b * 32 + j] = (float)d * q;
            }
        }
        return (bytes, values);
    }

    /// <summary>Q4_0 blocks: y[j] = ((qs[j] &amp; 15) − 8)·d, y[j+16] = ((qs[j] &gt;&gt; 4) − 8)·d.</summary>
    public static (byte[] Bytes, float[] Values) QuantizeQ4(int rows, int k, int seed)
    {
        var rng = new Random(seed);
        int blocks = k / 32;
        var bytes = new byte[rows * blocks * 18];
        var values = new float[rows * k];
        for (int b = 0; b < rows * blocks; b++)
        {
            var d = (Half)(0.01 + rng.NextDouble() * 0.1);
            BitConverter.TryWriteBytes(bytes.AsSpan(b * 18), BitConverter.HalfToUInt16Bits(d));
            for (int j = 0; j < 16; j++)
            {
                byte packed = (byte)rng.Next(256);
                bytes[b * 18 + 2 + j] = packed;
                values[b * 32 + j] = (float)d * ((packed & 15) - 8);
                values[b * 32 + j + 16] = (float)d * ((packed >> 4) - 8);
            }
        }
        return (bytes, values);
    }

    /// <summary>Stores <paramref name="values"/> as F16 or BF16 (truncated) bytes, returning the exactly representable values.</summary>
    public static (byte[] Bytes, float[] Values) Narrow(float[] values, DType dtype)
    {
        var bytes = new byte[values.Length * 2];
        var exact = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            ushort bits = dtype == DType.F16
                ? BitConverter.HalfToUInt16Bits((Half)values[i])
                : (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), bits);
            exact[i] = dtype == DType.F16 ? (float)BitConverter.UInt16BitsToHalf(bits) : BitConverter.UInt32BitsToSingle((uint)bits << 16);
        }
        return (bytes, exact);
    }

    public static (byte[] Bytes, float[] Values) Weights(DType dtype, int rows, int k, int seed) => dtype switch
    {
        DType.F32 => (System.Runtime.InteropServices.MemoryMarshal.AsBytes(Random(rows * k, seed).AsSpan()).ToArray(),
            Random(rows * k, seed)),
        DType.F16 or DType.BF16 => Narrow(Random(rows * k, seed), dtype),
        DType.Q8_0 => QuantizeQ8(rows, k, seed),
        _ => QuantizeQ4(rows, k, seed),
    };

    /// <summary>Multi-head attention in double. q: [nq, hq, d]; k, v: [cap, hkv, d]; y: [nq, hq·d].</summary>
    public static float[] Attention(float[] q, float[] k, float[] v, int nq, int hq, int hkv, int d, int keyCount,
        int firstQueryPosition, int window, float scale)
    {
        var y = new float[nq * hq * d];
        for (int i = 0; i < nq; i++)
        for (int h = 0; h < hq; h++)
        {
            int kvh = h / (hq / hkv);
            var visible = Enumerable.Range(0, keyCount).Where(j => firstQueryPosition < 0
                || (j <= firstQueryPosition + i && (window <= 0 || j > firstQueryPosition + i - window))).ToArray();
            var scores = visible.Select(j =>
            {
                double s = 0;
                for (int e = 0; e < d; e++) s += (double)q[(i * hq + h) * d + e] * k[(j * hkv + kvh) * d + e];
                return s * scale;
            }).ToArray();
            double max = scores.Max();
            var p = scores.Select(s => Math.Exp(s - max)).ToArray();
            double sum = p.Sum();
            for (int e = 0; e < d; e++)
            {
                double acc = 0;
                for (int t = 0; t < visible.Length; t++) acc += p[t] * v[(visible[t] * hkv + kvh) * d + e];
                y[(i * hq + h) * d + e] = (float)(acc / sum);
            }
        }
        return y;
    }
}
