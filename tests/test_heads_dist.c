/* test_heads_dist.c - data-parallel heads training (tac_heads_train_dist, src/heads/tac_heads_dist.c) on the tests'
 * thread transport (tests/tac_test_comm.h), 1 thread per rank:
 *   - the distributed step on a one-rank transport is tac_heads_step bit for bit (its split kernels are the
 *     single-process kernels' arithmetic), and tac_heads_train_dist on one rank is tac_heads_train bit for bit;
 *   - on 2 and 3 ranks one step's loss and gradients match the single-process step's closely, and a whole training
 *     leaves every rank with the same heads (bitwise; also with 2 threads per rank), labels of ARI >= 0.999 against
 *     one rank and close epoch losses;
 *   - a rank with a bad argument makes every rank fail with "rank R of N: ...", without a hang;
 *   - over a transport whose float sums differ on one rank, the epoch-end check copies rank 0's heads to every rank.
 */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "heads/heads_internal.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tac_test_toy.h"

typedef tac_test_toy blobs;   /* clustered toy data: tests/tac_test_toy.h */
#define make_blobs tac_test_toy_make
#define free_blobs tac_test_toy_free

/* ---- one step ---------------------------------------------------------------------------------------------- */

/* a one-rank transport: every collective is the identity */
static int one_allreduce(const tac_comm *c, void *buf, int64_t n, int type) { (void)c; (void)buf; (void)n; (void)type; return TAC_OK; }

enum { SD = 24, SH = 40, SK = 6, SB = 60, SN = 240, STEPS = 3 };

typedef struct {
    const blobs *t; const tac_heads_params *p; const int64_t *sel;   /* STEPS x 3B batch rows */
    tac_heads *h[4];              /* per rank: the heads after the steps (no Adam on the last) */
    tac_heads_loss L[4][STEPS];
    int64_t bytes[4];
    float stats1[4][4 * SH];      /* per rank: the BatchNorm running statistics after the first step */
} step_arg;

static step_arg step_setup(const blobs *t, const tac_heads_params *p, const int64_t *sel)
{
    step_arg a;
    memset(&a, 0, sizeof a);
    a.t = t; a.p = p; a.sel = sel;
    return a;
}

static int step_rank(const tac_comm *c, void *arg)
{
    step_arg *a = arg;
    tac_heads *h = tac_heads_alloc(SD, SH, SK);
    tac_heads_dwork *w = h ? tac_heads_dwork_alloc(h, SB, c) : NULL;
    if (!w) { tac_heads_free(h); return TAC_ERR; }
    tac_heads_init(h, 8);
    int rc = TAC_OK;
    for (int s = 0; s < STEPS && rc == TAC_OK; s++) {
        const int64_t *q = a->sel + (size_t)s * 3 * SB;
        rc = tac_heads_dist_step(h, w, a->t->X, a->t->R, q, q + SB, q + 2 * SB, a->p, s < STEPS - 1, &a->L[c->rank][s]);
        if (s == 0) memcpy(a->stats1[c->rank], h->stats, sizeof a->stats1[0]);
    }
    a->bytes[c->rank] = tac_heads_dwork_reduced_bytes(w);
    tac_heads_dwork_free(w);
    a->h[c->rank] = h;
    return rc;
}

/* the single-process steps: Adam on all but the last, which leaves its gradients */
static tac_heads *single_steps(const blobs *t, const tac_heads_params *p, const int64_t *sel, tac_heads_loss *L,
                               float *stats1 /* 4H */)
{
    tac_heads *h = tac_heads_alloc(SD, SH, SK);
    tac_heads_work *w = tac_heads_work_alloc(h, SB);
    tac_heads_init(h, 8);
    for (int s = 0; s < STEPS; s++) {
        const int64_t *q = sel + (size_t)s * 3 * SB;
        if (s < STEPS - 1) tac_heads_step(h, w, t->X, t->R, q, q + SB, q + 2 * SB, p, &L[s]);
        else tac_heads_forward_backward(h, w, t->X, t->R, q, q + SB, q + 2 * SB, p, &L[s]);
        if (s == 0) memcpy(stats1, h->stats, 4 * SH * sizeof(float));
    }
    tac_heads_work_free(w);
    return h;
}

