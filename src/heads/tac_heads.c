/* tac_heads.c - TAC's two cluster heads (tac-method.md section 7): allocation and initialisation, one training
 * step (four train-mode forward passes: text/image anchors and text/image neighbours, the section 7.5 loss,
 * backward through all four, Adam), the epoch loop (seeded shuffle, drop_last, one random neighbour per
 * modality per anchor), prediction with the image head in eval mode, and a checksummed binary save/load.
 *
 * Use: tac_heads_default_params(&p); p.K = 10; tac_heads_train(X, R, n, d, nn_img, nn_txt, kn, &p, NULL, NULL, &h);
 *      tac_heads_predict(h, Xtest, ntest, pred, NULL); tac_heads_save(h, "heads.bin"); tac_heads_free(h);
 * Memory layout and kernels: see heads_internal.h and tac_heads_ops.c.
 *
 * Threads: the two heads are independent until the loss and again after it, so with 2 threads (tac_heads_train
 * when its thread count, params.threads or else tac_num_threads(), is >= 2) each phase runs head 0 on the calling
 * thread and head 1 on a second pthread, with OpenBLAS set to 1 thread for the duration (the caller's count read
 * with openblas_get_num_threads first and restored exactly afterwards): 2 threads in all, never more. With
 * params.threads = 1 everything runs on the calling thread (OpenBLAS at 1 thread for the call, restored). The loss's two
 * distillation terms (forward and backward) run as such a pair too. Every head's and term's arithmetic is the
 * same as in the sequential order, so results do not depend on the thread count.
 *
 * bf16 mode (tac_heads_set_precision, taclust/heads.h): the work struct holds a tac_bf16_mm per worker (head 0 and
 * distillation term 0 on the calling thread, head 1 and term 1 on the second), and the linear maps, the distillation
 * similarities and gradient go through tac_heads_gemm on them (one OpenMP thread per product, so results do not
 * depend on the worker count); the softmax is tac_softmax_forward_fast. Resolved once per training (train_impl).
 *
 * Data-parallel training (tac_heads_train_dist): the same epoch loop (every rank draws the whole batch's shuffle
 * and neighbours) with the step of tac_heads_dist.c, after every rank's arguments are checked against rank 0's and
 * the allocations agreed (tac_comm_check).
 *
 * Heads file format (version 2, little-endian):
 *     0  char[8]  "TACHEADS"
 *     8  uint32   version (2; 1 is still read)
 *    12  uint32   D, 16 uint32 H, 20 uint32 K
 *    24  uint64   Adam steps taken (informational)
 *    32  uint64   F = number of floats = 2*(H*D + 3H + K*H + K) + 4H
 *    40  float32  [F]: parameters (text head, then image head, layout of heads_internal.h), then BatchNorm
 *                 running stats mean_T | var_T | mean_I | var_I
 *  40+4F uint64   FNV-1a 64 checksum of every byte before it (tac_fnv1a64 from TAC_FNV1A64_INIT)
 * Version 1 (taclust before issue #10) is the same layout but its checksum started from a mistyped offset
 * basis, 1469598103934665603 (a digit short of FNV's 14695981039346656037); files of version 1 are verified
 * with that basis. Only version 2 is written.
 */
#include "heads_internal.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include "core/tac_cpu.h"
#if TAC_X86
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"
#include "core/tac_dist.h"
#include "core/tac_threads.h"
#include "core/tac_bf16.h"

void tac_heads_default_params(tac_heads_params *p)
{
    memset(p, 0, sizeof *p);
    p->K = 0;
    p->hidden = 512;
    p->epochs = 20;
    p->batch = 512;
    p->temperature = 0.5f;
    p->entropy_weight = 5.0f;
    p->lr = 1e-3f;
    p->beta1 = 0.9f;
    p->beta2 = 0.99f;
    p->eps = 1e-8f;
    p->seed = 0;
    p->progress = 0;
    p->threads = 0;
}

/* ---- allocation and initialisation --------------------------------------------------------------------- */

/* ---- precision (taclust/heads.h) --------------------------------------------------------------------- */
static int heads_precision = TAC_HEADS_FP32;   /* read and written with __atomic: any thread may set it */

int tac_heads_set_precision(int precision)
{
    if (precision != TAC_HEADS_AUTO && precision != TAC_HEADS_FP32 && precision != TAC_HEADS_BF16)
        return tac_fail("heads: precision %d is none of TAC_HEADS_AUTO, TAC_HEADS_FP32, TAC_HEADS_BF16", precision);
    if (precision == TAC_HEADS_BF16 && !tac_bf16_native())
        return tac_fail("heads: bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (and TACLUST_NO_BF16 unset); this one "
                        "runs the heads in fp32 only");
    __atomic_store_n(&heads_precision, precision, __ATOMIC_RELAXED);
    return TAC_OK;
}

int tac_heads_get_precision(void) { return __atomic_load_n(&heads_precision, __ATOMIC_RELAXED); }

int tac_heads_bf16_active(void)
{
    int p = tac_heads_get_precision();
    return p != TAC_HEADS_FP32 && tac_bf16_native();
}

static void set_views(tac_head_view *v, float *base, int D, int H, int K)
{
    v->w1 = base;                      /* H x D */
    v->b1 = v->w1 + (size_t)H * D;     /* H */
    v->gamma = v->b1 + H;              /* H */
    v->beta = v->gamma + H;            /* H */
    v->w2 = v->beta + H;               /* K x H */
    v->b2 = v->w2 + (size_t)K * H;     /* K */
}

