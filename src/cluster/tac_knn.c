/* tac_knn.c - exact cosine k-nearest neighbours of every row among all rows (self excluded).
 *
 * Usage: tac_knn_cosine(X, n, d, k, idx (N x k), sim (N x k or NULL)).
 *
 * Rows are L2-normalised into a copy Xn. The similarity matrix is symmetric, so only the tiles on and above the
 * diagonal are computed (half the product work): tile (I, J), J >= I, is a BLOCK x BLOCK product X_I . X_J^T
 * (multi-threaded, small enough to stay in the last-level cache) and is never stored whole. It feeds two sides:
 * every row of block I reads its tile row (candidates from block J), and every row of block J reads its tile column
 * (candidates from block I; scanned 8 columns at a time against 8 thresholds). Tiles go in I-major order (the bf16
 * path: the diagonal ones first). Each row
 * keeps a bounded min-heap of its k best under a strict total order (higher similarity, then lower index: on equal
 * similarity the lower index is kept); the heap root is the row's threshold and a vectorised compare skips the
 * vast majority of candidates without touching the heap. A scanner thread does all the selection on tile t while
 * the main thread computes tile t+1 (two buffers), so the multi-threaded product never waits for selection.
 * The final lists are sorted by decreasing similarity, then increasing index.
 *
 * Two paths, chosen once per call:
 *  - sgemm (bf16 not native here, TACLUST_NO_BF16=1, or the bf16 workspaces do not fit): the tiles come from
 *    cblas_sgemm on Xn and their values are the similarities.
 *  - the bf16 screen (where tac_bf16_native(), src/core/tac_bf16.h): Xn is rounded once to bf16 (Xb) and each
 *    tile is a oneDNN bf16 product of Xb's blocks (float accumulation; on an AVX512-BF16 core about 300 GFLOP/s,
 *    against 100-185 for OpenBLAS's sgemm), whose scores s~ are within eps_i of the exact similarities (row i's
 *    bound, from its own bf16 rounding residual; the derivation is above knn_bf16_start: about 0.004 for D = 512,
 *    at most 2^-7 + D 2^-24 with a margin). A row's screen threshold is root - eps_i (root: the heap root's exact
 *    similarity, -inf while the heap is not full); a candidate whose score reaches it is examined: its exact
 *    similarity (exact_sim: the double-precision dot of the two unit float rows, rounded to float, a function of
 *    the two rows alone) is offered to the heap. Heaps hold exact values only, and every true member of a list has
 *    s~ >= s - eps_i >= root - eps_i, so the lists are the exact k best (the same as a brute force on exact_sim),
 *    and sim holds exact_sim values (they differ from the sgemm path's in the last bits, so where two candidates
 *    are that close the lists may differ from the sgemm path's too). To examine few: each tile's candidates of a
 *    row are collected first and examined best score first (the first exact values raise the threshold and cut
 *    the rest), and the diagonal tiles come first (each row's first batch is its own block). The product runs on
 *    nthreads - 1 OpenMP threads while the scanner is busy, on all while it is mostly idle (large N).
 *    tac_knn_last_examined (tac_knn.h) counts the examined candidates.
 * Memory: Xn N x D floats (4 N D bytes), the heaps N x k x 16 bytes, two tiles of 4 MB; the bf16 path adds Xb,
 * N x D x 2 bytes (1.3 GB for 1.28M x 512), the bounds (2N doubles, 20 MB) and 8 MB of batches.
 * Portable build: the scans (both paths) and exact_sim have an AVX2 form and a baseline form (their scalar loops,
 * which also finish the AVX2 forms' tails; exact_sim's two forms give the same bits), picked from tac_cpu_level()
 * (src/core/tac_cpu.c).
 *
 * Over several ranks (tac_knn_cosine_dist, taclust/dist.h): every rank takes the same path (the bf16 screen only
 * when every rank can), the same tiles in the same order, tile t computed by rank t % R only, into partial lists of
 * all N rows on every rank; the partial lists of each row go to the row's owner (tac_comm_share of N) in bounded
 * rounds (alltoall), which merges them into the k best under the same total order, and the owners' rows are
 * allgathered. Every similarity is the single-process call's (sgemm: the same sgemm call; bf16: exact_sim), and
 * the k best under a strict total order are unique, so the lists are bit-identical.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_threads.h"
#include "core/tac_cpu.h"
#include "core/tac_dist.h"
#include "core/tac_bf16.h"
#include "cluster/tac_knn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if TAC_X86
#include <immintrin.h>
#endif

#define KNN_BLOCK 1024

typedef struct { float s; int64_t i; } knn_item;
typedef struct { float s; int32_t j; } knn_hit;    /* bf16 path: a candidate's score and its row */

/* a is worse than b: lower similarity, or equal similarity and higher index */
static inline int worse(float as, int64_t ai, float bs, int64_t bi) { return as < bs || (as == bs && ai > bi); }

