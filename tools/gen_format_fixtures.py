#!/usr/bin/python3
"""gen_format_fixtures.py - one small random CLIP saved in every checkpoint format taclust reads, with reference
features from an independent PyTorch implementation of OpenAI's CLIP architecture, and broken checkpoints.

Usage (Debian's python3 with python3-torch 1.13 + numpy):
    /usr/bin/python3 tools/gen_format_fixtures.py [OUTDIR]     # default tests/fixtures/clip/formats (committed)
    /usr/bin/python3 tools/gen_format_fixtures.py b32 OUTDIR   # ViT-B/32-shaped, ~600 MB, e.g. /tmp/clip-b32-openclip
Then for b32:  TACLUST_CLIP_B32_OPENCLIP=OUTDIR make test T=clip_formats_b32
Writes, all holding the same weights (random, rounded so they are exact in float16 and bfloat16):
    hf/                config.json + model.safetensors (F16), Hugging Face tensor names (the baseline)
    hf_bin/            config.json + pytorch_model.bin (torch.save of the state_dict, float32, with the int64
                       position_ids buffers transformers keeps)
    hf_bin_sharded/    config.json + pytorch_model.bin.index.json + 2 .bin shards (bfloat16; the first one re-zipped
                       with deflate, the second one in the legacy format, _use_new_zipfile_serialization=False, a bare
                       pickle + raw storages)
    openclip/          open_clip_config.json + open_clip_model.safetensors (BF16), OpenCLIP / OpenAI tensor names
                       (attn.in_proj_weight stacked q,k,v; visual.proj and text_projection as x @ P), and the
                       reference features ref_ids.npy, ref_text_features.npy, ref_image_features.npy (float64
                       computation by openai_image_features / openai_text_features below, stored as float32; pixels
                       from gen_clip_fixtures.pixel_pattern)
    openclip_bin/      open_clip_config.json + open_clip_pytorch_model.bin (float16)
    torchscript/       ViT-micro.pt: OpenAI's original checkpoint form (a traced module tree, float16 with float32
                       LayerNorms), 64 wide so that OpenAI's heads = width / 64 rule holds, no config; reference features
    views.bin          a small state dict: views at offsets into one shared storage, float16/bfloat16/int64, a
                       scalar, an empty tensor (also the fuzz seed fuzz/corpus/torch/state_dict.bin)
    bad/               small torch.save files that must be refused: unknown_global.bin (a pickle naming
                       posix.getcwd), wrong_dtype.bin (an int64 weight), missing.bin (no CLIP tensors), strided.bin
                       (a transposed view), compressed.bin (deflated: read, a wrong shape), bzip2.bin (method 12),
                       deflate_corrupt.bin (a flipped bit in a deflated entry), torchscript.pt (a TorchScript
                       archive of something else than CLIP), legacy.bin (a wrong-shaped tensor in the legacy format)
    ../../fuzz/corpus/torch/  seeds for fuzz/fuzz_torch.c: small state dicts and copies of bad/
The model is small (vocab 800, text 16 wide, vision 32 wide on 32x32 images with 8x8 patches, 2 layers each,
QuickGELU) so that each copy stays near 100-200 KB. The script also checks that the OpenAI-architecture reference
and gen_clip_fixtures' Hugging Face-architecture reference agree on these weights (to 1e-12).
"""
import collections
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_clip_fixtures as hf  # noqa: E402  (random weights, safetensors writer, HF reference, pixel pattern)

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

