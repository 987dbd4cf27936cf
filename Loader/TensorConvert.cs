using System.Buffers.Binary;

namespace SonicVerse.Loader;

/// <summary>Conversions of stored element types to fp32.</summary>
public static class TensorConvert
{
    /// <summary>bfloat16 is the top half of an IEEE float: widening is exact.</summary>
    public static float BF16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static float F16ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Round-to-nearest-even fp32 → bf16 (what torch's <c>.to(bfloat16)</c> does); NaN stays NaN.</summary>
    public static ushort FloatToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static void ToFloat32(DType dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype)
        {
            case DType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case DType.F64:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
            case DType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BF16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            case DType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = F16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            case DType.I8:
                for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i];
                break;
            case DType.U8:
            case DType.Bool:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
                break;
            case DType.I16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]);
                break;
            case DType.I32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]);
                break;
            case DType.I64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(8 * i)..]);
                break;
            default:
                GgufQuants.Dequantize(dtype, src, dst);
                break;
        }
    }
}
