/* test_kmeans_dist.c - tac_kmeans_dist on 1 to 4 ranks (the tests' thread transport) against tac_kmeans with the
 * same threads (1): labels, centroids and objective bit-identical, for the spherical kind with a subsample, L2,
 * double sums, k-means++, and data the single process runs with its label bounds; a rank given other arguments
 * makes every rank fail naming it. */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "taclust/cluster.h"
#include "taclust/core.h"

#include <stdint.h>

typedef struct {
    const float *X;
    int64_t n;
    int d;
    tac_kmeans_params p;
    int bad_rank;                 /* this rank passes K+1 (-1: none) */
    float *C[4];                  /* per rank: K x D */
    int32_t *lab[4];              /* per rank: N */
    double obj[4];
} kd_case;

static int rank_body(const tac_comm *c, void *arg)
{
    kd_case *k = arg;
    tac_kmeans_params p = k->p;
    if (c->rank == k->bad_rank) p.k++;
    return tac_kmeans_dist(k->X, k->n, k->d, &p, k->C[c->rank], k->lab[c->rank], &k->obj[c->rank], c);
}

/* blobs: n rows of width d around nb centres, mt19937(seed) */
static float *blobs(int64_t n, int d, int nb, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    float *M = malloc(sizeof(float) * (size_t)nb * d), *X = malloc(sizeof(float) * (size_t)n * d);
    for (int64_t i = 0; i < (int64_t)nb * d; i++) M[i] = (float)tac_mt_normal(&r);
    for (int64_t i = 0; i < n; i++) {
        int b = (int)tac_mt_below(&r, (uint64_t)nb);
        for (int j = 0; j < d; j++) X[i * d + j] = M[b * d + j] + 0.7f * (float)tac_mt_normal(&r);
    }
    free(M);
    return X;
}

static void run_case(const char *what, int64_t n, int d, int nb, const tac_kmeans_params *p)
{
    float *X = blobs(n, d, nb, 7);
    int K = p->k;
    float *C1 = malloc(sizeof(float) * (size_t)K * d);
    int32_t *l1 = malloc(sizeof(int32_t) * (size_t)n);
    double o1 = 0;
    TAC_CHECK_OK(tac_kmeans(X, n, d, p, C1, l1, &o1));
    for (int R = 1; R <= 4; R++) {
        kd_case kc = {X, n, d, *p, -1, {0}, {0}, {0}};
        for (int r = 0; r < R; r++) {
            kc.C[r] = malloc(sizeof(float) * (size_t)K * d);
            kc.lab[r] = malloc(sizeof(int32_t) * (size_t)n);
        }
        int rc[4];
        char err[4][512];
        if (tac_test_run_ranks(R, rank_body, &kc, rc, err) != 0) {
            tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d: %s", what, R, err[0]);
        } else {
            for (int r = 0; r < R; r++) {
                int same_l = memcmp(kc.lab[r], l1, sizeof(int32_t) * (size_t)n) == 0;
                int same_c = memcmp(kc.C[r], C1, sizeof(float) * (size_t)K * d) == 0;
                if (!same_l || !same_c || kc.obj[r] != o1)
                    tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d rank %d: labels %s, centroids %s, objective %.9g vs %.9g",
                                     what, R, r, same_l ? "same" : "DIFFER", same_c ? "same" : "DIFFER", kc.obj[r], o1);
            }
        }
        for (int r = 0; r < R; r++) { free(kc.C[r]); free(kc.lab[r]); }
    }
    free(C1); free(l1); free(X);
}

TAC_TEST(kmeans_dist_matches_single_process)
{
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.threads = 1;
    /* K = 1000 (score tiles of 1048 rows): 6000 rows span 6 tiles, shared unevenly by 4 ranks; spherical */
    p.k = 1000; p.niter = 12; p.nredo = 2; p.spherical = 1; p.seed = 3;
    run_case("spherical, 6 tiles", 6000, 16, 40, &p);
    /* the single process with its label bounds (forced), the ranks with the plain pass */
    p.plain = -1;
    run_case("spherical, bounds in the single process", 6000, 16, 40, &p);
    p.plain = 0;
    /* subsample (max 4 points per centroid), L2, double sums, k-means++ */
    tac_kmeans_default_params(&p);
    p.threads = 1;
    p.k = 300; p.niter = 10; p.nredo = 2; p.max_points_per_centroid = 4; p.seed = 11;
    run_case("L2, subsampled", 5000, 12, 30, &p);
    p.accumulate_double = 1; p.spherical = 1;
    run_case("spherical, double sums", 5000, 12, 30, &p);
    p.accumulate_double = 0; p.init = TAC_KMEANS_INIT_PLUSPLUS;
    run_case("k-means++", 3000, 12, 30, &p);
}

TAC_TEST(kmeans_dist_other_arguments_fail_on_every_rank)
{
    float *X = blobs(500, 8, 5, 2);
    kd_case kc = {X, 500, 8, {0}, 2, {0}, {0}, {0}};
    tac_kmeans_default_params(&kc.p);
    kc.p.k = 5; kc.p.threads = 1;
    for (int r = 0; r < 3; r++) { kc.C[r] = malloc(sizeof(float) * 6 * 8); kc.lab[r] = malloc(sizeof(int32_t) * 500); }
    int rc[3];
    char err[3][512];
    TAC_CHECK(tac_test_run_ranks(3, rank_body, &kc, rc, err) != 0);
    for (int r = 0; r < 3; r++) {
        TAC_CHECK_INT(rc[r], TAC_ERR);
        if (!strstr(err[r], "rank 2 of 3") || !strstr(err[r], "other arguments than rank 0"))
            tac_test_fail_at(__FILE__, __LINE__, "rank %d: %s", r, err[r]);
    }
    for (int r = 0; r < 3; r++) { free(kc.C[r]); free(kc.lab[r]); }
    free(X);
}