/* Bounded heap of one row: h[0] is the worst kept candidate. */
static void heap_sift_down(knn_item *h, int m, int pos)
{
    knn_item x = h[pos];
    for (;;) {
        int c = 2 * pos + 1;
        if (c >= m) break;
        if (c + 1 < m && worse(h[c + 1].s, h[c + 1].i, h[c].s, h[c].i)) c++;
        if (!worse(h[c].s, h[c].i, x.s, x.i)) break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

static void heap_push(knn_item *h, int *m, float s, int64_t i)
{
    int pos = (*m)++;
    while (pos > 0) {
        int par = (pos - 1) / 2;
        if (!worse(s, i, h[par].s, h[par].i)) break;
        h[pos] = h[par];
        pos = par;
    }
    h[pos].s = s;
    h[pos].i = i;
}

/* Offer candidate (s, j) to the heap of a row; returns the new threshold (root similarity, -inf if not full). */
static inline float heap_offer(knn_item *h, int *m, int k, float s, int64_t j)
{
    if (*m < k) {
        heap_push(h, m, s, j);
    } else if (worse(h[0].s, h[0].i, s, j)) {
        h[0].s = s;
        h[0].i = j;
        heap_sift_down(h, k, 0);
    }
    return *m < k ? -INFINITY : h[0].s;
}

/* The state of one call's selection. The scanner thread consumes tiles in the order the main thread produces them
 * (knn_next_tile's). Double buffering: the main thread computes tile t+1 while this thread scans tile t; all
 * selection state (heaps, fill, thr, examined, the batches) is touched by the scanner only (or by the main thread
 * when there is no scanner). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int posted, done, quit;            /* tiles handed over / tiles finished; stop flag */
    float *buf[2];                     /* 2 x (BLOCK x BLOCK) similarity tiles */
    int64_t r0[2], nr[2], c0[2], nc[2]; /* each buffer's first row / rows / first column / columns */
    knn_item *heaps;                   /* N x k */
    int *fill;                         /* N */
    float *thr;                        /* N: the value a tile value must reach to be looked at: sgemm, the heap
                                          root's similarity; bf16, screen_thr of it (-inf while not full) */
    int k;
    /* the bf16 screen (bf16 = 1): tiles hold bf16 scores, thr[i] is row i's screen threshold */
    int bf16;
    const float *Xn;                   /* N x D unit rows: the exact similarities' operands */
    int d;
    double *eps;                       /* 2N: eps_i, the bound on row i's |score - exact similarity| (the bf16
                                          screen's comment); then scratch (owned) */
    int64_t examined;                  /* candidates given an exact similarity */
    uint16_t *Xb;                      /* N x D: Xn rounded to bf16 (owned) */
    tac_bf16_mm *mm;                   /* the oneDNN context of the main thread's products on nthreads - 1 threads
                                          (1 without a scanner thread; owned) */
    tac_bf16_mm *mm_all;               /* the same on all nthreads (created on first use; owned) */
    double scan_s;                     /* seconds the scanner spent on its last tile (under mu) */
    knn_hit *rhits;                    /* BLOCK: a row's batch (scan_tile_bf16) */
    knn_hit *chits;                    /* BLOCK x BLOCK: the columns' batches */
    int64_t *ccount;                   /* BLOCK: their sizes */
} knn_pipe;

/* The exact similarity of two unit rows a, b (D floats each): their dot product in double, rounded to float. Each
 * product of two floats is exact in double; the terms are summed into 8 accumulators (term l into l mod 8, in
 * increasing l) combined in a fixed order, so the result is a function of the two rows alone: the same bits for
 * (a, b) and (b, a), whichever tile, rank or code form (AVX2 or scalar, identical sums) computes it. */
TAC_INLINE float exact_tail(const float *a, const float *b, int l, int d, double acc[8])
{
    for (; l < d; l++) acc[l & 7] += (double)a[l] * b[l];
    return (float)(((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
}
static float exact_sim_scalar(const float *a, const float *b, int d)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    return exact_tail(a, b, 0, d, acc);
}
#if TAC_X86
TAC_TARGET_AVX2 static float exact_sim_avx2(const float *a, const float *b, int d)
{
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();   /* accumulators 0-3, 4-7 */
    int l = 0;
    for (; l + 8 <= d; l += 8) {   /* mul then add: the products are exact, so this is the scalar form's sum */
        lo = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + l)),
                                             _mm256_cvtps_pd(_mm_loadu_ps(b + l))));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + l + 4)),
                                             _mm256_cvtps_pd(_mm_loadu_ps(b + l + 4))));
    }
    double acc[8];
    _mm256_storeu_pd(acc, lo);
    _mm256_storeu_pd(acc + 4, hi);
    return exact_tail(a, b, l, d, acc);
}
#endif
static inline float exact_sim(const float *a, const float *b, int d)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) return exact_sim_avx2(a, b, d);
#endif
    return exact_sim_scalar(a, b, d);
}

/* The screen threshold of a row whose heap root has exact similarity root: the largest float <= root - eps
 * (-inf while the heap is not full). A tile score below it cannot belong to a better candidate than the root. */
static inline float screen_thr(float root, double eps)
{
    if (root == -INFINITY) return -INFINITY;
    double v = (double)root - eps;
    float f = (float)v;
    return (double)f > v ? nextafterf(f, -INFINITY) : f;
}

/* ---- the sgemm path's scans: tile values are similarities, thr[i] is row i's heap root -------------------- */

/* The scalar scan of one tile row from column j on: sims[0..nc-1] are the similarities to columns c0.., self = the
 * row's own index; *thr is the row's threshold. */
TAC_INLINE void scan_row_tail(const float *sims, int64_t j, int64_t nc, int64_t c0, int64_t self, knn_item *h,
                              int *m, int k, float *thr)
{
    float t = *thr;
    for (; j < nc; j++) {
        float s = sims[j];
        if (s < t || c0 + j == self) continue;
        t = heap_offer(h, m, k, s, c0 + j);
    }
    *thr = t;
}

/* The scalar scan of the columns j.. of an off-diagonal tile: column j is row c0+j of the data, its candidates are
 * rows r0+i with similarity tile[i*nc + j]. */
TAC_INLINE void scan_cols_tail(const float *tile /* NR x NC */, int64_t j, int64_t nr, int64_t nc, int64_t r0,
                               int64_t c0, knn_item *heaps, int *fill, float *thr, int k)
{
    for (; j < nc; j++) {
        int64_t row = c0 + j;
        float t = thr[row];
        for (int64_t i = 0; i < nr; i++) {
            float s = tile[i * nc + j];
            if (s < t) continue;
            t = heap_offer(heaps + row * k, &fill[row], k, s, r0 + i);
        }
        thr[row] = t;
    }
}

#if TAC_X86
/* One row of a tile, 32 similarities compared with the threshold at a time. */
TAC_TARGET_AVX2 static void scan_row_avx2(const float *sims, int64_t nc, int64_t c0, int64_t self, knn_item *h, int *m,
                                          int k, float *thr)
{
    float t = *thr;
    int64_t j = 0;
    for (; j + 32 <= nc; j += 32) {
        __m256 tv = _mm256_set1_ps(t);
        __m256 a = _mm256_cmp_ps(_mm256_loadu_ps(sims + j), tv, _CMP_GE_OQ);
        __m256 b = _mm256_cmp_ps(_mm256_loadu_ps(sims + j + 8), tv, _CMP_GE_OQ);
        __m256 c = _mm256_cmp_ps(_mm256_loadu_ps(sims + j + 16), tv, _CMP_GE_OQ);
        __m256 e = _mm256_cmp_ps(_mm256_loadu_ps(sims + j + 24), tv, _CMP_GE_OQ);
        uint32_t mask = (uint32_t)_mm256_movemask_ps(a) | ((uint32_t)_mm256_movemask_ps(b) << 8) |
                        ((uint32_t)_mm256_movemask_ps(c) << 16) | ((uint32_t)_mm256_movemask_ps(e) << 24);
        while (mask) {
            int bit = __builtin_ctz(mask);
            mask &= mask - 1;
            int64_t jj = j + bit;
            float s = sims[jj];
            if (c0 + jj == self || s < t) continue;
            t = heap_offer(h, m, k, s, c0 + jj);
        }
    }
    *thr = t;
    scan_row_tail(sims, j, nc, c0, self, h, m, k, thr);
}

