using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicVerse.Kernels.Cpu;

/// <summary>1-D convolution as a GEMM without an im2col buffer: per group and panel of <see cref="Gemm.Width"/> output
/// steps, the receptive fields are gathered straight into the packed panel [cin/groups·k, Width], and the group's
/// weights [cout/groups, cin/groups·k] (already row-major) are the left operand, so y [cout, tOut] is written in place.
/// Shallow convolutions (a receptive field of at most <see cref="ShallowDepth"/> values, like MERT's first layer: 1
/// channel × 10 taps) go a block of <see cref="ShallowSteps"/> output steps at a time instead, every output channel
/// swept across the block. Parallel over (group, panel or block) pairs.</summary>
public static class ConvKernels
{
    /// <summary>Receptive fields up to this size take the shallow path: the GEMM's 6-row tiles are depth long, and at
    /// MERT conv0's depth of 10 they ran at 9 GFLOP/s (55 ms of a 10 s clip's 1.4 s on 2 cores).</summary>
    const int ShallowDepth = 32;

    /// <summary>Output steps per shallow block: its gathered inputs (≤ 32 KB) stay in L1 while every channel uses them.</summary>
    const int ShallowSteps = 256;

    [ThreadStatic] static ConvJob? job;
    [ThreadStatic] static float[]? fieldsBuffer;

    public static void Conv1d(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, ConvShape s,
        Memory<float> y)
    {
        bool shallow = Vector512.IsHardwareAccelerated && s.InPerGroup * s.Kernel <= ShallowDepth;
        int steps = shallow ? ShallowSteps : Gemm.Width;
        int panels = (s.OutLength + steps - 1) / steps;
        if (panels == 0) return;
        var j = job ??= new ConvJob();
        (j.X, j.W, j.Bias, j.Y, j.Shape, j.Panels, j.Shallow) = (x, w, bias, y, s, panels, shallow);
        int units = s.Groups * panels;
        j.Chunks = CpuParallel.Chunks(units, (long)s.OutPerGroup * s.InPerGroup * s.Kernel * steps);
        j.Units = units;
        try { CpuParallel.For(j.Chunks, j); }
        finally { (j.X, j.W, j.Bias, j.Y) = (default, default, default, default); }
    }

    sealed class ConvJob : ParallelJob
    {
        public ReadOnlyMemory<float> X, W, Bias;
        public Memory<float> Y;
        public ConvShape Shape;
        public int Panels, Units, Chunks;
        public bool Shallow;

        public override void Run(int chunk)
        {
            int first = (int)((long)Units * chunk / Chunks), end = (int)((long)Units * (chunk + 1) / Chunks);
            for (int u = first; u < end; u++)
            {
                if (Shallow) ShallowBlock(u / Panels, u % Panels);
                else Panel(u / Panels, u % Panels);
            }
        }

