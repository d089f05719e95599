/* test_heads.c - tests of TAC's cluster heads (src/heads): finite-difference gradient checks of every backward
 * kernel and of the whole loss w.r.t. the parameters, sgemm vs naive linear, step-by-step agreement with the
 * independent PyTorch re-implementation in tools/gen_heads_fixtures.py (tests/fixtures/heads), save/load round
 * trip and corrupt-file errors, determinism, input validation, that training separates clustered toy data, and
 * the train-heads / predict commands end to end.
 */
#include "tac_test.h"

#include <cblas.h>

#include "heads/heads_internal.h"
#include "tac_test_toy.h"
#include "taclust/heads.h"

#define FIX "tests/fixtures/heads/"

static void fill_normal(tac_mt *r, float *x, size_t n, double s)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(tac_mt_normal(r) * s);
}

/* Row-stochastic B x K matrix with positive entries. */
static void fill_stochastic(tac_mt *r, float *P, int B, int K, double spread)
{
    float *Z = tac_xmalloc((size_t)B * K, sizeof(float));
    fill_normal(r, Z, (size_t)B * K, spread);
    tac_softmax_forward(P, Z, B, K);
    free(Z);
}

/* ---- finite-difference machinery --------------------------------------------------------------------- */

typedef double (*objective_fn)(void *ctx);

/* Compares ana[i] with the central difference of f over perturbations of x[i] for up to `count` entries
 * spread over [0, n). Error is scale-aware: max |num - ana| / max(max |ana|, floor). Returns that error. */
static double fd_check(const char *label, objective_fn f, void *ctx, float *x, const float *ana, size_t n,
                       size_t count, double eps, double tol)
{
    double maxa = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) if (fabs(ana[i]) > maxa) maxa = fabs(ana[i]);
    size_t stride = n > count ? n / count : 1;
    for (size_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        x[i] = (float)(x0 + eps); double fp = f(ctx);
        x[i] = (float)(x0 - eps); double fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (2 * eps);
        double e = fabs(num - ana[i]);
        if (e > maxerr) maxerr = e;
    }
    double rel = maxerr / (maxa > 1e-6 ? maxa : 1e-6);
    printf("    gradcheck %-22s max|grad| %.3e  scaled error %.2e (tol %.0e)\n", label, maxa, rel, tol);
    if (!(rel <= tol)) tac_test_fail_at(__FILE__, __LINE__, "gradient check %s: error %.3g > %.3g", label, rel, tol);
    return rel;
}

/* objective = sum c .* out, in double */
static double dotc(const float *c, const float *out, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)c[i] * out[i];
    return s;
}

/* ---- linear ---------------------------------------------------------------------------------------------- */

typedef struct { float *in, *W, *b, *out, *c; int N, NI, NO; } lin_ctx;
static double lin_obj(void *v)
{
    lin_ctx *c = v;
    tac_linear_forward(c->out, c->in, c->W, c->b, c->N, c->NI, c->NO);
    return dotc(c->c, c->out, (size_t)c->N * c->NO);
}

TAC_TEST(heads_linear_sgemm_matches_naive_and_gradcheck)
{
    enum { N = 7, NI = 9, NO = 5 };
    tac_mt r; tac_mt_seed(&r, 11);
    float in[N * NI], W[NO * NI], b[NO], out[N * NO], out2[N * NO], c[N * NO];
    fill_normal(&r, in, N * NI, 1); fill_normal(&r, W, NO * NI, 1); fill_normal(&r, b, NO, 1);
    fill_normal(&r, c, N * NO, 1);
    tac_linear_forward(out, in, W, b, N, NI, NO);
    tac_linear_forward_naive(out2, in, W, b, N, NI, NO);
    tac_test_compare("linear forward sgemm vs naive", out, out2, N * NO, 1e-5);
    float din[N * NI], dW[NO * NI] = {0}, db[NO] = {0}, din2[N * NI], dW2[NO * NI] = {0}, db2[NO] = {0};
    for (int i = 0; i < N * NI; i++) din[i] = din2[i] = 123.0f;   /* din is written, not accumulated */
    tac_linear_backward(din, dW, db, c, in, W, N, NI, NO);
    tac_linear_backward_naive(din2, dW2, db2, c, in, W, N, NI, NO);
    tac_test_compare("linear backward din", din, din2, N * NI, 1e-5);
    tac_test_compare("linear backward dW", dW, dW2, NO * NI, 1e-5);
    tac_test_compare("linear backward db", db, db2, NO, 1e-5);
    /* parameter gradients accumulate: a second backward doubles them; din is overwritten */
    tac_linear_backward(din, dW, db, c, in, W, N, NI, NO);
    for (int i = 0; i < NO; i++) TAC_CHECK_NEAR(db[i], 2 * db2[i], 1e-5);
    for (int i = 0; i < NO * NI; i++) TAC_CHECK_NEAR(dW[i], 2 * dW2[i], 1e-4);
    tac_test_compare("linear din overwritten", din, din2, N * NI, 1e-5);
    lin_ctx L = {in, W, b, out, c, N, NI, NO};
    fd_check("linear d/din", lin_obj, &L, in, din2, N * NI, 64, 1e-2, 2e-3);
    fd_check("linear d/dW", lin_obj, &L, W, dW2, NO * NI, 64, 1e-2, 2e-3);
    fd_check("linear d/db", lin_obj, &L, b, db2, NO, 64, 1e-2, 2e-3);
}

