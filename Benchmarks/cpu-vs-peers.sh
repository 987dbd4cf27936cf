#!/usr/bin/env bash
# The cpu backend side by side with its peers on this machine, in one run (issue 7):
#   decoder prefill/decode tok/s vs llama.cpp (LLamaSharp 0.30.0) on the same synthetic Q4_0 and Q8_0 GGUF files;
#   MERT-95M (10 s clip) and the projector vs PyTorch (Debian python3-torch) on the same random weights.
# Needs: the .NET SDK, NuGet access for LLamaSharp on first build, /usr/bin/python3 with torch (apt-get install python3-torch).
# Writes Benchmarks/results/cpu.md; large files go to $PEERS_DIR (default /tmp/sonicverse-peers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${PEERS_DIR:-/tmp/sonicverse-peers}
rounds=${ROUNDS:-5}   # best of five a side: this shared 2-core box moves ±15 % between runs
prompt=${PROMPT_TOKENS:-128}
gen=${GEN_TOKENS:-32}
mkdir -p "$work" "$root/Benchmarks/results"
cd "$root"
load_before=$(cut -d' ' -f1 /proc/loadavg)

dotnet build -c Release Benchmarks/Peers/SonicVerse.Peers.csproj -v q -nologo >&2
peers=(dotnet Benchmarks/Peers/bin/Release/net10.0/sonicverse-peers.dll)
kit=${SONICVERSE_REFERENCE:-$root/../shared/reference}   # the reference kit: its tiny GGUF gives the vocabulary and keys
template=$kit/mistral-tiny/gguf/tiny-mistral-q8_0.gguf

for quant in q4_0 q8_0; do
  model="$work/synthetic-$quant.gguf"
  [ -f "$model" ] || "${peers[@]}" gguf --template "$template" --out "$model" --quant "$quant"
  echo "decode $quant ..." >&2
  "${peers[@]}" decode --model "$model" --threads 2 --prompt-tokens "$prompt" --gen-tokens "$gen" --rounds "$rounds" \
    2>"$work/decode-$quant.log" | tail -n 1 > "$work/decode-$quant.json"
  echo "{\"prompt\": $prompt, \"gen\": $gen}" > "$work/decode-$quant.meta.json"
done

echo "pytorch ..." >&2
/usr/bin/python3 Benchmarks/Peers/torch_peers.py "$work" --template "$kit/mert-tiny/model" --threads 2 --rounds "$rounds" > /dev/null
echo "ours: mert, projector ..." >&2
"${peers[@]}" mert --model "$work/mert-95m" --io "$work/mert-io.safetensors" --rounds "$rounds" | tail -n 1 > "$work/mert.json"
"${peers[@]}" projector --weights "$work/projector.safetensors" --io "$work/projector-io.safetensors" --rounds "$rounds" \
  | tail -n 1 > "$work/projector.json"

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(dotnet --version) SDK"
results=Benchmarks/results/cpu.md
# The hand-written notes and run history below the marker line survive the rewrite.
history=$(sed -n '/^<!-- cpu-vs-peers.sh keeps/,$p' "$results" 2>/dev/null || true)
/usr/bin/python3 Benchmarks/Peers/report.py "$work" "$(git rev-parse --short HEAD)" "$machine" "$load_before" \
  "$(cut -d' ' -f1 /proc/loadavg)" > "$results.new"
[ -n "$history" ] && printf '\n%s\n' "$history" >> "$results.new"
mv "$results.new" "$results"
cat "$results"
