using System.Buffers.Binary;

namespace SonicVerse.Loader;

/// <summary>
/// GGUF block formats (layouts from ggml-common.h, arithmetic from ggml-quants.c):
/// Q8_0 {f16 d; i8 q[32]} 34 B; Q4_0 {f16 d; u8 qs[16]} 18 B;
/// Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]} 144 B / 256 values;
/// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} 210 B / 256 values.
/// Every dequantizer evaluates in ggml's operation order, so results are bit-identical to dequantize_row_*.
/// </summary>
public static class GgufQuants
{
    const int Qk = 32;   // QK8_0 = QK4_0
    const int QkK = 256; // QK_K

    /// <summary>Dequantizes <paramref name="dst"/>.Length values (a whole number of blocks) from <paramref name="src"/>.</summary>
    public static void Dequantize(DType dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!dtype.IsQuantized()) throw new ArgumentException($"{dtype} is not a GGUF block type", nameof(dtype));
        int blocks = CheckBlocks(dtype, src.Length, dst.Length);
        int bytes = dtype.BlockBytes(), elements = dtype.BlockElements();
        for (int b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * bytes, bytes);
            var y = dst.Slice(b * elements, elements);
            switch (dtype)
            {
                case DType.Q8_0: DequantizeQ8_0Block(block, y); break;
                case DType.Q4_0: DequantizeQ4_0Block(block, y); break;
                case DType.Q4_K: DequantizeQ4_KBlock(block, y); break;
                case DType.Q6_K: DequantizeQ6_KBlock(block, y); break;
                default: throw new NotSupportedException($"dequantization of {dtype}");
            }
        }
    }

    /// <summary>ggml quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) (half away from zero), d stored as f16.</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int blocks = CheckBlocks(DType.Q8_0, dst.Length, src.Length);
        for (int b = 0; b < blocks; b++)
        {
            var x = src.Slice(b * Qk, Qk);
            var y = dst.Slice(b * 34, 34);
            float amax = 0f;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127;
            float id = d != 0f ? 1.0f / d : 0f;
            WriteHalf(d, y);
            for (int j = 0; j < Qk; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>ggml quantize_row_q4_0_ref: d = (signed value of largest |x|) / -8, q = min(15, trunc(x/d + 8.5)),
    /// element j in the low nibble of qs[j], element j+16 in the high nibble.</summary>
    public static void QuantizeQ4_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int blocks = CheckBlocks(DType.Q4_0, dst.Length, src.Length);
        for (int b = 0; b < blocks; b++)
        {
            var x = src.Slice(b * Qk, Qk);
            var y = dst.Slice(b * 18, 18);
            float amax = 0f, max = 0f;
            foreach (float v in x)
            {
                if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            }
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0f;
            WriteHalf(d, y);
            for (int j = 0; j < Qk / 2; j++)
            {
                // x*id lies in [-8, 8], so x*id + 8.5 is in [0.5, 16.5] and (int) truncates like ggml's (int8_t) cast.
                int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(x[j + Qk / 2] * id + 8.5f));
                y[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    static void DequantizeQ8_0Block(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block);
        for (int j = 0; j < Qk; j++) y[j] = (sbyte)block[2 + j] * d;
    }

    static void DequantizeQ4_0Block(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block);
        var qs = block.Slice(2, Qk / 2);
        for (int j = 0; j < Qk / 2; j++)
        {
            y[j] = ((qs[j] & 0x0F) - 8) * d;
            y[j + Qk / 2] = ((qs[j] >> 4) - 8) * d;
        }
    }

    /// <summary>dequantize_row_q4_K: eight sub-blocks of 32; sub-block pair (2k, 2k+1) shares qs[32k..32k+31],
    /// low nibbles first; y = d*scale*q - dmin*min with 6-bit scale/min from <see cref="ScaleMinK4"/>.</summary>
    static void DequantizeQ4_KBlock(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block);
        float dmin = ReadHalf(block[2..]);
        var scales = block.Slice(4, 12);
        var qs = block.Slice(16, QkK / 2);
        for (int pair = 0; pair < 4; pair++)
        {
            var (sc0, m0) = ScaleMinK4(scales, 2 * pair);
            var (sc1, m1) = ScaleMinK4(scales, 2 * pair + 1);
            float d0 = d * sc0, min0 = dmin * m0;
            float d1 = d * sc1, min1 = dmin * m1;
            var q = qs.Slice(32 * pair, 32);
            var out0 = y.Slice(64 * pair, 32);
            var out1 = y.Slice(64 * pair + 32, 32);
            for (int l = 0; l < 32; l++)
            {
                out0[l] = d0 * (q[l] & 0x0F) - min0;
                out1[l] = d1 * (q[l] >> 4) - min1;
            }
        }
    }

    /// <summary>ggml get_scale_min_k4: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes j and j+4;
    /// sub-blocks 4-7 take their low 4 bits from byte j+4 (scale low nibble, min high nibble) and their top 2 bits
    /// from the spare top bits of bytes j-4 (scale) and j (min).</summary>
    static (int Scale, int Min) ScaleMinK4(ReadOnlySpan<byte> q, int j) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    /// <summary>dequantize_row_q6_K: two halves of 128; in each, value l + 32g (g = 0..3, l = 0..31) has its low
    /// 4 bits in ql[l + 32(g&amp;1)] (low nibble for g &lt; 2, high for g ≥ 2), its top 2 bits in qh[l] at bit 2g,
    /// and the signed 8-bit scale scales[l/16 + 2g]; y = d*scale*(q - 32).</summary>
    static void DequantizeQ6_KBlock(ReadOnlySpan<byte> block, Span<float> y)
    {
        var ql = block[..128];
        var qh = block.Slice(128, 64);
        var sc = block.Slice(192, 16);
        float d = ReadHalf(block[208..]);
        for (int half = 0; half < 2; half++)
        {
            var l4 = ql.Slice(64 * half, 64);
            var h2 = qh.Slice(32 * half, 32);
            var s = sc.Slice(8 * half, 8);
            var o = y.Slice(128 * half, 128);
            for (int l = 0; l < 32; l++)
            {
                int si = l / 16;
                int q1 = ((l4[l] & 0x0F) | ((h2[l] & 3) << 4)) - 32;
                int q2 = ((l4[l + 32] & 0x0F) | (((h2[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * (sbyte)s[si] * q1;
                o[l + 32] = d * (sbyte)s[si + 2] * q2;
                o[l + 64] = d * (sbyte)s[si + 4] * q3;
                o[l + 96] = d * (sbyte)s[si + 6] * q4;
            }
        }
    }

    static float ReadHalf(ReadOnlySpan<byte> at) => TensorConvert.F16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(at));

    /// <summary>fp32 → fp16 round-to-nearest-even, as GGML_FP32_TO_FP16.</summary>
    static void WriteHalf(float value, Span<byte> at) =>
        BinaryPrimitives.WriteUInt16LittleEndian(at, BitConverter.HalfToUInt16Bits((Half)value));

    /// <summary>The block count, after checking that <paramref name="elements"/> is whole blocks and
    /// <paramref name="byteLength"/> holds them.</summary>
    static int CheckBlocks(DType dtype, int byteLength, int elements)
    {
        int per = dtype.BlockElements();
        if (elements % per != 0)
            throw new ArgumentException($"{dtype}: {elements} values is not a whole number of {per}-value blocks");
        int blocks = elements / per;
        if ((long)blocks * dtype.BlockBytes() > byteLength)
            throw new ArgumentException($"{dtype}: {blocks} blocks need {(long)blocks * dtype.BlockBytes()} bytes, the buffer has {byteLength}");
        return blocks;
    }
}
