/* test_knn_dist.c - tac_knn_cosine_dist (taclust/cluster.h) over 1..4 ranks of the tests' thread transport
 * (tests/tac_test_comm.h): the neighbour lists and similarities are byte-identical (memcmp) to the single-process
 * tac_knn_cosine_ex with the same threads per rank, on every rank; data spanning several 1024-row tiles, N not a
 * multiple of the tile, many exact ties (duplicated rows), fewer rows than ranks, many exchange rounds; and one
 * failing rank (k >= N, NaN, arguments differing from rank 0's) makes every rank fail naming it.
 */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "cluster/tac_knn.h"
#include "taclust/cluster.h"

#include <stdint.h>

#define MAXR 4

/* One distributed call: every rank runs it with the same arguments unless bad_rank says otherwise. */
typedef struct {
    const float *X;            /* N x D */
    const float *X_bad;        /* N x D given to bad_rank instead (may be NULL) */
    int64_t n;
    int d, k, threads, want_sim;
    int bad_rank;              /* -1: none */
    int bad_k;                 /* k of bad_rank (0: k) */
    int64_t bad_n;             /* n of bad_rank (0: n) */
    int64_t *idx[MAXR];        /* N x k per rank */
    float *sim[MAXR];          /* N x k per rank */
} knn_job;

static int knn_body(const tac_comm *c, void *arg)
{
    knn_job *J = arg;
    int r = c->rank, bad = r == J->bad_rank;
    const float *X = bad && J->X_bad ? J->X_bad : J->X;
    int k = bad && J->bad_k ? J->bad_k : J->k;
    int64_t n = bad && J->bad_n ? J->bad_n : J->n;
    return tac_knn_cosine_dist(X, n, J->d, k, J->idx[r], J->want_sim ? J->sim[r] : NULL, J->threads, c);
}

/* Rows of N(0,1) values (seed), or, with ties set, rows of D >= 6 values that are 0 but for 4 of the first 6,
 * each +-0.5: unit rows whose similarities are exact (sums of at most 4 terms +-0.25, in any order), only 9
 * values, and 240 distinct rows, so most rows have exact duplicates and nearly every list ends in a tie. */
static float *make_rows(int64_t n, int d, uint32_t seed, int ties)
{
    float *X = tac_xmalloc((size_t)(n * d), sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, seed);
    if (!ties) {
        for (int64_t i = 0; i < n * d; i++) X[i] = (float)tac_mt_normal(&r);
        return X;
    }
    memset(X, 0, (size_t)(n * d) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        int skip1 = (int)tac_mt_below(&r, 6), skip2 = (int)((skip1 + 1 + tac_mt_below(&r, 5)) % 6);
        for (int t = 0; t < 6; t++)
            if (t != skip1 && t != skip2) X[i * d + t] = tac_mt_below(&r, 2) ? 0.5f : -0.5f;
    }
    return X;
}

/* Runs the job on 1..maxR ranks and compares every rank's lists with the single-process call's; returns the number
 * of (R, rank) pairs that differ (and reports them). */
static int check_against_single(knn_job *J, int maxR, const char *what)
{
    int64_t nk = J->n * J->k;
    int64_t *Iref = tac_xmalloc((size_t)nk, sizeof(int64_t));
    float *Sref = tac_xmalloc((size_t)nk, sizeof(float));
    int bad = 0;
    if (tac_knn_cosine_ex(J->X, J->n, J->d, J->k, Iref, Sref, J->threads) != TAC_OK) {
        tac_test_fail_at(__FILE__, __LINE__, "%s: single-process call failed: %s", what, tac_last_error());
        free(Iref); free(Sref);
        return 1;
    }
    for (int R = 1; R <= maxR; R++) {
        for (int r = 0; r < R; r++) {
            J->idx[r] = tac_xmalloc((size_t)nk, sizeof(int64_t));
            J->sim[r] = tac_xmalloc((size_t)nk, sizeof(float));
            for (int64_t e = 0; e < nk; e++) { J->idx[r][e] = -7; J->sim[r][e] = 7.0f; }
        }
        int rc[MAXR];
        char err[MAXR][512];
        if (tac_test_run_ranks(R, knn_body, J, rc, err) != 0) {
            tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d: %s", what, R, err[0]);
            bad++;
        } else {
            for (int r = 0; r < R; r++) {
                int di = memcmp(J->idx[r], Iref, (size_t)nk * sizeof(int64_t)) != 0;
                int ds = J->want_sim && memcmp(J->sim[r], Sref, (size_t)nk * sizeof(float)) != 0;
                if (di || ds) {
                    tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d rank %d: %s differ from the single-process call",
                                     what, R, r, di ? "indices" : "similarities");
                    bad++;
                }
            }
        }
        for (int r = 0; r < R; r++) { free(J->idx[r]); free(J->sim[r]); J->idx[r] = NULL; J->sim[r] = NULL; }
    }
    free(Iref); free(Sref);
    return bad;
}

