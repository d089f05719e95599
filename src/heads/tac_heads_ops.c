/* tac_heads_ops.c - the layers and loss terms of TAC's cluster heads as forward/backward sibling kernels:
 * linear (cblas_sgemm, or in the heads' bf16 mode oneDNN products on bf16 operands through tac_heads_gemm; a naive
 * reference beside them), BatchNorm1d train/eval, ReLU, row softmax, and the
 * three loss terms of tac-method.md section 7.5 (cluster-level distillation L_D, consistency L_C, batch-mean
 * entropy H). Backward kernels accumulate (+=) into their gradient outputs. Declared in heads_internal.h.
 * Convention: backward kernels WRITE the gradient w.r.t. their input (din, dZ) and ACCUMULATE (+=) into parameter
 * gradients (dW, db, dgamma, dbeta) and into the loss terms' outputs (dA, dC, dP), which several terms share.
 * Reductions are accumulated in double; stored tensors are float32 (as PyTorch's float32 model).
 * Kernels that need scratch memory allocate it with tac_try_*: they return TAC_ERR (int kernels) or NaN (value
 * kernels) with the reason in tac_last_error() when it cannot be had, never abort. Pure functions of their
 * arguments: any number of threads may run them at once on disjoint outputs.
 */
#include "heads_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"
#include "core/tac_cpu.h"
#if TAC_X86
#include <immintrin.h>
#endif

/* ---- linear ------------------------------------------------------------------------------------------ */

int tac_heads_gemm(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
    if (!mm) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                    lda, B, ldb, beta, C, ldc);
        return TAC_OK;
    }
    /* oneDNN on this thread alone, whatever OMP_NUM_THREADS says: the heads' workers are the parallelism, and one
     * thread per product keeps its sums in one order (results independent of the worker count) */
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = tac_bf16_gemm(mm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    omp_set_num_threads(t);
    return rc;
}

int tac_linear_forward_mm(tac_bf16_mm *mm, float *out, const float *in, const float *W, const float *b, int N, int NI,
                          int NO)
{
    /* out: N x NO, in: N x NI, W: NO x NI, b: NO */
    for (int i = 0; i < N; i++) memcpy(out + (size_t)i * NO, b, (size_t)NO * sizeof(float));
    return tac_heads_gemm(mm, 0, 1, N, NO, NI, 1.0f, in, NI, W, NI, 1.0f, out, NO);
}

void tac_linear_forward(float *out, const float *in, const float *W, const float *b, int N, int NI, int NO)
{
    (void)tac_linear_forward_mm(NULL, out, in, W, b, N, NI, NO);   /* the fp32 path cannot fail */
}

int tac_linear_backward(float *din, float *dW, float *db, const float *dout, const float *in, const float *W,
                        int N, int NI, int NO)
{
    double *acc = tac_try_malloc((size_t)NO, sizeof(double), "heads: linear backward");   /* NO: column sums */
    if (!acc) return TAC_ERR;
    tac_linear_backward_acc(din, dW, db, acc, dout, in, W, N, NI, NO);
    free(acc);
    return TAC_OK;
}

int tac_linear_backward_acc_mm(tac_bf16_mm *mm, float *din, float *dW, float *db, double *acc, const float *dout,
                               const float *in, const float *W, int N, int NI, int NO)
{
    memset(acc, 0, (size_t)NO * sizeof(double));
    /* dW (NO x NI) += dout^T (NO x N) in (N x NI) */
    if (tac_heads_gemm(mm, 1, 0, NO, NI, N, 1.0f, dout, NO, in, NI, 1.0f, dW, NI) != TAC_OK) return TAC_ERR;
    for (int i = 0; i < N; i++) {
        const float *g = dout + (size_t)i * NO;
        for (int o = 0; o < NO; o++) acc[o] += g[o];
    }
    for (int o = 0; o < NO; o++) db[o] += (float)acc[o];
    /* din (N x NI) = dout (N x NO) W (NO x NI) */
    if (din) return tac_heads_gemm(mm, 0, 0, N, NI, NO, 1.0f, dout, NO, W, NI, 0.0f, din, NI);
    return TAC_OK;
}