tac_heads *tac_heads_alloc(int D, int H, int K)
{
    TAC_ASSERT(D > 0 && H > 0 && K > 0);
    tac_heads *h = tac_try_calloc(1, sizeof *h, "heads");
    if (!h) return NULL;
    h->D = D; h->H = H; h->K = K;
    h->head_size = (size_t)H * D + 3 * (size_t)H + (size_t)K * H + (size_t)K;
    h->nparam = 2 * h->head_size;
    h->mem = tac_try_calloc(4 * h->nparam, sizeof(float), "heads: parameters, gradients and Adam moments");
    h->stats = h->mem ? tac_try_calloc(4 * (size_t)H, sizeof(float), "heads: BatchNorm running statistics") : NULL;
    if (!h->stats) { tac_heads_free(h); return NULL; }
    h->params = h->mem;
    h->grads = h->params + h->nparam;
    h->adam_m = h->grads + h->nparam;
    h->adam_v = h->adam_m + h->nparam;
    for (int k = 0; k < 2; k++) {
        set_views(&h->P[k], h->params + k * h->head_size, D, H, K);
        set_views(&h->G[k], h->grads + k * h->head_size, D, H, K);
    }
    for (int k = 0; k < 2; k++) {
        h->run_mean[k] = h->stats + (size_t)(2 * k) * H;
        h->run_var[k] = h->stats + (size_t)(2 * k + 1) * H;
        for (int j = 0; j < H; j++) h->run_var[k][j] = 1.0f;
    }
    return h;
}

void tac_heads_free(tac_heads *h)
{
    if (!h) return;
    free(h->mem);
    free(h->stats);
    free(h);
}

int tac_heads_num_clusters(const tac_heads *h) { return h->K; }
int tac_heads_input_dim(const tac_heads *h) { return h->D; }

/* timm trunc_normal_(std, a=-2, b=2): a normal redrawn while outside the absolute bounds. */
static void trunc_normal(tac_mt *r, float *w, size_t n, double std)
{
    for (size_t i = 0; i < n; i++) {
        double x;
        do x = tac_mt_normal(r) * std; while (x < -2.0 || x > 2.0);
        w[i] = (float)x;
    }
}

static void uniform_pm(tac_mt *r, float *w, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)((2.0 * tac_mt_uniform(r) - 1.0) * bound);
}

void tac_heads_init(tac_heads *h, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    int D = h->D, H = h->H, K = h->K;
    for (int k = 0; k < 2; k++) {
        tac_head_view *v = &h->P[k];
        trunc_normal(&r, v->w1, (size_t)H * D, 0.02);
        uniform_pm(&r, v->b1, (size_t)H, 1.0 / sqrt((double)D));
        for (int j = 0; j < H; j++) { v->gamma[j] = 1.0f; v->beta[j] = 0.0f; }
        trunc_normal(&r, v->w2, (size_t)K * H, 0.02);
        uniform_pm(&r, v->b2, (size_t)K, 1.0 / sqrt((double)H));
        for (int j = 0; j < H; j++) { h->run_mean[k][j] = 0.0f; h->run_var[k][j] = 1.0f; }
    }
    memset(h->grads, 0, 3 * h->nparam * sizeof(float));   /* grads, m, v */
    h->step = 0;
}

/* ---- one training step --------------------------------------------------------------------------------- */

struct tac_heads_work {
    int B;
    int threads;       /* 1: sequential; 2: one thread per head (caller sets OpenBLAS to 1 thread) */
    float *mem;
    /* per head k (0 text, 1 image); "2B" rows = B anchors then B neighbours. Buffers that are dead by the time
     * their alias is written share memory: Z1/dZ1, Z2/P (softmax in place), dP/dZ2 (softmax backward in place). */
    float *Xg[2];      /* 2B x D gathered inputs */
    float *Z1[2];      /* 2B x H first linear; later dZ1 */
    float *xhat[2];    /* 2B x H normalised (per half) */
    float *A[2];       /* 2B x H BN output after ReLU */
    float *P[2];       /* 2B x K logits, then softmax in place */
    float *dP[2];      /* 2B x K gradient w.r.t. P, then w.r.t. the logits in place */
    float *dA[2];      /* 2B x H gradient w.r.t. A, then (ReLU backward in place) w.r.t. the BN output */
    float *mean[2];    /* 2 x H batch means (per half) */
    float *invstd[2];  /* 2 x H */
    float *dws[2];     /* the two distillation terms' workspaces, tac_distill_ws_floats(B, K) floats each */
    double *lacc[2];   /* max(H, K) doubles each: the linear backward's column sums */
    tac_bf16_mm *mm[2];/* bf16 mode: the products of head 0 / distillation term 0 (calling thread) and of head 1 /
                          term 1 (second thread); NULL in fp32 mode */
};

tac_heads_work *tac_heads_work_alloc(const tac_heads *h, int B)
{
    tac_heads_work *w = tac_try_calloc(1, sizeof *w, "heads: training workspace");
    if (!w) return NULL;
    w->B = B;
    w->threads = 1;
    size_t R = 2 * (size_t)B, D = (size_t)h->D, H = (size_t)h->H, K = (size_t)h->K;
    size_t per = R * D + 4 * R * H + 2 * R * K + 4 * H, dw = tac_distill_ws_floats(B, h->K);
    w->mem = tac_try_malloc(2 * per + 2 * dw, sizeof(float), "heads: training workspace");
    if (!w->mem) { free(w); return NULL; }
    float *q = w->mem;
    for (int k = 0; k < 2; k++) {
        w->Xg[k] = q; q += R * D;
        w->Z1[k] = q; q += R * H;
        w->xhat[k] = q; q += R * H;
        w->A[k] = q; q += R * H;
        w->dA[k] = q; q += R * H;
        w->P[k] = q; q += R * K;
        w->dP[k] = q; q += R * K;
        w->mean[k] = q; q += 2 * H;
        w->invstd[k] = q; q += 2 * H;
    }
    w->dws[0] = q; q += dw;   /* per is even (R = 2B), so both start 8-byte aligned for their doubles */
    w->dws[1] = q;
    size_t L = H > K ? H : K;
    w->lacc[0] = tac_try_malloc(2 * L, sizeof(double), "heads: training workspace");
    if (!w->lacc[0]) { tac_heads_work_free(w); return NULL; }
    w->lacc[1] = w->lacc[0] + L;
    return w;
}

