/* tac_kmeans.c - k-means with faiss 1.7 Clustering semantics (tac-method.md section 9), plus k-means++ init.
 *
 * Usage: tac_kmeans_default_params(&p); p.k = K; p.spherical = 1; tac_kmeans(X, n, d, &p, C, labels, &obj);
 *
 * What faiss 1.7 does and this file reproduces, step by step:
 *   - subsample: when n > max_points_per_centroid*K, train on the rows perm[0 .. mppc*K-1] of
 *     perm = rand_perm(n, seed), in that order;
 *   - corner case n_train == K: the centroids are the first K rows of X (as given, not renormalised), no
 *     iterations (faiss copies x_in here, even after subsampling);
 *   - per redo r: init centroids = training rows perm_r[0..K-1], perm_r = rand_perm(n_train, seed+1+r*15486557)
 *     (or k-means++ seeded by that same value), renormalised if spherical; then niter iterations of
 *       assign (max inner product if spherical, else min squared L2 computed as |x|^2+|c|^2-2x.c clamped at 0;
 *       ties go to the lowest centroid index), obj = float sum of the assignment scores in point order,
 *       centroids = means (float sums in point order as faiss, or double with accumulate_double), empty
 *       clusters split with a fresh mt19937(1234) (faiss hard-codes 1234, independent of the user seed),
 *       renormalise if spherical;
 *   - keep the redo with the larger obj (smaller for L2), strict comparison so earlier redos win ties;
 *   - labels of ALL n rows by a final assignment against the best centroids.
 * Speed (the centre k-means at CIFAR-10 scale is 42,752 x 512 x 167 for up to 3,000 iterations):
 *   - one fused pass per iteration over tiles of up to 4096 rows (cache-resident scores): cblas_sgemm of the
 *     tile, the argmax (AVX max + first-equal scan, same index and value as the sequential scan), the objective and the new
 *     centroid sums, while the X tile is still cache-warm; no OpenMP team per step (the OpenBLAS threads do the
 *     product; waking and yielding between OpenMP and OpenBLAS threads cost more than the small steps);
 *   - centroid rows padded with zero rows to a multiple of 16 for the sgemm (OpenBLAS kernels are much faster
 *     on a full unroll; the padding scores are ignored);
 *   - a redo stops at its exact fixed point: once an iteration's labels equal the previous one's, the remaining
 *     iterations would reproduce the same centroids, labels and objective bit for bit (faiss runs them anyway).
 *   - spherical k-means (params.plain 0 on large inputs, or -1) does not score the rows whose label a bound proves unchanged
 *     (per-group upper bounds as Yinyang k-means, with a float-error margin), and scores the others with the
 *     plain pass's exact float operations, so labels, centroids and objective are bit-identical to the plain
 *     pass (see "bounded assignment" below).
 * BLAS is never called from inside an OpenMP region.
 * Portable build: the per-row passes (norms, argmax, L2 scan, centroid sums) have a baseline and an AVX2 + FMA form
 * (the earlier x86-64-v3 build's code), picked from tac_cpu_level() (src/core/tac_cpu.c).
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_threads.h"
#include "core/tac_cpu.h"
#include "core/tac_dist.h"

#include <cblas.h>
#if TAC_X86
#include <immintrin.h>
#endif
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_EPS (1 / 1024.)
/* Automatic bounded passes from this many full score tiles on: rows that must be scored share a call only when
 * they sit at different positions of different tiles, so with few tiles nearly every call is still needed
 * (measured at 13 tiles, K = 214: 9% fewer sgemm calls, 17% more CPU time in all). */
#define BOUNDS_MIN_TILES 64

void tac_kmeans_default_params(tac_kmeans_params *p)
{
    memset(p, 0, sizeof *p);
    p->k = 0;
    p->niter = 25;
    p->nredo = 1;
    p->spherical = 0;
    p->max_points_per_centroid = 256;
    p->seed = 1234;
    p->init = TAC_KMEANS_INIT_RANDOM;
    p->progress = 0;
    p->accumulate_double = 0;
    p->threads = 0;
}

/* Squared L2 norm of each row, float accumulation (as faiss's fvec_norms_L2sqr). out: N. */
TAC_INLINE void row_norms2_body(const float *X, int64_t i0, int64_t i1, int d, float *out)
{
    for (int64_t i = i0; i < i1; i++) {
        const float *x = X + i * d;
        float s = 0;
        for (int j = 0; j < d; j++) s += x[j] * x[j];
        out[i] = s;
    }
}
#if TAC_X86
TAC_TARGET_AVX2 static void row_norms2_avx2(const float *X, int64_t i0, int64_t i1, int d, float *out)
{
    row_norms2_body(X, i0, i1, d, out);
}
#endif
static void row_norms2(const float *X /* N x D */, int64_t n, int d, float *out /* N */, int nthreads)
{
    int avx2 = tac_cpu_level() >= TAC_ISA_AVX2;
#pragma omp parallel for schedule(static) if (n * d > (1 << 18)) num_threads(nthreads)
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
        int64_t i1 = i0 + 64 < n ? i0 + 64 : n;
#if TAC_X86
        if (avx2) { row_norms2_avx2(X, i0, i1, d, out); continue; }
#endif
        (void)avx2;
        row_norms2_body(X, i0, i1, d, out);
    }
}

/* L2-normalise rows with a positive norm (faiss fvec_renorm_L2; zero rows are left alone). */
TAC_INLINE void renorm_rows_body(float *C /* K x D */, int k, int d)
{
    for (int c = 0; c < k; c++) {
        float *x = C + (int64_t)c * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)x[j] * x[j];
        if (s > 0) {
            double inv = 1.0 / sqrt(s);
            for (int j = 0; j < d; j++) x[j] = (float)(x[j] * inv);
        }
    }
}
#if TAC_X86
TAC_TARGET_AVX2 static void renorm_rows_avx2(float *C, int k, int d) { renorm_rows_body(C, k, d); }
#endif
static void renorm_rows(float *C, int k, int d)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { renorm_rows_avx2(C, k, d); return; }
#endif
    renorm_rows_body(C, k, d);
}

/* Rows per sgemm tile: the tile of scores (TB x K floats, at most ~4 MB) stays in cache while the argmax and the
 * centroid sums read it, and the tile of X (TB x D) is still cache-warm from the sgemm's packing. Not smaller:
 * every sgemm call ends with a join of the OpenBLAS threads (sched_yield, costly in a VM); measured at K=167 on
 * 2 cores, 4096-row tiles (faiss's query block) ran a 25-iteration k-means in 1.85 s, 744-row tiles in 2.8 s. */