TAC_TEST(knn_dist_matches_single_process_several_tiles)
{
    /* 2500 rows: 3 row blocks (1024, 1024, 452), 6 tiles; R = 4 leaves rank 2 and 3 one tile each */
    float *X = make_rows(2500, 32, 11, 0);
    knn_job J = {.X = X, .n = 2500, .d = 32, .k = 10, .threads = 1, .want_sim = 1, .bad_rank = -1};
    TAC_CHECK_INT(check_against_single(&J, 4, "N=2500 D=32 k=10"), 0);
    /* indices only (sim NULL on every rank) */
    J.want_sim = 0;
    TAC_CHECK_INT(check_against_single(&J, 3, "N=2500 D=32 k=10, no sims"), 0);
    free(X);
}

TAC_TEST(knn_dist_exact_ties_lower_index)
{
    /* exact similarities with 9 values over 2100 rows: which of the tied candidates make a list is decided by the
     * lower-index rule only, across tiles and ranks */
    int64_t n = 2100; int d = 8, k = 30;
    float *X = make_rows(n, d, 5, 1);
    knn_job J = {.X = X, .n = n, .d = d, .k = k, .threads = 1, .want_sim = 1, .bad_rank = -1};
    TAC_CHECK_INT(check_against_single(&J, 4, "exact ties"), 0);
    /* the rule itself, against a naive selection on the exact similarities: the single-process lists are the k
     * best by (similarity desc, index asc), and the distributed ones are byte-identical to them (above) */
    int64_t *I = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *S = tac_xmalloc((size_t)(n * k), sizeof(float));
    TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, I, S, 1));
    double *row = tac_xmalloc((size_t)n, sizeof(double));   /* N: exact similarities of row i */
    char *in = tac_xmalloc((size_t)n, 1);                     /* N: candidate already in row i's list */
    int64_t wrong = 0, ties_at_end = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t c = 0; c < n; c++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double)X[i * d + t] * X[c * d + t];
            row[c] = s;
            in[c] = c == i;
        }
        double last = 0;
        for (int j = 0; j < k; j++) {   /* j-th best: the largest similarity not taken, lowest index first */
            int64_t bj = -1;
            for (int64_t c = 0; c < n; c++)
                if (!in[c] && (bj < 0 || row[c] > row[bj])) bj = c;
            in[bj] = 1;
            last = row[bj];
            if (I[i * k + j] != bj || S[i * k + j] != (float)row[bj]) wrong++;
        }
        /* a tie at the end of the list: some row outside it has the last kept similarity */
        for (int64_t c = 0; c < n; c++)
            if (!in[c] && row[c] == last) { ties_at_end++; break; }
    }
    free(row); free(in);
    TAC_CHECK_INT(wrong, 0);
    TAC_CHECK(ties_at_end > n * 9 / 10);
    free(I); free(S); free(X);
}