int tac_heads_work_set_bf16(tac_heads_work *w, const tac_heads *h, int on)
{
    for (int k = 0; k < 2; k++) { tac_bf16_mm_free(w->mm[k]); w->mm[k] = NULL; }
    if (!on) return TAC_OK;
    /* the largest operand of a step: 2B x max(D, H, K) (inputs, activations, output gradients) or 2K x 2K (dS) */
    size_t R = 2 * (size_t)w->B, D = (size_t)h->D, H = (size_t)h->H, K = (size_t)h->K, e = D;
    if (H > e) e = H;
    if (K > e) e = K;
    e *= R;
    if (4 * K * K > e) e = 4 * K * K;
    for (int k = 0; k < 2; k++)
        if (!(w->mm[k] = tac_bf16_mm_new(e))) {
            tac_heads_work_set_bf16(w, h, 0);
            return TAC_ERR;
        }
    return TAC_OK;
}

void tac_heads_work_set_threads(tac_heads_work *w, int threads) { w->threads = threads > 1 ? 2 : 1; }

void tac_heads_work_free(tac_heads_work *w)
{
    if (!w) return;
    for (int k = 0; k < 2; k++) tac_bf16_mm_free(w->mm[k]);
    free(w->lacc[0]);
    free(w->mem);
    free(w);
}

static void gather(float *dst /* 2B x D */, const float *src /* N x D */, const int64_t *a, const int64_t *b,
                   int B, int D)
{
    for (int i = 0; i < B; i++) {
        memcpy(dst + (size_t)i * D, src + (size_t)a[i] * D, (size_t)D * sizeof(float));
        memcpy(dst + ((size_t)B + i) * D, src + (size_t)b[i] * D, (size_t)D * sizeof(float));
    }
}

/* Train-mode forward of head k on w->Xg[k]: each half (anchors, neighbours) has its own batch statistics;
 * the running stats are updated anchors first, then neighbours (skipped when frozen). */
static int head_forward_train(tac_heads *h, tac_heads_work *w, int k, int frozen)
{
    int B = w->B, D = h->D, H = h->H, K = h->K;
    const tac_head_view *v = &h->P[k];
    if (tac_linear_forward_mm(w->mm[k], w->Z1[k], w->Xg[k], v->w1, v->b1, 2 * B, D, H) != TAC_OK) return TAC_ERR;
    for (int half = 0; half < 2; half++) {
        size_t o = (size_t)half * B * H;
        if (tac_bn_forward_train(w->A[k] + o, w->xhat[k] + o, w->mean[k] + (size_t)half * H,
                                 w->invstd[k] + (size_t)half * H, w->Z1[k] + o, v->gamma, v->beta,
                                 frozen ? NULL : h->run_mean[k], frozen ? NULL : h->run_var[k], B, H) != TAC_OK)
            return TAC_ERR;
    }
    tac_relu_forward(w->A[k], w->A[k], 2 * (size_t)B * H);
    if (tac_linear_forward_mm(w->mm[k], w->P[k], w->A[k], v->w2, v->b2, 2 * B, H, K) != TAC_OK)   /* logits */
        return TAC_ERR;
    if (w->mm[k]) tac_softmax_forward_fast(w->P[k], w->P[k], 2 * B, K);   /* in place; bf16 mode: float exp */
    else tac_softmax_forward(w->P[k], w->P[k], 2 * B, K);
    return TAC_OK;
}

static int head_backward(tac_heads *h, tac_heads_work *w, int k)
{
    int B = w->B, D = h->D, H = h->H, K = h->K;
    size_t RH = 2 * (size_t)B * H;
    const tac_head_view *v = &h->P[k];
    tac_head_view *g = &h->G[k];
    float *dZ2 = w->dP[k], *dZ1 = w->Z1[k];   /* in-place aliases (see the struct) */
    tac_softmax_backward(dZ2, w->dP[k], w->P[k], 2 * B, K);
    if (tac_linear_backward_acc_mm(w->mm[k], w->dA[k], g->w2, g->b2, w->lacc[k], dZ2, w->A[k], v->w2, 2 * B, H, K) !=
        TAC_OK)
        return TAC_ERR;
    tac_relu_backward_inplace(w->dA[k], w->A[k], RH);   /* dA becomes dY, the gradient at the BN output */
    for (int half = 0; half < 2; half++) {
        size_t o = (size_t)half * B * H;
        if (tac_bn_backward(dZ1 + o, g->gamma, g->beta, w->dA[k] + o, w->xhat[k] + o,
                            w->invstd[k] + (size_t)half * H, v->gamma, B, H) != TAC_OK)
            return TAC_ERR;
    }
    return tac_linear_backward_acc_mm(w->mm[k], NULL, g->w1, g->b1, w->lacc[k], dZ1, w->Xg[k], v->w1, 2 * B, D, H);
}

void tac_heads_run_pair(int threads, void *(*fn)(void *), void *a0, void *a1)
{
    pthread_t t;
    if (threads > 1 && pthread_create(&t, NULL, fn, a1) == 0) {
        fn(a0);
        pthread_join(t, NULL);
        return;
    }
    fn(a0);
    fn(a1);
}

/* A job's failure: its status and its reason (tac_last_error is per thread: the job may have run on the helper
 * thread, so the reason is copied and set again on the calling thread by pair_status). */
typedef struct { int rc; char err[256]; } job_status;

static void job_record(job_status *s, int rc)
{
    s->rc = rc;
    if (rc != TAC_OK) snprintf(s->err, sizeof s->err, "%s", tac_last_error());
}

/* TAC_OK when both jobs succeeded; otherwise TAC_ERR with the first failed job's reason on this thread. */
static int pair_status(const job_status *a, const job_status *b)
{
    if (a->rc != TAC_OK) return tac_fail("%s", a->err);
    if (b->rc != TAC_OK) return tac_fail("%s", b->err);
    return TAC_OK;
}

typedef struct {
    tac_heads *h; tac_heads_work *w; int k, frozen, adam;
    const float *src; const int64_t *a, *b;
    const tac_heads_params *p;
    job_status st;
} head_job;

static void *forward_job(void *arg)
{
    head_job *j = arg;
    gather(j->w->Xg[j->k], j->src, j->a, j->b, j->w->B, j->h->D);
    job_record(&j->st, head_forward_train(j->h, j->w, j->k, j->frozen));
    return NULL;
}

