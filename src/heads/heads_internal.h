/* heads_internal.h - internals of the TAC cluster heads (tac-method.md section 7), shared by src/heads/ (all .c files),
 * tests/test_heads.c and bench/bench_heads.c. Not part of the public API (include/taclust/heads.h).
 *
 * Parameter memory (llm.c style): one allocation of 4 * nparam floats = params | grads | Adam m | Adam v.
 * Each set holds head 0 (text head f_T) followed by head 1 (image head f_I); each head is laid out as
 *     w1    H x D   (PyTorch nn.Linear.weight layout: out x in, row-major)
 *     b1    H
 *     gamma H       (BatchNorm1d weight)
 *     beta  H       (BatchNorm1d bias)
 *     w2    K x H
 *     b2    K
 * so nparam = 2 * (H*D + 3H + K*H + K). tac_head_view gives named pointers into one head of one set.
 * BatchNorm running statistics live in a second allocation of 4H floats: mean_T | var_T | mean_I | var_I.
 *
 * Kernels come in forward/backward sibling pairs with the same argument order; backward functions WRITE the
 * gradient w.r.t. their input and ACCUMULATE (+=) into parameter gradients and loss-term outputs. Naive reference kernels sit beside the sgemm ones and are tested against them.
 */
#ifndef TAC_HEADS_INTERNAL_H
#define TAC_HEADS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "taclust/heads.h"
#include "core/tac_internal.h"
#include "core/tac_bf16.h"

#define TAC_HEADS_BN_EPS 1e-5f
#define TAC_HEADS_BN_MOMENTUM 0.1f
#define TAC_HEAD_TEXT 0
#define TAC_HEAD_IMAGE 1

typedef struct { float *w1, *b1, *gamma, *beta, *w2, *b2; } tac_head_view;

struct tac_heads {
    int D, H, K;
    size_t head_size;          /* floats per head: H*D + 3H + K*H + K */
    size_t nparam;             /* 2 * head_size */
    float *mem;                /* 4 * nparam: params | grads | m | v */
    float *params, *grads, *adam_m, *adam_v;
    tac_head_view P[2], G[2];  /* named views of params and grads; [0] text head, [1] image head */
    float *stats;              /* 4H: run_mean[0] | run_var[0] | run_mean[1] | run_var[1] */
    float *run_mean[2], *run_var[2];
    int64_t step;              /* Adam steps taken */
};

/* Allocates heads of the given sizes with parameters zero, running mean 0, running var 1; NULL (reason set) when
 * the memory cannot be had. */
tac_heads *tac_heads_alloc(int D, int H, int K);
/* PyTorch/timm initialisation from mt19937(seed): per head (text then image) w1 trunc_normal(0.02, +-2), b1
 * U(+-1/sqrt(D)), gamma 1, beta 0, w2 trunc_normal(0.02, +-2), b2 U(+-1/sqrt(H)). Resets Adam state. */
void tac_heads_init(tac_heads *h, uint32_t seed);

/* Workspace for steps of batch B (freed with tac_heads_work_free); NULL (reason set) when it cannot be allocated. */
typedef struct tac_heads_work tac_heads_work;
tac_heads_work *tac_heads_work_alloc(const tac_heads *h, int B);
void tac_heads_work_free(tac_heads_work *w);
/* 2: run the two heads on two threads in every phase (the caller makes BLAS single-threaded meanwhile);
 * 1 (default): sequential. Results are identical either way. */
void tac_heads_work_set_threads(tac_heads_work *w, int threads);
/* on: the step's products in bf16 (tac_heads_gemm with a context per worker; TAC_ERR, reason set, when bf16 is not
 * native or the contexts cannot be made); off (0): fp32 again. */
int tac_heads_work_set_bf16(tac_heads_work *w, const tac_heads *h, int on);

/* Loss pieces of one step, as computed by the forward pass (before the Adam update). */
typedef struct { double total, distill_it, distill_ti, consist, ent_t, ent_i; } tac_heads_loss;

