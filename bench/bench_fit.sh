#!/bin/sh
# bench_fit.sh - the whole TAC fit at CIFAR-10 scale (50,000 train + 10,000 test x 512, 146,347 nouns, K 10,
# k 167) on synthetic embeddings: taclust (build/bench_fit) and, on the very same arrays, the reference
# pipeline as TAC's Python code runs it, on CPU (faiss 1.7 Kmeans spherical niter 300 nredo 10/20 and
# IndexFlatIP k-NN, NumPy selection/retrieval, PyTorch heads), stage by stage.
#
#   bench/bench_fit.sh [--no-reference] [bench_fit options, e.g. --ntrain 5000 --ntest 1000 --nouns 20000 --centres 17]
# Run from the repo root. Needs Debian's /usr/bin/python3 with numpy, faiss, torch, sklearn, scipy for the
# reference. Prints the machine, OpenBLAS core, threads and load, then both tables.
set -eu
REF=1
# as the taclust CLI does: OpenMP workers that spin between parallel regions starve OpenBLAS's threads
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY
if [ "${1:-}" = "--no-reference" ]; then REF=0; shift; fi
make -s build/bench_fit >/dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "threads: OMP_WAIT_POLICY=$OMP_WAIT_POLICY, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}, OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "== taclust"
build/bench_fit --dump "$TMP" "$@" 2> "$TMP/progress.txt" | tee "$TMP/tac.txt"
[ "$REF" = 1 ] || exit 0
K=$(sed -n 's/.* K \([0-9]*\), k \([0-9]*\), .*/\1/p' "$TMP/tac.txt")
KC=$(sed -n 's/.* K \([0-9]*\), k \([0-9]*\), .*/\2/p' "$TMP/tac.txt")
EP=$(sed -n 's/.*(\([0-9]*\) epochs).*/\1/p' "$TMP/tac.txt")
echo "== reference (TAC's Python pipeline on CPU)"
/usr/bin/python3 - "$TMP" "$K" "$KC" "$EP" <<'EOF'
import sys, time, os
import numpy as np
import faiss, torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, confusion_matrix

d, K, k, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(os.cpu_count())
faiss.omp_set_num_threads(os.cpu_count())
print("# faiss %s, torch %s, numpy %s, threads %d" % (faiss.__version__, torch.__version__, np.__version__, os.cpu_count()))
T = {}
def stage(name, t0):
    T[name] = time.perf_counter() - t0
    print("stage %-22s %9.2f" % (name, T[name]), flush=True)

def norm(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

def kmeans(x, kk, nredo):
    km = faiss.Kmeans(x.shape[1], kk, niter=300, nredo=nredo, spherical=True, seed=1234)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0]

def metrics(y, p):
    c = confusion_matrix(y, p)
    r, col = linear_sum_assignment(c, maximize=True)
    return c[r, col].sum() / len(y), normalized_mutual_info_score(y, p), adjusted_rand_score(y, p)

t_all = time.perf_counter()
t0 = time.perf_counter()
xtr = norm(np.load(d + "/Xtr.npy")).astype(np.float32)
xte = norm(np.load(d + "/Xte.npy")).astype(np.float32)
tn = norm(np.load(d + "/T.npy")).astype(np.float32)
yte = np.load(d + "/yte.npy")
stage("normalise", t0)

t0 = time.perf_counter()
lab = kmeans(xtr, k, 10)
stage("centres_kmeans", t0)

t0 = time.perf_counter()
c = np.zeros((k, xtr.shape[1]), np.float32)
np.add.at(c, lab, xtr)
c = norm(c)
best = np.empty(len(tn), np.int64); conf = np.empty(len(tn))
for m0 in range(0, len(tn), 16384):
    s = c @ tn[m0:m0 + 16384].T
    best[m0:m0 + 16384] = s.argmax(0)
    e = np.exp(s - s.max(0))
    conf[m0:m0 + 16384] = 1.0 / e.sum(0)
sel = []
for j in range(k):
    mem = np.nonzero(best == j)[0]
    sel.extend(mem[np.lexsort((mem, -conf[mem]))][:5].tolist())
