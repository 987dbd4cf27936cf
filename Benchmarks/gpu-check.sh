#!/usr/bin/env bash
# One-command GPU check (issue 7): runs as is on a machine with an NVIDIA GPU, no .NET and no network, in under
# 8 minutes. It unpacks the self-contained CLI built by Benchmarks/publish-for-gpu.sh, records the GPU's identity, runs
# `sonicverse check-kernels` (every ILGPU kernel on CUDA against the CPU accelerator) when the build has it, and again
# with the opt-in tensor-core GEMM (SONICVERSE_TENSOR_CORES=1) and with --int8-activations, then `sonicverse bench
# --synthetic mistral-7b` for f16/q8_0/q4_0, q4_0 and q8_0 with int8 activations (dp4a GEMVs) and q4_0 with tensor
# cores at batch 1 (each run also times MERT on a 10 s clip and the projector),
# `describe`'s model work for a 6-minute song (bench --describe-seconds 360, q4_0, captions through a rank-64 LoRA
# side path as SPEC §6's peft defaults make it; tensor cores on CUDA), the same four at batch 36, then,
# while time is left, the BenchmarkDotNet kernel families at real shapes (in-process,
# short iterations), and writes summary.md + summary.json (plus each run's JSON and log, and bdn/) to $OUT.
#
# usage: Benchmarks/gpu-check.sh [--device cuda|cpu|ilgpu-cpu] [--synthetic mistral-7b|small]
#                                [--archive FILE.tar.xz] [--out DIR] [--prompt-tokens P] [--gen-tokens G]
#                                [--time-budget SECONDS] [--kernel-families "MatVec DecodeFusion Gemm Attention"]
# Dry run on a machine without a GPU: Benchmarks/gpu-check.sh --device cpu --synthetic small
# Without the archive it falls back to `dotnet Cli/bin/Release/net10.0/sonicverse.dll` when that exists.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
device=cuda preset=mistral-7b archive=$root/out/gpu/sonicverse-linux-x64.tar.xz
out=${OUT:-$root/out/gpu-results} prompt=128 gen=32 total=430 families="MatVec DecodeFusion Gemm Attention"
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --synthetic) preset=$2; shift 2 ;;
    --archive) archive=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --prompt-tokens) prompt=$2; shift 2 ;;
    --gen-tokens) gen=$2; shift 2 ;;
    --time-budget) total=$2; shift 2 ;;
    --kernel-families) families=$2; shift 2 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Seconds for the bench runs and the kernel families together (the default leaves room in the 8-minute slot for
# unpacking and check-kernels); the families get what the bench runs leave, at least kernel_budget.
kernel_budget=$(( total / 4 ))
budget=$(( total - kernel_budget ))
run_limit=150     # seconds for one bench run
start=$SECONDS
mkdir -p "$out"
log() { echo "[gpu-check $((SECONDS - start))s] $*" >&2; }

# --- the CLI ---------------------------------------------------------------------------------------------------
if [ -f "$archive" ]; then
  unpack=$(mktemp -d)
  # xz may be missing on a bare machine: python3's lzma is the fallback.
  tar -C "$unpack" -xJf "$archive" 2>/dev/null \
    || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$archive" "$unpack" \
    || { echo "gpu-check: cannot unpack $archive (no xz and no python3)" >&2; exit 1; }
  cli=("$unpack/sonicverse-linux-x64/sonicverse")
  kernel_bench=("$unpack/sonicverse-linux-x64/SonicVerse.Benchmarks")
  commit=$(cat "$unpack/sonicverse-linux-x64/COMMIT" 2>/dev/null || echo unknown)
  log "unpacked $archive"
  # A leftover archive would measure old code: say so wherever this tree's commit is known.
  head=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
  if [ -n "$head" ] && [ "${commit%% *}" != "$head" ]; then
    log "WARNING: the archive was built from ${commit%% *} but this tree is at $head; rebuild it with Benchmarks/publish-for-gpu.sh"
    commit="$commit (stale: this tree is at $head)"
  fi
elif command -v dotnet >/dev/null && [ -f "$root/Cli/bin/Release/net10.0/sonicverse.dll" ]; then
  cli=(dotnet "$root/Cli/bin/Release/net10.0/sonicverse.dll")
  kernel_bench=(dotnet "$root/Benchmarks/bin/Release/net10.0/SonicVerse.Benchmarks.dll")
  commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown) (local build)"
  log "no archive at $archive: using the local build"
else
  echo "gpu-check: no $archive (build it with Benchmarks/publish-for-gpu.sh) and no local build" >&2
  exit 1
fi

