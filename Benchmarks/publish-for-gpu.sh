#!/usr/bin/env bash
# Builds the self-contained linux-x64 `sonicverse` that Benchmarks/gpu-check.sh runs on a GPU machine with no .NET and
# no network, packed as one .tar.xz (the device tool carries at most 64 MiB of ignored files). The BenchmarkDotNet
# project is published into the same folder (it shares the runtime; gpu-check runs it in-process).
# usage: Benchmarks/publish-for-gpu.sh [OUTDIR]      (default: out/gpu; writes OUTDIR/sonicverse-linux-x64.tar.xz)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/out/gpu}
name=sonicverse-linux-x64
stage=$out/$name
rm -rf "$stage" "$out/$name.tar.xz"
mkdir -p "$stage"
# InvariantGlobalization: the GPU machine may have no ICU; nothing here formats culture-specific text.
for project in Cli Benchmarks; do
  dotnet publish "$root/$project" -c Release -r linux-x64 --self-contained -p:InvariantGlobalization=true -o "$stage" >&2
done
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -c . || true)
printf '%s%s\n' "$commit" "$([ "$dirty" -gt 0 ] && echo " (+$dirty uncommitted changes)")" > "$stage/COMMIT"
XZ_OPT=-9 tar -C "$out" -cJf "$out/$name.tar.xz" "$name"
bytes=$(stat -c %s "$out/$name.tar.xz")
echo "$out/$name.tar.xz: $((bytes / 1048576)).$(( (bytes % 1048576) * 10 / 1048576 )) MiB ($(du -sh "$stage" | cut -f1) unpacked), commit $(cat "$stage/COMMIT")"
