#!/bin/sh
# kmeans.sh - benchmark the clustering stage against python3-faiss (CPU) side by side, at CIFAR-10 scale.
#
# usage: bench/kmeans.sh            (from the repo root; needs /usr/bin/python3 with numpy and faiss)
# env:   N=50000 D=512 K=167 NITER=50 NREDO=1 KREPS=1 KNN_K=50 KNN_REPS=1 SKIP_KNN=0 SKIP_KMEANS=0
# Times are wall and CPU seconds (user+system, all threads): on a shared machine CPU/2 estimates idle wall time.
# Generates random-but-clustered unit rows (K Gaussian blobs on the sphere) into a temporary folder, then runs
#   taclust k-means (build/bench_kmeans) and faiss.Kmeans(spherical=True) with the SAME niter/nredo/seed,
#   and taclust exact cosine kNN (build/bench_knn) and faiss IndexFlatIP (k+1, self dropped) on the same data,
# reporting machine, OpenBLAS core, threads, times (median over the repeats) and objectives / agreement.
set -eu
N=${N:-50000}; D=${D:-512}; K=${K:-167}; NITER=${NITER:-50}; NREDO=${NREDO:-1}; KREPS=${KREPS:-1}
KNN_K=${KNN_K:-50}; KNN_REPS=${KNN_REPS:-1}; SKIP_KNN=${SKIP_KNN:-0}; SKIP_KMEANS=${SKIP_KMEANS:-0}
PY=/usr/bin/python3
make -s bench >/dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "== data: N=$N D=$D, $K blobs on the unit sphere"
$PY - "$TMP/X.npy" "$N" "$D" "$K" <<'PYEOF'
import sys, numpy as np
path, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
c = rng.normal(size=(k, d)); c /= np.linalg.norm(c, axis=1, keepdims=True)
x = c[rng.integers(0, k, n)] + 0.04 * rng.normal(size=(n, d))   # blob noise ~ CLIP-like cosine spread
x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(path, x.astype(np.float32))
PYEOF
echo "== OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$SKIP_KMEANS" != 1 ]; then
echo "== taclust k-means"
build/bench_kmeans "$TMP/X.npy" "$K" "$NITER" "$NREDO" "$KREPS" 1
echo "== faiss k-means (python3-faiss CPU)"
$PY - "$TMP/X.npy" "$K" "$NITER" "$NREDO" "$KREPS" <<'PYEOF'
import sys, time, numpy as np, faiss
x = np.load(sys.argv[1]); k, niter, nredo, reps = map(int, sys.argv[2:6])
print("faiss", faiss.__version__, "omp threads", faiss.omp_get_max_threads())
ts = []
for r in range(reps):
    km = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, spherical=True, seed=1234, verbose=False)
    t0 = time.time(); c0 = time.process_time(); km.train(x); t = time.time() - t0; ts.append(t)
    print(f"  run {r}: {t:.2f} s wall, {time.process_time() - c0:.2f} s CPU, objective {km.obj[-1]:.6f}")
print(f"faiss kmeans median: {sorted(ts)[len(ts)//2]:.2f} s over {reps} run(s)")
PYEOF
fi
[ "$SKIP_KNN" = 1 ] && exit 0
echo "== taclust knn"
build/bench_knn "$TMP/X.npy" "$KNN_K" "$KNN_REPS" "$TMP/idx.npy" --path auto
echo "== faiss IndexFlatIP knn (k+1, self dropped)"
$PY - "$TMP/X.npy" "$KNN_K" "$KNN_REPS" "$TMP/idx.npy" <<'PYEOF'
import sys, time, numpy as np, faiss
x = np.load(sys.argv[1]); k, reps = int(sys.argv[2]), int(sys.argv[3]); ours = np.load(sys.argv[4])
ts = []
for r in range(reps):
    t0 = time.time(); c0 = time.process_time()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(x.shape[1]); index.add(xn); S, I = index.search(xn, k + 1)
    t = time.time() - t0; ts.append(t)
    print(f"  run {r}: {t:.2f} s wall, {time.process_time() - c0:.2f} s CPU")
print(f"faiss knn median: {sorted(ts)[len(ts)//2]:.2f} s over {reps} run(s)")
rows = np.arange(len(x))[:, None]
ref = np.array([row[row != i][:k] for i, row in enumerate(I)])
same = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, ref)])
print(f"neighbour-set agreement taclust vs faiss: {same:.5f}")
PYEOF
