#!/usr/bin/python3
"""scale_model.py - the cost model of docs/scale.md: TAC on ImageNet-1K end to end (embedding included), FLOPs,
bytes and memory per stage, and the PROJECTED wall time on R = 1, 8, 64 machines of 2 or 32 cores over 10 GbE
or 100 Gb/s InfiniBand with a data-parallel split. Standard library only; prints the tables the doc quotes.

usage: /usr/bin/python3 tools/scale_model.py [--haswell] [--iters N] [--fp32] [--heads-fp32] [--knn-sgemm]
  --haswell    fit-stage rates measured with OPENBLAS_CORETYPE=Haswell instead of OpenBLAS's AVX-512 kernels
  --iters N    centre k-means iterations in all (default 119: the 10 redos' total at 1/20 scale; 3000 = the cap)
  --fp32       image and text towers in fp32 instead of bf16
  --heads-fp32 the heads' products in fp32 (taclust's default) instead of bf16 (--heads-precision bf16)
  --knn-sgemm  the exact kNN on sgemm tiles (TACLUST_NO_BF16=1) instead of its bf16 screen (the default where
               the CPU has bf16)

Every rate below is a measurement on ONE 2-core AMD EPYC (Zen 5, AVX512-BF16, no AMX), with its command.
Nothing multi-machine was measured: there is no second machine here (taclust's MPI runs were measured only as
ranks on this one machine).
Everything for R > 1, and everything for 32 cores (per-core rate x 32: a linear-scaling assumption that memory
bandwidth may cap), is PROJECTED.
"""
import argparse
import math

