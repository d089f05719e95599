/* test_heads_bf16.c - tests of the bf16 products (src/core/tac_bf16.c) and the heads' bf16 mode
 * (tac_heads_set_precision): the fp32 -> bf16 rounding (round to nearest even; the AVX2 form against the scalar
 * one), tac_bf16_gemm against a double-precision product of the rounded operands for every transpose, a row stride,
 * alpha and beta; a training step in bf16 against the fp32 step (loss and gradients close, not equal); bf16
 * training deterministic, independent of the thread count and clustering the toy data as well as fp32; the
 * precision setting's errors (unknown value, bf16 where it is not native, bf16 over several ranks) and the
 * --heads-precision option. The bf16 products need AVX512-BF16 or AMX-BF16: those tests say "skipped" elsewhere.
 */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "tac_test_toy.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/tac_bf16.h"
#include "core/tac_cpu.h"
#include "heads/heads_internal.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"

static float bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float f32_of_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

TAC_TEST(bf16_rounding_nearest_even_and_simd_matches_scalar)
{
    /* 1, 1 + 2^-8 (a tie: to the even 1.0), 1 + 3 * 2^-8 (a tie: to the even 1 + 2^-6), 1 + 2^-8 + 2^-20 (above
     * the tie: up), -2.5, the largest finite float (rounds to bf16's infinity pattern, as torch's does) */
    float x[6] = {1.0f, f32_of_bits(0x3f808000u), f32_of_bits(0x3f818000u), f32_of_bits(0x3f808008u), -2.5f,
                  f32_of_bits(0x7f7fffffu)};
    uint16_t y[6];
    tac_bf16_from_f32(y, x, 6);
    TAC_CHECK_INT(y[0], 0x3f80);
    TAC_CHECK_INT(y[1], 0x3f80);
    TAC_CHECK_INT(y[2], 0x3f82);
    TAC_CHECK_INT(y[3], 0x3f81);
    TAC_CHECK_INT(y[4], 0xc020);
    TAC_CHECK_INT(y[5], 0x7f80);
    float half = 0.5f;
    tac_bf16_from_f32(y, &half, 1);
    TAC_CHECK_INT(y[0], 0x3f00);
    enum { N = 101 };
    float v[N];
    uint16_t a[N], b[N];
    tac_mt r;
    tac_mt_seed(&r, 7);
    for (int i = 0; i < N; i++) v[i] = 0.25f * (float)(tac_mt_normal(&r) * 3.0);
    int lvl = tac_cpu_level();
    tac_bf16_from_f32(a, v, N);
    tac_cpu_set_level(TAC_ISA_SCALAR);
    tac_bf16_from_f32(b, v, N);
    tac_cpu_set_level(-1);
    printf("    kernels: %s against scalar\n", tac_cpu_level_name(lvl));
    TAC_CHECK(memcmp(a, b, sizeof a) == 0);
    for (int i = 0; i < N; i++) TAC_CHECK(fabsf(bf16_to_f32(a[i]) - v[i]) <= fabsf(v[i]) / 256.0f);
}