HF_CFG = {
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16,
    "text_config": {"hidden_size": 16, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "vocab_size": 800, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                    "layer_norm_eps": 1e-5},
    "vision_config": {"hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                      "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
}
OC_CFG = {
    "model_cfg": {
        "embed_dim": 16, "quick_gelu": True,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8,
                       "mlp_ratio": 4.0},
        "text_cfg": {"context_length": 77, "vocab_size": 800, "width": 16, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD, "interpolation": "bicubic", "resize_mode": "shortest"},
}


# ---- HF names -> OpenAI names -------------------------------------------------------------------------
def to_openai(w, cfg):
    o = collections.OrderedDict()
    t, v = cfg["text_config"], cfg["vision_config"]
    o["positional_embedding"] = w["text_model.embeddings.position_embedding.weight"]
    o["text_projection"] = w["text_projection.weight"].t().contiguous()
    o["logit_scale"] = w["logit_scale"]
    o["visual.class_embedding"] = w["vision_model.embeddings.class_embedding"]
    o["visual.positional_embedding"] = w["vision_model.embeddings.position_embedding.weight"]
    o["visual.proj"] = w["visual_projection.weight"].t().contiguous()
    o["visual.conv1.weight"] = w["vision_model.embeddings.patch_embedding.weight"]
    o["visual.ln_pre.weight"] = w["vision_model.pre_layrnorm.weight"]
    o["visual.ln_pre.bias"] = w["vision_model.pre_layrnorm.bias"]
    for tower, pre, n in (("vision_model", "visual.", v["num_hidden_layers"]), ("text_model", "", t["num_hidden_layers"])):
        for i in range(n):
            a, b = f"{tower}.encoder.layers.{i}.", f"{pre}transformer.resblocks.{i}."
            o[b + "attn.in_proj_weight"] = torch.cat([w[a + f"self_attn.{p}_proj.weight"] for p in "qkv"], 0)
            o[b + "attn.in_proj_bias"] = torch.cat([w[a + f"self_attn.{p}_proj.bias"] for p in "qkv"], 0)
            o[b + "attn.out_proj.weight"] = w[a + "self_attn.out_proj.weight"]
            o[b + "attn.out_proj.bias"] = w[a + "self_attn.out_proj.bias"]
            o[b + "ln_1.weight"] = w[a + "layer_norm1.weight"]
            o[b + "ln_1.bias"] = w[a + "layer_norm1.bias"]
            o[b + "mlp.c_fc.weight"] = w[a + "mlp.fc1.weight"]
            o[b + "mlp.c_fc.bias"] = w[a + "mlp.fc1.bias"]
            o[b + "mlp.c_proj.weight"] = w[a + "mlp.fc2.weight"]
            o[b + "mlp.c_proj.bias"] = w[a + "mlp.fc2.bias"]
            o[b + "ln_2.weight"] = w[a + "layer_norm2.weight"]
            o[b + "ln_2.bias"] = w[a + "layer_norm2.bias"]
    o["visual.ln_post.weight"] = w["vision_model.post_layernorm.weight"]
    o["visual.ln_post.bias"] = w["vision_model.post_layernorm.bias"]
    o["token_embedding.weight"] = w["text_model.embeddings.token_embedding.weight"]
    o["ln_final.weight"] = w["text_model.final_layer_norm.weight"]
    o["ln_final.bias"] = w["text_model.final_layer_norm.bias"]
    return o


# ---- OpenAI's CLIP architecture, on OpenAI-named weights (float64) -------------------------------------
def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def residual_block(o, p, x, heads, causal):
    """x: T x B x C (sequence first, as OpenAI's model). x + attn(ln_1(x)); x + mlp(ln_2(x))."""
    t, b, c = x.shape
    hd = c // heads
    h = F.layer_norm(x, (c,), o[p + "ln_1.weight"], o[p + "ln_1.bias"], 1e-5)
    qkv = h @ o[p + "attn.in_proj_weight"].t() + o[p + "attn.in_proj_bias"]       # T x B x 3C
    q, k, v = qkv.split(c, dim=-1)
    q = q.reshape(t, b * heads, hd).transpose(0, 1) / hd ** 0.5                    # (B*NH) x T x hd
    k = k.reshape(t, b * heads, hd).transpose(0, 1)
    v = v.reshape(t, b * heads, hd).transpose(0, 1)
    s = q @ k.transpose(1, 2)
    if causal:
        s = s + torch.full((t, t), float("-inf"), dtype=s.dtype).triu(1)
    a = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(t, b, c)
    x = x + a @ o[p + "attn.out_proj.weight"].t() + o[p + "attn.out_proj.bias"]
    h = F.layer_norm(x, (c,), o[p + "ln_2.weight"], o[p + "ln_2.bias"], 1e-5)
    h = quick_gelu(h @ o[p + "mlp.c_fc.weight"].t() + o[p + "mlp.c_fc.bias"])
    return x + h @ o[p + "mlp.c_proj.weight"].t() + o[p + "mlp.c_proj.bias"]


def openai_image_features(o, cfg, pixels):
    vc = cfg["model_cfg"]["vision_cfg"]
    c, ps = vc["width"], vc["patch_size"]
    heads = c // vc.get("head_width", 64)
    x = F.conv2d(pixels, o["visual.conv1.weight"], stride=ps)                      # B x C x G x G
    x = x.reshape(x.shape[0], c, -1).permute(0, 2, 1)                               # B x G*G x C
    cls = o["visual.class_embedding"] + torch.zeros(x.shape[0], 1, c, dtype=x.dtype)
    x = torch.cat([cls, x], dim=1) + o["visual.positional_embedding"]
    x = F.layer_norm(x, (c,), o["visual.ln_pre.weight"], o["visual.ln_pre.bias"], 1e-5)
    x = x.permute(1, 0, 2)
    for i in range(vc["layers"]):
        x = residual_block(o, f"visual.transformer.resblocks.{i}.", x, heads, causal=False)
    x = x.permute(1, 0, 2)
    x = F.layer_norm(x[:, 0, :], (c,), o["visual.ln_post.weight"], o["visual.ln_post.bias"], 1e-5)
    return x @ o["visual.proj"]


def openai_text_features(o, cfg, ids):
    tc = cfg["model_cfg"]["text_cfg"]
    c = tc["width"]
    x = o["token_embedding.weight"][ids] + o["positional_embedding"][:ids.shape[1]]
    x = x.permute(1, 0, 2)
    for i in range(tc["layers"]):
        x = residual_block(o, f"transformer.resblocks.{i}.", x, tc["heads"], causal=True)
    x = x.permute(1, 0, 2)
    x = F.layer_norm(x, (c,), o["ln_final.weight"], o["ln_final.bias"], 1e-5)
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ o["text_projection"]


# ---- writers ------------------------------------------------------------------------------------------
def cast(sd, dtype):
    return collections.OrderedDict((k, x if x.dtype == torch.int64 else x.to(dtype).contiguous()) for k, x in sd.items())


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def rezip(path, method):
    """Rewrites the zip at path with every entry compressed by method (fixed dates: reproducible)."""
    src = zipfile.ZipFile(io.BytesIO(open(path, "rb").read()))
    with zipfile.ZipFile(path, "w", method) as z:
        for info in src.infolist():
            z.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), src.read(info.filename),
                       compress_type=method)