/* Forward + backward of one mini-batch, leaving the gradients in h->grads (overwritten) and updating the
 * running stats (anchors first, then neighbours, per head). X, R: N x D. idx, nb_txt, nb_img: B row indices
 * (anchors, their text-space neighbours u_i, their image-space neighbours v_i), all < N (not checked). */
int tac_heads_forward_backward(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                               const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                               const tac_heads_params *p, tac_heads_loss *loss);
/* One Adam step on h->grads (PyTorch's bias-corrected form). */
void tac_heads_adam(tac_heads *h, const tac_heads_params *p);
/* forward_backward + adam: one training step with explicit batch and neighbour choices. Both return TAC_ERR
 * (reason set) when a kernel's scratch memory cannot be allocated. */
int tac_heads_step(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                   const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                   const tac_heads_params *p, tac_heads_loss *loss);

/* Whole-loss evaluation without touching gradients (running stats are still updated unless `frozen`); NaN with
 * the reason set when scratch memory cannot be allocated. */
double tac_heads_loss_only(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                           const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                           const tac_heads_params *p, int frozen);

/* ---- data-parallel step (src/heads/tac_heads_dist.c) ------------------------------------------------- */
/* Workspace of one rank for steps of batch B over comm (its share of the batch's rows: tac_comm_share); NULL
 * (reason set) when it cannot be allocated or the rank would get no row (B < ranks). Allocates everything a step
 * needs, so a step fails only when the transport does. */
typedef struct tac_heads_dwork tac_heads_dwork;
tac_heads_dwork *tac_heads_dwork_alloc(const tac_heads *h, int B, const tac_comm *comm);
void tac_heads_dwork_free(tac_heads_dwork *w);
void tac_heads_dwork_set_threads(tac_heads_dwork *w, int threads);   /* as tac_heads_work_set_threads */
/* Bytes this workspace has passed to comm->allreduce_sum so far (all steps). */
int64_t tac_heads_dwork_reduced_bytes(const tac_heads_dwork *w);
/* This rank's rows of the batch: returns their count, *lo (may be NULL) the first. */
int tac_heads_dwork_rows(const tac_heads_dwork *w, int *lo);
/* One data-parallel step: idx, nb_txt, nb_img are the WHOLE batch's B rows (the same on every rank); this rank
 * does the per-row work of its share and the batch sums are allreduced (see the file's comment). Leaves the whole
 * batch's gradients in h->grads and, with `adam`, takes the Adam step; *loss (may be NULL) the whole batch's loss,
 * the same on every rank. Collective; TAC_ERR (reason set) only when the transport fails. */
int tac_heads_dist_step(tac_heads *h, tac_heads_dwork *w, const float *X, const float *R, const int64_t *idx,
                        const int64_t *nb_txt, const int64_t *nb_img, const tac_heads_params *p, int adam,
                        tac_heads_loss *loss);
/* Collective, at the end of an epoch: *mean becomes rank 0's epoch loss on every rank; when any rank's heads
 * (parameters, Adam moments and running statistics, by checksum) differ from rank 0's, rank 0's heads and Adam state are copied
 * to every rank and *differed is the number of ranks that differed (else 0). TAC_ERR when the transport fails. */
int tac_heads_dist_sync(tac_heads *h, const tac_comm *c, double *mean, int *differed);
/* Collective: rank 0's sizes, training parameters and a fingerprint of 16 spread rows of X, R, nn_img, nn_txt
 * (rc == TAC_OK only) to every rank (bcast), compared with this rank's. Returns rc when it is TAC_ERR, TAC_ERR with
 * the differing argument named when one differs, else TAC_OK; *transport_failed = 1 when the bcast failed (then
 * no further collective may be attempted). */
int tac_heads_dist_same_args(const tac_comm *c, int rc, const float *X, const float *R, int64_t n, int d,
                             const int64_t *nn_img, const int64_t *nn_txt, int kn, const tac_heads_params *p,
                             int *transport_failed);

