#!/usr/bin/python3
"""gen_clip_fixtures.py - random-weight CLIP models in Hugging Face folder layout, with reference outputs.

An independent PyTorch implementation of the CLIP architecture as transformers' CLIPModel computes it
(get_image_features / get_text_features), written from the architecture description, not from transformers
(which is not installed). It writes HF folders: config.json + model.safetensors (written here; the format is an
8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw data), including
the two int64 position_ids buffers the real file holds.

Usage (Debian's python, which has torch 1.13 + numpy):
    /usr/bin/python3 tools/gen_clip_fixtures.py tiny [OUTDIR]   # default tests/fixtures/clip/tiny (committed)
    /usr/bin/python3 tools/gen_clip_fixtures.py b32 OUTDIR      # ViT-B/32-shaped random model (~600 MB), e.g. /tmp/clip-b32-random
    /usr/bin/python3 tools/gen_clip_fixtures.py tokenizer [OUTDIR]  # only the tiny model's own tokenizer files
Then for b32:  TACLUST_CLIP_B32_RANDOM=OUTDIR make test T=clip_b32

Reference outputs written beside the model (.npy, float32 features, int64 ids):
    ref_ids.npy           R x 77 token ids (zero padded after EOT 49407)
    ref_text_features.npy R x E
    ref_image_features.npy I x E, for the pixel inputs defined by pixel_pattern(I, S) below (the C test
                          recomputes the same exact values, so no pixel file is stored)

The tiny model carries its own small tokenizer (vocab.json + merges.txt in Hugging Face layout), so the suite
needs nothing from ../shared: a byte-level BPE learned here (write_tokenizer) from a small fixed corpus (TAC's
prompt templates and a few hundred common words), 256 byte tokens, the same with '</w>', one token per merge, then
'<|startoftext|>' and '<|endoftext|>' (the largest id, where the text tower pools). It is not OpenAI's vocabulary.

Tiny model weights are rounded to values exactly representable in BOTH float16 and bfloat16 (8 significant bits,
|w| >= 2^-14 or 0), so the C test can rewrite model.safetensors as F32 / BF16 and expect the same outputs.
"""
import json
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

CTX = 77
SOT, EOT = 49406, 49407


def pixel_pattern(n, s):
    """n x 3 x s x s float32 pixels: exact values in [-1, 1) from an integer hash (mirrored in tests/test_clip.c)."""
    i = np.arange(3 * s * s, dtype=np.uint64)
    out = np.empty((n, 3, s, s), dtype=np.float32)
    for b in range(n):
        h = (i * np.uint64(2654435761) + np.uint64(b * 97 + 13)) & np.uint64(0xFFFFFFFF)
        v = ((h >> np.uint64(8)) & np.uint64(1023)).astype(np.float32)
        out[b] = (v / 512.0 - 1.0).reshape(3, s, s)
    return out


