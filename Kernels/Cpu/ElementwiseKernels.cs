using System.Numerics.Tensors;

namespace SonicVerse.Kernels.Cpu;

/// <summary>Element-wise ops. Destinations may alias a source exactly (TensorPrimitives allows full overlap).</summary>
public static class ElementwiseKernels
{
    /// <summary>Elements per parallel slice for the transcendental ops.</summary>
    const int Slice = 16 * 1024;

    [ThreadStatic] static float[]? scratch;

    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => TensorPrimitives.Add(a, b, y);

    public static void Scale(ReadOnlySpan<float> x, float s, Span<float> y) => TensorPrimitives.Multiply(x, s, y);

    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);

    public static void Gelu(ReadOnlyMemory<float> x, Memory<float> y) => ForSlices(x.Length, (start, length) =>
    {
        var src = x.Span.Slice(start, length);
        var dst = y.Span.Slice(start, length);
        for (int i = 0; i < src.Length; i++) dst[i] = ScalarMath.Gelu(src[i]);
    });

    /// <summary>y = silu(gate) · up; y may alias gate or up (each slice is read before it is written).</summary>
    public static void SiluMul(ReadOnlyMemory<float> gate, ReadOnlyMemory<float> up, Memory<float> y) =>
        ForSlices(gate.Length, (start, length) =>
        {
            if (scratch is null || scratch.Length < length) scratch = new float[Slice];
            var sig = scratch.AsSpan(0, length);
            var g = gate.Span.Slice(start, length);
            TensorPrimitives.Sigmoid(g, sig);
            TensorPrimitives.Multiply(sig, g, sig);
            TensorPrimitives.Multiply(sig, up.Span.Slice(start, length), y.Span.Slice(start, length));
        });

    static void ForSlices(int length, Action<int, int> slice)
    {
        int slices = (length + Slice - 1) / Slice;
        if (slices <= 1)
        {
            if (length > 0) slice(0, length);
            return;
        }
        Parallel.For(0, slices, s => slice(s * Slice, Math.Min(Slice, length - s * Slice)));
    }
}
