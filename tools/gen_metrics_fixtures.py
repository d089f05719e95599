#!/usr/bin/python3
"""gen_metrics_fixtures.py - golden files for tests/test_metrics.c and tests/test_nouns.c.

Run from the repo root with Debian's python (it needs numpy, scipy, sklearn):
    /usr/bin/python3 tools/gen_metrics_fixtures.py

Writes into tests/fixtures/metrics/:
  cases.txt          random and degenerate label/prediction pairs with reference ACC, NMI, ARI:
                         case NAME N ACC NMI ARI        (values repr'd at full precision)
                         <N labels, space-separated>
                         <N predictions, space-separated>
                     NMI = sklearn normalized_mutual_info_score (arithmetic), ARI = sklearn adjusted_rand_score,
                     ACC = scipy.optimize.linear_sum_assignment(maximize=True) on the classes x clusters
                     contingency table of the compacted ids, divided by N (one-to-one; surplus clusters wrong).
  cli_labels.txt     the "cli" case's labels written by numpy.savetxt (floats, as TAC writes them)
  cli_pred.npy       the "cli" case's predictions as an int32 .npy
  wordnet_nouns.txt  the WordNet 3.0 noun list from an independent parse of /usr/share/wordnet/data.noun:
                         count M, FNV-1a 64 of the bytes "lemma\\n" * M, and "index lemma" for sampled rows.
                     The script first rebuilds TAC's shipped data/WordNetNouns.csv from the same parse (NLTK's
                     definition rule, csv minimal quoting) and stops unless its SHA-256 is the one in
                     tac-method.md 3.1, so the list is TAC's word column row for row.
"""
import csv
import hashlib
import io
import os
import re
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

OUT = "tests/fixtures/metrics"
WORDNET = "/usr/share/wordnet/data.noun"
TAC_CSV_SHA256 = "deff9dec810a2ff5c8012c61b5e052e7ba5e62476da9acb6ce8e68df01fd8e5d"   # tac-method.md 3.1


