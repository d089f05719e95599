/* tac_heads_dist.c - the data-parallel training step of TAC's cluster heads (tac_heads_train_dist, taclust/heads.h):
 * every rank holds the whole batch's indices (the same shuffle and neighbour draws as tac_heads_train) and does the
 * per-row work of a contiguous share of its rows (tac_comm_share); whatever the single-process step sums over the
 * batch is summed over the ranks with comm->allreduce_sum, so every rank computes the same loss, the same
 * gradients and the same Adam update. Declared in heads_internal.h; tac_heads.c's training loop calls it.
 *
 * One step, rows [lo, lo+b) of the batch of B (each head's buffers hold 2b rows: b anchors, then b neighbours):
 *   F1  per head: gather, Linear(D->H), BatchNorm sums (sum x, sum x^2; per half)    -> allreduce  8H doubles
 *   F2  per head: BatchNorm of the whole batch (mean, invstd, running stats), ReLU, Linear(H->K), softmax; the
 *       loss's column sums: sum_i P_ik^2 of the four B x K outputs (the distillation columns' norms), sum_i P_ik of
 *       the two anchor outputs (the entropy term), the consistency term's sum                -> allreduce 6K+1 doubles
 *   F3  per distillation term: normalised columns Hm (2K x b), partial S = Hm Hm^T / T     -> allreduce 2 x 4K^2 floats
 *   F4  per term: the value and dS from S (every rank the same), dH = (dS + dS^T) Hm / T (2K x b), the column
 *       dots sum_i Hm_mi dH_mi                                                              -> allreduce 4K doubles
 *   F5  per term: the gradient w.r.t. the local rows; then consistency and entropy backward (B = the whole batch)
 *   B1  per head: softmax, Linear(H->K) and ReLU backward, BatchNorm backward sums (sum dY, sum dY xhat)
 *                                                                                           -> allreduce 8H doubles
 *   B2  per head: BatchNorm backward (dgamma, dbeta from the whole-batch sums), Linear(D->H) backward
 *       -> allreduce of the gradients of w1, b1, w2, b2 (floats; gamma and beta already hold whole-batch sums)
 *   Adam on every rank (identical inputs -> identical parameters).
 * With one rank (a size-1 communicator) every sum above is the single-process sum in the single-process order, so
 * the step is tac_heads_step bit for bit (tests/test_heads_dist.c checks it); with several, each rank's partial sum
 * is rounded on its own and the partials are added in the transport's order: the results differ in the last bits.
 *
 * At the end of every epoch tac_heads_dist_sync compares a checksum of every rank's heads with rank 0's: the ranks
 * stay identical only if the transport's allreduce gives every rank the same sums (the contract of taclust/dist.h,
 * e.g. Open MPI's algorithms, whose float additions are commutative) and every rank computes exp/log alike; should
 * either fail (a transport that sums in a rank-dependent order, ranks on machines with different maths libraries),
 * rank 0's heads are copied to every rank (with a warning) instead of letting the ranks drift apart.
 *
 * The step allocates nothing (every buffer is in the workspace) and can fail only when the transport does: no rank
 * can fail alone in the middle of a step while the others wait in a collective. Per-head phases run on two threads
 * when the workspace says so (the collectives always on the calling thread).
 */
#include "heads_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"

struct tac_heads_dwork {
    int B;                  /* the whole batch */
    int lo, b;              /* this rank's rows [lo, lo + b) of the batch */
    int threads;            /* 1: sequential; 2: the two heads (and the two distillation terms) on two threads */
    const tac_comm *comm;
    int64_t reduced;        /* bytes passed to allreduce_sum so far */
    float *mem;
    double *dmem;
    /* per head k (0 text, 1 image), 2b rows = b anchors then b neighbours; Z1 later holds dZ1, dP later dZ2 */
    float *Xg[2];           /* 2b x D */
    float *Z1[2], *xhat[2], *A[2], *dA[2];   /* 2b x H each */
    float *P[2], *dP[2];    /* 2b x K each */
    float *mean[2], *invstd[2];              /* 2 x H (per half) */
    float *bnk[2];          /* 3H: BatchNorm backward's per-column constants */
    double *lacc[2];        /* max(H, K): linear backward's column sums, the entropy gradient's constants */
    /* reductions (the allreduce buffers) */
    double *red_bn;         /* 8H: head k, half f at (2k+f)*2H: H sums then H sums of squares / products */
    double *red_loss;       /* 6K+1: sum P^2 of PT | QT | PI | QI (K each), sum P of PT | PI, consistency sum */
    double *red_dot;        /* 4K: the two terms' column dots (2K each) */
    float *S;               /* 2 x 4K^2: the two terms' S (2K x 2K each) */
    /* per distillation term j (0: L_D(PI, QT), 1: L_D(PT, QI)) */
    float *Hm[2], *dH[2];   /* 2K x b each */
    double *nrm[2];         /* 2K each */
};

