#!/usr/bin/python3
"""PyTorch peer for the cpu backend (issue 7, Benchmarks/cpu-vs-peers.sh). A benchmark tool: never used by the product
or the tests.

Writes seeded random weights at the real shapes as HF-named safetensors (MERT-95M folder; the SonicVerse projector with
plain names, bf16 like the release), times the same forward passes in PyTorch fp32 on the CPU (the SonicVerse reference
runs MERT and the projector in fp32), and saves the inputs and outputs so the C# side can time the same computation on
the same weights and check it agrees.

    torch_peers.py OUT_DIR --threads 2 --rounds 3 [--seconds 10] [--modes blas,onednn]
"""
import argparse
import json
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

MERT_95M = {
    "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "layer_norm_eps": 1e-5, "sample_rate": 24000,
}
# SPEC §4: 13 hidden states of width 768 on a 760-frame canvas; 40 content tokens and 4 per feature head, width 4096.
PROJECTOR = {"layers": 13, "canvas": 760, "input": 768, "backbone": 512, "head_hidden": 256, "token_width": 4096,
             "content_tokens": 40, "heads": {"instrument_detection": 40, "mood_detection": 56, "genre_detection": 87,
                                             "key_detection": 24, "vocals_detection": 3}}


def save_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header (dtype, shape, data_offsets), raw little-endian data."""
    names = {torch.float32: "F32", torch.bfloat16: "BF16"}
    header, offset = {}, 0
    for name, t in tensors.items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            raw = t.contiguous().view(torch.int16) if t.dtype == torch.bfloat16 else t.contiguous()
            f.write(raw.numpy().tobytes())


class Linear:
    """y = x·Wᵀ + b over a weights dict. "blas": F.linear (the Debian build's BLAS is the generic reference one,
    BLAS_INFO=generic, ~2 GFLOP/s on GEMMs); "onednn": products of ≥ 64 rows go through oneDNN (MKL-DNN,
    torch's mkldnn_linear on weights converted once), the fastest fp32 GEMM this torch build has; fewer rows stay on
    F.linear, which is faster there (oneDNN takes 92 ms for a 4096×4096 matrix-vector product, F.linear 17 ms)."""

    MIN_ROWS = 64

    def __init__(self, weights, mode):
        self.mode = mode
        self.dense = weights
        self.onednn = {} if mode == "blas" else {
            name: t.to_mkldnn() for name, t in weights.items() if name.endswith(("weight", "bias")) and t.dim() <= 2}

    def __call__(self, x, name):
        rows = x.numel() // x.shape[-1]
        if self.mode == "blas" or rows < self.MIN_ROWS:
            return F.linear(x, self.dense[name + ".weight"], self.dense[name + ".bias"])
        return self.matmul(x, self.onednn[name + ".weight"], self.onednn[name + ".bias"])

    def matmul(self, x, w, b=None):
        """x: [..., k]; w: [m, k] (converted to oneDNN here when given dense)."""
        if not w.is_mkldnn:
            w = w.contiguous().to_mkldnn()
        rows = x.reshape(-1, x.shape[-1]).contiguous().to_mkldnn()
        y = torch._C._nn.mkldnn_linear(rows, w, b).to_dense()
        return y.reshape(*x.shape[:-1], y.shape[-1])


def normal(gen, shape, std):
    return torch.randn(shape, generator=gen) * std


# ---- MERT ----

def mert_weights(c, gen):
    w, conv, h, ffn = {}, c["conv_dim"], c["hidden_size"], c["intermediate_size"]
    cin = 1
    for i, (cout, k) in enumerate(zip(conv, c["conv_kernel"])):
        w[f"feature_extractor.conv_layers.{i}.conv.weight"] = normal(gen, (cout, cin, k), (cin * k) ** -0.5)
        cin = cout
    w["feature_extractor.conv_layers.0.layer_norm.weight"] = 1 + normal(gen, (conv[0],), 0.1)
    w["feature_extractor.conv_layers.0.layer_norm.bias"] = normal(gen, (conv[0],), 0.1)
    w["feature_projection.layer_norm.weight"] = 1 + normal(gen, (conv[-1],), 0.1)
    w["feature_projection.layer_norm.bias"] = normal(gen, (conv[-1],), 0.1)
    w["feature_projection.projection.weight"] = normal(gen, (h, conv[-1]), 0.02)
    w["feature_projection.projection.bias"] = normal(gen, (h,), 0.02)
    k, groups = c["num_conv_pos_embeddings"], c["num_conv_pos_embedding_groups"]
    w["encoder.pos_conv_embed.conv.weight_g"] = 1 + normal(gen, (1, 1, k), 0.1)
    w["encoder.pos_conv_embed.conv.weight_v"] = normal(gen, (h, h // groups, k), 0.02)
    w["encoder.pos_conv_embed.conv.bias"] = normal(gen, (h,), 0.02)
    w["encoder.layer_norm.weight"] = 1 + normal(gen, (h,), 0.1)
    w["encoder.layer_norm.bias"] = normal(gen, (h,), 0.1)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[p + f"attention.{name}.weight"] = normal(gen, (h, h), 0.02)
            w[p + f"attention.{name}.bias"] = normal(gen, (h,), 0.02)
        w[p + "feed_forward.intermediate_dense.weight"] = normal(gen, (ffn, h), 0.02)
        w[p + "feed_forward.intermediate_dense.bias"] = normal(gen, (ffn,), 0.02)
        w[p + "feed_forward.output_dense.weight"] = normal(gen, (h, ffn), 0.02)
        w[p + "feed_forward.output_dense.bias"] = normal(gen, (h,), 0.02)
        for norm in ("layer_norm", "final_layer_norm"):
            w[p + f"{norm}.weight"] = 1 + normal(gen, (h,), 0.1)
            w[p + f"{norm}.bias"] = normal(gen, (h,), 0.1)
    return w


def mert_config(template_dir, c):
    with open(os.path.join(template_dir, "config.json")) as f:
        config = json.load(f)
    config.update(c)
    config["_name_or_path"] = "synthetic-mert-95m"
    return config


@torch.inference_mode()
def mert_forward(w, lin, c, wav):
    """modeling_MERT (HuBERT, post-LN, group-norm feature extractor) in fp32; returns all hidden states. Convolutions
    run through torch's conv1d (oneDNN in this build); linear layers and attention products through `lin`."""
    eps, h = c["layer_norm_eps"], c["hidden_size"]
    x = wav[None, None, :]
    for i, stride in enumerate(c["conv_stride"]):
        x = F.conv1d(x, w[f"feature_extractor.conv_layers.{i}.conv.weight"], stride=stride)
        if i == 0:
            x = F.group_norm(x, x.shape[1], w["feature_extractor.conv_layers.0.layer_norm.weight"],
                             w["feature_extractor.conv_layers.0.layer_norm.bias"], eps)
        x = F.gelu(x)
    x = x.transpose(1, 2)
    x = F.layer_norm(x, (x.shape[-1],), w["feature_projection.layer_norm.weight"], w["feature_projection.layer_norm.bias"], eps)
    x = lin(x, "feature_projection.projection")
    g, v = w["encoder.pos_conv_embed.conv.weight_g"], w["encoder.pos_conv_embed.conv.weight_v"]
    weight = g * v / v.norm(dim=(0, 1), keepdim=True)  # weight_norm(dim=2)
    k = c["num_conv_pos_embeddings"]
    pos = F.conv1d(x.transpose(1, 2), weight, w["encoder.pos_conv_embed.conv.bias"], padding=k // 2,
                   groups=c["num_conv_pos_embedding_groups"])
    if k % 2 == 0:
        pos = pos[:, :, :-1]
    x = x + F.gelu(pos).transpose(1, 2)
    x = F.layer_norm(x, (h,), w["encoder.layer_norm.weight"], w["encoder.layer_norm.bias"], eps)
    states = [x]
    heads = c["num_attention_heads"]
    d = h // heads
    t = x.shape[1]
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layers.{i}."

        q = (lin(x, p + "attention.q_proj") * d ** -0.5).view(t, heads, d).transpose(0, 1)
        kk = lin(x, p + "attention.k_proj").view(t, heads, d).transpose(0, 1)
        vv = lin(x, p + "attention.v_proj").view(t, heads, d).transpose(0, 1)
        if lin.mode == "blas":
            context = torch.bmm(torch.softmax(torch.bmm(q, kk.transpose(1, 2)), dim=-1), vv)
        else:
            context = torch.stack([lin.matmul(torch.softmax(lin.matmul(q[i], kk[i]), dim=-1), vv[i].t())
                                   for i in range(heads)])
        context = context.transpose(0, 1).reshape(1, t, h)
        x = F.layer_norm(x + lin(context, p + "attention.out_proj"), (h,), w[p + "layer_norm.weight"],
                         w[p + "layer_norm.bias"], eps)
        ff = lin(F.gelu(lin(x, p + "feed_forward.intermediate_dense")), p + "feed_forward.output_dense")
        x = F.layer_norm(x + ff, (h,), w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], eps)
        states.append(x)
    return states