def acc_ref(y, p):
    _, yi = np.unique(y, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    c = np.zeros((yi.max() + 1, pi.max() + 1), dtype=np.int64)
    np.add.at(c, (yi, pi), 1)
    r, col = linear_sum_assignment(c, maximize=True)
    return c[r, col].sum() / len(y)


def cases():
    rng = np.random.RandomState(20240721)
    out = []

    def add(name, y, p):
        out.append((name, np.asarray(y, dtype=np.int64), np.asarray(p, dtype=np.int64)))

    # degenerate cases
    add("one_sample", [3], [7])
    add("two_same", [0, 0], [1, 1])
    add("both_single_cluster", [2] * 20, [5] * 20)
    add("labels_single_pred_split", [1] * 12, list(range(12)))
    add("labels_split_pred_single", list(range(12)), [4] * 12)
    add("all_singletons", list(range(15)), list(range(100, 115)))
    add("perfect_permuted", [0, 0, 1, 1, 2, 2, 3, 3], [2, 2, 0, 0, 3, 3, 1, 1])
    add("sklearn_doc_neg", [0, 0, 1, 1], [0, 1, 0, 1])
    add("labels_single_pred_two", [0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1])
    add("pred_single_labels_two", [0, 0, 0, 1, 1, 1], [9, 9, 9, 9, 9, 9])
    # cluster 0 never predicted (the latent bug of eval_utils.py), ids not starting at 0, negatives, huge ids
    y = rng.randint(0, 5, 200)
    add("cluster0_unused", y, np.where(rng.rand(200) < 0.7, y + 1, rng.randint(1, 6, 200)))
    y = rng.randint(0, 4, 150)
    add("shifted_negative_ids", y * 3 - 7, np.where(rng.rand(150) < 0.6, -y, rng.randint(-10, 0, 150)))
    y = rng.randint(0, 6, 300)
    add("huge_ids", y * 1000000007 + 10**12, np.where(rng.rand(300) < 0.5, y, rng.randint(0, 9, 300)) * -(10**15))
    # K mismatch both ways
    y = rng.randint(0, 10, 500)
    add("more_clusters", y, np.where(rng.rand(500) < 0.5, y * 2 + rng.randint(0, 2, 500), rng.randint(0, 20, 500)))
    y = rng.randint(0, 12, 500)
    add("fewer_clusters", y, np.where(rng.rand(500) < 0.6, y // 3, rng.randint(0, 4, 500)))
    # random small cases
    for t in range(24):
        n = int(rng.randint(1, 80))
        ky, kp = int(rng.randint(1 if t % 6 == 0 else 2, 9)), int(rng.randint(1, 11))
        y = rng.randint(0, ky, n)
        p = rng.randint(0, kp, n) if t % 2 else np.where(rng.rand(n) < 0.5, y % kp, rng.randint(0, kp, n))
        add("random%02d" % t, y, p)
    # many distinct values on both sides: the sparse contingency path (classes x clusters > 4M cells)
    pool_y, pool_p = rng.randint(0, 10**9, 3000), rng.randint(-10**9, 0, 3000)
    y = pool_y[rng.randint(0, 3000, 4000)]
    p = np.where(rng.rand(4000) < 0.6, pool_p[y % 3000], pool_p[rng.randint(0, 3000, 4000)])
    add("sparse_many_ids", y, p)
    # a 10k-sample case like a small dataset: 10 classes, 15 clusters, 70% agreement
    y = rng.randint(0, 10, 10000)
    add("n10k", y, np.where(rng.rand(10000) < 0.7, (y * 7 + 3) % 15, rng.randint(0, 15, 10000)))
    # the case the CLI test reads from savetxt/.npy files
    y = rng.randint(0, 7, 400)
    add("cli", y, np.where(rng.rand(400) < 0.8, (y + 2) % 9, rng.randint(0, 9, 400)))
    return out


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def wordnet_nouns():
    """Independent parse: whitespace split; field 3 is w_cnt in hex, words at fields 4, 6, 8, ...
    Also rebuilds TAC's shipped data/WordNetNouns.csv (word + NLTK-style definition, csv minimal quoting) and
    checks its SHA-256 against tac-method.md section 3.1, which proves this word order is TAC's row order."""
    words, rows = [], []
    with open(WORDNET, encoding="ascii") as f:
        for line in f:
            if line.startswith("  "):
                continue
            cols, gloss = line.strip().split("|")
            definition = re.sub(r'["].*?["]', "", gloss).strip().strip("; ")
            fields = cols.split()
            w = int(fields[3], 16)
            for i in range(w):
                words.append(fields[4 + 2 * i])
                rows.append((fields[4 + 2 * i], definition))
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["word", "definition"])
    wr.writerows(rows)
    sha = hashlib.sha256(buf.getvalue().encode("ascii")).hexdigest()
    if sha != TAC_CSV_SHA256:
        sys.exit("rebuilt WordNetNouns.csv has sha256 %s, expected %s: not WordNet 3.0?" % (sha, TAC_CSV_SHA256))
    return words


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = ["# generated by tools/gen_metrics_fixtures.py (sklearn NMI/ARI, scipy linear_sum_assignment ACC)"]
    for name, y, p in cases():
        acc = acc_ref(y, p)
        nmi = normalized_mutual_info_score(y, p)
        ari = adjusted_rand_score(y, p)
        lines.append("case %s %d %r %r %r" % (name, len(y), float(acc), float(nmi), float(ari)))
        lines.append(" ".join(str(int(v)) for v in y))
        lines.append(" ".join(str(int(v)) for v in p))
        if name == "cli":
            np.savetxt(os.path.join(OUT, "cli_labels.txt"), y.astype(np.float64))
            np.save(os.path.join(OUT, "cli_pred.npy"), p.astype(np.int32))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    if not os.path.exists(WORDNET):
        sys.exit("%s missing: apt-get install wordnet-base" % WORDNET)
    words = wordnet_nouns()
    digest = fnv1a64(b"".join(w.encode("ascii") + b"\n" for w in words))
    rows = [0, 1, 2, 3, 72126, 92810, 94909, 131919, len(words) - 1] + list(range(5000, len(words), 10007))
    with open(os.path.join(OUT, "wordnet_nouns.txt"), "w") as f:
        f.write("# generated by tools/gen_metrics_fixtures.py from %s (WordNet 3.0, Debian wordnet-base)\n" % WORDNET)
        f.write("# the same parse rebuilds TAC's data/WordNetNouns.csv byte for byte (sha256 %s)\n" % TAC_CSV_SHA256)
        f.write("count %d\n" % len(words))
        f.write("fnv1a64 %016x\n" % digest)
        for r in sorted(set(rows)):
            f.write("row %d %s\n" % (r, words[r]))
    print("wrote %s: %d noun lemmas, fnv1a64 %016x" % (OUT, len(words), digest))


if __name__ == "__main__":
    main()
