#!/usr/bin/env bash
# install-dev-deps.sh - the independent reference oracles used by tools/gen_*.py to regenerate fixtures and by
# the benchmarks in bench/ (never needed by the tests): PyTorch, NumPy, SciPy, scikit-learn, faiss, Pillow.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3-torch python3-numpy python3-scipy python3-sklearn python3-faiss \
    python3-pil python3-regex clang libclang-rt-14-dev hyperfine ffmpeg >/dev/null
echo "install-dev-deps: done"