# ---- model description --------------------------------------------------------------------------------
def tensor_shapes(cfg):
    t, v, e = cfg["text_config"], cfg["vision_config"], cfg["projection_dim"]
    shapes = {}
    tc, vc = t["hidden_size"], v["hidden_size"]
    shapes["text_model.embeddings.token_embedding.weight"] = (t.get("vocab_size", 49408), tc)
    shapes["text_model.embeddings.position_embedding.weight"] = (t.get("max_position_embeddings", 77), tc)
    ng = v["image_size"] // v["patch_size"]
    shapes["vision_model.embeddings.class_embedding"] = (vc,)
    shapes["vision_model.embeddings.patch_embedding.weight"] = (vc, 3, v["patch_size"], v["patch_size"])
    shapes["vision_model.embeddings.position_embedding.weight"] = (ng * ng + 1, vc)
    shapes["vision_model.pre_layrnorm.weight"] = (vc,)
    shapes["vision_model.pre_layrnorm.bias"] = (vc,)
    for tower, c, h, n in (("text_model", tc, t["intermediate_size"], t["num_hidden_layers"]),
                           ("vision_model", vc, v["intermediate_size"], v["num_hidden_layers"])):
        for i in range(n):
            p = f"{tower}.encoder.layers.{i}."
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                shapes[p + f"self_attn.{proj}.weight"] = (c, c)
                shapes[p + f"self_attn.{proj}.bias"] = (c,)
            for ln in ("layer_norm1", "layer_norm2"):
                shapes[p + f"{ln}.weight"] = (c,)
                shapes[p + f"{ln}.bias"] = (c,)
            shapes[p + "mlp.fc1.weight"] = (h, c)
            shapes[p + "mlp.fc1.bias"] = (h,)
            shapes[p + "mlp.fc2.weight"] = (c, h)
            shapes[p + "mlp.fc2.bias"] = (c,)
    shapes["text_model.final_layer_norm.weight"] = (tc,)
    shapes["text_model.final_layer_norm.bias"] = (tc,)
    shapes["vision_model.post_layernorm.weight"] = (vc,)
    shapes["vision_model.post_layernorm.bias"] = (vc,)
    shapes["visual_projection.weight"] = (e, vc)
    shapes["text_projection.weight"] = (e, tc)
    shapes["logit_scale"] = ()
    return shapes


def random_weights(cfg, seed, both_exact):
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape in tensor_shapes(cfg).items():
        if name == "logit_scale":
            x = torch.tensor(2.6592)
        elif "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
            base = 1.0 if name.endswith("weight") else 0.0
            x = base + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("bias"):
            x = 0.05 * torch.randn(shape, generator=g)
        elif "embedding" in name:
            x = 0.5 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:]))
            x = torch.randn(shape, generator=g) / np.sqrt(fan_in)
        x = x.float()
        if both_exact:
            x = x.to(torch.bfloat16).float()               # 8 significant bits
            x[x.abs() < 2.0 ** -14] = 0.0                  # stay clear of float16 subnormals
            assert torch.equal(x.half().float(), x)
        w[name] = x
    return w


# ---- the forward pass (as HF CLIPModel) ---------------------------------------------------------------
def act(x, name):
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu(x)                                   # exact erf form (HF ACT2FN["gelu"])
    raise ValueError(name)