tac_heads_dwork *tac_heads_dwork_alloc(const tac_heads *h, int B, const tac_comm *comm)
{
    int64_t lo, hi;
    tac_comm_share(B, tac_comm_rank(comm), tac_comm_size(comm), &lo, &hi);
    if (hi - lo < 1) {
        tac_fail("heads: a batch of %d rows cannot be shared among %d ranks (each needs a row)", B, tac_comm_size(comm));
        return NULL;
    }
    tac_heads_dwork *w = tac_try_calloc(1, sizeof *w, "heads: distributed training workspace");
    if (!w) return NULL;
    w->B = B; w->lo = (int)lo; w->b = (int)(hi - lo); w->threads = 1; w->comm = comm;
    size_t R = 2 * (size_t)w->b, D = (size_t)h->D, H = (size_t)h->H, K = (size_t)h->K, M = 2 * K;
    size_t per = R * D + 4 * R * H + 2 * R * K + 4 * H + 3 * H;
    size_t nf = 2 * per + 2 * M * M + 2 * 2 * M * (size_t)w->b;
    size_t L = H > K ? H : K;
    size_t nd = 2 * L + 8 * H + (6 * K + 1) + 4 * K + 2 * M;
    w->mem = tac_try_malloc(nf, sizeof(float), "heads: distributed training workspace");
    w->dmem = w->mem ? tac_try_calloc(nd, sizeof(double), "heads: distributed training workspace") : NULL;
    if (!w->dmem) { tac_heads_dwork_free(w); return NULL; }
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
        w->bnk[k] = q; q += 3 * H;
    }
    w->S = q; q += 2 * M * M;
    for (int j = 0; j < 2; j++) {
        w->Hm[j] = q; q += M * (size_t)w->b;
        w->dH[j] = q; q += M * (size_t)w->b;
    }
    double *e = w->dmem;
    w->lacc[0] = e; e += L;
    w->lacc[1] = e; e += L;
    w->red_bn = e; e += 8 * H;
    w->red_loss = e; e += 6 * K + 1;
    w->red_dot = e; e += 4 * K;
    w->nrm[0] = e; e += M;
    w->nrm[1] = e;
    return w;
}

void tac_heads_dwork_free(tac_heads_dwork *w)
{
    if (!w) return;
    free(w->mem);
    free(w->dmem);
    free(w);
}

void tac_heads_dwork_set_threads(tac_heads_dwork *w, int threads) { w->threads = threads > 1 ? 2 : 1; }
int64_t tac_heads_dwork_reduced_bytes(const tac_heads_dwork *w) { return w->reduced; }
int tac_heads_dwork_rows(const tac_heads_dwork *w, int *lo) { if (lo) *lo = w->lo; return w->b; }

/* ---- kernels on this rank's rows (the single-process kernels' arithmetic, split at their batch sums) ------ */

/* ---- phases -------------------------------------------------------------------------------------------- */

static int reduce(tac_heads_dwork *w, void *buf, int64_t n, int type)
{
    w->reduced += n * (type == TAC_COMM_F32 ? 4 : 8);
    return w->comm->allreduce_sum(w->comm, buf, n, type);
}

typedef struct {
    tac_heads *h; tac_heads_dwork *w; int k;
    const float *src; const int64_t *a, *nb;   /* inputs (N x D) and the whole batch's anchor / neighbour rows */
} dhead_job;

