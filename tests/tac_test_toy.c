/* tac_test_toy.c - the heads' tests' clustered toy data (see tac_test_toy.h). */
#include "tac_test_toy.h"

#include <stdlib.h>

#include "core/tac_internal.h"
#include "taclust/core.h"

tac_test_toy tac_test_toy_make(int64_t n, int d, int K, int kn, uint32_t seed)
{
    tac_test_toy t = {0};
    tac_mt r;
    tac_mt_seed(&r, seed);
    t.n = n; t.d = d; t.kn = kn;
    t.X = tac_xmalloc((size_t)n * d, sizeof(float));
    t.R = tac_xmalloc((size_t)n * d, sizeof(float));
    t.lab = tac_xmalloc((size_t)n, sizeof(int64_t));
    t.nn = tac_xmalloc((size_t)n * kn, sizeof(int64_t));
    float *cen = tac_xmalloc((size_t)K * d, sizeof(float));   /* K x d */
    for (int64_t i = 0; i < (int64_t)K * d; i++) cen[i] = (float)tac_mt_normal(&r);
    for (int64_t i = 0; i < n; i++) {
        t.lab[i] = i % K;
        for (int j = 0; j < d; j++) {
            t.X[i * d + j] = cen[t.lab[i] * d + j] + (float)(0.3 * tac_mt_normal(&r));
            t.R[i * d + j] = cen[t.lab[i] * d + j] + (float)(0.2 * tac_mt_normal(&r));
        }
    }
    tac_l2_normalize_rows(t.X, n, d);
    tac_l2_normalize_rows(t.R, n, d);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < kn; j++) t.nn[i * kn + j] = (i + (int64_t)K * (j + 1)) % n;
    free(cen);
    return t;
}

void tac_test_toy_free(tac_test_toy *t)
{
    free(t->X); free(t->R); free(t->nn); free(t->lab);
}