void tac_linear_backward_acc(float *din, float *dW, float *db, double *acc, const float *dout, const float *in,
                             const float *W, int N, int NI, int NO)
{
    (void)tac_linear_backward_acc_mm(NULL, din, dW, db, acc, dout, in, W, N, NI, NO);   /* cannot fail in fp32 */
}

void tac_linear_forward_naive(float *out, const float *in, const float *W, const float *b, int N, int NI, int NO)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < NO; o++) {
            double s = b[o];
            for (int i = 0; i < NI; i++) s += (double)in[(size_t)n * NI + i] * W[(size_t)o * NI + i];
            out[(size_t)n * NO + o] = (float)s;
        }
}

void tac_linear_backward_naive(float *din, float *dW, float *db, const float *dout, const float *in,
                               const float *W, int N, int NI, int NO)
{
    for (int o = 0; o < NO; o++) {
        double sb = 0;
        for (int n = 0; n < N; n++) sb += dout[(size_t)n * NO + o];
        db[o] += (float)sb;
        for (int i = 0; i < NI; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * NO + o] * in[(size_t)n * NI + i];
            dW[(size_t)o * NI + i] += (float)s;
        }
    }
    if (din)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < NI; i++) {
                double s = 0;
                for (int o = 0; o < NO; o++) s += (double)dout[(size_t)n * NO + o] * W[(size_t)o * NI + i];
                din[(size_t)n * NI + i] = (float)s;
            }
}

/* ---- BatchNorm --------------------------------------------------------------------------------------------
 * Statistics are accumulated row by row into C-wide double arrays (L1-resident, vectorised): 3.5x faster than
 * walking blocks of columns. The train-mode kernels are made of four pieces that the data-parallel step
 * (tac_heads_dist.c, whose sums run over the whole batch's rows across ranks) calls too. */
/* acc (2C) += sum over the N rows of in (N x C) of x | x^2 (per column, rows in order) */
void tac_bn_sums(double *acc, const float *in, int N, int C)
{
    double *acc2 = acc + C;
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        for (int c = 0; c < C; c++) { double t = x[c]; acc[c] += t; acc2[c] += t * t; }
    }
}

/* BatchNorm train mode from the whole batch's sums acc (2C) over NB rows, applied to this rank's N rows. */
void tac_bn_apply(float *out, float *xhat, float *mean, float *invstd, const float *in, const float *gamma,
                     const float *beta, float *run_mean, float *run_var, const double *acc, int NB, int N, int C)
{
    const double *acc2 = acc + C;
    for (int c = 0; c < C; c++) {
        double m = acc[c] / NB, ss = acc2[c] - NB * m * m;
        if (ss < 0) ss = 0;
        double var = ss / NB;
        mean[c] = (float)m;
        invstd[c] = (float)(1.0 / sqrt(var + TAC_HEADS_BN_EPS));
        if (run_mean) {
            double unbiased = NB > 1 ? ss / (NB - 1) : var;
            run_mean[c] = (1.0f - TAC_HEADS_BN_MOMENTUM) * run_mean[c] + TAC_HEADS_BN_MOMENTUM * mean[c];
            run_var[c] = (1.0f - TAC_HEADS_BN_MOMENTUM) * run_var[c] + TAC_HEADS_BN_MOMENTUM * (float)unbiased;
        }
    }
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *xh = xhat + (size_t)n * C, *y = out + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            float v = (x[c] - mean[c]) * invstd[c];
            xh[c] = v;
            y[c] = gamma[c] * v + beta[c];
        }
    }
}

/* acc (2C) += sum over the N rows of dout | dout * xhat */
void tac_bn_backward_sums(double *acc, const float *dout, const float *xhat, int N, int C)
{
    double *sdx = acc + C;
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *xh = xhat + (size_t)n * C;
        for (int c = 0; c < C; c++) { acc[c] += g[c]; sdx[c] += (double)g[c] * xh[c]; }
    }
}