static int64_t tile_rows(int64_t n, int k)
{
    int64_t b = (1 << 20) / (k > 0 ? k : 1);
    if (b < 64) b = 64;
    if (b > 4096) b = 4096;
    return b < n ? b : n;
}

/* Index of the first maximum of row[0..k-1] (ties to the lowest index, as faiss's sequential strict '>' scan);
 * *bv gets its value. Scores are finite, so max is exact and order-free: a vector max then a first-equal scan
 * give the same index and value as the sequential scan (+0 == -0 compares equal in both). */
#if TAC_X86
TAC_TARGET_AVX2 static int row_argmax_avx2(const float *row /* K */, int k, float *bv)
{
    float m = row[0];
    int j = 1;
    if (k >= 9) {
        __m256 vm = _mm256_loadu_ps(row);
        for (j = 8; j + 8 <= k; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(row + j));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        m = _mm_cvtss_f32(h);
    }
    for (; j < k; j++)
        if (row[j] > m) m = row[j];
    int best = 0;
    __m256 vm8 = _mm256_set1_ps(m);
    for (; best + 8 <= k; best += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + best), vm8, _CMP_EQ_OQ));
        if (mask) { best += __builtin_ctz((unsigned)mask); *bv = row[best]; return best; }
    }
    while (!(row[best] == m)) best++;
    *bv = row[best];
    return best;
}
#endif
/* The reference form (the tail of the one above): the same index and value. */
static int row_argmax_base(const float *row /* K */, int k, float *bv)
{
    float m = row[0];
    for (int j = 1; j < k; j++)
        if (row[j] > m) m = row[j];
    int best = 0;
    while (!(row[best] == m)) best++;
    *bv = row[best];
    return best;
}
static int row_argmax(const float *row /* K */, int k, float *bv)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) return row_argmax_avx2(row, k, bv);
#endif
    return row_argmax_base(row, k, bv);
}

/* Assignment of rows [i0, i0+nb) from their scores S (nb x KP, row i = scores of point i0+i, first K used): labels and
 * assignment values (inner product if spherical, else squared distance xn + cn - 2 x.c clamped at 0; ties to the
 * lowest index). Returns how many labels differ from what labels held on entry. The sequential L2 scan is faiss's exact formula; kept scalar so its rounding does not move. */
TAC_INLINE int64_t argmax_tile_body(const float *S, int64_t nb, int k, int ld, int spherical, const float *xn,
                                    const float *cn, int32_t *labels, float *dis)
{
    int64_t changed = 0;
    for (int64_t i = 0; i < nb; i++) {
        const float *row = S + i * ld;
        int best = 0;
        float bv;
        if (spherical) {
            best = row_argmax(row, k, &bv);
        } else {
            float xi = xn[i];
            bv = INFINITY;
            for (int j = 0; j < k; j++) {
                float dj = xi + cn[j] - 2 * row[j];
                if (dj < 0) dj = 0;
                if (dj < bv) { bv = dj; best = j; }
            }
        }
        changed += labels[i] != best;
        labels[i] = best;
        if (dis) dis[i] = bv;
    }
    return changed;
}
#if TAC_X86
TAC_TARGET_AVX2 static int64_t argmax_tile_avx2(const float *S, int64_t nb, int k, int ld, int spherical,
                                                const float *xn, const float *cn, int32_t *labels, float *dis)
{
    return argmax_tile_body(S, nb, k, ld, spherical, xn, cn, labels, dis);
}
#endif
static int64_t argmax_tile(const float *S, int64_t nb, int k, int ld, int spherical, const float *xn /* nb, L2 */,
                           const float *cn /* K, L2 */, int32_t *labels /* nb */, float *dis /* nb or NULL */)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) return argmax_tile_avx2(S, nb, k, ld, spherical, xn, cn, labels, dis);
#endif
    return argmax_tile_body(S, nb, k, ld, spherical, xn, cn, labels, dis);
}

/* Add rows X (nb x D) into their clusters' sums in point order: float sums F (K x D) as faiss, or double sums
 * A (K x D) when A != NULL; cnt: K point counts. */
TAC_INLINE void accumulate_tile_body(const float *X, int64_t nb, int d, const int32_t *lab, float *F, double *A,
                                     int64_t *cnt)
{
    for (int64_t i = 0; i < nb; i++) {
        int c = lab[i];
        const float *x = X + i * d;
        cnt[c]++;
        if (A) {
            double *a = A + (int64_t)c * d;
            for (int j = 0; j < d; j++) a[j] += x[j];
        } else {
            float *a = F + (int64_t)c * d;
            for (int j = 0; j < d; j++) a[j] += x[j];
        }
    }
}
#if TAC_X86
TAC_TARGET_AVX2 static void accumulate_tile_avx2(const float *X, int64_t nb, int d, const int32_t *lab, float *F,
                                                 double *A, int64_t *cnt)
{
    accumulate_tile_body(X, nb, d, lab, F, A, cnt);
}
#endif
static void accumulate_tile(const float *X, int64_t nb, int d, const int32_t *lab /* nb */, float *F, double *A,
                            int64_t *cnt)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { accumulate_tile_avx2(X, nb, d, lab, F, A, cnt); return; }
#endif
    accumulate_tile_body(X, nb, d, lab, F, A, cnt);
}

/* Centroid rows padded to KP = K rounded up to a multiple of 16 (the padding rows are zero and their scores are
 * ignored): OpenBLAS's sgemm kernels run up to twice as fast when that dimension is a multiple of their unroll
 * (measured on the Haswell kernels at K=167: 2x single-thread; AVX-512 kernels: ~8%). */
static int pad_k(int k) { return (k + 15) & ~15; }

/* One pass over the N points in tiles of TB rows: per tile one cblas_sgemm (X_tile . C^T into the cache-resident
 * scores buf, TB x KP), the argmax, and, when sums != NULL, the new centroid sums. X: N x D, C: KP x D (rows
 * K..KP-1 zero),
 * xn: N squared norms (L2 only; NULL when spherical). labels: N out, dis: N out or NULL. Returns the objective,
 * the float sum of the assignment values in point order (faiss). Runs on the calling thread apart from the
 * sgemm, whose OpenBLAS threads do the heavy work: no OpenMP team to wake per tile. changed (or NULL) gets
 * the number of labels that differ from what labels held on entry. cn: K floats of workspace (the squared centroid
 * norms, L2 only; may be NULL when spherical). */
