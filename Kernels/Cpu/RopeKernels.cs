namespace SonicVerse.Kernels.Cpu;

/// <summary>Rotary position embedding as HF transformers computes it in fp32: angle = pos · inv_freq in fp32
/// (<see cref="RopeFrequencies"/>), then cos/sin of that fp32 angle.</summary>
public static class RopeKernels
{
    /// <summary>x: [n, heads, headDim] rotated in place; positions: [n].</summary>
    public static void Rope(ReadOnlySpan<int> positions, ReadOnlySpan<float> invFreq, bool interleaved,
        int n, int heads, int headDim, Span<float> x)
    {
        int half = headDim / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < half; j++)
            {
                float angle = positions[i] * invFreq[j];
                cos[j] = (float)Math.Cos(angle);
                sin[j] = (float)Math.Sin(angle);
            }
            for (int h = 0; h < heads; h++) Rotate(cos, sin, interleaved, x.Slice((i * heads + h) * headDim, headDim));
        }
    }

    // HalfSplit pairs (j, j + d/2) — HF rotate_half; Interleaved pairs (2j, 2j + 1) — GGUF's permuted q/k rows.
    static void Rotate(ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool interleaved, Span<float> head)
    {
        int half = cos.Length;
        for (int j = 0; j < half; j++)
        {
            int a = interleaved ? 2 * j : j;
            int b = interleaved ? 2 * j + 1 : j + half;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * cos[j] - x1 * sin[j];
            head[b] = x1 * cos[j] + x0 * sin[j];
        }
    }
}