/* din (N x C) of this rank's rows and dgamma, dbeta (C, +=) from the whole batch's sums acc (2C) over NB rows. */
void tac_bn_backward_apply(float *din, float *dgamma, float *dbeta, float *k0, const float *dout, const float *xhat,
                              const float *invstd, const float *gamma, const double *acc, int NB, int N, int C)
{
    const double *sd = acc, *sdx = acc + C;
    float *k1 = k0 + C, *k2 = k1 + C;
    for (int c = 0; c < C; c++) {
        dgamma[c] += (float)sdx[c];
        dbeta[c] += (float)sd[c];
        k0[c] = (float)(sd[c] / NB);
        k1[c] = (float)(sdx[c] / NB);
        k2[c] = gamma[c] * invstd[c];
    }
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *xh = xhat + (size_t)n * C;
        float *d = din + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] = k2[c] * (g[c] - k0[c] - xh[c] * k1[c]);
    }
}

int tac_bn_forward_train(float *restrict out, float *restrict xhat, float *restrict mean,
                         float *restrict invstd, const float *restrict in, const float *restrict gamma,
                         const float *restrict beta, float *restrict run_mean, float *restrict run_var, int N, int C)
{
    double *acc = tac_try_calloc(2 * (size_t)C, sizeof(double), "heads: BatchNorm statistics");   /* 2C: sum x | sum x^2 */
    if (!acc) return TAC_ERR;
    tac_bn_sums(acc, in, N, C);
    tac_bn_apply(out, xhat, mean, invstd, in, gamma, beta, run_mean, run_var, acc, N, N, C);
    free(acc);
    return TAC_OK;
}

int tac_bn_backward(float *restrict din, float *restrict dgamma, float *restrict dbeta,
                    const float *restrict dout, const float *restrict xhat, const float *restrict invstd,
                    const float *restrict gamma, int N, int C)
{
    /* dxhat = dout * gamma; din = invstd/N * (N dxhat - sum dxhat - xhat * sum(dxhat xhat)) */
    double *sd = tac_try_calloc(2 * (size_t)C, sizeof(double), "heads: BatchNorm backward");  /* 2C: sum dout | sum dout*xhat */
    float *k0 = sd ? tac_try_malloc(3 * (size_t)C, sizeof(float), "heads: BatchNorm backward") : NULL; /* 3C: per-column constants */
    if (!k0) { free(sd); return TAC_ERR; }
    tac_bn_backward_sums(sd, dout, xhat, N, C);
    tac_bn_backward_apply(din, dgamma, dbeta, k0, dout, xhat, invstd, gamma, sd, N, N, C);
    free(k0);
    free(sd);
    return TAC_OK;
}

int tac_bn_forward_eval(float *restrict out, const float *restrict in, const float *restrict gamma,
                        const float *restrict beta, const float *restrict run_mean, const float *restrict run_var,
                        int N, int C)
{
    float *sc = tac_try_malloc(2 * (size_t)C, sizeof(float), "heads: BatchNorm eval");   /* 2C: scale | shift */
    if (!sc) return TAC_ERR;
    float *sh = sc + C;
    for (int c = 0; c < C; c++) {
        float is = 1.0f / sqrtf(run_var[c] + TAC_HEADS_BN_EPS);
        sc[c] = gamma[c] * is;
        sh[c] = beta[c] - run_mean[c] * sc[c];
    }
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        for (int c = 0; c < C; c++) y[c] = x[c] * sc[c] + sh[c];
    }
    free(sc);
    return TAC_OK;
}

/* ---- ReLU, softmax ----------------------------------------------------------------------------------- */

void tac_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0.0f;
}

void tac_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0 ? dout[i] : 0.0f;
}

void tac_relu_backward_inplace(float *d, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = out[i] > 0 ? d[i] : 0.0f;
}

