namespace SonicVerse.Runtime.Audio.Flac;

/// <summary>Decodes one subframe (RFC 9639 §9.2) into 64-bit samples: CONSTANT, VERBATIM, FIXED, LPC,
/// Rice/escaped residual partitions and wasted bits. 64-bit arithmetic covers 32-bit audio and its 33-bit side channel.</summary>
static class FlacSubframe
{
    public static void Decode(FlacBitReader r, int blockSize, int bitsPerSample, string path, Span<long> output)
    {
        if (r.ReadBits(1) != 0) throw FlacFrameHeader.Corrupt(path, "subframe padding bit set");
        int type = (int)r.ReadUInt(6);
        int wasted = r.ReadBits(1) != 0 ? r.ReadUnary() + 1 : 0;
        int bits = bitsPerSample - wasted;
        if (bits <= 0) throw FlacFrameHeader.Corrupt(path, $"{wasted} wasted bits in a {bitsPerSample}-bit subframe");
        var samples = output[..blockSize];
        switch (type)
        {
            case 0:
                samples.Fill(r.ReadSigned(bits));
                break;
            case 1:
                for (int i = 0; i < blockSize; i++) samples[i] = r.ReadSigned(bits);
                break;
            case >= 8 and <= 12:
                DecodeFixed(r, type - 8, bits, path, samples);
                break;
            case >= 32:
                DecodeLpc(r, type - 31, bits, path, samples);
                break;
            default:
                throw FlacFrameHeader.Corrupt(path, $"reserved subframe type {type}");
        }
        if (wasted > 0)
            for (int i = 0; i < blockSize; i++) samples[i] <<= wasted;
    }

    static void DecodeFixed(FlacBitReader r, int order, int bits, string path, Span<long> s)
    {
        if (order > s.Length) throw FlacFrameHeader.Corrupt(path, $"fixed predictor order {order} exceeds block size {s.Length}");
        for (int i = 0; i < order; i++) s[i] = r.ReadSigned(bits);
        ReadResidual(r, order, path, s);
        // Fixed polynomial predictors (RFC 9639 §9.2.5): residual + prediction from the previous 'order' samples.
        switch (order)
        {
            case 1: for (int i = 1; i < s.Length; i++) s[i] += s[i - 1]; break;
            case 2: for (int i = 2; i < s.Length; i++) s[i] += 2 * s[i - 1] - s[i - 2]; break;
            case 3: for (int i = 3; i < s.Length; i++) s[i] += 3 * s[i - 1] - 3 * s[i - 2] + s[i - 3]; break;
            case 4: for (int i = 4; i < s.Length; i++) s[i] += 4 * s[i - 1] - 6 * s[i - 2] + 4 * s[i - 3] - s[i - 4]; break;
        }
    }

    static void DecodeLpc(FlacBitReader r, int order, int bits, string path, Span<long> s)
    {
        if (order > s.Length) throw FlacFrameHeader.Corrupt(path, $"LPC order {order} exceeds block size {s.Length}");
        for (int i = 0; i < order; i++) s[i] = r.ReadSigned(bits);
        int precision = (int)r.ReadUInt(4) + 1;
        if (precision == 16) throw FlacFrameHeader.Corrupt(path, "invalid LPC coefficient precision");
        int shift = (int)r.ReadSigned(5);
        if (shift < 0) throw FlacFrameHeader.Corrupt(path, $"negative LPC shift {shift}");
        Span<long> coefficients = stackalloc long[order];
        for (int i = 0; i < order; i++) coefficients[i] = r.ReadSigned(precision);
        ReadResidual(r, order, path, s);
        for (int i = order; i < s.Length; i++)
        {
            long sum = 0;
            for (int j = 0; j < order; j++) sum += coefficients[j] * s[i - 1 - j];
            s[i] += sum >> shift;
        }
    }

    /// <summary>Residual coding (RFC 9639 §9.2.7): 2^order partitions, each a Rice parameter (4 or 5 bits)
    /// or the escape code followed by a 5-bit raw width.</summary>
    static void ReadResidual(FlacBitReader r, int predictorOrder, string path, Span<long> s)
    {
        int method = (int)r.ReadUInt(2);
        if (method > 1) throw FlacFrameHeader.Corrupt(path, $"reserved residual coding method {method}");
        int parameterBits = method == 0 ? 4 : 5;
        int escape = (1 << parameterBits) - 1;
        int partitionOrder = (int)r.ReadUInt(4);
        int partitions = 1 << partitionOrder;
        int perPartition = s.Length >> partitionOrder;
        if (perPartition << partitionOrder != s.Length || perPartition < predictorOrder)
            throw FlacFrameHeader.Corrupt(path, $"residual partition order {partitionOrder} does not fit block size {s.Length}");
        int i = predictorOrder;
        for (int p = 0; p < partitions; p++)
        {
            int end = (p + 1) * perPartition;
            int parameter = (int)r.ReadUInt(parameterBits);
            if (parameter == escape)
            {
                int width = (int)r.ReadUInt(5);
                for (; i < end; i++) s[i] = r.ReadSigned(width);
                continue;
            }
            for (; i < end; i++)
            {
                ulong q = (ulong)r.ReadUnary();
                ulong u = q << parameter | r.ReadBits(parameter);
                s[i] = (long)(u >> 1) ^ -(long)(u & 1);
            }
        }
    }
}
