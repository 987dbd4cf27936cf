using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SonicVerse.Kernels.Ilgpu;

/// <summary>
/// The GEMM's tile product on tensor cores (<c>mma.sync.m16n8k8</c>, TF32 operands, FP32 accumulation), for NVIDIA
/// GPUs from sm_80. The staging into shared memory is the FMA path's (every weight format, x plain, as quads or as a
/// convolution's unfolded input); only the product of the staged tiles and the stores differ.
/// TF32 keeps 10 mantissa bits, so each operand is split into a TF32 part and the FP32 remainder (truncated to TF32 by
/// the hardware) and the product is hi·hi + hi·lo + lo·hi ("3×TF32"): about 22 bits of each operand, errors of the
/// same order as summing in another order, where plain TF32 would be ~1e-3 off the FP32 reference. Weights stored as
/// F16 or BF16 are exact in TF32 (their remainder is 0), so that term is skipped for them.
/// The group's 8 warps each own 64 rows × 32 columns of the tile (4 × 4 m16n8 blocks, 64 accumulators a thread).
/// Fragment layout (PTX ISA, mma.m16n8k8 .tf32; lane = 4·g + t): A a0 (row g, k t), a1 (g + 8, t), a2 (g, t + 4),
/// a3 (g + 8, t + 4); B b0 (k t, column g), b1 (t + 4, g); C c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1).
/// The staged tiles are k-major (xs[k, row], ws[k, column]); with a row stride of (tile + 8) floats a fragment load's
/// 32 lanes (8t + g) fall in 32 different banks.
/// On the CPU accelerator (tests only: a 32-lane warp) the mma is emulated with shuffles from the same layout.
/// </summary>
public sealed partial class MatMulKernels
{
    /// <summary>Shared-memory padding of a staged row on the tensor-core path (see the class notes).</summary>
    internal const int TensorCorePad = 8;

    /// <summary>Whether the GEMM of this accelerator runs its tile products on tensor cores: CUDA only (sm_80+), or the
    /// CPU accelerator's emulation for tests.</summary>
    public bool TensorCores { get; init; }

    /// <summary>Whether a tile of this shape runs on tensor cores: 32-lane warps, one per 64 × 32 warp tile (a GPU's
    /// 256-thread group: 128×128 or 64×256 tiles).</summary>
    bool TensorCoreTiles(GemmShape s) =>
        TensorCores && Accelerator.WarpSize == 32 && s.TileRows % 64 == 0 && s.TileCols % 32 == 0 && s.TileK % 8 == 0
        && s.TileRows / 64 * (s.TileCols / 32) * 32 == s.ThreadsX * s.ThreadsY;