typedef struct { float *F; double *A; int64_t *cnt; } cent_sums; /* F/A: K x D, cnt: K */
static float assign_pass(const float *X, int64_t n, int d, const float *C, int k, int spherical, const float *xn,
                         int32_t *labels, float *dis, float *buf /* TB x KP */, int64_t TB, cent_sums *sums,
                         int64_t *changed, float *cn /* K */)
{
    int kp = pad_k(k);
    if (!spherical) row_norms2(C, k, d, cn, 1);
    float o = 0;
    if (changed) *changed = 0;
    for (int64_t i0 = 0; i0 < n; i0 += TB) {
        int64_t nb = n - i0 < TB ? n - i0 : TB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, kp, d, 1.0f, X + i0 * d, d, C, d, 0.0f,
                    buf, kp);
        int64_t ch = argmax_tile(buf, nb, k, kp, spherical, xn ? xn + i0 : NULL, cn, labels + i0, dis ? dis + i0 : NULL);
        if (changed) *changed += ch;
        if (dis)
            for (int64_t i = 0; i < nb; i++) o += dis[i0 + i];
        if (sums) accumulate_tile(X + i0 * d, nb, d, labels + i0, sums->F, sums->A, sums->cnt);
    }
    return o;
}

static int kmeans_assign_impl(const float *X, int64_t n, int d, const float *centroids, int k, int spherical,
                              int32_t *labels, float *score, int nthreads)
{
    if (n < 0 || d < 1 || k < 1) return tac_fail("k-means assign: bad shape (N=%lld, D=%d, K=%d)", (long long)n, d, k);
    if (n == 0) return TAC_OK;
    int kp = pad_k(k);
    int64_t TB = tile_rows(n, kp);
    float *buf = tac_try_malloc((size_t)(TB * kp), sizeof(float), "k-means assign: score tile");   /* TB x KP */
    float *Cp = buf ? tac_try_calloc((size_t)kp * (size_t)d, sizeof(float), "k-means assign: centroids")
                    : NULL;                                      /* KP x D, zero padding rows */
    float *xn = NULL, *cn = NULL;                                /* N, K (L2 only) */
    if (Cp && !spherical) {
        xn = tac_try_malloc((size_t)n, sizeof(float), "k-means assign: row norms");
        cn = xn ? tac_try_malloc((size_t)k, sizeof(float), "k-means assign: centroid norms") : NULL;
    }
    int rc = TAC_ERR;
    if (Cp && (spherical || cn)) {
        memcpy(Cp, centroids, sizeof(float) * (size_t)k * (size_t)d);
        if (!spherical) row_norms2(X, n, d, xn, nthreads);
        assign_pass(X, n, d, Cp, k, spherical, xn, labels, score, buf, TB, NULL, NULL, cn);
        rc = TAC_OK;
    }
    free(Cp);
    free(xn);
    free(cn);
    free(buf);
    return rc;
}

int tac_kmeans_assign(const float *X, int64_t n, int d, const float *centroids, int k, int spherical,
                      int32_t *labels, float *score)
{
    return tac_kmeans_assign_ex(X, n, d, centroids, k, spherical, labels, score, 0);
}

