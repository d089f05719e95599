#!/usr/bin/python3
"""gen_heads_fixtures.py - golden files for tests/test_heads.c from an independent PyTorch re-implementation of
TAC's cluster-head training (tac-method.md section 7.5).

Run from the repo root with Debian's python (torch 1.13):  /usr/bin/python3 tools/gen_heads_fixtures.py
Writes tests/fixtures/heads/*.npy:
  X.npy, R.npy            N x D float32, L2-normalised image features / text counterparts (clustered toy data)
  init_params.npy         flat float32, both heads' initial parameters in taclust's layout (see below)
  idx.npy, u.npy, v.npy   S x B int64: anchors, text-space neighbour, image-space neighbour of every step
  losses.npy              S x 6 float64: total, L_D(P^I,Q^T), L_D(P^T,Q^I), L_C, H(P^T), H(P^I) per step
  grads_step1.npy         flat float32: gradient of the total loss at step 1 (taclust layout)
  b1_traj.npy             S x 2H float32: first-layer biases (text then image) after each step. Their true gradient
                          is exactly zero (a bias before train-mode BatchNorm), so Adam moves them by rounding
                          noise; the C test pins them to this trajectory to compare everything else tightly.
  final_params.npy        flat float32 after S Adam steps
  final_stats.npy         4H float32: BatchNorm running mean_T | var_T | mean_I | var_I after S steps
  pred_probs.npy          N x K float32: image head in eval mode on X after S steps
taclust layout, per head (text head first, then image head): w1 (H x D), b1 (H), gamma (H), beta (H),
w2 (K x H), b2 (K).
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N, D, H, K, B, STEPS = 64, 16, 32, 4, 16, 5
T, ALPHA = 0.5, 5.0
OUT = os.path.join("tests", "fixtures", "heads")


def make_head():
    return nn.Sequential(nn.Linear(D, H), nn.BatchNorm1d(H), nn.ReLU(), nn.Linear(H, K), nn.Softmax(dim=1))


def head_tensors(m):
    return [m[0].weight, m[0].bias, m[1].weight, m[1].bias, m[3].weight, m[3].bias]


def flat(tensors):
    return np.concatenate([t.detach().numpy().astype(np.float32).ravel() for t in tensors])


def cluster_loss(a, c, temp):
    """Contrastive Clustering's cluster-level InfoNCE (without its entropy term): columns as instances."""
    k = a.shape[1]
    n = 2 * k
    z = torch.cat([F.normalize(a.t(), dim=1, eps=1e-12), F.normalize(c.t(), dim=1, eps=1e-12)], dim=0)
    sim = torch.matmul(z, z.t()) / temp
    pos = torch.cat([torch.diag(sim, k), torch.diag(sim, -k)]).reshape(n, 1)
    mask = torch.ones((n, n), dtype=torch.bool)
    mask.fill_diagonal_(False)
    for i in range(k):
        mask[i, k + i] = False
        mask[k + i, i] = False
    neg = sim[mask].reshape(n, -1)
    logits = torch.cat([pos, neg], dim=1)
    labels = torch.zeros(n, dtype=torch.long)
    return nn.CrossEntropyLoss(reduction="sum")(logits, labels) / n


def entropy(p):
    pm = p.mean(0).clamp(min=1e-9)
    return -(pm * torch.log(pm)).sum()


def main():
    torch.set_num_threads(1)
    rs = np.random.RandomState(20240515)
    # toy data: K clusters with text counterparts correlated to the images
    centres = rs.randn(K, D)
    lab = rs.randint(0, K, N)
    X = centres[lab] + 0.6 * rs.randn(N, D)
    R = centres[lab] + 0.4 * rs.randn(N, D) + 0.3 * rs.randn(K, D)[lab]
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    R = (R / np.linalg.norm(R, axis=1, keepdims=True)).astype(np.float32)

    heads = [make_head(), make_head()]   # 0 = text head f_T, 1 = image head f_I
    init = []
    for m in heads:
        w1 = np.clip(rs.randn(H, D) * 0.02, -2, 2)
        b1 = rs.uniform(-1 / np.sqrt(D), 1 / np.sqrt(D), H)
        w2 = np.clip(rs.randn(K, H) * 0.02, -2, 2)
        b2 = rs.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), K)
        with torch.no_grad():
            m[0].weight.copy_(torch.tensor(w1, dtype=torch.float32))
            m[0].bias.copy_(torch.tensor(b1, dtype=torch.float32))
            m[3].weight.copy_(torch.tensor(w2, dtype=torch.float32))
            m[3].bias.copy_(torch.tensor(b2, dtype=torch.float32))
        init += head_tensors(m)
    init_flat = flat(init)

    # neighbours: exact cosine top-5 (self excluded) in each space; the steps pick one of them at random
    def knn(Z):
        s = Z @ Z.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :5]
    nn_t, nn_i = knn(R), knn(X)
    idx = np.stack([rs.permutation(N)[:B] for _ in range(STEPS)]).astype(np.int64)
    u = np.stack([nn_t[idx[s], rs.randint(0, 5, B)] for s in range(STEPS)]).astype(np.int64)
    v = np.stack([nn_i[idx[s], rs.randint(0, 5, B)] for s in range(STEPS)]).astype(np.int64)

    params = head_tensors(heads[0]) + head_tensors(heads[1])
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    for m in heads:
        m.train()
    Xt, Rt = torch.tensor(X), torch.tensor(R)
    losses, grads1, b1_traj = [], None, []
    for s in range(STEPS):
        ft, fi = heads
        pt = ft(Rt[idx[s]])          # text anchors
        pi = fi(Xt[idx[s]])          # image anchors
        qt = ft(Rt[u[s]])            # text head on text-space neighbours
        qi = fi(Xt[v[s]])            # image head on image-space neighbours
        l_it = cluster_loss(pi, qt, T)
        l_ti = cluster_loss(pt, qi, T)
        l_c = nn.BCELoss()((pt * pi).sum(1), torch.ones(B))
        h_t, h_i = entropy(pt), entropy(pi)
        loss = l_it + l_ti + l_c - ALPHA * (h_t + h_i)
        opt.zero_grad()
        loss.backward()
        if s == 0:
            grads1 = flat([p.grad for p in params])
        opt.step()
        b1_traj.append(np.concatenate([heads[0][0].bias.detach().numpy().copy(), heads[1][0].bias.detach().numpy().copy()]))
        losses.append([loss.item(), l_it.item(), l_ti.item(), l_c.item(), h_t.item(), h_i.item()])
        print("step %d loss %.6f" % (s + 1, loss.item()))

    stats = np.concatenate([heads[0][1].running_mean.numpy(), heads[0][1].running_var.numpy(),
                            heads[1][1].running_mean.numpy(), heads[1][1].running_var.numpy()]).astype(np.float32)
    heads[1].eval()
    with torch.no_grad():
        probs = heads[1](Xt).numpy().astype(np.float32)

    os.makedirs(OUT, exist_ok=True)
    out = dict(X=X, R=R, init_params=init_flat, idx=idx, u=u, v=v, losses=np.array(losses, dtype=np.float64),
               grads_step1=grads1, b1_traj=np.array(b1_traj, dtype=np.float32), final_params=flat(params), final_stats=stats, pred_probs=probs)
    for name, arr in out.items():
        np.save(os.path.join(OUT, name + ".npy"), arr)
    print("wrote", ", ".join(sorted(out)), "to", OUT)


if __name__ == "__main__":
    main()