# ---- problem (tac-method.md sections 4 and 10; the imagenet1k preset) ----
N, NTEST, D = 1_281_167, 50_000, 512
M, PROMPTS = 146_347, 7
K, B, EPOCHS, NN = 1000, 8192, 100, 50
KC = round(N / 300)                      # 4271 semantic centres
NT = 256 * KC                            # 1,093,376 k-means training rows (faiss's 256 per centroid)
S = 5 * KC                               # <= 21,355 selected nouns
H = 512                                  # heads' hidden width
HEAD_PARAMS = 2 * (H * D + 3 * H + K * H + K)   # trainable floats of the two heads (tac_heads.c file layout)
STEPS = EPOCHS * (N // B)                # drop_last: 156 steps per epoch
JPEG_BYTES = 27.0e6 / 250                # mean ImageNet JPEG (../shared/datasets/imagenet-sample-250.tar: 27.0 MB)
PREPROC_BYTES = 3 * 224 * 224 * 4        # one preprocessed fp32 image tensor
F4, GB = 4, 1e9

# ---- ViT-B/32 FLOPs (2 per multiply-add) ----
def vit_image_flop():
    t, w, L, mlp = 50, 768, 12, 3072     # 49 patches + CLS, width, layers, MLP width
    per_layer = 4 * t * w * w + 2 * t * w * mlp + 2 * t * t * w   # qkv + out, MLP, QK^T and AV
    patch = 49 * (3 * 32 * 32) * w
    return 2 * (L * per_layer + patch + w * 512)
IMG_FLOP = vit_image_flop()              # 8.8 GFLOP: 779 GFLOP/s / 88.4 img/s ceiling of closing.md agrees
TOKEN_ROWS = 3.66                        # token rows computed per prompt (shared prefixes merged), closing.md
TXT_TOKEN_FLOP = 2 * 12 * (12 * 512 * 512)   # width 512, 12 layers: 4 w^2 attention + 8 w^2 MLP per token
TXT_FLOP = M * PROMPTS * TOKEN_ROWS * TXT_TOKEN_FLOP

# ---- measured rates, one 2-core machine (the commands are in docs/scale.md's "Rates used" table) ----
RATE = dict(
    decode=1013.0,          # img/s, 2 threads, quiet: bench/image.sh (README Speed)
    img_bf16=76.2,          # img/s, batch 32, quiet: bench/bench_clip.sh (closing.md)
    img_fp32=41.8,          # same run
    text_bf16_s=419.9,      # s for all 1,024,429 prompts: taclust embed-text --nouns --precision bf16 (closing.md)
    text_fp32_s=832.0,      # 13 min 52 s: taclust embed-text --nouns (README Speed)
    kmeans_iter_s_avx512=38.3,   # s per full-size centre iteration: 3 iterations (setup included) in 114.8 s, one
    kmeans_iter_s_haswell=60.8,  # scoring pass alone 17.2 s; Haswell 182.3 s and 31.9 s: `build/bench_kmeans X.npy
                                 # 4271 3 1 1`, random 1,093,376 x 512, quiet machine (2026-12-03)
    select_s=3.1 * 20 * 0.15,      # bench_scale.sh 0.05 at 15% of the cores, x20 growth -> 9.3 s
    retrieve_s=9.6 * 400 * 0.15,   # same run, x400 growth -> 576 s
    notrain_s=26.0 * 20 * 0.15,    # same run, x20 -> 78 s (test split only)
    baseline_s=11.9 * 20 * 0.15,   # same run, x20 -> 36 s
)
# exact kNN, "effective" FLOP/s counting all N^2 products (the symmetric tiles compute half of them), keyed by
# (OpenBLAS kernels, path): random 120,000 x 512, k = 50, quiet machine, one run of each path side by side:
# `OPENBLAS_NUM_THREADS=2 build/bench_knn X.npy 50 1` (2026-12-03; sgemm 33.1 s AVX-512 / 50.4 s Haswell, bf16 screen
# 23.2 / 22.0 s: the bf16 path does not use OpenBLAS, so both runs measure it; 342 candidates examined per row)
KNN_EFF = {('avx512', 'sgemm'): 445e9, ('haswell', 'sgemm'): 293e9,
           ('avx512', 'bf16'): 650e9, ('haswell', 'bf16'): 650e9}
# s per heads step at B = 8192, K = 1000, H = 512 (2 threads, one head each), keyed by (kernels, heads precision):
# `build/bench_heads 1 16384 1000 8192 5`, medians of 5, quiet machine, two runs per kernel set (2026-12-03):
# fp32 1.22 / 1.31 s AVX-512, 2.03 / 2.05 s Haswell; bf16 0.79 / 0.92 s and 1.03 / 0.82 s (its products are
# oneDNN's, the kernel set does not matter: the 4 runs' median, 0.87 s, is used for both)
HEAD_STEP_S = {('avx512', 'fp32'): 1.27, ('haswell', 'fp32'): 2.04,
               ('avx512', 'bf16'): 0.87, ('haswell', 'bf16'): 0.87}
HEAD_CALLS = 8                                  # allreduces per data-parallel step (tac_heads_dist.c)
# FLOPs of a step: the heads' linear maps 0.135 TFLOP (forward, weight and input gradients over 2B rows per head)
# plus per distillation term the similarities (fp32: ssyrk, M^2 B; bf16: 3/4 of 2 M^2 B) and the gradient 2 M^2 B,
# M = 2K
_M = 2 * K
HEAD_STEP_FLOP = {'fp32': 2 * (2 * 2 * (2 * B) * (D * H + H * K) + 2 * (2 * B) * H * K)
                  + 2 * (_M * _M * B + 2 * _M * _M * B),
                  'bf16': 2 * (2 * 2 * (2 * B) * (D * H + H * K) + 2 * (2 * B) * H * K)
                  + 2 * (0.75 * 2 * _M * _M * B + 2 * _M * _M * B)}

# best product rates on the 2 cores (GFLOP/s as 2 M N K / time): `build/bench_gemm 5`, quiet machine, the best
# shape's median of each (2026-12-03): OpenBLAS sgemm with its AVX-512 kernels, oneDNN bf16 (rounding included)
GEMM_BEST = {'sgemm': 358e9, 'bf16': 646e9}

# ---- networks (assumed, not measured): effective bandwidth (bytes/s) and per-message latency (s) ----
NETS = {'10GbE': (1.17e9, 30e-6), 'IB100': (12.0e9, 2e-6)}
MEM_PER_MACHINE = {2: 24e9, 32: 128e9}          # 24 GB: this machine; 128 GB: an assumed 32-core node


def allreduce(nbytes, R, net, calls=1):   # ring allreduce: each rank sends and receives 2 (R-1)/R of the bytes;
    bw, lat = NETS[net]                      # `calls` separate allreduces pay the 2 latencies each
    return 0.0 if R == 1 else 2 * (R - 1) / R * nbytes / bw + calls * 2 * (R - 1) * lat


def allgather(total_bytes, R, net):   # every rank ends with the whole; each receives (R-1)/R of it
    bw, lat = NETS[net]
    return 0.0 if R == 1 else (R - 1) / R * total_bytes / bw + (R - 1) * lat


def stages(kern, iters, fp32, hprec, kpath):
    """Per stage: FLOPs, bytes streamed (memory/disk), network bytes per rank for R machines, memory per rank,
    one-2-core-machine compute seconds, and a function giving (compute, network) seconds on R machines of c cores."""
    img_rate = RATE['img_fp32' if fp32 else 'img_bf16']
    nimg = N + NTEST
    knn_t1 = 2 * 2 * N * N * D / KNN_EFF[(kern, kpath)]          # both spaces, symmetric tiles (N^2/2 products each)
    st = []

    def add(name, flop, streamed, net_desc, mem, t1, split, comm):
        st.append(dict(name=name, flop=flop, streamed=streamed, net_desc=net_desc, mem=mem, t1=t1, split=split,
                       comm=comm))

    # 1. decode + preprocess, and the image tower: shards of images, no exchange but the outputs
    t_img = nimg / img_rate + nimg / RATE['decode']
    add('embed images (decode + ViT-B/32)', nimg * IMG_FLOP,
        nimg * JPEG_BYTES + nimg * (D * F4),
        'JPEGs from a file server: 144 GB in all; embeddings out: (N+Nt) x D x 4 B = 2.7 GB in all',
        lambda R: 2.5e9, t_img, lambda R, c: t_img * 2 / c / R,
        lambda R, net: 0.0 if R == 1 else max(nimg * JPEG_BYTES / NETS[net][0],          # the server's one link
                                             nimg * JPEG_BYTES / R / NETS[net][0]))
    # 2. text tower: shards of nouns; the M x D ensembles allgathered (every rank selects and retrieves)
    t_txt = RATE['text_fp32_s' if fp32 else 'text_bf16_s']
    add('embed text (146,347 nouns x 7 prompts)', TXT_FLOP, M * D * F4,
        'allgather M x D x 4 B = 0.30 GB', lambda R: 1.5e9, t_txt, lambda R, c: t_txt * 2 / c / R,
        lambda R, net: allgather(M * D * F4, R, net))
    # 3. centre k-means (tac_kmeans_dist): each rank scores a run of whole score tiles; per iteration the NT labels
    # and scores are allgathered (8 B a row), each rank sums its share of the clusters over all rows in point order
    # (bit-identical to one process) and the k x D float sums and k counts are allgathered. Every rank holds the
    # whole subsample and normalised train matrix (the sums read any row).
    it_flop = 2 * NT * KC * D
    t_km = iters * RATE['kmeans_iter_s_' + kern]
    km_bytes = NT * 8 + KC * D * F4 + KC * 8
    add('centres: k-means, k = 4271, %d iterations' % iters, iters * it_flop, iters * NT * D * F4,
        'per iteration allgather NT labels + scores (8 B a row) + k x D x 4 B sums + k counts = %.1f MB'
        % (km_bytes / 1e6),
        lambda R: NT * D * F4 + N * D * F4 + (NT * 64 * 8 if R == 1 else NT * 8) + 2 * KC * D * F4, t_km,
        lambda R, c: t_km * 2 / c / R, lambda R, net: iters * allgather(km_bytes, R, net))
    # 4. noun selection: small, replicated on every rank (each already holds T and the centroids)
    add('noun selection (k x M)', 2 * KC * M * D, (KC + M) * D * F4, 'none (replicated)',
        lambda R: M * D * F4 + KC * D * F4, RATE['select_s'], lambda R, c: RATE['select_s'] * 2 / c,
        lambda R, net: 0.0)
    # 5. retrieval (tac_retrieve_dist): whole row blocks split, the S x D selected nouns on every rank; the text
    # counterparts (and the test split's N_test x S weights) allgathered, since the kNN and heads read any row
    rt_bytes = (N + NTEST) * D * F4 + NTEST * S * F4
    add('retrieval (train + test) x S', 2 * (N + NTEST) * S * D, (N + NTEST) * D * F4 * 2 + S * D * F4,
        'allgather (N + Nt) x D x 4 B counterparts + Nt x S x 4 B weights = %.1f GB' % (rt_bytes / 1e9),
        lambda R: 2 * (N + NTEST) * D * F4 + M * D * F4,
        RATE['retrieve_s'], lambda R, c: RATE['retrieve_s'] * 2 / c / R, lambda R, net: allgather(rt_bytes, R, net))
    # 6. TAC without training and the baseline: the 50,000-row test split, tac_kmeans_dist as the centres (K =
    # 1000: score tiles of 1,040 rows); per iteration allgather Nt x 8 B + K x 2D x 4 B sums + K counts; about
    # 200 iterations in all (20 redos that stop at their fixed points after ~10, as on the synthetic data)
    t_tb = RATE['notrain_s'] + RATE['baseline_s']
    tb_bytes = NTEST * 8 + K * 2 * D * F4 + K * 8
    add('no-train + baseline (test split; FLOPs per iteration)', 2 * NTEST * K * 2 * D, NTEST * 2 * D * F4,
        'per iteration allgather %.1f MB (~200 iterations)' % (tb_bytes / 1e6), lambda R: 1e9, t_tb,
        lambda R, c: t_tb * 2 / c / R, lambda R, net: 200 * allgather(tb_bytes, R, net))
    # 7. exact kNN, both spaces (tac_knn_cosine_dist): the symmetric upper-triangle tiles dealt round-robin (no
    # extra products), each rank keeps partial top-50 lists of every row; the partial lists go to each row's
    # owner (alltoall, N x 50 x 8 B per space) and the merged lists are allgathered (N x 50 x 4 B indices)
    kx_bytes = 2 * (N * NN * 8 + N * NN * 4)
    add('kNN exact, 50 neighbours, image + text space', 2 * 2 * N * N * D / 2,
        2 * N * D * F4 * math.ceil(N / 4096),
        'alltoall partial lists N x 50 x 8 B + allgather N x 50 x 4 B per space, both spaces: %.2f GB' % (kx_bytes / 1e9),
        lambda R: 2 * N * D * F4 + N * D * F4 + N * NN * 16 + 2 * N * NN * 8 + (N * D * 2 if kpath == 'bf16' else 0),
        knn_t1,
        lambda R, c: knn_t1 * 2 / c / R,
        lambda R, net: 0.0 if R == 1 else (R - 1) / R * kx_bytes / NETS[net][0] + 4 * (R - 1) * NETS[net][1]
        * math.ceil(N * NN / R / (1 << 22)))
    # 8. heads (tac_heads_train_dist): data-parallel over the batch (B/R rows a rank); per step HEAD_CALLS
    # allreduces: BatchNorm sums forward and backward (synchronised BatchNorm), the loss's column sums, the two
    # cluster-level 2K x 2K products (sums over the batch rows), the distillation backward's column dots, and the
    # parameter gradients
    t_h = STEPS * HEAD_STEP_S[(kern, hprec)]
    t_h_dist = STEPS * HEAD_STEP_S[(kern, 'fp32')]   # data-parallel training is fp32 only (tac_heads_train_dist)
    step_bytes = HEAD_PARAMS * F4 + 2 * (2 * K) ** 2 * F4 + 2 * 2 * K * 8 + 8 * 2 * H * F4 + 2 * K * F4
    add('heads: %d steps, B = 8192, K = 1000' % STEPS, STEPS * HEAD_STEP_FLOP[hprec],
        STEPS * (4 * B * D * F4 + 8 * B * 2 * K * F4),
        'per step allreduce %.1f MB (grads %.1f MB + 2 Gram 2K x 2K)' % (step_bytes / 1e6, HEAD_PARAMS * F4 / 1e6),
        lambda R: 2 * N * D * F4 + 2 * N * NN * 8 + 0.6e9 / R, t_h,
        lambda R, c: (t_h if R == 1 else t_h_dist) * 2 / c / R,
        lambda R, net: STEPS * allreduce(step_bytes, R, net, calls=HEAD_CALLS))
    return st


def fmt_f(x):
    for u, v in (('PFLOP', 1e15), ('TFLOP', 1e12), ('GFLOP', 1e9)):
        if x >= v:
            return '%.3g %s' % (x / v, u)
    return '%.3g FLOP' % x


def fmt_b(x):
    for u, v in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6)):
        if x >= v:
            return '%.3g %s' % (x / v, u)
    return '%.0f B' % x