int tac_kmeans_assign_ex(const float *X, int64_t n, int d, const float *centroids, int k, int spherical,
                         int32_t *labels, float *score, int threads)
{
    if (n < 0 || d < 1 || k < 1) return tac_fail("k-means assign: bad shape (N=%lld, D=%d, K=%d)", (long long)n, d, k);
    /* a NaN row or centroid would come out as an arbitrary label */
    if (tac_check_finite("k-means assign: rows", X, n, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("k-means assign: centroids", centroids, k, d) != TAC_OK) return TAC_ERR;
    int nthreads = tac_threads_resolve(threads);
    int blas_lowered = threads > 0 && tac_blas_threads_lower(nthreads);
    int rc = kmeans_assign_impl(X, n, d, centroids, k, spherical, labels, score, nthreads);
    if (blas_lowered) tac_blas_threads_leave();
    return rc;
}

/* ---- bounded assignment (spherical): skip the rows whose label is proven ------------------------------------
 *
 * The centroids are split into G groups (make_groups). Per training row i with label a, U[i][g] bounds from
 * above the exact inner product of x_i with every centroid of group g other than a. After a pass that scored
 * row i, U[i][g] = (best score of the group's other centroids) + E_i; when the centroids then move by
 * delta_j = |c'_j - c_j| (double), U[i][g] grows by |x_i| max_{j in g} delta_j (Cauchy-Schwarz). Before a pass,
 * t = x_i . c_a is computed in float (any order) and the row is PROVEN when t - 2 E_i > max_g U[i][g] + E_i, with
 * E_i = gamma_D |x_i| max_j |c_j| and gamma_D = (D+1)u / (1-(D+1)u), u = 2^-24: the error bound of a float dot
 * product of length D summed in any order (FMA included), so it holds for t and for every score the sgemm of the
 * plain pass computes. A proven row's plain scores have a strict maximum at a, so the plain pass would keep
 * label a (its first-max rule needs no tie-break there).
 * The other rows are scored with the SAME float operations as the plain pass: an sgemm element depends on its
 * two operand rows, its position in the call and the call's shape (OpenBLAS rounds the same element differently
 * at different positions or tile heights, measured), so a row at position p of its plain tile is gathered to
 * position p of a call of the plain tile's height; rows of different tiles at different positions share a call.
 * The objective (sum of the best scores in point order) is needed only from the last pass of a redo: that pass
 * is re-run as a plain pass, which also checks that its labels equal the bounded ones (they must; if not, the
 * redo is run again with the plain pass and a note says so). */
typedef struct {
    int ng;         /* G groups of centroids */
    int *grp;       /* K: group of each centroid */
    double *dg;     /* G: largest move of a centroid of the group in this step */
    double *U;      /* NT x G: bound on max_{j in group g, j != label} x_i . c_j for the centroids in Cprev */
    double *xnorm;  /* NT: |x_i| (rounded up) */
    float *Cprev;   /* KP x D: the centroids the bounds refer to */
    int valid;      /* U, labels and Cprev hold (not at the first pass of a redo) */
    uint8_t *need;  /* NT: row must be scored */
    int64_t *slot;  /* (tiles) x TB: row at (call, position) or -1 */
    int32_t *used;  /* TB: calls used at each position */
    float *G;       /* TB x D: gathered rows */
    int nthreads;   /* OpenMP threads of the call */
} kbounds;

static double dot_err_gamma(int d)
{
    double g = (double)(d + 1) * ldexp(1.0, -24);
    return 1.0001 * g / (1 - g);
}

/* Score row of one scored point: label, best score, and per group U[g] = best other score of the group + e
 * (e = the error bound of a score; -inf for a group with no other centroid). */
static void score_row(const float *row /* KP */, int k, const kbounds *B, double e, int32_t *lab, float *dis,
                      double *U /* G */, int64_t *changed)
{
    float bv;
    int best = row_argmax(row, k, &bv);
    for (int g = 0; g < B->ng; g++) U[g] = -INFINITY;
    for (int j = 0; j < k; j++) {
        double v = row[j];
        if (j != best && v > U[B->grp[j]]) U[B->grp[j]] = v;
    }
    for (int g = 0; g < B->ng; g++) U[g] += e;
    *changed += *lab != best;
    *lab = best;
    *dis = bv;
}

/* Groups of centroids (Yinyang k-means, Ding et al. 2015): the first G centroids are seeds, every centroid joins
 * the seed with the largest inner product (ties: lower seed). Far groups keep their bound below the best score
 * for many steps, and a group's bound grows only with the largest move inside it. */
static void make_groups(const float *C /* K x D */, int k, int d, kbounds *B)
{
    for (int c = 0; c < k; c++) {
        const float *x = C + (int64_t)c * d;
        int bg = 0;
        double bv = -INFINITY;
        for (int g = 0; g < B->ng; g++) {
            const float *y = C + (int64_t)g * d;
            double v = 0;
            for (int j = 0; j < d; j++) v += (double)x[j] * y[j];
            if (v > bv) { bv = v; bg = g; }
        }
        B->grp[c] = bg;
    }
}

/* One bounded pass over the NT rows against C (KP x D, rows >= K zero). lab: NT in/out, dis: NT out for the
 * rows scored. Returns the number of rows scored; changed: labels that differ from their value on entry. */
static int64_t bounded_pass(const float *X, int64_t n, int d, const float *C, int k, kbounds *B, int32_t *lab,
                            float *dis, float *buf /* TB x KP */, int64_t TB, int64_t *changed)
{
    int kp = pad_k(k);
    double gam = dot_err_gamma(d), cmax = 0;
    for (int c = 0; c < k; c++) {
        double s = 0;
        const float *cc = C + (int64_t)c * d;
        for (int j = 0; j < d; j++) s += (double)cc[j] * cc[j];
        if (s > cmax) cmax = s;
    }
    cmax = sqrt(cmax) * (1 + 1e-12);
    *changed = 0;
    if (!B->valid) {
        memset(B->need, 1, (size_t)n);
    } else {
        int G = B->ng;
        for (int g = 0; g < G; g++) B->dg[g] = 0;
        for (int c = 0; c < k; c++) { /* largest move per group, rounded up */
            const float *a = C + (int64_t)c * d, *b = B->Cprev + (int64_t)c * d;
            double s = 0;
            for (int j = 0; j < d; j++) { double t = (double)a[j] - b[j]; s += t * t; }
            s = sqrt(s) * (1 + 1e-12);
            if (s > B->dg[B->grp[c]]) B->dg[B->grp[c]] = s;
        }
#pragma omp parallel for schedule(static) if (n * d > (1 << 18)) num_threads(B->nthreads)
        for (int64_t i = 0; i < n; i++) {
            int a = lab[i];
            double xn = B->xnorm[i], e = gam * xn * cmax, umax = -INFINITY;
            double *U = B->U + i * G;
            for (int g = 0; g < G; g++) {
                double u = U[g] + xn * B->dg[g];
                u += 1e-12 * (1 + fabs(u)); /* rounding of the bound's own double arithmetic */
                U[g] = u;
                if (u > umax) umax = u;
            }
            const float *x = X + i * d, *c = C + (int64_t)a * d;
            float t = 0;
#pragma omp simd reduction(+ : t)
            for (int j = 0; j < d; j++) t += x[j] * c[j];
            B->need[i] = !((double)t - 2 * e > umax + e);
        }
    }
    memcpy(B->Cprev, C, sizeof(float) * (size_t)kp * (size_t)d);
    B->valid = 1;

    int64_t scored = 0;
    int64_t nfull = n / TB * TB; /* rows in full tiles; the last tile has n - nfull rows */
    int64_t ntiles = nfull / TB;
    /* full tiles: rows at the same position share a call; a tile whose rows must be scored anyway is called as is */
    int64_t ncalls = 0, tiles_needed = 0;
    for (int64_t p = 0; p < TB; p++) B->used[p] = 0;
    for (int64_t t = 0; t < ntiles; t++) {
        int any = 0;
        for (int64_t p = 0; p < TB; p++) {
            int64_t i = t * TB + p;
            if (!B->need[i]) continue;
            any = 1;
            int64_t c = B->used[p]++;
            if (c == ncalls) {
                for (int64_t q = 0; q < TB; q++) B->slot[c * TB + q] = -1;
                ncalls++;
            }
            B->slot[c * TB + p] = i;
        }
        tiles_needed += any;
    }
    if (tiles_needed <= ncalls) { /* as many calls either way: score those tiles in place */
        for (int64_t t = 0; t < ntiles; t++) {
            int64_t i0 = t * TB, p;
            for (p = 0; p < TB && !B->need[i0 + p]; p++) {}
            if (p == TB) continue;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, kp, d, 1.0f, X + i0 * d, d, C, d, 0.0f,
                        buf, kp);
            for (p = 0; p < TB; p++) {
                int64_t i = i0 + p;
                if (!B->need[i]) continue;
                score_row(buf + p * kp, k, B, gam * B->xnorm[i] * cmax, &lab[i], &dis[i], B->U + i * B->ng, changed);
                scored++;
            }
        }
    } else {
        for (int64_t c = 0; c < ncalls; c++) {
            const int64_t *sl = B->slot + c * TB;
            for (int64_t p = 0; p < TB; p++) {
                float *g = B->G + p * d;
                if (sl[p] >= 0) memcpy(g, X + sl[p] * d, sizeof(float) * (size_t)d);
                else memset(g, 0, sizeof(float) * (size_t)d);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, kp, d, 1.0f, B->G, d, C, d, 0.0f, buf, kp);
            for (int64_t p = 0; p < TB; p++) {
                int64_t i = sl[p];
                if (i < 0) continue;
                score_row(buf + p * kp, k, B, gam * B->xnorm[i] * cmax, &lab[i], &dis[i], B->U + i * B->ng, changed);
                scored++;
            }
        }
    }
    /* the last, shorter tile: its own call shape, called as the plain pass calls it */
    if (nfull < n) {
        int64_t nb = n - nfull, p;
        for (p = 0; p < nb && !B->need[nfull + p]; p++) {}
        if (p < nb) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, kp, d, 1.0f, X + nfull * d, d, C, d, 0.0f,
                        buf, kp);
            for (p = 0; p < nb; p++) {
                int64_t i = nfull + p;
                if (!B->need[i]) continue;
                score_row(buf + p * kp, k, B, gam * B->xnorm[i] * cmax, &lab[i], &dis[i], B->U + i * B->ng, changed);
                scored++;
            }
        }
    }
    return scored;
}