/* ---- kernels (src/heads/tac_heads_ops.c) ------------------------------------------------------------ */
/* Kernels returning int give TAC_ERR (reason set) when their scratch memory cannot be allocated; the value
 * kernels tac_distill_forward / tac_distill_forward_backward return NaN then (the _ws form cannot fail). */
/* out (N x NO) = in (N x NI) W^T + b; W is NO x NI. */
void tac_linear_forward(float *out, const float *in, const float *W, const float *b, int N, int NI, int NO);
/* dW (NO x NI) += dout^T in; db (NO) += colsum(dout); din (N x NI, may be NULL) = dout W. */
/* tac_linear_backward with the column-sum scratch acc (NO doubles) supplied: allocates nothing. */
void tac_linear_backward_acc(float *din, float *dW, float *db, double *acc, const float *dout, const float *in,
                             const float *W, int N, int NI, int NO);
int tac_linear_backward(float *din, float *dW, float *db, const float *dout, const float *in, const float *W,
                        int N, int NI, int NO);
/* The products of the heads: cblas_sgemm's arguments (row-major, ta/tb transpose A/B, beta 0 or 1); with mm NULL
 * cblas_sgemm itself (cannot fail), else tac_bf16_gemm on one OpenMP thread (TAC_ERR, reason set, when oneDNN or
 * memory fails). The _mm kernels below run their products through it. */
int tac_heads_gemm(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
int tac_linear_forward_mm(tac_bf16_mm *mm, float *out, const float *in, const float *W, const float *b, int N, int NI,
                          int NO);
int tac_linear_backward_acc_mm(tac_bf16_mm *mm, float *din, float *dW, float *db, double *acc, const float *dout,
                               const float *in, const float *W, int N, int NI, int NO);
void tac_linear_forward_naive(float *out, const float *in, const float *W, const float *b, int N, int NI, int NO);
void tac_linear_backward_naive(float *din, float *dW, float *db, const float *dout, const float *in,
                               const float *W, int N, int NI, int NO);

/* BatchNorm1d, train mode over N rows of C: xhat (N x C), mean/invstd (C) saved for backward; out = gamma*xhat
 * + beta; run_mean/run_var (C, may be NULL) updated with momentum 0.1 and the unbiased variance. */
int tac_bn_forward_train(float *out, float *xhat, float *mean, float *invstd, const float *in,
                         const float *gamma, const float *beta, float *run_mean, float *run_var, int N, int C);
/* din (N x C) = gradient w.r.t. in (written); dgamma, dbeta (C) += */
int tac_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *xhat,
                    const float *invstd, const float *gamma, int N, int C);
/* Their pieces, for sums taken over more rows than are normalised (the data-parallel step): tac_bn_sums adds
 * sum x | sum x^2 of N rows to acc (2C); tac_bn_apply normalises N rows with the statistics of acc over NB rows
 * (run_mean/run_var may be NULL); tac_bn_backward_sums adds sum dout | sum dout*xhat to acc (2C);
 * tac_bn_backward_apply writes din of N rows and adds to dgamma, dbeta from acc over NB rows (k0: 3C scratch).
 * With NB = N they are tac_bn_forward_train and tac_bn_backward, bit for bit. */
void tac_bn_sums(double *acc, const float *in, int N, int C);
void tac_bn_apply(float *out, float *xhat, float *mean, float *invstd, const float *in, const float *gamma,
                  const float *beta, float *run_mean, float *run_var, const double *acc, int NB, int N, int C);
void tac_bn_backward_sums(double *acc, const float *dout, const float *xhat, int N, int C);
void tac_bn_backward_apply(float *din, float *dgamma, float *dbeta, float *k0, const float *dout, const float *xhat,
                           const float *invstd, const float *gamma, const double *acc, int NB, int N, int C);
/* Eval mode: out = gamma * (in - run_mean) / sqrt(run_var + eps) + beta. */
int tac_bn_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                        const float *run_mean, const float *run_var, int N, int C);

