#!/usr/bin/env bash
# CI smoke fuzzing: every target for a short time on its seed corpus (default 20 s each).
# Usage: Tests/fuzz/smoke.sh [SECONDS]. Installs afl++ with apt-get when afl-fuzz is missing.
# Exit status: 0 = no finding, 1 = a target found a crash or hang, 2 = setup failed (afl++ cannot be installed, build failed).
set -uo pipefail

seconds=${1:-20}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v afl-fuzz >/dev/null; then
  echo "== afl-fuzz missing: installing afl++ with apt-get"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo -n"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq afl++; } >/tmp/sonicverse-afl-install.log 2>&1 \
     || ! command -v afl-fuzz >/dev/null; then
    tail -5 /tmp/sonicverse-afl-install.log >&2
    echo "error: could not install afl++ (apt-get install -y afl++ failed; see /tmp/sonicverse-afl-install.log)" >&2
    exit 2
  fi
fi

status=0
for target in safetensors pytorch gguf tokenizer-model wav mp3 ogg flac; do
  "$here/run.sh" "$target" "$seconds"
  rc=$?
  if (( rc == 2 )); then echo "error: fuzz setup failed for $target" >&2; exit 2; fi
  (( rc != 0 )) && status=1
done
(( status == 0 )) && echo "fuzz smoke: no findings" || echo "fuzz smoke: FINDINGS (see above)" >&2
exit $status
