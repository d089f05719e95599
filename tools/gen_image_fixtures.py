#!/usr/bin/python3
"""gen_image_fixtures.py - golden files for tests/test_image.c, made with Pillow (and torch) as the reference.

Run from the repo root with Debian's python (it has PIL, numpy, torch):
    /usr/bin/python3 tools/gen_image_fixtures.py
It rewrites tests/fixtures/image/: small synthetic images in many formats, bad inputs, and expected.txt.

expected.txt has one record per line (whitespace separated):
  decode NAME W H CHECKSUM               Pillow's Image.open(NAME).convert("RGB") pixels
  resize NAME DW DH CHECKSUM             Pillow's convert("RGB").resize((DW, DH), Image.BICUBIC)
  clip NAME MODE RESIZE CROP U8SUM F32SUM TENSORSUM
      MODE openai: torchvision-style Resize(RESIZE) (int(RESIZE*long/short)) with Pillow bicubic, CenterCrop(CROP)
      with round-half-even offsets, ToTensor + Normalize computed with torch in float32;
      MODE hf: transformers CLIPImageProcessor style: same resize, floor crop offsets, float64 rescale 1/255 cast to
      float32, then (x - mean) / std in float32 with numpy.
      U8SUM: checksum of the uint8 crop (crop x crop x 3); F32SUM: checksum of the float32 bit patterns of the
      3 x crop x crop tensor; TENSORSUM: the float64 sum of the tensor (for a readable diagnostic).
  lut MODE V0..V767                      the normalisation table: 3 channels x 256 values (float32, printed %.9g)
CHECKSUM = sum_i v_i * (2 i + 1) mod 2^64 over the bytes (uint8) or float32 bit patterns (uint32), i in C order.
"""
import io
import warnings
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "image")
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
rng = np.random.default_rng(20241123)


def checksum(a):
    a = np.ascontiguousarray(a)
    if a.dtype == np.float32:
        v = a.view(np.uint32).ravel().astype(np.uint64)
    else:
        assert a.dtype == np.uint8
        v = a.ravel().astype(np.uint64)
    w = (2 * np.arange(v.size, dtype=np.uint64) + np.uint64(1))
    with np.errstate(over="ignore"):
        return int(np.sum(v * w, dtype=np.uint64))


