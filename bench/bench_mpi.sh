#!/bin/sh
# bench_mpi.sh - the cost of spreading `taclust fit` over MPI ranks on one machine: the same job (fit --preset
# imagenet1k on synthetic ImageNet-shaped embeddings) as 1 rank x 2 threads and as `mpirun -np 2` ranks x 1 thread,
# alternated ROUNDS times; prints the machine, the OpenBLAS core, each stage's median time side by side, the
# ratio (target: 2 ranks within 10% of 1 rank x 2 threads), and the payload bytes rank 0 sent per stage.
#
# usage: bench/bench_mpi.sh [SCALE]     SCALE of ImageNet-1K (default 0.02: 25,623 train + 1,000 test rows x 512,
#                                       146,347 nouns; a few minutes per round)
# env:   ROUNDS=R (default 3)  EPOCHS=E (head epochs, default 2; the preset's batch 8192 and K 1000)
#        DATA=DIR reuse / keep the generated embeddings (tools/make_synthetic_imagenet.py)
#        NP=N ranks (default 2) and THREADS=T per rank (default 1) of the MPI side; the reference is 1 rank x N*T
set -eu
SCALE=${1:-0.02}
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-2}
NP=${NP:-2}
THREADS=${THREADS:-1}
REF=$((NP * THREADS))
PY=/usr/bin/python3
cd "$(dirname "$0")/.."
make -s build/taclust >/dev/null
command -v mpirun >/dev/null || { echo "bench_mpi: mpirun not found (apt-get install openmpi-bin libopenmpi-dev, then make clean && make)"; exit 2; }
ldd build/taclust | grep -q libmpi || { echo "bench_mpi: build/taclust was built without MPI (make clean && make)"; exit 2; }
if [ -n "${DATA:-}" ]; then mkdir -p "$DATA"; else DATA=$(mktemp -d); trap 'rm -rf "$DATA"' EXIT; fi
if [ ! -f "$DATA/Xtr.npy" ] || [ "$(cat "$DATA/scale" 2>/dev/null)" != "$SCALE" ]; then
    echo "== generating synthetic embeddings (scale $SCALE) into $DATA"
    $PY tools/make_synthetic_imagenet.py "$DATA" --scale "$SCALE" >/dev/null
    echo "$SCALE" > "$DATA/scale"
fi
NTR=$($PY -c "import numpy as np; print(np.load('$DATA/Xtr.npy', mmap_mode='r').shape[0])")
CENTRES=$($PY -c "print(max(1, int($NTR / 300 + 0.5)))")
CORE=$(OPENBLAS_VERBOSE=2 ./build/taclust --version 2>&1 | grep -m1 -o 'Core: [A-Za-z0-9]*' | sed 's/Core: //' || true)
echo "== machine: $(lscpu | grep -m1 'Model name' | sed 's/.*: *//'), $(nproc) cores; OpenBLAS core ${CORE:-?}${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}; $(mpirun --version | head -1)"
echo "== job: taclust fit --preset imagenet1k, N_train $NTR, centres $CENTRES, epochs $EPOCHS; $ROUNDS rounds alternating"
echo "== reference: 1 rank x $REF threads; MPI: mpirun -np $NP x $THREADS threads (--bind-to none)"
ARGS="fit --preset imagenet1k --train $DATA/Xtr.npy --test $DATA/Xte.npy --nouns $DATA/T.npy --labels $DATA/Yte.npy --centres $CENTRES --epochs $EPOCHS -q"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
r=1
while [ "$r" -le "$ROUNDS" ]; do
    echo "== round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
    OMP_NUM_THREADS=$REF OPENBLAS_NUM_THREADS=$REF ./build/taclust $ARGS --out "$DATA/one" > "$DATA/one.$r.txt"
    OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS mpirun -np "$NP" --oversubscribe --bind-to none \
        -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS ./build/taclust $ARGS --out "$DATA/mpi" > "$DATA/mpi.$r.txt"
    r=$((r + 1))
done
# stage times: "time T s (centres a, select b, retrieve c, no-train d, baseline e, knn f, heads g)"
stages() { grep -h '^time' "$@" | sed 's/[(),]/ /g' | awk '{ for (i = 1; i <= NF; i++) if ($(i+1) ~ /^[0-9.]+$/) printf "%s=%s ", $i, $(i+1); print "" }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf "%-10s %14s %14s %8s\n" "stage" "1 x $REF thr (s)" "$NP x $THREADS thr (s)" "ratio"
for s in time centres select retrieve no-train baseline knn heads; do
    a=$(stages "$DATA"/one.*.txt | tr ' ' '\n' | grep "^$s=" | cut -d= -f2 | median)
    b=$(stages "$DATA"/mpi.*.txt | tr ' ' '\n' | grep "^$s=" | cut -d= -f2 | median)
    printf "%-10s %14s %14s %8s\n" "$( [ "$s" = time ] && echo total || echo "$s")" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')"
done
grep -h '^MPI:' "$DATA/mpi.1.txt"
for f in pred_notrain.npy selected.txt pred_tac.npy; do
    if cmp -s "$DATA/one/$f" "$DATA/mpi/$f"; then echo "== $f: identical"; else echo "== $f: differs (1 x $REF and $NP x $THREADS use different BLAS thread counts, which round differently)"; fi
done
grep -h -A4 'test split' "$DATA/mpi.1.txt" | head -5