    static void GemmTensorCoreTile(ArrayView<float> x, ArrayView<Quad> x4, WeightViews w, int format, ArrayView<float> bias,
        int epilogue, GemmShape s, int tileK, int mode, ConvShape conv, ArrayView<float> y)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int bm = s.TileRows, bn = s.TileCols, xStride = bm + TensorCorePad, wStride = bn + TensorCorePad;
        var xs = shared.SubView(0, tileK * xStride);
        var ws = shared.SubView(tileK * xStride, tileK * wStride);
        int tiles = s.ColTiles * s.RowTiles, split = Grid.IdxX / tiles, tile = Grid.IdxX % tiles;
        int row0 = tile / s.ColTiles * bm, col0 = tile % s.ColTiles * bn;
        int warpsAcross = bn / 32, warp = Warp.WarpIdx, lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        int rowBase = warp / warpsAcross * 64 + g, colBase = warp % warpsAcross * 32 + g;
        bool exactWeights = format == (int)WeightFormat.F16 || format == (int)WeightFormat.BF16;
        int kBegin = split * s.SplitK, kEnd = Math.Min(w.K, kBegin + s.SplitK);
        var acc = new WarpTile();
        for (int k0 = kBegin; k0 < kEnd; k0 += tileK)
        {
            StageTiles(x, x4, w, format, s, mode, conv, row0, col0, k0, tileK, xs, xStride, ws, wStride);
            Group.Barrier();
            for (int kk = 0; kk < tileK; kk += 8)
            {
                int xAt = (kk + t) * xStride + rowBase, wAt = (kk + t) * wStride + colBase;
                var b0 = FragmentB.Load(ws, wAt, wStride);
                var b1 = FragmentB.Load(ws, wAt + 8, wStride);
                var b2 = FragmentB.Load(ws, wAt + 16, wStride);
                var b3 = FragmentB.Load(ws, wAt + 24, wStride);
                acc.R0 = Mma3(acc.R0, FragmentA.Load(xs, xAt, xStride), b0, b1, b2, b3, exactWeights);
                acc.R1 = Mma3(acc.R1, FragmentA.Load(xs, xAt + 16, xStride), b0, b1, b2, b3, exactWeights);
                acc.R2 = Mma3(acc.R2, FragmentA.Load(xs, xAt + 32, xStride), b0, b1, b2, b3, exactWeights);
                acc.R3 = Mma3(acc.R3, FragmentA.Load(xs, xAt + 48, xStride), b0, b1, b2, b3, exactWeights);
            }
            Group.Barrier();
        }
        var part = y.SubView((long)split * s.N * s.M, (long)s.N * s.M);
        bool transposed = mode == UnfoldedInputTransposedOutput;
        int r = row0 + rowBase, c = col0 + colBase - g + 2 * t;
        StoreBlocks(part, bias, epilogue, s, transposed, r, c, acc.R0);
        StoreBlocks(part, bias, epilogue, s, transposed, r + 16, c, acc.R1);
        StoreBlocks(part, bias, epilogue, s, transposed, r + 32, c, acc.R2);
        StoreBlocks(part, bias, epilogue, s, transposed, r + 48, c, acc.R3);
    }

    /// <summary>A row of four m16n8 blocks (columns c, c + 8, c + 16, c + 24) from row r.</summary>
    static void StoreBlocks(ArrayView<float> y, ArrayView<float> bias, int epilogue, GemmShape s, bool transposed, int r, int c,
        BlockRow row)
    {
        StoreBlock(y, bias, epilogue, s, transposed, r, c, row.B0);
        StoreBlock(y, bias, epilogue, s, transposed, r, c + 8, row.B1);
        StoreBlock(y, bias, epilogue, s, transposed, r, c + 16, row.B2);
        StoreBlock(y, bias, epilogue, s, transposed, r, c + 24, row.B3);
    }

    /// <summary>A thread's four values of an m16n8 block: (r, c), (r, c + 1), (r + 8, c), (r + 8, c + 1).</summary>
    static void StoreBlock(ArrayView<float> y, ArrayView<float> bias, int epilogue, GemmShape s, bool transposed, int r, int c,
        MmaBlock v)
    {
        if (transposed)
        {
            if (c < s.M)
            {
                StoreAt(y, bias, epilogue, s.N, (long)c * s.N, r, c, v.C0);
                StoreAt(y, bias, epilogue, s.N, (long)c * s.N, r + 8, c, v.C2);
            }
            if (c + 1 < s.M)
            {
                StoreAt(y, bias, epilogue, s.N, (long)(c + 1) * s.N, r, c + 1, v.C1);
                StoreAt(y, bias, epilogue, s.N, (long)(c + 1) * s.N, r + 8, c + 1, v.C3);
            }
            return;
        }
        if (r < s.N)
        {
            Store(y, bias, epilogue, s.M, (long)r * s.M, c, v.C0);
            Store(y, bias, epilogue, s.M, (long)r * s.M, c + 1, v.C1);
        }
        if (r + 8 < s.N)
        {
            Store(y, bias, epilogue, s.M, (long)(r + 8) * s.M, c, v.C2);
            Store(y, bias, epilogue, s.M, (long)(r + 8) * s.M, c + 1, v.C3);
        }
    }

    /// <summary>A row of four blocks plus one A fragment times four B fragments.</summary>
    static BlockRow Mma3(BlockRow row, FragmentA a, FragmentB b0, FragmentB b1, FragmentB b2, FragmentB b3, bool exactWeights) =>
        new()
        {
            B0 = Mma3(row.B0, a, b0, exactWeights), B1 = Mma3(row.B1, a, b1, exactWeights),
            B2 = Mma3(row.B2, a, b2, exactWeights), B3 = Mma3(row.B3, a, b3, exactWeights),
        };

    /// <summary>c + a·b with both operands split into TF32 parts: lo·hi and hi·lo first (the small terms), then hi·hi;
    /// the hi·lo term is 0 for weights exact in TF32.</summary>
    static MmaBlock Mma3(MmaBlock c, FragmentA a, FragmentB b, bool exactWeights)
    {
        c = Mma(c, a.Lo0, a.Lo1, a.Lo2, a.Lo3, b.Hi0, b.Hi1);
        if (!exactWeights) c = Mma(c, a.Hi0, a.Hi1, a.Hi2, a.Hi3, b.Lo0, b.Lo1);
        return Mma(c, a.Hi0, a.Hi1, a.Hi2, a.Hi3, b.Hi0, b.Hi1);
    }

    /// <summary>One <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>: c + A·B for the warp's 16×8 block.</summary>
    static MmaBlock Mma(MmaBlock c, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        if (!CudaAsm.IsSupported) return EmulatedMma(c, a0, a1, a2, a3, b0, b1);
        Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        Input<uint> x0 = a0, x1 = a1, x2 = a2, x3 = a3, w0 = b0, w1 = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref d0, ref d1, ref d2, ref d3, ref x0, ref x1, ref x2, ref x3, ref w0, ref w1);
        return new MmaBlock { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
    }

    /// <summary>The mma of <see cref="Mma"/> for the CPU accelerator (a 32-lane warp): each lane posts its six fragment
    /// registers to its warp's slots at the end of the group's dynamic shared memory (the launch asks for them:
    /// <see cref="EmulatedMmaSlots"/>), and after one warp barrier gathers its rows of A and columns of B from the lanes
    /// that hold them (the layout in the class notes), summing over k in order with the operands cut to TF32 as the tensor
    /// cores read them. On that accelerator every shuffle is a rendezvous of the warp's 32 OS threads, and gathering by 32
    /// shuffles an mma made the tensor-core tests the suite's longest. On CUDA the branch is compiled out
    /// (<c>CudaAsm.IsSupported</c>) and no slots are asked for; static shared memory would not do, as ptxas keeps a
    /// removed branch's (24 KB a call site).</summary>
    static MmaBlock EmulatedMma(MmaBlock c, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        var dynamic = SharedMemory.GetDynamic<uint>();
        var slots = dynamic.SubView(dynamic.Length - (Warp.WarpIdx + 1) * MmaSlotsPerWarp, MmaSlotsPerWarp);
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        Warp.Barrier();  // every lane has read the previous mma's slots
        slots[lane] = a0;
        slots[32 + lane] = a1;
        slots[64 + lane] = a2;
        slots[96 + lane] = a3;
        slots[128 + lane] = b0;
        slots[160 + lane] = b1;
        Warp.Barrier();
        for (int k = 0; k < 8; k++)
        {
            // Lane 4g + j holds A's columns j (a0, a1) and j + 4 (a2, a3); lane 8t + j holds B's rows j (b0) and j + 4 (b1).
            int from = k & 3, a = k < 4 ? 0 : 64, b = k < 4 ? 128 : 160;
            float top = Tf32(slots[a + 4 * g + from]), bottom = Tf32(slots[a + 32 + 4 * g + from]);
            float left = Tf32(slots[b + 8 * t + from]), right = Tf32(slots[b + 8 * t + 4 + from]);
            c.C0 += top * left;
            c.C1 += top * right;
            c.C2 += bottom * left;
            c.C3 += bottom * right;
        }
        return c;
    }

    /// <summary>Slots a warp's emulated mma posts its registers to: six of 32 lanes.</summary>
    const int MmaSlotsPerWarp = 6 * 32;

    /// <summary>The 4-byte slots a tensor-core launch of <paramref name="threads"/> threads a group adds to its dynamic
    /// shared memory for <see cref="EmulatedMma"/>: on the CPU accelerator only.</summary>
    int EmulatedMmaSlots(int threads) =>
        Accelerator.AcceleratorType == AcceleratorType.CPU ? threads / 32 * MmaSlotsPerWarp : 0;

    /// <summary>The float the tensor cores read from TF32 bits: the low 13 mantissa bits are ignored.</summary>
    static float Tf32(uint bits) => Interop.IntAsFloat(bits & TfMask);

    const uint TfMask = 0xFFFFE000;

    /// <summary>v as its nearest TF32 value and the nearest TF32 value to the (exact) remainder: |v − hi − lo| ≤
    /// 2⁻²²·|v|. Cutting both instead (H100, commit c5f3a94) left the 4096-deep real-shape products of check-kernels
    /// up to 2× further from the cpu reference than the FMA GEMM (max|Δ| 6.5e-4 against 3e-4).</summary>
    static (uint Hi, uint Lo) Split(float v)
    {
        uint hi = RoundToTf32(Interop.FloatAsInt(v));
        return (hi, RoundToTf32(Interop.FloatAsInt(v - Interop.IntAsFloat(hi))));
    }

    /// <summary>The TF32 bits nearest to these float bits (halves away from zero; sign-magnitude, so the same carry
    /// works for negative values).</summary>
    static uint RoundToTf32(uint bits) => (bits + 0x1000u) & TfMask;

    /// <summary>A warp's A fragment (16 rows × 8 k of the staged x tile, k-major) split into TF32 parts.</summary>
    struct FragmentA
    {
        public uint Hi0, Hi1, Hi2, Hi3, Lo0, Lo1, Lo2, Lo3;

        /// <summary>at: xs index of (k t, row g) of the block; stride: the staged row stride.</summary>
        public static FragmentA Load(ArrayView<float> xs, int at, int stride)
        {
            var (h0, l0) = Split(xs[at]);
            var (h1, l1) = Split(xs[at + 8]);
            var (h2, l2) = Split(xs[at + 4 * stride]);
            var (h3, l3) = Split(xs[at + 4 * stride + 8]);
            return new FragmentA { Hi0 = h0, Hi1 = h1, Hi2 = h2, Hi3 = h3, Lo0 = l0, Lo1 = l1, Lo2 = l2, Lo3 = l3 };
        }
    }

    /// <summary>A warp's B fragment (8 k × 8 columns of the staged weight tile, k-major) split into TF32 parts.</summary>
    struct FragmentB
    {
        public uint Hi0, Hi1, Lo0, Lo1;

        /// <summary>at: ws index of (k t, column g) of the block; stride: the staged row stride.</summary>
        public static FragmentB Load(ArrayView<float> ws, int at, int stride)
        {
            var (h0, l0) = Split(ws[at]);
            var (h1, l1) = Split(ws[at + 4 * stride]);
            return new FragmentB { Hi0 = h0, Hi1 = h1, Lo0 = l0, Lo1 = l1 };
        }
    }
}

/// <summary>A thread's four accumulators of one m16n8 block (see <see cref="MatMulKernels"/>' tensor-core notes).</summary>
public struct MmaBlock
{
    public float C0, C1, C2, C3;
}

/// <summary>Four m16n8 blocks side by side: 16 rows × 32 columns of a warp's tile.</summary>
public struct BlockRow
{
    public MmaBlock B0, B1, B2, B3;
}

/// <summary>A warp's 64 × 32 accumulator tile: 4 rows of 4 m16n8 blocks (ILGPU keeps a structure's fields in
/// registers).</summary>
public struct WarpTile
{
    public BlockRow R0, R1, R2, R3;
}