def encoder(w, prefix, x, n_layers, heads, act_name, eps, causal):
    bsz, t, c = x.shape
    hd = c // heads
    mask = None
    if causal:
        mask = torch.full((t, t), float("-inf")).triu(1)
    for i in range(n_layers):
        p = f"{prefix}.encoder.layers.{i}."
        r = x
        h = F.layer_norm(x, (c,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
        q = F.linear(h, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]) * hd ** -0.5
        k = F.linear(h, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"])
        v = F.linear(h, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"])
        q, k, v = (z.view(bsz, t, heads, hd).transpose(1, 2) for z in (q, k, v))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(bsz, t, c)
        x = r + F.linear(a, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
        r = x
        h = F.layer_norm(x, (c,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
        h = act(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"]), act_name)
        x = r + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
    return x


def image_features(w, cfg, pixels):
    v = cfg["vision_config"]
    c, ps, eps = v["hidden_size"], v["patch_size"], v.get("layer_norm_eps", 1e-5)
    x = F.conv2d(pixels, w["vision_model.embeddings.patch_embedding.weight"], stride=ps)   # B, C, G, G
    x = x.flatten(2).transpose(1, 2)                                                      # B, G*G, C
    cls = w["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, c)
    x = torch.cat([cls, x], dim=1) + w["vision_model.embeddings.position_embedding.weight"][None]
    x = F.layer_norm(x, (c,), w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"], eps)
    x = encoder(w, "vision_model", x, v["num_hidden_layers"], v["num_attention_heads"],
                v.get("hidden_act", "quick_gelu"), eps, causal=False)
    pooled = F.layer_norm(x[:, 0], (c,), w["vision_model.post_layernorm.weight"],
                          w["vision_model.post_layernorm.bias"], eps)
    return F.linear(pooled, w["visual_projection.weight"])


def text_features(w, cfg, ids):
    t = cfg["text_config"]
    c, eps = t["hidden_size"], t.get("layer_norm_eps", 1e-5)
    n = ids.shape[1]
    x = w["text_model.embeddings.token_embedding.weight"][ids] + \
        w["text_model.embeddings.position_embedding.weight"][:n][None]
    x = encoder(w, "text_model", x, t["num_hidden_layers"], t["num_attention_heads"],
                t.get("hidden_act", "quick_gelu"), eps, causal=True)
    x = F.layer_norm(x, (c,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)
    pooled = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]        # OpenAI: position of the largest id (EOT)
    return F.linear(pooled, w["text_projection.weight"])


# ---- safetensors writer -------------------------------------------------------------------------------
def save_safetensors(path, tensors, dtype):
    """tensors: name -> torch tensor; float tensors are stored as dtype ('F16', 'BF16', 'F32')."""
    header, blobs, off = {}, [], 0
    for name, x in tensors.items():
        if x.dtype == torch.int64:
            st, data = "I64", x.numpy().astype("<i8").tobytes()
        elif dtype == "F16":
            st, data = "F16", x.half().numpy().astype("<f2").tobytes()
        elif dtype == "F32":
            st, data = "F32", x.float().numpy().astype("<f4").tobytes()
        elif dtype == "BF16":
            st, data = "BF16", x.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": st, "shape": list(x.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def token_rows(rng, vocab):
    """A few realistic id rows: SOT, words, EOT, zero padding; lengths 2 (empty text), short, mid, full 77."""
    rows = []
    for n_words in (0, 3, 11, CTX - 2):
        r = np.zeros(CTX, dtype=np.int64)
        words = rng.integers(1, min(vocab, 49406), size=n_words)
        seq = [SOT] + list(words) + [EOT]
        r[:len(seq)] = seq
        rows.append(r)
    return np.stack(rows)


def bytes_to_unicode():
    """CLIP's printable stand-in for each byte: printable Latin-1 bytes map to themselves, the others to 256+."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


TOKENIZER_CORPUS = (
    "itap of a {}. a bad photo of the {}. a origami {}. a photo of the large {}. a {} in a video game. "
    "art of the {}. a photo of the small {}. "
    "cat dog bird horse ship truck car airplane deer frog tree flower house water river mountain sky cloud "
    "person people man woman child face hand street road city building window door table chair book paper "
    "food fruit apple orange banana bread cake coffee tea cup glass bottle plate animal fish insect bee "
    "butterfly spider snake lizard turtle rabbit mouse rat squirrel bear lion tiger leopard zebra giraffe "
    "elephant monkey whale dolphin shark boat train bus bicycle motorcycle rocket space astronaut moon star "
    "sun light night day morning evening winter summer spring autumn snow rain wind storm fire stone rock "
    "sand beach sea ocean lake forest garden park field grass leaf wood metal plastic color red green blue "
    "yellow white black brown grey pink purple kitten puppy tabby coin clock phone computer camera picture "
    "painting drawing music instrument guitar piano song word letter number entity object thing abstraction "
    "physical matter process group event act state attribute relation communication measure location region"
)


def write_tokenizer(out, n_merges=600):
    """vocab.json + merges.txt: byte-level BPE learned greedily (most frequent adjacent pair, ties by the pair's
    text) over the words of TOKENIZER_CORPUS, as CLIP's tokenizer splits them (lower case, '</w>' on the last)."""
    b2u = bytes_to_unicode()
    words = {}
    for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", TOKENIZER_CORPUS.lower()):
        sym = [b2u[b] for b in w.encode("utf-8")]
        sym[-1] += "</w>"
        words[tuple(sym)] = words.get(tuple(sym), 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for sym, c in words.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        nw = {}
        for sym, c in words.items():
            s, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    s.append(sym[i] + sym[i + 1]); i += 2
                else:
                    s.append(sym[i]); i += 1
            nw[tuple(s)] = nw.get(tuple(s), 0) + c
        words = nw
    vocab = [b2u[b] for b in range(256)]
    vocab += [v + "</w>" for v in vocab]
    vocab += [a + b for a, b in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    ids = {}
    for v in vocab:                                  # dense ids (HF layout); a string made twice keeps one id
        ids.setdefault(v, len(ids))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(ids, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2 (taclust test tokenizer, tools/gen_clip_fixtures.py)\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    print(f"wrote {out}/vocab.json ({len(ids)} tokens) and merges.txt ({len(merges)} merges)")


def make(kind, out):
    if kind == "tokenizer":
        write_tokenizer(out)
        return
    if kind == "tiny":
        cfg = {
            "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16,
            "logit_scale_init_value": 2.6592,
            # text: vocab_size, max_position_embeddings, layer_norm_eps omitted -> HF defaults 49408, 77, 1e-5
            "text_config": {"hidden_size": 12, "intermediate_size": 40, "num_hidden_layers": 2,
                            "num_attention_heads": 2, "hidden_act": "gelu",
                            "bos_token_id": 0, "eos_token_id": 2},
            # vision: hidden_act omitted -> quick_gelu
            "vision_config": {"hidden_size": 24, "intermediate_size": 56, "num_hidden_layers": 2,
                              "num_attention_heads": 4, "image_size": 224, "patch_size": 32,
                              "layer_norm_eps": 1e-5},
        }
        seed, dtype, n_img = 1234, "F16", 3
    elif kind == "b32":
        cfg = {
            "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 512,
            "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                            "num_attention_heads": 8, "max_position_embeddings": 77, "vocab_size": 49408,
                            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
            "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                              "num_attention_heads": 12, "image_size": 224, "patch_size": 32,
                              "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
        }
        seed, dtype, n_img = 4321, "F32", 2
    else:
        sys.exit("usage: gen_clip_fixtures.py tiny|b32|tokenizer [OUTDIR]")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    w = random_weights(cfg, seed, both_exact=(kind == "tiny"))
    if dtype == "F16":
        w = {k: x.half().float() for k, x in w.items()}     # the model the C side sees
    t = cfg["text_config"]
    tensors = dict(w)
    tensors["text_model.embeddings.position_ids"] = torch.arange(t.get("max_position_embeddings", 77))[None]
    v = cfg["vision_config"]
    ng = v["image_size"] // v["patch_size"]
    tensors["vision_model.embeddings.position_ids"] = torch.arange(ng * ng + 1)[None]
    save_safetensors(os.path.join(out, "model.safetensors"), tensors, dtype)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    rng = np.random.default_rng(seed)
    ids = token_rows(rng, t.get("vocab_size", 49408))
    wd = {k: x.double() for k, x in w.items()}               # reference computed in float64
    with torch.no_grad():
        tf = text_features(wd, cfg, torch.from_numpy(ids)).float().numpy()
        px = torch.from_numpy(pixel_pattern(n_img, v["image_size"])).double()
        imf = image_features(wd, cfg, px).float().numpy()
    np.save(os.path.join(out, "ref_ids.npy"), ids)
    np.save(os.path.join(out, "ref_text_features.npy"), tf)
    np.save(os.path.join(out, "ref_image_features.npy"), imf)
    if kind == "tiny":
        write_tokenizer(out)
    print(f"wrote {out}: text {tf.shape} image {imf.shape}; text[0,:4] {tf[0, :4]}, image[0,:4] {imf[0, :4]}")


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    default = "tests/fixtures/clip/tiny" if kind in ("tiny", "tokenizer") else "/tmp/clip-b32-random"
    make(kind, sys.argv[2] if len(sys.argv) > 2 else default)
