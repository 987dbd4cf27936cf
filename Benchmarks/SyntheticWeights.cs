using SonicVerse.Loader;
using SonicVerse.Runtime.Benchmarking;

namespace SonicVerse.Benchmarks;

/// <summary>Seeded random tensors for kernel benches, from the same generator as <c>bench --synthetic</c>: uniform values
/// with variance 1/cols, encoded in the stored dtype.</summary>
public static class SyntheticWeights
{
    public static float[] Floats(int count, int seed) =>
        SyntheticCheckpoint.Values(Tensor(DType.F32, 1, count, seed));

    public static byte[] Bytes(DType dtype, int rows, int cols, int seed) => Tensor(dtype, rows, cols, seed).Bytes.ToArray();

    static SyntheticTensor Tensor(DType dtype, int rows, int cols, int seed) =>
        new SyntheticCheckpoint("benchmark", (ulong)seed).Add("w", dtype, SyntheticInit.ForFanIn(cols), rows, cols);
}
