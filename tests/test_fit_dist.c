/* test_fit_dist.c - distributed retrieval and tac_fit with params.comm on 1 to 4 ranks (the tests' thread
 * transport), against the single process with the same threads (1, OpenBLAS at 1 thread): retrieved counterparts
 * and weights bit-identical; fit's selected nouns, TAC (no train) and baseline clusters, names and metrics
 * identical; a rank that fails alone makes every rank fail naming it. */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <cblas.h>
#include <stdint.h>

/* n rows of width d near nb unit directions (class = row % nb), mt19937(seed); labels optional */
static float *near_dirs(int64_t n, int d, int nb, double noise, uint32_t seed, int64_t *y)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    float *X = malloc(sizeof(float) * (size_t)n * d);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % nb);
        if (y) y[i] = c;
        for (int j = 0; j < d; j++) X[i * d + j] = (j == c % d ? 1.0f : 0.0f) + (float)(noise * tac_mt_normal(&r));
    }
    return X;
}

typedef struct {
    const float *X, *E;
    int64_t n, s;
    int d;
    float *R[4], *W[4];
} rt_case;

static int retrieve_body(const tac_comm *c, void *arg)
{
    rt_case *t = arg;
    return tac_retrieve_dist(t->X, t->n, t->E, t->s, t->d, 0.05f, t->R[c->rank], t->W[c->rank], 1, c);
}

TAC_TEST(retrieve_dist_matches_single_process)
{
    /* 32768 nouns: blocks of 512 rows, so 1100 rows are 3 blocks (the last partial) shared by up to 4 ranks (one
     * with none); the weights W only at R = 2 (N x S floats per rank) */
    int64_t n = 1100, s = 32768;
    int d = 8;
    float *X = near_dirs(n, d, 8, 0.3, 1, NULL), *E = near_dirs(s, d, 8, 0.5, 2, NULL);
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(E, s, d);
    float *R1 = malloc(sizeof(float) * (size_t)n * d), *W1 = malloc(sizeof(float) * (size_t)(n * s));
    TAC_CHECK_OK(tac_retrieve_ex(X, n, E, s, d, 0.05f, R1, W1, 1));
    for (int R = 2; R <= 4; R++) {
        rt_case t = {X, E, n, s, d, {0}, {0}};
        for (int r = 0; r < R; r++) {
            t.R[r] = calloc((size_t)n * d, sizeof(float));
            t.W[r] = R == 2 ? calloc((size_t)(n * s), sizeof(float)) : NULL;
        }
        char err[4][512];
        int rc[4];
        if (tac_test_run_ranks(R, retrieve_body, &t, rc, err) != 0) {
            tac_test_fail_at(__FILE__, __LINE__, "R=%d: %s", R, err[0]);
        } else {
            for (int r = 0; r < R; r++) {
                TAC_CHECK(memcmp(t.R[r], R1, sizeof(float) * (size_t)n * d) == 0);
                if (t.W[r]) TAC_CHECK(memcmp(t.W[r], W1, sizeof(float) * (size_t)(n * s)) == 0);
            }
        }
        for (int r = 0; r < R; r++) { free(t.R[r]); free(t.W[r]); }
    }
    free(R1); free(W1); free(X); free(E);
}

enum { FD = 16, FK = 5, FNTR = 3000, FNTE = 600, FM = 300 };

typedef struct {
    float *Xtr, *Xte, *T;
    int64_t ytr[FNTR], yte[FNTE];
    tac_fit_params p;
    int fail_rank;          /* this rank's noun matrix is missing (-1: none) */
    tac_fit_result res[4];
} fit_case;

static int fit_body(const tac_comm *c, void *arg)
{
    fit_case *f = arg;
    tac_fit_params p = f->p;
    p.comm = c;
    if (c->rank == f->fail_rank) p.K = FNTE + 1;   /* fails at its own argument check */
    return tac_fit(f->Xtr, FNTR, f->Xte, FNTE, FD, f->T, FM, NULL, f->yte, f->ytr, &p, &f->res[c->rank]);
}

static void setup_fit(fit_case *f)
{
    f->Xtr = near_dirs(FNTR, FD, FK, 0.35, 3, f->ytr);
    f->Xte = near_dirs(FNTE, FD, FK, 0.35, 4, f->yte);
    f->T = near_dirs(FM, FD, 12, 0.4, 5, NULL);
    tac_fit_default_params(&f->p);
    f->p.K = FK;
    f->p.centres = 400;      /* 400 centres: the train rows span 2 score tiles */
    f->p.niter = 20;
    f->p.nredo_centres = 2;
    f->p.nredo_concat = 3;
    f->p.train = 0;
    f->p.threads = 1;
    f->fail_rank = -1;
}

TAC_TEST(fit_dist_notrain_matches_single_process)
{
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    fit_case *f = calloc(1, sizeof *f);
    setup_fit(f);
    tac_fit_result one;
    TAC_CHECK_OK(tac_fit(f->Xtr, FNTR, f->Xte, FNTE, FD, f->T, FM, NULL, f->yte, f->ytr, &f->p, &one));
    printf("    single process: %lld nouns selected, TAC (no train) ACC %.3f, CLIP k-means ACC %.3f\n",
           (long long)one.nsel, one.m_notrain.acc, one.m_kmeans.acc);
    for (int R = 2; R <= 3; R++) {
        memset(f->res, 0, sizeof f->res);
        char err[4][512];
        int rc[4];
        if (tac_test_run_ranks(R, fit_body, f, rc, err) != 0) {
            tac_test_fail_at(__FILE__, __LINE__, "R=%d: %s", R, err[0]);
            continue;
        }
        for (int r = 0; r < R; r++) {
            tac_fit_result *x = &f->res[r];
            TAC_CHECK(x->nsel == one.nsel && memcmp(x->selected, one.selected, sizeof(int64_t) * (size_t)one.nsel) == 0);
            TAC_CHECK(memcmp(x->pred_notrain, one.pred_notrain, sizeof(int32_t) * FNTE) == 0);
            TAC_CHECK(memcmp(x->pred_kmeans, one.pred_kmeans, sizeof(int32_t) * FNTE) == 0);
            TAC_CHECK(memcmp(x->cluster_names, one.cluster_names, sizeof(int64_t) * FK * (size_t)one.n_names) == 0);
            TAC_CHECK(memcmp(x->test_text, one.test_text, sizeof(float) * FNTE * FD) == 0);
            TAC_CHECK(x->test_weights && memcmp(x->test_weights, one.test_weights, sizeof(float) * FNTE * (size_t)one.nsel) == 0);
            TAC_CHECK(x->m_notrain.acc == one.m_notrain.acc && x->m_notrain.nmi == one.m_notrain.nmi);
            tac_fit_result_free(x);
        }
    }
    /* rank 1 fails alone: every rank returns the error naming it */
    f->fail_rank = 1;
    memset(f->res, 0, sizeof f->res);
    char err[4][512];
    int rc[4];
    TAC_CHECK(tac_test_run_ranks(3, fit_body, f, rc, err) != 0);
    for (int r = 0; r < 3; r++) {
        TAC_CHECK_INT(rc[r], TAC_ERR);
        if (!strstr(err[r], "rank 1 of 3") || !strstr(err[r], "larger than"))
            tac_test_fail_at(__FILE__, __LINE__, "rank %d: %s", r, err[r]);
        tac_fit_result_free(&f->res[r]);
    }
    tac_fit_result_free(&one);
    free(f->Xtr); free(f->Xte); free(f->T); free(f);
    openblas_set_num_threads(blas);
}