void tac_softmax_forward(float *P, const float *Z, int N, int K)
{
    for (int n = 0; n < N; n++) {
        const float *z = Z + (size_t)n * K;
        float *p = P + (size_t)n * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) if (z[k] > mx) mx = z[k];
        double s = 0;
        for (int k = 0; k < K; k++) { float e = (float)exp((double)z[k] - mx); p[k] = e; s += e; }
        float inv = (float)(1.0 / s);
        for (int k = 0; k < K; k++) p[k] *= inv;
    }
}

/* ---- the bf16 mode's softmax: a float exp, 8 columns at a time ---------------------------------------------
 * e^x for x <= 0 (x = z - max of the row): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two parts), e^r by
 * its Taylor polynomial of degree 7 (truncation below 1e-8 relative) in Horner form with fused multiply-adds, times
 * 2^n built in the exponent bits; x < -87 gives 0 (e^-87 is near float's smallest normal). The row's sum is kept in
 * 8 double partial sums (column k into sum k mod 8) added in a fixed tree: the AVX2 form (8 lanes) and the scalar
 * form (fmaf, the same operations one at a time; also the AVX2 form's tail) give the same bits. */
#define SMX_LOG2E 1.44269504088896341f
#define SMX_LN2_HI 0.693145751953125f
#define SMX_LN2_LO 1.42860682030941723212e-6f
static const float smx_c[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};

TAC_INLINE float smx_exp1(float x)
{
    if (x < -87.0f) return 0.0f;
    float n = nearbyintf(x * SMX_LOG2E);
    float r = fmaf(-n, SMX_LN2_HI, x);
    r = fmaf(-n, SMX_LN2_LO, r);
    float p = smx_c[0];
    for (int i = 1; i < 8; i++) p = fmaf(p, r, smx_c[i]);
    int32_t bits = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &bits, 4);
    return p * sc;
}

TAC_INLINE double smx_tree(const double *s)
{
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* One row's exponentials from column k on (the scalar form, and the AVX2 form's tail); s: the 8 partial sums. */
TAC_INLINE void smx_row_tail(float *p, const float *z, float mx, int k, int K, double *s)
{
    for (; k < K; k++) { float e = smx_exp1(z[k] - mx); p[k] = e; s[k & 7] += e; }
}

static void softmax_fast_scalar(float *P, const float *Z, int N, int K)
{
    for (int n = 0; n < N; n++) {
        const float *z = Z + (size_t)n * K;
        float *p = P + (size_t)n * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) if (z[k] > mx) mx = z[k];
        double s[8] = {0};
        smx_row_tail(p, z, mx, 0, K, s);
        float inv = (float)(1.0 / smx_tree(s));
        for (int k = 0; k < K; k++) p[k] *= inv;
    }
}

#if TAC_X86
TAC_TARGET_AVX2 static void softmax_fast_avx2(float *P, const float *Z, int N, int K)
{
    const __m256 l2e = _mm256_set1_ps(SMX_LOG2E), hi = _mm256_set1_ps(SMX_LN2_HI), lo = _mm256_set1_ps(SMX_LN2_LO);
    const __m256 cut = _mm256_set1_ps(-87.0f);
    const __m256i b127 = _mm256_set1_epi32(127);
    for (int n = 0; n < N; n++) {
        const float *z = Z + (size_t)n * K;
        float *p = P + (size_t)n * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) if (z[k] > mx) mx = z[k];   /* a max is exact in any order; kept simple */
        const __m256 vm = _mm256_set1_ps(mx);
        __m256d s03 = _mm256_setzero_pd(), s47 = _mm256_setzero_pd();
        int k = 0;
        {
            for (; k + 8 <= K; k += 8) {
                __m256 x = _mm256_sub_ps(_mm256_loadu_ps(z + k), vm);
                __m256 nn = _mm256_round_ps(_mm256_mul_ps(x, l2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m256 r = _mm256_fnmadd_ps(nn, hi, x);
                r = _mm256_fnmadd_ps(nn, lo, r);
                __m256 q = _mm256_set1_ps(smx_c[0]);
                for (int i = 1; i < 8; i++) q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(smx_c[i]));
                __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nn), b127), 23);
                __m256 e = _mm256_mul_ps(q, _mm256_castsi256_ps(bits));
                e = _mm256_andnot_ps(_mm256_cmp_ps(x, cut, _CMP_LT_OQ), e);   /* x < -87: 0 */
                _mm256_storeu_ps(p + k, e);
                s03 = _mm256_add_pd(s03, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
                s47 = _mm256_add_pd(s47, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
            }
        }
        double s[8];
        _mm256_storeu_pd(s, s03);
        _mm256_storeu_pd(s + 4, s47);
        smx_row_tail(p, z, mx, k, K, s);   /* k is a multiple of 8: columns k.. go to sums k mod 8 as above */
        const __m256 inv = _mm256_set1_ps((float)(1.0 / smx_tree(s)));
        for (k = 0; k + 8 <= K; k += 8) _mm256_storeu_ps(p + k, _mm256_mul_ps(_mm256_loadu_ps(p + k), inv));
        float iv = (float)(1.0 / smx_tree(s));
        for (; k < K; k++) p[k] *= iv;
    }
}
#endif