# --- identity --------------------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory,pcie.link.gen.max --format=csv,noheader 2>&1 | head -1)
  { nvidia-smi; echo; echo "driver libraries:"; ldconfig -p | grep -E 'libcuda\.so'; } > "$out/nvidia-smi.txt" 2>&1
else
  gpu="none (nvidia-smi not present)"
fi
host="$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1e6}' /proc/meminfo) RAM"
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "gpu: $gpu; host: $host; commit: $commit"

# --- kernels against the CPU accelerator ------------------------------------------------------------------------
if "${cli[@]}" --help 2>/dev/null | grep -q 'check-kernels'; then
  # check-kernels compares an ILGPU accelerator with the CPU one: a cpu dry run checks ilgpu-cpu against itself.
  timeout 120 "${cli[@]}" check-kernels --device "$([ "$device" = cpu ] && echo ilgpu-cpu || echo "$device")" \
    > "$out/check-kernels.txt" 2>&1
  rc=$?
  kernels=$([ $rc -eq 0 ] && echo passed || echo "failed (exit $rc): $(tail -1 "$out/check-kernels.txt")")
else
  kernels="missing (this build has no check-kernels verb)"
fi
log "check-kernels: $kernels"

# The tensor-core GEMM is opt-in (SONICVERSE_TENSOR_CORES=1) until it passes here: check it on CUDA too.
kernels_tc="not run (cuda only)"
if [ "$device" = cuda ] && [ "$kernels" != "missing (this build has no check-kernels verb)" ]; then
  SONICVERSE_TENSOR_CORES=1 timeout 120 "${cli[@]}" check-kernels --device cuda > "$out/check-kernels-tensor-cores.txt" 2>&1
  rc=$?
  kernels_tc=$([ $rc -eq 0 ] && echo passed \
    || echo "failed (exit $rc): $(tail -1 "$out/check-kernels-tensor-cores.txt"); $(grep -c '^FAIL' "$out/check-kernels-tensor-cores.txt") FAIL lines")
fi
log "check-kernels, tensor-core GEMM: $kernels_tc"

# --int8-activations (llama.cpp's arithmetic: dp4a GEMVs on x rounded to int8) against the cpu backend's own int8 path.
kernels_i8="not run (cuda only)"
if [ "$device" = cuda ] && [ "$kernels" != "missing (this build has no check-kernels verb)" ]; then
  timeout 120 "${cli[@]}" check-kernels --device cuda --int8-activations > "$out/check-kernels-int8.txt" 2>&1
  rc=$?
  kernels_i8=$([ $rc -eq 0 ] && echo passed \
    || echo "failed (exit $rc): $(tail -1 "$out/check-kernels-int8.txt"); $(grep -c '^FAIL' "$out/check-kernels-int8.txt") FAIL lines")
fi
log "check-kernels, int8 activations: $kernels_i8"

# --- launch cost: the small preset's decode step is a few hundred tiny kernels, so its time per launch bounds what
# one launch costs (ILGPU has no CUDA graphs) ---------------------------------------------------------------------
launch_cost="not measured"
if [ "$preset" = mistral-7b ]; then
  timeout 60 "${cli[@]}" bench --synthetic small --device "$device" --json > "$out/bench-small.json" 2> "$out/bench-small.log" \
    && launch_cost=$(awk -v t="$(grep -o '"decode_tok_per_s_per_seq":[^,}]*' "$out/bench-small.json" | cut -d: -f2)" \
         -v l="$(grep -o '"launches_per_decode_step":[^,}]*' "$out/bench-small.json" | cut -d: -f2)" \
         'BEGIN { if (t > 0 && l > 0) printf "%.1f µs per launch (small preset: %.0f launches per step, %.0f steps/s)", 1e6 / t / l, l, t; else print "unknown" }')
fi
log "launch cost: $launch_cost"

