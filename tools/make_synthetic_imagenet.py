#!/usr/bin/python3
"""make_synthetic_imagenet.py - synthetic ImageNet-1K-sized CLIP-like embeddings for the scale benchmark.

usage: tools/make_synthetic_imagenet.py OUTDIR [--scale 1.0] [--classes 1000] [--seed 0]

Writes into OUTDIR (float32 / int64 .npy, C order; the train matrix is written in chunks through a memory map,
so the script itself needs little memory even at full scale):
  Xtr.npy  round(1,281,167 * scale) x 512 train image embeddings     Ytr.npy  their class (0..999)
  Xte.npy  round(50,000 * scale) x 512 test image embeddings         Yte.npy  their class
  T.npy    146,347 x 512 noun embeddings (always the full WordNet count)   nouns.txt  a name per noun row
Structure, so that the pipeline has something to find: 100 super-classes of 10 classes each; a class centre is
normalise(0.6 g_super + 0.8 r_class); an image is normalise(centre + 0.75 e + 0.3 m), e ~ N(0, I/512), m a unit
vector (the common direction CLIP embeddings share). Measured mean cosines: two images of one class 0.66, of
sibling classes 0.24, of unrelated classes 0.09. Nouns: 8 per class near its centre
(normalise(centre + 0.5 e), named "classC_J"), the rest spread as normalise(0.4 centre_random + e'), e' of norm
~1 ("nounJ"). Classes are balanced (train: 1,281,167 / 1000 rounded, as ImageNet's ~1,281 per class).
"""
import argparse
import os
import sys

import numpy as np

N_TRAIN, N_TEST, M_NOUNS, D, N_CLASSES = 1281167, 50000, 146347, 512, 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=N_CLASSES,
                    help="number of classes (default 1000); a reduced-scale k-means benchmark can keep the full "
                         "scale's 4.27 centres per class with --classes round(1000 * scale)")
    a = ap.parse_args()
    if not (0 < a.scale <= 1):
        sys.exit("--scale must be in (0, 1]")
    if a.classes < 10 or a.classes % 10:
        sys.exit("--classes must be a positive multiple of 10")
    K, SUPER = a.classes, a.classes // 10
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    g = rng.normal(size=(SUPER, D))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    r = rng.normal(size=(K, D))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    cen = 0.6 * g[np.arange(K) // (K // SUPER)] + 0.8 * r
    cen /= np.linalg.norm(cen, axis=1, keepdims=True)
    m = rng.normal(size=D)
    m /= np.linalg.norm(m)

    def images(path, ypath, n, chunk=65536):
        y = (np.arange(n) % K)
        rng.shuffle(y)
        out = np.lib.format.open_memmap(path + ".tmp", mode="w+", dtype=np.float32, shape=(n, D))
        for i0 in range(0, n, chunk):
            yy = y[i0:i0 + chunk]
            x = cen[yy] + 0.75 * rng.normal(size=(len(yy), D)) / np.sqrt(D) + 0.3 * m
            out[i0:i0 + chunk] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        out.flush()
        del out
        os.replace(path + ".tmp", path)
        np.save(ypath, y.astype(np.int64))

    ntr = int(round(N_TRAIN * a.scale))
    nte = max(K, int(round(N_TEST * a.scale)))
    images(os.path.join(a.outdir, "Xtr.npy"), os.path.join(a.outdir, "Ytr.npy"), ntr)
    images(os.path.join(a.outdir, "Xte.npy"), os.path.join(a.outdir, "Yte.npy"), nte)

    per = 8
    T = np.empty((M_NOUNS, D), dtype=np.float32)
    names = []
    cls = np.repeat(np.arange(K), per)
    t = cen[cls] + 0.5 * rng.normal(size=(K * per, D)) / np.sqrt(D) + 0.3 * m
    T[:K * per] = t / np.linalg.norm(t, axis=1, keepdims=True)
    names += ["class%d_%d" % (c, j % per) for j, c in enumerate(cls)]
    rest = M_NOUNS - K * per
    t = 0.4 * cen[rng.integers(0, K, rest)] + rng.normal(size=(rest, D)) / np.sqrt(D) + 0.3 * m
    T[K * per:] = t / np.linalg.norm(t, axis=1, keepdims=True)
    names += ["noun%d" % j for j in range(rest)]
    perm = rng.permutation(M_NOUNS)
    np.save(os.path.join(a.outdir, "T.npy"), T[perm])
    with open(os.path.join(a.outdir, "nouns.txt"), "w") as f:
        f.write("\n".join(names[i] for i in perm) + "\n")
    print("wrote %s: train %d, test %d, nouns %d, D %d, K %d" % (a.outdir, ntr, nte, M_NOUNS, D, K))


if __name__ == "__main__":
    main()