def synth(w, h, seed):
    """A test picture: gradients, a hard-edged square, and noise (so bicubic over/undershoot is clipped)."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(x / 5.0 + y / 7.0)
    m = (x > w * 0.3) & (x < w * 0.6) & (y > h * 0.3) & (y < h * 0.7)
    img[m] = [255, 255, 0]
    img[(x.astype(int) + y.astype(int)) % 9 == 0] = [0, 0, 0]
    img += r.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def pack_rows(a, bit_depth):
    """a: H x W x C integer array -> list of packed row bytes (big-endian 16-bit, MSB-first sub-byte)."""
    rows = []
    for row in a:
        if bit_depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:
            flat = row.ravel().astype(np.uint8)
            per = 8 // bit_depth
            pad = (-len(flat)) % per
            flat = np.concatenate([flat, np.zeros(pad, np.uint8)]).reshape(-1, per)
            b = np.zeros(len(flat), np.uint8)
            for i in range(per):
                b |= flat[:, i] << (8 - bit_depth * (i + 1))
            rows.append(b.tobytes())
    return rows


def write_png(name, a, color_type, bit_depth, plte=None, trns=None, interlace=False, raw=False):
    """Our own PNG writer (Pillow cannot write 16-bit RGB, interlaced or sub-byte gray files)."""
    if a.ndim == 2:
        a = a[..., None]
    h, w = a.shape[:2]
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b""
        for x0, y0, dx, dy in passes:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += b"".join(b"\x00" + r for r in pack_rows(sub, bit_depth))
    else:
        data = b"".join(b"\x00" + r for r in pack_rows(a, bit_depth))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if plte is not None:
        out += png_chunk(b"PLTE", bytes(plte))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    out += png_chunk(b"IDAT", zlib.compress(data, 9)) + png_chunk(b"IEND", b"")
    if raw:
        return out
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(out)


def save_pil(name, im, fmt, **kw):
    im.save(os.path.join(OUT, name), fmt, **kw)


def tv_resized_size(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def clip_records(name, im, resize, crop):
    recs = []
    nw, nh = tv_resized_size(im.size[0], im.size[1], resize)
    r = np.asarray(im.resize((nw, nh), Image.BICUBIC))
    # openai / torchvision: offsets int(round((H - crop) / 2.0)), Python round = half to even
    t, l = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    c = np.ascontiguousarray(r[t:t + crop, l:l + crop])
    x = torch.from_numpy(c.copy()).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
    x = x.sub_(mean).div_(std).numpy()
    recs.append("clip %s openai %d %d %d %d %.10f" % (name, resize, crop, checksum(c), checksum(x), float(x.astype(np.float64).sum())))
    # hf: floor offsets, float64 rescale then float32 normalise
    t, l = (nh - crop) // 2, (nw - crop) // 2
    c = np.ascontiguousarray(r[t:t + crop, l:l + crop])
    x = (c.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1))
    recs.append("clip %s hf %d %d %d %d %.10f" % (name, resize, crop, checksum(c), checksum(x), float(x.astype(np.float64).sum())))
    return recs


def main():
    warnings.simplefilter("ignore", UserWarning)  # Pillow: "Palette images with Transparency ..."
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    good = []  # (file name, list of resize targets, list of clip resizes)

    # JPEG variants
    a = synth(67, 45, 1)
    save_pil("rgb420.jpg", Image.fromarray(a), "JPEG", quality=90, subsampling=2)
    good.append(("rgb420.jpg", [(22, 22), (150, 91)], [224]))
    save_pil("rgb444.jpg", Image.fromarray(synth(40, 52, 2)), "JPEG", quality=95, subsampling=0)
    good.append(("rgb444.jpg", [(13, 26)], [224]))
    save_pil("progressive.jpg", Image.fromarray(synth(53, 41, 3)), "JPEG", quality=85, subsampling=1, progressive=True)
    good.append(("progressive.jpg", [(17, 40)], [224, 256]))
    save_pil("gray.jpg", Image.fromarray(synth(45, 38, 4)[..., 0]), "JPEG", quality=90)
    good.append(("gray.jpg", [(20, 19)], [224]))
    # Pillow's RGB->CMYK gives K = 0, so build CMYK planes with a real black channel (Pillow writes Adobe-inverted)
    cm = np.concatenate([synth(37, 29, 5), synth(37, 29, 22)[..., :1]], axis=2)
    save_pil("cmyk.jpg", Image.fromarray(cm, "CMYK"), "JPEG", quality=90)
    good.append(("cmyk.jpg", [(12, 12)], [224]))
    # EXIF orientation 6 (rotate 90): Pillow's Image.open does not apply it, so neither do we
    ex = Image.Exif()
    ex[0x0112] = 6
    save_pil("exif_orient6.jpg", Image.fromarray(synth(20, 12, 23)), "JPEG", quality=90, exif=ex.tobytes())
    good.append(("exif_orient6.jpg", [(7, 9)], [224]))
    save_pil("gray_progressive.jpg", Image.fromarray(synth(33, 26, 24)[..., 2]), "JPEG", quality=80, progressive=True)
    good.append(("gray_progressive.jpg", [(11, 13)], []))
    # odd sizes: 666x448 (crop offset 54.5 -> 54), 670x448 (offset 55.5: openai 56, hf 55)
    save_pil("odd_666x448.jpg", Image.fromarray(synth(666, 448, 6)), "JPEG", quality=60)
    good.append(("odd_666x448.jpg", [(333, 224)], [224, 256]))
    save_pil("half_670x448.jpg", Image.fromarray(synth(670, 448, 7)), "JPEG", quality=60)
    good.append(("half_670x448.jpg", [], [224]))

    # PNG variants
    write_png("rgb8.png", synth(31, 23, 8), 2, 8)
    good.append(("rgb8.png", [(10, 11), (64, 47)], [224]))
    a16 = rng.integers(0, 65536, (19, 27, 3))
    write_png("rgb16.png", a16, 2, 16)
    good.append(("rgb16.png", [(9, 9)], [224]))
    g16 = rng.integers(0, 600, (21, 17))   # Pillow clips 16-bit gray at 255 when converting to RGB
    write_png("gray16.png", g16, 0, 16)
    good.append(("gray16.png", [(8, 7)], [224]))
    write_png("gray8.png", synth(25, 20, 9)[..., 1], 0, 8)
    good.append(("gray8.png", [(12, 10)], [224]))
    write_png("gray2.png", rng.integers(0, 4, (13, 11)), 0, 2)
    good.append(("gray2.png", [(5, 5)], []))
    write_png("gray1.png", rng.integers(0, 2, (9, 14)), 0, 1)
    good.append(("gray1.png", [], []))
    pal = rng.integers(0, 256, (16, 3)).astype(np.uint8).ravel()
    write_png("palette4_trns.png", rng.integers(0, 16, (15, 18)), 3, 4, plte=pal, trns=bytes(range(0, 160, 10)))
    good.append(("palette4_trns.png", [(6, 6)], [224]))
    # a PLTE of 5 entries with indices up to 15: Pillow gives the gray ramp (i, i, i) for the missing entries
    write_png("palette_short.png", rng.integers(0, 16, (7, 12)), 3, 4, plte=rng.integers(0, 256, 15).astype(np.uint8))
    good.append(("palette_short.png", [(5, 5)], []))
    pal8 = rng.integers(0, 256, (256, 3)).astype(np.uint8).ravel()
    write_png("palette8.png", rng.integers(0, 256, (22, 26)), 3, 8, plte=pal8)
    good.append(("palette8.png", [(9, 13)], []))
    rgba = np.concatenate([synth(24, 18, 10), rng.integers(0, 256, (18, 24, 1))], axis=2)
    write_png("rgba8.png", rgba, 6, 8)
    good.append(("rgba8.png", [(8, 6)], [224]))
    write_png("rgba16.png", rng.integers(0, 65536, (12, 10, 4)), 6, 16)
    good.append(("rgba16.png", [(5, 4)], []))
    write_png("gray_alpha8.png", rng.integers(0, 256, (14, 16, 2)), 4, 8)
    good.append(("gray_alpha8.png", [(7, 5)], []))
    write_png("gray_alpha16.png", rng.integers(0, 65536, (11, 9, 2)), 4, 16)
    good.append(("gray_alpha16.png", [], []))
    write_png("rgb_trns.png", synth(16, 12, 11), 2, 8, trns=struct.pack(">HHH", 10, 20, 30))
    good.append(("rgb_trns.png", [], []))
    write_png("interlaced.png", synth(29, 21, 12), 2, 8, interlace=True)
    good.append(("interlaced.png", [(11, 30)], [224]))
    write_png("interlaced_palette2.png", rng.integers(0, 4, (11, 13)), 3, 2, plte=rng.integers(0, 256, 12).astype(np.uint8),
              interlace=True)
    good.append(("interlaced_palette2.png", [(5, 6)], []))
    write_png("interlaced_gray_alpha16.png", rng.integers(0, 65536, (10, 7, 2)), 4, 16, interlace=True)
    good.append(("interlaced_gray_alpha16.png", [], []))
    write_png("interlaced_gray16.png", rng.integers(0, 400, (9, 10)), 0, 16, interlace=True)
    good.append(("interlaced_gray16.png", [], []))
    write_png("tiny_1x1.png", np.array([[[200, 30, 90]]]), 2, 8)
    good.append(("tiny_1x1.png", [(3, 2)], [224]))
    write_png("thin_3x500.png", synth(3, 500, 13), 2, 8)
    good.append(("thin_3x500.png", [(2, 100)], [224]))
    write_png("cifar_32x32.png", synth(32, 32, 14), 2, 8)
    good.append(("cifar_32x32.png", [(224, 224), (31, 33)], [224, 256]))

    # WebP
    save_pil("lossy.webp", Image.fromarray(synth(44, 33, 15)), "WEBP", quality=80)
    good.append(("lossy.webp", [(15, 11)], [224]))
    save_pil("lossless.webp", Image.fromarray(synth(35, 27, 16)), "WEBP", lossless=True)
    good.append(("lossless.webp", [(12, 9)], []))
    rgba = np.concatenate([synth(30, 26, 17), rng.integers(0, 256, (26, 30, 1))], axis=2).astype(np.uint8)
    save_pil("lossless_alpha.webp", Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True)
    good.append(("lossless_alpha.webp", [(10, 9)], []))
    save_pil("lossy_alpha.webp", Image.fromarray(rgba, "RGBA"), "WEBP", quality=70)
    good.append(("lossy_alpha.webp", [(10, 9)], []))

    # bad inputs
    buf = io.BytesIO()
    Image.fromarray(synth(64, 48, 18)).save(buf, "JPEG", quality=90)
    jpg = buf.getvalue()
    open(os.path.join(OUT, "bad_truncated.jpg"), "wb").write(jpg[: len(jpg) // 2])
    open(os.path.join(OUT, "bad_empty.jpg"), "wb").close()
    open(os.path.join(OUT, "bad_notes.jpg"), "w").write("These are my notes, not a photo.\n")
    huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    huge += png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")
    open(os.path.join(OUT, "bad_huge_20000x20000.png"), "wb").write(huge)
    p = bytearray(write_png(None, synth(8, 8, 19), 2, 8, raw=True))
    p[29] ^= 0xFF  # last byte of the IHDR CRC
    open(os.path.join(OUT, "bad_crc.png"), "wb").write(bytes(p))
    p = write_png(None, synth(40, 40, 20), 2, 8, raw=True)
    open(os.path.join(OUT, "bad_truncated.png"), "wb").write(p[: len(p) // 2])
    open(os.path.join(OUT, "bad_random.bin"), "wb").write(rng.integers(0, 256, 3000).astype(np.uint8).tobytes())
    buf = io.BytesIO()
    Image.fromarray(synth(40, 30, 21)).save(buf, "WEBP", quality=80)
    open(os.path.join(OUT, "bad_truncated.webp"), "wb").write(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])

    lines = []
    for name, rs, clips in good:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        a = np.asarray(im)
        lines.append("decode %s %d %d %d" % (name, im.size[0], im.size[1], checksum(a)))
        for dw, dh in rs:
            lines.append("resize %s %d %d %d" % (name, dw, dh, checksum(np.asarray(im.resize((dw, dh), Image.BICUBIC)))))
        for r in clips:
            lines.extend(clip_records(name, im, r, 224))
    # normalisation tables
    v = np.arange(256, dtype=np.uint8)
    t = torch.from_numpy(np.stack([v, v, v])[:, None, :]).to(torch.float32).div(255)
    t = t.sub_(torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]).div_(torch.as_tensor(STD, dtype=torch.float32)[:, None, None])
    lines.append("lut openai " + " ".join("%.9g" % x for x in t.numpy().ravel()))
    x = (np.stack([v, v, v], axis=1).astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    lines.append("lut hf " + " ".join("%.9g" % y for y in x.T.ravel()))
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes, %d records" % (len(os.listdir(OUT)), total, len(lines)))


if __name__ == "__main__":
    main()
