using SonicVerse.Loader;

namespace SonicVerse.Benchmarks;

/// <summary>Seeded random weights in a stored dtype (values ~N(0, 0.02) like an initialised transformer).</summary>
public static class SyntheticWeights
{
    public static float[] Floats(int count, int seed)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * 0.035);
        return values;
    }

    public static byte[] Bytes(DType dtype, int rows, int cols, int seed)
    {
        float[] values = Floats(rows * cols, seed);
        var bytes = new byte[dtype.ByteSize((long)rows * cols)];
        switch (dtype)
        {
            case DType.F32: Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length); break;
            case DType.BF16:
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), TensorConvert.FloatToBF16(values[i]));
                break;
            case DType.Q8_0: GgufQuants.QuantizeQ8_0(values, bytes); break;
            case DType.Q4_0: GgufQuants.QuantizeQ4_0(values, bytes); break;
            default: throw new NotSupportedException($"synthetic {dtype} weights");
        }
        return bytes;
    }
}
