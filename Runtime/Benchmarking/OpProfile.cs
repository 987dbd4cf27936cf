using System.Diagnostics;
using System.Globalization;
using System.Text;
using SonicVerse.Runtime.Backends;

namespace SonicVerse.Runtime.Benchmarking;

/// <summary>
/// <c>sonicverse bench --profile</c>: wraps a backend's ops so that each op waits for the device before and after it
/// runs and is timed by name (MatMul split into GEMV and GEMM by rows of x), plus the backend's own allocation, upload
/// and download calls. The waits remove the overlap of host launches with device work, so the totals are larger than
/// an unprofiled run; the breakdown is what it is for: which ops a stage spends its time in.
/// </summary>
public sealed class OpProfile
{
    readonly Dictionary<string, (int Calls, double Ms)> _ops = new();

    /// <summary>Times <paramref name="run"/> between two device waits under <paramref name="name"/>.</summary>
    internal void Time(IBackend backend, string name, Action run)
    {
        backend.Synchronize();
        long start = Stopwatch.GetTimestamp();
        run();
        backend.Synchronize();
        Add(name, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    internal void Add(string name, double ms)
    {
        var (calls, total) = _ops.GetValueOrDefault(name);
        _ops[name] = (calls + 1, total + ms);
    }

    public void Clear() => _ops.Clear();

    /// <summary>One line per op, most time first: calls, total ms, share, mean µs.</summary>
    public string Table(string title)
    {
        double all = _ops.Values.Sum(v => v.Ms);
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"profile: {title} ({all:F2} ms with a device wait around every op)");
        foreach (var (name, (calls, ms)) in _ops.OrderByDescending(kv => kv.Value.Ms))
            s.AppendLine(CultureInfo.InvariantCulture,
                $"  {name,-22} {calls,7} calls {ms,10:F3} ms {100 * ms / Math.Max(all, 1e-9),5:F1} % {1000 * ms / calls,10:F1} µs each");
        return s.ToString();
    }
}

/// <summary>The ops of <paramref name="backend"/>, each timed into <paramref name="profile"/>.</summary>
sealed class ProfilingOps(IBackend backend, IOps inner, OpProfile profile) : IOps
{
    void T(string name, Action run) => profile.Time(backend, name, run);

    static string MatMulName(string op, DeviceTensor x, DeviceTensor w) =>
        $"{op} {(x.Dim(0) <= Kernels.Ilgpu.MatMulKernels.GemvMaxRows ? "gemv" : "gemm")} {w.DType}".ToLowerInvariant();

    public void MatMul(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, DeviceTensor y, Activation activation = Activation.None) =>
        T(MatMulName("MatMul", x, w), () => inner.MatMul(x, w, bias, y, activation));
    public void MatMulAccumulate(DeviceTensor x, DeviceTensor w, DeviceTensor y) =>
        T(MatMulName("MatMulAcc", x, w), () => inner.MatMulAccumulate(x, w, y));
    public void MatMulShared(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys)
    {
        DeviceTensor[] w = weights.ToArray(), y = ys.ToArray();
        T(MatMulName("MatMulShared", x, w[0]), () => inner.MatMulShared(x, w, y));
    }
    public void MatMulAccumulateEach(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> ys,
        RotaryEmbedding? rotary = null)
    {
        DeviceTensor[] w = weights.ToArray(), y = ys.ToArray();
        T(MatMulName(rotary is null ? "MatMulAccEach" : "MatMulAccEach+Rope", x.Rows(0, y[0].Dim(0)), w[0]),
            () => inner.MatMulAccumulateEach(x, w, y, rotary));
    }
    public void MatMulNormed(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, ReadOnlySpan<DeviceTensor> weights,
        ReadOnlySpan<DeviceTensor> ys, RotaryEmbedding? rotary = null)
    {
        DeviceTensor[] w = weights.ToArray(), y = ys.ToArray();
        T(MatMulName(rotary is null ? "MatMulNormed" : "MatMulNormed+Rope", x, w[0]),
            () => inner.MatMulNormed(x, norm, eps, normed, w, y, rotary));
    }
    public void SwiGlu(DeviceTensor x, DeviceTensor norm, float eps, DeviceTensor normed, DeviceTensor gate, DeviceTensor up,
        DeviceTensor upScratch, DeviceTensor y) =>
        T(MatMulName("SwiGlu", x, gate), () => inner.SwiGlu(x, norm, eps, normed, gate, up, upScratch, y));
    public void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y) => T("Add", () => inner.Add(a, b, y));
    public void Scale(DeviceTensor x, float s, DeviceTensor y) => T("Scale", () => inner.Scale(x, s, y));
    public void RmsNorm(DeviceTensor x, DeviceTensor w, float eps, DeviceTensor y) => T("RmsNorm", () => inner.RmsNorm(x, w, eps, y));
    public void LayerNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y) =>
        T("LayerNorm", () => inner.LayerNorm(x, w, b, eps, y));
    public void ChannelNorm(DeviceTensor x, DeviceTensor w, DeviceTensor b, float eps, DeviceTensor y) =>
        T("ChannelNorm", () => inner.ChannelNorm(x, w, b, eps, y));
    public void Gelu(DeviceTensor x, DeviceTensor y) => T("Gelu", () => inner.Gelu(x, y));
    public void Relu(DeviceTensor x, DeviceTensor y) => T("Relu", () => inner.Relu(x, y));
    public void SiluMul(DeviceTensor gate, DeviceTensor up, DeviceTensor y) => T("SiluMul", () => inner.SiluMul(gate, up, y));
    public void Rope(DeviceTensor positions, float theta, RopeLayout layout, DeviceTensor q, DeviceTensor? k = null) =>
        T("Rope", () => inner.Rope(positions, theta, layout, q, k));
    public void Attention(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keyCount, int firstQueryPosition, int slidingWindow,
        float scale, DeviceTensor y) =>
        T(q.Dim(0) == 1 ? "Attention decode" : "Attention prefill",
            () => inner.Attention(q, k, v, keyCount, firstQueryPosition, slidingWindow, scale, y));
    public void AttentionDecodeBatch(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor cacheStarts,
        DeviceTensor keyCounts, int slidingWindow, float scale, DeviceTensor y) =>
        T("Attention decode batch", () => inner.AttentionDecodeBatch(q, k, v, cacheStarts, keyCounts, slidingWindow, scale, y));
    public void ScatterRows(DeviceTensor src, DeviceTensor rows, DeviceTensor dst) => T("ScatterRows", () => inner.ScatterRows(src, rows, dst));
    public void LogSoftmax(DeviceTensor x, DeviceTensor y) => T("LogSoftmax", () => inner.LogSoftmax(x, y));
    public void Embedding(DeviceTensor table, DeviceTensor ids, DeviceTensor y) => T("Embedding", () => inner.Embedding(table, ids, y));
    public void Conv1d(DeviceTensor x, DeviceTensor w, DeviceTensor? bias, int stride, int padding, int groups, DeviceTensor y) =>
        T(groups == 1 ? "Conv1d" : "Conv1d grouped", () => inner.Conv1d(x, w, bias, stride, padding, groups, y));
    public void Transpose(DeviceTensor x, DeviceTensor y) => T("Transpose", () => inner.Transpose(x, y));
    public void Copy(DeviceTensor src, long srcOffset, long count, DeviceTensor dst, long dstOffset) =>
        T("Copy", () => inner.Copy(src, srcOffset, count, dst, dstOffset));
    public void SumMiddle(DeviceTensor x, DeviceTensor y) => T("SumMiddle", () => inner.SumMiddle(x, y));
}