TAC_TEST(bf16_gemm_matches_rounded_double_product)
{
    if (!tac_bf16_native()) TAC_SKIP("bf16 is not native on this CPU (or TACLUST_NO_BF16 is set)");
    enum { M = 37, N = 29, K = 53, LDC = 31 };
    tac_mt r;
    tac_mt_seed(&r, 11);
    float A[M * K], B[K * N], C0[M * LDC], C[M * LDC];
    uint16_t ab[M * K], bb[K * N];
    for (int i = 0; i < M * K; i++) A[i] = (float)tac_mt_normal(&r);
    for (int i = 0; i < K * N; i++) B[i] = (float)tac_mt_normal(&r);
    for (int i = 0; i < M * LDC; i++) C0[i] = (float)tac_mt_normal(&r);
    tac_bf16_from_f32(ab, A, M * K);
    tac_bf16_from_f32(bb, B, K * N);
    tac_bf16_mm *mm = tac_bf16_mm_new(16);   /* grows on demand */
    TAC_REQUIRE(mm);
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                /* A stored M x K (lda K) or K x M (lda M): the same op(A) values, as is B */
                float As[M * K], Bs[K * N];
                for (int m = 0; m < M; m++)
                    for (int k = 0; k < K; k++) As[ta ? k * M + m : m * K + k] = A[m * K + k];
                for (int k = 0; k < K; k++)
                    for (int n = 0; n < N; n++) Bs[tb ? n * K + k : k * N + n] = B[k * N + n];
                memcpy(C, C0, sizeof C);
                TAC_CHECK_OK(tac_bf16_gemm(mm, ta, tb, M, N, K, 0.5f, As, ta ? M : K, Bs, tb ? K : N,
                                           (float)beta, C, LDC));
                for (int m = 0; m < M; m++) {
                    for (int n = 0; n < N; n++) {
                        double s = 0, sa = 0;
                        for (int k = 0; k < K; k++) {
                            double p = (double)bf16_to_f32(ab[m * K + k]) * bf16_to_f32(bb[k * N + n]);
                            s += p; sa += fabs(p);
                        }
                        double want = 0.5 * s + (beta ? C0[m * LDC + n] : 0.0);
                        double err = fabs(C[m * LDC + n] - want) / (0.5 * sa + fabs(C0[m * LDC + n]) + 1e-30);
                        if (err > worst) worst = err;
                    }
                    for (int n = N; n < LDC; n++) TAC_CHECK(C[m * LDC + n] == C0[m * LDC + n]);   /* stride kept */
                }
            }
    printf("    worst error relative to the sum of |products|: %.2e\n", worst);
    TAC_CHECK(worst < 1e-5);   /* float32 accumulation of exact bf16 products */
    tac_bf16_mm_free(mm);
}

TAC_TEST(heads_fast_softmax_close_to_exact_and_same_bits_on_every_isa)
{
    enum { N = 7, K = 1003 };   /* K not a multiple of 8: the tail */
    tac_mt r;
    tac_mt_seed(&r, 13);
    float *Z = tac_xmalloc((size_t)N * K, sizeof(float)), *P0 = tac_xmalloc((size_t)N * K, sizeof(float));
    float *P1 = tac_xmalloc((size_t)N * K, sizeof(float)), *P2 = tac_xmalloc((size_t)N * K, sizeof(float));
    for (int i = 0; i < N * K; i++) Z[i] = (float)(tac_mt_normal(&r) * (i < K ? 0.01 : i < 3 * K ? 3.0 : 40.0));
    Z[5] = -200.0f;               /* far below the row's max: e^x underflows to 0 */
    tac_softmax_forward(P0, Z, N, K);
    tac_softmax_forward_fast(P1, Z, N, K);
    tac_cpu_set_level(TAC_ISA_SCALAR);
    tac_softmax_forward_fast(P2, Z, N, K);
    tac_cpu_set_level(-1);
    TAC_CHECK(memcmp(P1, P2, (size_t)N * K * sizeof(float)) == 0);
    /* relative to the double exp: float's rounding of x = z - max alone costs |x| 6e-8, so probabilities above 1e-4
     * (x > -9.3) are compared relatively, the rest absolutely */
    double worst = 0, worst_abs = 0;
    for (int i = 0; i < N * K; i++) {
        double d = fabs(P1[i] - P0[i]);
        if (P0[i] > 1e-4) { if (d / P0[i] > worst) worst = d / P0[i]; }
        else if (d > worst_abs) worst_abs = d;
    }
    printf("    against the double-exp softmax: worst relative difference %.2e (p > 1e-4), absolute %.2e (below)\n",
           worst, worst_abs);
    TAC_CHECK(worst < 1e-6);
    TAC_CHECK(worst_abs < 1e-9);
    TAC_CHECK(P1[5] == 0.0f);
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += P1[(size_t)n * K + k];
        TAC_CHECK_NEAR(s, 1.0, 1e-5);
    }
    free(Z); free(P0); free(P1); free(P2);
}

typedef tac_test_toy toy;   /* clustered toy data: tests/tac_test_toy.h */
#define make_toy tac_test_toy_make
#define free_toy tac_test_toy_free

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return ab / sqrt(aa * bb + 1e-300);
}