        /// <summary>Output steps [t0, t0 + ShallowSteps) of one group: the receptive fields gathered as rows
        /// fields[j, t] (j over cin/groups·k), then y[o, t] = Σ_j W[o, j]·fields[j, t], 16 steps a vector. The sum runs
        /// over j in order with one FMA each, then the bias is added, as in the GEMM's 6-row tiles.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void ShallowBlock(int group, int block)
        {
            var s = Shape;
            int depth = s.InPerGroup * s.Kernel, tOut = s.OutLength;
            int t0 = block * ShallowSteps, steps = Math.Min(ShallowSteps, tOut - t0);
            var fields = (fieldsBuffer ??= new float[ShallowDepth * ShallowSteps]).AsSpan(0, depth * ShallowSteps);
            var x = X.Span;
            for (int c = 0; c < s.InPerGroup; c++)
            {
                var xc = x.Slice((group * s.InPerGroup + c) * s.Length, s.Length);
                for (int kk = 0; kk < s.Kernel; kk++)
                {
                    var row = fields.Slice((c * s.Kernel + kk) * ShallowSteps, ShallowSteps);
                    int start = t0 * s.Stride - s.Padding + kk;
                    for (int t = 0; t < steps; t++)
                    {
                        int pos = start + t * s.Stride;
                        row[t] = (uint)pos < (uint)s.Length ? xc[pos] : 0f;
                    }
                }
            }
            var w = W.Span;
            var bias = Bias.Span;
            var y = Y.Span;
            int vectorSteps = steps & ~15;
            for (int o = 0; o < s.OutPerGroup; o++)
            {
                int channel = group * s.OutPerGroup + o;
                var weights = w.Slice(channel * depth, depth);
                var yRow = y.Slice(channel * tOut + t0, steps);
                float b = bias.IsEmpty ? 0f : bias[channel];
                for (int t = 0; t < vectorSteps; t += 16)
                {
                    var acc = Vector512<float>.Zero;
                    for (int j = 0; j < depth; j++)
                        acc = Vector512.MultiplyAddEstimate(Vector512.Create(weights[j]), Vector512.Create(fields.Slice(j * ShallowSteps + t, 16)), acc);
                    (bias.IsEmpty ? acc : acc + Vector512.Create(b)).CopyTo(yRow[t..]);
                }
                for (int t = vectorSteps; t < steps; t++)
                {
                    float sum = 0;
                    for (int j = 0; j < depth; j++) sum = float.MultiplyAddEstimate(weights[j], fields[j * ShallowSteps + t], sum);
                    yRow[t] = bias.IsEmpty ? sum : sum + b;
                }
            }
        }

        void Panel(int group, int panel)
        {
            var s = Shape;
            int width = s.InPerGroup * s.Kernel, tOut = s.OutLength;
            int t0 = panel * Gemm.Width, steps = Math.Min(Gemm.Width, tOut - t0);
            var (packed, _) = Gemm.Scratch(width);
            Gather(X.Span, s, group, t0, steps, packed);
            var y = Y.Span.Slice(group * s.OutPerGroup * tOut);
            Gemm.Panel(W.Span.Slice(group * s.OutPerGroup * width), width, packed, default, s.OutPerGroup, width, steps, y, tOut, t0);
            if (Bias.IsEmpty) return;
            var bias = Bias.Span.Slice(group * s.OutPerGroup, s.OutPerGroup);
            for (int o = 0; o < bias.Length; o++)
            {
                var row = y.Slice(o * tOut + t0, steps);
                for (int t = 0; t < row.Length; t++) row[t] += bias[o];
            }
        }
    }

    /// <summary>panel[(c·k + kk)·Width + t] = x[group·cin/groups + c, (t0 + t)·stride − padding + kk], zero in the padding
    /// and past the last step. Rows wholly inside x at stride 1 or 2 are one load (and a deinterleave) with AVX-512: the
    /// scalar loop was 5 % of MERT on the cpu.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Gather(ReadOnlySpan<float> x, ConvShape s, int group, int t0, int steps, Span<float> panel)
    {
        int lanes = Gemm.Width;
        bool vectors = Avx512F.IsSupported && lanes == 16 && steps == lanes && s.Stride <= 2;
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (int c = 0; c < s.InPerGroup; c++)
        {
            var xc = x.Slice((group * s.InPerGroup + c) * s.Length, s.Length);
            for (int kk = 0; kk < s.Kernel; kk++)
            {
                var dst = panel.Slice((c * s.Kernel + kk) * lanes, lanes);
                int start = t0 * s.Stride - s.Padding + kk;
                if (vectors && start >= 0 && start + lanes * s.Stride <= s.Length)
                {
                    var first = Vector512.Create(xc.Slice(start, lanes));
                    var row = s.Stride == 1 ? first : Avx512F.PermuteVar16x32x2(first, evens, Vector512.Create(xc.Slice(start + lanes, lanes)));
                    row.CopyTo(dst);
                    continue;
                }
                for (int t = 0; t < lanes; t++)
                {
                    int pos = start + t * s.Stride;
                    dst[t] = t < steps && (uint)pos < (uint)s.Length ? xc[pos] : 0f;
                }
            }
        }
    }
}
