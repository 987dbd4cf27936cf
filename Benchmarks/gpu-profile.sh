#!/usr/bin/env bash
# Nsight Compute on the kernels whose speed is issue 7's open question, for a lent GPU machine that has `ncu` (the
# H100/H200 images do; no .NET needed): the batch-1 decode step's fused RMSNorm + q/k/v and SwiGLU GEMVs (Q4_0 at
# ~1 TB/s where F16 reaches ~2.3 on an H100; and with --int8-activations' dp4a dots), its attention, the first GEMM launches (MERT's feature-encoder
# convolutions) with and without the tensor-core GEMM, and a batch-36 step's small-batch tensor-core products. Each
# profile is one `ncu` run of `sonicverse bench` that collects the named launches only: throughput against the
# device's peaks, memory traffic, occupancy, warp stall reasons, launch statistics. Clocks are left as they are (`--clock-control none`).
# Which launch is which follows the bench's order (MERT on a warm-up and a timed clip: 12 attention launches each; a
# warm-up prefill ending in the lm_head's normed GEMV; a warm-up decode step; then the timed runs): the report names
# each kernel's grid, so a reader can tell a decode launch (e.g. 40 attention groups) from a prefill one.
# Results: $OUT/profile.tgz (reports, CSV and text pages) and summary.txt. Takes ~4.5 minutes on an H100.
# usage: Benchmarks/gpu-profile.sh [--archive FILE.tar.xz] [--out DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
archive=$root/out/gpu/sonicverse-linux-x64.tar.xz out=${OUT:-$root/out/gpu-profile}
while [ $# -gt 0 ]; do
  case $1 in
    --archive) archive=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "gpu-profile: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v ncu >/dev/null || { echo "gpu-profile: ncu (Nsight Compute) is not on this machine's PATH" >&2; exit 1; }
[ -f "$archive" ] || { echo "gpu-profile: no $archive (build it with Benchmarks/publish-for-gpu.sh)" >&2; exit 1; }
unpack=$(mktemp -d) work=$(mktemp -d)
tar -C "$unpack" -xJf "$archive" 2>/dev/null \
  || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$archive" "$unpack" \
  || { echo "gpu-profile: cannot unpack $archive (no xz and no python3)" >&2; exit 1; }
cli=$unpack/sonicverse-linux-x64/sonicverse
mkdir -p "$out"
echo "commit $(cat "$unpack/sonicverse-linux-x64/COMMIT" 2>/dev/null || echo unknown)" > "$work/summary.txt"

# profile NAME QUANT TENSOR_CORES KERNEL_REGEX SKIP COUNT [BATCH [PROMPT_TOKENS [BENCH_FLAG]]]
profile() {
  local name=$1 quant=$2 tc=$3 kernels=$4 skip=$5 count=$6 batch=${7:-1} prompt=${8:-16} flag=${9:-}
  echo "[gpu-profile] $name: $kernels (skip $skip, count $count), $quant, tensor cores $tc" >&2
  SONICVERSE_TENSOR_CORES=$tc timeout 150 ncu --force-overwrite --clock-control none -o "$work/$name" \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section LaunchStats \
    --kernel-name "regex:$kernels" --launch-skip "$skip" --launch-count "$count" \
    "$cli" bench --synthetic mistral-7b --device cuda --quant "$quant" --batch "$batch" --prompt-tokens "$prompt" --gen-tokens 2 \
    $flag > "$work/$name.log" 2>&1
  local rc=$?
  echo "$name: ncu exit $rc" >> "$work/summary.txt"
  [ -f "$work/$name.ncu-rep" ] || return
  ncu --import "$work/$name.ncu-rep" --page details --csv > "$work/$name.csv" 2>/dev/null
  ncu --import "$work/$name.ncu-rep" --page details > "$work/$name.txt" 2>/dev/null
  # The headline of each launch: name, grid, duration, DRAM and SM throughput, achieved occupancy.
  grep -E '^  [A-Za-z_]+.*\(|Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per Thread|Grid Size|Block Size' \
    "$work/$name.txt" | sed "s/^/$name | /" >> "$work/summary.txt"
  tar -czf "$out/profile.tgz" -C "$work" .
}

# The prefill's lm_head (normed GEMV), then the warm-up step's layer 0: normed q/k/v GEMV and fused SwiGLU.
profile decode-q4_0 q4_0 0 'SingleRowGemvSharedKernel|SingleRowSwiGluKernel' 0 3
profile decode-f16 f16 0 'SingleRowGemvSharedKernel|SingleRowSwiGluKernel' 0 3
# The same launches with --int8-activations: x rounded to int8 in the GEMV and dotted by dp4a (MatMulKernels.Int8.cs).
profile decode-q4_0-int8 q4_0 0 'SingleRowGemvSharedKernel|SingleRowSwiGluKernel' 0 3 1 16 --int8-activations
# MERT's 24 and the warm-up prefill's 32 attention launches first: 56 is the warm-up step's layer 0.
profile attention-q4_0 q4_0 0 'AttentionKernel' 56 2
profile gemm-tensor-cores q4_0 1 'GemmKernel' 0 3
profile gemm-fma q4_0 0 'GemmKernel' 0 3
# Batch 36 with tensor cores: the warm-up step's layer 0 on the small-batch product (q/k/v shared, o, gate/up, down).
profile small-batch-q4_0 q4_0 1 'SmallBatchKernel' 0 4 36
# Decode attention at the description's context (describe's 999 steps attend to a 4,096-key window; BenchmarkDotNet
# had ~54 µs a layer there, 5x the K/V bytes' time): the warm-up step's layer 0, split over keys, and its combine.
# The warm-up prefill of 4,000 tokens runs in pieces of 512: 8 × 32 attention launches after MERT's 24.
profile attention-long-q4_0 q4_0 0 'AttentionKernel|CombineKernel' $((24 + 8 * 32)) 2 1 4000
cp "$work/summary.txt" "$out/summary.txt"
tar -czf "$out/profile.tgz" -C "$work" .
cat "$out/summary.txt"