def fmt_t(s):
    if s >= 3600:
        return '%.1f h' % (s / 3600)
    if s >= 60:
        return '%.0f min' % (s / 60)
    return '%.0f s' % s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--haswell', action='store_true')
    ap.add_argument('--iters', type=int, default=119)
    ap.add_argument('--fp32', action='store_true')
    ap.add_argument('--heads-fp32', action='store_true')
    ap.add_argument('--knn-sgemm', action='store_true')
    a = ap.parse_args()
    kern = 'haswell' if a.haswell else 'avx512'
    hprec = 'fp32' if a.heads_fp32 else 'bf16'
    kpath = 'sgemm' if a.knn_sgemm else 'bf16'
    st = stages(kern, a.iters, a.fp32, hprec, kpath)
    print('# TAC on ImageNet-1K: cost model (rates measured on one 2-core machine; all else PROJECTED)')
    print('# kernels: %s; towers: %s; heads: %s products; kNN: %s; centre k-means iterations: %d; heads: %d steps; '
          'image tower %.2f GFLOP/img' % (kern, 'fp32' if a.fp32 else 'bf16', hprec,
                                          'bf16 screen' if kpath == 'bf16' else 'sgemm tiles', a.iters, STEPS,
                                          IMG_FLOP / 1e9))
    print()
    print('## Work per stage (whole job)')
    print('| stage | FLOPs | bytes streamed | network, data-parallel | memory per rank R=1 / 8 / 64 | 1 machine, 2 cores |')
    print('|---|---|---|---|---|---|')
    for s in st:
        print('| %s | %s | %s | %s | %.1f / %.1f / %.1f GB | %s |' % (
            s['name'], fmt_f(s['flop']), fmt_b(s['streamed']), s['net_desc'], s['mem'](1) / GB, s['mem'](8) / GB,
            s['mem'](64) / GB, fmt_t(s['t1'])))
    print()
    print('## Projected wall time, end to end (compute + communication, no overlap assumed)')
    print('| machines x cores | network | embed (img + text) | centres | kNN | heads | rest | total | limited by |')
    print('|---|---|---|---|---|---|---|---|---|')
    for c in (2, 32):
        for R in (1, 8, 64):
            for net in (['-'] if R == 1 else ['10GbE', 'IB100']):
                rows = [(s['name'], s['split'](R, c), s['comm'](R, net if net != '-' else '10GbE')) for s in st]
                tot = sum(x[1] + x[2] for x in rows)
                comp = sum(x[1] for x in rows)
                comm = tot - comp
                peak = max(s['mem'](R) for s in st)

                def g(prefix):
                    return sum(x[1] + x[2] for x in rows if x[0].startswith(prefix))
                emb = g('embed')
                rest = tot - emb - g('centres') - g('kNN') - g('heads')
                worst = max(rows, key=lambda x: x[1] + x[2])
                lim = 'compute (%s)' % worst[0].split(' ')[0].rstrip(':') if comm < 0.25 * tot else \
                    'network %.0f%% (%s)' % (100 * comm / tot, max(rows, key=lambda x: x[2])[0].split(' ')[0].rstrip(':'))
                if peak > MEM_PER_MACHINE[c]:
                    lim += '; memory: %.1f GB > %.0f GB' % (peak / GB, MEM_PER_MACHINE[c] / GB)
                print('| %d x %d | %s | %s | %s | %s | %s | %s | **%s** | %s |' % (
                    R, c, net, fmt_t(emb), fmt_t(g('centres')), fmt_t(g('kNN')), fmt_t(g('heads')), fmt_t(rest),
                    fmt_t(tot), lim))
    fit1 = sum(s['split'](1, 2) for s in st if not s['name'].startswith('embed'))
    print()
    print('fit stages alone (embeddings given), 1 machine x 2 cores: %s' % fmt_t(fit1))
    # the floor: the fit's matrix products alone at the best measured product rates, nothing else counted
    hf, hb = STEPS * HEAD_STEP_FLOP['fp32'], STEPS * HEAD_STEP_FLOP['bf16']
    kn = 2 * 2 * N * N * D / 2                               # both spaces, the symmetric half
    ce = a.iters * 2 * NT * KC * D
    rt = 2 * (N + NTEST) * S * D
    f32 = (hf + kn + ce + rt) / GEMM_BEST['sgemm']
    b16 = (hb + kn) / GEMM_BEST['bf16'] + (ce + rt) / GEMM_BEST['sgemm']   # k-means and retrieval stay fp32
    print()
    print('floor, 1 machine x 2 cores: the fit\'s matrix products alone (heads %.2f PFLOP fp32 / %.2f bf16, kNN %.2f, '
          'centres %.2f, retrieval %.3f) at the best measured product rates (sgemm %.0f, bf16 %.0f GFLOP/s), '
          'everything else free: all fp32 %s; heads and kNN products in bf16 %s'
          % (hf / 1e15, hb / 1e15, kn / 1e15, ce / 1e15, rt / 1e15, GEMM_BEST['sgemm'] / 1e9, GEMM_BEST['bf16'] / 1e9,
             fmt_t(f32), fmt_t(b16)))
    print()
    print('## Communication per rank per stage at R = 64 (seconds of transfer on each network)')
    print('| stage | what is exchanged | 10 GbE | 100 Gb/s IB |')
    print('|---|---|---|---|')
    for s in st:
        print('| %s | %s | %s | %s |' % (s['name'], s['net_desc'], fmt_t(s['comm'](64, '10GbE')),
                                         fmt_t(s['comm'](64, 'IB100'))))
    print()
    print('## Exact cost as N grows (k = N/300 centres, S = min(5k, M) nouns, same iteration counts)')
    print('| N train images | image tower PFLOP | centres PFLOP (%d it) | retrieval PFLOP | kNN PFLOP | heads PFLOP | '
          'kNN reference per rank | projected on 64 x 32 cores, IB |' % a.iters)
    print('|---|---|---|---|---|---|---|---|')
    base = None
    for n in (N, 10_000_000, 100_000_000):
        kc = round(n / 300)
        e = n * IMG_FLOP
        c_ = a.iters * 2 * 256 * kc * kc * D
        r_ = 2 * n * min(5 * kc, M) * D
        k_ = 2 * n * n * D
        h_ = EPOCHS * (n // B) * HEAD_STEP_FLOP[hprec]
        # time: scale each stage of the 64 x 32 IB projection by its FLOP growth
        if base is None:
            rows = {s['name'].split(' ')[0].rstrip(':'): s['split'](64, 32) + s['comm'](64, 'IB100') for s in st
                    if not s['name'].startswith('embed text')}
            base = (rows, e, c_, r_, k_, h_)
        rows, e0, c0, r0, k0, h0 = base
        t = (rows['embed'] * e / e0 + rows['centres'] * c_ / c0 + rows['retrieval'] * r_ / r0
             + rows['kNN'] * k_ / k0 + rows['heads'] * h_ / h0)
        print('| %s | %.3g | %.3g | %.3g | %.3g | %.3g | %.0f GB | %s |' % (
            format(n, ','), e / 1e15, c_ / 1e15, r_ / 1e15, k_ / 1e15, h_ / 1e15, 2 * n * D * F4 / GB, fmt_t(t)))


if __name__ == '__main__':
    main()