/* The columns of an off-diagonal tile, 8 columns at a time compared with their 8 thresholds. */
TAC_TARGET_AVX2 static void scan_cols_avx2(const float *tile /* NR x NC */, int64_t nr, int64_t nc, int64_t r0,
                                           int64_t c0, knn_item *heaps, int *fill, float *thr, int k)
{
    int64_t j = 0;
    for (; j + 8 <= nc; j += 8) {
        __m256 tv = _mm256_loadu_ps(thr + c0 + j);
        for (int64_t i = 0; i < nr; i++) {
            const float *v = tile + i * nc + j;
            uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v), tv, _CMP_GE_OQ));
            if (!mask) continue;
            while (mask) {
                int bit = __builtin_ctz(mask);
                mask &= mask - 1;
                int64_t row = c0 + j + bit;
                if (v[bit] < thr[row]) continue;
                thr[row] = heap_offer(heaps + row * k, &fill[row], k, v[bit], r0 + i);
            }
            tv = _mm256_loadu_ps(thr + c0 + j);
        }
    }
    scan_cols_tail(tile, j, nr, nc, r0, c0, heaps, fill, thr, k);
}
#endif

static int cmp_best_first(const void *a, const void *b)
{
    const knn_item *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* ---- the bf16 path's scans: tile values are scores, thr[i] is row i's screen threshold ----------------------
 * Each side collects, for every row, the tile's candidates whose score reaches the row's threshold as it was when
 * the tile began (a batch), then examines the batch best score first (examine_batch): the first exact
 * similarities raise the threshold, and the rest of the batch is cut by it without being examined. The order in
 * which a row's candidates are offered does not change its list (the heap keeps the k best under a strict total
 * order), so batching changes the work, not the result. */
static inline void hit_sift_down(knn_hit *h, int64_t m, int64_t pos)   /* max-heap on the score */
{
    knn_hit x = h[pos];
    for (;;) {
        int64_t c = 2 * pos + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1].s > h[c].s) c++;
        if (!(h[c].s > x.s)) break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

/* Examines row's batch hits[0..m-1] (scores >= the row's threshold when collected) best score first: each one whose
 * score still reaches the threshold gets its exact similarity and is offered; the first that does not ends the
 * batch (the rest score lower). The threshold is screen_thr of the heap root. */
static void examine_batch(knn_pipe *P, int64_t row, knn_hit *hits, int64_t m)
{
    if (m == 0) return;
    knn_item *h = P->heaps + row * P->k;
    const float *x = P->Xn + row * P->d;
    float t = P->thr[row];
    for (int64_t pos = m / 2 - 1; pos >= 0; pos--) hit_sift_down(hits, m, pos);
    int64_t ex = 0;
    while (m > 0 && hits[0].s >= t) {
        int64_t j = hits[0].j;
        hits[0] = hits[--m];
        hit_sift_down(hits, m, 0);
        float e = exact_sim(x, P->Xn + j * P->d, P->d);
        t = screen_thr(heap_offer(h, &P->fill[row], P->k, e, j), P->eps[row]);
        ex++;
    }
    P->examined += ex;
    P->thr[row] = t;
}

/* The scalar collection of tile row `row`'s batch from column j on (scores sims[0..nc-1] of rows c0..). */
TAC_INLINE int64_t collect_row_tail(const float *sims, int64_t j, int64_t nc, int64_t c0, int64_t row, float t,
                                    knn_hit *hits, int64_t m)
{
    for (; j < nc; j++)
        if (sims[j] >= t && c0 + j != row) hits[m++] = (knn_hit){sims[j], (int32_t)(c0 + j)};
    return m;
}

/* The scalar collection of the column batches of tile row i from column j on: column j's candidate is row r0+i
 * with score v[j], compared with the threshold thr[j] (thr: the columns' rows' thresholds). */
TAC_INLINE void collect_cols_tail(const float *v, int64_t j, int64_t nc, const float *thr, int32_t cand,
                                  knn_hit *chits, int64_t *ccount)
{
    for (; j < nc; j++)
        if (v[j] >= thr[j]) chits[j * KNN_BLOCK + ccount[j]++] = (knn_hit){v[j], cand};
}

#if TAC_X86
TAC_TARGET_AVX2 static int64_t collect_row_avx2(const float *sims, int64_t nc, int64_t c0, int64_t row, float t,
                                                knn_hit *hits)
{
    __m256 tv = _mm256_set1_ps(t);
    int64_t j = 0, m = 0;
    for (; j + 32 <= nc; j += 32) {
        uint32_t mask =
            (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sims + j), tv, _CMP_GE_OQ)) |
            ((uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sims + j + 8), tv, _CMP_GE_OQ)) << 8) |
            ((uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sims + j + 16), tv, _CMP_GE_OQ)) << 16) |
            ((uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sims + j + 24), tv, _CMP_GE_OQ)) << 24);
        while (mask) {
            int64_t jj = j + __builtin_ctz(mask);
            mask &= mask - 1;
            if (c0 + jj != row) hits[m++] = (knn_hit){sims[jj], (int32_t)(c0 + jj)};
        }
    }
    return collect_row_tail(sims, j, nc, c0, row, t, hits, m);
}

TAC_TARGET_AVX2 static void collect_cols_avx2(const float *v, int64_t nc, const float *thr, int32_t cand,
                                              knn_hit *chits, int64_t *ccount)
{
    int64_t j = 0;
    for (; j + 8 <= nc; j += 8) {
        uint32_t mask =
            (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + j), _mm256_loadu_ps(thr + j), _CMP_GE_OQ));
        while (mask) {
            int64_t jj = j + __builtin_ctz(mask);
            mask &= mask - 1;
            chits[jj * KNN_BLOCK + ccount[jj]++] = (knn_hit){v[jj], cand};
        }
    }
    collect_cols_tail(v, j, nc, thr, cand, chits, ccount);
}
#endif

/* Both sides of a bf16 tile: each row of the block's batch (row side), then, off the diagonal, the tile's rows read
 * in order against the columns' thresholds into one batch per column (column side; P->chits: column j's batch at
 * j * BLOCK). */
