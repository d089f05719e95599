#!/bin/sh
# image.sh - decode + CLIP preprocessing throughput on the 250 ImageNet photos: taclust (C, OpenMP over images)
# side by side with Pillow + NumPy, in the same run, and a bit-exactness check of all 250 tensors.
#   bench/image.sh [THREADS] [REPEATS]        (defaults 2 and 5; run from the repo root)
# Extracts ../shared/datasets/imagenet-sample-250.tar to a temporary folder (removed at the end).
set -e
T=${1:-2}
R=${2:-5}
TAR=${TACLUST_SHARED:-../shared}/datasets/imagenet-sample-250.tar
[ -f "$TAR" ] || { echo "image.sh: $TAR not found" >&2; exit 1; }
make -s build/bench_image
DIR=$(mktemp -d /tmp/taclust-bench-image.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
tar xf "$TAR" -C "$DIR"
echo "== load: $(cat /proc/loadavg)"
build/bench_image --threads "$T" --repeats "$R" --sums "$DIR/c.tsv" "$DIR"/*.JPEG
/usr/bin/python3 bench/image_pillow.py --threads "$T" --repeats "$R" --sums "$DIR/c.tsv" "$DIR"/*.JPEG