void tac_softmax_forward_fast(float *P, const float *Z, int N, int K)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { softmax_fast_avx2(P, Z, N, K); return; }
#endif
    softmax_fast_scalar(P, Z, N, K);
}

void tac_softmax_backward(float *dZ, const float *dP, const float *P, int N, int K)
{
    for (int n = 0; n < N; n++) {
        const float *g = dP + (size_t)n * K, *p = P + (size_t)n * K;
        double dot = 0;
        for (int k = 0; k < K; k++) dot += (double)g[k] * p[k];
        float *d = dZ + (size_t)n * K;
        for (int k = 0; k < K; k++) d[k] = (float)(p[k] * ((double)g[k] - dot));
    }
}

/* ---- L_D: cluster-level InfoNCE over the 2K columns ------------------------------------------------- */

/* Hm (2K x B) = columns of A then of C, each L2-normalised over the batch (eps 1e-12); nrm (2K) their norms. */
static void distill_cols(float *Hm, double *nrm, const float *A, const float *C, int B, int K)
{
    /* the sums of squares in a row-major sweep: each column's sum still runs over the rows in order */
    for (int m = 0; m < 2 * K; m++) nrm[m] = 0;
    for (int i = 0; i < B; i++) {
        const float *a = A + (size_t)i * K, *c = C + (size_t)i * K;
        for (int k = 0; k < K; k++) { double x = a[k]; nrm[k] += x * x; }
        for (int k = 0; k < K; k++) { double x = c[k]; nrm[K + k] += x * x; }
    }
    for (int m = 0; m < 2 * K; m++) nrm[m] = sqrt(nrm[m]);
    /* the transpose into Hm in TB x TB blocks (the column-by-column gather missed the cache on every row) */
    enum { TB = 64 };
    double inv[TB];
    for (int m0 = 0; m0 < 2 * K; m0 += TB) {
        int m1 = m0 + TB < 2 * K ? m0 + TB : 2 * K;
        for (int m = m0; m < m1; m++) inv[m - m0] = 1.0 / (nrm[m] > 1e-12 ? nrm[m] : 1e-12);
        for (int i0 = 0; i0 < B; i0 += TB) {
            int i1 = i0 + TB < B ? i0 + TB : B;
            for (int m = m0; m < m1; m++) {
                const float *src = m < K ? A : C;
                int col = m < K ? m : m - K;
                double iv = inv[m - m0];
                float *hm = Hm + (size_t)m * B;
                for (int i = i0; i < i1; i++) hm[i] = (float)(src[(size_t)i * K + col] * iv);
            }
        }
    }
}