/* Mean update from the sums of assign_pass (float sums in point order scaled by float(1/count), exactly as
 * faiss's compute_centroids, which matters when split clusters differ only by ~1e-6; or double sums divided).
 * C: K x D out (holds the float sums on entry when s->A == NULL), hassign: K out (float counts). */
static void finish_centroids(int k, int d, const cent_sums *s, float *C, float *hassign)
{
    for (int c = 0; c < k; c++) {
        hassign[c] = (float)s->cnt[c];
        float *cc = C + (int64_t)c * d;
        if (s->cnt[c] == 0) { memset(cc, 0, sizeof(float) * (size_t)d); continue; }
        if (s->A) {
            const double *a = s->A + (int64_t)c * d;
            double div = (double)s->cnt[c];
            for (int j = 0; j < d; j++) cc[j] = (float)(a[j] / div);
        } else {
            float inv = 1 / (float)s->cnt[c];
            for (int j = 0; j < d; j++) cc[j] *= inv;
        }
    }
}

/* faiss split_clusters: every empty cluster takes a perturbed copy of a cluster chosen with probability
 * (size-1)/(n-k), scanning candidates cyclically with a fresh mt19937(1234). Returns the number of splits. */
static int split_empty(int d, int k, int64_t n, float *hassign /* K */, float *C /* K x D */)
{
    tac_mt rng;
    tac_mt_seed(&rng, 1234u);
    int nsplit = 0;
    for (int ci = 0; ci < k; ci++) {
        if (hassign[ci] != 0) continue;
        int cj = 0;
        for (;;) {
            float p = (float)(((double)hassign[cj] - 1.0) / (double)(float)(n - k));
            float r = tac_mt_float(&rng);
            if (r < p) break;
            cj = (cj + 1) % k;
        }
        float *a = C + (int64_t)ci * d, *b = C + (int64_t)cj * d;
        memcpy(a, b, sizeof(float) * (size_t)d);
        for (int j = 0; j < d; j++) {
            if (j % 2 == 0) {
                a[j] = (float)(a[j] * (1 + SPLIT_EPS));
                b[j] = (float)(b[j] * (1 - SPLIT_EPS));
            } else {
                a[j] = (float)(a[j] * (1 - SPLIT_EPS));
                b[j] = (float)(b[j] * (1 + SPLIT_EPS));
            }
        }
        hassign[ci] = hassign[cj] / 2;
        hassign[cj] -= hassign[ci];
        nsplit++;
    }
    return nsplit;
}

/* k-means++ (Arthur & Vassilvitskii): first centre uniform, each next one drawn with probability proportional
 * to the squared L2 distance to the nearest chosen centre (centres renormalised first when spherical, so the
 * distance is to the centre as it will be used). Random draws from mt19937(seed_r). X: N x D, C: K x D out.
 * TAC_ERR (reason set) when its workspace cannot be allocated. */
static int kmeanspp_init(const float *X, int64_t n, int d, int k, int spherical, uint32_t seed_r, float *C,
                         int nthreads)
{
    tac_mt rng;
    tac_mt_seed(&rng, seed_r);
    double *d2 = tac_try_malloc((size_t)n, sizeof(double), "k-means++: distances"); /* N: to nearest chosen centre */
    float *xn = d2 ? tac_try_malloc((size_t)n, sizeof(float), "k-means++: row norms") : NULL;   /* N */
    float *dot = xn ? tac_try_malloc((size_t)n, sizeof(float), "k-means++: inner products") : NULL;  /* N */
    if (!dot) { free(d2); free(xn); return TAC_ERR; }
    row_norms2(X, n, d, xn, nthreads);
    int64_t pick = (int64_t)tac_mt_below(&rng, (uint64_t)n);
    for (int c = 0; c < k; c++) {
        float *cc = C + (int64_t)c * d;
        memcpy(cc, X + pick * d, sizeof(float) * (size_t)d);
        if (spherical) renorm_rows(cc, 1, d);
        if (c == k - 1) break;
        double cn = 0;
        for (int j = 0; j < d; j++) cn += (double)cc[j] * cc[j];
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, d, 1.0f, X, d, cc, 1, 0.0f, dot, 1);
        double total = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = (double)xn[i] + cn - 2.0 * dot[i];
            if (v < 0) v = 0;
            if (c == 0 || v < d2[i]) d2[i] = v;
            total += d2[i];
        }
        if (!(total > 0)) { /* every point coincides with a chosen centre: fall back to a uniform pick */
            pick = (int64_t)tac_mt_below(&rng, (uint64_t)n);
            continue;
        }
        double u = tac_mt_uniform(&rng) * total, run = 0;
        pick = -1;
        for (int64_t i = 0; i < n; i++) {
            run += d2[i];
            if (d2[i] > 0 && run > u) { pick = i; break; }
        }
        if (pick < 0) /* rounding at the very end: take the last point with positive weight */
            for (int64_t i = n - 1; i >= 0; i--)
                if (d2[i] > 0) { pick = i; break; }
    }
    free(d2);
    free(xn);
    free(dot);
    return TAC_OK;
}

/* The arguments' checks of tac_kmeans (TAC_OK or the reason). */
static int kmeans_check(const float *X, int64_t n, int d, const tac_kmeans_params *p)
{
    if (!p) return tac_fail("k-means: no parameters");
    int k = p->k;
    if (d < 1) return tac_fail("k-means: dimension D=%d must be at least 1", d);
    if (k < 1) return tac_fail("k-means: K=%d must be at least 1", k);
    if (n < k) return tac_fail("k-means: K=%d is larger than the number of points N=%lld", k, (long long)n);
    if (p->niter < 0) return tac_fail("k-means: niter=%d must be >= 0", p->niter);
    if (p->nredo < 1) return tac_fail("k-means: nredo=%d must be >= 1", p->nredo);
    if (p->max_points_per_centroid < 1)
        return tac_fail("k-means: max_points_per_centroid=%d must be >= 1", p->max_points_per_centroid);
    if (p->init != TAC_KMEANS_INIT_RANDOM && p->init != TAC_KMEANS_INIT_PLUSPLUS)
        return tac_fail("k-means: unknown init %d", p->init);
    if (tac_check_finite("k-means input", X, n, d) != TAC_OK) return TAC_ERR;
    {   /* finite values so large that float32 sums overflow would be clustered on infinities: refuse them.
         * L2: squared distances reach 4 max|x|^2; spherical: a centroid sums up to N rows. */
        double big = 0;
        for (int64_t i = 0; i < n; i++) {
            double s2 = 0;
            for (int j = 0; j < d; j++) s2 += (double)X[i * d + j] * X[i * d + j];
            if (s2 > big) big = s2;
        }
        double reach = p->spherical ? sqrt(big) * (double)n : 4 * big;
        if (reach > FLT_MAX)
            return tac_fail("k-means input: values up to norm %.3g are too large for float32 %s (scale the data "
                            "down)", sqrt(big), p->spherical ? "centroid sums" : "squared distances");
    }
    return TAC_OK;
}

