#!/usr/bin/python3
"""image_pillow.py - the Python reference for bench/image.sh: Pillow + NumPy doing what bench_image does.

    /usr/bin/python3 bench/image_pillow.py --threads 2 --repeats 3 [--resize 224] [--sums C.tsv] FILE...
Per image: Image.open(...).convert("RGB"), torchvision-style Resize(resize) with Pillow BICUBIC
(int(resize*long/short)), CenterCrop 224 (round-half-even offsets), ToTensor/Normalize in float32 with NumPy.
Bytes are read into memory first (disk not timed). --threads T uses a multiprocessing pool of T processes
(Python threads would serialise on the GIL for the NumPy part). Prints the median time and images/s; with --sums,
compares each tensor's checksum with the C output (bench_image --sums) and reports how many are bit-identical.
Also prints, like bench_image, the sum over images of each image's best single-process time (low-noise figure).
"""
import argparse
import io
import multiprocessing as mp
import os
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
RESIZE = 224
DATA = []


def prep(i):
    im = Image.open(io.BytesIO(DATA[i])).convert("RGB")
    w, h = im.size
    s = RESIZE
    nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    a = np.asarray(im.resize((nw, nh), Image.BICUBIC))
    t, l = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    x = a[t:t + 224, l:l + 224].astype(np.float32) / np.float32(255)
    x = ((x - MEAN) / STD).transpose(2, 0, 1)
    return np.ascontiguousarray(x)


def checksum(x):
    v = x.view(np.uint32).ravel().astype(np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(v * (2 * np.arange(v.size, dtype=np.uint64) + np.uint64(1)), dtype=np.uint64))


def main():
    global RESIZE
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resize", type=int, default=224)
    ap.add_argument("--sums")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    RESIZE = a.resize
    for f in a.files:
        DATA.append(open(f, "rb").read())
    n = len(DATA)
    import PIL
    print("Pillow %s, NumPy %s; %d processes; %d repeats" % (PIL.__version__, np.__version__, a.threads, a.repeats))
    times = []
    ctx = mp.get_context("fork")
    with ctx.Pool(a.threads) as pool:
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for _x in pool.imap(prep, range(n), chunksize=4):
                pass
            times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print("Pillow+NumPy: median %.3f s for %d images = %.1f images/s (%d processes)" % (med, n, n / med, a.threads))
    best = []
    for i in range(n):
        b = 1e30
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            prep(i)
            b = min(b, time.perf_counter() - t0)
        best.append(b)
    print("Pillow+NumPy, 1 process, each image's best of %d: %.2f ms/image = %.0f images/s per core"
          % (a.repeats, 1e3 * sum(best) / n, n / sum(best)))
    if a.sums:
        c = dict(l.split("\t") for l in open(a.sums).read().split("\n") if l)
        same = diff = 0
        maxd = 0.0
        for i, f in enumerate(a.files):
            x = prep(i)
            if int(c[os.path.basename(f)]) == checksum(x):
                same += 1
            else:
                diff += 1
        print("C vs Pillow tensors: %d of %d bit-identical, %d differ" % (same, n, diff))


if __name__ == "__main__":
    main()
