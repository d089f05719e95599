#!/usr/bin/python3
"""gen_silhouette_fixtures.py - golden values for tests/test_choose_k.c (tac_silhouette_cosine).

Run from the repo root with Debian's python (numpy, scikit-learn 1.2):
    /usr/bin/python3 tools/gen_silhouette_fixtures.py

Writes into tests/fixtures/silhouette/, for each case NAME:
  NAME_z.npy       float32 N x D rows (NOT unit length: the cosine distance normalises them)
  NAME_labels.npy  int32 N cluster ids in [0, k)
  cases.txt        one line per case: NAME k score, score = sklearn.metrics.silhouette_score(Z, labels,
                   metric='cosine') computed in float64 from the float32 rows, repr'd at full precision
Cases: three noisy blobs (k 3); blobs plus a singleton cluster (k 4: a point alone scores 0); random labels on
random rows (k 5, a score near 0, possibly negative); a case with an empty cluster id (k 4, id 2 unused); a
joint-space-like case [x ; r] / sqrt(2) of unit x and r (k 3, rows of length 1 up to rounding).
"""
import os

import numpy as np
from sklearn.metrics import silhouette_score

OUT = os.path.join("tests", "fixtures", "silhouette")


def blobs(rng, k, per, d, spread):
    centres = rng.normal(size=(k, d)) * 3.0
    z = np.concatenate([c + spread * rng.normal(size=(per, d)) for c in centres])
    lab = np.repeat(np.arange(k), per)
    return z, lab


def unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261203)
    cases = []
    z, lab = blobs(rng, 3, 12, 6, 0.8)
    cases.append(("blobs", 3, z, lab))
    z, lab = blobs(rng, 3, 10, 5, 1.0)
    z = np.concatenate([z, rng.normal(size=(1, 5)) * 4.0])
    lab = np.concatenate([lab, [3]])
    cases.append(("singleton", 4, z, lab))
    z = rng.normal(size=(50, 8))
    lab = rng.integers(0, 5, size=50)
    cases.append(("random", 5, z, lab))
    z, lab = blobs(rng, 3, 9, 4, 0.5)
    lab = np.where(lab == 2, 3, lab)          # ids 0, 1, 3: id 2 is empty
    cases.append(("gap", 4, z, lab))
    x, lab = blobs(rng, 3, 15, 16, 1.5)
    r = x + rng.normal(size=x.shape) * 2.0
    z = np.concatenate([unit(x), unit(r)], axis=1) / np.sqrt(2.0)
    cases.append(("joint", 3, z, lab))
    lines = []
    for name, k, z, lab in cases:
        z32 = z.astype(np.float32)
        lab32 = lab.astype(np.int32)
        np.save(os.path.join(OUT, name + "_z.npy"), z32)
        np.save(os.path.join(OUT, name + "_labels.npy"), lab32)
        s = silhouette_score(z32.astype(np.float64), lab32, metric="cosine")
        lines.append("%s %d %r" % (name, k, float(s)))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
