#!/usr/bin/env bash
# bench_isa.sh - what the portable build costs: the existing benchmarks run side by side, interleaved round by round
# (a shared machine's load then hits every variant alike), for
#   new      this build (baseline x86-64, kernels dispatched at run time: `taclust --version` says which)
#   scalar   the same binaries with TACLUST_ISA=scalar (what a CPU without AVX2 runs)
#   old      the bench binaries of another build dir OLD=DIR (e.g. one made at the commit before run-time dispatch,
#            which was compiled with -march=x86-64-v3: `git worktree add /tmp/old 2e6bb0a && make -C /tmp/old
#            -j2 bench`), left out when OLD is unset
# Figures: the fp32 ViT-B/32 image tower (random weights of the real shapes, batch 32, img/s), the text tower on
# WordNet noun prompts (prompts/s), spherical k-means at CIFAR-10 scale (N=50,000, D=512, K=167, 25 iterations:
# seconds), exact cosine kNN (N=20,000, k=50: seconds), one epoch of the heads (N=20,000: seconds), decoding +
# preprocessing of the test images (images/s). The median of ROUNDS rounds for each.
#
#   OLD=/tmp/old/build ROUNDS=5 bash bench/bench_isa.sh
# Needs /usr/bin/python3 with numpy (and torch for the random ViT-B/32, bench/make_random_b32.py), wordnet-base.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
OUT=build/bench/isa
MODEL=${MODEL:-build/bench/clip-b32-random}
export OMP_NUM_THREADS=${THREADS:-2} OPENBLAS_NUM_THREADS=${THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
if [ -z "${KEEP_CORETYPE:-}" ] && [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "note: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (KEEP_CORETYPE=1 keeps it)"; unset OPENBLAS_CORETYPE
fi
make -s -j2 bench >/dev/null
mkdir -p "$OUT"
[ -f "$MODEL/model.safetensors" ] || /usr/bin/python3 bench/make_random_b32.py "$MODEL"
for f in vocab.json merges.txt; do [ -f "$MODEL/$f" ] || cp "tests/fixtures/clip/tiny/$f" "$MODEL/"; done
[ -f "$OUT/X.npy" ] || /usr/bin/python3 - "$OUT" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(0)
n, d, k = 50000, 512, 167
c = rng.normal(size=(k, d)); c /= np.linalg.norm(c, axis=1, keepdims=True)
x = c[rng.integers(0, k, n)] + 0.04 * rng.normal(size=(n, d))
x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(sys.argv[1] + "/X.npy", x.astype(np.float32))
np.save(sys.argv[1] + "/X20k.npy", x[:20000].astype(np.float32))
PYEOF
IMGS=$(ls tests/fixtures/image/*.jpg tests/fixtures/image/*.png | grep -v /bad_)
variants="new scalar"
[ -n "${OLD:-}" ] && variants="old new scalar"
echo "== $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $OMP_NUM_THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
build/taclust --version
: > "$OUT/results.tsv"
run() {   # run VARIANT NAME COMMAND... : appends "variant name value"
    local v=$1 name=$2; shift 2
    local bin=build
    [ "$v" = old ] && bin=$OLD
    local val
    if [ "$v" = scalar ]; then val=$(TACLUST_ISA=scalar "$@" 2>&1 | eval "$PICK"); else val=$("$@" 2>&1 | eval "$PICK"); fi
    printf '%s\t%s\t%s\n' "$v" "$name" "$val" >> "$OUT/results.tsv"
}
for r in $(seq "$ROUNDS"); do
    for v in $variants; do
        b=build; [ "$v" = old ] && b=$OLD
        PICK="sed -n 's/^RESULT taclust_images_per_s=//p'"; run "$v" "image tower img/s" "$b/bench_clip" image "$MODEL" --batch 32 --repeats 3
        PICK="sed -n 's/^RESULT taclust_prompts_per_s=//p'"; run "$v" "text tower prompts/s" "$b/bench_clip" text "$MODEL" --nouns 300
        PICK="sed -n 's/^taclust kmeans median: \([0-9.]*\) s.*/\1/p'"; run "$v" "k-means s" "$b/bench_kmeans" "$OUT/X.npy" 167 25 1 1 1
        PICK="sed -n 's/^taclust knn median: \([0-9.]*\) s.*/\1/p'"; run "$v" "knn s" "$b/bench_knn" "$OUT/X20k.npy" 50 1 --path auto
        PICK="sed -n 's/^RESULT taclust  median epoch \([0-9.]*\) s.*/\1/p'"; run "$v" "heads epoch s" "$b/bench_heads" 1 20000 10 512
        # shellcheck disable=SC2086
        PICK="sed -n 's/^taclust C: .* = \([0-9.]*\) images\/s.*/\1/p'"; run "$v" "decode+preprocess img/s" "$b/bench_image" --repeats 5 $IMGS
    done
    echo "round $r done (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
echo "== medians of $ROUNDS rounds ($OUT/results.tsv has every run)"
/usr/bin/python3 - "$OUT/results.tsv" "$variants" <<'PYEOF'
import sys, statistics, collections
vals = collections.defaultdict(list)
names = []
for line in open(sys.argv[1]):
    v, n, x = line.rstrip("\n").split("\t")
    if n not in names: names.append(n)
    if x: vals[(v, n)].append(float(x))
variants = sys.argv[2].split()
print("%-26s" % "" + "".join("%12s" % v for v in variants))
for n in names:
    print("%-26s" % n + "".join("%12s" % ("%.3g" % statistics.median(vals[(v, n)]) if vals[(v, n)] else "-") for v in variants))
PYEOF