static void adam_range(tac_heads *h, const tac_heads_params *p, size_t lo, size_t hi);

static void *backward_job(void *arg)
{
    head_job *j = arg;
    tac_heads *h = j->h;
    memset(h->grads + (size_t)j->k * h->head_size, 0, h->head_size * sizeof(float));
    int rc = head_backward(h, j->w, j->k);
    if (rc == TAC_OK && j->adam) adam_range(h, j->p, (size_t)j->k * h->head_size, (size_t)(j->k + 1) * h->head_size);
    job_record(&j->st, rc);
    return NULL;
}

/* One distillation term L_D(A, C): its value, and with `backward` also its gradients into dA, dC from the same
 * 2K x 2K product (a step computes it once, not once for the value and again for the gradients). The two terms
 * of the loss are independent and are most of a step's work at K = 1000, so they run as a pair too: each on its
 * own thread with single-threaded BLAS, the same arithmetic as one after the other. */
typedef struct {
    const float *A, *C; float *dA, *dC; int B, K; float T; int backward; double value;
    float *ws;   /* tac_distill_ws_floats(B, K) floats */
    tac_bf16_mm *mm;
    job_status st;
} distill_job;

static void *distill_run(void *arg)
{
    distill_job *j = arg;
    /* the forward value alone is the fused kernel's value without gradient outputs (bit for bit the same) */
    job_record(&j->st, tac_distill_forward_backward_ws_mm(j->mm, &j->value, j->backward ? j->dA : NULL,
                                                          j->backward ? j->dC : NULL, 1.0, j->A, j->C, j->B, j->K,
                                                          j->T, j->ws));
    return NULL;
}

/* Both heads' train-mode forward (text head: r_i then r_{u_i}; image head: x_i then x_{v_i}) and the loss;
 * with `grads`, w->dP gets the distillation terms' gradients (zeroed first). */
static int forward_all(tac_heads *h, tac_heads_work *w, const float *X, const float *R, const int64_t *idx,
                       const int64_t *nb_txt, const int64_t *nb_img, const tac_heads_params *p, int frozen,
                       tac_heads_loss *L, int grads)
{
    int B = w->B, K = h->K;
    size_t BK = (size_t)B * K;
    head_job jt = {h, w, TAC_HEAD_TEXT, frozen, 0, R, idx, nb_txt, p, {0, ""}};
    head_job ji = {h, w, TAC_HEAD_IMAGE, frozen, 0, X, idx, nb_img, p, {0, ""}};
    tac_heads_run_pair(w->threads, forward_job, &jt, &ji);
    if (pair_status(&jt.st, &ji.st) != TAC_OK) return TAC_ERR;
    const float *PT = w->P[TAC_HEAD_TEXT], *QT = PT + BK, *PI = w->P[TAC_HEAD_IMAGE], *QI = PI + BK;
    float T = p->temperature, a = p->entropy_weight;
    distill_job d0 = {PI, QT, NULL, NULL, B, K, T, grads, 0, w->dws[0], w->mm[0], {0, ""}};
    distill_job d1 = {PT, QI, NULL, NULL, B, K, T, grads, 0, w->dws[1], w->mm[1], {0, ""}};
    if (grads) {
        float *dPT = w->dP[TAC_HEAD_TEXT], *dPI = w->dP[TAC_HEAD_IMAGE];
        memset(dPT, 0, 2 * BK * sizeof(float));
        memset(dPI, 0, 2 * BK * sizeof(float));
        d0.dA = dPI; d0.dC = dPT + BK; /* dPI, dQT */
        d1.dA = dPT; d1.dC = dPI + BK; /* dPT, dQI: disjoint from d0's */
    }
    tac_heads_run_pair(w->threads, distill_run, &d0, &d1);
    if (pair_status(&d0.st, &d1.st) != TAC_OK) return TAC_ERR;
    L->distill_it = d0.value;
    L->distill_ti = d1.value;
    L->consist = tac_consist_forward(PT, PI, B, K);
    L->ent_t = tac_entropy_forward(PT, B, K);
    L->ent_i = tac_entropy_forward(PI, B, K);
    L->total = L->distill_it + L->distill_ti + L->consist - a * (L->ent_t + L->ent_i);
    return TAC_OK;
}

/* Forward, loss, gradient of the loss w.r.t. both heads' outputs, then backward (and Adam when `adam`). */
static int step_impl(tac_heads *h, tac_heads_work *w, const float *X, const float *R, const int64_t *idx,
                     const int64_t *nb_txt, const int64_t *nb_img, const tac_heads_params *p, int adam,
                     tac_heads_loss *loss)
{
    tac_heads_loss L;
    if (forward_all(h, w, X, R, idx, nb_txt, nb_img, p, 0, &L, 1) != TAC_OK) /* distillation gradients in w->dP */
        return TAC_ERR;
    int B = w->B, K = h->K;
    const float *PT = w->P[TAC_HEAD_TEXT], *PI = w->P[TAC_HEAD_IMAGE];
    float *dPT = w->dP[TAC_HEAD_TEXT], *dPI = w->dP[TAC_HEAD_IMAGE];
    float a = p->entropy_weight;
    tac_consist_backward(dPT, dPI, 1.0, PT, PI, B, K);
    if (tac_entropy_backward(dPT, -a, PT, B, K) != TAC_OK || tac_entropy_backward(dPI, -a, PI, B, K) != TAC_OK)
        return TAC_ERR;
    if (adam) h->step++;
    head_job jt = {h, w, TAC_HEAD_TEXT, 0, adam, NULL, NULL, NULL, p, {0, ""}};
    head_job ji = {h, w, TAC_HEAD_IMAGE, 0, adam, NULL, NULL, NULL, p, {0, ""}};
    tac_heads_run_pair(w->threads, backward_job, &jt, &ji);
    if (pair_status(&jt.st, &ji.st) != TAC_OK) return TAC_ERR;
    if (loss) *loss = L;
    return TAC_OK;
}