static void *fwd1(void *arg)   /* gather, Linear(D->H), BatchNorm sums */
{
    dhead_job *j = arg;
    tac_heads_dwork *w = j->w;
    int b = w->b, D = j->h->D, H = j->h->H, k = j->k;
    for (int i = 0; i < b; i++) {
        memcpy(w->Xg[k] + (size_t)i * D, j->src + (size_t)j->a[w->lo + i] * D, (size_t)D * sizeof(float));
        memcpy(w->Xg[k] + ((size_t)b + i) * D, j->src + (size_t)j->nb[w->lo + i] * D, (size_t)D * sizeof(float));
    }
    const tac_head_view *v = &j->h->P[k];
    tac_linear_forward(w->Z1[k], w->Xg[k], v->w1, v->b1, 2 * b, D, H);
    double *acc = w->red_bn + (size_t)(2 * k) * 2 * H;
    memset(acc, 0, 4 * (size_t)H * sizeof(double));
    for (int f = 0; f < 2; f++) tac_bn_sums(acc + (size_t)f * 2 * H, w->Z1[k] + (size_t)f * b * H, b, H);
    return NULL;
}

static void *fwd2(void *arg)   /* BatchNorm, ReLU, Linear(H->K), softmax, the loss's column sums */
{
    dhead_job *j = arg;
    tac_heads_dwork *w = j->w;
    tac_heads *h = j->h;
    int b = w->b, H = h->H, K = h->K, k = j->k;
    const tac_head_view *v = &h->P[k];
    for (int f = 0; f < 2; f++) {   /* running stats: anchors first, then neighbours (as the single process) */
        size_t o = (size_t)f * b * H;
        tac_bn_apply(w->A[k] + o, w->xhat[k] + o, w->mean[k] + (size_t)f * H, w->invstd[k] + (size_t)f * H,
                 w->Z1[k] + o, v->gamma, v->beta, h->run_mean[k], h->run_var[k],
                 w->red_bn + (size_t)(2 * k + f) * 2 * H, w->B, b, H);
    }
    tac_relu_forward(w->A[k], w->A[k], 2 * (size_t)b * H);
    tac_linear_forward(w->P[k], w->A[k], v->w2, v->b2, 2 * b, H, K);
    tac_softmax_forward(w->P[k], w->P[k], 2 * b, K);
    for (int f = 0; f < 2; f++) {   /* sum_i P_ik^2 of anchors / neighbours; each column's rows in order */
        double *s = w->red_loss + (size_t)(2 * k + f) * K;
        const float *Pf = w->P[k] + (size_t)f * b * K;
        memset(s, 0, (size_t)K * sizeof(double));
        for (int i = 0; i < b; i++)
            for (int c = 0; c < K; c++) { double x = Pf[(size_t)i * K + c]; s[c] += x * x; }
    }
    double *cs = w->red_loss + (size_t)(4 + k) * K;   /* sum_i P_ik of the anchors (entropy term) */
    memset(cs, 0, (size_t)K * sizeof(double));
    for (int i = 0; i < b; i++) for (int c = 0; c < K; c++) cs[c] += w->P[k][(size_t)i * K + c];
    return NULL;
}

typedef struct {
    tac_heads_dwork *w; int j, K; float T;
    const float *A, *C;         /* this rank's b x K rows of the term's two matrices */
    const double *ssq;          /* 2K: their columns' sums of squares over the whole batch */
    float *dA, *dC;             /* b x K gradients (+=) */
    double value;
} ddist_job;

static void *dist1(void *arg)   /* normalised columns, partial S */
{
    ddist_job *j = arg;
    tac_heads_dwork *w = j->w;
    int b = w->b, K = j->K, M = 2 * K;
    float *Hm = w->Hm[j->j];
    double *nrm = w->nrm[j->j];
    for (int m = 0; m < M; m++) {
        const float *src = m < K ? j->A : j->C;
        int col = m < K ? m : m - K;
        nrm[m] = sqrt(j->ssq[m]);
        double inv = 1.0 / (nrm[m] > 1e-12 ? nrm[m] : 1e-12);
        for (int i = 0; i < b; i++) Hm[(size_t)m * b + i] = (float)(src[(size_t)i * K + col] * inv);
    }
    (void)tac_distill_gram(NULL, w->S + (size_t)j->j * M * M, Hm, M, b, j->T);   /* fp32: cannot fail */
    return NULL;
}