/* ---- batchnorm (train mode) ---------------------------------------------------------------------------- */

typedef struct { float *in, *gamma, *beta, *out, *xhat, *mean, *invstd, *c; int N, C; } bn_ctx;
static double bn_obj(void *v)
{
    bn_ctx *c = v;
    tac_bn_forward_train(c->out, c->xhat, c->mean, c->invstd, c->in, c->gamma, c->beta, NULL, NULL, c->N, c->C);
    return dotc(c->c, c->out, (size_t)c->N * c->C);
}

TAC_TEST(heads_batchnorm_train_gradcheck_and_running_stats)
{
    enum { N = 6, C = 5 };
    tac_mt r; tac_mt_seed(&r, 12);
    float in[N * C], gamma[C], beta[C], out[N * C], xhat[N * C], mean[C], invstd[C], c[N * C];
    fill_normal(&r, in, N * C, 2); fill_normal(&r, gamma, C, 1); fill_normal(&r, beta, C, 1);
    fill_normal(&r, c, N * C, 1);
    float rm[C], rv[C];
    for (int j = 0; j < C; j++) { rm[j] = 0.5f; rv[j] = 2.0f; }
    tac_bn_forward_train(out, xhat, mean, invstd, in, gamma, beta, rm, rv, N, C);
    for (int j = 0; j < C; j++) {   /* batch stats by hand: biased var normalises, unbiased var is tracked */
        double m = 0, s = 0;
        for (int i = 0; i < N; i++) m += in[i * C + j];
        m /= N;
        for (int i = 0; i < N; i++) s += (in[i * C + j] - m) * (in[i * C + j] - m);
        TAC_CHECK_NEAR(mean[j], m, 1e-5);
        TAC_CHECK_NEAR(invstd[j], 1 / sqrt(s / N + 1e-5), 1e-4 * invstd[j]);
        TAC_CHECK_NEAR(rm[j], 0.9 * 0.5 + 0.1 * m, 1e-5);
        TAC_CHECK_NEAR(rv[j], 0.9 * 2.0 + 0.1 * s / (N - 1), 1e-5);
        TAC_CHECK_NEAR(out[0 * C + j], gamma[j] * (in[j] - m) / sqrt(s / N + 1e-5) + beta[j], 1e-4);
    }
    float din[N * C], dg[C] = {0}, dbt[C] = {0};
    for (int i = 0; i < N * C; i++) din[i] = 77.0f;   /* written, not accumulated */
    tac_bn_backward(din, dg, dbt, c, xhat, invstd, gamma, N, C);
    bn_ctx B = {in, gamma, beta, out, xhat, mean, invstd, c, N, C};
    fd_check("batchnorm d/din", bn_obj, &B, in, din, N * C, 64, 1e-3, 5e-3);
    fd_check("batchnorm d/dgamma", bn_obj, &B, gamma, dg, C, 64, 1e-3, 5e-3);
    fd_check("batchnorm d/dbeta", bn_obj, &B, beta, dbt, C, 64, 1e-3, 5e-3);
    /* eval mode uses the running stats */
    float ev[N * C];
    tac_bn_forward_eval(ev, in, gamma, beta, rm, rv, N, C);
    TAC_CHECK_NEAR(ev[C + 2], gamma[2] * (in[C + 2] - rm[2]) / sqrt(rv[2] + 1e-5) + beta[2], 1e-5);
}

/* ---- softmax and relu ---------------------------------------------------------------------------------- */

typedef struct { float *Z, *P, *c; int N, K; } sm_ctx;
static double sm_obj(void *v)
{
    sm_ctx *c = v;
    tac_softmax_forward(c->P, c->Z, c->N, c->K);
    return dotc(c->c, c->P, (size_t)c->N * c->K);
}

typedef struct { float *in, *out, *c; size_t n; } relu_ctx;
static double relu_obj(void *v)
{
    relu_ctx *c = v;
    tac_relu_forward(c->out, c->in, c->n);
    return dotc(c->c, c->out, c->n);
}

