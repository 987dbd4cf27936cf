namespace SonicVerse.Runtime.Models.Mert;

/// <summary>The encoder's hidden states on the host: <see cref="Count"/> arrays (the encoder input, then one per
/// layer; 13 for MERT-v1-95M), each [Frames, Width] row-major. Stacked, this is HF's <c>hidden_states</c> (L+1, T, H).</summary>
public sealed record MertHiddenStates(int Frames, int Width, float[][] States)
{
    public int Count => States.Length;

    public float[] this[int layer] => States[layer];
}
