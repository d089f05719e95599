#!/usr/bin/python3
"""gen_cluster_fixtures.py - golden files for tests/test_cluster.c from an independent reference.

Run from the repo root with Debian's python (faiss 1.7.3, numpy):  /usr/bin/python3 tools/gen_cluster_fixtures.py
Writes tests/fixtures/cluster/<case>_{X,centroids,labels,obj}.npy for k-means cases computed by
faiss.Kmeans (CPU, faiss 1.7.3), and knn_{X,idx,sim}.npy from a float64 NumPy brute force.
Cases (the C test reads the parameters from the table at the top of test_cluster.c; keep both in sync):
  sph     2000 x 32 unit rows, 8 blobs, K=8,  spherical, niter 20, nredo 3, seed 1234
  l2      2000 x 32 raw rows,  8 blobs, K=8,  L2,        niter 20, nredo 3, seed 7
  sub     2000 x 32 unit rows, K=6 (2000 > 256*6: subsampled to 1536), spherical, niter 15, nredo 2, seed 99
  odd     700 x 37 raw rows, K=13, L2, niter 10, nredo 2, seed 5, max_points_per_centroid 50 (subsampled to 650)
  empty   300 x 37, 260 identical rows + 40 blob rows, K=10, spherical, niter 10, nredo 1, seed 3
          (the init picks duplicate rows, so clusters go empty and split_clusters runs)
  kn      20 x 37 raw rows, K=20 = N (faiss copies the rows), L2, seed 1234
"""
import os
import numpy as np
import faiss

OUT = "tests/fixtures/cluster"


def blobs(rng, n, d, nb, spread):
    centres = rng.normal(size=(nb, d)) * 3.0
    lab = rng.integers(0, nb, size=n)
    return (centres[lab] + spread * rng.normal(size=(n, d))).astype(np.float32)


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def run_faiss(name, X, k, spherical, niter, nredo, seed, mppc=256):
    km = faiss.Kmeans(X.shape[1], k, niter=niter, nredo=nredo, spherical=spherical, seed=seed,
                      max_points_per_centroid=mppc, verbose=False)
    km.train(X)
    D, I = km.index.search(X, 1)
    obj = float(km.obj[-1]) if km.obj.size else 0.0
    np.save(f"{OUT}/{name}_X.npy", X)
    np.save(f"{OUT}/{name}_centroids.npy", km.centroids.astype(np.float32))
    np.save(f"{OUT}/{name}_labels.npy", I.ravel().astype(np.int64))
    np.save(f"{OUT}/{name}_obj.npy", np.array([obj], dtype=np.float64))
    print(f"{name}: N={X.shape[0]} D={X.shape[1]} K={k} obj={obj:.6f} sizes={np.bincount(I.ravel(), minlength=k)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(20240515)
    raw = blobs(rng, 2000, 32, 8, 1.0)
    run_faiss("sph", unit(raw), 8, True, 20, 3, 1234)
    run_faiss("l2", raw, 8, False, 20, 3, 7)
    run_faiss("sub", unit(blobs(rng, 2000, 32, 6, 1.5)), 6, True, 15, 2, 99)
    run_faiss("odd", blobs(rng, 700, 37, 13, 1.2), 13, False, 10, 2, 5, mppc=50)
    dup = np.repeat(rng.normal(size=(1, 37)), 260, axis=0)
    e = np.concatenate([dup, blobs(rng, 40, 37, 4, 0.5)]).astype(np.float32)
    e = e[rng.permutation(len(e))]
    run_faiss("empty", unit(e), 10, True, 10, 1, 3)
    run_faiss("kn", blobs(rng, 20, 37, 3, 1.0), 20, False, 5, 1, 1234)

    # kNN: float64 brute force, with a few exact duplicate rows so that ties occur
    X = blobs(rng, 600, 37, 5, 1.0)
    X[100] = X[7]
    X[200] = X[7]
    X[301] = 2.5 * X[300]          # same direction: cosine 1
    Xn = X.astype(np.float64)
    Xn /= np.linalg.norm(Xn, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    k = 10
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), S.shape), -S), axis=1)[:, :k]
    np.save(f"{OUT}/knn_X.npy", X)
    np.save(f"{OUT}/knn_idx.npy", order.astype(np.int64))
    np.save(f"{OUT}/knn_sim.npy", np.take_along_axis(S, order, axis=1).astype(np.float32))
    print("knn: N=600 D=37 k=10")


if __name__ == "__main__":
    main()