TAC_TEST(heads_bf16_step_close_to_fp32_step)
{
    if (!tac_bf16_native()) TAC_SKIP("bf16 is not native on this CPU (or TACLUST_NO_BF16 is set)");
    enum { D = 64, H = 48, K = 20, B = 128 };
    toy t = make_toy(512, D, K, 4, 31);
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = K; p.hidden = H; p.batch = B;
    tac_heads *h1 = tac_heads_alloc(D, H, K), *h2 = tac_heads_alloc(D, H, K);
    TAC_REQUIRE(h1 && h2);
    tac_heads_init(h1, 3);
    tac_heads_init(h2, 3);
    tac_heads_work *w1 = tac_heads_work_alloc(h1, B), *w2 = tac_heads_work_alloc(h2, B);
    TAC_REQUIRE(w1 && w2);
    TAC_CHECK_OK(tac_heads_work_set_bf16(w2, h2, 1));
    int64_t sel[3 * B];
    tac_mt r;
    tac_mt_seed(&r, 5);
    for (int i = 0; i < 3 * B; i++) sel[i] = (int64_t)tac_mt_below(&r, 512);
    tac_heads_loss L1, L2;
    TAC_CHECK_OK(tac_heads_forward_backward(h1, w1, t.X, t.R, sel, sel + B, sel + 2 * B, &p, &L1));
    TAC_CHECK_OK(tac_heads_forward_backward(h2, w2, t.X, t.R, sel, sel + B, sel + 2 * B, &p, &L2));
    double gc = cosine(h1->grads, h2->grads, h1->nparam);
    int same = memcmp(h1->grads, h2->grads, h1->nparam * sizeof(float)) == 0;
    printf("    loss fp32 %.6f bf16 %.6f; gradient cosine %.6f\n", L1.total, L2.total, gc);
    TAC_CHECK_NEAR(L2.total, L1.total, 1e-2 * fabs(L1.total) + 1e-3);
    TAC_CHECK(gc > 0.99);
    TAC_CHECK(!same);                               /* the bf16 products did run */
    tac_heads_work_free(w1); tac_heads_work_free(w2);
    tac_heads_free(h1); tac_heads_free(h2);
    free_toy(&t);
}

static int64_t *predict64(const tac_heads *h, const toy *t)
{
    int32_t *p = tac_xmalloc((size_t)t->n, sizeof(int32_t));
    int64_t *q = tac_xmalloc((size_t)t->n, sizeof(int64_t));
    if (tac_heads_predict(h, t->X, t->n, p, NULL) != TAC_OK) { free(p); free(q); return NULL; }
    for (int64_t i = 0; i < t->n; i++) q[i] = p[i];
    free(p);
    return q;
}

TAC_TEST(heads_bf16_training_deterministic_thread_independent_and_as_good)
{
    if (!tac_bf16_native()) TAC_SKIP("bf16 is not native on this CPU (or TACLUST_NO_BF16 is set)");
    enum { K = 4 };
    toy t = make_toy(512, 16, K, 5, 41);
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = K; p.hidden = 32; p.batch = 64; p.epochs = 15; p.seed = 5; p.threads = 2;
    tac_heads *f, *b1, *b2, *b3;
    TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_FP32));
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &f));
    TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_BF16));
    TAC_CHECK_INT(tac_heads_bf16_active(), 1);
    int rc1 = tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &b1);
    int rc2 = tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &b2);
    p.threads = 1;
    int rc3 = tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &b3);
    TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_FP32));
    TAC_REQUIRE(rc1 == TAC_OK && rc2 == TAC_OK && rc3 == TAC_OK);
    TAC_CHECK(memcmp(b1->params, b2->params, b1->nparam * sizeof(float)) == 0);   /* same seed, same heads */
    TAC_CHECK(memcmp(b1->params, b3->params, b1->nparam * sizeof(float)) == 0);   /* 1 or 2 threads */
    TAC_CHECK(memcmp(b1->stats, b3->stats, 4 * 32 * sizeof(float)) == 0);
    TAC_CHECK(memcmp(b1->params, f->params, b1->nparam * sizeof(float)) != 0);    /* not the fp32 run */
    int64_t *pf = predict64(f, &t), *pb = predict64(b1, &t);
    TAC_REQUIRE(pf && pb);
    double acc_f = tac_metric_acc(t.lab, pf, t.n), acc_b = tac_metric_acc(t.lab, pb, t.n);
    double ari = tac_metric_ari(pf, pb, t.n);
    printf("    ACC fp32 %.4f bf16 %.4f; ARI between them %.4f\n", acc_f, acc_b, ari);
    TAC_CHECK(acc_f > 0.95);
    TAC_CHECK(acc_b >= acc_f - 0.01);
    TAC_CHECK(ari > 0.95);
    free(pf); free(pb);
    tac_heads_free(f); tac_heads_free(b1); tac_heads_free(b2); tac_heads_free(b3);
    free_toy(&t);
}