static void scan_tile_bf16(knn_pipe *P, const float *tile, int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    int avx2 = 0;
#if TAC_X86
    avx2 = tac_cpu_level() >= TAC_ISA_AVX2;
#endif
    for (int64_t i = 0; i < nr; i++) {
        int64_t row = r0 + i, m;
#if TAC_X86
        if (avx2) m = collect_row_avx2(tile + i * nc, nc, c0, row, P->thr[row], P->rhits);
        else
#endif
            m = collect_row_tail(tile + i * nc, 0, nc, c0, row, P->thr[row], P->rhits, 0);
        examine_batch(P, row, P->rhits, m);
    }
    if (c0 == r0) return;
    memset(P->ccount, 0, (size_t)nc * sizeof(int64_t));
    for (int64_t i = 0; i < nr; i++) {
#if TAC_X86
        if (avx2) collect_cols_avx2(tile + i * nc, nc, P->thr + c0, (int32_t)(r0 + i), P->chits, P->ccount);
        else
#endif
            collect_cols_tail(tile + i * nc, 0, nc, P->thr + c0, (int32_t)(r0 + i), P->chits, P->ccount);
    }
    for (int64_t j = 0; j < nc; j++) examine_batch(P, c0 + j, P->chits + j * KNN_BLOCK, P->ccount[j]);
}

/* Both sides of tile (rows r0.., columns c0..); the column side only off the diagonal. */
static void scan_tile(knn_pipe *P, const float *tile, int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    if (P->bf16) { scan_tile_bf16(P, tile, r0, nr, c0, nc); return; }
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) {
        for (int64_t i = 0; i < nr; i++) {
            int64_t row = r0 + i;
            scan_row_avx2(tile + i * nc, nc, c0, row, P->heaps + row * P->k, &P->fill[row], P->k, &P->thr[row]);
        }
        if (c0 != r0) scan_cols_avx2(tile, nr, nc, r0, c0, P->heaps, P->fill, P->thr, P->k);
        return;
    }
#endif
    for (int64_t i = 0; i < nr; i++) {
        int64_t row = r0 + i;
        scan_row_tail(tile + i * nc, 0, nc, c0, row, P->heaps + row * P->k, &P->fill[row], P->k, &P->thr[row]);
    }
    if (c0 != r0) scan_cols_tail(tile, 0, nr, nc, r0, c0, P->heaps, P->fill, P->thr, P->k);
}

/* The scanner thread (knn_pipe): scans the posted tiles in order until told to quit. */
static void *scanner(void *arg)
{
    knn_pipe *P = arg;
    for (int t = 0;; t++) {
        pthread_mutex_lock(&P->mu);
        while (P->posted <= t && !P->quit) pthread_cond_wait(&P->cv, &P->mu);
        int stop = P->posted <= t;
        pthread_mutex_unlock(&P->mu);
        if (stop) break;
        int b = t & 1;
        double t0 = tac_now();
        scan_tile(P, P->buf[b], P->r0[b], P->nr[b], P->c0[b], P->nc[b]);
        pthread_mutex_lock(&P->mu);
        P->scan_s = tac_now() - t0;
        P->done = t + 1;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
    }
    return NULL;
}

/* Xn (N x D) = the rows of X scaled to unit length (norms in double), as tac_l2_normalize_rows does but with no
 * epsilon floor: a cosine does not depend on scale, so rows of norm below 1e-12 are scaled up too (F.normalize's
 * floor would leave them tiny and every similarity near 0). All-zero rows stay zero. */
static void knn_unit_rows(float *Xn, const float *X, int64_t n, int d, int nthreads)
{
    #pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        float *y = Xn + i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)x[j] * x[j];
        double nrm = sqrt(s);
        if (nrm > 0 && nrm < 1e-30) {   /* 1/nrm would overflow float: scale in double */
            for (int j = 0; j < d; j++) y[j] = (float)((double)x[j] / nrm);
            continue;
        }
        float inv = (float)(1.0 / (nrm > 0 ? nrm : 1.0));
        for (int j = 0; j < d; j++) y[j] = x[j] * inv;
    }
}

/* ---- the bf16 screen ---------------------------------------------------------------------------------------
 * eps_i bounds |s~ - s| for row i (D floats of Xn) and every other row j, s~ the bf16 tile score and s the exact
 * similarity (exact_sim). Let x^ be a row's bf16 rounding as the hardware reads it (denormals as 0), u = 2^-24
 * (float), v = 2^-8 (bf16 has 8 significant bits, so rounding to nearest errs by at most 2^-8 relative per element;
 * 2^-9 would be wrong), rho_j = |x_j - x^_j| (the Euclidean norm of row j's rounding residual), rho* = max_j rho_j,
 * X* = max_j |x^_j|.
 *  (a) Norms. Xn's rows are x_l = fl(X_l * fl(1/n)) with n the double-precision norm, so |x| <= (1+u)^2 (1 + D 2^-53)
 *      <= 1 + 2^-20 =: N1 (all-zero rows: 0; rows scaled in double: closer still).
 *  (b) Rounding the operands: x^_i.x^_j - x_i.x_j = x^_i.(x^_j - x_j) + (x^_i - x_i).x_j, so by Cauchy-Schwarz
 *      |x^_i.x^_j - x_i.x_j| <= |x^_i| rho_j + rho_i |x_j| <= |x^_i| rho* + rho_i N1. As rho <= v |x|, this is at most
 *      (2v + v^2) N1^2 (about 2^-7, the uniform bound); a row's actual rho is typically half of v |x| (the rounding
 *      errors spread over [0, v]), so the per-row bound is about half as wide.
 *  (c) The product: a product of two bf16 values (8-bit significands) is exact in float, and oneDNN sums the D
 *      products in float (AVX512-BF16 vdpbf16ps / AMX: float accumulation, round to nearest); in whatever order
 *      (any summation tree, split sums too) each term meets at most D-1 roundings, so the computed score s~ has
 *      |s~ - x^_i.x^_j| <= g_D sum_l |x^_il x^_jl| <= g_D |x^_i| X*,   g_D = D u / (1 - D u).
 *  (d) Denormals: products below 2^-126 and denormal sums are flushed to 0: at most 2^-126 each, <= 3 D 2^-126.
 *  (e) The exact side: s = fl_float(double sum), |s - x.y| <= u |x.y| + g53_D |x||y| <= (u + D 2^-52) N1^2.
 * So |s~ - s| <= eps_i = M (|x^_i| rho* + rho_i N1 + g_D |x^_i| X* + 3 D 2^-126 + (u + D 2^-52) N1^2), M = 1 + 1/16:
 * the margin covers what the bound does not model (the double arithmetic of this formula, a kernel accumulating
 * slightly differently); rho_i and |x^_i| are computed in double (each square exact, the sums within D 2^-53) and
 * rounded up by 2^-30 relative. For D = 512: at most 0.0084 for any row; 0.0036-0.0041 on random and clustered
 * 20k x 512 data.
 * The screen compares with screen_thr(root) = the largest float <= root - eps_i, so no rounding of that difference
 * weakens it. Why the lists are exact: a row's threshold only rises, and its final root r is its k-th best; a true
 * member j has s_j >= r >= the root at any time, so s~_j >= s_j - eps_i >= root - eps_i >= screen_thr(root): every
 * member is examined, offered with its exact s_j, and kept (the heap keeps the k best offered under the strict
 * total order, whatever the order of the offers). */