TAC_TEST(heads_softmax_relu_gradcheck)
{
    enum { N = 5, K = 6 };
    tac_mt r; tac_mt_seed(&r, 13);
    float Z[N * K], P[N * K], c[N * K], dZ[N * K];
    for (int i = 0; i < N * K; i++) dZ[i] = -5.0f;   /* written, not accumulated */
    fill_normal(&r, Z, N * K, 2); fill_normal(&r, c, N * K, 1);
    tac_softmax_forward(P, Z, N, K);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += P[i * K + k];
        TAC_CHECK_NEAR(s, 1.0, 1e-6);
    }
    tac_softmax_backward(dZ, c, P, N, K);
    sm_ctx S = {Z, P, c, N, K};
    fd_check("softmax d/dZ", sm_obj, &S, Z, dZ, N * K, 64, 1e-3, 5e-3);
    float Pi[N * K], Gi[N * K];   /* in place gives the same results */
    memcpy(Pi, Z, sizeof Pi); memcpy(Gi, c, sizeof Gi);
    tac_softmax_forward(P, Z, N, K);
    tac_softmax_forward(Pi, Pi, N, K);
    TAC_CHECK(memcmp(Pi, P, sizeof Pi) == 0);
    tac_softmax_backward(dZ, c, P, N, K);
    tac_softmax_backward(Gi, Gi, P, N, K);
    TAC_CHECK(memcmp(Gi, dZ, sizeof Gi) == 0);
    float x[40], y[40], cc[40], dx[40] = {0};
    fill_normal(&r, x, 40, 1); fill_normal(&r, cc, 40, 1);
    for (int i = 0; i < 40; i++) if (fabsf(x[i]) < 0.05f) x[i] = 0.5f;   /* keep away from the kink */
    tac_relu_forward(y, x, 40);
    tac_relu_backward(dx, cc, y, 40);
    relu_ctx RC = {x, y, cc, 40};
    fd_check("relu d/din", relu_obj, &RC, x, dx, 40, 40, 1e-3, 1e-3);
    float d2[40];
    memcpy(d2, cc, sizeof d2);
    tac_relu_backward_inplace(d2, y, 40);
    TAC_CHECK(memcmp(d2, dx, sizeof d2) == 0);
}

/* ---- loss terms ---------------------------------------------------------------------------------------- */

typedef struct { float *A, *C; int B, K, which; float T; } loss_ctx;
static double loss_obj(void *v)
{
    loss_ctx *c = v;
    switch (c->which) {
    case 0: return tac_distill_forward(c->A, c->C, c->B, c->K, c->T);
    case 1: return tac_consist_forward(c->A, c->C, c->B, c->K);
    default: return tac_entropy_forward(c->A, c->B, c->K);
    }
}

TAC_TEST(heads_loss_terms_values_and_gradcheck)
{
    enum { B = 12, K = 4 };
    tac_mt r; tac_mt_seed(&r, 14);
    float A[B * K], C[B * K];
    fill_stochastic(&r, A, B, K, 1.5);
    fill_stochastic(&r, C, B, K, 1.5);
    /* L_D by the definition, in double: 2K normalised columns, log-softmax over the off-diagonal entries */
    {
        double h[2 * K][B], Ld = 0;
        for (int m = 0; m < 2 * K; m++) {
            const float *src = m < K ? A : C;
            double s = 0;
            for (int i = 0; i < B; i++) s += (double)src[i * K + m % K] * src[i * K + m % K];
            for (int i = 0; i < B; i++) h[m][i] = src[i * K + m % K] / sqrt(s);
        }
        for (int m = 0; m < 2 * K; m++) {
            double den = 0, spos = 0;
            for (int n = 0; n < 2 * K; n++) {
                double s = 0;
                for (int i = 0; i < B; i++) s += h[m][i] * h[n][i];
                s /= 0.5;
                if (n != m) den += exp(s);
                if (n == (m + K) % (2 * K)) spos = s;
            }
            Ld += -(spos - log(den));
        }
        TAC_CHECK_NEAR(tac_distill_forward(A, C, B, K, 0.5f), Ld / (2 * K), 1e-5);
        double Lc = 0, pbar[K] = {0}, Hs = 0;
        for (int i = 0; i < B; i++) {
            double d = 0;
            for (int k = 0; k < K; k++) { d += (double)A[i * K + k] * C[i * K + k]; pbar[k] += A[i * K + k] / B; }
            Lc -= log(d);
        }
        for (int k = 0; k < K; k++) Hs -= pbar[k] * log(pbar[k]);
        TAC_CHECK_NEAR(tac_consist_forward(A, C, B, K), Lc / B, 1e-6);
        TAC_CHECK_NEAR(tac_entropy_forward(A, B, K), Hs, 1e-6);
    }
    /* clamps: a zero dot product costs 100 per row; an unused cluster contributes 1e-9 * log(1e-9) */
    {
        float P1[2 * 2] = {1, 0, 1, 0}, P2[2 * 2] = {0, 1, 1, 0};
        TAC_CHECK_NEAR(tac_consist_forward(P1, P2, 2, 2), (100.0 + 0.0) / 2, 1e-6);
        TAC_CHECK_NEAR(tac_entropy_forward(P1, 2, 2), -1e-9 * log(1e-9), 1e-12);
    }
    for (int which = 0; which < 3; which++) {
        float dA[B * K] = {0}, dC[B * K] = {0};
        const char *nm[3][2] = {{"distill d/dA", "distill d/dC"}, {"consist d/dPT", "consist d/dPI"},
                                {"entropy d/dP", ""}};
        if (which == 0) tac_distill_backward(dA, dC, 1.0, A, C, B, K, 0.5f);
        if (which == 1) tac_consist_backward(dA, dC, 1.0, A, C, B, K);
        if (which == 2) tac_entropy_backward(dA, 1.0, A, B, K);
        loss_ctx L = {A, C, B, K, which, 0.5f};
        fd_check(nm[which][0], loss_obj, &L, A, dA, B * K, 64, 1e-3, 5e-3);
        if (which < 2) fd_check(nm[which][1], loss_obj, &L, C, dC, B * K, 64, 1e-3, 5e-3);
    }
}

