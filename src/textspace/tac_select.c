/* tac_select.c - TAC's discriminative noun selection (tac-method.md section 4, steps 2-7).
 *
 * tac_select_nouns(Xn, n, labels, k, Tn, m, d, gamma, &sel, &nsel, &centre):
 *   1. centres c_j = normalize(mean of the rows of Xn labelled j), accumulated in double;
 *   2. s_jm = c_j . t_m with cblas_sgemm, in blocks of nouns so the k x M matrix is never held whole;
 *   3. p(j|m) = softmax_j(s_jm) (tau 1) in double; each noun goes to j*(m) = argmax_j s_jm (first index on ties)
 *      with confidence p(j*|m);
 *   4. per centre, the gamma nouns of highest confidence (ties: lower noun index first);
 *   5. output: the selected noun indices in ascending order (and optionally the centre of each).
 * A centre that no row is labelled with has no mean; it is left out of the softmax and receives no nouns
 * (the reference would produce NaN there).
 */
#include "taclust/textspace.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include <stdint.h>
#include "core/tac_threads.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Nouns per sgemm block: keeps the k x MB similarity block near 16M floats (64 MB). */
static int64_t noun_block(int k)
{
    int64_t mb = ((int64_t)1 << 24) / (k > 0 ? k : 1);
    if (mb < 256) mb = 256;
    if (mb > 16384) mb = 16384;
    return mb;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int tac_select_nouns(const float *Xn, int64_t n, const int32_t *labels, int k,
                     const float *Tn, int64_t m, int d, int gamma,
                     int64_t **selected, int64_t *nsel, int32_t **centre_of_selected)
{
    return tac_select_nouns_ex(Xn, n, labels, k, Tn, m, d, gamma, selected, nsel, centre_of_selected, 0);
}

int tac_select_nouns_ex(const float *Xn, int64_t n, const int32_t *labels, int k,
                        const float *Tn, int64_t m, int d, int gamma,
                        int64_t **selected, int64_t *nsel, int32_t **centre_of_selected, int threads)
{
    TAC_ASSERT(Xn && labels && Tn && selected && nsel);
    *selected = NULL; *nsel = 0;
    if (centre_of_selected) *centre_of_selected = NULL;
    if (n < 1) return tac_fail("select nouns: no images");
    if (m < 1) return tac_fail("select nouns: no nouns");
    if (k < 1) return tac_fail("select nouns: number of centres must be >= 1 (got %d)", k);
    if (d < 1) return tac_fail("select nouns: dimension must be >= 1 (got %d)", d);
    if (gamma < 1) return tac_fail("select nouns: gamma must be >= 1 (got %d)", gamma);
    if (n > (int64_t)(PTRDIFF_MAX / sizeof(float)) / d || m > (int64_t)(PTRDIFF_MAX / sizeof(float)) / d)
        return tac_fail("select nouns: %lld images or %lld nouns of width %d are too many to be arrays", (long long)n,
                        (long long)m, d);
    if (gamma > m) gamma = (int)m;   /* a centre cannot keep more than all M nouns: same result, bounded memory */
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return tac_fail("select nouns: label of row %lld is %d, outside [0, %d)", (long long)i, labels[i], k);
    /* a NaN or infinite row would make every softmax NaN and the selection arbitrary */
    if (tac_check_finite("select nouns: images", Xn, n, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("select nouns: nouns", Tn, m, d) != TAC_OK) return TAC_ERR;

    /* 1. centres: C (k x D), from double sums; live[j] = centre j has at least one member */
    const char *what = "select nouns: workspace";
    double *acc = tac_try_calloc((size_t)k * d, sizeof(double), what);   /* k x D */
    int64_t *count = tac_try_calloc((size_t)k, sizeof(int64_t), what);   /* k */
    float *C = tac_try_calloc((size_t)k * d, sizeof(float), what);       /* k x D */
    int32_t *best = tac_try_malloc((size_t)m, sizeof(int32_t), what);    /* M */
    double *conf = tac_try_malloc((size_t)m, sizeof(double), what);      /* M */
    int64_t mb = noun_block(k);
    float *Sblk = tac_try_malloc((size_t)k * mb, sizeof(float), what);   /* k x MB */
    int *ntop = tac_try_calloc((size_t)k, sizeof(int), what);            /* k */
    int64_t *top = tac_try_malloc((size_t)k * gamma, sizeof(int64_t), "select nouns: k x gamma");  /* k x gamma */
    int64_t *sel = NULL;                                                 /* S */
    int32_t *cs = NULL;                                                  /* S */
    int rc = TAC_ERR;
    if (!acc || !count || !C || !best || !conf || !Sblk || !ntop || !top) goto done;
    for (int64_t i = 0; i < n; i++) {
        const float *x = Xn + i * d;
        double *a = acc + (size_t)labels[i] * d;
        for (int c = 0; c < d; c++) a[c] += x[c];
        count[labels[i]]++;
    }
    for (int j = 0; j < k; j++) {
        if (!count[j]) continue;
        double *a = acc + (size_t)j * d, ss = 0;
        for (int c = 0; c < d; c++) { a[c] /= (double)count[j]; ss += a[c] * a[c]; }
        double nrm = sqrt(ss);
        if (nrm < 1e-12) nrm = 1e-12;
        for (int c = 0; c < d; c++) C[(size_t)j * d + c] = (float)(a[c] / nrm);
    }

    /* 2-3. per noun: best centre and its softmax probability */
    int nthreads = tac_threads_resolve(threads);
    int blas_lowered = threads > 0 && tac_blas_threads_lower(nthreads);
    for (int64_t m0 = 0; m0 < m; m0 += mb) {
        int64_t bm = m - m0 < mb ? m - m0 : mb;
        /* Sblk (k x bm) = C (k x D) . Tn[m0:m0+bm]^T (D x bm) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, (int)bm, d, 1.0f, C, d,
                    Tn + m0 * d, d, 0.0f, Sblk, (int)bm);
        #pragma omp parallel for schedule(static) num_threads(nthreads)
        for (int64_t t = 0; t < bm; t++) {
            int jb = -1;
            float smax = 0;
            for (int j = 0; j < k; j++) {
                if (!count[j]) continue;
                float s = Sblk[(size_t)j * bm + t];
                if (jb < 0 || s > smax) { smax = s; jb = j; }
            }
            double z = 0;
            for (int j = 0; j < k; j++)
                if (count[j]) z += exp((double)Sblk[(size_t)j * bm + t] - (double)smax);
            best[m0 + t] = jb;
            conf[m0 + t] = 1.0 / z;
        }
    }
    if (blas_lowered) tac_blas_threads_leave();

    /* 4. per centre, top gamma by (confidence desc, index asc): scanning nouns in index order and
     * replacing only on a strictly higher confidence keeps the lower index on ties. */
    for (int64_t t = 0; t < m; t++) {
        int j = best[t];
        int64_t *tj = top + (size_t)j * gamma;
        int c = ntop[j];
        if (c == gamma) {
            if (!(conf[t] > conf[tj[gamma - 1]])) continue;
            c = gamma - 1;
        } else {
            ntop[j]++;
        }
        /* insert t at its place, keeping tj sorted by confidence descending (earlier = lower index on ties) */
        while (c > 0 && conf[t] > conf[tj[c - 1]]) { tj[c] = tj[c - 1]; c--; }
        tj[c] = t;
    }

    /* 5. ascending noun indices */
    int64_t total = 0;
    for (int j = 0; j < k; j++) total += ntop[j];
    sel = tac_try_malloc((size_t)(total ? total : 1), sizeof(int64_t), "select nouns: selection");  /* S */
    if (!sel) goto done;
    if (centre_of_selected &&
        !(cs = tac_try_malloc((size_t)(total ? total : 1), sizeof(int32_t), "select nouns: centres of the selection")))
        goto done;
    int64_t q = 0;
    for (int j = 0; j < k; j++)
        for (int c = 0; c < ntop[j]; c++) sel[q++] = top[(size_t)j * gamma + c];
    qsort(sel, (size_t)total, sizeof(int64_t), cmp_i64);
    if (cs) {
        for (int64_t s = 0; s < total; s++) cs[s] = best[sel[s]];
        *centre_of_selected = cs;
        cs = NULL;
    }
    *selected = sel;
    *nsel = total;
    sel = NULL;
    rc = TAC_OK;
done:
    free(acc); free(C); free(Sblk); free(top); free(ntop); free(best); free(conf); free(count); free(sel); free(cs);
    return rc;
}