/* The lower triangle of S (M x M) from its upper one, in cache-sized blocks. */
static void mirror_upper(float *S, int M)
{
    enum { TB = 64 };
    for (int i0 = 0; i0 < M; i0 += TB)
        for (int j0 = i0; j0 < M; j0 += TB) {
            int i1 = i0 + TB < M ? i0 + TB : M, j1 = j0 + TB < M ? j0 + TB : M;
            for (int i = i0; i < i1; i++)
                for (int j = (j0 > i + 1 ? j0 : i + 1); j < j1; j++) S[(size_t)j * M + i] = S[(size_t)i * M + j];
        }
}

int tac_distill_gram(tac_bf16_mm *mm, float *S, const float *Hm, int M, int b, float T)
{
    if (!mm) {   /* the upper triangle (half the products of a general sgemm) */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, M, b, 1.0f / T, Hm, b, 0.0f, S, M);
    } else {     /* rows [0, h) against all M rows, then rows [h, M) against themselves: 3/4 of the products */
        int h = M / 2;
        if (tac_heads_gemm(mm, 0, 1, h, M, b, 1.0f / T, Hm, b, Hm, b, 0.0f, S, M) != TAC_OK ||
            tac_heads_gemm(mm, 0, 1, M - h, M - h, b, 1.0f / T, Hm + (size_t)h * b, b, Hm + (size_t)h * b, b, 0.0f,
                           S + (size_t)h * M + h, M) != TAC_OK)
            return TAC_ERR;
    }
    mirror_upper(S, M);   /* also makes the bf16 blocks' diagonal parts exactly symmetric */
    return TAC_OK;
}

int tac_distill_dH(tac_bf16_mm *mm, float *dH, const float *S, const float *Hm, int M, int b, float T)
{
    return tac_heads_gemm(mm, 0, 0, M, b, M, 1.0f / T, S, M, Hm, b, 0.0f, dH, b);
}

/* log sum_{n != m} exp(S[m][n]) */
static double row_lse_offdiag(const float *S, int m, int M)
{
    const float *r = S + (size_t)m * M;
    double mx = -INFINITY;
    for (int n = 0; n < M; n++) if (n != m && r[n] > mx) mx = r[n];
    double s = 0;
    for (int n = 0; n < M; n++) if (n != m) s += exp((double)r[n] - mx);
    return mx + log(s);
}

double tac_distill_value_S(const float *S, int K)
{
    int M = 2 * K;
    double L = 0;
    for (int m = 0; m < M; m++) {
        int pos = m < K ? m + K : m - K;
        L += row_lse_offdiag(S, m, M) - S[(size_t)m * M + pos];
    }
    return L / M;
}

void tac_distill_dS(float *S, int K, double g)
{
    int M = 2 * K;
    double gm = g / M;
    for (int m = 0; m < M; m++) {
        int pos = m < K ? m + K : m - K;
        double lse = row_lse_offdiag(S, m, M);
        float *r = S + (size_t)m * M;
        for (int n = 0; n < M; n++) {
            double d = n == m ? 0.0 : exp((double)r[n] - lse) - (n == pos);
            r[n] = (float)(gm * d);
        }
    }
    for (int m = 0; m < M; m++)
        for (int n = m + 1; n < M; n++) {
            float s = S[(size_t)m * M + n] + S[(size_t)n * M + m];
            S[(size_t)m * M + n] = s; S[(size_t)n * M + m] = s;
        }
    for (int m = 0; m < M; m++) S[(size_t)m * M + m] *= 2.0f;   /* zero anyway */
}

size_t tac_distill_ws_floats(int B, int K)
{
    size_t M = 2 * (size_t)K;
    return 2 * M * (size_t)B + M * M + 4 * M;   /* Hm | dH (2K x B each) | S (2K x 2K) | nrm, dot (2K doubles each) */
}

/* The workspace's views: Hm, dH: 2K x B; S: 2K x 2K; nrm: 2K doubles then the 2K column dots (8-byte aligned:
 * every part before it has an even number of floats). */
static void distill_views(float *ws, int B, int K, float **Hm, float **dH, float **S, double **nrm)
{
    size_t M = 2 * (size_t)K;
    *Hm = ws;
    *dH = *Hm + M * (size_t)B;
    *S = *dH + M * (size_t)B;
    *nrm = (double *)(void *)(*S + M * M);
}