/* ---- the whole loss w.r.t. the parameters -------------------------------------------------------------- */

typedef struct {
    tac_heads *h; tac_heads_work *w; const float *X, *R; const int64_t *idx, *u, *v; tac_heads_params *p;
} whole_ctx;
static double whole_obj(void *v)
{
    whole_ctx *c = v;
    return tac_heads_loss_only(c->h, c->w, c->X, c->R, c->idx, c->u, c->v, c->p, 1);
}

TAC_TEST(heads_whole_loss_gradcheck)
{
    enum { N = 40, D = 6, H = 10, K = 3, B = 12 };
    tac_mt r; tac_mt_seed(&r, 15);
    float X[N * D], R[N * D];
    fill_normal(&r, X, N * D, 1); fill_normal(&r, R, N * D, 1);
    tac_l2_normalize_rows(X, N, D); tac_l2_normalize_rows(R, N, D);
    int64_t idx[B], u[B], v[B];
    for (int i = 0; i < B; i++) { idx[i] = 3 * i; u[i] = (3 * i + 7) % N; v[i] = (5 * i + 1) % N; }
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = K; p.hidden = H; p.batch = B;
    tac_heads *h = tac_heads_alloc(D, H, K);
    TAC_REQUIRE(h);
    tac_heads_init(h, 3);
    /* larger weights than the 0.02 init so every term has a visible gradient */
    for (int k = 0; k < 2; k++) {
        fill_normal(&r, h->P[k].w1, (size_t)H * D, 0.5);
        fill_normal(&r, h->P[k].w2, (size_t)K * H, 0.5);
        fill_normal(&r, h->P[k].gamma, H, 0.3);
        for (int j = 0; j < H; j++) h->P[k].gamma[j] += 1.0f;
        fill_normal(&r, h->P[k].beta, H, 0.3);
    }
    tac_heads_work *w = tac_heads_work_alloc(h, B);
    TAC_REQUIRE(w);
    tac_heads_loss L;
    TAC_CHECK_OK(tac_heads_forward_backward(h, w, X, R, idx, u, v, &p, &L));
    TAC_CHECK_NEAR(L.total, L.distill_it + L.distill_ti + L.consist - 5 * (L.ent_t + L.ent_i), 1e-9);
    TAC_CHECK_NEAR(whole_obj(&(whole_ctx){h, w, X, R, idx, u, v, &p}), L.total, 1e-6);
    float *g = tac_xmalloc(h->nparam, sizeof(float));
    memcpy(g, h->grads, h->nparam * sizeof(float));
    whole_ctx c = {h, w, X, R, idx, u, v, &p};
    const char *names[2][6] = {{"text w1", "text b1", "text gamma", "text beta", "text w2", "text b2"},
                               {"image w1", "image b1", "image gamma", "image beta", "image w2", "image b2"}};
    for (int k = 0; k < 2; k++) {
        float *pv[6] = {h->P[k].w1, h->P[k].b1, h->P[k].gamma, h->P[k].beta, h->P[k].w2, h->P[k].b2};
        size_t nv[6] = {(size_t)H * D, H, H, H, (size_t)K * H, K};
        for (int t = 0; t < 6; t++) {
            const float *ga = g + (pv[t] - h->params);
            if (t == 1) {   /* a bias before train-mode BatchNorm has no effect: its gradient must vanish */
                double mx = 0, mw = 0;
                for (size_t i = 0; i < nv[t]; i++) mx = fmax(mx, fabs(ga[i]));
                for (size_t i = 0; i < (size_t)H * D; i++) mw = fmax(mw, fabs(g[(h->P[k].w1 - h->params) + i]));
                printf("    %s: max|grad| %.2e (w1 scale %.2e)\n", names[k][t], mx, mw);
                TAC_CHECK(mx < 1e-4 * mw);
                continue;
            }
            fd_check(names[k][t], whole_obj, &c, pv[t], ga, nv[t], 40, 2e-3, 2e-2);
        }
    }
    free(g);
    tac_heads_work_free(w);
    tac_heads_free(h);
}

/* ---- Adam ---------------------------------------------------------------------------------------------------- */

TAC_TEST(heads_adam_matches_pytorch_formula)
{
    tac_heads *h = tac_heads_alloc(5, 6, 3);   /* nparam = 2*69 = 138: 8-wide body and a scalar tail */
    TAC_REQUIRE(h);
    tac_heads_init(h, 4);
    tac_heads_params p; tac_heads_default_params(&p);
    size_t n = h->nparam;
    double *P = tac_xmalloc(n, sizeof(double)), *M = tac_xcalloc(n, sizeof(double)), *V = tac_xcalloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) P[i] = h->params[i];
    tac_mt r; tac_mt_seed(&r, 6);
    for (int t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++) h->grads[i] = (float)(tac_mt_normal(&r) * (i % 3 == 0 ? 1e-6 : 0.1));
        for (size_t i = 0; i < n; i++) {
            double g = h->grads[i];
            M[i] = 0.9 * M[i] + 0.1 * g;
            V[i] = 0.99 * V[i] + 0.01 * g * g;
            double mh = M[i] / (1 - pow(0.9, t)), vh = V[i] / (1 - pow(0.99, t));
            P[i] -= 1e-3 * mh / (sqrt(vh) + 1e-8);
        }
        tac_heads_adam(h, &p);
    }
    TAC_CHECK_INT(h->step, 3);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(h->params[i] - P[i]));
    printf("    Adam, %zu params, 3 steps: max |float - double reference| %.2e\n", n, e);
    TAC_CHECK(e < 2e-7);
    free(P); free(M); free(V);
    tac_heads_free(h);
}