/* A bf16 value as AVX512-BF16 reads it: denormals (exponent 0) as 0. */
static inline float bf16_eff(uint16_t h)
{
    uint32_t w = (h & 0x7f80u) ? (uint32_t)h << 16 : 0;
    float f;
    memcpy(&f, &w, 4);
    return f;
}

/* The bf16 path is taken when bf16 is native here (tac_bf16_native: not with TACLUST_NO_BF16=1) and D keeps the
 * bound meaningful (D u well below 1). */
static int knn_bf16_wanted(int d) { return d <= (1 << 20) && tac_bf16_native(); }

static void knn_bf16_release(knn_pipe *P)
{
    tac_bf16_mm_free(P->mm);
    tac_bf16_mm_free(P->mm_all);
    free(P->Xb);
    free(P->rhits);
    free(P->chits);
    free(P->ccount);
    free(P->eps);
    P->eps = NULL;
    P->mm = P->mm_all = NULL;
    P->Xb = NULL;
    P->rhits = P->chits = NULL;
    P->ccount = NULL;
    P->bf16 = 0;
}

/* The bf16 path's workspaces: P->Xb (N x D bf16, 2 N D bytes), the batches (8 MB), the bounds (2N doubles) and
 * the oneDNN context.
 * TAC_ERR (reason set) when memory or oneDNN fails; nothing is then held. */
static int knn_bf16_alloc(knn_pipe *P, int64_t n, int d)
{
    int ok = (P->Xb = tac_try_malloc((size_t)n * (size_t)d, sizeof(uint16_t), "knn: bf16 rows"))          /* N x D */
             && (P->rhits = tac_try_malloc(KNN_BLOCK, sizeof(knn_hit), "knn: batches"))                    /* B */
             && (P->chits = tac_try_malloc((size_t)KNN_BLOCK * KNN_BLOCK, sizeof(knn_hit), "knn: batches")) /* B x B */
             && (P->ccount = tac_try_malloc(KNN_BLOCK, sizeof(int64_t), "knn: batches"))                   /* B */
             && (P->eps = tac_try_malloc((size_t)n * 2, sizeof(double), "knn: screen bounds"))            /* 2N */
             && (P->mm = tac_bf16_mm_new(0));
    if (ok) return TAC_OK;
    knn_bf16_release(P);
    return TAC_ERR;
}

/* Turns the bf16 screen on for the call (its workspaces allocated): Xb = bf16(Xn), and every row's eps_i (above;
 * P->eps[n..2n) holds the rows' rho_i meanwhile). */
static void knn_bf16_start(knn_pipe *P, const float *Xn /* N x D */, int64_t n, int d, int nthreads)
{
    P->bf16 = 1;
    P->Xn = Xn;
    P->d = d;
    P->examined = 0;
    const int64_t R = 4096;   /* rows per conversion chunk */
    const double up = 1.0 + 0x1p-30;
    double *xnorm = P->eps, *rho = P->eps + n, rho_max = 0, x_max = 0;
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(max : rho_max, x_max)
    for (int64_t r0 = 0; r0 < n; r0 += R) {
        int64_t nr = n - r0 < R ? n - r0 : R;
        tac_bf16_from_f32(P->Xb + r0 * d, Xn + r0 * d, (size_t)(nr * d));
        for (int64_t i = r0; i < r0 + nr; i++) {
            double r2 = 0, q2 = 0;
            for (int l = 0; l < d; l++) {
                double h = bf16_eff(P->Xb[i * d + l]), e = (double)Xn[i * d + l] - h;   /* both exact */
                r2 += e * e;
                q2 += h * h;
            }
            rho[i] = sqrt(r2) * up;
            xnorm[i] = sqrt(q2) * up;
            if (rho[i] > rho_max) rho_max = rho[i];
            if (xnorm[i] > x_max) x_max = xnorm[i];
        }
    }
    const double u = 0x1p-24, n1 = 1.0 + 0x1p-20, D = d, gD = D * u / (1.0 - D * u);
    const double fixed = 3 * D * 0x1p-126 + (u + D * 0x1p-52) * n1 * n1;
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int64_t i = 0; i < n; i++)
        P->eps[i] = (1.0 + 1.0 / 16) * (xnorm[i] * rho_max + rho[i] * n1 + gD * xnorm[i] * x_max + fixed);
}

/* What the last call on this thread did (tac_knn.h). */
static _Thread_local int64_t g_last_examined = -1;
static _Thread_local int g_last_bf16 = 0;
int tac_knn_last_bf16(void) { return g_last_bf16; }
int64_t tac_knn_last_examined(void) { return g_last_examined; }

static void knn_note(const knn_pipe *P)
{
    g_last_bf16 = P->bf16;
    g_last_examined = P->bf16 ? P->examined : -1;
}

/* ---- the call's state, shared by the single-process and the distributed forms ---------------------------- */

/* The checks every form makes on its arguments (the distributed form on every rank). */
static int knn_validate(const float *X, int64_t n, int d, int k)
{
    if (d < 1) return tac_fail("knn: dimension D=%d must be at least 1", d);
    if (k < 1) return tac_fail("knn: k=%d must be at least 1", k);
    if ((int64_t)k >= n)
        return tac_fail("knn: k=%d must be smaller than the number of points N=%lld (self is excluded)", k,
                        (long long)n);
    if (n > 2147483647LL) return tac_fail("knn: N=%lld is too large", (long long)n);
    return tac_check_finite("knn input", X, n, d);
}

