namespace SonicVerse.Kernels.Cpu;

/// <summary>1-D convolution as im2col + the vectorised MatMul: per group and tile of output steps, the receptive
/// fields are gathered into columns [tile, cin/groups·k], multiplied by the group's weights [cout/groups, cin/groups·k],
/// and scattered back transposed into y [cout, tOut].</summary>
public static class ConvKernels
{
    const int TileSteps = 256;

    public static void Conv1d(ReadOnlySpan<float> x, float[] w, float[]? bias, ConvShape s, Span<float> y)
    {
        int width = s.InPerGroup * s.Kernel;
        int tOut = s.OutLength;
        var columns = new float[Math.Min(TileSteps, tOut) * width];
        var product = new float[Math.Min(TileSteps, tOut) * s.OutPerGroup];
        for (int g = 0; g < s.Groups; g++)
        {
            var wg = new ReadOnlyMemory<float>(w, g * s.OutPerGroup * width, s.OutPerGroup * width);
            var bg = bias is null ? ReadOnlyMemory<float>.Empty : new ReadOnlyMemory<float>(bias, g * s.OutPerGroup, s.OutPerGroup);
            for (int t0 = 0; t0 < tOut; t0 += TileSteps)
            {
                int steps = Math.Min(TileSteps, tOut - t0);
                Gather(x, s, g, t0, steps, columns);
                MatMulKernels.MatMul(new ReadOnlyMemory<float>(columns, 0, steps * width), wg, bg, steps, width,
                    s.OutPerGroup, product);
                for (int o = 0; o < s.OutPerGroup; o++)
                {
                    var yo = y.Slice((g * s.OutPerGroup + o) * tOut + t0, steps);
                    for (int t = 0; t < steps; t++) yo[t] = product[t * s.OutPerGroup + o];
                }
            }
        }
    }

    // columns: [steps, cin/groups · k]; zero where the kernel reaches into the padding.
    static void Gather(ReadOnlySpan<float> x, ConvShape s, int group, int t0, int steps, Span<float> columns)
    {
        int width = s.InPerGroup * s.Kernel;
        for (int t = 0; t < steps; t++)
        {
            int start = (t0 + t) * s.Stride - s.Padding;
            var column = columns.Slice(t * width, width);
            for (int c = 0; c < s.InPerGroup; c++)
            {
                var xc = x.Slice((group * s.InPerGroup + c) * s.Length, s.Length);
                var dst = column.Slice(c * s.Kernel, s.Kernel);
                for (int kk = 0; kk < s.Kernel; kk++)
                {
                    int pos = start + kk;
                    dst[kk] = (uint)pos < (uint)s.Length ? xc[pos] : 0f;
                }
            }
        }
    }
}