sel = np.sort(np.array(sel))
E = tn[sel]
stage("select_nouns", t0)

def retrieve(x):
    out = np.empty_like(x)
    for i in range(0, len(x), 8192):
        l = x[i:i + 8192] @ E.T / 0.005
        w = np.exp(l - l.max(1, keepdims=True)); w /= w.sum(1, keepdims=True)
        out[i:i + 8192] = norm(w @ E)
    return out
t0 = time.perf_counter()
rtr, rte = retrieve(xtr), retrieve(xte)
stage("retrieve", t0)

t0 = time.perf_counter()
p_nt = kmeans(np.concatenate([xte, rte], 1), K, 20)
stage("tac_notrain_kmeans", t0)
t0 = time.perf_counter()
p_km = kmeans(xte, K, 20)
stage("clip_kmeans_baseline", t0)

t0 = time.perf_counter()
def knn(x):
    idx = faiss.IndexFlatIP(x.shape[1]); idx.add(x)
    return idx.search(x, 51)[1][:, 1:]
nn_txt, nn_img = knn(rtr), knn(xtr)
stage("knn", t0)

# heads as train_head.py / models.py / loss_utils.py (tac-method.md section 7)
t0 = time.perf_counter()
torch.manual_seed(0); np.random.seed(0)
def head():
    h = torch.nn.Sequential(torch.nn.Linear(xtr.shape[1], 512), torch.nn.BatchNorm1d(512),
                            torch.nn.ReLU(), torch.nn.Linear(512, K), torch.nn.Softmax(dim=1))
    for mod in h:
        if isinstance(mod, torch.nn.Linear): torch.nn.init.trunc_normal_(mod.weight, std=0.02)
    return h
fT, fI = head(), head()
opt = torch.optim.Adam(list(fT.parameters()) + list(fI.parameters()), lr=1e-3, betas=(0.9, 0.99))
Tt = 0.5
def LD(a, c):
    h = torch.nn.functional.normalize(torch.cat([a, c], 1).t(), dim=1)
    s = h @ h.t() / Tt
    n2 = 2 * K
    s = s.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    pos = torch.cat([torch.arange(K, n2), torch.arange(0, K)])
    return torch.nn.functional.cross_entropy(s, pos, reduction="sum") / n2
def H(p):
    pm = p.mean(0).clamp(min=1e-9)
    return -(pm * pm.log()).sum()
Xtr_t, Rtr_t = torch.from_numpy(xtr), torch.from_numpy(rtr)
B = 512
for ep in range(epochs):
    fT.train(); fI.train()
    perm = torch.randperm(len(xtr))
    for it in range(len(xtr) // B):
        b = perm[it * B:(it + 1) * B].numpy()
        u = nn_txt[b, np.random.randint(0, 50, len(b))]
        v = nn_img[b, np.random.randint(0, 50, len(b))]
        PT, PI = fT(Rtr_t[b]), fI(Xtr_t[b])
        QT, QI = fT(Rtr_t[u]), fI(Xtr_t[v])
        lc = -(torch.clamp(torch.log((PT * PI).sum(1)), min=-100)).mean()
        loss = LD(PI, QT) + LD(PT, QI) + lc - 5 * (H(PT) + H(PI))
        opt.zero_grad(); loss.backward(); opt.step()
stage("heads_train", t0)
t0 = time.perf_counter()
fI.eval()
with torch.no_grad():
    p_tac = fI(torch.from_numpy(xte)).argmax(1).numpy()
stage("predict", t0)
T["total"] = time.perf_counter() - t_all
print("stage %-22s %9.2f" % ("total", T["total"]))
print("# selected nouns: %d" % len(sel))
for name, p in (("CLIP k-means  ", p_km), ("TAC (no train)", p_nt), ("TAC           ", p_tac)):
    a, n, r = metrics(yte, p)
    print("# %s ACC %.2f NMI %.2f ARI %.2f" % (name, 100 * a, 100 * n, 100 * r))
EOF
