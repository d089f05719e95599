/* tac_knn.c - exact cosine k-nearest neighbours of every row among all rows (self excluded).
 *
 * Usage: tac_knn_cosine(X, n, d, k, idx (N x k), sim (N x k or NULL)).
 *
 * Rows are L2-normalised into a copy, then the N x N similarity matrix is produced tile by tile with
 * cblas_sgemm (a ROWS x COLS tile at a time, small enough to stay in the last-level cache) and never stored
 * whole. A scanner thread feeds every row's bounded min-heap of the k best candidates from tile t while the
 * main thread computes tile t+1 (two tile buffers), so the multi-threaded sgemm never waits for selection and
 * no OpenMP team spins between BLAS calls. The heap root is a per-row threshold: a vectorised pass compares 32 candidates at a time with it
 * and only the rare candidates that beat it touch the heap, so selection costs a small fraction of the sgemm.
 * Columns are visited in increasing index order, so on equal similarity the lower index is kept; the final
 * lists are sorted by decreasing similarity, then increasing index.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define KNN_ROWS 1024
#define KNN_COLS 2048

typedef struct { float s; int64_t i; } knn_item;

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

/* Scan one row of a tile: sims[0..nc-1] are the similarities to columns c0.., self = the row's own index. */
static void scan_row(const float *sims, int64_t nc, int64_t c0, int64_t self, knn_item *h, int *m, int k,
                     float *thr)
{
    float t = *thr;
    int64_t j = 0;
#ifdef __AVX2__
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
#endif
    for (; j < nc; j++) {
        float s = sims[j];
        if (s < t || c0 + j == self) continue;
        t = heap_offer(h, m, k, s, c0 + j);
    }
    *thr = t;
}

static int cmp_best_first(const void *a, const void *b)
{
    const knn_item *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The scanner thread: consumes tiles in the order the main thread produces them (row block major, column
 * blocks ascending, so every row sees its candidates in increasing index order). Double buffering: the main
 * thread computes tile t+1 with sgemm while this thread scans tile t. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int posted, done, quit;            /* tiles handed over / tiles finished; stop flag */
    float *buf[2];                     /* 2 x (ROWS x COLS) similarity tiles */
    int64_t r0[2], nr[2], c0[2], nc[2];
    knn_item *heaps;                   /* N x k */
    int *fill;                         /* N */
    float *thr;                        /* N */
    int k;
} knn_pipe;

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
        for (int64_t i = 0; i < P->nr[b]; i++) {
            int64_t row = P->r0[b] + i;
            scan_row(P->buf[b] + i * P->nc[b], P->nc[b], P->c0[b], row, P->heaps + row * P->k, &P->fill[row], P->k,
                     &P->thr[row]);
        }
        pthread_mutex_lock(&P->mu);
        P->done = t + 1;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
    }
    return NULL;
}

int tac_knn_cosine(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim)
{
    if (d < 1) return tac_fail("knn: dimension D=%d must be at least 1", d);
    if (k < 1) return tac_fail("knn: k=%d must be at least 1", k);
    if ((int64_t)k >= n)
        return tac_fail("knn: k=%d must be smaller than the number of points N=%lld (self is excluded)", k,
                        (long long)n);
    if (n > 2147483647LL) return tac_fail("knn: N=%lld is too large", (long long)n);
    if (tac_check_finite("knn input", X, n, d) != TAC_OK) return TAC_ERR;

    float *Xn = tac_xmalloc((size_t)n * (size_t)d, sizeof(float)); /* N x D, unit rows */
    memcpy(Xn, X, sizeof(float) * (size_t)n * (size_t)d);
    tac_l2_normalize_rows(Xn, n, d);

    knn_pipe P;
    memset(&P, 0, sizeof P);
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.cv, NULL);
    P.k = k;
    P.heaps = tac_xmalloc((size_t)n * (size_t)k, sizeof(knn_item)); /* N x k */
    P.fill = tac_xcalloc((size_t)n, sizeof(int));                    /* N */
    P.thr = tac_xmalloc((size_t)n, sizeof(float));                   /* N */
    for (int64_t i = 0; i < n; i++) P.thr[i] = -INFINITY;
    for (int b = 0; b < 2; b++) P.buf[b] = tac_xmalloc((size_t)KNN_ROWS * KNN_COLS, sizeof(float));
    pthread_t th;
    int threaded = pthread_create(&th, NULL, scanner, &P) == 0;

    int t = 0;
    for (int64_t r0 = 0; r0 < n; r0 += KNN_ROWS) {
        int64_t nr = n - r0 < KNN_ROWS ? n - r0 : KNN_ROWS;
        for (int64_t c0 = 0; c0 < n; c0 += KNN_COLS, t++) {
            int64_t nc = n - c0 < KNN_COLS ? n - c0 : KNN_COLS;
            int b = t & 1;
            if (threaded) { /* buffer b was used by tile t-2: wait until it is scanned */
                pthread_mutex_lock(&P.mu);
                while (P.done < t - 1) pthread_cond_wait(&P.cv, &P.mu);
                pthread_mutex_unlock(&P.mu);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, d, 1.0f, Xn + r0 * d, d,
                        Xn + c0 * d, d, 0.0f, P.buf[b], (int)nc);
            P.r0[b] = r0; P.nr[b] = nr; P.c0[b] = c0; P.nc[b] = nc;
            if (threaded) {
                pthread_mutex_lock(&P.mu);
                P.posted = t + 1;
                pthread_cond_broadcast(&P.cv);
                pthread_mutex_unlock(&P.mu);
            } else {
                for (int64_t i = 0; i < nr; i++)
                    scan_row(P.buf[b] + i * nc, nc, c0, r0 + i, P.heaps + (r0 + i) * k, &P.fill[r0 + i], k,
                             &P.thr[r0 + i]);
            }
        }
    }
    if (threaded) {
        pthread_mutex_lock(&P.mu);
        P.quit = 1;
        pthread_cond_broadcast(&P.cv);
        pthread_mutex_unlock(&P.mu);
        pthread_join(th, NULL);
    }

#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        knn_item *h = P.heaps + i * k;
        qsort(h, (size_t)k, sizeof(knn_item), cmp_best_first);
        for (int j = 0; j < k; j++) {
            idx[i * k + j] = h[j].i;
            if (sim) sim[i * k + j] = h[j].s;
        }
    }
    for (int b = 0; b < 2; b++) free(P.buf[b]);
    free(P.thr);
    free(P.fill);
    free(P.heaps);
    free(Xn);
    pthread_mutex_destroy(&P.mu);
    pthread_cond_destroy(&P.cv);
    return TAC_OK;
}
