#!/usr/bin/python3
"""clip_torch.py - the PyTorch CPU reference of bench/bench_clip.sh: a plain ViT-B/32 CLIP (image and text
towers written here as torch modules, the transformers CLIPModel maths) loading the same model.safetensors as
taclust, timed on the same inputs, with its outputs compared to taclust's. Run with Debian's python
(torch 1.13, numpy):

  /usr/bin/python3 bench/clip_torch.py image MODEL_DIR PIXELS.npy [--ref FEAT.npy] [--repeats 10]
                                                             [--threads 2] [--onnx-out VIT.onnx] [--bf16]
      images/s of the image tower at the batch of PIXELS (B x 3*S*S float32), median over repeats after one
      warm-up; max |difference| to taclust's features; optionally exports the tower to ONNX (opset 14,
      dynamic batch) for bench/clip_onnx.js. --bf16: under torch.autocast("cpu", dtype=torch.bfloat16) (the
      mixed precision PyTorch offers on CPU; RESULT keys torch_bf16_*, and the minimum per-row cosine to --ref).
  /usr/bin/python3 bench/clip_torch.py text MODEL_DIR TOKENS.npy [--ref FEAT.npy] [--batch 512] [--threads 2]
      prompts/s of the text tower on TOKENS (N x 77 int64), batched like taclust (sorted by length, cut after
      EOT), and also at the full 77-token context as TAC's code runs it; max difference to taclust.
Prints "RESULT key=value" lines for the driver.
"""
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    dt = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        if h["dtype"] == "BF16":
            raw = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=dt[h["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(h["shape"]).astype(np.float32 if h["dtype"] != "I64" else np.int64))
    return out


def act(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    return lambda x: F.gelu(x)


class Layer(nn.Module):
    def __init__(self, c, inter, heads, eps, actname):
        super().__init__()
        self.heads, self.act = heads, act(actname)
        self.ln1, self.ln2 = nn.LayerNorm(c, eps=eps), nn.LayerNorm(c, eps=eps)
        self.q, self.k, self.v, self.o = (nn.Linear(c, c) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(c, inter), nn.Linear(inter, c)

    def forward(self, x, mask=None):
        b, t, c = x.shape
        hd = c // self.heads
        h = self.ln1(x)
        q = (self.q(h) * hd ** -0.5).view(b, t, self.heads, hd).transpose(1, 2)
        k = self.k(h).view(b, t, self.heads, hd).transpose(1, 2)
        v = self.v(h).view(b, t, self.heads, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        a = torch.softmax(s, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    def load(self, w, p):
        for mine, theirs in ((self.ln1, "layer_norm1"), (self.ln2, "layer_norm2"), (self.q, "self_attn.q_proj"),
                             (self.k, "self_attn.k_proj"), (self.v, "self_attn.v_proj"),
                             (self.o, "self_attn.out_proj"), (self.fc1, "mlp.fc1"), (self.fc2, "mlp.fc2")):
            mine.weight.data.copy_(w[f"{p}.{theirs}.weight"])
            mine.bias.data.copy_(w[f"{p}.{theirs}.bias"])


class Vision(nn.Module):
    def __init__(self, cfg, proj, w):
        super().__init__()
        c, self.patch, self.size = cfg["hidden_size"], cfg["patch_size"], cfg["image_size"]
        eps = cfg.get("layer_norm_eps", 1e-5)
        self.conv = nn.Conv2d(3, c, self.patch, self.patch, bias=False)
        self.cls = nn.Parameter(torch.zeros(c))
        self.pos = nn.Parameter(torch.zeros((self.size // self.patch) ** 2 + 1, c))
        self.pre, self.post = nn.LayerNorm(c, eps=eps), nn.LayerNorm(c, eps=eps)
        self.layers = nn.ModuleList(Layer(c, cfg["intermediate_size"], cfg["num_attention_heads"], eps,
                                          cfg.get("hidden_act", "quick_gelu")) for _ in range(cfg["num_hidden_layers"]))
        self.proj = nn.Linear(c, proj, bias=False)
        self.conv.weight.data.copy_(w["vision_model.embeddings.patch_embedding.weight"])
        self.cls.data.copy_(w["vision_model.embeddings.class_embedding"])
        self.pos.data.copy_(w["vision_model.embeddings.position_embedding.weight"])
        for m, n in ((self.pre, "vision_model.pre_layrnorm"), (self.post, "vision_model.post_layernorm")):
            m.weight.data.copy_(w[n + ".weight"]); m.bias.data.copy_(w[n + ".bias"])
        for i, l in enumerate(self.layers):
            l.load(w, f"vision_model.encoder.layers.{i}")
        self.proj.weight.data.copy_(w["visual_projection.weight"])

    def forward(self, pixels):
        x = self.conv(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1) + self.pos
        x = self.pre(x)
        for l in self.layers:
            x = l(x)
        return self.proj(self.post(x[:, 0]))


class Text(nn.Module):
    def __init__(self, cfg, proj, w):
        super().__init__()
        c, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.tok = nn.Embedding(cfg["vocab_size"], c)
        self.pos = nn.Parameter(torch.zeros(cfg["max_position_embeddings"], c))
        self.layers = nn.ModuleList(Layer(c, cfg["intermediate_size"], cfg["num_attention_heads"], eps,
                                          cfg.get("hidden_act", "quick_gelu")) for _ in range(cfg["num_hidden_layers"]))
        self.final = nn.LayerNorm(c, eps=eps)
        self.proj = nn.Linear(c, proj, bias=False)
        self.tok.weight.data.copy_(w["text_model.embeddings.token_embedding.weight"])
        self.pos.data.copy_(w["text_model.embeddings.position_embedding.weight"])
        self.final.weight.data.copy_(w["text_model.final_layer_norm.weight"])
        self.final.bias.data.copy_(w["text_model.final_layer_norm.bias"])
        for i, l in enumerate(self.layers):
            l.load(w, f"text_model.encoder.layers.{i}")
        self.proj.weight.data.copy_(w["text_projection.weight"])

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok(ids) + self.pos[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for l in self.layers:
            x = l(x, mask)
        x = self.final(x)
        return self.proj(x[torch.arange(ids.shape[0]), ids.argmax(dim=-1)])


def opt(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def load_model(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = load_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, w


def header(threads):
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")


def compare(label, got, ref_path):
    if not ref_path:
        return
    ref = np.load(ref_path)
    d = np.abs(got - ref).max()
    scale = np.abs(ref).max()
    print(f"max |{label} - taclust| = {d:.3g} (features up to {scale:.3g})")
    print(f"RESULT torch_{label}_maxdiff={d:.3g}")


def image(argv):
    d, pix_path = argv[2], argv[3]
    threads, reps = int(opt("--threads", 2)), int(opt("--repeats", 10))
    header(threads)
    cfg, w = load_model(d)
    vcfg = cfg["vision_config"]
    s = vcfg["image_size"]
    model = Vision(vcfg, cfg["projection_dim"], w).eval()
    del w
    pix = torch.from_numpy(np.load(pix_path).reshape(-1, 3, s, s).astype(np.float32))
    b = pix.shape[0]
    bf16 = "--bf16" in argv
    tag = "torch_bf16" if bf16 else "torch"
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(pix).float()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(pix)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"PyTorch image tower{' (autocast bf16)' if bf16 else ''}: batch {b}, {reps} repeats: median {med:.3f} "
          f"s/batch = {b / med:.2f} images/s (min {min(times):.3f}, max {max(times):.3f})")
    print(f"RESULT {tag}_images_per_s={b / med:.2f}")
    if bf16:
        ref = opt("--ref", None)
        if ref:
            r = np.load(ref)
            o = out.numpy()
            cos = (o * r).sum(1) / np.linalg.norm(o, axis=1) / np.linalg.norm(r, axis=1)
            print(f"PyTorch autocast bf16 vs taclust fp32: per-row cosine min {cos.min():.6f} mean {cos.mean():.6f}")
            print(f"RESULT torch_bf16_min_cosine={cos.min():.6f}")
        return
    compare("image", out.numpy(), opt("--ref", None))
    onnx = opt("--onnx-out", None)
    if onnx:
        with torch.no_grad():
            torch.onnx.export(model, pix[:1], onnx, input_names=["pixels"], output_names=["features"],
                              dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}}, opset_version=14)
        print(f"exported {onnx}")


def text(argv):
    d, tok_path = argv[2], argv[3]
    threads, batch = int(opt("--threads", 2)), int(opt("--batch", 512))
    header(threads)
    cfg, w = load_model(d)
    model = Text(cfg["text_config"], cfg["projection_dim"], w).eval()
    del w
    ids = torch.from_numpy(np.load(tok_path).astype(np.int64))
    n = ids.shape[0]
    lens = (ids.argmax(dim=1) + 1).numpy()
    order = np.argsort(-lens, kind="stable")
    out = torch.zeros(n, cfg["projection_dim"])
    with torch.inference_mode():
        model(ids[:8, :int(lens.max())])   # warm-up
        t0 = time.perf_counter()
        for j in range(0, n, batch):
            sel = torch.from_numpy(order[j:j + batch])
            out[sel] = model(ids[sel, :int(lens[order[j:j + batch]].max())])
        dt = time.perf_counter() - t0
        print(f"PyTorch text tower, sorted batches of {batch} cut after EOT: {n} prompts in {dt:.2f} s = "
              f"{n / dt:.1f} prompts/s")
        print(f"RESULT torch_prompts_per_s={n / dt:.1f}")
        m = min(n, 64)
        t0 = time.perf_counter()
        model(ids[:m])
        dt77 = time.perf_counter() - t0
        print(f"PyTorch text tower at the full 77-token context (as TAC runs it): {m / dt77:.1f} prompts/s")
        print(f"RESULT torch_prompts_per_s_ctx77={m / dt77:.1f}")
    compare("text", out.numpy(), opt("--ref", None))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("image", "text"):
        sys.exit(__doc__)
    (image if sys.argv[1] == "image" else text)(sys.argv)