def small_zip_bytes(obj):
    b = io.BytesIO()
    torch.save(obj, b)
    return b.getvalue()


# ---- OpenAI's original checkpoint form: a TorchScript module tree (as ViT-B-32.pt) ---------------------
class QuickGELU(torch.nn.Module):
    def forward(self, x):
        return quick_gelu(x)


class ResBlock(torch.nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(c, heads)
        self.ln_1 = torch.nn.LayerNorm(c)
        self.mlp = torch.nn.Sequential(collections.OrderedDict([
            ("c_fc", torch.nn.Linear(c, 4 * c)), ("gelu", QuickGELU()), ("c_proj", torch.nn.Linear(4 * c, c))]))
        self.ln_2 = torch.nn.LayerNorm(c)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Tower(torch.nn.Module):
    def __init__(self, c, layers, heads):
        super().__init__()
        self.resblocks = torch.nn.Sequential(*[ResBlock(c, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class Visual(torch.nn.Module):
    def __init__(self, c, layers, patch, grid, e):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, c, patch, patch, bias=False)
        self.class_embedding = torch.nn.Parameter(torch.zeros(c))
        self.positional_embedding = torch.nn.Parameter(torch.zeros(grid * grid + 1, c))
        self.ln_pre = torch.nn.LayerNorm(c)
        self.transformer = Tower(c, layers, c // 64)
        self.ln_post = torch.nn.LayerNorm(c)
        self.proj = torch.nn.Parameter(torch.zeros(c, e))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype), x], dim=1)
        x = self.ln_pre(x + self.positional_embedding).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class OpenAICLIP(torch.nn.Module):
    """OpenAI's module tree and attribute names (clip/model.py's CLIP); forward is the image tower (for tracing)."""
    def __init__(self, vc, vl, patch, grid, tc, tl, vocab, ctx, e):
        super().__init__()
        self.visual = Visual(vc, vl, patch, grid, e)
        self.transformer = Tower(tc, tl, tc // 64)
        self.token_embedding = torch.nn.Embedding(vocab, tc)
        self.positional_embedding = torch.nn.Parameter(torch.zeros(ctx, tc))
        self.ln_final = torch.nn.LayerNorm(tc)
        self.text_projection = torch.nn.Parameter(torch.zeros(tc, e))
        self.logit_scale = torch.nn.Parameter(torch.ones([]))

    def forward(self, image):
        return self.visual(image)


def torchscript_fixture(out):
    """torchscript/ViT-micro.pt: a traced OpenAI-architecture CLIP 64 wide (1 head: OpenAI's width / 64), float16
    except the LayerNorms (float32), with reference features from openai_*_features."""
    cfg = {"projection_dim": 16,
           "text_config": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 1, "num_attention_heads": 1,
                           "vocab_size": 100, "max_position_embeddings": 77},
           "vision_config": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 1,
                             "num_attention_heads": 1, "image_size": 16, "patch_size": 8}}
    o = to_openai(hf.random_weights(cfg, 99, both_exact=True), cfg)
    m = OpenAICLIP(64, 1, 8, 2, 64, 1, 100, 77, 16)
    m.load_state_dict(o, strict=True)
    d = os.path.join(out, "torchscript")
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        t = torch.jit.trace(m, torch.zeros(1, 3, 16, 16))
        t.half()
        for name, mod in t.named_modules():
            if "ln" in name.split(".")[-1]:
                mod.float()
        torch.jit.save(t, os.path.join(d, "ViT-micro.pt"))
        oc = {"model_cfg": {"vision_cfg": {"width": 64, "head_width": 64, "patch_size": 8, "layers": 1},
                            "text_cfg": {"width": 64, "heads": 1, "layers": 1}}}
        od = {k: x.double() for k, x in o.items()}
        ids = np.zeros((3, 77), dtype=np.int64)
        for r, n in enumerate((2, 9, 77)):
            ids[r, :n] = np.random.default_rng(r).integers(1, 98, size=n)
            ids[r, n - 1] = 99
        imf = openai_image_features(od, oc, torch.from_numpy(hf.pixel_pattern(3, 16)).double()).float().numpy()
        tf = openai_text_features(od, oc, torch.from_numpy(ids)).float().numpy()
    np.save(os.path.join(d, "ref_ids.npy"), ids)
    np.save(os.path.join(d, "ref_image_features.npy"), imf)
    np.save(os.path.join(d, "ref_text_features.npy"), tf)