void tac_relu_forward(float *out, const float *in, size_t n);
void tac_relu_backward(float *din, const float *dout, const float *out, size_t n);   /* din += dout*(out>0) */
void tac_relu_backward_inplace(float *d, const float *out, size_t n);                /* d = d*(out>0) */

/* Both may run in place (P == Z, dZ == dP). */
void tac_softmax_forward(float *P, const float *Z, int N, int K);                   /* rows */
/* The bf16 mode's row softmax: a float exp (within 2 ulp), vectorised; the same bits on every ISA level. */
void tac_softmax_forward_fast(float *P, const float *Z, int N, int K);
void tac_softmax_backward(float *dZ, const float *dP, const float *P, int N, int K); /* dZ = ... (written) */

/* L_D(A, C) of section 7.5 for B x K matrices A, C (temperature T). Backward: dA, dC (B x K, either may be
 * NULL) += g * dL_D. */
double tac_distill_forward(const float *A, const float *C, int B, int K, float T);
int tac_distill_backward(float *dA, float *dC, double g, const float *A, const float *C, int B, int K, float T);
/* Both at once from one 2K x 2K product (a training step): adds the gradients as tac_distill_backward and
 * returns the value tac_distill_forward returns, bit for bit. */
double tac_distill_forward_backward(float *dA, float *dC, double g, const float *A, const float *C, int B, int K,
                                    float T);
/* The same in a caller's workspace of tac_distill_ws_floats(B, K) floats (8-byte aligned): allocates nothing. */
size_t tac_distill_ws_floats(int B, int K);
double tac_distill_forward_backward_ws(float *dA, float *dC, double g, const float *A, const float *C, int B, int K,
                                       float T, float *ws);
/* The same with the products (similarities and gradient) through tac_heads_gemm(mm), the value in *value; TAC_ERR (reason set) when
 * that product fails. */
int tac_distill_forward_backward_ws_mm(tac_bf16_mm *mm, double *value, float *dA, float *dC, double g,
                                       const float *A, const float *C, int B, int K, float T, float *ws);
/* S (M x M, symmetric) = Hm Hm^T / T for Hm M x b: with mm NULL cblas_ssyrk's upper triangle, with mm two bf16
 * products covering it (tac_heads_gemm); the upper triangle is then mirrored. TAC_ERR only from the bf16 path. */
int tac_distill_gram(tac_bf16_mm *mm, float *S, const float *Hm, int M, int b, float T);
/* dH (M x b) = S Hm / T through tac_heads_gemm(mm). */
int tac_distill_dH(tac_bf16_mm *mm, float *dH, const float *S, const float *Hm, int M, int b, float T);
/* The pieces both the single-process and the data-parallel step use, on the whole batch's S = Hm Hm^T / T
 * (2K x 2K): the term's value (mean over the 2K rows of the off-diagonal log-sum-exp minus the positive pair), and
 * S turned in place into dS + dS^T for the gradient of g times the value. */
double tac_distill_value_S(const float *S, int K);
void tac_distill_dS(float *S, int K, double g);
/* sum_k a[k] b[k] in double */
double tac_row_dot(const float *a, const float *b, int K);
/* fn(a0) here and fn(a1) on a second thread when threads > 1 (sequentially if that thread cannot start) */
void tac_heads_run_pair(int threads, void *(*fn)(void *), void *a0, void *a1);
/* L_C = (1/B) sum_i -max(log(PT_i . PI_i), -100); backward uses PyTorch's BCE formula. */
double tac_consist_forward(const float *PT, const float *PI, int B, int K);
void tac_consist_backward(float *dPT, float *dPI, double g, const float *PT, const float *PI, int B, int K);
/* H(P) = -sum_k c_k log c_k with c = max(mean_i P_i, 1e-9). */
double tac_entropy_forward(const float *P, int B, int K);
int tac_entropy_backward(float *dP, double g, const float *P, int B, int K);

#endif
