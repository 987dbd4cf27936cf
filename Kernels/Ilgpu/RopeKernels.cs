using ILGPU;
using ILGPU.Runtime;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>Rotary position embedding in place, one thread per rotated pair. The fp32 inverse frequencies
/// (<see cref="RopeFrequencies"/>) are uploaded once per (theta, headDim) and kept; angle = pos · inv_freq in fp32 and
/// its cos/sin in double, as the cpu kernel does, to match HF fp32.</summary>
public sealed class RopeKernels(Accelerator accelerator) : KernelFamily(accelerator), IDisposable
{
    readonly Dictionary<(float Theta, int HeadDim), MemoryBuffer1D<float, Stride1D.Dense>> frequencies = [];
    Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, int, int, int, int, ArrayView<float>,
        ArrayView<float>>? rope;

    /// <summary>positions: [n]; q: [n, heads, headDim] and k: [n, kvHeads, headDim] (kvHeads may be 0) rotated in
    /// place, both in one launch.</summary>
    public void Rope(AcceleratorStream stream, ArrayView<int> positions, float theta, bool interleaved, int n, int heads,
        int kvHeads, int headDim, ArrayView<float> q, ArrayView<float> k)
    {
        rope ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, int, int, int, int, ArrayView<float>,
            ArrayView<float>>(RopeKernel);
        long pairs = (long)n * (heads + kvHeads) * (headDim / 2);
        if (pairs > 0)
            rope(stream, (int)pairs, positions, Frequencies(theta, headDim), interleaved ? 1 : 0, heads, kvHeads, headDim, q, k);
    }

    public void Dispose()
    {
        foreach (var buffer in frequencies.Values) buffer.Dispose();
        frequencies.Clear();
    }

    /// <summary>The fp32 inverse frequencies of (theta, headDim) on the device, uploaded on first use.</summary>
    public ArrayView<float> Frequencies(float theta, int headDim)
    {
        if (!frequencies.TryGetValue((theta, headDim), out var buffer))
        {
            var inv = RopeFrequencies.Inverse(theta, headDim);
            buffer = Accelerator.Allocate1D(inv);
            frequencies[(theta, headDim)] = buffer;
        }
        return buffer.View;
    }

    /// <summary>The rotation of pair index j at a position: angle = position · inverse frequency in fp32, its cos and sin
    /// in double (the cpu kernel's arithmetic). Shared with the rotation folded into the q/k GEMV (<see cref="RowRope"/>).</summary>
    internal static (float Cos, float Sin) CosSin(int position, float inverseFrequency)
    {
        var sc = ScalarMath.SinCosOf(position * inverseFrequency);
        return ((float)sc.Cos, (float)sc.Sin);
    }

    // HalfSplit pairs (j, j + d/2) — HF rotate_half; Interleaved pairs (2j, 2j + 1) — GGUF's permuted q/k rows.
    // Row i's heads are numbered q's first, then k's.
    static void RopeKernel(Index1D index, ArrayView<int> positions, ArrayView<float> invFreq, int interleaved, int heads,
        int kvHeads, int headDim, ArrayView<float> q, ArrayView<float> k)
    {
        int half = headDim / 2, perRow = heads + kvHeads;
        int j = index % half;
        int rowHead = index / half;
        int i = rowHead / perRow, h = rowHead % perRow;
        bool isQ = h < heads;
        var x = isQ ? q : k;
        var (cos, sin) = CosSin(positions[i], invFreq[j]);
        long head = isQ ? ((long)i * heads + h) * headDim : ((long)i * kvHeads + h - heads) * headDim;
        long a = head + (interleaved != 0 ? 2 * j : j);
        long b = head + (interleaved != 0 ? 2 * j + 1 : j + half);
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * cos - x1 * sin;
        x[b] = x1 * cos + x0 * sin;
    }
}