def fuzz_seeds(bad):
    """fuzz/corpus/torch: small valid state dicts and copies of the refused kinds."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "torch")
    os.makedirs(d, exist_ok=True)
    base = torch.arange(24, dtype=torch.float32)
    views = collections.OrderedDict([
        ("a.weight", torch.linspace(-1, 1, 12).reshape(3, 4)), ("a.bias", torch.ones(3, dtype=torch.float16)),
        ("b", torch.arange(5, dtype=torch.bfloat16)), ("ids", torch.arange(7)[None]), ("scale", torch.tensor(2.5)),
        ("view1", base[4:10]), ("view2", base[12:24].reshape(3, 4)), ("empty", torch.zeros(0, 3))])
    torch.save(views, os.path.join(d, "state_dict.bin"))
    torch.save(views, os.path.join(bad, "..", "views.bin"))     # also a test fixture (views into one storage)
    torch.save({"state_dict": collections.OrderedDict([("module.x", torch.ones(2, 2)), ("module.y", torch.zeros(3))])},
               os.path.join(d, "nested.bin"))
    torch.save(collections.OrderedDict([("p", torch.nn.Parameter(torch.ones(4)))]), os.path.join(d, "parameter.bin"))
    torch.save(collections.OrderedDict([("a", torch.ones(2, 3)), ("v", base[3:9]), ("i", torch.arange(3))]),
               os.path.join(d, "legacy_p4.bin"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    for f in sorted(os.listdir(bad)):
        with open(os.path.join(bad, f), "rb") as src, open(os.path.join(d, f), "wb") as dst:
            dst.write(src.read())


def main(out):
    cfg = HF_CFG
    w = hf.random_weights(cfg, 2024, both_exact=True)
    for k, x in w.items():                                     # the weights are exact in float16 and bfloat16
        assert torch.equal(x.half().float(), x) and torch.equal(x.bfloat16().float(), x), k
    t, v = cfg["text_config"], cfg["vision_config"]
    g = v["image_size"] // v["patch_size"]
    buffers = {"text_model.embeddings.position_ids": torch.arange(t["max_position_embeddings"])[None],
               "vision_model.embeddings.position_ids": torch.arange(g * g + 1)[None]}
    for d in ("hf", "hf_bin", "hf_bin_sharded", "openclip", "openclip_bin", "bad"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    # Hugging Face names
    hf.save_safetensors(os.path.join(out, "hf", "model.safetensors"), {**w, **buffers}, "F16")
    sd = collections.OrderedDict(list(w.items()) + list(buffers.items()))
    torch.save(cast(sd, torch.float32), os.path.join(out, "hf_bin", "pytorch_model.bin"))
    names = list(sd.keys())
    shards = [collections.OrderedDict(), collections.OrderedDict()]
    index = {"metadata": {"total_size": 0}, "weight_map": {}}
    for i, k in enumerate(names):
        shards[i % 2][k] = sd[k]
        index["weight_map"][k] = f"pytorch_model-0000{i % 2 + 1}-of-00002.bin"
    for i in range(2):                                         # the second shard in the legacy (pre-1.6) format
        torch.save(cast(shards[i], torch.bfloat16), os.path.join(out, "hf_bin_sharded", f"pytorch_model-0000{i + 1}-of-00002.bin"),
                   _use_new_zipfile_serialization=(i == 0))
    rezip(os.path.join(out, "hf_bin_sharded", "pytorch_model-00001-of-00002.bin"), zipfile.ZIP_DEFLATED)   # the first deflated
    write_json(os.path.join(out, "hf_bin_sharded", "pytorch_model.bin.index.json"), index)
    for d in ("hf", "hf_bin", "hf_bin_sharded"):
        write_json(os.path.join(out, d, "config.json"), cfg)
    # OpenCLIP / OpenAI names
    o = to_openai(w, cfg)
    assert len(o) == len(w) - 4 * (t["num_hidden_layers"] + v["num_hidden_layers"])   # q, k, v stacked
    hf.save_safetensors(os.path.join(out, "openclip", "open_clip_model.safetensors"), o, "BF16")
    torch.save(cast(o, torch.float16), os.path.join(out, "openclip_bin", "open_clip_pytorch_model.bin"))
    for d in ("openclip", "openclip_bin"):
        write_json(os.path.join(out, d, "open_clip_config.json"), OC_CFG)
    # reference features: OpenAI architecture, float64
    rng = np.random.default_rng(2024)
    ids = np.zeros((4, 77), dtype=np.int64)
    for r, n in enumerate((2, 5, 13, 77)):                    # a row's largest id is where it is pooled
        ids[r, :n] = rng.integers(1, 790, size=n)
        ids[r, n - 1] = 799
    od = {k: x.double() for k, x in o.items()}
    with torch.no_grad():
        px = torch.from_numpy(hf.pixel_pattern(3, v["image_size"])).double()
        imf = openai_image_features(od, OC_CFG, px)
        tf = openai_text_features(od, OC_CFG, torch.from_numpy(ids))
        wd = {k: x.double() for k, x in w.items()}
        d_img = (imf - hf.image_features(wd, cfg, px)).abs().max().item()
        d_txt = (tf - hf.text_features(wd, cfg, torch.from_numpy(ids))).abs().max().item()
    assert d_img < 1e-12 and d_txt < 1e-12, (d_img, d_txt)
    np.save(os.path.join(out, "openclip", "ref_ids.npy"), ids)
    np.save(os.path.join(out, "openclip", "ref_image_features.npy"), imf.float().numpy())
    np.save(os.path.join(out, "openclip", "ref_text_features.npy"), tf.float().numpy())
    # broken checkpoints (HF names, for the hf config)
    bad = os.path.join(out, "bad")
    emb = "text_model.embeddings.token_embedding.weight"
    torch.save(collections.OrderedDict([(emb, torch.zeros(2, 2)), ("hook", os.getcwd)]), os.path.join(bad, "unknown_global.bin"))
    torch.save(collections.OrderedDict([(emb, torch.zeros(1, dtype=torch.int64))]), os.path.join(bad, "wrong_dtype.bin"))
    torch.save(collections.OrderedDict([("logit_scale", torch.tensor(2.0))]), os.path.join(bad, "missing.bin"))
    torch.save(collections.OrderedDict([(emb, torch.arange(6.0).reshape(2, 3).t())]), os.path.join(bad, "strided.bin"))
    for name, method in (("compressed.bin", zipfile.ZIP_DEFLATED), ("bzip2.bin", zipfile.ZIP_BZIP2),
                         ("deflate_corrupt.bin", zipfile.ZIP_DEFLATED)):
        with open(os.path.join(bad, name), "wb") as f:
            f.write(small_zip_bytes(collections.OrderedDict([(emb, torch.zeros(4, 4))])))
        rezip(os.path.join(bad, name), method)
    with open(os.path.join(bad, "deflate_corrupt.bin"), "r+b") as f:     # one bit of data.pkl's deflate stream
        data = bytearray(f.read())
        k = data.index(b"data.pkl") + len("data.pkl") + 20
        data[k] ^= 0x10
        f.seek(0)
        f.write(data)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(bad, "torchscript.pt"))
    torch.save(collections.OrderedDict([(emb, torch.zeros(2))]), os.path.join(bad, "legacy.bin"),
               _use_new_zipfile_serialization=False)
    fuzz_seeds(bad)
    torchscript_fixture(out)
    sizes = {d: sum(os.path.getsize(os.path.join(out, d, f)) for f in os.listdir(os.path.join(out, d)))
             for d in sorted(os.listdir(out)) if os.path.isdir(os.path.join(out, d))}
    print(f"wrote {out}: {sizes}; OpenAI vs HF architecture max diff image {d_img:.2g} text {d_txt:.2g}")


def main_b32(out):
    """A ViT-B/32-shaped random model in OpenAI names: OUT/openclip (open_clip_config.json + .bin, float32) and
    OUT/openai (the same .bin, no config: shapes inferred), with OpenAI-architecture reference features."""
    cfg = {"projection_dim": 512,
           "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                           "num_attention_heads": 8, "max_position_embeddings": 77, "vocab_size": 49408},
           "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                             "num_attention_heads": 12, "image_size": 224, "patch_size": 32}}
    oc = {"model_cfg": {"embed_dim": 512, "quick_gelu": True,
                        "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
          "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD}}
    w = hf.random_weights(cfg, 777, both_exact=False)
    o = to_openai(w, cfg)
    for d in ("openclip", "openai"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    path = os.path.join(out, "openclip", "open_clip_pytorch_model.bin")
    torch.save(o, path)
    link = os.path.join(out, "openai", "open_clip_pytorch_model.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.abspath(path), link)
    write_json(os.path.join(out, "openclip", "open_clip_config.json"), oc)
    ids = hf.token_rows(np.random.default_rng(777), 49408)
    od = {k: x.double() for k, x in o.items()}
    with torch.no_grad():
        imf = openai_image_features(od, oc, torch.from_numpy(hf.pixel_pattern(2, 224)).double()).float().numpy()
        tf = openai_text_features(od, oc, torch.from_numpy(ids)).float().numpy()
    np.save(os.path.join(out, "ref_ids.npy"), ids)
    np.save(os.path.join(out, "ref_image_features.npy"), imf)
    np.save(os.path.join(out, "ref_text_features.npy"), tf)
    print(f"wrote {out}: image {imf.shape} text {tf.shape}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "b32":
        main_b32(sys.argv[2] if len(sys.argv) > 2 else "/tmp/clip-b32-openclip")
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/clip/formats")
