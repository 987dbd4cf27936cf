namespace SonicVerse.Kernels;

/// <summary>RoPE inverse frequencies as HF transformers computes them in fp32 (modeling_rope_utils default rope):
/// inv_freq[j] = 1 / theta^(2j/d), the exponent and the power each rounded to fp32.</summary>
public static class RopeFrequencies
{
    public static float[] Inverse(float theta, int headDim)
    {
        var inv = new float[headDim / 2];
        for (int j = 0; j < inv.Length; j++)
        {
            float exponent = (float)(2 * j) / headDim;
            inv[j] = 1f / (float)Math.Pow(theta, exponent);
        }
        return inv;
    }
}
