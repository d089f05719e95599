#!/bin/sh
# bench_scale.sh - `taclust fit --preset imagenet1k` on synthetic ImageNet-sized embeddings, each stage's time and
# the peak RSS after it, and (at a reduced scale) the full-scale time projected per stage from its cost model.
#
# usage: bench/bench_scale.sh [SCALE]      SCALE 0.05 (default, 1/20: 64,058 + 2,500 rows, a few minutes)
#                                          SCALE 1 runs the full ImageNet-1K size (1,281,167 + 50,000 rows x 512,
#                                          146,347 nouns; ~2.9 GB of inputs, hours on 2 cores)
# env:   DATA=DIR  reuse (or keep) the generated embeddings in DIR (made by tools/make_synthetic_imagenet.py)
#        EPOCHS=E  override the preset's 100 head epochs (the projection scales the heads' time back to 100)
#        HEADS=bf16|fp32|auto  the heads' precision (--heads-precision; default fp32, taclust's default)
# The centres use k = round(N_train/300) (--centres), the full-scale rule: at a reduced scale N_train/300 < K = 1000
# and the 3K exception would otherwise cluster 64k rows into 3,000 centres, a different shape from the full run.
# Projection (labelled as such): a stage's time times its growth from SCALE to 1 at equal iteration counts:
#   centres  NT x k x D per iteration, NT = 256 k, k = N/300      -> (1/SCALE)^2
#   select   k x M (M = 146,347 nouns fixed)                      -> 1/SCALE
#   retrieve N x S x D, S <= 5k selected nouns                    -> (1/SCALE)^2
#   no-train / baseline: N_test x K x D per iteration, K fixed     -> 1/SCALE
#   knn      N^2 D / 2 per space (exact)                          -> (1/SCALE)^2
#   heads    epochs x N/B steps of fixed cost                     -> 1/SCALE (x 100/EPOCHS)
# k-means iteration counts are what the data give (a redo stops at its exact fixed point): the projection
# assumes the full-size run needs as many; say so when quoting it.
set -eu
SCALE=${1:-0.05}
PY=/usr/bin/python3
cd "$(dirname "$0")/.."
make -s build/taclust >/dev/null
if [ -n "${DATA:-}" ]; then mkdir -p "$DATA"; else DATA=$(mktemp -d); trap 'rm -rf "$DATA"' EXIT; fi
if [ ! -f "$DATA/Xtr.npy" ] || [ "$(cat "$DATA/scale" 2>/dev/null)" != "$SCALE" ]; then
    echo "== generating synthetic embeddings (scale $SCALE) into $DATA"
    $PY tools/make_synthetic_imagenet.py "$DATA" --scale "$SCALE"
    echo "$SCALE" > "$DATA/scale"
fi
NTR=$($PY -c "import numpy as np; print(np.load('$DATA/Xtr.npy', mmap_mode='r').shape[0])")
CENTRES=$($PY -c "print(max(1, int($NTR / 300 + 0.5)))")
EPOCHS=${EPOCHS:-100}
echo "== machine: $(lscpu | grep -m1 'Model name' | sed 's/.*: *//'), $(nproc) cores, OpenBLAS core: $(OPENBLAS_VERBOSE=2 ./build/taclust --help 2>&1 | grep -m1 -o 'Core: [A-Za-z0-9]*' | sed 's/Core: //' || echo '?'), OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine make these times 'loaded')"
HEADS=${HEADS:-fp32}
echo "== taclust fit --preset imagenet1k: N_train $NTR, centres $CENTRES, epochs $EPOCHS, heads $HEADS"
OUT="$DATA/fit-out"
T0=$(date +%s)
/usr/bin/time -f "%e %U %S %M" -o "$DATA/fit.time" ./build/taclust fit --preset imagenet1k --train "$DATA/Xtr.npy" --test "$DATA/Xte.npy" --nouns "$DATA/T.npy" \
    --noun-names "$DATA/nouns.txt" --labels "$DATA/Yte.npy" --centres "$CENTRES" --epochs "$EPOCHS" \
    --heads-precision "$HEADS" --out "$OUT" > "$DATA/fit.stdout" 2> "$DATA/fit.stderr"
T1=$(date +%s)
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg); wall $((T1 - T0)) s"
read -r WALL USR SYS MAXKB < "$DATA/fit.time"
echo "== /usr/bin/time: wall $WALL s, CPU $USR s user + $SYS s system, max RSS $((MAXKB / 1024)) MB"
grep -E "^(time|peak RSS)" "$DATA/fit.stdout"
grep -E "TAC|k-means|ACC|NMI" "$DATA/fit.stdout" | head -6 || true
grep "^time" "$DATA/fit.stdout" | sed 's/[(),]/ /g' | awk -v s="$SCALE" -v ep="$EPOCHS" -v w="$WALL" -v cpu="$USR $SYS" '{
    for (i = 1; i <= NF; i++) v[$i] = $(i + 1);
    f = 1 / s; he = 100 / ep;
    c = v["centres"] * f * f; se = v["select"] * f; re = v["retrieve"] * f * f; nt = v["no-train"] * f;
    bl = v["baseline"] * f; kn = v["knn"] * f * f; hd = v["heads"] * f * he;
    tot = c + se + re + nt + bl + kn + hd;
    if (s < 1) {
        printf("== PROJECTED to full scale from this run (not measured; same iteration counts assumed):\n");
        printf("   centres %.0f s, select %.0f s, retrieve %.0f s, no-train %.0f s, baseline %.0f s, knn %.0f s, heads %.0f s\n",
               c, se, re, nt, bl, kn, hd);
        printf("   total %.0f s = %.2f h (target: 4 h on 2 cores); without the baseline %.2f h\n", tot, tot / 3600,
               (tot - bl) / 3600);
        split(cpu, u, " ");
        r = (u[1] + u[2]) / 2 / w;   # CPU-seconds / 2 cores over wall: the share of the 2 cores this run got
        if (r < 0.9)
            printf("   this run had %.0f%% of 2 cores (CPU/2/wall): on an idle machine about %.2f h\n", 100 * r,
                   tot * r / 3600);
    }
}'