/* ---- agreement with PyTorch ------------------------------------------------------------------------------ */

static float *load_f(const char *name, int64_t *r, int64_t *c)
{
    float *x = NULL;
    if (tac_npy_load_f32(tac_test_path(FIX, name), &x, r, c) != TAC_OK) return NULL;
    return x;
}

/* max|a-b| / max|b| over a tensor; prints and fails above tol */
static double rel_compare(const char *label, const float *a, const float *b, size_t n, double tol)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) { e = fmax(e, fabs((double)a[i] - b[i])); s = fmax(s, fabs((double)b[i])); }
    double rel = e / (s > 0 ? s : 1);
    printf("    %-28s max|diff| %.3e  max|ref| %.3e  rel %.2e (tol %.0e)\n", label, e, s, rel, tol);
    if (!(rel <= tol)) tac_test_fail_at(__FILE__, __LINE__, "%s: relative error %.3g > %.3g", label, rel, tol);
    return rel;
}

TAC_TEST(heads_matches_pytorch_five_adam_steps)
{
    enum { D = 16, H = 32, K = 4, B = 16, S = 5 };
    int64_t r, c, n;
    float *X = load_f("X.npy", &n, &c);
    TAC_REQUIRE(X && c == D);
    float *R = load_f("R.npy", &r, &c);
    float *init = load_f("init_params.npy", &r, &c);
    float *g1 = load_f("grads_step1.npy", &r, &c);
    float *fin = load_f("final_params.npy", &r, &c);
    float *st = load_f("final_stats.npy", &r, &c);
    float *probs = load_f("pred_probs.npy", &r, &c);
    float *b1t = load_f("b1_traj.npy", &r, &c);
    TAC_REQUIRE(b1t && r == S && c == 2 * H);
    float *losses = load_f("losses.npy", &r, &c);
    TAC_REQUIRE(R && init && g1 && fin && st && probs && losses && r == S && c == 6);
    int64_t *idx, *u, *v;
    TAC_CHECK_OK(tac_npy_load_i64(FIX "idx.npy", &idx, &r, &c));
    TAC_CHECK_OK(tac_npy_load_i64(FIX "u.npy", &u, &r, &c));
    TAC_CHECK_OK(tac_npy_load_i64(FIX "v.npy", &v, &r, &c));
    TAC_REQUIRE(r == S && c == B);

    tac_heads_params p; tac_heads_default_params(&p);
    p.K = K; p.hidden = H; p.batch = B;
    tac_heads *h = tac_heads_alloc(D, H, K);
    TAC_REQUIRE(h);
    memcpy(h->params, init, h->nparam * sizeof(float));
    tac_heads_work *w = tac_heads_work_alloc(h, B);
    TAC_REQUIRE(w);
    for (int s = 0; s < S; s++) {
        tac_heads_loss L;
        tac_heads_forward_backward(h, w, X, R, idx + s * B, u + s * B, v + s * B, &p, &L);
        if (s == 0) {
            /* b1 (bias before train-mode BatchNorm) has an exactly-zero true gradient: compare it absolutely */
            for (int k = 0; k < 2; k++) {
                const char *nm[2][5] = {{"grad text w1", "grad text gamma", "grad text beta", "grad text w2",
                                         "grad text b2"},
                                        {"grad image w1", "grad image gamma", "grad image beta", "grad image w2",
                                         "grad image b2"}};
                tac_head_view *gv = &h->G[k];
                float *t[5] = {gv->w1, gv->gamma, gv->beta, gv->w2, gv->b2};
                size_t nt[5] = {(size_t)H * D, H, H, (size_t)K * H, K};
                for (int j = 0; j < 5; j++) rel_compare(nm[k][j], t[j], g1 + (t[j] - h->grads), nt[j], 1e-4);
                for (int j = 0; j < H; j++) TAC_CHECK(fabs(gv->b1[j] - g1[(gv->b1 - h->grads) + j]) < 1e-6);
            }
        }
        tac_heads_adam(h, &p);
        /* b1's true gradient is exactly zero (bias before train-mode BatchNorm), so both implementations move it
         * by Adam-normalised rounding noise, at most ~lr per step. Check that bound, then pin b1 to PyTorch's
         * trajectory so that the running means (which absorb b1) can be compared tightly. */
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < H; j++) {
                float *b1 = h->P[k].b1 + j, ref = b1t[s * 2 * H + k * H + j];
                if (!(fabsf(*b1 - ref) <= 2.0f * p.lr * (s + 1)))
                    tac_test_fail_at(__FILE__, __LINE__, "step %d: b1[%d][%d] = %g vs PyTorch %g", s + 1, k, j, *b1, ref);
                *b1 = ref;
            }
        double got[6] = {L.total, L.distill_it, L.distill_ti, L.consist, L.ent_t, L.ent_i};
        for (int j = 0; j < 6; j++) {
            double ref = losses[s * 6 + j];
            if (!(fabs(got[j] - ref) <= 1e-5 * fmax(1.0, fabs(ref))))
                tac_test_fail_at(__FILE__, __LINE__, "step %d loss part %d: %.8f vs PyTorch %.8f", s + 1, j, got[j], ref);
        }
        printf("    step %d: loss %.7f (PyTorch %.7f)\n", s + 1, L.total, losses[s * 6]);
    }
    TAC_CHECK_INT(h->step, S);
    for (int k = 0; k < 2; k++) {
        const char *nm[2][6] = {{"text w1", "text b1", "text gamma", "text beta", "text w2", "text b2"},
                                {"image w1", "image b1", "image gamma", "image beta", "image w2", "image b2"}};
        tac_head_view *pv = &h->P[k];
        float *t[6] = {pv->w1, pv->b1, pv->gamma, pv->beta, pv->w2, pv->b2};
        size_t nt[6] = {(size_t)H * D, H, H, H, (size_t)K * H, K};
        for (int j = 0; j < 6; j++) rel_compare(nm[k][j], t[j], fin + (t[j] - h->params), nt[j], 1e-5);
    }
    rel_compare("running mean/var", h->stats, st, 4 * H, 1e-5);
    float *pp = tac_xmalloc((size_t)n * K, sizeof(float));
    int32_t *pred = tac_xmalloc((size_t)n, sizeof(int32_t));
    TAC_CHECK_OK(tac_heads_predict(h, X, n, pred, pp));
    tac_test_compare("eval-mode image head probs", pp, probs, (size_t)n * K, 1e-5);
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < K; k++) if (probs[i * K + k] > probs[i * K + best]) best = k;
        TAC_CHECK_INT(pred[i], best);
    }
    free(pp); free(pred);
    tac_heads_work_free(w);
    tac_heads_free(h);
    free(X); free(R); free(init); free(g1); free(fin); free(st); free(probs); free(losses); free(b1t);
    free(idx); free(u); free(v);
}