/* ---- over several ranks (tac_kmeans_dist) ----------------------------------------------------------------
 * One assignment pass of the plain kind, shared: this rank scores its run of whole score tiles (the single-process
 * tiles of TB rows), then every rank gets every row's label and score; the changed count is summed. The objective
 * is then the float sum of the scores in point order, and the centroid sums are accumulated per cluster share:
 * this rank adds, in point order over all rows, the rows of its clusters (the single-process order for each
 * cluster's sum), and the K sums and counts are exchanged. Every float operation is the single-process one. */
static int dist_pass(const tac_comm *comm, const float *Xt, int64_t nt, int d, const float *C, int k, int spherical,
                     const float *xn, int32_t *lab, float *dis, float *buf, int64_t TB, cent_sums *sums,
                     int64_t *changed, float *cn, float *obj)
{
    int64_t lo, hi;
    tac_dist_rows(nt, TB, comm->rank, comm->size, &lo, &hi);
    int64_t ch = 0;
    if (hi > lo)
        assign_pass(Xt + lo * d, hi - lo, d, C, k, spherical, xn ? xn + lo : NULL, lab + lo, dis + lo, buf, TB, NULL,
                    &ch, cn);
    if (tac_dist_allgather_rows(comm, lab, nt, TB, sizeof(int32_t)) != TAC_OK) return TAC_ERR;
    if (tac_dist_allgather_rows(comm, dis, nt, TB, sizeof(float)) != TAC_OK) return TAC_ERR;
    if (comm->allreduce_sum(comm, &ch, 1, TAC_COMM_I64) != TAC_OK) return TAC_ERR;
    if (changed) *changed = ch;
    float o = 0;
    for (int64_t i = 0; i < nt; i++) o += dis[i];
    *obj = o;
    if (!sums) return TAC_OK;
    int64_t c0, c1;
    tac_comm_share(k, comm->rank, comm->size, &c0, &c1);
    for (int64_t i = 0; i < nt; i++) {
        int c = lab[i];
        if (c < c0 || c >= c1) continue;
        accumulate_tile(Xt + i * d, 1, d, lab + i, sums->F, sums->A, sums->cnt);
    }
    if (sums->A) {
        if (tac_dist_allgather_rows(comm, sums->A, k, 1, (int64_t)d * (int64_t)sizeof(double)) != TAC_OK) return TAC_ERR;
    } else if (tac_dist_allgather_rows(comm, sums->F, k, 1, (int64_t)d * (int64_t)sizeof(float)) != TAC_OK) {
        return TAC_ERR;
    }
    return tac_dist_allgather_rows(comm, sums->cnt, k, 1, sizeof(int64_t));
}

/* labels (and scores) of all N rows against the centroids, each rank scoring its run of whole tiles (those of
 * kmeans_assign_impl over all N rows). */
static int dist_assign(const tac_comm *comm, const float *X, int64_t n, int d, const float *centroids, int k,
                       int spherical, int32_t *labels, float *score, int nthreads)
{
    int64_t TB = tile_rows(n, pad_k(k)), lo, hi;
    tac_dist_rows(n, TB, comm->rank, comm->size, &lo, &hi);
    int rc = hi > lo ? kmeans_assign_impl(X + lo * d, hi - lo, d, centroids, k, spherical, labels + lo,
                                          score ? score + lo : NULL, nthreads)
                     : TAC_OK;
    if (tac_comm_check(comm, rc) != TAC_OK) return TAC_ERR;
    if (tac_dist_allgather_rows(comm, labels, n, TB, sizeof(int32_t)) != TAC_OK) return TAC_ERR;
    return score ? tac_dist_allgather_rows(comm, score, n, TB, sizeof(float)) : TAC_OK;
}

/* Every rank was given the same sizes and settings as rank 0 (else the exchanges would not match): the ranks that
 * were not fail, and tac_comm_check then names the first of them on every rank. */
static int dist_same_arguments(const tac_comm *comm, int64_t n, int d, const tac_kmeans_params *p)
{
    int64_t mine[7] = {n, d, p->k, p->niter, p->nredo, (int64_t)p->seed, (int64_t)p->spherical * 2 + p->init};
    int64_t root[7];
    memcpy(root, mine, sizeof mine);
    if (comm->bcast(comm, root, sizeof root, 0) != TAC_OK) return TAC_ERR;
    if (memcmp(root, mine, sizeof mine) != 0)
        return tac_fail("k-means: this rank was given other arguments than rank 0 (N=%lld D=%d K=%d against N=%lld "
                        "D=%lld K=%lld, or other iterations, redos, seed or kind); every rank must pass the same",
                        (long long)n, d, p->k, (long long)root[0], (long long)root[1], (long long)root[2]);
    return TAC_OK;
}