static int same_heads(const tac_heads *a, const tac_heads *b)
{
    return memcmp(a->params, b->params, a->nparam * sizeof(float)) == 0 &&
           memcmp(a->grads, b->grads, a->nparam * sizeof(float)) == 0 &&
           memcmp(a->stats, b->stats, 4 * (size_t)a->H * sizeof(float)) == 0 && a->step == b->step;
}

TAC_TEST(heads_dist_step_on_one_rank_is_the_single_step_bit_for_bit)
{
    blobs t = make_blobs(SN, SD, SK, 4, 31);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = SK; p.hidden = SH; p.batch = SB;
    int64_t sel[STEPS * 3 * SB];
    tac_mt r; tac_mt_seed(&r, 4);
    for (int i = 0; i < STEPS * 3 * SB; i++) sel[i] = (int64_t)tac_mt_below(&r, SN);
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tac_heads_loss L1[STEPS];
    float st1[4 * SH];
    tac_heads *h1 = single_steps(&t, &p, sel, L1, st1);
    tac_comm one = {.rank = 0, .size = 1, .allreduce_sum = one_allreduce};
    step_arg a = step_setup(&t, &p, sel);
    TAC_CHECK_OK(step_rank(&one, &a));
    openblas_set_num_threads(blas);
    for (int s = 0; s < STEPS; s++) {
        TAC_CHECK(a.L[0][s].total == L1[s].total);
        TAC_CHECK(a.L[0][s].distill_it == L1[s].distill_it && a.L[0][s].distill_ti == L1[s].distill_ti);
        TAC_CHECK(a.L[0][s].consist == L1[s].consist && a.L[0][s].ent_t == L1[s].ent_t && a.L[0][s].ent_i == L1[s].ent_i);
    }
    TAC_CHECK(same_heads(a.h[0], h1));
    /* what one step passes to allreduce: 2 x 8H doubles (BatchNorm), 6K+1 doubles, 2 x 4K^2 floats, 4K doubles,
     * and the gradients but gamma and beta (floats) */
    int64_t step_bytes = 2 * 8 * SH * 8 + (6 * SK + 1) * 8 + 2 * 4 * SK * SK * 4 + 4 * SK * 8 +
                         ((int64_t)h1->nparam - 4 * SH) * 4;
    TAC_CHECK_INT(a.bytes[0], STEPS * step_bytes);
    tac_heads_free(a.h[0]);
    tac_heads_free(h1);
    free_blobs(&t);
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

TAC_TEST(heads_dist_step_on_2_and_3_ranks_matches_the_single_step)
{
    blobs t = make_blobs(SN, SD, SK, 4, 32);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = SK; p.hidden = SH; p.batch = SB;
    int64_t sel[STEPS * 3 * SB];
    tac_mt r; tac_mt_seed(&r, 5);
    for (int i = 0; i < STEPS * 3 * SB; i++) sel[i] = (int64_t)tac_mt_below(&r, SN);
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    tac_heads_loss L1[STEPS];
    float st1[4 * SH];
    tac_heads *h1 = single_steps(&t, &p, sel, L1, st1);
    for (int R = 2; R <= 3; R++) {
        step_arg a = step_setup(&t, &p, sel);
        TAC_CHECK(tac_test_run_ranks(R, step_rank, &a, NULL, NULL) == 0);
        for (int q = 0; q < R; q++) TAC_REQUIRE(a.h[q]);
        for (int q = 1; q < R; q++) {   /* every rank: the same loss, gradients, parameters and statistics */
            TAC_CHECK(same_heads(a.h[q], a.h[0]));
            for (int s = 0; s < STEPS; s++) TAC_CHECK(a.L[q][s].total == a.L[0][s].total);
            TAC_CHECK_INT(a.bytes[q], a.bytes[0]);
        }
        double dl = 0;
        for (int s = 0; s < STEPS; s++) {
            double e = fabs(a.L[0][s].total - L1[s].total) / fabs(L1[s].total);
            dl = e > dl ? e : dl;
        }
        size_t np = h1->nparam;
        double dg = 0, gmax = max_abs(h1->grads, np);
        for (size_t i = 0; i < np; i++) dg = fmax(dg, fabs(a.h[0]->grads[i] - h1->grads[i]));
        double dp = 0;   /* after two Adam steps: near-zero gradients can flip an update's sign (lr 1e-3 each) */
        for (size_t i = 0; i < np; i++) dp = fmax(dp, fabs(a.h[0]->params[i] - h1->params[i]));
        double ds1 = 0, ds = 0;   /* running statistics after the first step (same parameters), after the last */
        for (size_t i = 0; i < 4 * (size_t)SH; i++) ds1 = fmax(ds1, fabs(a.stats1[0][i] - st1[i]));
        for (size_t i = 0; i < 4 * (size_t)SH; i++) ds = fmax(ds, fabs(a.h[0]->stats[i] - h1->stats[i]));
        printf("    %d ranks: loss rel diff %.2g, last gradients max diff %.2g (max |g| %.2g), params %.2g, "
               "BN stats after step 1 %.2g, after step 3 %.2g\n", R, dl, dg, gmax, dp, ds1, ds);
        TAC_CHECK(dl < 1e-6);
        TAC_CHECK(dg < 1e-4 * gmax);
        /* Adam moves a parameter by about lr at most per step; where a gradient is at rounding level its sign can
         * differ between the two sums, so after two steps the parameters can differ by a few lr */
        TAC_CHECK(dp < 4 * p.lr);
        TAC_CHECK(ds1 < 1e-6);
        for (int q = 0; q < R; q++) tac_heads_free(a.h[q]);
    }
    openblas_set_num_threads(blas);
    tac_heads_free(h1);
    free_blobs(&t);
}

/* ---- whole trainings --------------------------------------------------------------------------------------- */

enum { TN = 384, TD = 16, TK = 6, TB = 64, TE = 5, TKN = 5 };

typedef struct {
    const blobs *t; tac_heads_params p;
    int bad_rank; int bad_batch; int nan_rank;   /* failure injection (-1: none) */
    int rover_rank; const float *Rover;          /* rank rover_rank trains on text features Rover (-1: none) */
    tac_heads *h[4];
    double loss[4][TE];
} train_arg;

static void on_epoch(const tac_heads *h, int epoch, double loss, void *user)
{
    (void)h;
    double *l = user;
    l[epoch - 1] = loss;
}

static int train_rank(const tac_comm *c, void *arg)
{
    train_arg *a = arg;
    tac_heads_params p = a->p;
    const float *X = a->t->X;
    float *Xbad = NULL;
    if (c->rank == a->bad_rank) p.batch = a->bad_batch;
    if (c->rank == a->nan_rank) {
        Xbad = tac_xmalloc((size_t)a->t->n * a->t->d, sizeof(float));
        memcpy(Xbad, X, (size_t)a->t->n * a->t->d * sizeof(float));
        Xbad[5 * a->t->d + 3] = NAN;
        X = Xbad;
    }
    const float *R = c->rank == a->rover_rank ? a->Rover : a->t->R;
    int rc = tac_heads_train_dist(X, R, a->t->n, a->t->d, a->t->nn, a->t->nn, a->t->kn, &p, on_epoch,
                                  a->loss[c->rank], &a->h[c->rank], c);
    free(Xbad);
    return rc;
}

static train_arg train_setup(const blobs *t)
{
    train_arg a;
    memset(&a, 0, sizeof a);
    a.t = t;
    tac_heads_default_params(&a.p);
    a.p.K = TK; a.p.hidden = 32; a.p.batch = TB; a.p.epochs = TE; a.p.seed = 3; a.p.threads = 1;
    a.bad_rank = a.nan_rank = a.rover_rank = -1;
    return a;
}

TAC_TEST(heads_dist_one_rank_is_tac_heads_train_bit_for_bit)
{
    blobs t = make_blobs(TN, TD, TK, TKN, 41);
    train_arg a = train_setup(&t);
    tac_heads *h1;
    double l1[TE];
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &a.p, on_epoch, l1, &h1));
    TAC_CHECK(tac_test_run_ranks(1, train_rank, &a, NULL, NULL) == 0);
    TAC_REQUIRE(a.h[0]);
    TAC_CHECK(memcmp(a.h[0]->params, h1->params, h1->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(a.h[0]->stats, h1->stats, 4 * (size_t)h1->H * sizeof(float)) == 0);
    TAC_CHECK(memcmp(a.loss[0], l1, sizeof l1) == 0);
    tac_heads *h0;   /* and comm NULL */
    TAC_CHECK_OK(tac_heads_train_dist(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &a.p, NULL, NULL, &h0, NULL));
    TAC_CHECK(memcmp(h0->params, h1->params, h1->nparam * sizeof(float)) == 0);
    tac_heads_free(h0);
    tac_heads_free(a.h[0]);
    tac_heads_free(h1);
    free_blobs(&t);
}

