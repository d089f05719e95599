/* tac_retrieve.c - TAC's soft retrieval of each image's text counterpart (tac-method.md section 5).
 *
 * tac_retrieve(Xn, n, E, s, d, tau, R, W): for each normalised image x_i,
 *     w_im = softmax_m(x_i . e_m / tau) over the S selected nouns,   r_i = normalize(sum_m w_im e_m).
 * Work is done in blocks of images: L = X_B E^T (sgemm), a stable softmax per row (subtract the row max,
 * exponentials in float, sums in double), then R_B = W_B E (sgemm) and an L2 normalisation (eps 1e-12).
 * Memory is bounded by the block (about 16M floats), whatever N is. W (N x S) is optional.
 */
#include "taclust/textspace.h"
#include "core/tac_dist.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_threads.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

/* Rows per block of tac_retrieve_ex for S nouns and N rows (its sgemm shapes). */
static int64_t retrieve_block(int64_t n, int64_t s)
{
    int64_t nb = ((int64_t)1 << 24) / (s > 0 ? s : 1);
    if (nb < 16) nb = 16;
    if (nb > 8192) nb = 8192;
    return nb > n ? (n > 0 ? n : 1) : nb;
}

int tac_retrieve(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                 float *R, float *W)
{
    return tac_retrieve_ex(Xn, n, E, s, d, tau, R, W, 0);
}

int tac_retrieve_ex(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                    float *R, float *W, int threads)
{
    TAC_ASSERT(Xn && E && R);
    if (n < 0) return tac_fail("retrieve: negative number of images");
    if (s < 1) return tac_fail("retrieve: no selected nouns");
    if (d < 1) return tac_fail("retrieve: dimension must be >= 1 (got %d)", d);
    if (!(tau > 0) || !isfinite(tau)) return tac_fail("retrieve: tau must be a positive number (got %g)", tau);
    if (n == 0) return TAC_OK;
    if (s > (int64_t)1 << 30) return tac_fail("retrieve: too many selected nouns (%lld)", (long long)s);
    /* a NaN or infinite value would make the softmax weights NaN */
    if (tac_check_finite("retrieve: images", Xn, n, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("retrieve: nouns", E, s, d) != TAC_OK) return TAC_ERR;

    int64_t nb = retrieve_block(n, s);
    float *L = tac_try_malloc((size_t)nb * (size_t)s, sizeof(float), "retrieve: logits block");   /* B x S: logits, then weights */
    if (!L) return TAC_ERR;
    int nthreads = tac_threads_resolve(threads);
    int blas_lowered = threads > 0 && tac_blas_threads_lower(nthreads);
    const float inv_tau = 1.0f / tau;
    for (int64_t i0 = 0; i0 < n; i0 += nb) {
        int64_t b = n - i0 < nb ? n - i0 : nb;
        /* L (b x S) = X[i0:i0+b] (b x D) . E^T (D x S) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)s, d, 1.0f, Xn + i0 * d, d,
                    E, d, 0.0f, L, (int)s);
        #pragma omp parallel for schedule(static) num_threads(nthreads)
        for (int64_t i = 0; i < b; i++) {
            float *l = L + i * s;
            float mx = l[0];
            for (int64_t t = 1; t < s; t++) if (l[t] > mx) mx = l[t];
            double z = 0;
            for (int64_t t = 0; t < s; t++) { float e = expf((l[t] - mx) * inv_tau); l[t] = e; z += e; }
            float iz = (float)(1.0 / z);
            for (int64_t t = 0; t < s; t++) l[t] *= iz;
            if (W) { float *w = W + (i0 + i) * s; for (int64_t t = 0; t < s; t++) w[t] = l[t]; }
        }
        /* R[i0:i0+b] (b x D) = L (b x S) . E (S x D) */
        float *Rb = R + i0 * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, d, (int)s, 1.0f, L, (int)s,
                    E, d, 0.0f, Rb, d);
        tac_l2_normalize_rows_ex(Rb, b, d, nthreads);
    }
    if (blas_lowered) tac_blas_threads_leave();
    free(L);
    return TAC_OK;
}

int tac_retrieve_dist(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                      float *R, float *W, int threads, const tac_comm *comm)
{
    if (!tac_dist_active(comm)) return tac_retrieve_ex(Xn, n, E, s, d, tau, R, W, threads);
    TAC_ASSERT(Xn && E && R);
    if (n < 0) return tac_comm_check(comm, tac_fail("retrieve: negative number of images"));
    /* this rank's run of whole blocks: the blocks tac_retrieve_ex makes over all N rows */
    int64_t nb = retrieve_block(n, s), lo, hi;
    tac_dist_rows(n, nb, comm->rank, comm->size, &lo, &hi);
    int rc = tac_retrieve_ex(Xn + lo * d, hi - lo, E, s, d, tau, R + lo * d, W ? W + lo * s : NULL, threads);
    if (tac_comm_check(comm, rc) != TAC_OK) return TAC_ERR;
    if (tac_dist_allgather_rows(comm, R, n, nb, (int64_t)d * (int64_t)sizeof(float)) != TAC_OK) return TAC_ERR;
    return W ? tac_dist_allgather_rows(comm, W, n, nb, s * (int64_t)sizeof(float)) : TAC_OK;
}
