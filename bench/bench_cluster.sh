#!/usr/bin/env bash
# bench_cluster.sh - the whole `taclust cluster` job at the scale of issue #4: 1,000 images (the 250 ImageNet
# photos + 750 CIFAR-10 test JPEGs from ../shared/datasets) with a ViT-B/32-shaped CLIP (random weights of the real
# shapes: the cost does not depend on the values) and the full WordNet vocabulary (146,347 nouns x 7 prompts).
#
#   bash bench/bench_cluster.sh [MODEL_DIR]     # default build/bench/clip-b32-random (generated if missing)
#   TACLUST_PRECISION=fp32 bash bench/bench_cluster.sh   # or bf16; default auto (the --version line says which ran)
#
# Measures, in one run, against the targets of issue #4 (there is no CPU reference implementation of the job):
#   0. filling the per-user noun cache (all 146,347 x 7 prompts; skipped if the cache already exists; target of
#      issue #3: under 15 minutes)
#   1. `cluster` on the 1,000 images once the noun cache exists           (target: under 2 minutes)
#   2. `cluster` again on the same folder: every embedding cached          (target: under 20 seconds)
#   3. the same with --no-train
# Prints the machine, OpenBLAS core, threads and the load. The noun cache lives in build/bench/xdg.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/bench/cluster
MODEL=${1:-build/bench/clip-b32-random}
SHARED=${TACLUST_SHARED:-../shared}
export XDG_CACHE_HOME=$PWD/build/bench/xdg
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
if [ -z "${KEEP_CORETYPE:-}" ] && [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "note: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE so OpenBLAS picks its kernels for this CPU (KEEP_CORETYPE=1 keeps it)"
    unset OPENBLAS_CORETYPE
fi
make -s -j2 build/taclust >/dev/null
[ -f "$MODEL/model.safetensors" ] || /usr/bin/python3 tools/gen_clip_fixtures.py b32 "$MODEL"
mkdir -p "$OUT"
IMG=$OUT/images
if [ ! -d "$IMG" ]; then
    mkdir -p "$IMG/imagenet" "$IMG/tmp"
    tar -xf "$SHARED/datasets/imagenet-sample-250.tar" -C "$IMG/imagenet"
    tar -xf "$SHARED/datasets/cifar10-jpeg-q75.tar" -C "$IMG/tmp" --wildcards 'cifar10-jpeg/test/*/00[0-6][0-9].jpg' 'cifar10-jpeg/test/*/007[0-4].jpg'
    mv "$IMG/tmp/cifar10-jpeg/test" "$IMG/cifar" && rm -rf "$IMG/tmp"
fi
N=$(find "$IMG" -type f | wc -l)
echo "=== $(date -u '+%F %T UTC') $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "=== OpenBLAS core: $(build/taclust --version), OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $N images, model $MODEL"
t() { local s e rc; s=$(date +%s%N); if "$@" > "$OUT/last.log" 2>&1; then rc=0; else rc=$?; fi; e=$(date +%s%N)
      printf '%-44s %6d.%01d s (exit %d)\n' "$LABEL" $(( (e - s) / 1000000000 )) $(( (e - s) / 100000000 % 10 )) "$rc"
      [ "$rc" -eq 0 ] || tail -5 "$OUT/last.log"; }
LABEL="0. noun cache (146,347 x 7 prompts)"
mapfile -t three < <(find "$IMG/imagenet" -type f | sort | head -3)
WARM=(build/taclust cluster "${three[@]}" --model "$MODEL" -K 2 --no-train --out "$OUT/warm")
if ls "$XDG_CACHE_HOME"/taclust/*/nouns-*.npy >/dev/null 2>&1; then echo "$LABEL: already cached"
else t "${WARM[@]}"; fi
rm -rf "$OUT/run"
LABEL="1. cluster, 1,000 images (first run)";  t build/taclust cluster "$IMG" --model "$MODEL" -K 10 --out "$OUT/run"
LABEL="2. cluster, same folder (second run)";  t build/taclust cluster "$IMG" --model "$MODEL" -K 10 --out "$OUT/run"
LABEL="3. cluster --no-train (second run)";     t build/taclust cluster "$IMG" --model "$MODEL" -K 10 --no-train --out "$OUT/run"
echo "targets (issue #4): run 1 under 120 s, run 2 under 20 s; (issue #3): step 0 under 900 s"