TAC_TEST(heads_dist_2_and_3_ranks_same_heads_on_every_rank_and_labels_of_one_rank)
{
    blobs t = make_blobs(TN, TD, TK, TKN, 42);
    train_arg a1 = train_setup(&t);
    TAC_CHECK(tac_test_run_ranks(1, train_rank, &a1, NULL, NULL) == 0);
    TAC_REQUIRE(a1.h[0]);
    int64_t *lab1 = tac_xmalloc(TN, sizeof(int64_t)), *lab = tac_xmalloc(TN, sizeof(int64_t));
    int32_t *p1 = tac_xmalloc(TN, sizeof(int32_t)), *pr = tac_xmalloc(TN, sizeof(int32_t)),
            *pq = tac_xmalloc(TN, sizeof(int32_t));
    float *prob1 = tac_xmalloc((size_t)TN * TK, sizeof(float)), *prob = tac_xmalloc((size_t)TN * TK, sizeof(float)),
          *probq = tac_xmalloc((size_t)TN * TK, sizeof(float));
    TAC_CHECK_OK(tac_heads_predict(a1.h[0], t.X, TN, p1, prob1));
    int used = 0;
    for (int k = 0; k < TK; k++) {
        int any = 0;
        for (int i = 0; i < TN; i++) any |= p1[i] == k;
        used += any;
    }
    TAC_CHECK(used >= TK - 1);   /* the fixture is clustered: one rank's training finds the blobs */
    for (int i = 0; i < TN; i++) lab1[i] = p1[i];
    for (int R = 2; R <= 3; R++) {
        train_arg a = train_setup(&t);
        TAC_CHECK(tac_test_run_ranks(R, train_rank, &a, NULL, NULL) == 0);
        for (int q = 0; q < R; q++) TAC_REQUIRE(a.h[q]);
        TAC_CHECK_OK(tac_heads_predict(a.h[0], t.X, TN, pr, prob));
        for (int q = 1; q < R; q++) {   /* identical heads on every rank: parameters, statistics, outputs */
            TAC_CHECK(memcmp(a.h[q]->params, a.h[0]->params, a.h[0]->nparam * sizeof(float)) == 0);
            TAC_CHECK(memcmp(a.h[q]->stats, a.h[0]->stats, 4 * (size_t)a.h[0]->H * sizeof(float)) == 0);
            TAC_CHECK_OK(tac_heads_predict(a.h[q], t.X, TN, pq, probq));
            TAC_CHECK(memcmp(pq, pr, TN * sizeof(int32_t)) == 0);
            TAC_CHECK(memcmp(probq, prob, (size_t)TN * TK * sizeof(float)) == 0);
            TAC_CHECK(memcmp(a.loss[q], a.loss[0], sizeof a.loss[0]) == 0);
        }
        if (R == 2) {   /* two threads per rank (the heads on two threads): the same heads, bit for bit */
            train_arg a2 = train_setup(&t);
            a2.p.threads = 2;
            TAC_CHECK(tac_test_run_ranks(R, train_rank, &a2, NULL, NULL) == 0);
            for (int q = 0; q < R; q++) {
                TAC_REQUIRE(a2.h[q]);
                TAC_CHECK(memcmp(a2.h[q]->params, a.h[0]->params, a.h[0]->nparam * sizeof(float)) == 0);
                TAC_CHECK(memcmp(a2.h[q]->stats, a.h[0]->stats, 4 * (size_t)a.h[0]->H * sizeof(float)) == 0);
                tac_heads_free(a2.h[q]);
            }
        }
        for (int i = 0; i < TN; i++) lab[i] = pr[i];
        double ari = tac_metric_ari(lab1, lab, TN), dprob = 0, dloss = 0;
        for (size_t i = 0; i < (size_t)TN * TK; i++) dprob = fmax(dprob, fabs(prob[i] - prob1[i]));
        for (int e = 0; e < TE; e++) dloss = fmax(dloss, fabs(a.loss[0][e] - a1.loss[0][e]) / fabs(a1.loss[0][e]));
        int same = 0;
        for (int i = 0; i < TN; i++) same += pr[i] == p1[i];
        printf("    %d ranks vs 1: ARI %.6f, same labels %d of %d, max |prob diff| %.3g, epoch losses rel diff %.3g"
               " (epoch 1 %.6f, last %.6f)\n", R, ari, same, TN, dprob, dloss, a.loss[0][0], a.loss[0][TE - 1]);
        TAC_CHECK(ari >= 0.999);
        TAC_CHECK(dprob < 1e-2);
        TAC_CHECK(dloss < 1e-4);
        /* the data-parallel step did run: its sums are ordered differently, so the losses differ in their last bits */
        TAC_CHECK(memcmp(a.loss[0], a1.loss[0], sizeof a.loss[0]) != 0);
        for (int q = 0; q < R; q++) tac_heads_free(a.h[q]);
    }
    tac_heads_free(a1.h[0]);
    free(lab1); free(lab); free(p1); free(pr); free(pq); free(prob1); free(prob); free(probq);
    free_blobs(&t);
}