/* ---- training, save/load, determinism --------------------------------------------------------------------- */

typedef tac_test_toy toy;   /* clustered toy data: tests/tac_test_toy.h */
#define make_toy tac_test_toy_make
#define free_toy tac_test_toy_free

static void count_epochs(const tac_heads *h, int epoch, double loss, void *user)
{
    (void)h; (void)loss;
    *(int *)user = epoch;
}

TAC_TEST(heads_training_separates_clusters)
{
    enum { K = 4 };
    toy t = make_toy(512, 16, K, 5, 21);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = K; p.hidden = 32; p.batch = 64; p.epochs = 15; p.seed = 5;
    tac_heads *h;
    int last = 0;
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, count_epochs, &last, &h));
    TAC_CHECK_INT(last, 15);
    TAC_CHECK_INT(tac_heads_num_clusters(h), K);
    TAC_CHECK_INT(tac_heads_input_dim(h), 16);
    TAC_CHECK_INT(h->step, 15 * (512 / 64));
    int32_t *pred = tac_xmalloc((size_t)t.n, sizeof(int32_t));
    TAC_CHECK_OK(tac_heads_predict(h, t.X, t.n, pred, NULL));
    /* purity: majority true label per predicted cluster */
    int cnt[K][K] = {{0}};
    for (int64_t i = 0; i < t.n; i++) cnt[pred[i]][t.lab[i]]++;
    int pure = 0, used = 0;
    for (int a = 0; a < K; a++) {
        int mx = 0, tot = 0;
        for (int b = 0; b < K; b++) { mx = cnt[a][b] > mx ? cnt[a][b] : mx; tot += cnt[a][b]; }
        pure += mx; used += tot > 0;
    }
    printf("    purity %.3f, clusters used %d of %d\n", (double)pure / t.n, used, K);
    TAC_CHECK(pure > 0.95 * t.n);
    TAC_CHECK_INT(used, K);
    free(pred);
    tac_heads_free(h);
    free_toy(&t);
}

