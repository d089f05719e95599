#!/usr/bin/env bash
# qemu_nehalem.sh - the portable binary on a CPU without AVX, AVX2 or FMA: runs build/taclust under QEMU's user-mode
# emulation of an Intel Nehalem (SSE4.2 is its newest vector set) and compares what it computes with the same
# commands run natively. Not part of CI (emulation is slow: about a minute). Needs Debian's qemu-user.
#
#   bash tools/qemu_nehalem.sh [BIN]          # BIN: build/taclust by default; OLD_BIN=...: also show that a binary
#                                             # built for x86-64-v3 stops there with SIGILL
# What it runs, natively and under `qemu-x86_64 -cpu Nehalem`: taclust --version (the kernels must say "scalar",
# oneDNN an SSE level), k-means (spherical and L2) and kNN on the cluster fixtures, CLIP preprocessing of the test
# images, the tiny CLIP model's image and text features (fp32). Labels, neighbours and preprocessed pixels must be
# identical; features within 1e-5 (relative) of the native run (which uses the AVX2 kernels).
# OpenBLAS picks its kernels from cpuid too; OPENBLAS_CORETYPE is unset here (a value such as Haswell would make
# it run AVX2 code on the emulated CPU). OMP_WAIT_POLICY is set so taclust does not re-execute itself (the
# re-executed process would run natively, outside the emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/taclust}
command -v qemu-x86_64 >/dev/null || { echo "qemu_nehalem: qemu-x86_64 not found (apt-get install qemu-user)"; exit 77; }
unset OPENBLAS_CORETYPE TACLUST_ISA
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 TACLUST_PRECISION=fp32
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taclust-qemu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
Q="qemu-x86_64 -cpu Nehalem"
M=tests/fixtures/clip/tiny
IMGS=$(ls tests/fixtures/image/*.jpg tests/fixtures/image/*.png | grep -v /bad_)
printf 'a photo of a cat\na diagram of a bridge\nthe dog\n' > "$tmp/prompts.txt"

echo "== native:  $($BIN --version)"
nv=$($Q "$BIN" --version)
echo "== Nehalem: $nv"
case "$nv" in *"kernels scalar;"*) ;; *) echo "qemu_nehalem: FAIL: the kernels do not say scalar under Nehalem"; exit 1;; esac
run() {   # run DIR PREFIX...: the workload, outputs into DIR
    local d=$1; shift
    mkdir -p "$d"
    "$@" "$BIN" kmeans tests/fixtures/cluster/sph_X.npy -k 8 --spherical --nredo 2 --out "$d/sph.npy" >/dev/null 2>&1
    "$@" "$BIN" kmeans tests/fixtures/cluster/l2_X.npy -k 8 --nredo 2 --out "$d/l2.npy" >/dev/null 2>&1
    "$@" "$BIN" knn tests/fixtures/cluster/sph_X.npy -k 10 --out "$d/knn.npy" >/dev/null 2>&1
    # shellcheck disable=SC2086
    "$@" "$BIN" preprocess $IMGS --out "$d/P.npy" >/dev/null 2>&1
    # shellcheck disable=SC2086
    "$@" "$BIN" embed-images --quiet --model $M --out "$d/X.npy" $IMGS >/dev/null 2>&1
    "$@" "$BIN" embed-text --quiet --model $M --prompts "$tmp/prompts.txt" --out "$d/T.npy" >/dev/null 2>&1
}
t0=$(date +%s.%N)
run "$tmp/native"
t1=$(date +%s.%N)
run "$tmp/nehalem" $Q
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "== workload: native %.1f s, under qemu -cpu Nehalem %.1f s\n", b - a, c - b }'
fail=0
for f in sph l2 knn P; do
    if cmp -s "$tmp/native/$f.npy" "$tmp/nehalem/$f.npy"; then echo "  identical: $f.npy"
    else echo "  FAIL: $f.npy differs"; fail=1; fi
done
/usr/bin/python3 - "$tmp" <<'PYEOF' || fail=1
import sys, numpy as np
t = sys.argv[1]
bad = 0
for f in ("X", "T"):
    a, b = np.load(t + "/native/" + f + ".npy"), np.load(t + "/nehalem/" + f + ".npy")
    rel = float(np.max(np.abs(a - b).max(axis=1) / np.abs(a).max(axis=1)))
    ok = a.shape == b.shape and rel <= 1e-5
    print("  %s %s.npy %s: max relative difference %.3g" % ("within 1e-5:" if ok else "FAIL:", f, a.shape, rel))
    bad |= not ok
sys.exit(bad)
PYEOF
if [ -n "${OLD_BIN:-}" ]; then
    set +e
    $Q "$OLD_BIN" --version >/dev/null 2>&1
    rc=$?
    set -e
    echo "== $OLD_BIN under Nehalem: exit code $rc$([ $rc = 132 ] && echo ' (SIGILL: illegal instruction)')"
fi
[ $fail = 0 ] && echo "qemu_nehalem: ok" || { echo "qemu_nehalem: FAILED"; exit 1; }