TAC_TEST(heads_dist_bad_input_on_one_rank_fails_every_rank)
{
    blobs t = make_blobs(TN, TD, TK, TKN, 43);
    int rc[3];
    char err[3][512];
    struct { int bad_rank, bad_batch, nan_rank, ranks, batch; const char *want; } cases[] = {
        {1, 32, -1, 3, TB, "rank 1 of 3: heads: batch 32 differs from rank 0's 64"},
        {1, 1, -1, 3, TB, "rank 1 of 3: heads: batch must be >= 2"},
        {-1, 0, 1, 3, TB, "rank 1 of 3: heads: image features"},
        {-1, 0, 0, 2, TB, "rank 0 of 2: heads: image features"},
        {-1, 0, -1, 3, 2, "rank 0 of 3: heads: a batch of 2 rows cannot be shared among 3 ranks"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        train_arg a = train_setup(&t);
        a.bad_rank = cases[c].bad_rank; a.bad_batch = cases[c].bad_batch; a.nan_rank = cases[c].nan_rank;
        a.p.batch = cases[c].batch;
        TAC_CHECK(tac_test_run_ranks(cases[c].ranks, train_rank, &a, rc, err) != 0);
        for (int q = 0; q < cases[c].ranks; q++) {
            TAC_CHECK_INT(rc[q], TAC_ERR);
            TAC_CHECK(a.h[q] == NULL);
            if (!strstr(err[q], cases[c].want))
                tac_test_fail_at(__FILE__, __LINE__, "case %zu, rank %d: '%s' does not say '%s'", c, q, err[q],
                                 cases[c].want);
        }
    }
    {   /* a training that diverges diverges on every rank at the same step: every rank fails, together */
        train_arg d = train_setup(&t);
        d.p.lr = 1e30f;
        tac_heads *hs;
        TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &d.p, NULL, NULL, &hs), "diverged");
        TAC_CHECK(tac_test_run_ranks(3, train_rank, &d, rc, err) != 0);
        for (int q = 0; q < 3; q++) {
            TAC_CHECK_INT(rc[q], TAC_ERR);
            TAC_CHECK(strstr(err[q], "rank 0 of 3: heads: training diverged") != NULL);
        }
    }
    /* rank 2's text features differ in a fingerprinted row (row 0) */
    train_arg a = train_setup(&t);
    float *R2 = tac_xmalloc((size_t)TN * TD, sizeof(float));
    memcpy(R2, t.R, (size_t)TN * TD * sizeof(float));
    R2[0] += 0.5f;
    a.rover_rank = 2; a.Rover = R2;
    TAC_CHECK(tac_test_run_ranks(3, train_rank, &a, rc, err) != 0);
    for (int q = 0; q < 3; q++) {
        TAC_CHECK_INT(rc[q], TAC_ERR);
        TAC_CHECK(strstr(err[q], "rank 2 of 3: heads: the input rows (features or neighbour lists) differ") != NULL);
    }
    free(R2);
    free_blobs(&t);
}