TAC_TEST(heads_two_threads_match_sequential)
{
    enum { D = 24, H = 40, K = 5, B = 64 };
    toy t = make_toy(256, D, K, 4, 25);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = K; p.hidden = H; p.batch = B;
    tac_heads *h1 = tac_heads_alloc(D, H, K), *h2 = tac_heads_alloc(D, H, K);
    tac_heads_init(h1, 8); tac_heads_init(h2, 8);
    TAC_REQUIRE(h1 && h2);
    tac_heads_work *w1 = tac_heads_work_alloc(h1, B), *w2 = tac_heads_work_alloc(h2, B);
    TAC_REQUIRE(w1 && w2);
    tac_heads_work_set_threads(w2, 2);
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int64_t sel[3 * B];
    tac_mt r; tac_mt_seed(&r, 3);
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < 3 * B; i++) sel[i] = (int64_t)tac_mt_below(&r, 256);
        tac_heads_loss L1, L2;
        tac_heads_step(h1, w1, t.X, t.R, sel, sel + B, sel + 2 * B, &p, &L1);
        tac_heads_step(h2, w2, t.X, t.R, sel, sel + B, sel + 2 * B, &p, &L2);
        TAC_CHECK(L1.total == L2.total);
    }
    openblas_set_num_threads(blas);
    TAC_CHECK(memcmp(h1->params, h2->params, h1->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(h1->adam_v, h2->adam_v, h1->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(h1->stats, h2->stats, 4 * H * sizeof(float)) == 0);
    TAC_CHECK_INT(h2->step, 4);
    tac_heads_work_free(w1); tac_heads_work_free(w2);
    tac_heads_free(h1); tac_heads_free(h2);
    free_toy(&t);
}

TAC_TEST(heads_save_load_roundtrip_and_determinism)
{
    toy t = make_toy(128, 8, 3, 4, 22);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = 3; p.hidden = 16; p.batch = 32; p.epochs = 2; p.seed = 9;
    tac_heads *h1, *h2, *h3, *hl;
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h1));
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h2));
    TAC_CHECK(memcmp(h1->params, h2->params, h1->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(h1->stats, h2->stats, 4 * 16 * sizeof(float)) == 0);
    p.seed = 10;
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h3));
    TAC_CHECK(memcmp(h1->params, h3->params, h1->nparam * sizeof(float)) != 0);

    const char *path = tac_test_path(tac_test_tmpdir(), "heads.bin");
    TAC_CHECK_OK(tac_heads_save(h1, path));
    TAC_CHECK_OK(tac_heads_load(path, &hl));
    TAC_CHECK_INT(hl->D, 8); TAC_CHECK_INT(hl->H, 16); TAC_CHECK_INT(hl->K, 3);
    TAC_CHECK(memcmp(h1->params, hl->params, h1->nparam * sizeof(float)) == 0);
    TAC_CHECK(memcmp(h1->stats, hl->stats, 4 * 16 * sizeof(float)) == 0);
    int32_t pa[128], pb[128];
    float qa[128 * 3], qb[128 * 3];
    TAC_CHECK_OK(tac_heads_predict(h1, t.X, t.n, pa, qa));
    TAC_CHECK_OK(tac_heads_predict(hl, t.X, t.n, pb, qb));
    TAC_CHECK(memcmp(pa, pb, sizeof pa) == 0 && memcmp(qa, qb, sizeof qa) == 0);
    TAC_CHECK_OK(tac_heads_predict(hl, t.X, t.n, pb, NULL));
    TAC_CHECK(memcmp(pa, pb, sizeof pa) == 0);
    for (int i = 0; i < 128; i++) {
        TAC_CHECK_NEAR(qa[i * 3] + qa[i * 3 + 1] + qa[i * 3 + 2], 1.0, 1e-5);
        TAC_CHECK(qa[i * 3 + pa[i]] >= qa[i * 3] && qa[i * 3 + pa[i]] >= qa[i * 3 + 1] && qa[i * 3 + pa[i]] >= qa[i * 3 + 2]);
    }
    tac_heads_free(hl);

    /* corrupt files */
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(path, &buf, &len));
    const char *bad = tac_test_path(tac_test_tmpdir(), "bad.bin");
    buf[100] ^= 0x10;
    TAC_CHECK_OK(tac_write_file_atomic(bad, buf, len));
    TAC_CHECK_ERR(tac_heads_load(bad, &hl), "checksum mismatch");
    buf[100] ^= 0x10;
    TAC_CHECK_OK(tac_write_file_atomic(bad, buf, len - 3));
    TAC_CHECK_ERR(tac_heads_load(bad, &hl), "truncated");
    TAC_CHECK_OK(tac_write_file_atomic(bad, buf, 20));
    TAC_CHECK_ERR(tac_heads_load(bad, &hl), "not a taclust heads file");
    buf[8] = 7;
    TAC_CHECK_OK(tac_write_file_atomic(bad, buf, len));
    TAC_CHECK_ERR(tac_heads_load(bad, &hl), "unsupported heads file version 7");
    buf[8] = 1; buf[0] = 'X';
    TAC_CHECK_OK(tac_write_file_atomic(bad, buf, len));
    TAC_CHECK_ERR(tac_heads_load(bad, &hl), "no TACHEADS magic");
    TAC_CHECK_ERR(tac_heads_load(tac_test_path(tac_test_tmpdir(), "missing.bin"), &hl), "missing.bin");
    free(buf);
    tac_heads_free(h1); tac_heads_free(h2); tac_heads_free(h3);
    free_toy(&t);
}