static void *dist2(void *arg)   /* value and dS from the whole S; dH; the column dots */
{
    ddist_job *j = arg;
    tac_heads_dwork *w = j->w;
    int b = w->b, K = j->K, M = 2 * K;
    float *S = w->S + (size_t)j->j * M * M, *Hm = w->Hm[j->j], *dH = w->dH[j->j];
    j->value = tac_distill_value_S(S, K);
    tac_distill_dS(S, K, 1.0);
    (void)tac_distill_dH(NULL, dH, S, Hm, M, b, j->T);   /* fp32: cannot fail */
    double *dot = w->red_dot + (size_t)j->j * M;
    for (int m = 0; m < M; m++) {
        const float *hm = Hm + (size_t)m * b, *dh = dH + (size_t)m * b;
        double s = 0;
        for (int i = 0; i < b; i++) s += (double)hm[i] * dh[i];
        dot[m] = s;
    }
    return NULL;
}

static void *dist3(void *arg)   /* the gradient w.r.t. this rank's rows */
{
    ddist_job *j = arg;
    tac_heads_dwork *w = j->w;
    int b = w->b, K = j->K, M = 2 * K;
    const float *Hm = w->Hm[j->j], *dH = w->dH[j->j];
    const double *nrm = w->nrm[j->j], *dot = w->red_dot + (size_t)j->j * M;
    for (int m = 0; m < M; m++) {
        float *dst = m < K ? j->dA : j->dC;
        int col = m < K ? m : m - K;
        const float *hm = Hm + (size_t)m * b, *dh = dH + (size_t)m * b;
        if (nrm[m] > 1e-12) {
            for (int i = 0; i < b; i++) dst[(size_t)i * K + col] += (float)((dh[i] - hm[i] * dot[m]) / nrm[m]);
        } else {
            for (int i = 0; i < b; i++) dst[(size_t)i * K + col] += (float)(dh[i] / 1e-12);
        }
    }
    return NULL;
}

static void *bwd1(void *arg)   /* softmax, Linear(H->K), ReLU backward; BatchNorm backward sums */
{
    dhead_job *j = arg;
    tac_heads_dwork *w = j->w;
    tac_heads *h = j->h;
    int b = w->b, H = h->H, K = h->K, k = j->k;
    const tac_head_view *v = &h->P[k];
    tac_head_view *g = &h->G[k];
    memset(h->grads + (size_t)k * h->head_size, 0, h->head_size * sizeof(float));
    float *dZ2 = w->dP[k];
    tac_softmax_backward(dZ2, w->dP[k], w->P[k], 2 * b, K);
    tac_linear_backward_acc(w->dA[k], g->w2, g->b2, w->lacc[k], dZ2, w->A[k], v->w2, 2 * b, H, K);
    tac_relu_backward_inplace(w->dA[k], w->A[k], 2 * (size_t)b * H);
    double *acc = w->red_bn + (size_t)(2 * k) * 2 * H;
    memset(acc, 0, 4 * (size_t)H * sizeof(double));
    for (int f = 0; f < 2; f++)
        tac_bn_backward_sums(acc + (size_t)f * 2 * H, w->dA[k] + (size_t)f * b * H, w->xhat[k] + (size_t)f * b * H, b, H);
    return NULL;
}

static void *bwd2(void *arg)   /* BatchNorm backward, Linear(D->H) backward */
{
    dhead_job *j = arg;
    tac_heads_dwork *w = j->w;
    tac_heads *h = j->h;
    int b = w->b, D = h->D, H = h->H, k = j->k;
    const tac_head_view *v = &h->P[k];
    tac_head_view *g = &h->G[k];
    float *dZ1 = w->Z1[k];
    for (int f = 0; f < 2; f++) {
        size_t o = (size_t)f * b * H;
        tac_bn_backward_apply(dZ1 + o, g->gamma, g->beta, w->bnk[k], w->dA[k] + o, w->xhat[k] + o,
                          w->invstd[k] + (size_t)f * H, v->gamma, w->red_bn + (size_t)(2 * k + f) * 2 * H, w->B, b, H);
    }
    tac_linear_backward_acc(NULL, g->w1, g->b1, w->lacc[k], dZ1, w->Xg[k], v->w1, 2 * b, D, H);
    return NULL;
}

