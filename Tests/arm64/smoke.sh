#!/usr/bin/env bash
# CI smoke check of the Arm64 build: `sonicverse` published for linux-arm64 (self-contained) and run under QEMU's user
# mode, so the JIT emits NEON for the cpu backend's 128-bit loops (RowDots128, Int8RowDots.Portable, WeightRows'
# 128-bit blocks). The kit's tiny Mistral GGUFs generate 8 tokens of the "inst" prompt in both activation modes; the
# ids must be the kit's: HF on the dequantized weights (fp32 activations) and llama.cpp (int8 activations).
# Usage: Tests/arm64/smoke.sh. Installs qemu-user-static and the arm64 C runtime (Debian multiarch) when missing.
# Exit status: 0 = the ids match, 1 = a run failed or its ids differ, 2 = setup failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kit=${SONICVERSE_REFERENCE:-$root/../shared/reference}
out=$root/out/arm64
sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo -n"

if ! command -v qemu-aarch64-static >/dev/null || [ ! -e /lib/ld-linux-aarch64.so.1 ] || ! command -v python3 >/dev/null; then
  echo "== installing qemu-user-static and the arm64 C runtime with apt-get"
  if ! { $sudo dpkg --add-architecture arm64 && $sudo apt-get update -qq \
         && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-user-static python3 \
              libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 zlib1g:arm64; } >/tmp/sonicverse-arm64-install.log 2>&1; then
    tail -5 /tmp/sonicverse-arm64-install.log >&2
    echo "error: could not install QEMU or the arm64 C runtime (see /tmp/sonicverse-arm64-install.log)" >&2
    exit 2
  fi
fi

echo "== publishing sonicverse for linux-arm64"
if ! dotnet publish "$root/Cli" -c Release -r linux-arm64 --self-contained -p:InvariantGlobalization=true -o "$out" \
     >/tmp/sonicverse-arm64-publish.log 2>&1; then
  tail -5 /tmp/sonicverse-arm64-publish.log >&2
  echo "error: dotnet publish -r linux-arm64 failed (see /tmp/sonicverse-arm64-publish.log)" >&2
  exit 2
fi

prompt=$(python3 -c 'import json, sys; print(next(p["text"] for p in json.load(open(sys.argv[1]))["prompts"] if p["name"] == "inst"))' \
  "$kit/mistral-tiny/ref/prompts.json") || exit 2
status=0
for run in "q4_0 fp32 hf_q4_0_dequant" "q8_0 fp32 hf_q8_0_dequant" "q4_0 int8 llamacpp_q4_0" "q8_0 int8 llamacpp_q8_0"; do
  read -r kind mode reference <<<"$run"
  flags=(); [ "$mode" = int8 ] && flags=(--int8-activations)
  if ! qemu-aarch64-static -L / "$out/sonicverse" generate --model "$kit/mistral-tiny/gguf/tiny-mistral-$kind.gguf" \
       --prompt "$prompt" --max-new-tokens 8 --device cpu --json "${flags[@]}" >/tmp/sonicverse-arm64.json 2>/tmp/sonicverse-arm64.err; then
    echo "arm64 $kind $mode: the run failed: $(tail -1 /tmp/sonicverse-arm64.err)" >&2
    status=1
    continue
  fi
  python3 - "$kit/mistral-tiny/ref/$reference.json" /tmp/sonicverse-arm64.json /tmp/sonicverse-arm64.err "$kind $mode" <<'PY' || status=1
import json, sys
reference_file, ours_file, stderr_file, what = sys.argv[1:5]
expected = next(p for p in json.load(open(reference_file))["prompts"] if p["name"] == "inst")["generated"][:8]
ids = json.load(open(ours_file))["ids"]
device = next((l.strip() for l in open(stderr_file) if l.startswith("device:")), "device: ?")
ok = ids == expected and "128-bit SIMD" in device
print(f"arm64 {what}: {'ok' if ok else 'MISMATCH'}, ids {ids}" + ("" if ok else f", kit {expected}") + f" ({device})")
sys.exit(0 if ok else 1)
PY
done
(( status == 0 )) && echo "arm64 smoke: the kit's ids" || echo "arm64 smoke: FAILED (see above)" >&2
exit $status