TAC_TEST(heads_train_rejects_bad_input)
{
    toy t = make_toy(64, 4, 2, 3, 23);
    tac_heads_params p; tac_heads_default_params(&p);
    p.K = 2; p.hidden = 8; p.batch = 128; p.epochs = 1;
    tac_heads *h;
    TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h), "fewer than one batch");
    p.batch = 16;
    t.nn[7] = 64;
    TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h), "out of range");
    t.nn[7] = 1;
    t.R[9] = NAN;
    TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h), "text features");
    t.R[9] = 0.5f;
    p.K = 0;
    TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h), "K must be");
    p.K = 2; p.temperature = 0;
    TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h), "temperature");
    TAC_CHECK(h == NULL);
    free_toy(&t);
}

/* ---- the commands ----------------------------------------------------------------------------------------- */

TAC_TEST(heads_cli_train_and_predict)
{
    const char *dir = tac_test_tmpdir();
    toy t = make_toy(96, 8, 3, 6, 24);
    int64_t sx[2] = {96, 8}, sn[2] = {96, 6};
    for (int64_t i = 0; i < 96 * 8; i++) { t.X[i] *= 3.0f; }   /* the command normalises rows itself */
    TAC_CHECK_OK(tac_npy_save_f32(tac_test_path(dir, "X.npy"), t.X, 2, sx));
    TAC_CHECK_OK(tac_npy_save_f32(tac_test_path(dir, "R.npy"), t.R, 2, sx));
    TAC_CHECK_OK(tac_npy_save_i64(tac_test_path(dir, "I.npy"), t.nn, 2, sn));
    int64_t sn2[2] = {96, 2};
    TAC_CHECK_OK(tac_npy_save_i64(tac_test_path(dir, "J.npy"), t.nn, 2, sn2));   /* any width >= 1 */
    const char *bin = tac_test_bin();
    TAC_CHECK_INT(tac_test_sh("%s train-heads --quiet --images %s/X.npy --text %s/R.npy --nn-images %s/I.npy "
                              "--nn-text %s/J.npy -K 3 --epochs 2 --batch 32 --hidden 16 --seed 4 --out %s/h.bin",
                              bin, dir, dir, dir, dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s predict --quiet --heads %s/h.bin --images %s/X.npy --out %s/pred.npy "
                              "--probs %s/P.npy", bin, dir, dir, dir, dir), 0);
    int64_t *pred, r, c;
    TAC_CHECK_OK(tac_npy_load_i64(tac_test_path(dir, "pred.npy"), &pred, &r, &c));
    TAC_CHECK_INT(r, 96); TAC_CHECK_INT(c, 1);
    float *P;
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "P.npy"), &P, &r, &c));
    TAC_CHECK_INT(r, 96); TAC_CHECK_INT(c, 3);
    /* the library on normalised inputs gives the same predictions as the command */
    tac_heads *h;
    TAC_CHECK_OK(tac_heads_load(tac_test_path(dir, "h.bin"), &h));
    tac_l2_normalize_rows(t.X, 96, 8);
    int32_t p2[96];
    TAC_CHECK_OK(tac_heads_predict(h, t.X, 96, p2, NULL));
    for (int i = 0; i < 96; i++) { TAC_CHECK(pred[i] == p2[i]); TAC_CHECK(pred[i] >= 0 && pred[i] < 3); }
    tac_heads_free(h);
    free(pred); free(P);
    /* errors name the file: row mismatch, bad K, missing option */
    int64_t sbad[2] = {90, 8};
    TAC_CHECK_OK(tac_npy_save_f32(tac_test_path(dir, "Rbad.npy"), t.R, 2, sbad));
    TAC_CHECK_INT(tac_test_sh("%s train-heads --quiet --images %s/X.npy --text %s/Rbad.npy --nn-images %s/I.npy "
                              "--nn-text %s/J.npy -K 3 --out %s/h2.bin 2>%s/err.txt", bin, dir, dir, dir, dir, dir, dir), 1);
    TAC_CHECK_INT(tac_test_sh("grep -q 'Rbad.npy' %s/err.txt", dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s predict --quiet --heads %s/h.bin --images %s/I.npy --out %s/p2.npy 2>%s/err2.txt",
                              bin, dir, dir, dir, dir), 1);
    TAC_CHECK_INT(tac_test_sh("grep -q 'I.npy' %s/err2.txt", dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s train-heads --quiet --images %s/X.npy 2>/dev/null", bin, dir), 2);
    /* presets set epochs/batch/T; explicit options override them */
    TAC_CHECK_INT(tac_test_sh("%s train-heads --quiet --images %s/X.npy --text %s/R.npy --nn-images %s/I.npy "
                              "--nn-text %s/J.npy -K 3 --preset ucf101 --out %s/h3.bin 2>%s/err3.txt",
                              bin, dir, dir, dir, dir, dir, dir), 1);
    TAC_CHECK_INT(tac_test_sh("grep -q 'one batch of 8192' %s/err3.txt", dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s train-heads --images %s/X.npy --text %s/R.npy --nn-images %s/I.npy "
                              "--nn-text %s/J.npy -K 3 --preset ucf101 --batch 32 --epochs 1 --hidden 8 "
                              "--out %s/h3.bin 2>%s/log3.txt", bin, dir, dir, dir, dir, dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'T=5' %s/log3.txt && grep -q 'epoch 1/1' %s/log3.txt", dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("test ! -e %s/h2.bin", dir), 0);
    free_toy(&t);
}