int tac_heads_dist_step(tac_heads *h, tac_heads_dwork *w, const float *X, const float *R, const int64_t *idx,
                        const int64_t *nb_txt, const int64_t *nb_img, const tac_heads_params *p, int adam,
                        tac_heads_loss *loss)
{
    int B = w->B, b = w->b, H = h->H, K = h->K;
    size_t bK = (size_t)b * K;
    double *rl = w->red_loss;
    dhead_job jt = {h, w, TAC_HEAD_TEXT, R, idx, nb_txt}, ji = {h, w, TAC_HEAD_IMAGE, X, idx, nb_img};
    /* forward */
    tac_heads_run_pair(w->threads, fwd1, &jt, &ji);
    if (reduce(w, w->red_bn, 8 * (int64_t)H, TAC_COMM_F64) != TAC_OK) return TAC_ERR;
    tac_heads_run_pair(w->threads, fwd2, &jt, &ji);
    const float *PT = w->P[TAC_HEAD_TEXT], *QT = PT + bK, *PI = w->P[TAC_HEAD_IMAGE], *QI = PI + bK;
    double cons = 0;   /* L_C's sum over this rank's rows (tac_consist_forward's terms) */
    for (int i = 0; i < b; i++) {
        double x = tac_row_dot(PT + (size_t)i * K, PI + (size_t)i * K, K);
        double lg = x > 0 ? log(x) : -INFINITY;
        cons -= lg > -100.0 ? lg : -100.0;
    }
    rl[6 * (size_t)K] = cons;
    if (reduce(w, rl, 6 * (int64_t)K + 1, TAC_COMM_F64) != TAC_OK) return TAC_ERR;
    /* the loss: distillation terms from the whole batch's S, consistency and entropy from their sums */
    float T = p->temperature, a = p->entropy_weight;
    float *dPT = w->dP[TAC_HEAD_TEXT], *dPI = w->dP[TAC_HEAD_IMAGE];
    memset(dPT, 0, 2 * bK * sizeof(float));
    memset(dPI, 0, 2 * bK * sizeof(float));
    /* ssq of the columns: term 0 = (PI, QT) -> slots 2, 1; term 1 = (PT, QI) -> slots 0, 3; a term's 2K columns
     * must be contiguous, so they are copied into nrm first (then replaced by the norms) */
    memcpy(w->nrm[0], rl + 2 * (size_t)K, (size_t)K * sizeof(double));
    memcpy(w->nrm[0] + K, rl + 1 * (size_t)K, (size_t)K * sizeof(double));
    memcpy(w->nrm[1], rl + 0 * (size_t)K, (size_t)K * sizeof(double));
    memcpy(w->nrm[1] + K, rl + 3 * (size_t)K, (size_t)K * sizeof(double));
    ddist_job d0 = {w, 0, K, T, PI, QT, w->nrm[0], dPI, dPT + bK, 0}, d1 = {w, 1, K, T, PT, QI, w->nrm[1], dPT, dPI + bK, 0};
    tac_heads_run_pair(w->threads, dist1, &d0, &d1);
    if (reduce(w, w->S, 2 * 4 * (int64_t)K * K, TAC_COMM_F32) != TAC_OK) return TAC_ERR;
    tac_heads_run_pair(w->threads, dist2, &d0, &d1);
    if (reduce(w, w->red_dot, 4 * (int64_t)K, TAC_COMM_F64) != TAC_OK) return TAC_ERR;
    tac_heads_run_pair(w->threads, dist3, &d0, &d1);
    tac_heads_loss L;
    L.distill_it = d0.value;
    L.distill_ti = d1.value;
    L.consist = rl[6 * (size_t)K] / B;
    double ent[2];
    for (int k = 0; k < 2; k++) {   /* H(P) = -sum c log c, c = max(mean_i P_ik, 1e-9) (tac_entropy_forward) */
        const double *cs = rl + (size_t)(4 + k) * K;
        double Hs = 0;
        for (int c = 0; c < K; c++) {
            double s = cs[c] / B, cc = s > 1e-9 ? s : 1e-9;
            Hs -= cc * log(cc);
        }
        ent[k] = Hs;
    }
    L.ent_t = ent[TAC_HEAD_TEXT];
    L.ent_i = ent[TAC_HEAD_IMAGE];
    L.total = L.distill_it + L.distill_ti + L.consist - a * (L.ent_t + L.ent_i);
    /* consistency backward on this rank's anchors (tac_consist_backward with g = 1 and the whole batch's B) */
    for (int i = 0; i < b; i++) {
        const float *pt = PT + (size_t)i * K, *pi = PI + (size_t)i * K;
        double x = tac_row_dot(pt, pi, K), den = (1.0 - x) * x;
        double dx = 1.0 / B * (x - 1.0) / (den > 1e-12 ? den : 1e-12);
        for (int c = 0; c < K; c++) {
            dPT[(size_t)i * K + c] += (float)(dx * pi[c]);
            dPI[(size_t)i * K + c] += (float)(dx * pt[c]);
        }
    }
    /* entropy backward (tac_entropy_backward with g = -a): text head, then image head */
    for (int k = 0; k < 2; k++) {
        double *pbar = w->lacc[k], g = -(double)a;
        const double *cs = rl + (size_t)(4 + k) * K;
        for (int c = 0; c < K; c++) pbar[c] = cs[c] / B;
        for (int c = 0; c < K; c++) pbar[c] = pbar[c] >= 1e-9 ? -g * (log(pbar[c]) + 1.0) / B : 0.0;
        float *dP = w->dP[k];
        for (int i = 0; i < b; i++) for (int c = 0; c < K; c++) dP[(size_t)i * K + c] += (float)pbar[c];
    }
    /* backward */
    tac_heads_run_pair(w->threads, bwd1, &jt, &ji);
    if (reduce(w, w->red_bn, 8 * (int64_t)H, TAC_COMM_F64) != TAC_OK) return TAC_ERR;
    tac_heads_run_pair(w->threads, bwd2, &jt, &ji);
    /* the gradients of w1, b1 (head 0), w2, b2 (head 0) + w1, b1 (head 1), w2, b2 (head 1): gamma and beta hold
     * the whole batch's sums already */
    float *g0 = h->grads, *g1 = h->grads + h->head_size;
    int64_t n_w1b1 = (int64_t)(h->G[0].gamma - h->G[0].w1), n_w2b2 = (int64_t)(g1 - h->G[0].w2);
    if (reduce(w, g0, n_w1b1, TAC_COMM_F32) != TAC_OK) return TAC_ERR;
    if (reduce(w, h->G[0].w2, n_w2b2 + n_w1b1, TAC_COMM_F32) != TAC_OK) return TAC_ERR;
    if (reduce(w, h->G[1].w2, n_w2b2, TAC_COMM_F32) != TAC_OK) return TAC_ERR;
    if (adam) tac_heads_adam(h, p);
    if (loss) *loss = L;
    return TAC_OK;
}

