#!/bin/sh
# bench_metrics.sh - ACC / NMI / ARI on 1,000,000 samples with 1000 clusters: taclust vs sklearn/scipy, same data.
#
#   bench/bench_metrics.sh [N] [K] [REPEATS]        (from the repo root; defaults 1000000 1000 5)
# Builds build/bench_metrics (from bench/bench_metrics.c), runs it (it writes the labels/predictions as .npy and times taclust), then times
# the Python reference on the same arrays with Debian's /usr/bin/python3: sklearn normalized_mutual_info_score,
# adjusted_rand_score, and ACC as sklearn confusion_matrix + scipy linear_sum_assignment (TAC's own ACC uses the
# pure-Python `munkres` package, which is far slower on 1000 x 1000 and is not installed here).
# Prints the machine, OpenBLAS core, threads, and the medians side by side with the values' difference.
set -eu
N=${1:-1000000}
K=${2:-1000}
R=${3:-5}
make -s build/bench_metrics >/dev/null   # the Makefile builds bench/bench_<x>.c into build/bench_<x>
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "threads: OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (the metrics are single-threaded in both)"
build/bench_metrics "$TMP" "$N" "$K" "$R" > "$TMP/tac.txt"
grep '^#' "$TMP/tac.txt"
/usr/bin/python3 - "$TMP" "$R" <<'EOF'
import sys, time
import numpy as np
import sklearn, scipy
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score

d, reps = sys.argv[1], int(sys.argv[2])
y, p = np.load(d + "/y.npy"), np.load(d + "/p.npy")

def acc(y, p):
    c = confusion_matrix(y, p)          # over the sorted union of ids, as TAC's eval_utils.py
    r, col = linear_sum_assignment(c, maximize=True)
    return c[r, col].sum() / len(y)

def all3(y, p):
    return acc(y, p), normalized_mutual_info_score(y, p), adjusted_rand_score(y, p)

fns = {"acc": acc, "nmi": normalized_mutual_info_score, "ari": adjusted_rand_score, "all3": lambda a, b: all3(a, b)[0]}
tac = {}
for line in open(d + "/tac.txt"):
    if line.startswith("tac "):
        _, m, t, v = line.split()
        tac[m] = (float(t), float(v))
print("reference: sklearn %s, scipy %s, numpy %s; N=%d, %d repeats, medians" % (sklearn.__version__, scipy.__version__, np.__version__, len(y), reps))
print("%-6s %12s %12s %9s %12s   %s" % ("metric", "taclust (s)", "sklearn (s)", "speedup", "|diff|", "value"))
for m, f in fns.items():
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); v = f(y, p); ts.append(time.perf_counter() - t0)
    tm = float(np.median(ts))
    tt, tv = tac[m]
    print("%-6s %12.4f %12.4f %8.1fx %12.3g   %.10f" % (m, tt, tm, tm / tt, abs(tv - v), v))
EOF