/* The workspaces: *Xn (N x D unit rows) and P's heaps (N x k), fill (N), thr (N), two tiles (B x B each). */
static int knn_alloc(knn_pipe *P, float **Xn, int64_t n, int d, int k)
{
    memset(P, 0, sizeof *P);
    P->k = k;
    *Xn = tac_try_malloc((size_t)n * (size_t)d, sizeof(float), "knn: normalised rows"); /* N x D, unit rows */
    int ok = *Xn && (P->heaps = tac_try_malloc((size_t)n * (size_t)k, sizeof(knn_item), "knn: neighbour lists")) /* N x k */
             && (P->fill = tac_try_calloc((size_t)n, sizeof(int), "knn: list sizes"))                       /* N */
             && (P->thr = tac_try_malloc((size_t)n, sizeof(float), "knn: thresholds"))                       /* N */
             && (P->buf[0] = tac_try_malloc((size_t)KNN_BLOCK * KNN_BLOCK, sizeof(float), "knn: tile"))      /* B x B */
             && (P->buf[1] = tac_try_malloc((size_t)KNN_BLOCK * KNN_BLOCK, sizeof(float), "knn: tile"));     /* B x B */
    if (ok) return TAC_OK;
    free(P->buf[0]); free(P->thr); free(P->fill); free(P->heaps); free(*Xn);
    memset(P, 0, sizeof *P);
    *Xn = NULL;
    return TAC_ERR;
}

static void knn_free(knn_pipe *P, float *Xn)
{
    knn_bf16_release(P);
    for (int b = 0; b < 2; b++) free(P->buf[b]);
    free(P->thr);
    free(P->fill);
    free(P->heaps);
    free(Xn);
}

/* The tile after (*bi, *bj) in the single-process order; 0 after the last. sgemm path: I-major over the upper
 * triangle, (0,0), (0,1), ..., (0,B-1), (1,1), ... (every row meets its candidates in increasing index order).
 * bf16 path: the B diagonal tiles first, then the others I-major: every row's first batch is then its own block
 * (row side only), and its threshold is finite when the other tiles come (the order does not change the lists). */
static int knn_next_tile(int bf16, int64_t nb, int64_t *bi, int64_t *bj)
{
    if (bf16 && *bi == *bj) {   /* the diagonal, then (0, 1) */
        if (*bi + 1 < nb) { *bj = ++*bi; return 1; }
        *bi = 0;
        *bj = 1;
        return *bj < nb;
    }
    if (++*bj >= nb) {
        ++*bi;
        *bj = bf16 ? *bi + 1 : *bi;
    }
    return *bj < nb;
}

/* Every tile t (t = 0..T-1 in knn_next_tile's order) with t % size == rank, scanned into P's heaps:
 * with threads > 1 by the scanner thread while the next tile's product runs, else inline. The product is sgemm
 * (its values are the similarities; the tiles' shapes and data do not depend on (rank, size), so each similarity
 * is the single-process call's), or with P->bf16 the bf16 product of P->Xb's blocks on nthreads OpenMP threads
 * (scores only: the similarities are exact_sim's, which depend on the two rows alone). TAC_ERR (reason set) when a
 * bf16 product fails: the tiles after it are not computed. */
static int knn_scan_tiles(knn_pipe *P, const float *Xn /* N x D */, int64_t n, int d, int nthreads, int rank,
                          int size)
{
    int rc = TAC_OK;
    /* bf16: oneDNN's team is this thread's OpenMP thread count, per product: all nthreads while the scanner's last
     * tile took less time than the last product would on all of them, else nthreads - 1, leaving the scanner its
     * core (the bf16 product is fast enough that selection can be most of the work at small N, and an OpenMP team
     * sharing a busy scanner's core slows both; on 2 cores, measured at N = 20k and 80k, D = 512). The results do
     * not depend on it: only the scores do. */
    int omp_saved = omp_get_max_threads(), team = omp_saved;
    double prod_all = 0;   /* the last product's seconds, scaled to a team of nthreads */
    P->scan_s = 0;
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    for (int64_t i = 0; i < n; i++) P->thr[i] = -INFINITY;
    pthread_t th;
    int threaded = nthreads > 1 && pthread_create(&th, NULL, scanner, P) == 0;

    int64_t nb = (n + KNN_BLOCK - 1) / KNN_BLOCK, bi = 0, bj = 0;   /* row blocks; tile (bi, bj) */
    int lt = 0;    /* tiles of this rank so far: the scanner's count */
    for (int64_t t = 0; rc == TAC_OK; t++) {   /* t: tile number in the single-process order */
        if (t > 0 && !knn_next_tile(P->bf16, nb, &bi, &bj)) break;
        if (t % size != rank) continue;
        int64_t r0 = bi * KNN_BLOCK, c0 = bj * KNN_BLOCK;
        int64_t nr = n - r0 < KNN_BLOCK ? n - r0 : KNN_BLOCK, nc = n - c0 < KNN_BLOCK ? n - c0 : KNN_BLOCK;
        {
            int b = lt & 1;
            double scan_s = 0;
            if (threaded) { /* buffer b was used by tile lt-2: wait until it is scanned */
                pthread_mutex_lock(&P->mu);
                while (P->done < lt - 1) pthread_cond_wait(&P->cv, &P->mu);
                scan_s = P->scan_s;
                pthread_mutex_unlock(&P->mu);
            }
            if (P->bf16) {   /* scores: X_I X_J^T from the bf16 rows, read in place */
                int all = threaded && prod_all > 0 && scan_s < prod_all;
                if (all && !P->mm_all && !(P->mm_all = tac_bf16_mm_new(0))) all = 0;
                int want = all ? nthreads : threaded ? nthreads - 1 : 1;
                if (team != want) omp_set_num_threads(team = want);
                double t0 = tac_now();
                rc = tac_bf16_gemm_rounded(all ? P->mm_all : P->mm, 0, 1, (int)nr, (int)nc, d, 1.0f, P->Xb + r0 * d,
                                           d, P->Xb + c0 * d, d, 0.0f, P->buf[b], (int)nc);
                prod_all = (tac_now() - t0) * team / nthreads;
                if (rc != TAC_OK) break;
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, d, 1.0f, Xn + r0 * d, d,
                            Xn + c0 * d, d, 0.0f, P->buf[b], (int)nc);
            }
            P->r0[b] = r0; P->nr[b] = nr; P->c0[b] = c0; P->nc[b] = nc;
            if (threaded) {
                pthread_mutex_lock(&P->mu);
                P->posted = lt + 1;
                pthread_cond_broadcast(&P->cv);
                pthread_mutex_unlock(&P->mu);
            } else {
                scan_tile(P, P->buf[b], r0, nr, c0, nc);
            }
            lt++;
        }
    }
    if (threaded) {
        pthread_mutex_lock(&P->mu);
        P->quit = 1;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
        pthread_join(th, NULL);
    }
    pthread_mutex_destroy(&P->mu);
    pthread_cond_destroy(&P->cv);
    if (team != omp_saved) omp_set_num_threads(omp_saved);
    return rc;
}