static int kmeans_run(const float *X, int64_t n, int d, const tac_kmeans_params *p, float *centroids,
                      int32_t *labels, double *obj, const tac_comm *comm)
{
    int dist = tac_dist_active(comm);
    int crc = kmeans_check(X, n, d, p);
    /* Over several ranks the first exchange is an agreement (tac_comm_check), as in every distributed entry point:
     * a rank that failed on its own before the call (tac_fit's stages) meets the others there. */
    if (dist) {
        crc = tac_comm_check(comm, crc);
        if (crc == TAC_OK) crc = tac_comm_check(comm, dist_same_arguments(comm, n, d, p));
    }
    if (crc != TAC_OK) return TAC_ERR;
    int k = p->k;

    /* OpenMP threads of this call; OpenBLAS lowered to that count for the call when it uses more (restored) */
    int nthreads = tac_threads_resolve(p->threads);
    int blas_lowered = p->threads > 0 && tac_blas_threads_lower(nthreads);
    int rc = TAC_ERR;

    /* training set: all rows, or the first mppc*K rows of rand_perm(n, seed) */
    const float *Xt = X; /* NT x D */
    int64_t nt = n;
    float *xsub = NULL, *best = NULL;
    int64_t cap = (int64_t)k * p->max_points_per_centroid;
    if (n > cap) {
        int64_t *perm = tac_try_malloc((size_t)n, sizeof(int64_t), "k-means: subsample permutation");   /* N */
        nt = cap;
        xsub = perm ? tac_try_malloc((size_t)nt * (size_t)d, sizeof(float), "k-means: training subsample") : NULL;
        if (!xsub) { free(perm); goto done; }
        tac_rand_perm(perm, n, p->seed);
        for (int64_t i = 0; i < nt; i++) memcpy(xsub + i * d, X + perm[i] * d, sizeof(float) * (size_t)d);
        free(perm);
        Xt = xsub;
    }

    best = tac_try_malloc((size_t)k * (size_t)d, sizeof(float), "k-means: best centroids"); /* K x D */
    if (!best) goto done;
    float best_obj;
    if (nt == k) {
        /* faiss corner case: copy the first K input rows, no iterations */
        memcpy(best, X, sizeof(float) * (size_t)k * (size_t)d);
        best_obj = NAN; /* computed below from the final assignment */
    } else {
        int lower_is_better = !p->spherical;
        best_obj = lower_is_better ? HUGE_VALF : -HUGE_VALF;
        int kp = pad_k(k);
        int64_t TB = tile_rows(nt, kp);
        /* the label bounds give the plain pass's labels; several ranks run the plain pass (shared by tiles) */
        int use_bounds = !dist && p->plain != 1 && p->spherical && k >= 2 && (p->plain == -1 || nt / TB >= BOUNDS_MIN_TILES);
        int64_t ntiles = nt / TB + 1;
        kbounds B;
        memset(&B, 0, sizeof B);
        B.nthreads = nthreads;
        /* every workspace up front: a failure returns TAC_ERR naming the buffer, before any work */
        float *C = tac_try_calloc((size_t)kp * (size_t)d, sizeof(float), "k-means: centroids");  /* KP x D, rows >= K zero */
        float *Cn = C ? tac_try_calloc((size_t)kp * (size_t)d, sizeof(float), "k-means: next centroids") : NULL; /* KP x D */
        float *buf = Cn ? tac_try_malloc((size_t)TB * (size_t)kp, sizeof(float), "k-means: score tile") : NULL; /* TB x KP */
        int32_t *lab = buf ? tac_try_malloc((size_t)nt, sizeof(int32_t), "k-means: labels") : NULL;        /* NT */
        float *dis = lab ? tac_try_malloc((size_t)nt, sizeof(float), "k-means: scores") : NULL;            /* NT */
        float *hassign = dis ? tac_try_malloc((size_t)k, sizeof(float), "k-means: cluster sizes") : NULL;  /* K */
        int64_t *cnt = hassign ? tac_try_malloc((size_t)k, sizeof(int64_t), "k-means: counts") : NULL;      /* K */
        int64_t *perm = cnt ? tac_try_malloc((size_t)nt, sizeof(int64_t), "k-means: permutation") : NULL;   /* NT */
        float *cn = perm ? tac_try_malloc((size_t)k, sizeof(float), "k-means: centroid norms") : NULL;      /* K */
        int *stable_at = cn ? tac_try_calloc((size_t)p->nredo, sizeof(int), "k-means: redo record") : NULL; /* nredo */
        int ok = stable_at != NULL;
        double *acc = NULL;                                              /* K x D double sums */
        if (ok && p->accumulate_double)
            ok = (acc = tac_try_malloc((size_t)k * (size_t)d, sizeof(double), "k-means: double sums")) != NULL;
        float *xn = NULL;                                                /* NT squared norms (L2) */
        if (ok && !p->spherical) ok = (xn = tac_try_malloc((size_t)nt, sizeof(float), "k-means: row norms")) != NULL;
        int32_t *lab_check = NULL;                                       /* NT */
        if (ok && use_bounds) {
            B.ng = k / 10 < 1 ? 1 : k / 10 > 64 ? 64 : k / 10;
            ok = (B.grp = tac_try_malloc((size_t)k, sizeof(int), "k-means bounds: groups")) != NULL             /* K */
                 && (B.dg = tac_try_malloc((size_t)B.ng, sizeof(double), "k-means bounds: moves")) != NULL      /* G */
                 && (B.U = tac_try_malloc((size_t)nt * (size_t)B.ng, sizeof(double), "k-means bounds")) != NULL /* NT x G */
                 && (B.xnorm = tac_try_malloc((size_t)nt, sizeof(double), "k-means bounds: norms")) != NULL      /* NT */
                 && (B.Cprev = tac_try_calloc((size_t)kp * (size_t)d, sizeof(float), "k-means bounds: centroids")) != NULL /* KP x D */
                 && (B.need = tac_try_malloc((size_t)nt, 1, "k-means bounds: flags")) != NULL                   /* NT */
                 && (B.slot = tac_try_malloc((size_t)(ntiles * TB), sizeof(int64_t), "k-means bounds: slots")) != NULL /* tiles x TB */
                 && (B.used = tac_try_malloc((size_t)TB, sizeof(int32_t), "k-means bounds: calls")) != NULL      /* TB */
                 && (B.G = tac_try_malloc((size_t)TB * (size_t)d, sizeof(float), "k-means bounds: gathered rows")) != NULL /* TB x D */
                 && (lab_check = tac_try_malloc((size_t)nt, sizeof(int32_t), "k-means bounds: check labels")) != NULL;
        }
        if (dist && tac_comm_check(comm, ok ? TAC_OK : TAC_ERR) != TAC_OK) ok = 0;
        if (!ok) {
            free(lab_check); free(B.grp); free(B.dg); free(B.U); free(B.xnorm); free(B.Cprev); free(B.need); free(B.slot); free(B.used); free(B.G);
            free(C); free(Cn); free(buf); free(lab); free(dis); free(hassign); free(acc); free(cnt); free(perm); free(xn); free(cn);
            free(stable_at);
            goto done;
        }
        if (!p->spherical) row_norms2(Xt, nt, d, xn, nthreads);
        tac_progress prog;
        if (p->progress) tac_progress_begin(&prog, "k-means", (int64_t)p->nredo * p->niter);
        int have_best = 0, failed = 0;
        if (use_bounds) {
            for (int64_t i = 0; i < nt; i++) {
                const float *x = Xt + i * d;
                double s2 = 0;
                for (int j = 0; j < d; j++) s2 += (double)x[j] * x[j];
                B.xnorm[i] = sqrt(s2) * (1 + 1e-12);
            }
        }
        int64_t nskipped = 0;
        int nfallback = 0;
        for (int r = 0; r < p->nredo && !failed; r++) {
            int bounded = use_bounds;
        redo_again:
            B.valid = 0;
            uint32_t seed_r = (uint32_t)((int64_t)p->seed + 1 + (int64_t)r * 15486557LL);
            if (p->init == TAC_KMEANS_INIT_PLUSPLUS) {
                int irc = kmeanspp_init(Xt, nt, d, k, p->spherical, seed_r, C, nthreads);
                if (dist) irc = tac_comm_check(comm, irc);
                if (irc != TAC_OK) { failed = 1; break; }
            } else {
                tac_rand_perm(perm, nt, seed_r);
                for (int c = 0; c < k; c++) memcpy(C + (int64_t)c * d, Xt + perm[c] * d, sizeof(float) * (size_t)d);
            }
            if (p->spherical) renorm_rows(C, k, d);
            if (bounded) make_groups(C, k, d, &B);
            for (int64_t i = 0; i < nt; i++) lab[i] = -1; /* no previous labels: the first pass changes them all */
            float o = 0;
            int64_t last_skip = 0; /* rows the last bounded pass did not score */
            for (int it = 0; it < p->niter; it++) {
                cent_sums sums = {Cn, acc, cnt};
                if (acc) memset(acc, 0, sizeof(double) * (size_t)k * (size_t)d);
                else memset(Cn, 0, sizeof(float) * (size_t)k * (size_t)d);
                memset(cnt, 0, sizeof(int64_t) * (size_t)k);
                int64_t changed;
                if (bounded) {
                    last_skip = nt - bounded_pass(Xt, nt, d, C, k, &B, lab, dis, buf, TB, &changed);
                    nskipped += last_skip;
                    accumulate_tile(Xt, nt, d, lab, sums.F, sums.A, sums.cnt); /* point order, as the fused pass */
                    if (!last_skip) { o = 0; for (int64_t i = 0; i < nt; i++) o += dis[i]; }
                } else if (dist) {
                    if (dist_pass(comm, Xt, nt, d, C, k, p->spherical, xn, lab, dis, buf, TB, &sums, &changed, cn, &o)
                        != TAC_OK) { failed = 1; break; }
                } else {
                    o = assign_pass(Xt, nt, d, C, k, p->spherical, xn, lab, dis, buf, TB, &sums, &changed, cn);
                }
                finish_centroids(k, d, &sums, Cn, hassign);
                split_empty(d, k, nt, hassign, Cn);
                if (p->spherical) renorm_rows(Cn, k, d);
                float *t = C; C = Cn; Cn = t;
                if (p->progress) tac_progress_update(&prog, (int64_t)r * p->niter + it + 1);
                /* Fixed point: the update is a deterministic function of the labels alone (sums in point order,
                 * splits with the fixed mt19937(1234), renorm), so when this iteration's labels equal the
                 * previous iteration's, the new centroids are bit-identical to the ones just used, and every
                 * remaining iteration would repeat the same assignment, objective and centroids exactly. */
                if (it > 0 && changed == 0) {
                    if (p->progress) tac_progress_update(&prog, (int64_t)(r + 1) * p->niter);
                    stable_at[r] = it + 1;
                    break;
                }
            }
            if (bounded && last_skip) {
                /* the objective of the last pass: that pass again as the plain pass (its centroids are B.Cprev),
                 * which must find the same labels */
                memcpy(lab_check, lab, sizeof(int32_t) * (size_t)nt);
                int64_t differ;
                o = assign_pass(Xt, nt, d, B.Cprev, k, 1, NULL, lab_check, dis, buf, TB, NULL, &differ, cn);
                if (differ) {
                    tac_log(TAC_LOG_INFO, "k-means: redo %d: %lld labels of the bounded pass differ from the plain pass; "
                             "running it again with the plain pass", r, (long long)differ);
                    bounded = 0;
                    nfallback++;
                    stable_at[r] = 0;
                    goto redo_again;
                }
            }
            if (!have_best || (lower_is_better && o < best_obj) || (!lower_is_better && o > best_obj)) {
                memcpy(best, C, sizeof(float) * (size_t)k * (size_t)d);
                best_obj = o;
                have_best = 1;
            }
        }
        if (p->progress) {
            tac_progress_end(&prog);
            char msg[512];
            int len = 0, nfix = 0;
            for (int r = 0; r < p->nredo && len < (int)sizeof msg - 16; r++)
                if (stable_at[r]) {
                    len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%d", nfix ? ", " : "", stable_at[r]);
                    nfix++;
                }
            if (nfix)
                tac_log(TAC_LOG_INFO, "k-means: %d of %d redo(s) reached an exact fixed point (later iterations would repeat it) "
                         "after %s of %d iterations", nfix, p->nredo, msg, p->niter);
        }
        free(stable_at);
        if (p->skipped) *p->skipped = nskipped;
        if (p->fallbacks) *p->fallbacks = nfallback;
        free(lab_check); free(B.grp); free(B.dg); free(B.U); free(B.xnorm); free(B.Cprev); free(B.need); free(B.slot); free(B.used); free(B.G);
        free(C); free(Cn); free(buf); free(lab); free(dis); free(hassign); free(acc); free(cnt); free(perm); free(xn); free(cn);
        if (failed) goto done;
    }

    if (labels || isnan(best_obj)) {
        int32_t *lab = labels ? labels : tac_try_malloc((size_t)n, sizeof(int32_t), "k-means: final labels"); /* N */
        float *sc = NULL;                                                                                   /* N */
        if (!lab) goto done;
        if (isnan(best_obj) && !(sc = tac_try_malloc((size_t)n, sizeof(float), "k-means: final scores"))) {
            if (!labels) free(lab);
            goto done;
        }
        int arc = dist ? dist_assign(comm, X, n, d, best, k, p->spherical, lab, sc, nthreads)
                       : kmeans_assign_impl(X, n, d, best, k, p->spherical, lab, sc, nthreads);
        if (sc && arc == TAC_OK) {
            float o = 0;
            for (int64_t i = 0; i < n; i++) o += sc[i];
            best_obj = o;
        }
        free(sc);
        if (!labels) free(lab);
        if (arc != TAC_OK) goto done;
    }
    if (centroids) memcpy(centroids, best, sizeof(float) * (size_t)k * (size_t)d);
    if (obj) *obj = best_obj;
    rc = TAC_OK;
done:
    free(best);
    free(xsub);
    if (blas_lowered) tac_blas_threads_leave();
    return rc;
}

int tac_kmeans(const float *X, int64_t n, int d, const tac_kmeans_params *p, float *centroids, int32_t *labels,
               double *obj)
{
    return kmeans_run(X, n, d, p, centroids, labels, obj, NULL);
}

int tac_kmeans_dist(const float *X, int64_t n, int d, const tac_kmeans_params *p, float *centroids,
                    int32_t *labels, double *obj, const tac_comm *comm)
{
    return kmeans_run(X, n, d, p, centroids, labels, obj, comm);
}
