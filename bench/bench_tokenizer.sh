#!/bin/sh
# bench_tokenizer.sh - CLIP tokenizer on all WordNet noun lemmas x 7 TAC templates: taclust vs the Python
# reference (tools/ref_clip_tokenizer.py, a re-implementation of OpenAI's simple_tokenizer with the same
# regex/html modules and the same per-word memo; OpenAI's own runs at the same speed, less ftfy's cost).
#
#   bench/bench_tokenizer.sh [REPEATS] [PY_LEMMAS]     (from the repo root; defaults 5 and all lemmas)
# Prints the machine, load, threads, the C medians for 1 and all OpenMP threads and the Python time (one run).
set -eu
R=${1:-5}
PYL=${2:-0}
make -s build/bench_tokenizer >/dev/null
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "threads: OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
build/bench_tokenizer ../shared/models/clip-vit-base-patch32 "$R" | tee /tmp/bench_tokenizer.$$ | grep '^#'
awk '/^tac /{printf "taclust  %d thread(s): median %.3f s = %.0f prompts/s\n", $2, $3, $4}' /tmp/bench_tokenizer.$$
rm -f /tmp/bench_tokenizer.$$
if [ "$PYL" -gt 0 ]; then /usr/bin/python3 tools/ref_clip_tokenizer.py --bench --limit "$PYL"
else /usr/bin/python3 tools/ref_clip_tokenizer.py --bench; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
