#!/usr/bin/env bash
# Static report of every ILGPU device kernel as an H100 would run it, on a machine without a GPU: each kernel variant
# the launchers compile (PtxCatalog) goes through ILGPU's PTX backend, then NVIDIA's ptxas for sm_90 (registers,
# spills) and cuobjdump (instruction mix). Registers decide how many warps a multiprocessor keeps in flight, which is
# what hides memory latency in the decode GEMVs.
# ptxas/cuobjdump come from Debian's nvidia-cuda-toolkit (CUDA 11.8, component non-free), downloaded once with apt into
# $CUDA_TOOLS (default ~/.cache/sonicverse/cuda-tools) through the mirror this system's apt already uses; the system's
# apt configuration is not changed.
# Writes Benchmarks/results/kernel-report.md (or the file given as $1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${CUDA_TOOLS:-$HOME/.cache/sonicverse/cuda-tools}
out=${1:-$root/Benchmarks/results/kernel-report.md}

fetch_tools() {
  local tmp mirror suite
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE '^(URIs:|deb) +[^ ]+' | grep -v security | awk '{print $NF}' | head -n 1 || true)
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  [ -n "$mirror" ] && [ -n "$suite" ] || { echo "error: no Debian apt mirror found in /etc/apt" >&2; exit 1; }
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/parts"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite non-free" > "$tmp/sources.list"
  local apt=(apt-get -q -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts="$tmp/parts"
    -o Dir::State::Lists="$tmp/lists" -o Dir::Cache::Archives="$tmp/archives" -o APT::Sandbox::User=root)
  echo "fetching ptxas and cuobjdump (nvidia-cuda-toolkit, $suite non-free, ~80 MB) into $tools ..." >&2
  "${apt[@]}" update >&2
  (cd "$tmp" && "${apt[@]}" download nvidia-cuda-toolkit >&2)
  dpkg -x "$tmp"/nvidia-cuda-toolkit_*.deb "$tmp/root"
  mkdir -p "$tools"
  cp "$tmp/root/usr/bin/ptxas" "$tmp/root/usr/bin/cuobjdump" "$tmp/root/usr/bin/nvdisasm" "$tools/"
}

[ -x "$tools/ptxas" ] && [ -x "$tools/cuobjdump" ] || fetch_tools
dotnet build -c Release "$root/Benchmarks/KernelReport/SonicVerse.KernelReport.csproj" -v q -nologo >&2
table=$(dotnet "$root/Benchmarks/KernelReport/bin/Release/net10.0/sonicverse-kernel-report.dll" \
  --ptxas "$tools/ptxas" --cuobjdump "$tools/cuobjdump")
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- Kernels || echo "+changes")
{
  echo "# ILGPU kernels as assembled for sm_90 (H100) — \`Benchmarks/kernel-report.sh\`"
  echo
  echo "$(date -u +%F), commit $commit, ptxas $("$tools/ptxas" --version | sed -n "s/.*release \([0-9.]*\),.*/\1/p"), PTX ISA 7.8, ILGPU optimisation" \
    "$(grep -oE 'OptimizationLevel\.O[0-2]' "$root/Kernels/Ilgpu/KernelFamily.cs" | head -n 1 | cut -d. -f2)."
  echo "Static figures, no GPU involved: \"warps/SM by registers\" is 65,536 registers ÷ (registers rounded up to 8 × 32"
  echo "lanes), capped at 64 — the occupancy limit before shared memory and group size; instruction counts are of the"
  echo "whole kernel, not of what a launch executes."
  echo
  echo "$table"
} > "$out"
echo "wrote $out" >&2
