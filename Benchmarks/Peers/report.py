#!/usr/bin/python3
"""Turns the JSON files Benchmarks/cpu-vs-peers.sh collected into Benchmarks/results/cpu.md (stdout). Benchmark tool."""
import json
import os
import sys

work, commit, machine, load_before, load_after = sys.argv[1:6]


def read(name):
    """A JSON file, or the last line of a log whose last line is JSON."""
    with open(os.path.join(work, name)) as f:
        text = f.read().strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def ratio(ours, peer):
    return f"**{ours / peer:.2f}×**"


torch_result = read("torch.json")
mert, projector = read("mert.json"), read("projector.json")
lines = [
    "# cpu backend vs llama.cpp and PyTorch (same machine, one run)",
    "",
    f"- Date: {os.popen('date -u +%Y-%m-%dT%H:%MZ').read().strip()}; commit `{commit}`",
    f"- Machine: {machine}",
    f"- Load average (1 min) before / after the run: {load_before} / {load_after} — a shared 2-core box: every",
    "  number is the best of the rounds, and ratios are taken between runs made minutes apart.",
    "- Peers: llama.cpp through LLamaSharp 0.30.0 + LLamaSharp.Backend.Cpu (2 threads, same GGUF file, logits of the",
    f"  last position only, no sampling); PyTorch {torch_result['torch']} (Debian python3-torch, "
    f"{torch_result['threads']} threads, fp32 as the SonicVerse reference).",
    "- Ours: `--device cpu` (all cores = 2), twice: fp32 activations (the default: weights dequantized in registers,",
    "  the HF reference's numbers) and `--int8-activations` (x rounded to Q8_0 blocks and integer dots: llama.cpp's",
    "  arithmetic and numbers).",
    "- Reproduce: `Benchmarks/cpu-vs-peers.sh` (writes the synthetic GGUFs and random weights under $PEERS_DIR).",
    "",
    "## Decoder: synthetic Mistral-shaped GGUF (hidden 2048, 16 layers, FFN 5632, 32/8 heads, vocab 32000)",
    "",
    "| quant | ours | prompt | llama.cpp prefill tok/s | ours prefill tok/s | ratio | llama.cpp decode tok/s | ours decode tok/s | ratio |",
    "|---|---|---|---|---|---|---|---|---|",
]
for quant in ("q4_0", "q8_0"):
    llama, *ours_runs = read(f"decode-{quant}.json")
    meta = read(f"decode-{quant}.meta.json")
    for ours, activations in zip(ours_runs, ("fp32 activations", "int8 activations")):
        lines.append(
            f"| {quant.upper()} | {activations} | {meta['prompt']} + {meta['gen']} generated | "
            f"{llama['PrefillTokensPerSecond']:.1f} | {ours['PrefillTokensPerSecond']:.1f} | "
            f"{ratio(ours['PrefillTokensPerSecond'], llama['PrefillTokensPerSecond'])} | "
            f"{llama['DecodeTokensPerSecond']:.1f} | {ours['DecodeTokensPerSecond']:.1f} | "
            f"{ratio(ours['DecodeTokensPerSecond'], llama['DecodeTokensPerSecond'])} |")
lines += ["", "Every round (prefill, decode tok/s), llama.cpp and ours measured back to back in one process:", ""]
for quant in ("q4_0", "q8_0"):
    with open(os.path.join(work, f"decode-{quant}.log")) as f:
        lines += [f"    {quant}: {line.strip()}" for line in f if line.startswith("round ")]
lines += [
    "",
    "Targets: decode ≥ 0.5× (stretch 0.8×), prefill ≥ 0.3×.",
    "",
    f"## MERT-95M on a {torch_result['mert_seconds_of_audio']:.0f} s clip and the projector "
    f"({torch_result['projector_params']:,} params), same random weights",
    "",
    "| model | PyTorch, F.linear (generic BLAS) ms | PyTorch, oneDNN linear ms | ours ms | ratio vs F.linear | ratio vs oneDNN | max abs diff vs PyTorch (of max abs) |",
    "|---|---|---|---|---|---|---|",
]
for name, ours, key in (("MERT-95M (fp32)", mert, "mert"), ("projector (bf16 stored, fp32 math)", projector, "projector")):
    blas, onednn = torch_result.get(f"{key}_ms_blas"), torch_result.get(f"{key}_ms_onednn")
    cells = [f"{blas:.0f}" if blas else "–", f"{onednn:.0f}" if onednn else "–", f"{ours['Milliseconds']:.0f}",
             ratio(blas, ours["Milliseconds"]) if blas else "–", ratio(onednn, ours["Milliseconds"]) if onednn else "–",
             f"{ours['MaxAbsDiff']:.2e} (of {ours['ReferenceMaxAbs']:.2f})"]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
lines += [
    "",
    "Ratios are speed ratios (PyTorch time / our time; > 1 means we are faster). Targets: ≥ 1× (stretch 2×).",
    "This Debian torch build has `BLAS_INFO=generic` (the reference BLAS): its F.linear runs GEMMs at ~2 GFLOP/s, so the",
    "second column routes every product of ≥ 64 rows through oneDNN (`torch._C._nn.mkldnn_linear`), the fastest fp32",
    "GEMM the build has; convolutions use oneDNN in both. Read the oneDNN column as the fairer peer.",
]
print("\n".join(lines))
