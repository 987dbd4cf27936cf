#!/usr/bin/env bash
# Fuzz one reader with AFL++ and SharpFuzz: Tests/fuzz/run.sh TARGET SECONDS
# Targets: safetensors pytorch gguf tokenizer-model wav mp3 ogg flac.
# Builds the harness (Release), instruments the product assemblies, seeds the corpus from the reference kit
# ($SONICVERSE_REFERENCE or ../shared/reference), runs afl-fuzz for SECONDS and prints execs/s and total execs.
# Exit status: 0 = no finding, 1 = AFL saved a crash or a hang (listed, with the command to replay it), 2 = setup error.
# Work files go to $FUZZ_WORK (default /tmp/sonicverse-fuzz/TARGET).
set -euo pipefail

usage() { echo "usage: $0 TARGET SECONDS (targets: safetensors pytorch gguf tokenizer-model wav mp3 ogg flac)" >&2; exit 2; }
[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || usage
target=$1 seconds=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kit=${SONICVERSE_REFERENCE:-$repo/../shared/reference}
work=${FUZZ_WORK:-/tmp/sonicverse-fuzz}/$target
[[ -f $kit/MANIFEST.md ]] || { echo "error: reference kit not found at $kit (set SONICVERSE_REFERENCE)" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "error: afl-fuzz not found (apt-get install -y afl++)" >&2; exit 2; }

# Seeds: kit files under ~300 KB (AFL slows down on large inputs); larger ones are cut to their first 64 KB (MP3: 8 KB).
seeds() {
  case $1 in
    safetensors) echo mistral-tiny/lora/adapter_model.safetensors sonicverse-tiny/ref_e2e.safetensors \
                      mert-tiny/ref_prelayernorm_hf_fp32.safetensors ;;
    pytorch) echo mistral-tiny/lora/adapter_model.bin mert-tiny/model-prelayernorm/pytorch_model.bin ;;
    gguf) echo mistral-tiny/gguf/tiny-mistral-q4_0.gguf ;;
    tokenizer-model) echo tokenizer/tokenizer.model ;;
    wav) echo audio/clip_24k_mono_pcm16.wav audio/clip_44k1_stereo_f32.wav ;;
    mp3) echo audio/clip_44k1_stereo.mp3 ;;
    ogg) echo audio/clip_24k_mono.ogg ;;
    flac) echo audio/clip_24k_mono.flac ;;
    *) usage ;;
  esac
}
files=$(seeds "$target")

rm -rf "$work"
mkdir -p "$work/in" "$work/bin"
echo "== building the harness (Release)"
dotnet publish "$repo/Tests/fuzz/SonicVerse.Fuzz" -c Release -o "$work/bin" --nologo -v quiet >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; echo "error: build failed" >&2; exit 2; }
echo "== instrumenting"
(cd "$repo" && dotnet tool restore >/dev/null)
for dll in SonicVerse.Loader.dll SonicVerse.Runtime.dll NLayer.dll NVorbis.dll; do
  (cd "$repo" && dotnet tool run sharpfuzz "$work/bin/$dll") >/dev/null || { echo "error: sharpfuzz failed on $dll" >&2; exit 2; }
done

for f in $files; do
  src=$kit/$f
  [[ -f $src ]] || { echo "error: seed $src missing from the kit" >&2; exit 2; }
  # MP3 decoding costs per byte (about 20 execs/s on the whole 25 KB clip): a few frames are enough for a seed.
  limit=300000; [[ $target == mp3 ]] && limit=8192
  if (( $(stat -c %s "$src") > limit )); then head -c $(( limit < 65536 ? limit : 65536 )) "$src" >"$work/in/$(basename "$f").head"; else cp "$src" "$work/in/"; fi
done
if [[ $target == gguf ]]; then dotnet "$work/bin/SonicVerse.Fuzz.dll" seed-gguf "$work/in"; fi

echo "== afl-fuzz $target for ${seconds}s ($(ls "$work/in" | wc -l) seeds)"
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
export AFL_FORKSRV_INIT_TMOUT=60000   # the .NET runtime takes seconds to start
# -t 5000: an input that runs longer than 5 s is a hang; -m none: the .NET runtime reserves far more virtual memory than AFL's default.
afl-fuzz -V "$seconds" -t 5000 -m none -i "$work/in" -o "$work/out" -- dotnet "$work/bin/SonicVerse.Fuzz.dll" "$target" \
  >"$work/afl.log" 2>&1 || { tail -30 "$work/afl.log" >&2; echo "error: afl-fuzz failed (log: $work/afl.log)" >&2; exit 2; }

stats=$work/out/default/fuzzer_stats
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
runtime=$(( $(stat last_update) - $(stat start_time) ))
execs=$(stat execs_done)
echo "$target: total execs $execs in ${runtime}s, $(( execs / (runtime > 0 ? runtime : 1) )) execs/s (afl's last reading $(stat execs_per_sec)/s), corpus $(stat corpus_count), crashes $(stat saved_crashes), hangs $(stat saved_hangs)"
findings=$(find "$work/out/default/crashes" "$work/out/default/hangs" -type f ! -name README.txt 2>/dev/null)
if [[ -n $findings ]]; then
  echo "FINDINGS (replay with: dotnet $work/bin/SonicVerse.Fuzz.dll $target FILE):"
  echo "$findings"
  exit 1
fi