# --- bench runs --------------------------------------------------------------------------------------------------
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n'; }
# Fields of a bench report (one-line JSON): numbers, and strings (which may hold commas).
field() { grep -o "\"$1\":[^,}\"]*" "$2" | head -1 | cut -d: -f2-; }
text() { grep -o "\"$1\":\"[^\"]*\"" "$2" | head -1 | cut -d: -f2- | tr -d '"'; }
runs=()
rows=()
# "q4_0+tc": Q4_0 with the tensor-core GEMM (prefill, batched decode, MERT, the projector's backbone), on CUDA;
# "+i8": --int8-activations (batch 1 only: more rows take x rounded by a launch, then the float products).
variants="f16 q8_0 q4_0$([ "$device" = cuda ] && echo ' q4_0+tc')"
variants_b1="q4_0+i8 q8_0+i8 $variants"
# One bench run and its row of the table.
bench_row() {
    local variant=$1 batch=$2 quant tensor_cores int8 name left limit rc status f
    quant=${variant%%+*}
    tensor_cores=$([ "${variant#*+tc}" != "$variant" ] && echo 1 || echo 0)
    int8=$([ "${variant#*+i8}" != "$variant" ] && echo --int8-activations || echo)
    name=bench-${variant/+/-}-b$batch
    left=$((budget - (SECONDS - start)))
    if [ $left -lt 30 ]; then
      status="skipped: time budget spent"
    else
      limit=$(( left < run_limit ? left : run_limit ))
      log "bench $variant batch $batch (limit ${limit}s)"
      SONICVERSE_TENSOR_CORES=$tensor_cores timeout "$limit" "${cli[@]}" bench --synthetic "$preset" --device "$device" \
        --quant "$quant" --batch "$batch" --prompt-tokens "$prompt" --gen-tokens "$gen" $int8 --json > "$out/$name.json" 2> "$out/$name.log"
      rc=$?
      if [ $rc -eq 0 ]; then status=ok
      elif [ $rc -eq 124 ]; then status="timed out after ${limit}s"
      else status="failed (exit $rc): $(grep -m1 '^error:' "$out/$name.log" || tail -1 "$out/$name.log")"
      fi
    fi
    log "  $status"
    if [ "$status" = ok ]; then
      runs+=("{\"quant\":\"$quant\",\"tensor_cores\":$tensor_cores,\"int8_activations\":$([ -n "$int8" ] && echo true || echo false),\"batch\":$batch,\"status\":\"ok\",\"report\":$(cat "$out/$name.json")}")
      f=$out/$name.json
      rows+=("| $variant | $batch | $(printf '%.1f' "$(field prefill_tok_per_s "$f")") | $(printf '%.2f' "$(field decode_tok_per_s_per_seq "$f")") | $(printf '%.2f' "$(field decode_tok_per_s_total "$f")") | $(printf '%.1f' "$(field ceiling_tok_per_s "$f")") | $(awk "BEGIN {printf \"%.1f %%\", 100 * $(field achieved_fraction "$f")}") | $(printf '%.1f' "$(field mert_ms_per_10s_clip "$f")") | $(printf '%.1f' "$(field projector_ms "$f")") | $(awk "BEGIN {printf \"%.2f\", $(field peak_device_bytes "$f") / 1e9}") | $(field launches_per_decode_step "$f" | sed 's/null/–/') |")
    else
      rm -f "$out/$name.json"
      runs+=("{\"quant\":\"$quant\",\"tensor_cores\":$tensor_cores,\"int8_activations\":$([ -n "$int8" ] && echo true || echo false),\"batch\":$batch,\"status\":\"$(json_escape "$status")\"}")
      rows+=("| $variant | $batch | $status | | | | | | | | |")
    fi
}
# Batch 1 first, then describe's model work, then batch 36: if time runs out, the batch-36 runs are the ones skipped.
for variant in $variants_b1; do bench_row "$variant" 1; done
# --- describe of a whole song: the model work of `describe` at its token limits (an upper bound; bench --describe-seconds)
song=$([ "$preset" = mistral-7b ] && echo 360 || echo 25)
describe="skipped: time budget spent"
left=$((budget - (SECONDS - start)))
if [ $left -ge 30 ]; then
  limit=$(( left < run_limit ? left : run_limit ))
  # With the tensor-core products on CUDA: the fastest configuration, as the 15 s target asks of it.
  describe_tc=$([ "$device" = cuda ] && echo 1 || echo 0)
  log "describe of a ${song} s song, q4_0, captions through a LoRA side path of rank 64, tensor cores $describe_tc (limit ${limit}s)"
  SONICVERSE_TENSOR_CORES=$describe_tc timeout "$limit" "${cli[@]}" bench --synthetic "$preset" --device "$device" --quant q4_0 --prompt-tokens 8 --gen-tokens 2 \
    --lora-rank 64 --describe-seconds "$song" --json > "$out/describe.json" 2> "$out/describe.log"
  rc=$?
  f=$out/describe.json
  if [ $rc -eq 0 ]; then
    describe="$(printf '%.2f' "$(field total_seconds "$f")") s for a $song s song, q4_0 + LoRA r=64$([ "$describe_tc" = 1 ] && echo ', tensor cores'), $(field chunks "$f") chunks (MERT $(printf '%.2f' "$(field mert_seconds "$f")"), projector $(printf '%.2f' "$(field projector_seconds "$f")"), caption prefill $(printf '%.2f' "$(field prefill_seconds "$f")"), captions $(printf '%.2f' "$(field generate_seconds "$f")"), chain prefill $(printf '%.2f' "$(field chain_prefill_seconds "$f")"), description $(printf '%.2f' "$(field chain_generate_seconds "$f")") s)"
  elif [ $rc -eq 124 ]; then describe="timed out after ${limit}s"
  else describe="failed (exit $rc): $(grep -m1 '^error:' "$out/describe.log" || tail -1 "$out/describe.log")"
  fi
fi
log "describe: $describe"
for variant in $variants; do bench_row "$variant" 36; done

# --- kernel families (BenchmarkDotNet, in-process: the machine has no SDK to build a separate benchmark process) ------
kernels_bench="skipped: time budget spent"
left=$((budget + kernel_budget - (SECONDS - start)))
if [ "$device" != cuda ]; then
  kernels_bench="skipped: only on cuda (real shapes)"
elif [ $left -ge 45 ]; then
  log "kernel families, BenchmarkDotNet (limit ${left}s)"
  filters=()
  for family in $families; do filters+=("*${family}Benchmarks*"); done
  SONICVERSE_BENCH_DEVICES=cuda timeout "$left" "${kernel_bench[@]}" --filter "${filters[@]}" \
    --inProcess --launchCount 1 --warmupCount 2 --iterationCount 5 --iterationTime 100 \
    --exporters github --artifacts "$out/bdn" > "$out/bdn.log" 2>&1
  rc=$?
  kernels_bench=$([ $rc -eq 0 ] && echo "ok: bdn/results/*.md" || echo "stopped (exit $rc): see bdn.log; finished families in bdn/results")
fi
log "kernel families: $kernels_bench"

# --- summary -----------------------------------------------------------------------------------------------------
first_ok=$(ls "$out"/bench-*-b1.json 2>/dev/null | head -1)
bandwidth=$([ -n "$first_ok" ] && echo "$(awk "BEGIN {printf \"%.0f\", $(field bandwidth_bytes_per_s "$first_ok") / 1e9}") GB/s ($(text bandwidth_source "$first_ok"))" || echo unknown)
device_text=$([ -n "$first_ok" ] && text device_description "$first_ok" || echo "$device")
clip=$([ -n "$first_ok" ] && field mert_clip_seconds "$first_ok" || echo 10)
{
  printf '{"date":"%s","commit":"%s","gpu":"%s","host":"%s","device":"%s","synthetic":"%s","check_kernels":"%s","check_kernels_tensor_cores":"%s","check_kernels_int8":"%s","kernel_families":"%s","launch_cost":"%s","describe":"%s","seconds":%d,"runs":[' \
    "$date" "$(json_escape "$commit")" "$(json_escape "$gpu")" "$(json_escape "$host")" "$device" "$preset" "$(json_escape "$kernels")" "$(json_escape "$kernels_tc")" "$(json_escape "$kernels_i8")" "$(json_escape "$kernels_bench")" "$(json_escape "$launch_cost")" "$(json_escape "$describe")" $((SECONDS - start))
  (IFS=,; printf '%s' "${runs[*]}")
  printf ']}\n'
} > "$out/summary.json"
{
  echo "# GPU check: $gpu"
  echo
  echo "- date: $date"
  echo "- commit: $commit"
  echo "- device: $device_text; host: $host"
  echo "- memory bandwidth: $bandwidth"
  echo "- check-kernels: $kernels"
  echo "- check-kernels with the tensor-core GEMM (SONICVERSE_TENSOR_CORES=1): $kernels_tc"
  echo "- check-kernels with --int8-activations (against the cpu's int8 path): $kernels_i8"
  echo "- kernel families (BenchmarkDotNet): $kernels_bench"
  echo "- launch cost (upper bound): $launch_cost"
  echo "- describe (model work at the token limits: 128 per caption, 1000 for the description): $describe"
  echo "- model: synthetic $preset, $prompt prompt tokens, $gen generated tokens; MERT timed on a $clip s clip (scaled to 10 s), projector per clip"
  echo
  echo "| weights | batch | prefill tok/s | decode tok/s per seq | decode tok/s total | ceiling tok/s | of ceiling | MERT ms / 10 s | projector ms | peak GB | launches / step |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Ceiling = batch × bandwidth ÷ weight bytes read per decode step (all decoder weights but the embedding table; SPEC §11)."
  echo "q4_0+tc: the same Q4_0 model with SONICVERSE_TENSOR_CORES=1 (tensor-core products: the 3×TF32 GEMM for prefill, MERT and the projector, the small-batch product for batch-36 decode)."
  echo "+i8: --int8-activations (x rounded to int8 blocks as llama.cpp does; the batch-1 GEMVs dot them by dp4a)."
} > "$out/summary.md"
log "wrote $out/summary.md and $out/summary.json in $((SECONDS - start)) s"
cat "$out/summary.md"