int tac_heads_forward_backward(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                               const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                               const tac_heads_params *p, tac_heads_loss *loss)
{
    return step_impl(h, w, X, R, idx, nb_txt, nb_img, p, 0, loss);
}

double tac_heads_loss_only(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                           const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                           const tac_heads_params *p, int frozen)
{
    tac_heads_loss L;
    if (forward_all(h, w, X, R, idx, nb_txt, nb_img, p, frozen, &L, 0) != TAC_OK) return NAN;
    return L.total;
}

/* PyTorch 1.13 Adam (single-tensor) at step h->step over params [lo, hi): m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). Two forms: the scalar loop (the
 * reference, and the tail of the other) and AVX2 (picked from tac_cpu_level(), src/core/tac_cpu.c). */
typedef struct { float step_size, bc2s, b1, b2, c1, c2, eps; } adam_consts;

static adam_consts adam_setup(const tac_heads *h, const tac_heads_params *p)
{
    double t = (double)h->step;
    double bc1 = 1.0 - pow((double)p->beta1, t), bc2 = 1.0 - pow((double)p->beta2, t);
    adam_consts a = {(float)(p->lr / bc1), (float)sqrt(bc2), p->beta1, p->beta2, (float)(1.0 - (double)p->beta1),
                     (float)(1.0 - (double)p->beta2), p->eps};
    return a;
}

TAC_INLINE void adam_tail(tac_heads *h, const adam_consts *a, size_t i, size_t hi)
{
    float *restrict P = h->params, *restrict G = h->grads, *restrict M = h->adam_m, *restrict V = h->adam_v;
    for (; i < hi; i++) {
        float g = G[i];
        M[i] = M[i] * a->b1 + g * a->c1;
        V[i] = V[i] * a->b2 + g * g * a->c2;
        float denom = sqrtf(V[i]) / a->bc2s + a->eps;
        P[i] -= a->step_size * (M[i] / denom);
    }
}

#if TAC_X86
/* 8 at a time (sqrtf's errno handling keeps gcc from vectorising the scalar loop; this was 1.5 ms a step).
 * Same operations in the same order as the scalar loop, which does the tail. */
TAC_TARGET_AVX2 static void adam_range_avx2(tac_heads *h, const adam_consts *a, size_t lo, size_t hi)
{
    float *restrict P = h->params, *restrict G = h->grads, *restrict M = h->adam_m, *restrict V = h->adam_v;
    size_t i = lo;
    const __m256 vb1 = _mm256_set1_ps(a->b1), vb2 = _mm256_set1_ps(a->b2), vc1 = _mm256_set1_ps(a->c1),
                 vc2 = _mm256_set1_ps(a->c2), vbc = _mm256_set1_ps(a->bc2s), veps = _mm256_set1_ps(a->eps),
                 vss = _mm256_set1_ps(a->step_size);
    for (; i + 8 <= hi; i += 8) {
        __m256 g = _mm256_loadu_ps(G + i);
        __m256 m = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(M + i), vb1), _mm256_mul_ps(g, vc1));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(V + i), vb2), _mm256_mul_ps(_mm256_mul_ps(g, g), vc2));
        _mm256_storeu_ps(M + i, m);
        _mm256_storeu_ps(V + i, v);
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), vbc), veps);
        _mm256_storeu_ps(P + i, _mm256_sub_ps(_mm256_loadu_ps(P + i), _mm256_mul_ps(vss, _mm256_div_ps(m, denom))));
    }
    adam_tail(h, a, i, hi);
}
#endif

static void adam_range(tac_heads *h, const tac_heads_params *p, size_t lo, size_t hi)
{
    adam_consts a = adam_setup(h, p);
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { adam_range_avx2(h, &a, lo, hi); return; }
#endif
    adam_tail(h, &a, lo, hi);
}

void tac_heads_adam(tac_heads *h, const tac_heads_params *p)
{
    h->step++;
    adam_range(h, p, 0, h->nparam);
}

int tac_heads_step(tac_heads *h, tac_heads_work *w, const float *X, const float *R,
                   const int64_t *idx, const int64_t *nb_txt, const int64_t *nb_img,
                   const tac_heads_params *p, tac_heads_loss *loss)
{
    return step_impl(h, w, X, R, idx, nb_txt, nb_img, p, 1, loss);
}

/* ---- training loop ------------------------------------------------------------------------------------- */

static int check_params(const tac_heads_params *p)
{
    if (p->K < 1) return tac_fail("heads: K must be >= 1 (got %d)", p->K);
    if (p->hidden < 1) return tac_fail("heads: hidden size must be >= 1 (got %d)", p->hidden);
    if (p->epochs < 0) return tac_fail("heads: epochs must be >= 0 (got %d)", p->epochs);
    if (p->batch < 2) return tac_fail("heads: batch must be >= 2 for BatchNorm (got %d)", p->batch);
    if (!(p->temperature > 0) || !isfinite(p->temperature))
        return tac_fail("heads: temperature must be > 0 (got %g)", (double)p->temperature);
    if (!(p->lr > 0) || !isfinite(p->lr)) return tac_fail("heads: learning rate must be > 0 (got %g)", (double)p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1))
        return tac_fail("heads: Adam betas must be in [0, 1) (got %g, %g)", (double)p->beta1, (double)p->beta2);
    if (!(p->eps > 0)) return tac_fail("heads: Adam eps must be > 0 (got %g)", (double)p->eps);
    if (!isfinite(p->entropy_weight)) return tac_fail("heads: entropy weight must be finite");
    return TAC_OK;
}

static int check_nn(const char *what, const int64_t *nn, int64_t n, int kn)
{
    for (int64_t i = 0; i < n * kn; i++)
        if (nn[i] < 0 || nn[i] >= n)
            return tac_fail("heads: %s neighbour index %lld at row %lld is out of range [0, %lld)", what,
                            (long long)nn[i], (long long)(i / kn), (long long)n);
    return TAC_OK;
}