typedef struct { toy *t; const tac_heads_params *p; } dist_arg;

static int dist_train(const tac_comm *c, void *arg)
{
    dist_arg *a = arg;
    tac_heads *h = NULL;
    int rc = tac_heads_train_dist(a->t->X, a->t->R, a->t->n, a->t->d, a->t->nn, a->t->nn, a->t->kn, a->p, NULL, NULL,
                                  &h, c);
    tac_heads_free(h);
    return rc;
}

TAC_TEST(heads_precision_setting_errors_and_auto)
{
    TAC_CHECK_ERR(tac_heads_set_precision(7), "none of");
    TAC_CHECK_INT(tac_heads_get_precision(), TAC_HEADS_FP32);
    toy t = make_toy(128, 8, 3, 4, 43);
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = 3; p.hidden = 16; p.batch = 32; p.epochs = 2; p.seed = 9;
    tac_heads *h32, *hauto;
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &h32));
    /* without native bf16 (here forced by TACLUST_NO_BF16): bf16 is refused, auto trains in fp32 exactly */
    setenv("TACLUST_NO_BF16", "1", 1);
    TAC_CHECK_ERR(tac_heads_set_precision(TAC_HEADS_BF16), "AVX512-BF16");
    TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_AUTO));
    TAC_CHECK_INT(tac_heads_bf16_active(), 0);
    TAC_CHECK_OK(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &hauto));
    TAC_CHECK(memcmp(h32->params, hauto->params, h32->nparam * sizeof(float)) == 0);
    unsetenv("TACLUST_NO_BF16");
    if (tac_bf16_native()) {
        tac_heads *hb = NULL;
        TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_BF16));
        setenv("TACLUST_NO_BF16", "1", 1);   /* set, then taken away: training says so */
        TAC_CHECK_ERR(tac_heads_train(t.X, t.R, t.n, t.d, t.nn, t.nn, t.kn, &p, NULL, NULL, &hb), "not native");
        unsetenv("TACLUST_NO_BF16");
        TAC_CHECK(hb == NULL);
        /* over several ranks bf16 is refused on every rank, with the reason */
        dist_arg a = {&t, &p};
        int rcs[2];
        char errs[2][512];
        TAC_CHECK(tac_test_run_ranks(2, dist_train, &a, rcs, errs) != 0);
        TAC_CHECK(rcs[0] != TAC_OK && rcs[1] != TAC_OK);
        printf("    rank 0: %s\n", errs[0]);
        TAC_CHECK(strstr(errs[0], "single-process only") != NULL);
    } else {
        printf("    bf16 is not native here: the bf16-only checks of this test are skipped\n");
    }
    TAC_CHECK_OK(tac_heads_set_precision(TAC_HEADS_FP32));
    tac_heads_free(h32); tac_heads_free(hauto);
    free_toy(&t);
}

TAC_TEST(heads_precision_option_of_the_commands)
{
    const char *bin = tac_test_bin(), *dir = tac_test_tmpdir();
    TAC_CHECK_INT(tac_test_sh("%s fit --train a.npy --test b.npy --nouns c.npy --out %s/o --heads-precision fp16 "
                              "2>%s/e1.txt", bin, dir, dir), 2);
    TAC_CHECK_INT(tac_test_sh("grep -q \"'fp16' is none of fp32, bf16, auto\" %s/e1.txt", dir), 0);
    TAC_CHECK_INT(tac_test_sh("TACLUST_NO_BF16=1 %s train-heads --images a.npy --text b.npy --nn-images c.npy "
                              "--nn-text d.npy -K 3 --out %s/h.bin --heads-precision bf16 2>%s/e2.txt",
                              bin, dir, dir), 2);
    TAC_CHECK_INT(tac_test_sh("grep -q 'bf16 needs a CPU with AVX512-BF16' %s/e2.txt", dir), 0);
}