/* ---- a transport that breaks the "same sums on every rank" contract ------------------------------------------ */

/* rank 1's float sums come back one ulp off in their first value; everything else is the thread transport's */
static const tac_comm *inner_of(const tac_comm *c) { return c->user; }
static int sk_allgather(const tac_comm *c, void *b, const int64_t *n) { return inner_of(c)->allgather(inner_of(c), b, n); }
static int sk_alltoall(const tac_comm *c, const void *s, const int64_t *sb, void *r, const int64_t *rb)
{
    return inner_of(c)->alltoall(inner_of(c), s, sb, r, rb);
}
static int sk_bcast(const tac_comm *c, void *b, int64_t n, int root) { return inner_of(c)->bcast(inner_of(c), b, n, root); }
static int sk_agree(const tac_comm *c, int ok, const char *why, char *msg, size_t cap)
{
    return inner_of(c)->agree(inner_of(c), ok, why, msg, cap);
}
static int sk_allreduce(const tac_comm *c, void *buf, int64_t n, int type)
{
    int rc = inner_of(c)->allreduce_sum(inner_of(c), buf, n, type);
    if (rc == TAC_OK && c->rank == 1 && type == TAC_COMM_F32 && n > 0) {
        float *f = buf;
        f[0] = nextafterf(f[0], INFINITY);
    }
    return rc;
}