# ---- projector ----

def projector_weights(c, gen):
    w, width = {}, c["token_width"]

    def mlp(prefix, count, fan_in):
        for j in range(count):
            w[f"{prefix}.{j}.1.weight"] = normal(gen, (width, fan_in), 0.02)
            w[f"{prefix}.{j}.1.bias"] = normal(gen, (width,), 0.02)
            w[f"{prefix}.{j}.3.weight"] = normal(gen, (width, width), 0.02)
            w[f"{prefix}.{j}.3.bias"] = normal(gen, (width,), 0.02)

    w["backbone.hidden_layer_1.weight"] = normal(gen, (c["backbone"], c["input"]), 0.02)
    w["backbone.hidden_layer_1.bias"] = normal(gen, (c["backbone"],), 0.02)
    w["lmm_projector.aggregator"] = normal(gen, (c["layers"],), 1.0)
    mlp("lmm_projector.layers", c["content_tokens"], c["input"])
    for head, classes in c["heads"].items():
        w[f"{head}.aggregator"] = torch.zeros(c["layers"], 1, 1)
        w[f"{head}.hidden_layer_1.weight"] = normal(gen, (c["head_hidden"], c["backbone"]), 0.02)
        w[f"{head}.hidden_layer_1.bias"] = normal(gen, (c["head_hidden"],), 0.02)
        w[f"{head}.output.weight"] = normal(gen, (classes, c["head_hidden"]), 0.02)
        w[f"{head}.output.bias"] = normal(gen, (classes,), 0.02)
        mlp(f"{head}_projector.layers", 4, classes)
    return {name: t.to(torch.bfloat16) for name, t in w.items()}