TAC_TEST(knn_dist_many_exchange_rounds)
{
    /* a tiny exchange budget: 7 rows per owner per round (R=3, k=9 -> 189 items), ~120 rounds; N = 1030 is one
     * row past a tile */
    float *X = make_rows(1030, 24, 3, 0);
    knn_job J = {.X = X, .n = 1030, .d = 24, .k = 9, .threads = 1, .want_sim = 1, .bad_rank = -1};
    tac_knn_exchange_items = 3 * 9 * 7;
    int bad = check_against_single(&J, 3, "7 rows per round");
    tac_knn_exchange_items = 0;
    TAC_CHECK_INT(bad, 0);
    free(X);
}

TAC_TEST(knn_dist_fewer_rows_than_ranks)
{
    /* 3 rows on 4 ranks: one tile (rank 0's); ranks 1..3 send empty partial lists, rank 3 owns no row */
    float *X = make_rows(3, 5, 9, 0);
    knn_job J = {.X = X, .n = 3, .d = 5, .k = 2, .threads = 1, .want_sim = 1, .bad_rank = -1};
    TAC_CHECK_INT(check_against_single(&J, 4, "N=3"), 0);
    free(X);
}

TAC_TEST(knn_dist_two_threads_per_rank)
{
    /* threads = 2: the scanner-thread pipeline on every rank, against the single-process call with 2 threads */
    float *X = make_rows(2300, 16, 21, 0);
    knn_job J = {.X = X, .n = 2300, .d = 16, .k = 8, .threads = 2, .want_sim = 1, .bad_rank = -1};
    TAC_CHECK_INT(check_against_single(&J, 2, "2 threads per rank"), 0);
    free(X);
}

/* Runs a job expected to fail on every rank with `want` in each rank's reason. */
static void expect_all_fail(knn_job *J, int R, const char *want, int line)
{
    int64_t nk = (J->n + 8) * (J->k + 8);
    for (int r = 0; r < R; r++) {
        J->idx[r] = tac_xmalloc((size_t)nk, sizeof(int64_t));
        J->sim[r] = tac_xmalloc((size_t)nk, sizeof(float));
    }
    int rc[MAXR];
    char err[MAXR][512];
    if (tac_test_run_ranks(R, knn_body, J, rc, err) == 0) tac_test_fail_at(__FILE__, line, "every rank succeeded");
    for (int r = 0; r < R; r++) {
        if (rc[r] != TAC_ERR) tac_test_fail_at(__FILE__, line, "rank %d returned %d", r, rc[r]);
        else if (!strstr(err[r], want)) tac_test_fail_at(__FILE__, line, "rank %d: '%s' lacks '%s'", r, err[r], want);
        free(J->idx[r]); free(J->sim[r]);
        J->idx[r] = NULL; J->sim[r] = NULL;
    }
}

TAC_TEST(knn_dist_one_failing_rank_fails_every_rank)
{
    int64_t n = 1200; int d = 12;
    float *X = make_rows(n, d, 4, 0);
    float *Xnan = tac_xmalloc((size_t)(n * d), sizeof(float));
    memcpy(Xnan, X, (size_t)(n * d) * sizeof(float));
    Xnan[77 * d + 3] = NAN;
    knn_job J = {.X = X, .n = n, .d = d, .k = 5, .threads = 1, .want_sim = 1, .bad_rank = 2};
    J.bad_k = (int)n;
    expect_all_fail(&J, 4, "rank 2 of 4: knn: k=1200 must be smaller than the number of points N=1200", __LINE__);
    J.bad_k = 0;
    J.X_bad = Xnan;
    expect_all_fail(&J, 4, "rank 2 of 4: knn input: row 77 has", __LINE__);
    J.X_bad = NULL;
    /* valid on its own but not rank 0's arguments: caught before any collective that it would size wrongly */
    J.bad_rank = 1;
    J.bad_n = n - 1;
    expect_all_fail(&J, 3, "rank 1 of 3: knn: the arguments differ from rank 0's (N=1199", __LINE__);
    /* after failures, the same ranks still compute correctly */
    J.bad_rank = -1; J.bad_n = 0;
    TAC_CHECK_INT(check_against_single(&J, 3, "after failures"), 0);
    free(Xnan); free(X);
}