static float *distill_ws_alloc(int B, int K)
{
    return tac_try_malloc(tac_distill_ws_floats(B, K), sizeof(float), "heads: distillation workspace");
}

double tac_distill_forward(const float *A, const float *C, int B, int K, float T)
{
    float *ws = distill_ws_alloc(B, K), *Hm, *dH, *S;
    double *nrm;
    if (!ws) return NAN;
    distill_views(ws, B, K, &Hm, &dH, &S, &nrm);
    distill_cols(Hm, nrm, A, C, B, K);
    (void)tac_distill_gram(NULL, S, Hm, 2 * K, B, T);   /* fp32: cannot fail */
    double L = tac_distill_value_S(S, K);
    free(ws);
    return L;
}

int tac_distill_backward(float *dA, float *dC, double g, const float *A, const float *C, int B, int K, float T)
{
    float *ws = distill_ws_alloc(B, K);
    if (!ws) return TAC_ERR;
    tac_distill_forward_backward_ws(dA, dC, g, A, C, B, K, T, ws);
    free(ws);
    return TAC_OK;
}

double tac_distill_forward_backward(float *dA, float *dC, double g, const float *A, const float *C, int B, int K,
                                    float T)
{
    float *ws = distill_ws_alloc(B, K);
    if (!ws) return NAN;
    double L = tac_distill_forward_backward_ws(dA, dC, g, A, C, B, K, T, ws);
    free(ws);
    return L;
}

double tac_distill_forward_backward_ws(float *dA, float *dC, double g, const float *A, const float *C, int B, int K,
                                       float T, float *ws)
{
    double L = NAN;
    (void)tac_distill_forward_backward_ws_mm(NULL, &L, dA, dC, g, A, C, B, K, T, ws);   /* cannot fail in fp32 */
    return L;
}

int tac_distill_forward_backward_ws_mm(tac_bf16_mm *mm, double *value, float *dA, float *dC, double g,
                                       const float *A, const float *C, int B, int K, float T, float *ws)
{
    int M = 2 * K;
    float *Hm, *dH, *S;   /* S becomes dS, then dS + dS^T */
    double *nrm;
    distill_views(ws, B, K, &Hm, &dH, &S, &nrm);
    distill_cols(Hm, nrm, A, C, B, K);
    if (tac_distill_gram(mm, S, Hm, M, B, T) != TAC_OK) return TAC_ERR;
    *value = tac_distill_value_S(S, K); /* the forward value from the same S (tac_distill_forward's) */
    if (!dA && !dC) return TAC_OK;   /* the value only */
    tac_distill_dS(S, K, g);
    /* dH (2K x B) = (dS + dS^T) Hm / T */
    if (tac_distill_dH(mm, dH, S, Hm, M, B, T) != TAC_OK) return TAC_ERR;
    /* dA, dC (B x K) += the columns' gradients through the normalisation: (dh - h (h . dh)) / |col|, written
     * in TB x TB blocks (a column at a time missed the cache on every row) */
    double *dot = nrm + M;
    for (int m = 0; m < M; m++) {
        const float *h = Hm + (size_t)m * B, *dh = dH + (size_t)m * B;
        double d = 0;
        for (int i = 0; i < B; i++) d += (double)h[i] * dh[i];
        dot[m] = d;
    }
    enum { TB = 64 };
    for (int half = 0; half < 2; half++) {
        float *dst = half ? dC : dA;
        if (!dst) continue;
        for (int i0 = 0; i0 < B; i0 += TB) {
            int i1 = i0 + TB < B ? i0 + TB : B;
            for (int c0 = 0; c0 < K; c0 += TB) {
                int c1 = c0 + TB < K ? c0 + TB : K;
                for (int col = c0; col < c1; col++) {
                    int m = half * K + col;
                    const float *h = Hm + (size_t)m * B, *dh = dH + (size_t)m * B;
                    if (nrm[m] > 1e-12) {
                        double dt = dot[m], nm = nrm[m];
                        for (int i = i0; i < i1; i++) dst[(size_t)i * K + col] += (float)((dh[i] - h[i] * dt) / nm);
                    } else {
                        for (int i = i0; i < i1; i++) dst[(size_t)i * K + col] += (float)(dh[i] / 1e-12);
                    }
                }
            }
        }
    }
    return TAC_OK;
}