@torch.inference_mode()
def projector_forward(w, lin, c, hidden):
    """SPEC §4 in fp32: content tokens from the layer-weighted time mean, feature tokens from the heads' logits."""
    def token(prefix, x):
        return lin(F.gelu(lin(F.gelu(x[None]), prefix + ".1")), prefix + ".3")[0]

    tokens = []
    mean = hidden.mean(dim=1)
    v = (torch.softmax(w["lmm_projector.aggregator"], dim=0)[:, None] * mean).sum(dim=0)
    for j in range(c["content_tokens"]):
        tokens.append(token(f"lmm_projector.layers.{j}", v))
    backbone = torch.relu(lin(hidden, "backbone.hidden_layer_1"))
    features = backbone.sum(dim=1).mean(dim=0)
    for head in c["heads"]:
        logits = lin(torch.relu(lin(features[None], f"{head}.hidden_layer_1")), f"{head}.output")[0]
        for j in range(4):
            tokens.append(token(f"{head}_projector.layers.{j}", logits))
    return torch.stack(tokens)


def best_of(rounds, run, warm_up=True):
    if warm_up:
        run()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--modes", default="blas,onednn", help="linear-layer paths to time (see Linear)")
    parser.add_argument("--template", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(1234)
    mert_dir = os.path.join(args.out, "mert-95m")
    os.makedirs(mert_dir, exist_ok=True)

    c = MERT_95M
    weights = mert_weights(c, gen)
    save_safetensors(os.path.join(mert_dir, "model.safetensors"), weights)
    with open(os.path.join(mert_dir, "config.json"), "w") as f:
        json.dump(mert_config(args.template, c), f, indent=1)
    with open(os.path.join(args.template, "preprocessor_config.json")) as src, \
            open(os.path.join(mert_dir, "preprocessor_config.json"), "w") as dst:
        dst.write(src.read())
    wav = torch.randn(int(args.seconds * c["sample_rate"]), generator=gen)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "mert_seconds_of_audio": args.seconds}
    for mode in args.modes.split(","):
        lin = Linear(weights, mode)
        # F.linear on the generic BLAS takes ~100 s per clip: one cold pass says enough.
        slow = mode == "blas"
        mert_s, states = best_of(1 if slow else args.rounds, lambda: mert_forward(weights, lin, c, wav), warm_up=not slow)
        result[f"mert_ms_{mode}"] = mert_s * 1000
        print(f"torch mert ({mode}): {mert_s * 1000:.0f} ms, {states[-1].shape[1]} frames", file=sys.stderr)
        del lin
    save_safetensors(os.path.join(args.out, "mert-io.safetensors"),
                     {"input": wav, "last_hidden": states[-1][0].contiguous()})
    del weights, states

    p = PROJECTOR
    stored = projector_weights(p, gen)
    save_safetensors(os.path.join(args.out, "projector.safetensors"), stored)
    weights = {name: t.float() for name, t in stored.items()}
    del stored
    hidden = torch.randn(p["layers"], p["canvas"], p["input"], generator=gen) * 0.5
    result["projector_params"] = sum(t.numel() for t in weights.values())
    for mode in args.modes.split(","):
        lin = Linear(weights, mode)
        projector_s, tokens = best_of(args.rounds, lambda: projector_forward(weights, lin, p, hidden))
        result[f"projector_ms_{mode}"] = projector_s * 1000
        print(f"torch projector ({mode}): {projector_s * 1000:.0f} ms", file=sys.stderr)
        del lin
    save_safetensors(os.path.join(args.out, "projector-io.safetensors"), {"hidden": hidden, "tokens": tokens})
    with open(os.path.join(args.out, "torch.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
