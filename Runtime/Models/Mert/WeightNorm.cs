using SonicVerse.Loader;

namespace SonicVerse.Runtime.Models.Mert;

/// <summary>The positional conv's weight norm (torch <c>weight_norm(conv, dim=2)</c>), folded once at load:
/// for each tap k, <c>W[o,i,k] = g[k] · v[o,i,k] / sqrt(Σ_{o,i} v[o,i,k]²)</c> (SPEC §3.3), computed in double.</summary>
static class WeightNorm
{
    /// <summary>Reads the conv weight in whichever form the checkpoint stores it: legacy <c>weight_g</c>/<c>weight_v</c>
    /// (HF files), <c>parametrizations.weight.original0/original1</c> (torch ≥ 2.1 saves), or a fused <c>weight</c>.</summary>
    public static float[] LoadFolded(Weights posConv, int outChannels, int inPerGroup, int kernel)
    {
        var conv = posConv.Sub("conv");
        var parametrized = conv.Sub("parametrizations").Sub("weight");
        if (conv.Has("weight_g") || conv.Has("weight_v"))
            return Fold(conv.Get("weight_g", 1, 1, kernel).ToFloat32(),
                conv.Get("weight_v", outChannels, inPerGroup, kernel).ToFloat32(), kernel);
        if (parametrized.Has("original0") || parametrized.Has("original1"))
            return Fold(parametrized.Get("original0", 1, 1, kernel).ToFloat32(),
                parametrized.Get("original1", outChannels, inPerGroup, kernel).ToFloat32(), kernel);
        return conv.Get("weight", outChannels, inPerGroup, kernel).ToFloat32();
    }

    /// <param name="g">[1, 1, kernel]</param>
    /// <param name="v">[outChannels, inPerGroup, kernel]</param>
    public static float[] Fold(float[] g, float[] v, int kernel)
    {
        var sumSquares = new double[kernel];
        for (int j = 0; j < v.Length; j++) sumSquares[j % kernel] += (double)v[j] * v[j];
        var scale = new double[kernel];
        for (int k = 0; k < kernel; k++) scale[k] = g[k] / Math.Sqrt(sumSquares[k]);
        var w = new float[v.Length];
        for (int j = 0; j < v.Length; j++) w[j] = (float)(v[j] * scale[j % kernel]);
        return w;
    }
}