int tac_knn_cosine(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim)
{
    return tac_knn_cosine_ex(X, n, d, k, idx, sim, 0);
}

int tac_knn_cosine_ex(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim, int threads)
{
    if (knn_validate(X, n, d, k) != TAC_OK) return TAC_ERR;
    knn_pipe P;
    float *Xn;
    if (knn_alloc(&P, &Xn, n, d, k) != TAC_OK) return TAC_ERR;
    /* threads: the caller's bound on this call. 1: no scanner thread, OpenBLAS lowered to 1 for the call. */
    int nthreads = tac_threads_resolve(threads);
    int blas_lowered = threads > 0 && tac_blas_threads_lower(nthreads);
    knn_unit_rows(Xn, X, n, d, nthreads);
    /* the path, once: the bf16 screen where bf16 is native and its workspaces fit, else sgemm */
    if (knn_bf16_wanted(d) && knn_bf16_alloc(&P, n, d) == TAC_OK) knn_bf16_start(&P, Xn, n, d, nthreads);
    if (knn_scan_tiles(&P, Xn, n, d, nthreads, 0, 1) != TAC_OK) {
        knn_free(&P, Xn);
        if (blas_lowered) tac_blas_threads_leave();
        return TAC_ERR;
    }
    knn_note(&P);

#pragma omp parallel for schedule(static) if (n * k > (1 << 16)) num_threads(nthreads)
    for (int64_t i = 0; i < n; i++) {
        knn_item *h = P.heaps + i * k;
        qsort(h, (size_t)k, sizeof(knn_item), cmp_best_first);
        for (int j = 0; j < k; j++) {
            idx[i * k + j] = h[j].i;
            if (sim) sim[i * k + j] = h[j].s;
        }
    }
    knn_free(&P, Xn);
    if (blas_lowered) tac_blas_threads_leave();
    return TAC_OK;
}

/* ---- over several ranks ------------------------------------------------------------------------------------
 * Each rank scans its tiles (t % R == rank) into partial lists of all N rows. Row i's owner is the rank q whose
 * tac_comm_share(N, q, R) holds i. The exchange runs in rounds of at most C rows per owner: in round j, rank r packs
 * the partial lists of rows [lo_q + jC, min(hi_q, lo_q + (j+1)C)) of every owner q (k wire items per row, unfilled
 * ones (-inf, -1)), one alltoall delivers each owner its rows' R partial lists, and the owner merges them into the
 * k best (heap_offer: the same total order) and sorts them as the single-process call does. The owners' rows are
 * then allgathered: indices as int32 into the first half of idx (widened in place to int64 afterwards), sims in
 * place in sim. The global top-k of a row is in the partial top-k of whichever rank computed each of its members,
 * so the merge gives exactly the single-process lists. */

typedef struct { float s; int32_t i; } knn_wire;   /* one candidate on the wire: 8 bytes, no padding */

/* Budget of wire items per exchange buffer (send and receive): C = max(1, budget / (R k)) rows per owner per
 * round, so each buffer holds at most max(budget, R k) items. 0: the default, 4M items (32 MB). */
int tac_knn_exchange_items = 0;

/* Writes int32 v as element e of the int32 view of the caller's idx buffer (memcpy: no aliasing assumptions). */
static inline void idx32_put(int64_t *idx, int64_t e, int32_t v) { memcpy((char *)idx + 4 * e, &v, 4); }

/* idx (N x k int64) from its int32 view (the first N*k*4 bytes), in place, from the last element down: element e's
 * int64 slot (bytes 8e..8e+7) covers int32 elements 2e and 2e+1, which are >= e and so already read. */
static void idx32_widen(int64_t *idx, int64_t count)
{
    for (int64_t e = count - 1; e >= 0; e--) {
        int32_t v;
        memcpy(&v, (const char *)idx + 4 * e, 4);
        int64_t w = v;
        memcpy((char *)idx + 8 * e, &w, 8);
    }
}

/* Rows of owner q in round j: [*a, *b) (empty once q's share is exhausted). */
static void knn_round_rows(int64_t n, int q, int R, int64_t C, int64_t j, int64_t *a, int64_t *b)
{
    int64_t lo, hi;
    tac_comm_share(n, q, R, &lo, &hi);
    *a = lo + j * C < hi ? lo + j * C : hi;
    *b = *a + C < hi ? *a + C : hi;
}

