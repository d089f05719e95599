#!/usr/bin/env bash
# install-deps.sh - installs what building and testing taclust needs on Debian 12 (run as root or with sudo).
# Dev-only reference oracles (PyTorch, scikit-learn, faiss) are in tools/install-dev-deps.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config libopenblas-dev libcjson-dev libpng-dev libwebp-dev libjpeg62-turbo-dev \
    zlib1g-dev wordnet-base ca-certificates >/dev/null
# libcurl: models by Hugging Face id are downloaded over HTTPS (src/hub/).
$SUDO apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev >/dev/null
# oneDNN 2.6 (bf16 matmuls of the CLIP towers, src/clip/tac_clip_bf16.c)
$SUDO apt-get install -y -qq --no-install-recommends libdnnl-dev >/dev/null
# Open MPI: `mpirun -np N taclust fit|embed-images|embed-text|bench` (src/mpi/; the build uses it when pkg-config finds
# ompi-c, and the tests run mpirun -np 2 and 3 on this machine).
$SUDO apt-get install -y -qq --no-install-recommends libopenmpi-dev openmpi-bin >/dev/null
# Optional parts, used when present: FFmpeg's libraries decode UCF-101's videos (`taclust bench ucf101`), and
# Chromium renders report.html in the end-to-end test.
$SUDO apt-get install -y -qq --no-install-recommends \
    libavformat-dev libavcodec-dev libswscale-dev libavutil-dev chromium >/dev/null
# The Python package (python/, `import taclust`): NumPy, pytest, and what `pip install --no-build-isolation
# ./python` into a venv needs offline (venv + pip, setuptools and wheel to build it); scikit-learn and SciPy are
# optional references of its metrics tests.
$SUDO apt-get install -y -qq --no-install-recommends \
    python3 python3-numpy python3-pytest python3-venv python3-pip python3-setuptools python3-wheel \
    python3-sklearn python3-scipy >/dev/null
# libFuzzer (clang's runtime) and clang's OpenMP (libomp, not pulled in without recommends): `make fuzz`; .ci/run fuzzes the torch checkpoint reader for 20 s after the tests.
$SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev libomp-14-dev >/dev/null
echo "install-deps: done"
