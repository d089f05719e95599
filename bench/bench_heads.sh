#!/bin/sh
# bench_heads.sh - TAC head training at CIFAR-10 scale, taclust (build/bench_heads) and the PyTorch CPU
# reference (bench/bench_heads_torch.py) side by side, same sizes, same thread count.
#   sh bench/bench_heads.sh [epochs] [N]           (default 20 epochs, N = 50,000; run `make bench` first)
#   TORCH_EPOCHS=E limits the (much slower) PyTorch run to E epochs; compare the median epoch times then.
# OPENBLAS_CORETYPE in the environment forces OpenBLAS kernels; the benchmark prints the core in use.
set -e
# (each run is checked: a missing binary must stop the script, not be hidden by tee)
EPOCHS=${1:-20}
N=${2:-50000}
THREADS=${OMP_NUM_THREADS:-2}
TORCH_EPOCHS=${TORCH_EPOCHS:-$EPOCHS}
cd "$(dirname "$0")/.."
[ -x build/bench_heads ] || make bench
[ -x build/bench_heads ] || { echo "bench_heads.sh: build/bench_heads missing (make bench)" >&2; exit 1; }
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== taclust"
build/bench_heads "$EPOCHS" "$N" | tee /tmp/bench_heads_c.$$
echo "== pytorch (CPU, $THREADS threads)"
/usr/bin/python3 bench/bench_heads_torch.py "$TORCH_EPOCHS" "$N" "$THREADS" | tee /tmp/bench_heads_py.$$
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== side by side"
grep RESULT /tmp/bench_heads_c.$$ /tmp/bench_heads_py.$$ | sed 's/^[^:]*://'
rm -f /tmp/bench_heads_c.$$ /tmp/bench_heads_py.$$