/* The exchange and merge described above; idx / sim get this rank's rows (idx in its int32 view). */
static int knn_exchange(const tac_comm *comm, knn_pipe *P, int64_t n, int k, int64_t *idx, float *sim,
                        int64_t C, knn_wire *sendb /* R*C*k */, knn_wire *recvb /* R*C*k */, int64_t *sbytes /* R */,
                        int64_t *rbytes /* R */, int nthreads)
{
    int R = comm->size, me = comm->rank;
    int64_t lo0, hi0;
    tac_comm_share(n, 0, R, &lo0, &hi0);   /* rank 0's share is the largest */
    int64_t rounds = (hi0 - lo0 + C - 1) / C;
    int bad = 0;
    for (int64_t j = 0; j < rounds; j++) {
        /* pack: owner q's rows of this round, back to back in owner order */
        int64_t off = 0;
        for (int q = 0; q < R; q++) {
            int64_t a, b;
            knn_round_rows(n, q, R, C, j, &a, &b);
            knn_wire *w = sendb + off * k;
#pragma omp parallel for schedule(static) if ((b - a) * k > (1 << 16)) num_threads(nthreads)
            for (int64_t row = a; row < b; row++) {
                const knn_item *h = P->heaps + row * k;
                knn_wire *o = w + (row - a) * k;
                int m = P->fill[row];
                for (int e = 0; e < k; e++) {
                    o[e].s = e < m ? h[e].s : -INFINITY;
                    o[e].i = e < m ? (int32_t)h[e].i : -1;
                }
            }
            sbytes[q] = (b - a) * k * (int64_t)sizeof(knn_wire);
            off += b - a;
        }
        int64_t a, b;
        knn_round_rows(n, me, R, C, j, &a, &b);
        for (int r = 0; r < R; r++) rbytes[r] = (b - a) * k * (int64_t)sizeof(knn_wire);
        if (comm->alltoall(comm, sendb, sbytes, recvb, rbytes) != TAC_OK) return TAC_ERR;
        /* merge: row's R partial lists (part r at recvb + r*(b-a)*k) into its heap, now free for reuse */
        int64_t nb = b - a;
#pragma omp parallel for schedule(static) if (nb * k * R > (1 << 16)) num_threads(nthreads) reduction(|:bad)
        for (int64_t row = a; row < b; row++) {
            knn_item *h = P->heaps + row * k;
            int m = 0;
            for (int r = 0; r < R; r++) {
                const knn_wire *w = recvb + ((int64_t)r * nb + (row - a)) * k;
                for (int e = 0; e < k && w[e].i >= 0; e++) heap_offer(h, &m, k, w[e].s, w[e].i);
            }
            if (m < k) { bad = 1; continue; }   /* cannot happen: the R lists hold N-1 >= k candidates */
            qsort(h, (size_t)k, sizeof(knn_item), cmp_best_first);
            for (int e = 0; e < k; e++) {
                idx32_put(idx, row * k + e, (int32_t)h[e].i);
                if (sim) sim[row * k + e] = h[e].s;
            }
        }
    }
    if (bad) return tac_fail("knn: internal error: a merged neighbour list is short");
    return TAC_OK;
}

int tac_knn_cosine_dist(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim, int threads,
                        const tac_comm *comm)
{
    if (!tac_dist_active(comm)) return tac_knn_cosine_ex(X, n, d, k, idx, sim, threads);
    int R = comm->size, me = comm->rank;

    /* validate and allocate, then agree: every rank fails together or none does */
    knn_pipe P;
    memset(&P, 0, sizeof P);
    float *Xn = NULL;
    knn_wire *sendb = NULL, *recvb = NULL;
    int64_t *sbytes = NULL, *rbytes = NULL, C = 1;
    int rc = knn_validate(X, n, d, k);
    if (rc == TAC_OK) rc = knn_alloc(&P, &Xn, n, d, k);
    if (rc == TAC_OK) {
        int64_t budget = tac_knn_exchange_items > 0 ? tac_knn_exchange_items : (int64_t)1 << 22;
        int64_t lo0, hi0;
        tac_comm_share(n, 0, R, &lo0, &hi0);
        C = budget / ((int64_t)R * k);
        if (C < 1) C = 1;
        if (C > hi0 - lo0) C = hi0 - lo0;
        int ok = (sendb = tac_try_malloc((size_t)(R * C * k), sizeof(knn_wire), "knn: exchange buffer")) /* R*C*k */
                 && (recvb = tac_try_malloc((size_t)(R * C * k), sizeof(knn_wire), "knn: exchange buffer")) /* R*C*k */
                 && (sbytes = tac_try_malloc((size_t)R, sizeof(int64_t), "knn: part sizes"))              /* R */
                 && (rbytes = tac_try_malloc((size_t)R, sizeof(int64_t), "knn: part sizes"));             /* R */
        if (!ok) rc = TAC_ERR;
    }
    /* the first exchange is an agreement (taclust/dist.h); then the arguments that size the collectives must be
     * rank 0's: a mismatch fails here, not in a collective */
    rc = tac_comm_check(comm, rc);
    if (rc != TAC_OK) goto out;
    int64_t mine[4] = {n, d, k, sim != NULL}, root[4] = {n, d, k, sim != NULL};
    if (comm->bcast(comm, root, (int64_t)sizeof root, 0) != TAC_OK) rc = TAC_ERR;
    else if (memcmp(mine, root, sizeof mine) != 0)
        rc = tac_fail("knn: the arguments differ from rank 0's (N=%lld D=%lld k=%lld sim %s here, N=%lld D=%lld "
                      "k=%lld sim %s on rank 0)", (long long)mine[0], (long long)mine[1], (long long)mine[2],
                      mine[3] ? "wanted" : "not wanted", (long long)root[0], (long long)root[1], (long long)root[2],
                      root[3] ? "wanted" : "not wanted");
    rc = tac_comm_check(comm, rc);
    if (rc != TAC_OK) goto out;

    /* the path, the same on every rank: the bf16 screen only if every rank can take it (bf16 native and its
     * workspaces allocated), else sgemm everywhere */
    int64_t can = knn_bf16_wanted(d) && knn_bf16_alloc(&P, n, d) == TAC_OK;
    if (comm->allreduce_sum(comm, &can, 1, TAC_COMM_I64) != TAC_OK) rc = TAC_ERR;
    rc = tac_comm_check(comm, rc);
    if (rc != TAC_OK) goto out;
    int nthreads = tac_threads_resolve(threads);
    int blas_lowered = threads > 0 && tac_blas_threads_lower(nthreads);
    knn_unit_rows(Xn, X, n, d, nthreads);
    if (can == R) knn_bf16_start(&P, Xn, n, d, nthreads);
    else knn_bf16_release(&P);
    rc = knn_scan_tiles(&P, Xn, n, d, nthreads, me, R);
    if (blas_lowered) tac_blas_threads_leave();
    knn_note(&P);
    rc = tac_comm_check(comm, rc);
    if (rc != TAC_OK) goto out;

    rc = knn_exchange(comm, &P, n, k, idx, sim, C, sendb, recvb, sbytes, rbytes, nthreads);
    rc = tac_comm_check(comm, rc);
    if (rc != TAC_OK) goto out;
    for (int q = 0; q < R; q++) {
        int64_t lo, hi;
        tac_comm_share(n, q, R, &lo, &hi);
        sbytes[q] = (hi - lo) * k * 4;   /* int32 indices, or float sims */
    }
    rc = comm->allgather(comm, idx, sbytes);
    if (rc == TAC_OK && sim) rc = comm->allgather(comm, sim, sbytes);
    if (rc == TAC_OK) idx32_widen(idx, n * k);

out:
    free(rbytes); free(sbytes); free(recvb); free(sendb);
    knn_free(&P, Xn);
    return rc;
}
