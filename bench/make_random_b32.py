#!/usr/bin/python3
"""make_random_b32.py - a Hugging Face CLIP folder with the real ViT-B/32 shapes and random weights, for the
benchmarks (bench/bench_clip.sh). Run with Debian's python (torch 1.13, numpy):

    /usr/bin/python3 bench/make_random_b32.py OUT_DIR [--seed 0]

Writes OUT_DIR/config.json (the shapes of openai/clip-vit-base-patch32), OUT_DIR/model.safetensors (float32,
the tensor names of transformers' CLIPModel, including the two int64 position_ids buffers) and links CLIP's
BPE merges from ../shared/models/clip-vit-base-patch32/. Weights: normal(0, 0.02) for matrices and
embeddings, LayerNorm weights around 1, small biases, so activations keep a realistic scale. Timing does
not depend on the values; the benchmark also compares taclust's outputs with the PyTorch and ONNX ones.
"""
import json
import os
import struct
import sys

import numpy as np

TEXT = dict(hidden=512, inter=2048, heads=8, layers=12, ctx=77, vocab=49408)
VISION = dict(hidden=768, inter=3072, heads=12, layers=12, image=224, patch=32)
PROJ = 512


def tensors(rng):
    t = {}

    def w(name, *shape, std=0.02):
        t[name] = (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(name, c):
        t[name + ".weight"] = (1.0 + 0.05 * rng.standard_normal(c)).astype(np.float32)
        t[name + ".bias"] = (0.02 * rng.standard_normal(c)).astype(np.float32)

    def layers(prefix, c, inter, n):
        for i in range(n):
            p = f"{prefix}.encoder.layers.{i}"
            for k in ("q", "k", "v", "out"):
                w(f"{p}.self_attn.{k}_proj.weight", c, c)
                w(f"{p}.self_attn.{k}_proj.bias", c, std=0.01)
            ln(f"{p}.layer_norm1", c)
            w(f"{p}.mlp.fc1.weight", inter, c)
            w(f"{p}.mlp.fc1.bias", inter, std=0.01)
            w(f"{p}.mlp.fc2.weight", c, inter)
            w(f"{p}.mlp.fc2.bias", c, std=0.01)
            ln(f"{p}.layer_norm2", c)

    c = TEXT["hidden"]
    w("text_model.embeddings.token_embedding.weight", TEXT["vocab"], c)
    w("text_model.embeddings.position_embedding.weight", TEXT["ctx"], c, std=0.01)
    t["text_model.embeddings.position_ids"] = np.arange(TEXT["ctx"], dtype=np.int64)[None, :]
    layers("text_model", c, TEXT["inter"], TEXT["layers"])
    ln("text_model.final_layer_norm", c)

    v = VISION["hidden"]
    npos = (VISION["image"] // VISION["patch"]) ** 2 + 1
    w("vision_model.embeddings.class_embedding", v)
    w("vision_model.embeddings.patch_embedding.weight", v, 3, VISION["patch"], VISION["patch"])
    w("vision_model.embeddings.position_embedding.weight", npos, v, std=0.01)
    t["vision_model.embeddings.position_ids"] = np.arange(npos, dtype=np.int64)[None, :]
    ln("vision_model.pre_layrnorm", v)   # sic: transformers' name
    layers("vision_model", v, VISION["inter"], VISION["layers"])
    ln("vision_model.post_layernorm", v)
    w("visual_projection.weight", PROJ, v)
    w("text_projection.weight", PROJ, c)
    t["logit_scale"] = np.array(2.6592, dtype=np.float32)
    return t


def save_safetensors(path, t):
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(t):
        a = np.ascontiguousarray(t[name])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def config():
    return {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": PROJ,
        "logit_scale_init_value": 2.6592, "torch_dtype": "float32",
        "text_config": {
            "hidden_size": TEXT["hidden"], "intermediate_size": TEXT["inter"],
            "num_attention_heads": TEXT["heads"], "num_hidden_layers": TEXT["layers"],
            "max_position_embeddings": TEXT["ctx"], "vocab_size": TEXT["vocab"], "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "projection_dim": PROJ,
            "model_type": "clip_text_model"},
        "vision_config": {
            "hidden_size": VISION["hidden"], "intermediate_size": VISION["inter"],
            "num_attention_heads": VISION["heads"], "num_hidden_layers": VISION["layers"],
            "image_size": VISION["image"], "patch_size": VISION["patch"], "num_channels": 3,
            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": PROJ,
            "model_type": "clip_vision_model"},
    }


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    out = sys.argv[1]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), tensors(np.random.default_rng(seed)))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config(), f, indent=2)
    here = os.path.dirname(os.path.abspath(__file__))
    bpe = os.path.normpath(os.path.join(here, "..", "..", "shared", "models", "clip-vit-base-patch32",
                                        "bpe_simple_vocab_16e6.txt.gz"))
    link = os.path.join(out, "bpe_simple_vocab_16e6.txt.gz")
    if os.path.exists(bpe) and not os.path.lexists(link):
        os.symlink(bpe, link)
    print(f"wrote {out}/config.json, model.safetensors (random ViT-B/32, seed {seed})")


if __name__ == "__main__":
    main()