/* ---- L_C: consistency ------------------------------------------------------------------------------- */

double tac_row_dot(const float *a, const float *b, int K)
{
    double s = 0;
    for (int k = 0; k < K; k++) s += (double)a[k] * b[k];
    return s;
}

double tac_consist_forward(const float *PT, const float *PI, int B, int K)
{
    double L = 0;
    for (int i = 0; i < B; i++) {
        double x = tac_row_dot(PT + (size_t)i * K, PI + (size_t)i * K, K);
        double lg = x > 0 ? log(x) : -INFINITY;
        L -= lg > -100.0 ? lg : -100.0;
    }
    return L / B;
}

void tac_consist_backward(float *dPT, float *dPI, double g, const float *PT, const float *PI, int B, int K)
{
    /* PyTorch's binary_cross_entropy backward with target 1: (x - 1) / max((1 - x) x, 1e-12) */
    for (int i = 0; i < B; i++) {
        const float *pt = PT + (size_t)i * K, *pi = PI + (size_t)i * K;
        double x = tac_row_dot(pt, pi, K);
        double den = (1.0 - x) * x;
        double dx = g / B * (x - 1.0) / (den > 1e-12 ? den : 1e-12);
        for (int k = 0; k < K; k++) {
            if (dPT) dPT[(size_t)i * K + k] += (float)(dx * pi[k]);
            if (dPI) dPI[(size_t)i * K + k] += (float)(dx * pt[k]);
        }
    }
}

/* ---- H: entropy of the batch-mean assignment -------------------------------------------------------- */

static void col_mean(double *pbar, const float *P, int B, int K)
{
    for (int k = 0; k < K; k++) pbar[k] = 0;
    for (int i = 0; i < B; i++) for (int k = 0; k < K; k++) pbar[k] += P[(size_t)i * K + k];
    for (int k = 0; k < K; k++) pbar[k] /= B;
}

double tac_entropy_forward(const float *P, int B, int K)
{
    /* the column sums in a row-major sweep (each column's sum still runs over the rows in order, as col_mean's);
     * a column at a time read the batch with a stride of K floats */
    enum { CB = 256 };   /* columns per sweep: a block of sums stays in L1 */
    double Hs = 0, s[CB];
    for (int k0 = 0; k0 < K; k0 += CB) {
        int k1 = k0 + CB < K ? k0 + CB : K;
        for (int k = k0; k < k1; k++) s[k - k0] = 0;
        for (int i = 0; i < B; i++) {
            const float *p = P + (size_t)i * K;
            for (int k = k0; k < k1; k++) s[k - k0] += p[k];
        }
        for (int k = k0; k < k1; k++) {
            double m = s[k - k0] / B;
            double c = m > 1e-9 ? m : 1e-9;
            Hs -= c * log(c);
        }
    }
    return Hs;
}

int tac_entropy_backward(float *dP, double g, const float *P, int B, int K)
{
    double *pbar = tac_try_malloc((size_t)K, sizeof(double), "heads: entropy backward");   /* K */
    if (!pbar) return TAC_ERR;
    col_mean(pbar, P, B, K);
    for (int k = 0; k < K; k++)   /* d/dp of -c log c through clamp_min(1e-9) (gradient passes where p >= min) */
        pbar[k] = pbar[k] >= 1e-9 ? -g * (log(pbar[k]) + 1.0) / B : 0.0;
    for (int i = 0; i < B; i++) for (int k = 0; k < K; k++) dP[(size_t)i * K + k] += (float)pbar[k];
    free(pbar);
    return TAC_OK;
}
