/* test_kmeans_bounds.c - the bounded spherical k-means (rows whose label is proven are not scored) must give
 * exactly the plain pass's result: the same labels, centroids and objective bit for bit, on the faiss fixtures
 * and on random data with many iterations, near-ties and duplicate rows; and it must actually skip rows.
 */
#include "tac_test.h"
#include "taclust/cluster.h"

#define FIX "tests/fixtures/cluster/"

/* Run k-means twice (plain, bounded) with the same parameters; compare bit for bit. Returns the rows skipped. */
static int64_t plain_vs_bounded(const char *what, const float *X, int64_t n, int d, tac_kmeans_params p)
{
    int k = p.k;
    float *C1 = tac_xmalloc((size_t)k * d, sizeof(float)), *C2 = tac_xmalloc((size_t)k * d, sizeof(float)); /* K x D */
    int32_t *L1 = tac_xmalloc((size_t)n, sizeof(int32_t)), *L2 = tac_xmalloc((size_t)n, sizeof(int32_t));   /* N */
    double o1 = 0, o2 = 0;
    int64_t skipped = -1;
    int fallbacks = -1;
    p.plain = 1;
    p.skipped = NULL;
    p.fallbacks = NULL;
    if (tac_kmeans(X, n, d, &p, C1, L1, &o1) != TAC_OK) { tac_test_fail_at(__FILE__, __LINE__, "%s", tac_last_error()); goto out; }
    p.plain = -1;
    p.skipped = &skipped;
    p.fallbacks = &fallbacks;
    if (tac_kmeans(X, n, d, &p, C2, L2, &o2) != TAC_OK) { tac_test_fail_at(__FILE__, __LINE__, "%s", tac_last_error()); goto out; }
    int64_t dl = 0, dc = 0;
    for (int64_t i = 0; i < n; i++) dl += L1[i] != L2[i];
    for (int64_t i = 0; i < (int64_t)k * d; i++) dc += memcmp(&C1[i], &C2[i], sizeof(float)) != 0;
    if (dl || dc || o1 != o2)
        printf("  %s: %lld labels and %lld centroid values differ, objective %.9g vs %.9g\n", what, (long long)dl,
               (long long)dc, o1, o2);
    TAC_CHECK(dl == 0);
    TAC_CHECK(dc == 0);
    TAC_CHECK(o1 == o2);
    TAC_CHECK(skipped >= 0);
    TAC_CHECK(fallbacks == 0); /* no redo needed the plain pass's rescue */
out:
    free(C1); free(C2); free(L1); free(L2);
    return skipped;
}

static float *load_x(const char *name, int64_t *n, int64_t *d)
{
    char path[256];
    snprintf(path, sizeof path, FIX "%s_X.npy", name);
    float *x = NULL;
    if (tac_npy_load_f32(path, &x, n, d) != TAC_OK) return NULL;
    return x;
}

TAC_TEST(kmeans_bounds_equal_plain_on_faiss_fixtures)
{
    /* the spherical fixture cases of test_cluster.c: plain, subsampled, empty-cluster split */
    static const struct { const char *name; int k, niter, nredo, mppc; uint32_t seed; } cs[] = {
        {"sph", 8, 20, 3, 256, 1234}, {"sub", 6, 15, 2, 256, 99}, {"empty", 10, 10, 1, 256, 3},
    };
    int64_t total = 0;
    for (int c = 0; c < 3; c++) {
        int64_t n, d;
        float *X = load_x(cs[c].name, &n, &d);
        TAC_REQUIRE(X);
        tac_kmeans_params p;
        tac_kmeans_default_params(&p);
        p.k = cs[c].k; p.spherical = 1; p.niter = cs[c].niter; p.nredo = cs[c].nredo;
        p.max_points_per_centroid = cs[c].mppc; p.seed = cs[c].seed;
        total += plain_vs_bounded(cs[c].name, X, n, (int)d, p);
        p.accumulate_double = 1;
        total += plain_vs_bounded(cs[c].name, X, n, (int)d, p);
        free(X);
    }
    TAC_CHECK(total > 0); /* the bounds proved some rows */
}

/* N x D rows around K0 random unit centres with noise sigma (duplicates: every dup-th row repeats the previous) */
static float *blobs(int64_t n, int d, int k0, double sigma, int dup, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    float *c = tac_xmalloc((size_t)k0 * d, sizeof(float)); /* K0 x D */
    for (int64_t i = 0; i < (int64_t)k0 * d; i++) c[i] = (float)tac_mt_normal(&r);
    tac_l2_normalize_rows(c, k0, d);
    float *X = tac_xmalloc((size_t)n * d, sizeof(float));  /* N x D */
    for (int64_t i = 0; i < n; i++) {
        if (dup && i % dup == dup - 1) { memcpy(X + i * d, X + (i - 1) * d, sizeof(float) * (size_t)d); continue; }
        int b = (int)tac_mt_below(&r, (uint64_t)k0);
        for (int j = 0; j < d; j++) X[i * d + j] = c[(int64_t)b * d + j] + (float)(sigma * tac_mt_normal(&r));
    }
    free(c);
    return X;
}

TAC_TEST(kmeans_bounds_equal_plain_random_many_iterations)
{
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.spherical = 1;
    /* several tiles (K=300: 3449-row tiles), many iterations, overlapping blobs, duplicate rows */
    int64_t n = 24000; int d = 16;
    float *X = blobs(n, d, 60, 0.35, 7, 11);
    p.k = 300; p.niter = 60; p.nredo = 2; p.seed = 5;
    int64_t s1 = plain_vs_bounded("K=300 blobs", X, n, d, p);
    printf("  K=300: %lld row-passes proven of %lld\n", (long long)s1, (long long)(n * p.niter * p.nredo));
    TAC_CHECK(s1 > n);                        /* most of the work skipped over the run */
    /* subsampled (mppc 40: 12,000 training rows), random init, double sums */
    p.max_points_per_centroid = 40; p.accumulate_double = 1; p.niter = 40; p.nredo = 1;
    TAC_CHECK(plain_vs_bounded("K=300 subsampled", X, n, d, p) > 0);
    free(X);
    /* few dimensions and many near-ties: points on a circle, K = 12 */
    n = 5000; d = 2;
    X = blobs(n, d, 5, 0.8, 3, 3);
    tac_kmeans_default_params(&p);
    p.spherical = 1; p.k = 12; p.niter = 100; p.nredo = 3; p.seed = 77;
    TAC_CHECK(plain_vs_bounded("circle", X, n, d, p) > 0);
    free(X);
    /* k-means++ init */
    n = 6000; d = 32;
    X = blobs(n, d, 20, 0.2, 0, 9);
    tac_kmeans_default_params(&p);
    p.spherical = 1; p.k = 40; p.niter = 50; p.nredo = 2; p.init = TAC_KMEANS_INIT_PLUSPLUS;
    TAC_CHECK(plain_vs_bounded("k-means++", X, n, d, p) > 0);
    free(X);
}
