#!/usr/bin/python3
"""bench_heads_torch.py - the PyTorch CPU reference for bench/bench_heads.c: the same TAC head training
(tac-method.md section 7: two Linear-BN-ReLU-Linear-Softmax heads, four train-mode passes per step, the section 7.5
loss, Adam 1e-3 / (0.9, 0.99)) on the same kind of synthetic data: N x 512 around K=10 centres, 50 same-cluster
neighbours, batch 512, drop_last. Prints per-epoch times and a RESULT line in the same format as the C benchmark.

  /usr/bin/python3 bench/bench_heads_torch.py [epochs] [N] [threads]
"""
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def cluster_loss(a, c, temp):
    k = a.shape[1]
    n = 2 * k
    z = torch.cat([F.normalize(a.t(), dim=1), F.normalize(c.t(), dim=1)], dim=0)
    sim = z @ z.t() / temp
    pos = torch.cat([torch.diag(sim, k), torch.diag(sim, -k)]).reshape(n, 1)
    mask = torch.ones((n, n), dtype=torch.bool)
    mask.fill_diagonal_(False)
    idx = torch.arange(k)
    mask[idx, idx + k] = False
    mask[idx + k, idx] = False
    logits = torch.cat([pos, sim[mask].reshape(n, -1)], dim=1)
    return F.cross_entropy(logits, torch.zeros(n, dtype=torch.long), reduction="sum") / n


def entropy(p):
    pm = p.mean(0).clamp(min=1e-9)
    return -(pm * torch.log(pm)).sum()


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    d, k, kn, batch, hidden, temp = 512, 10, 50, 512, 512, 0.5
    model = subprocess.run("lscpu | sed -n 's/^Model name:[ \\t]*//p'", shell=True, capture_output=True,
                           text=True).stdout.strip()
    print("machine: %s\ntorch %s, threads %d" % (model, torch.__version__, torch.get_num_threads()))
    print("pytorch train-heads: N=%d D=%d K=%d H=%d epochs=%d batch=%d neighbours=%d" % (n, d, k, hidden, epochs,
                                                                                         batch, kn))
    rs = np.random.RandomState(1)
    cen = rs.randn(k, d).astype(np.float32)
    lab = np.arange(n) % k
    X = cen[lab] + 0.8 * rs.randn(n, d).astype(np.float32)
    R = cen[lab] + 0.5 * rs.randn(n, d).astype(np.float32)
    X = torch.tensor(X / np.linalg.norm(X, axis=1, keepdims=True))
    R = torch.tensor(R / np.linalg.norm(R, axis=1, keepdims=True))
    nn_idx = torch.tensor((np.arange(n)[:, None] + k * (np.arange(kn)[None, :] + 1 + rs.randint(0, 1000, (n, kn)))) % n)

    def head():
        return nn.Sequential(nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, k),
                             nn.Softmax(dim=1))
    ft, fi = head(), head()
    opt = torch.optim.Adam(list(ft.parameters()) + list(fi.parameters()), lr=1e-3, betas=(0.9, 0.99))
    bce = nn.BCELoss()
    times = []
    t0 = time.perf_counter()
    for e in range(epochs):
        te = time.perf_counter()
        perm = torch.randperm(n)
        tot, nb = 0.0, n // batch
        for b in range(nb):
            ib = perm[b * batch:(b + 1) * batch]
            u = nn_idx[ib, torch.randint(0, kn, (batch,))]
            v = nn_idx[ib, torch.randint(0, kn, (batch,))]
            pt, pi = ft(R[ib]), fi(X[ib])
            qt, qi = ft(R[u]), fi(X[v])
            loss = cluster_loss(pi, qt, temp) + cluster_loss(pt, qi, temp) + bce((pt * pi).sum(1), torch.ones(batch)) \
                - 5.0 * (entropy(pt) + entropy(pi))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
        times.append(time.perf_counter() - te)
        print("  epoch %2d  loss %.5f  %.3f s" % (e + 1, tot / nb, times[-1]), flush=True)
    total = time.perf_counter() - t0
    print("RESULT pytorch  median epoch %.3f s  total %.2f s  (%d epochs)" % (sorted(times)[len(times) // 2], total,
                                                                            epochs))


if __name__ == "__main__":
    main()