static int skewed_rank(const tac_comm *c, void *arg)
{
    tac_comm sk = *c;
    sk.user = (void *)c;
    sk.allgather = sk_allgather; sk.allreduce_sum = sk_allreduce; sk.alltoall = sk_alltoall;
    sk.bcast = sk_bcast; sk.agree = sk_agree;
    return train_rank(&sk, arg);
}

static atomic_int resync_warnings;
static void count_resyncs(int level, const char *msg, void *user)
{
    (void)user;
    if (level == TAC_LOG_WARN && strstr(msg, "rank 0's were copied to every rank")) atomic_fetch_add(&resync_warnings, 1);
}

TAC_TEST(heads_dist_ranks_that_drift_apart_get_rank_0s_heads)
{
    blobs t = make_blobs(TN, TD, TK, TKN, 44);
    train_arg a = train_setup(&t);
    atomic_store(&resync_warnings, 0);
    tac_set_log(count_resyncs, NULL);
    int ok = tac_test_run_ranks(2, skewed_rank, &a, NULL, NULL) == 0;
    tac_set_log(NULL, NULL);
    TAC_REQUIRE(ok && a.h[0] && a.h[1]);
    printf("    resync warnings: %d (epochs %d, ranks 2)\n", atomic_load(&resync_warnings), TE);
    /* rank 1's Adam moments differ after every epoch: each epoch ends with a copy, logged on both ranks */
    TAC_CHECK_INT(atomic_load(&resync_warnings), 2 * TE);
    TAC_CHECK(memcmp(a.h[0]->params, a.h[1]->params, a.h[0]->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(a.h[0]->adam_v, a.h[1]->adam_v, a.h[0]->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(a.h[0]->stats, a.h[1]->stats, 4 * (size_t)a.h[0]->H * sizeof(float)) == 0);
    TAC_CHECK(memcmp(a.loss[0], a.loss[1], sizeof a.loss[0]) == 0);
    tac_heads_free(a.h[0]);
    tac_heads_free(a.h[1]);
    free_blobs(&t);
}
