namespace SonicVerse.Kernels.Cpu;

/// <summary>Every f16 bit pattern's value, so a quantized block's scale is one load: 256 KB, of which a matrix's scales
/// (a few binades) touch a few KB. In the decode GEMV, gathering and widening 16 scales at a time instead was slower
/// (Q4_0 gate_proj on 2 cores: 21.9 against 24.7 G weights/s, before rows were grouped).</summary>
static class HalfTable
{
    public static readonly float[] Values = Build();

    static float[] Build()
    {
        var values = new float[65536];
        for (int bits = 0; bits < values.Length; bits++) values[bits] = ScalarMath.HalfToFloat((ushort)bits);
        return values;
    }
}
