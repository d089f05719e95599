/* tac_threads.c - per-call thread counts and OpenBLAS's thread count saved and restored around a call (see
 * tac_threads.h). A mutex and a depth counter make nested and concurrent calls restore the caller's value once:
 * the first enter records it, the last leave puts it back.
 */
#include "core/tac_threads.h"
#include "taclust/core.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>

static pthread_mutex_t g_blas_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_blas_depth;      /* calls inside enter/leave */
static int g_blas_saved;      /* the value before the first enter */

int tac_threads_resolve(int threads)
{
    if (threads > 0) return threads;
    int t = tac_num_threads();
    return t > 0 ? t : 1;
}

void tac_blas_threads_enter(int n)
{
    if (n < 1) n = 1;
    pthread_mutex_lock(&g_blas_mu);
    if (g_blas_depth++ == 0) g_blas_saved = openblas_get_num_threads();
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
    pthread_mutex_unlock(&g_blas_mu);
}

int tac_blas_threads_lower(int n)
{
    if (n < 1) n = 1;
    pthread_mutex_lock(&g_blas_mu);
    /* the caller's own value: the one recorded by the first enter while other calls are inside. This call enters
     * (and so holds the count: no other call's leave restores a higher one under its BLAS calls) at min(that, n):
     * alone in the process, the count it would have had without taclust lowering anything, bounded by n. */
    int base = g_blas_depth > 0 ? g_blas_saved : openblas_get_num_threads();
    int want = base < n ? base : n;
    if (g_blas_depth++ == 0) g_blas_saved = openblas_get_num_threads();
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
    pthread_mutex_unlock(&g_blas_mu);
    return 1;
}

void tac_l2_normalize_rows_ex(float *X, int64_t n, int64_t d, int nthreads)
{
    nthreads = tac_threads_resolve(nthreads);
    #pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int64_t i = 0; i < n; i++) {
        float *x = X + i * d;
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)x[j] * x[j];
        double nrm = sqrt(s);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int64_t j = 0; j < d; j++) x[j] *= inv;
    }
}

void tac_blas_threads_leave(void)
{
    pthread_mutex_lock(&g_blas_mu);
    if (g_blas_depth > 0 && --g_blas_depth == 0 && openblas_get_num_threads() != g_blas_saved)
        openblas_set_num_threads(g_blas_saved);
    pthread_mutex_unlock(&g_blas_mu);
}