/* ---- end of an epoch: the same heads and loss on every rank ----------------------------------------------- */

int tac_heads_dist_sync(tac_heads *h, const tac_comm *c, double *mean, int *differed)
{
    uint64_t mine = tac_fnv1a64(TAC_FNV1A64_INIT, h->params, h->nparam * sizeof(float));
    mine = tac_fnv1a64(mine, h->adam_m, 2 * h->nparam * sizeof(float));   /* m | v */
    mine = tac_fnv1a64(mine, h->stats, 4 * (size_t)h->H * sizeof(float));
    uint64_t root[2] = {mine, 0};   /* rank 0's checksum and epoch loss */
    memcpy(&root[1], mean, sizeof *mean);
    if (c->bcast(c, root, (int64_t)sizeof root, 0) != TAC_OK) return TAC_ERR;
    memcpy(mean, &root[1], sizeof *mean);
    int64_t bad = root[0] != mine;
    if (c->allreduce_sum(c, &bad, 1, TAC_COMM_I64) != TAC_OK) return TAC_ERR;
    *differed = (int)bad;
    if (!bad) return TAC_OK;
    /* rank 0's parameters, Adam moments (m | v are contiguous), running statistics and step count to every rank */
    int64_t step = h->step;
    if (c->bcast(c, h->params, (int64_t)(h->nparam * sizeof(float)), 0) != TAC_OK ||
        c->bcast(c, h->adam_m, (int64_t)(2 * h->nparam * sizeof(float)), 0) != TAC_OK ||
        c->bcast(c, h->stats, (int64_t)(4 * (size_t)h->H * sizeof(float)), 0) != TAC_OK ||
        c->bcast(c, &step, (int64_t)sizeof step, 0) != TAC_OK)
        return TAC_ERR;
    h->step = step;
    return TAC_OK;
}

