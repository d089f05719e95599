#!/usr/bin/env bash
# bench_clip.sh - CLIP throughput of taclust side by side with PyTorch CPU and ONNX Runtime, in one run:
#   1. the sgemm ceiling of this machine (cblas_sgemm at 1024^3 and at every GEMM shape of the ViT-B/32 tower,
#      threaded and as single-threaded workers side by side, the faster of the two);
#   2. the ViT-B/32 image tower at batch 32 on random weights of the real shapes: taclust, PyTorch (our own
#      module over the same safetensors, bench/clip_torch.py) and ONNX Runtime (onnxruntime-node on the
#      torch.onnx.export of that module, bench/clip_onnx.js), all on the same pixels, outputs compared;
#   3. the text tower on WordNet noun prompts x TAC's 7 templates: prompts/s and the projected time for
#      146,347 x 7, with PyTorch on a subset of the same token ids.
# Where the CPU has bf16 (taclust --version says "CPU bf16: yes"), also: the oneDNN bf16 matmul ceiling at the same
# shapes, the towers with --precision bf16 (and with oneDNN threading whole chunks instead of side-by-side workers,
# TACLUST_CLIP_WORKERS=1), PyTorch under torch.autocast("cpu", dtype=torch.bfloat16), and bf16 vs fp32 cosines.
#
#   bash bench/bench_clip.sh                 # REPEATS=10 NOUNS=2000 THREADS=2 by default
#   KEEP_CORETYPE=1 bash bench/bench_clip.sh # keep an OPENBLAS_CORETYPE set in the environment
# Needs: /usr/bin/python3 with torch 1.13 + numpy, node + npm (onnxruntime-node is installed into
# bench/onnx/node_modules on first use), wordnet-base. Everything it writes goes to build/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/bench
MODEL=${MODEL:-$OUT/clip-b32-random}
REPEATS=${REPEATS:-10}
NOUNS=${NOUNS:-2000}
THREADS=${THREADS:-2}
SHARED=${TACLUST_SHARED:-../shared}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# as the taclust CLI does: spinning OpenMP workers starve OpenBLAS's threads (text tower 2x slower with spinning)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
if [ -z "${KEEP_CORETYPE:-}" ] && [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "note: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE so OpenBLAS picks its kernels for this CPU (KEEP_CORETYPE=1 keeps it)"
    unset OPENBLAS_CORETYPE
fi
mkdir -p "$OUT"
make -s -j2 bench >/dev/null
BIN=build/bench_clip
[ -f "$MODEL/model.safetensors" ] || /usr/bin/python3 bench/make_random_b32.py "$MODEL"
if [ ! -d bench/onnx/node_modules/onnxruntime-node ]; then
    (cd bench/onnx && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund >/dev/null)
fi
LOG=$OUT/bench_clip.log
: > "$LOG"
run() { echo "+ $*" | tee -a "$LOG"; "$@" 2>&1 | tee -a "$LOG"; }

echo "=== $(date -u '+%F %T UTC'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY" | tee -a "$LOG"
run "$BIN" sgemm --batch 32
BF16=0
if build/taclust --version | tee -a "$LOG" | grep -q 'CPU bf16: yes'; then BF16=1; fi
[ $BF16 = 1 ] && run "$BIN" dnnl --batch 32
run "$BIN" image "$MODEL" --batch 32 --repeats "$REPEATS" --pixels-out $OUT/pixels32.npy --feat-out $OUT/feat32_taclust.npy
if [ $BF16 = 1 ]; then
    run "$BIN" image "$MODEL" --batch 32 --repeats "$REPEATS" --precision bf16 --feat-out $OUT/feat32_taclust_bf16.npy
    run env TACLUST_CLIP_WORKERS=1 "$BIN" image "$MODEL" --batch 32 --repeats "$REPEATS" --precision bf16
    run /usr/bin/python3 bench/clip_torch.py image "$MODEL" $OUT/pixels32.npy --ref $OUT/feat32_taclust.npy \
        --repeats "$REPEATS" --threads "$THREADS" --bf16
fi
ONNX=$OUT/vitb32.onnx
EXPORT=()
if [ ! -f $ONNX ] || [ "$MODEL/model.safetensors" -nt $ONNX ]; then EXPORT=(--onnx-out $ONNX); fi
run /usr/bin/python3 bench/clip_torch.py image "$MODEL" $OUT/pixels32.npy --ref $OUT/feat32_taclust.npy \
    --repeats "$REPEATS" --threads "$THREADS" "${EXPORT[@]}"
run node bench/clip_onnx.js $ONNX $OUT/pixels32.npy $OUT/feat32_taclust.npy --repeats "$REPEATS" --threads "$THREADS"
# end to end: `taclust embed-images` (decode + preprocess in parallel, then the tower) on 250 ImageNet photos
if [ ! -d $OUT/imagenet-sample ]; then
    mkdir -p $OUT/imagenet-sample && tar xf "$SHARED/datasets/imagenet-sample-250.tar" -C $OUT/imagenet-sample
fi
T0=$(date +%s.%N)
run build/taclust --quiet embed-images --model "$MODEL" --precision fp32 --resize 256 --batch 32 --out $OUT/imagenet250.npy $OUT/imagenet-sample
T1=$(date +%s.%N)
N250=$(wc -l < $OUT/imagenet250.paths.txt)
echo "RESULT e2e_images_per_s=$(awk "BEGIN { printf \"%.2f\", $N250 / ($T1 - $T0) }")" | tee -a "$LOG"
if [ $BF16 = 1 ]; then
    T0=$(date +%s.%N)
    run build/taclust --quiet embed-images --model "$MODEL" --precision bf16 --resize 256 --batch 32 --out $OUT/imagenet250_bf16.npy $OUT/imagenet-sample
    T1=$(date +%s.%N)
    echo "RESULT e2e_images_per_s_bf16=$(awk "BEGIN { printf \"%.2f\", $N250 / ($T1 - $T0) }")" | tee -a "$LOG"
fi
run "$BIN" text "$MODEL" --nouns "$NOUNS" --batch 512 --tokens-out $OUT/tokens.npy --feat-out $OUT/text_taclust.npy
run /usr/bin/python3 bench/clip_torch.py text "$MODEL" $OUT/tokens.npy --ref $OUT/text_taclust.npy --threads "$THREADS"
[ $BF16 = 1 ] && run "$BIN" text "$MODEL" --nouns "$NOUNS" --batch 512 --precision bf16
echo "=== done $(date -u '+%T UTC'), load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"

# summary from the RESULT lines
/usr/bin/python3 - "$LOG" "$OUT" <<'EOF'
import os, re, sys
import numpy as np
r = dict(re.findall(r"RESULT (\w+)=(\S+)", open(sys.argv[1]).read()))
f = lambda k: float(r[k]) if k in r else float("nan")
print("\n=== summary (medians; ViT-B/32 shapes, random weights, batch 32)")
print(f"  sgemm 1024^3: {f('sgemm_1024_gflops'):.1f} GFLOP/s; tower GEMMs {f('gemm_gflop_per_image'):.2f} GFLOP/image;"
      f" GEMM-only ceiling {f('ceiling_images_per_s'):.1f} images/s")
c = f('ceiling_images_per_s')
for name, k in (("taclust", "taclust_images_per_s"), ("PyTorch", "torch_images_per_s"), ("ONNX Runtime", "onnx_images_per_s")):
    print(f"  image tower {name:13s} {f(k):7.2f} images/s  ({100 * f(k) / c:.0f}% of the ceiling)")
print(f"  end to end, taclust embed-images on 250 ImageNet JPEGs (decode, resize 256, crop, tower, model load included):"
      f" {f('e2e_images_per_s'):.2f} images/s")
print(f"  max |torch - taclust| {r.get('torch_image_maxdiff', '?')}, max |onnx - taclust| {r.get('onnx_image_maxdiff', '?')}")
print(f"  text: taclust {f('taclust_prompts_per_s'):.0f} prompts/s (mean {f('mean_tokens'):.1f} tokens); PyTorch same batching"
      f" {f('torch_prompts_per_s'):.0f}, PyTorch at 77 tokens {f('torch_prompts_per_s_ctx77'):.0f};"
      f" max |torch - taclust| {r.get('torch_text_maxdiff', '?')}")
print(f"  projected 146,347 x 7 from the sample: {f('projected_min_all'):.1f} min if every prompt ran,"
      f" {f('projected_min_dedup'):.1f} min with taclust's dedup; the sample ran {f('rows_per_prompt'):.2f} token rows per prompt"
      f" (template prefixes are {100 * f('prefix_share'):.0f}% of its tokens and run once per chunk)."
      f" The real figure: time taclust embed-text --nouns on the full list, which prints its rows per prompt")
if 'taclust_images_per_s_bf16' in r:
    cb, b16, b32 = f('ceiling_images_per_s_bf16'), f('taclust_images_per_s_bf16'), f('taclust_images_per_s')
    tb = f('torch_bf16_images_per_s')
    print(f"  bf16 (oneDNN): bf16 matmul 1024^3 {f('dnnl_bf16_1024_gflops'):.1f} GFLOP/s; GEMM-only ceiling {cb:.1f} images/s"
          f" (threaded {f('ceiling_threaded_images_per_s_bf16'):.1f}, side-by-side workers {f('ceiling_workers_images_per_s_bf16'):.1f})")
    print(f"  image tower taclust bf16  {b16:7.2f} images/s  ({100 * b16 / cb:.0f}% of the bf16 ceiling; target >= 70%)")
    print(f"    with oneDNN threading whole chunks (TACLUST_CLIP_WORKERS=1): {f('taclust_images_per_s_bf16_workers1'):.2f} images/s")
    print(f"    taclust bf16 / taclust fp32 = {b16 / b32:.2f}x (target >= 1.6x with AVX512-BF16, >= 3x with AMX)")
    print(f"    PyTorch autocast bf16 {tb:.2f} images/s; taclust bf16 / PyTorch bf16 = {b16 / tb:.2f}x (target >= 1.0x, AMX 1.2x);"
          f" PyTorch bf16 min cosine to taclust fp32 {r.get('torch_bf16_min_cosine', '?')}")
    a, b = np.load(os.path.join(sys.argv[2], 'feat32_taclust.npy')), np.load(os.path.join(sys.argv[2], 'feat32_taclust_bf16.npy'))
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"    taclust bf16 vs fp32 features: per-row cosine min {cos.min():.6f} mean {cos.mean():.6f}")
    print(f"  end to end bf16: {f('e2e_images_per_s_bf16'):.2f} images/s; text bf16 {f('taclust_prompts_per_s_bf16'):.0f} prompts/s,"
          f" projected {f('projected_min_dedup_bf16'):.1f} min for 146,347 x 7 with dedup")
EOF