/* The single-process checks of tac_heads_train, in its order (ranks: the communicator's size, 1 without one). */
static int check_args(const float *X, const float *R, int64_t n, int d, const int64_t *nn_img, const int64_t *nn_txt,
                      int kn, const tac_heads_params *p, int ranks)
{
    if (check_params(p) != TAC_OK) return TAC_ERR;
    if (d < 1) return tac_fail("heads: feature dimension must be >= 1 (got %d)", d);
    if (kn < 1) return tac_fail("heads: need at least one neighbour per row (got %d)", kn);
    if (n < p->batch)
        return tac_fail("heads: %lld samples are fewer than one batch of %d (drop_last would train on nothing)",
                        (long long)n, p->batch);
    if (p->batch < ranks)
        return tac_fail("heads: a batch of %d rows cannot be shared among %d ranks (each needs a row)", p->batch,
                        ranks);
    {   /* the sizes come from options: refuse what the machine cannot hold instead of aborting in the allocator */
        double D = d, H = p->hidden, K = p->K, R = 2.0 * p->batch;
        double params = 2 * (H * D + 3 * H + K * H + K), work = 2 * (R * D + 4 * R * H + 2 * R * K + 4 * H)
                        + 2 * (4 * K * R + 4 * K * K + 8 * K);   /* + the two distillation workspaces */
        double bytes = 4 * (4 * params + 4 * H + work) + 8 * ((double)n + 3 * R);
        if (bytes > (double)tac_memory_bytes())
            return tac_fail("heads: width %d, hidden %d, K %d, batch %d need %.1f GB of memory, more than this "
                            "machine has (%.1f GB): lower --hidden or --batch", d, p->hidden, p->K, p->batch,
                            bytes / 1e9, (double)tac_memory_bytes() / 1e9);
    }
    /* the inputs are read only once the sizes are known to be possible */
    if (tac_check_finite("heads: image features", X, n, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("heads: text features", R, n, d) != TAC_OK) return TAC_ERR;
    if (check_nn("image-space", nn_img, n, kn) != TAC_OK) return TAC_ERR;
    if (check_nn("text-space", nn_txt, n, kn) != TAC_OK) return TAC_ERR;
    return TAC_OK;
}

/* tac_heads_train (comm NULL or of one rank) and tac_heads_train_dist (several ranks: the same shuffle and draws
 * on every rank, the step of tac_heads_dist.c). */
static int train_impl(const float *X, const float *R, int64_t n, int d, const int64_t *nn_img, const int64_t *nn_txt,
                      int kn, const tac_heads_params *p, tac_heads_epoch_cb cb, void *user, tac_heads **out,
                      const tac_comm *comm)
{
    *out = NULL;
    int dist = tac_dist_active(comm);
    int rc = check_args(X, R, n, d, nn_img, nn_txt, kn, p, dist ? comm->size : 1);
    int prec = tac_heads_get_precision(), bf16 = 0;
    if (rc == TAC_OK && prec == TAC_HEADS_BF16 && dist)
        rc = tac_fail("heads: bf16 training is single-process only (data-parallel training over %d ranks is fp32; "
                      "set the heads' precision to fp32 or auto)", comm->size);
    else if (rc == TAC_OK && prec == TAC_HEADS_BF16 && !tac_bf16_native())
        rc = tac_fail("heads: bf16 was set (tac_heads_set_precision) but is not native here (AVX512-BF16 or "
                      "AMX-BF16 needed, and TACLUST_NO_BF16 unset)");
    else if (rc == TAC_OK && !dist && prec != TAC_HEADS_FP32 && tac_bf16_native())
        bf16 = 1;
    if (!dist && rc != TAC_OK) return TAC_ERR;
    if (dist) {   /* every rank must train on the same arguments: rank 0's are compared with each rank's own */
        /* the first exchange is an agreement (taclust/dist.h): a rank that failed before this call meets it */
        if (tac_comm_check(comm, rc) != TAC_OK) return TAC_ERR;
        int transport_failed;
        rc = tac_heads_dist_same_args(comm, rc, X, R, n, d, nn_img, nn_txt, kn, p, &transport_failed);
        if (transport_failed) return TAC_ERR;
    }

    int B = p->batch;
    tac_heads *h = NULL;
    tac_heads_work *w = NULL;
    tac_heads_dwork *dw = NULL;
    int64_t *perm = NULL, *sel = NULL;
    if (rc == TAC_OK) {
        h = tac_heads_alloc(d, p->hidden, p->K);
        if (h && dist) dw = tac_heads_dwork_alloc(h, B, comm);
        else if (h) w = tac_heads_work_alloc(h, B);
        if (w && bf16 && tac_heads_work_set_bf16(w, h, 1) != TAC_OK) { tac_heads_work_free(w); w = NULL; }
        perm = (w || dw) ? tac_try_malloc((size_t)n, sizeof(int64_t), "heads: shuffle order") : NULL;      /* N */
        sel = perm ? tac_try_malloc(3 * (size_t)B, sizeof(int64_t), "heads: batch indices") : NULL; /* 3B: idx | u | v */
        if (!sel) rc = TAC_ERR;
    }
    if (dist) rc = tac_comm_check(comm, rc);   /* every rank fails together, naming the first failed rank */
    if (rc != TAC_OK) {
        free(perm);
        free(sel);
        tac_heads_work_free(w);
        tac_heads_dwork_free(dw);
        tac_heads_free(h);
        return TAC_ERR;
    }
    tac_heads_init(h, p->seed);
    if (p->progress) tac_log(TAC_LOG_INFO, "heads: %s products", bf16 ? "bf16 (oneDNN)" : "fp32");
    /* threads: params.threads, else all the library may use. 2 or more: one thread per head with BLAS
     * single-threaded inside each; an explicit 1: the calling thread only, BLAS single-threaded too. OpenBLAS's
     * process-wide count is read first and restored exactly after training (tac_blas_threads_*). */
    int nthreads = tac_threads_resolve(p->threads);
    int blas_lowered = 0;
    if (nthreads >= 2) {
        if (w) tac_heads_work_set_threads(w, 2);
        if (dw) tac_heads_dwork_set_threads(dw, 2);
        tac_blas_threads_enter(1);
        blas_lowered = 1;
    } else if (p->threads == 1) {
        tac_blas_threads_enter(1);
        blas_lowered = 1;
    }
    tac_mt rng;
    tac_mt_seed(&rng, p->seed ^ 0x5bd1e995u);   /* a stream separate from the initialisation */
    int64_t *idx = sel, *u = sel + B, *v = sel + 2 * B;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    int64_t nb = n / B;
    tac_progress prog;
    int report = p->progress_fn || p->progress;
    if (report) tac_progress_begin_fn(&prog, p->progress_fn, p->progress_user, "training heads", (int64_t)p->epochs * nb);
    for (int e = 1; e <= p->epochs && rc == TAC_OK; e++) {
        double t0 = tac_now();
        for (int64_t i = n - 1; i > 0; i--) {   /* Fisher-Yates */
            int64_t j = (int64_t)tac_mt_below(&rng, (uint64_t)i + 1);
            int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        double sum = 0;
        for (int64_t b = 0; b < nb; b++) {
            for (int i = 0; i < B; i++) {   /* the whole batch's draws, on every rank */
                int64_t a = perm[b * B + i];
                idx[i] = a;
                u[i] = nn_txt[a * kn + (int64_t)tac_mt_below(&rng, (uint64_t)kn)];
                v[i] = nn_img[a * kn + (int64_t)tac_mt_below(&rng, (uint64_t)kn)];
            }
            tac_heads_loss L;
            /* a distributed step fails only when the transport does: no further collective is attempted */
            rc = dw ? tac_heads_dist_step(h, dw, X, R, idx, u, v, p, 1, &L) : tac_heads_step(h, w, X, R, idx, u, v, p, &L);
            if (rc != TAC_OK) break;
            sum += L.total;
            if (report) tac_progress_update(&prog, (int64_t)(e - 1) * nb + b + 1);
        }
        if (rc != TAC_OK) break;
        double mean = sum / (double)nb;
        if (dw) {   /* every rank: rank 0's loss, and rank 0's heads should a rank's differ */
            int differed;
            if ((rc = tac_heads_dist_sync(h, comm, &mean, &differed)) != TAC_OK) break;
            if (differed)
                tac_log(TAC_LOG_WARN, "heads: after epoch %d the heads of %d rank(s) differed from rank 0's (the "
                        "transport's sums are not the same on every rank); rank 0's were copied to every rank",
                        e, differed);
        }
        if (!isfinite(mean)) {   /* the same loss on every rank: every rank fails here, together */
            rc = tac_fail("heads: training diverged (loss %g) in epoch %d", mean, e);
            if (dist) rc = tac_comm_check(comm, rc);
            break;
        }
        if (p->progress)
            tac_log(TAC_LOG_INFO, "heads: epoch %d/%d  loss %.5f  (%.2f s)", e, p->epochs, mean, tac_now() - t0);
        if (cb) cb(h, e, mean, user);
    }
    if (report && rc == TAC_OK) tac_progress_end(&prog);
    if (blas_lowered) tac_blas_threads_leave();
    free(perm);
    free(sel);
    tac_heads_work_free(w);
    tac_heads_dwork_free(dw);
    if (rc != TAC_OK) { tac_heads_free(h); return rc; }
    *out = h;
    return TAC_OK;
}

int tac_heads_train(const float *X, const float *R, int64_t n, int d,
                    const int64_t *nn_img, const int64_t *nn_txt, int kn,
                    const tac_heads_params *p, tac_heads_epoch_cb cb, void *user, tac_heads **out)
{
    return train_impl(X, R, n, d, nn_img, nn_txt, kn, p, cb, user, out, NULL);
}

/* ---- prediction ---------------------------------------------------------------------------------------- */

int tac_heads_predict_sized(const tac_heads *h, const char *what, const float *X, int64_t n, int d, int k,
                            int32_t *pred, float *prob)
{
    if (h->D != d || h->K != k)
        return tac_fail("%s: heads for rows of width %d and K = %d, given width %d and K = %d", what, h->D, h->K, d, k);
    return tac_heads_predict(h, X, n, pred, prob);
}

int tac_heads_predict(const tac_heads *h, const float *X, int64_t n, int32_t *pred, float *prob)
{
    if (n < 0) return tac_fail("heads: negative row count");
    int D = h->D, H = h->H, K = h->K;
    /* a NaN or infinite row would come out as an arbitrary cluster (argmax over NaN probabilities) */
    if (tac_check_finite("heads: prediction input", X, n, D) != TAC_OK) return TAC_ERR;
    const int CH = 1024;
    float *buf = tac_try_malloc((size_t)CH * (2 * (size_t)H + 2 * (size_t)K), sizeof(float), "heads: prediction buffer");
    if (!buf) return TAC_ERR;
    float *Z1 = buf, *A = Z1 + (size_t)CH * H, *Z2 = A + (size_t)CH * H, *P = Z2 + (size_t)CH * K;
    const tac_head_view *v = &h->P[TAC_HEAD_IMAGE];
    for (int64_t s = 0; s < n; s += CH) {
        int c = (int)(n - s < CH ? n - s : CH);
        tac_linear_forward(Z1, X + (size_t)s * D, v->w1, v->b1, c, D, H);          /* c x H */
        if (tac_bn_forward_eval(A, Z1, v->gamma, v->beta, h->run_mean[TAC_HEAD_IMAGE], h->run_var[TAC_HEAD_IMAGE], c,
                                H) != TAC_OK) {
            free(buf);
            return TAC_ERR;
        }
        tac_relu_forward(A, A, (size_t)c * H);
        tac_linear_forward(Z2, A, v->w2, v->b2, c, H, K);                            /* c x K */
        tac_softmax_forward(P, Z2, c, K);
        for (int i = 0; i < c; i++) {
            const float *pi = P + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++) if (pi[k] > pi[best]) best = k;   /* first maximum, as torch.argmax */
            if (pred) pred[s + i] = best;
        }
        if (prob) memcpy(prob + (size_t)s * K, P, (size_t)c * K * sizeof(float));
    }
    free(buf);
    return TAC_OK;
}

/* ---- save / load --------------------------------------------------------------------------------------- */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the heads file format is written as little-endian");
#define HEADS_MAGIC "TACHEADS"
#define HEADS_VERSION 2u
#define HEADS_V1_BASIS 1469598103934665603ull   /* version 1's checksum basis (see the format above) */
#define HEADS_HDR 40

/* the checksum of a file of the given version */
static uint64_t heads_checksum(uint32_t version, const unsigned char *p, size_t n)
{
    return tac_fnv1a64(version == 1 ? HEADS_V1_BASIS : TAC_FNV1A64_INIT, p, n);
}

int tac_heads_save(const tac_heads *h, const char *path)
{
    uint64_t F = (uint64_t)h->nparam + 4 * (uint64_t)h->H;
    size_t len = HEADS_HDR + 4 * F + 8;
    unsigned char *b = tac_try_calloc(len, 1, "heads: file image");
    if (!b) return TAC_ERR;
    memcpy(b, HEADS_MAGIC, 8);
    uint32_t u[4] = {HEADS_VERSION, (uint32_t)h->D, (uint32_t)h->H, (uint32_t)h->K};
    memcpy(b + 8, u, sizeof u);
    uint64_t st = (uint64_t)h->step;
    memcpy(b + 24, &st, 8);
    memcpy(b + 32, &F, 8);
    memcpy(b + HEADS_HDR, h->params, h->nparam * sizeof(float));
    memcpy(b + HEADS_HDR + h->nparam * sizeof(float), h->stats, 4 * (size_t)h->H * sizeof(float));
    uint64_t cs = heads_checksum(HEADS_VERSION, b, len - 8);
    memcpy(b + len - 8, &cs, 8);
    int rc = tac_write_file_atomic(path, b, len);
    free(b);
    return rc;
}

int tac_heads_load(const char *path, tac_heads **out)
{
    *out = NULL;
    char *data;
    size_t len;
    if (tac_read_file(path, &data, &len) != TAC_OK) return TAC_ERR;
    const unsigned char *b = (const unsigned char *)data;
    int rc = TAC_ERR;
    if (len < HEADS_HDR + 8 || memcmp(b, HEADS_MAGIC, 8) != 0) {
        tac_fail("%s: not a taclust heads file (no TACHEADS magic; make it with `taclust train-heads`)", path);
        goto done;
    }
    uint32_t u[4];
    memcpy(u, b + 8, sizeof u);
    if (u[0] != 1 && u[0] != HEADS_VERSION) {
        tac_fail("%s: unsupported heads file version %u (this build reads versions 1 and %u)", path, u[0], HEADS_VERSION);
        goto done;
    }
    uint64_t D = u[1], H = u[2], K = u[3], st, F;
    memcpy(&st, b + 24, 8);
    memcpy(&F, b + 32, 8);
    if (D < 1 || H < 1 || K < 1 || D > (1u << 20) || H > (1u << 20) || K > (1u << 20) || (D * H > (1ull << 34))) {
        tac_fail("%s: corrupt header (dims D=%llu H=%llu K=%llu)", path, (unsigned long long)D,
                 (unsigned long long)H, (unsigned long long)K);
        goto done;
    }
    uint64_t want_F = 2 * (H * D + 3 * H + K * H + K) + 4 * H;
    if (F != want_F) {
        tac_fail("%s: corrupt header (%llu floats stored, dims D=%llu H=%llu K=%llu need %llu)", path,
                 (unsigned long long)F, (unsigned long long)D, (unsigned long long)H, (unsigned long long)K,
                 (unsigned long long)want_F);
        goto done;
    }
    size_t want_len = HEADS_HDR + 4 * (size_t)F + 8;
    if (len != want_len) {
        tac_fail("%s: %s (%zu bytes, expected %zu)", path, len < want_len ? "truncated" : "trailing bytes after data",
                 len, want_len);
        goto done;
    }
    uint64_t cs;
    memcpy(&cs, b + len - 8, 8);
    if (cs != heads_checksum(u[0], b, len - 8)) { tac_fail("%s: checksum mismatch (file is corrupt)", path); goto done; }
    if (16.0 * (double)F > (double)tac_memory_bytes()) {   /* parameters, gradients and Adam moments: 4 x F floats */
        tac_fail("%s: heads of %llu values need %.1f GB of memory, more than this machine has", path,
                 (unsigned long long)F, 16.0 * (double)F / 1e9);
        goto done;
    }
    tac_heads *h = tac_heads_alloc((int)D, (int)H, (int)K);
    if (!h) goto done;
    memcpy(h->params, b + HEADS_HDR, h->nparam * sizeof(float));
    memcpy(h->stats, b + HEADS_HDR + h->nparam * sizeof(float), 4 * (size_t)H * sizeof(float));
    h->step = (int64_t)st;
    for (size_t i = 0; i < h->nparam; i++)
        if (!isfinite(h->params[i])) {
            tac_fail("%s: parameter %zu is not finite", path, i);
            tac_heads_free(h);
            goto done;
        }
    for (size_t i = 0; i < 4 * (size_t)H; i++)
        if (!isfinite(h->stats[i]) || ((i / H) % 2 == 1 && h->stats[i] < 0)) {
            tac_fail("%s: BatchNorm running statistic %zu is invalid (%g)", path, i, (double)h->stats[i]);
            tac_heads_free(h);
            goto done;
        }
    *out = h;
    rc = TAC_OK;
done:
    free(data);
    return rc;
}

/* Data-parallel training (taclust/dist.h): the step of tac_heads_dist.c in train_impl's loop. */
int tac_heads_train_dist(const float *X, const float *R, int64_t n, int d,
                         const int64_t *nn_img, const int64_t *nn_txt, int kn,
                         const tac_heads_params *p, tac_heads_epoch_cb cb, void *user, tac_heads **out,
                         const tac_comm *comm)
{
    return train_impl(X, R, n, d, nn_img, nn_txt, kn, p, cb, user, out, comm);
}