/* ---- the arguments every rank must share ---------------------------------------------------------------- */

enum { ARG_N, ARG_D, ARG_KN, ARG_K, ARG_H, ARG_EPOCHS, ARG_BATCH, ARG_SEED, ARG_T, ARG_ENT, ARG_LR, ARG_B1, ARG_B2,
       ARG_EPS, ARG_ROWS, ARG_COUNT };

static uint64_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint64_t b) { uint32_t u = (uint32_t)b; float f; memcpy(&f, &u, 4); return f; }

int tac_heads_dist_same_args(const tac_comm *c, int rc, const float *X, const float *R, int64_t n, int d,
                             const int64_t *nn_img, const int64_t *nn_txt, int kn, const tac_heads_params *p,
                             int *transport_failed)
{
    static const char *const names[ARG_COUNT] = {"row count", "feature dimension", "neighbours per row", "K",
        "hidden size", "epochs", "batch", "seed", "temperature", "entropy weight", "learning rate", "Adam beta1",
        "Adam beta2", "Adam eps", "input rows"};
    uint64_t mine[ARG_COUNT] = {(uint64_t)n, (uint64_t)d, (uint64_t)kn, (uint64_t)p->K, (uint64_t)p->hidden,
                                (uint64_t)p->epochs, (uint64_t)p->batch, p->seed, fbits(p->temperature),
                                fbits(p->entropy_weight), fbits(p->lr), fbits(p->beta1), fbits(p->beta2),
                                fbits(p->eps), 0};
    if (rc == TAC_OK) {   /* a fingerprint of up to 16 rows spread over the inputs (cheap; catches a wrong file) */
        uint64_t hs = TAC_FNV1A64_INIT;
        int64_t ns = n < 16 ? n : 16;
        for (int64_t s = 0; s < ns; s++) {
            int64_t i = ns > 1 ? s * (n - 1) / (ns - 1) : 0;
            hs = tac_fnv1a64(hs, X + (size_t)i * d, (size_t)d * sizeof(float));
            hs = tac_fnv1a64(hs, R + (size_t)i * d, (size_t)d * sizeof(float));
            hs = tac_fnv1a64(hs, nn_img + (size_t)i * kn, (size_t)kn * sizeof(int64_t));
            hs = tac_fnv1a64(hs, nn_txt + (size_t)i * kn, (size_t)kn * sizeof(int64_t));
        }
        mine[ARG_ROWS] = hs;
    }
    uint64_t root[ARG_COUNT];
    memcpy(root, mine, sizeof root);
    *transport_failed = 0;
    if (c->bcast(c, root, (int64_t)sizeof root, 0) != TAC_OK) { *transport_failed = 1; return TAC_ERR; }
    if (rc != TAC_OK) return rc;
    for (int i = 0; i < ARG_COUNT; i++) {
        if (mine[i] == root[i]) continue;
        const char *tail = "every rank must pass the same arguments";
        if (i == ARG_ROWS)
            return tac_fail("heads: the input rows (features or neighbour lists) differ from rank 0's (%s)", tail);
        if (i >= ARG_T && i <= ARG_EPS)
            return tac_fail("heads: %s %g differs from rank 0's %g (%s)", names[i], (double)bitsf(mine[i]),
                            (double)bitsf(root[i]), tail);
        if (i == ARG_SEED)
            return tac_fail("heads: seed %llu differs from rank 0's %llu (%s)", (unsigned long long)mine[i],
                            (unsigned long long)root[i], tail);
        return tac_fail("heads: %s %lld differs from rank 0's %lld (%s)", names[i], (long long)mine[i],
                        (long long)root[i], tail);
    }
    return TAC_OK;
}
