/* tac_clip_forward.c - the two CLIP towers over OpenBLAS, as Hugging Face CLIPModel computes
 * get_image_features / get_text_features (unnormalised projected embeddings).
 *
 *   vision: pixels B x 3 x S x S -> im2col patches (B*G*G) x (3*PS*PS) -> sgemm with the conv weight -> prepend the
 *           class embedding, add positions -> pre-LN -> L pre-norm layers -> post-LN on the class token -> projection
 *   text:   ids B x ctx -> each row cut after its largest id (EOT, OpenAI's pooling; the causal mask makes the cut
 *           exact) -> merged into their token trie (a token prefix shared by several rows, such as a prompt
 *           template's "SOT a photo of the", is one row: causal, so its hidden states do not depend on what
 *           follows) -> token + position embedding -> L causal layers, each node attending to its path -> final LN
 *           on the pooled rows -> projection. Exact: the same sums in the same order as running every row.
 * Images are packed row after row, text trie nodes likewise (N rows); every linear map is one sgemm over all N rows.
 * With T > 1 threads a batch is cut into a multiple of T chunks (images: equal counts; text: equal trie sizes), and
 * each thread runs whole chunks start to end with single-threaded BLAS and its own workspace: no hand-off between
 * threads at every product, and the LayerNorm, activation and attention passes between the products run on every
 * core instead of one. Measured on 2 cores against threaded sgemms over the whole batch: text 1.26x (embed-text on
 * every 15th WordNet noun x 7: 621 -> 784 prompts/s), ViT-B/32 images 1.1x (bench_clip image). With one thread (or when called inside a parallel region) the chunks run
 * in turn, with BLAS and OpenMP threads inside them.
 * bf16 mode (tac_clip_set_precision): linear() hands every product to tac_clip_bf16.c (oneDNN, bf16 operands, fp32
 * out); everything else here is the same fp32 code. The same workers: measured on 2 loaded EPYC cores, ViT-B/32 at
 * batch 32 in bf16, workers side by side 10.5 images/s against 9.3 for one worker with oneDNN's 2 threads
 * (bench/bench_clip.sh: bench_clip image --precision bf16, and with TACLUST_CLIP_WORKERS=1). The attention products
 * stay fp32: 1% of the tower's FLOPs, though about 14% of its bf16 time (perf, same run).
 * The activation is written with AVX2 intrinsics (GCC's vectorisation of the scalar loop ran 4.7x slower).
 * Portable build: the element-wise passes (LayerNorm, activation, biases, attention) exist in two forms, baseline
 * x86-64 and AVX2 + FMA (TAC_TARGET_AVX2, the same code as the earlier x86-64-v3 build), picked per call from
 * tac_cpu_level() (src/core/tac_cpu.c; TACLUST_ISA=scalar forces the baseline form).
 * Big batches are processed in chunks to bound memory; buffers live in the caller's tac_clip_state between calls.
 * Threads: the model is only read here (but for an atomic statistics counter), so several threads may encode with one
 * model at once, each with its own state; a call uses the state's thread count (else tac_num_threads()) for its
 * workers, its OpenMP regions (the calling thread's default team size, restored after) and OpenBLAS (its process-wide
 * count pinned while the call runs, calls with other counts waiting meanwhile, and restored: blas_take).
 */
#include "clip/tac_clip_internal.h"
#include "core/tac_cpu.h"

#include <cblas.h>
#include <omp.h>
#if TAC_X86
#include <immintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VISION_CHUNK 32          /* images per forward pass, at most */
#define VISION_IN_FLIGHT 128     /* images in the workers' chunks at once, at most (bounds memory with many threads) */
#define TEXT_CHUNK_ROWS 4096     /* about the trie rows of one forward pass, at most (memory): tac_clip_encode_tokens */
#define TEXT_IN_FLIGHT 16384     /* trie rows in the workers' chunks at once, about (memory with many threads) */

typedef struct {
    float *x;     /* N x C   residual stream */
    float *h;     /* N x C   layer-norm output */
    float *qkv;   /* N x 3C */
    float *att;   /* N x C   attention output */
    float *mlp;   /* N x H */
    float *t1, *t2;   /* extra buffers of the caller's sizes (vision: patches, patch embeddings) */
    float *p;         /* nthr x pstride: attention scores of one query, one row per thread of the attention team */
    size_t pstride;   /* the longest sequence (or trie path) the chunk may attend over */
    int nthr;         /* threads of the attention team, at most */
    const struct tac_clip_bf16 *bf;   /* bf16 mode: linear() runs on oneDNN (tac_clip_bf16.c); NULL: fp32 sgemm */
    struct tac_clip_bf16_slot *bs;    /* the worker's oneDNN state (in the caller's tac_clip_state) */
} scratch;

/* Carves the buffers out of workspace `slot` of the caller's state (grown when too small; kept between calls: fresh
 * large allocations would page-fault tens of MB on every batch). n rows of width c (hidden), h (MLP), t1 and t2
 * extra floats, attention over tmax keys at most, linear maps with kmax inputs at most (bf16 buffer).
 * TAC_ERR with the reason when memory is short. */
static int scratch_get(tac_clip_state *st, int slot, size_t n, size_t c, size_t h, size_t t1, size_t t2, size_t tmax,
                       size_t kmax, scratch *s)
{
    const tac_clip *m = st->m;
    int nthr = omp_in_parallel() ? 1 : omp_get_max_threads();   /* the team of attention()'s parallel region */
#define RUP(k) (((k) + 15) / 16 * 16)
    size_t sz[8] = {RUP(n * c), RUP(n * c), RUP(n * 3 * c), RUP(n * c), RUP(n * h), RUP(t1), RUP(t2),
                    RUP((size_t)nthr * tmax)}, total = 0;
#undef RUP
    for (int i = 0; i < 8; i++) total += sz[i];
    if (total > st->ws_cap[slot]) {
        float *nw = tac_clip_big_alloc(total, "CLIP workspace");
        if (!nw) return TAC_ERR;
        free(st->ws[slot]);
        st->ws[slot] = nw;
        st->ws_cap[slot] = total;
    }
    s->bf = m->precision == TAC_CLIP_BF16 ? m->bf16 : NULL;
    s->bs = NULL;
    if (s->bf) {
        if (tac_clip_bf16_reserve(s->bf, &st->bf[slot], n * kmax) != TAC_OK) return TAC_ERR;
        s->bs = st->bf[slot];
    }
    float *p = st->ws[slot], **dst[8];
    dst[0] = &s->x; dst[1] = &s->h; dst[2] = &s->qkv; dst[3] = &s->att; dst[4] = &s->mlp; dst[5] = &s->t1;
    dst[6] = &s->t2; dst[7] = &s->p;
    for (int i = 0; i < 8; i++) { *dst[i] = p; p += sz[i]; }
    s->pstride = tmax;
    s->nthr = nthr;
    return TAC_OK;
}

/* y = LayerNorm(x) row by row; float32 data, double accumulation. x, y: n x c (may alias).
 * With rb != NULL the residual bias is first added to x in place (x += rb; y = LN(x)): one pass instead of two. */
TAC_INLINE void layer_norm_body(float *y, float *x, size_t n, size_t c, const float *rb, const float *w,
                                const float *b, double eps)
{
    for (size_t i = 0; i < n; i++) {
        float *xi = x + i * c;
        float *yi = y + i * c;
        if (rb)
            for (size_t j = 0; j < c; j++) xi[j] += rb[j];
        double s = 0, s2 = 0;
        #pragma omp simd reduction(+:s)
        for (size_t j = 0; j < c; j++) s += xi[j];
        double mean = s / (double)c;
        #pragma omp simd reduction(+:s2)
        for (size_t j = 0; j < c; j++) { double d = xi[j] - mean; s2 += d * d; }
        float inv = (float)(1.0 / sqrt(s2 / (double)c + eps)), mu = (float)mean;
        for (size_t j = 0; j < c; j++) yi[j] = (xi[j] - mu) * inv * w[j] + b[j];
    }
}
#if TAC_X86
TAC_TARGET_AVX2 static void layer_norm_avx2(float *y, float *x, size_t n, size_t c, const float *rb, const float *w,
                                            const float *b, double eps)
{
    layer_norm_body(y, x, n, c, rb, w, b, eps);
}
#endif
static void layer_norm(float *y, float *x, size_t n, size_t c, const float *rb, const float *w, const float *b,
                       double eps)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { layer_norm_avx2(y, x, n, c, rb, w, b, eps); return; }
#endif
    layer_norm_body(y, x, n, c, rb, w, b, eps);
}

/* Y[n x m] = X[n x k] . W[m x k]^T (+ beta Y); in bf16 mode on oneDNN (W is one of the model's weight views) */
static void linear(const scratch *sc, float *y, const float *x, const float *w, size_t n, size_t k, size_t m, float beta)
{
    if (sc->bf && tac_clip_bf16_linear(sc->bf, sc->bs, y, x, w, n, k, m, beta) == TAC_OK) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)k, 1.0f, x, (int)k, w, (int)k, beta,
                y, (int)m);
}

TAC_INLINE void add_bias_body(float *y, const float *b, size_t n, size_t m)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) y[i * m + j] += b[j];
}
#if TAC_X86
TAC_TARGET_AVX2 static void add_bias_avx2(float *y, const float *b, size_t n, size_t m) { add_bias_body(y, b, n, m); }
#endif
static void add_bias(float *y, const float *b, size_t n, size_t m)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { add_bias_avx2(y, b, n, m); return; }
#endif
    add_bias_body(y, b, n, m);
}

/* exp(x) for the activation: Cody-Waite range reduction + degree-6 polynomial (about 1 ulp); the fused
 * multiply-adds are spelled out so that the scalar and the AVX2 forms compute the same values. */
static inline float exp_approx(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = fmaf(x, 1.44269504088896341f, 12582912.0f) - 12582912.0f;   /* round to nearest (1.5 * 2^23) */
    float r = fmaf(-n, 1.428606765330187045e-06f, fmaf(-n, 0.693145751953125f, x));
    float p = fmaf(r, 0.001388888888888889f, 0.008333333333333333f);
    p = fmaf(r, p, 0.041666666666666664f);
    p = fmaf(r, p, 0.16666666666666666f);
    p = fmaf(r, p, 0.5f);
    p = fmaf(r, p, 1.0f);
    p = fmaf(r, p, 1.0f);
    int32_t e = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &e, 4);
    return p * sc;
}

/* erf(x), Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7). */
static inline float erf_approx(float x)
{
    float a = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, a, 1.0f);
    float p = fmaf(t, 1.061405429f, -1.453152027f);
    p = fmaf(t, p, 1.421413741f);
    p = fmaf(t, p, -0.284496736f);
    p = fmaf(t, p, 0.254829592f);
    float y = fmaf(-(t * p), exp_approx(-(a * a)), 1.0f);
    return copysignf(y, x);
}

static inline float quick_gelu1(float v) { return v / (1.0f + exp_approx(-1.702f * v)); }
static inline float gelu1(float v) { return (0.5f * v) * (1.0f + erf_approx(v * 0.70710678118654752f)); }

#if TAC_X86
/* The same operations as exp_approx / erf_approx, in the same order, eight lanes at a time (written out: GCC's
 * own vectorisation of the scalar loop blends two divisions per vector and ran 4.7x slower). */
TAC_TARGET_AVX2 static inline __m256 exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);                  /* operands in this order: NaN passes */
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    __m256 big = _mm256_set1_ps(12582912.0f);
    __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), big), big);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(0.001388888888888889f), _mm256_set1_ps(0.008333333333333333f));
    p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(0.041666666666666664f));
    p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(0.16666666666666666f));
    p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

TAC_TARGET_AVX2 static inline __m256 erf8(__m256 x)
{
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_fmadd_ps(t, _mm256_set1_ps(1.061405429f), _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(0.254829592f));
    __m256 e = exp8(_mm256_xor_ps(sign, _mm256_mul_ps(a, a)));
    __m256 y = _mm256_fnmadd_ps(_mm256_mul_ps(t, p), e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));                  /* copysign(y, x), y >= 0 */
}
#endif

/* y = act(y + b) row by row; y: n x m. The scalar loop finishes each row (all of it in the baseline form). */
TAC_INLINE void bias_act_tail(float *yi, const float *b, size_t j, size_t m, int act)
{
    if (act == TAC_ACT_QUICK_GELU)
        for (; j < m; j++) yi[j] = quick_gelu1(yi[j] + b[j]);
    else
        for (; j < m; j++) yi[j] = gelu1(yi[j] + b[j]);
}
#if TAC_X86
TAC_TARGET_AVX2 static void bias_act_avx2(float *y, const float *b, size_t n, size_t m, int act)
{
    for (size_t i = 0; i < n; i++) {
        float *yi = y + i * m;
        size_t j = 0;
        if (act == TAC_ACT_QUICK_GELU)
            for (; j + 8 <= m; j += 8) {
                __m256 v = _mm256_add_ps(_mm256_loadu_ps(yi + j), _mm256_loadu_ps(b + j));
                __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-1.702f), v));
                _mm256_storeu_ps(yi + j, _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
            }
        else
            for (; j + 8 <= m; j += 8) {
                __m256 v = _mm256_add_ps(_mm256_loadu_ps(yi + j), _mm256_loadu_ps(b + j));
                __m256 er = erf8(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
                _mm256_storeu_ps(yi + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                                                       _mm256_add_ps(_mm256_set1_ps(1.0f), er)));
            }
        bias_act_tail(yi, b, j, m, act);
    }
}
#endif
static void bias_act(float *y, const float *b, size_t n, size_t m, int act)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { bias_act_avx2(y, b, n, m, act); return; }
#endif
    for (size_t i = 0; i < n; i++) bias_act_tail(y + i * m, b, 0, m, act);
}

/* One head of one query: o (hd) = sum_j softmax_j(scale q . k_j) v_j over jn keys, key j at k + row(j) * stride and
 * value j at v + row(j) * stride, where row(j) = idx[j] (idx != NULL: a trie path) or j (consecutive rows).
 * p: jn floats of scratch. Two forms (attend_fn): baseline and AVX2 + FMA. */
TAC_INLINE void attend_body(float *o, const float *q, const float *k, const float *v, const int *idx, int jn,
                       size_t stride, int hd, float scale, float *p)
{
    float mx = -INFINITY;
    for (int j = 0; j < jn; j++) {
        const float *kj = k + (size_t)(idx ? idx[j] : j) * stride;
        float d = 0;
        #pragma omp simd reduction(+:d)
        for (int e = 0; e < hd; e++) d += q[e] * kj[e];
        d *= scale;
        p[j] = d;
        if (d > mx) mx = d;
    }
    float sum = 0;
    for (int j = 0; j < jn; j++) { p[j] = exp_approx(p[j] - mx); sum += p[j]; }
    float inv = 1.0f / sum;
    for (int e = 0; e < hd; e++) o[e] = 0;
    for (int j = 0; j < jn; j++) {
        const float *vj = v + (size_t)(idx ? idx[j] : j) * stride;
        float pj = p[j] * inv;
        #pragma omp simd
        for (int e = 0; e < hd; e++) o[e] += pj * vj[e];
    }
}
typedef void (*attend_fn)(float *o, const float *q, const float *k, const float *v, const int *idx, int jn,
                          size_t stride, int hd, float scale, float *p);
static void attend_base(float *o, const float *q, const float *k, const float *v, const int *idx, int jn,
                        size_t stride, int hd, float scale, float *p)
{
    attend_body(o, q, k, v, idx, jn, stride, hd, scale, p);
}
#if TAC_X86
TAC_TARGET_AVX2 static void attend_avx2(float *o, const float *q, const float *k, const float *v, const int *idx,
                                        int jn, size_t stride, int hd, float scale, float *p)
{
    attend_body(o, q, k, v, idx, jn, stride, hd, scale, p);
}
#endif
static attend_fn attend_pick(void)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) return attend_avx2;
#endif
    return attend_base;
}

/* qkv (n x 3C) += bias, rows split over the threads of the enclosing parallel region (then its barrier). */
static void add_qkv_bias(float *qkv, const float *qkv_b, int n, size_t c3)
{
    #pragma omp for schedule(static)
    for (int r = 0; r < n; r++) add_bias(qkv + (size_t)r * c3, qkv_b, 1, c3);
}

/* Multi-head attention over packed sequences (vision: full attention within each image). qkv: N x 3C
 * (q | k | v per row), out: N x C. Sequence s occupies rows off[s] .. off[s+1]-1; causal: row i sees rows <= i of
 * its sequence. With qsel != NULL only query row qsel[s] of each sequence is computed, into out row s
 * (out: nseq x C). */
static void attention(float *out, float *qkv, const float *qkv_b, int nseq, const int *off, int c, int nh, int causal,
                      const int *qsel, const scratch *sc)
{
    int hd = c / nh, tmax = 0;
    for (int s = 0; s < nseq; s++) if (off[s + 1] - off[s] > tmax) tmax = off[s + 1] - off[s];
    float scale = 1.0f / sqrtf((float)hd);
    size_t c3 = 3 * (size_t)c;
    attend_fn attend_one = attend_pick();
    #pragma omp parallel if (!omp_in_parallel())
    {
        add_qkv_bias(qkv, qkv_b, off[nseq], c3);
        TAC_ASSERT((size_t)tmax <= sc->pstride && omp_get_thread_num() < sc->nthr);   /* scratch_get's sizes */
        float *p = sc->p + (size_t)omp_get_thread_num() * sc->pstride;   /* T scores of one query */
        #pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < nseq; s++)
            for (int h = 0; h < nh; h++) {
                int t0 = off[s], T = off[s + 1] - off[s];
                const float *k0 = qkv + (size_t)t0 * c3 + c + (size_t)h * hd;
                const float *v0 = qkv + (size_t)t0 * c3 + 2 * (size_t)c + (size_t)h * hd;
                int i0 = qsel ? qsel[s] - t0 : 0, i1 = qsel ? i0 + 1 : T;
                for (int i = i0; i < i1; i++)
                    attend_one(out + (size_t)(qsel ? s : t0 + i) * c + (size_t)h * hd,
                               qkv + (size_t)(t0 + i) * c3 + (size_t)h * hd, k0, v0, NULL, causal ? i + 1 : T, c3,
                               hd, scale, p);
            }
    }
}

/* Causal attention over a token trie (text): row r of qkv (N x 3C) is one node, and attends to the rows
 * anc[aoff[r] .. aoff[r+1]) - the nodes of its path from the first token, in position order, itself last - which is
 * exactly the causal mask of every sequence through that node. out: N x C; with qsel != NULL only the nq query rows
 * qsel[s] are computed, into out row s (out: nq x C). */
static void attention_tree(float *out, float *qkv, const float *qkv_b, int n, const int *aoff, const int *anc, int c,
                           int nh, const int *qsel, int nq, const scratch *sc)
{
    int hd = c / nh, tmax = 0;
    for (int r = 0; r < n; r++) if (aoff[r + 1] - aoff[r] > tmax) tmax = aoff[r + 1] - aoff[r];
    float scale = 1.0f / sqrtf((float)hd);
    size_t c3 = 3 * (size_t)c;
    int nout = qsel ? nq : n;
    attend_fn attend_one = attend_pick();
    #pragma omp parallel if (!omp_in_parallel())
    {
        add_qkv_bias(qkv, qkv_b, n, c3);
        TAC_ASSERT((size_t)tmax <= sc->pstride && omp_get_thread_num() < sc->nthr);   /* scratch_get's sizes */
        float *p = sc->p + (size_t)omp_get_thread_num() * sc->pstride;   /* the scores of one query */
        #pragma omp for schedule(dynamic, 16)
        for (int s = 0; s < nout; s++) {
            int r = qsel ? qsel[s] : s;
            for (int h = 0; h < nh; h++)
                attend_one(out + (size_t)s * c + (size_t)h * hd, qkv + (size_t)r * c3 + (size_t)h * hd,
                           qkv + c + (size_t)h * hd, qkv + 2 * (size_t)c + (size_t)h * hd, anc + aoff[r],
                           aoff[r + 1] - aoff[r], c3, hd, scale, p);
        }
    }
}

/* Which rows attend to which: packed sequences (vision: off, causal) or a token trie (text: aoff, anc). */
typedef struct {
    const int *off; int causal;           /* sequence s = rows off[s] .. off[s+1]-1 (N = off[nseq]) */
    const int *aoff, *anc; int n;         /* or: the trie of n rows (attention_tree) */
} attn_layout;

/* The L pre-norm layers on x (N x C, residual stream, updated in place). Only the pooled rows pool[s] are read
 * afterwards, so the last layer computes attention, MLP and residual for those rows only and leaves them compacted
 * in rows 0 .. nseq-1 of x (x and sc->h must hold max(N, nseq) rows: trie rows may be pooled by several
 * sequences). */
static void encoder(const tac_clip_tower_cfg *cfg, const tac_clip_layer *layers, float *x, int nseq,
                    const attn_layout *lay, const int *pool, scratch *sc)
{
    size_t n = lay->anc ? (size_t)lay->n : (size_t)lay->off[nseq], c = (size_t)cfg->hidden, hh = (size_t)cfg->inter;
    for (int l = 0; l < cfg->layers; l++) {
        const tac_clip_layer *L = &layers[l];
        int last = l == cfg->layers - 1;
        /* x += fc2 bias of the previous layer (its sgemm left it out); h = LN1(x) */
        layer_norm(sc->h, x, n, c, l ? layers[l - 1].fc2_b : NULL, L->ln1_w, L->ln1_b, cfg->eps);
        linear(sc, sc->qkv, sc->h, L->qkv_w, n, c, 3 * c, 0.0f);
        if (lay->anc)
            attention_tree(sc->att, sc->qkv, L->qkv_b, (int)n, lay->aoff, lay->anc, cfg->hidden, cfg->heads,
                           last ? pool : NULL, nseq, sc);
        else
            attention(sc->att, sc->qkv, L->qkv_b, nseq, lay->off, cfg->hidden, cfg->heads, lay->causal,
                      last ? pool : NULL, sc);
        if (last) {                                              /* keep the pooled rows only, gathered through h */
            for (int s = 0; s < nseq; s++) memcpy(sc->h + (size_t)s * c, x + (size_t)pool[s] * c, c * sizeof(float));
            memcpy(x, sc->h, (size_t)nseq * c * sizeof(float));
            n = (size_t)nseq;
        }
        linear(sc, x, sc->att, L->o_w, n, c, c, 1.0f);               /* x += att . Wo^T */
        layer_norm(sc->h, x, n, c, L->o_b, L->ln2_w, L->ln2_b, cfg->eps);   /* x += bo; h = LN2(x) */
        linear(sc, sc->mlp, sc->h, L->fc1_w, n, c, hh, 0.0f);
        bias_act(sc->mlp, L->fc1_b, n, hh, cfg->act);
        linear(sc, x, sc->mlp, L->fc2_w, n, hh, c, 1.0f);            /* x += act(h . W1^T + b1) . W2^T (+ b2 later) */
    }
    add_bias(x, layers[cfg->layers - 1].fc2_b, n, c);
}

/* out[s] = LN(x[s]) . P^T for the nseq compacted pooled rows of x (nseq x C). out: nseq x E. */
static void pool_project(const scratch *sc, float *x, int nseq, size_t c, const float *lw, const float *lb, double eps,
                         const float *proj, size_t e, float *out)
{
    layer_norm(x, x, (size_t)nseq, c, NULL, lw, lb, eps);
    linear(sc, out, x, proj, (size_t)nseq, c, e, 0.0f);
}

/* ---- workers ------------------------------------------------------------------------------------------- */
/* Threads a call may use: the state's setting, else the OpenMP default (tac_num_threads). */
static int call_threads(const tac_clip_state *st)
{
    int t = st->threads > 0 ? st->threads : tac_num_threads();
    return t > 0 ? t : 1;
}

/* Threads to run chunks side by side: the call's threads (1 inside a caller's parallel region), at most
 * TAC_CLIP_MAX_WS (one workspace each) and at most `most`. */
static int worker_count(int threads, int most)
{
    int T = omp_in_parallel() ? 1 : threads;
    const char *cap = getenv("TACLUST_CLIP_WORKERS");         /* measurement knob (bench_clip.sh): at most N */
    if (cap && atoi(cap) >= 1 && T > atoi(cap)) T = atoi(cap);
    if (T > TAC_CLIP_MAX_WS) T = TAC_CLIP_MAX_WS;
    if (T > most) T = most > 1 ? most : 1;
    return T;
}

/* OpenBLAS's thread count is one process-wide setting, and a product's last bits depend on it (the rows a thread
 * gets change the blocking). A call pins the value it runs with for its whole duration: blas_take(n) waits while
 * calls pinned to another value run, calls with the same value share it (reference count), and the last one out
 * (blas_give) restores the value found by the first one in. So concurrent calls give the results of serial calls,
 * and the caller's own setting survives every call. (The library cannot see other users of OpenBLAS in the process:
 * a caller that changes OpenBLAS's count while the library encodes takes its chances.) */
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t blas_cv = PTHREAD_COND_INITIALIZER;
static int blas_users, blas_value, blas_saved;

static void blas_take(int n)
{
    pthread_mutex_lock(&blas_mu);
    while (blas_users > 0 && blas_value != n) pthread_cond_wait(&blas_cv, &blas_mu);
    if (blas_users++ == 0) {
        blas_saved = openblas_get_num_threads();
        blas_value = n;
        if (blas_saved != n) openblas_set_num_threads(n);
    }
    pthread_mutex_unlock(&blas_mu);
}

static void blas_give(void)
{
    pthread_mutex_lock(&blas_mu);
    if (--blas_users == 0) {
        if (openblas_get_num_threads() != blas_saved) openblas_set_num_threads(blas_saved);
        pthread_cond_broadcast(&blas_cv);
    }
    pthread_mutex_unlock(&blas_mu);
}

/* Runs chunk(st, slot, k, ctx) for k = 0..nch-1: with T > 1 workers side by side (slot = the worker; BLAS
 * single-threaded meanwhile), otherwise in turn in slot 0 with `threads` BLAS threads. OpenBLAS's setting is
 * pinned for the call and restored after (blas_take). The first failing chunk's reason is the call's (moved to the calling thread: the
 * reason is thread-local); the chunks after a failure are skipped. */
typedef int (*chunk_fn)(tac_clip_state *st, int slot, int k, void *ctx);

static int run_chunks(tac_clip_state *st, int T, int threads, int nch, chunk_fn chunk, void *ctx)
{
    int rc = TAC_OK;
    if (T > 1 && nch > 1) {
        char why[512] = "";
        int failed = 0;
        blas_take(1);
        #pragma omp parallel for schedule(dynamic, 1) num_threads(T)
        for (int k = 0; k < nch; k++) {
            int stop;
            #pragma omp atomic read
            stop = failed;
            if (stop || chunk(st, omp_get_thread_num(), k, ctx) == TAC_OK) continue;
            #pragma omp critical   /* unnamed: a named one would be an exported .gomp_critical_user_ symbol */
            if (!failed) { failed = 1; snprintf(why, sizeof why, "%s", tac_last_error()); }
        }
        blas_give();
        if (failed) rc = tac_fail("%s", why);
    } else if (omp_in_parallel()) {              /* inside a caller's parallel region: BLAS as the caller set it */
        for (int k = 0; k < nch && rc == TAC_OK; k++) rc = chunk(st, 0, k, ctx);
    } else {
        blas_take(threads);
        for (int k = 0; k < nch && rc == TAC_OK; k++) rc = chunk(st, 0, k, ctx);
        blas_give();
    }
    return rc;
}

/* Runs fn with the OpenMP default team size of the calling thread set to the call's threads (the parallel regions
 * inside the towers, oneDNN), restored after: a per-thread setting, so concurrent callers do not meet. */
typedef struct { int old; } omp_team;
static omp_team team_set(int threads)
{
    omp_team t = {omp_get_max_threads()};
    if (!omp_in_parallel() && threads != t.old) omp_set_num_threads(threads);
    return t;
}
static void team_restore(omp_team t)
{
    if (!omp_in_parallel() && omp_get_max_threads() != t.old) omp_set_num_threads(t.old);
}

/* ---- states --------------------------------------------------------------------------------------------- */
int tac_clip_state_new(const tac_clip *m, int threads, tac_clip_state **out)
{
    if (!out) return tac_fail("tac_clip_state_new: NULL argument");
    *out = NULL;
    if (!m) return tac_fail("tac_clip_state_new: no model");
    if (threads < 0) return tac_fail("tac_clip_state_new: threads %d must be 0 (default) or positive", threads);
    tac_clip_state *st = tac_try_calloc(1, sizeof *st, "CLIP state");
    if (!st) return TAC_ERR;
    st->m = m;
    st->threads = threads;
    *out = st;
    return TAC_OK;
}

void tac_clip_state_free(tac_clip_state *st)
{
    if (!st) return;
    for (int i = 0; i < TAC_CLIP_MAX_WS; i++) {
        free(st->ws[i]);
        tac_clip_bf16_slot_free(st->bf[i]);
    }
    free(st);
}

/* ---- vision ------------------------------------------------------------------------------------------- */
static int vision_chunk(tac_clip_state *st, int slot, const float *pixels, int b, float *out)
{
    const tac_clip *m = st->m;
    const tac_clip_tower_cfg *v = &m->cfg.vision;
    const tac_clip_weights *w = &m->w;
    int S = v->image_size, ps = v->patch_size, g = S / ps, np = g * g, T = np + 1;
    size_t c = (size_t)v->hidden, kp = 3 * (size_t)ps * ps, n = (size_t)b * T;
    size_t kmax = c > (size_t)v->inter ? c : (size_t)v->inter;
    if (kp > kmax) kmax = kp;
    scratch sc;
    if (scratch_get(st, slot, n, c, (size_t)v->inter, (size_t)b * np * kp, (size_t)b * np * c, (size_t)T, kmax,
                    &sc) != TAC_OK)
        return TAC_ERR;
    int *off = tac_try_malloc((size_t)b + 1, sizeof(int), "CLIP image tower"), *pool = NULL;
    if (off) pool = tac_try_malloc((size_t)b, sizeof(int), "CLIP image tower");
    if (!pool) { free(off); return TAC_ERR; }
    float *patches = sc.t1;                                              /* (B*NP) x (3*PS*PS) */
    #pragma omp parallel for collapse(2) schedule(static) if (!omp_in_parallel())
    for (int i = 0; i < b; i++)
        for (int p = 0; p < np; p++) {
            int gy = p / g, gx = p % g;
            float *dst = patches + ((size_t)i * np + p) * kp;
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < ps; y++) {
                    const float *src = pixels + (((size_t)i * 3 + ch) * S + (size_t)gy * ps + y) * S + (size_t)gx * ps;
                    memcpy(dst + ((size_t)ch * ps + y) * ps, src, (size_t)ps * sizeof(float));
                }
        }
    float *emb = sc.t2;                                                  /* (B*NP) x C */
    linear(&sc, emb, patches, w->patch_w, (size_t)b * np, kp, c, 0.0f);
    float *x = sc.x;                                                     /* (B*T) x C */
    #pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int i = 0; i < b; i++)
        for (int t = 0; t < T; t++) {
            float *xr = x + ((size_t)i * T + t) * c;
            const float *src = t == 0 ? w->cls_emb : emb + ((size_t)i * np + t - 1) * c;
            const float *pos = w->vpos_emb + (size_t)t * c;
            for (size_t j = 0; j < c; j++) xr[j] = src[j] + pos[j];
        }
    layer_norm(x, x, n, c, NULL, w->pre_ln_w, w->pre_ln_b, v->eps);
    for (int i = 0; i <= b; i++) off[i] = i * T;
    for (int i = 0; i < b; i++) pool[i] = i * T;                        /* the class token */
    attn_layout lay = {off, 0, NULL, NULL, 0};
    encoder(v, w->vlayers, x, b, &lay, pool, &sc);
    pool_project(&sc, x, b, c, w->post_ln_w, w->post_ln_b, v->eps, w->vis_proj, (size_t)m->cfg.proj_dim, out);
    free(off); free(pool);
    return TAC_OK;
}

/* Chunk k of nch equal parts of a batch of b images. */
typedef struct { const float *pixels; float *out; int b, nch; size_t per, e; } vision_job;

static int vision_job_chunk(tac_clip_state *st, int slot, int k, void *ctx)
{
    const vision_job *j = ctx;
    int i0 = (int)((int64_t)j->b * k / j->nch), i1 = (int)((int64_t)j->b * (k + 1) / j->nch);
    if (i1 > i0) return vision_chunk(st, slot, j->pixels + (size_t)i0 * j->per, i1 - i0, j->out + (size_t)i0 * j->e);
    return TAC_OK;
}

int tac_clip_encode_images_st(tac_clip_state *st, const float *pixels, int b, float *out)
{
    if (!st) return tac_fail("encode_images: no state");
    if (b < 0) return tac_fail("encode_images: negative batch size %d", b);
    if (b == 0) return TAC_OK;
    if (!pixels || !out) return tac_fail("encode_images: NULL pixels or output");
    const tac_clip *m = st->m;
    int threads = call_threads(st);
    int T = worker_count(threads, b);
    int chunk = VISION_IN_FLIGHT / T < VISION_CHUNK ? VISION_IN_FLIGHT / T : VISION_CHUNK;
    if (chunk < 4) chunk = 4;                       /* a workspace each: many threads get smaller chunks */
    int per_t = T * chunk;
    /* a multiple of T chunks (b + per_t - 1 in 64 bits: near INT_MAX it wrapped to no chunk at all) */
    vision_job j = {pixels, out, b, T * (int)(((int64_t)b + per_t - 1) / per_t),
                    3 * (size_t)m->cfg.vision.image_size * m->cfg.vision.image_size, (size_t)m->cfg.proj_dim};
    omp_team team = team_set(threads);
    int rc = run_chunks(st, T, threads, j.nch, vision_job_chunk, &j);
    team_restore(team);
    return rc;
}

int tac_clip_encode_images(const tac_clip *m, const float *pixels, int b, float *out)
{
    tac_clip_state *st;
    if (tac_clip_state_new(m, 0, &st) != TAC_OK) return TAC_ERR;
    int rc = tac_clip_encode_images_st(st, pixels, b, out);
    tac_clip_state_free(st);
    return rc;
}

/* ---- text --------------------------------------------------------------------------------------------- */
/* The longest token prefix common to all nseq rows (ids stride ctx, row s cut at lens[s]), capped so that every
 * row keeps at least its last (pooled) token outside the prefix. 0 when there is nothing to share. */
static int common_prefix(const int32_t *ids, int ctx, int nseq, const int *lens)
{
    if (nseq < 2) return 0;
    int p = lens[0] - 1;
    for (int s = 1; s < nseq && p > 0; s++) {
        if (lens[s] - 1 < p) p = lens[s] - 1;
        const int32_t *r = ids + (size_t)s * ctx;
        int k = 0;
        while (k < p && r[k] == ids[k]) k++;
        p = k;
    }
    return p;
}

/* qsort_r order of row indices by their cut token sequences (lexicographic, then shorter first, then index). */
typedef struct { const int32_t *ids; int ctx; const int *lens; } rows_ctx;

static int cmp_rows(const void *pa, const void *pb, void *vc)
{
    const rows_ctx *rc = vc;
    int a = *(const int *)pa, b = *(const int *)pb, la = rc->lens[a], lb = rc->lens[b];
    const int32_t *x = rc->ids + (size_t)a * rc->ctx, *y = rc->ids + (size_t)b * rc->ctx;
    for (int i = 0; i < la && i < lb; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    if (la != lb) return la < lb ? -1 : 1;
    return (a > b) - (a < b);
}

/* The token trie of a chunk: one node per distinct token prefix of its rows (share = 1), or one node per token
 * of every row (share = 0: the plain path). Nodes are numbered so that a node's ancestors come before it. */
typedef struct {
    int n;          /* nodes (N) */
    int32_t *tok;   /* N: token id */
    int *pos;       /* N: position in its sequences */
    int *aoff;      /* N+1: node r attends to anc[aoff[r] .. aoff[r+1]) */
    int *anc;       /* its path from position 0, in position order, itself last */
    int *pool;      /* nseq: the node of each row's last (pooled) token */
} trie;

static void trie_free(trie *t)
{
    free(t->tok); free(t->pos); free(t->aoff); free(t->anc); free(t->pool);
}

/* TAC_ERR with the reason (t freed) when memory is short. */
static int trie_build(trie *t, const int32_t *ids, int ctx, int nseq, const int *lens, int share)
{
    size_t tot = 0, tri = 0;
    for (int s = 0; s < nseq; s++) { tot += (size_t)lens[s]; tri += (size_t)lens[s] * (lens[s] + 1) / 2; }
    const char *what = "CLIP text tower";
    memset(t, 0, sizeof *t);
    t->tok = tac_try_malloc(tot, sizeof(int32_t), what);
    t->pos = tac_try_malloc(tot, sizeof(int), what);
    t->aoff = tac_try_malloc(tot + 1, sizeof(int), what);
    t->anc = tac_try_malloc(tri, sizeof(int), what);
    t->pool = tac_try_malloc((size_t)nseq, sizeof(int), what);
    int *ord = tac_try_malloc((size_t)nseq, sizeof(int), what);   /* rows in token order: shared prefixes adjacent */
    int *path = tac_try_malloc((size_t)ctx, sizeof(int), what);   /* nodes of the previous row, by position */
    if (!t->tok || !t->pos || !t->aoff || !t->anc || !t->pool || !ord || !path) {
        trie_free(t); free(ord); free(path);
        return TAC_ERR;
    }
    for (int s = 0; s < nseq; s++) ord[s] = s;
    rows_ctx rc = {ids, ctx, lens};
    if (share) qsort_r(ord, (size_t)nseq, sizeof(int), cmp_rows, &rc);
    int n = 0, prev = -1;
    t->aoff[0] = 0;
    for (int k = 0; k < nseq; k++) {
        int s = ord[k], L = lens[s], c = 0;
        const int32_t *row = ids + (size_t)s * ctx;
        if (share && prev >= 0) {                           /* the prefix shared with the previous row: its nodes */
            const int32_t *pr = ids + (size_t)prev * ctx;
            while (c < L && c < lens[prev] && row[c] == pr[c]) c++;
        }
        for (int i = c; i < L; i++) {
            path[i] = n;
            t->tok[n] = row[i];
            t->pos[n] = i;
            memcpy(t->anc + t->aoff[n], path, (size_t)(i + 1) * sizeof(int));
            t->aoff[n + 1] = t->aoff[n] + i + 1;
            n++;
        }
        t->pool[s] = path[L - 1];
        prev = s;
    }
    t->n = n;
    free(ord); free(path);
    return TAC_OK;
}

/* rows: nseq rows of ids (stride ctx), lens[s] = position of the largest id + 1.
 * The causal tower makes the hidden states, keys and values of a token depend only on the tokens up to it, so the
 * rows are merged into their token trie: a prefix shared by several rows (e.g. SOT + "a photo of the" for one
 * prompt template, and further words the sorted rows have in common) is run once, and every node attends to the
 * nodes of its path (attention_tree). */
static int text_chunk(tac_clip_state *st, int slot, const int32_t *ids, int ctx, int nseq, const int *lens, float *out)
{
    const tac_clip *m = st->m;
    const tac_clip_tower_cfg *t = &m->cfg.text;
    const tac_clip_weights *w = &m->w;
    size_t c = (size_t)t->hidden, hh = (size_t)t->inter;
    trie tr;
    if (trie_build(&tr, ids, ctx, nseq, lens, !m->text_no_prefix) != TAC_OK) return TAC_ERR;
    size_t n = (size_t)tr.n;
    scratch sc;
    if (scratch_get(st, slot, n > (size_t)nseq ? n : (size_t)nseq, c, hh, 0, 0, (size_t)ctx, c > hh ? c : hh,
                    &sc) != TAC_OK) {
        trie_free(&tr);
        return TAC_ERR;
    }
    /* the statistics counter: the one field of the shared model a call writes, atomically */
    __atomic_fetch_add(&((tac_clip *)m)->text_rows, (int64_t)n, __ATOMIC_RELAXED);
    float *x = sc.x;                                                     /* N x C, one row per trie node */
    #pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int r = 0; r < tr.n; r++) {
        const float *te = w->tok_emb + (size_t)tr.tok[r] * c, *pe = w->tpos_emb + (size_t)tr.pos[r] * c;
        float *xr = x + (size_t)r * c;
        for (size_t j = 0; j < c; j++) xr[j] = te[j] + pe[j];
    }
    attn_layout lay = {NULL, 1, tr.aoff, tr.anc, tr.n};
    encoder(t, w->tlayers, x, nseq, &lay, tr.pool, &sc);
    pool_project(&sc, x, nseq, c, w->final_ln_w, w->final_ln_b, t->eps, w->text_proj, (size_t)m->cfg.proj_dim, out);
    trie_free(&tr);
    return TAC_OK;
}

/* Chunk k of a token batch: rows cs[k] .. cs[k+1]-1. */
typedef struct { const int32_t *ids; int ctx; const int *lens, *cs; float *out; size_t e; } text_job;

static int text_job_chunk(tac_clip_state *st, int slot, int k, void *vctx)
{
    const text_job *j = vctx;
    int s0 = j->cs[k];
    return text_chunk(st, slot, j->ids + (size_t)s0 * j->ctx, j->ctx, j->cs[k + 1] - s0, j->lens + s0, j->out + (size_t)s0 * j->e);
}

int tac_clip_encode_tokens_st(tac_clip_state *st, const int32_t *ids, int b, int ctx, float *out)
{
    if (!st) return tac_fail("encode_tokens: no state");
    const tac_clip *m = st->m;
    const tac_clip_tower_cfg *t = &m->cfg.text;
    if (b < 0) return tac_fail("encode_tokens: negative batch size %d", b);
    if (ctx < 1 || ctx > t->max_pos)
        return tac_fail("encode_tokens: context length %d is outside [1, %d] (max_position_embeddings)", ctx, t->max_pos);
    if (b > 0 && (!ids || !out)) return tac_fail("encode_tokens: NULL ids or output");
    int *lens = tac_try_malloc(b > 0 ? (size_t)b : 1, sizeof(int), "encode_tokens");
    if (!lens) return TAC_ERR;
    for (int s = 0; s < b; s++) {
        const int32_t *r = ids + (size_t)s * ctx;
        int am = 0;
        for (int i = 0; i < ctx; i++) {
            if (r[i] < 0 || r[i] >= t->vocab) {
                free(lens);
                return tac_fail("encode_tokens: row %d position %d: token id %d outside the vocabulary [0, %d)", s, i,
                                (int)r[i], t->vocab);
            }
            if (r[i] > r[am]) am = i;                                  /* first occurrence, as torch.argmax */
        }
        lens[s] = am + 1;
    }
    size_t e = (size_t)m->cfg.proj_dim;
    /* Chunks of rows, each one forward pass over its token trie. cost[s] = the trie rows row s adds after row
     * s-1: its length minus the prefix the two share (exact within a chunk when the rows come sorted by tokens,
     * as tac_embed passes them; an upper bound otherwise, as a trie has one row per distinct prefix). A chunk's
     * cost is about TEXT_CHUNK_ROWS at most (memory; its first row and the last one it takes may add a row's
     * length). With T > 1 threads the rows are cut into a multiple of T chunks
     * of equal cost that run side by side, one per thread with single-threaded BLAS and its own workspace: for the
     * text tower's modest matrices this beats threading each sgemm (no hand-offs between the threads at every
     * product, and the LayerNorm, activation and attention passes run on every core instead of one). */
    int np = m->text_no_prefix ? 0 : common_prefix(ids, ctx, b, lens);
    int *cost = tac_try_malloc(b > 0 ? (size_t)b : 1, sizeof(int), "encode_tokens");
    int *cs = cost ? tac_try_malloc((size_t)b + 1, sizeof(int), "encode_tokens") : NULL;   /* chunk k = rows cs[k] .. cs[k+1]-1 */
    if (!cs) { free(cost); free(lens); return TAC_ERR; }
    int64_t total = 0;
    for (int s = 0; s < b; s++) {
        int shared = np;
        if (s > 0 && !m->text_no_prefix) {
            const int32_t *r = ids + (size_t)s * ctx, *q = r - ctx;
            int lim = (lens[s] < lens[s - 1] ? lens[s] : lens[s - 1]) - 1;
            shared = 0;
            while (shared < lim && r[shared] == q[shared]) shared++;
            if (shared < np) shared = np;
        }
        cost[s] = lens[s] - shared;
        total += cost[s];
    }
    int threads = call_threads(st);
    int T = worker_count(threads, b / 8);                 /* a few sequences per worker, or one worker */
    int64_t rows_max = TEXT_IN_FLIGHT / T < TEXT_CHUNK_ROWS ? TEXT_IN_FLIGHT / T : TEXT_CHUNK_ROWS;
    if (rows_max < 512) rows_max = 512;                   /* a workspace each: many threads get smaller chunks */
    int64_t per = (int64_t)T * rows_max;                  /* a multiple of T chunks of equal cost */
    int64_t want = T * ((total + per - 1) / per);
    if (want < 1) want = 1;
    int nch = 0;
    int64_t acc = 0;
    for (int s = 0; s < b; s++) {             /* chunk k ends where the running cost reaches (k+1) total / want */
        if (s == 0 || (acc * want >= (int64_t)nch * total && nch < want)) cs[nch++] = s;
        acc += cost[s];
    }
    cs[nch] = b;
    free(cost);
    text_job j = {ids, ctx, lens, cs, out, e};
    int rc = TAC_OK;
    if (b > 0) {
        omp_team team = team_set(threads);
        rc = run_chunks(st, T, threads, nch, text_job_chunk, &j);
        team_restore(team);
    }
    free(cs);
    free(lens);
    return rc;
}

int tac_clip_encode_tokens(const tac_clip *m, const int32_t *ids, int b, int ctx, float *out)
{
    tac_clip_state *st;
    if (tac_clip_state_new(m, 0, &st) != TAC_OK) return TAC_ERR;
    int rc = tac_clip_encode_tokens_st(st, ids, b, ctx, out);
    tac_clip_state_free(st);
    return rc;
}

int tac_clip_encode_texts_st(tac_clip_state *st, const char *const *texts, int b, float *out)
{
    if (!st) return tac_fail("encode_texts: no state");
    const tac_clip *m = st->m;
    if (b < 0) return tac_fail("encode_texts: negative batch size %d", b);
    tac_bpe *bpe = tac_clip_tokenizer(m);
    if (!bpe) return TAC_ERR;
    if (b > 0 && !texts) return tac_fail("encode_texts: NULL texts");
    int ctx = m->cfg.text.max_pos < TAC_CLIP_CONTEXT ? m->cfg.text.max_pos : TAC_CLIP_CONTEXT;
    int32_t *ids = tac_try_malloc((size_t)(b > 0 ? b : 1) * ctx, sizeof(int32_t), "encode_texts");   /* B x ctx */
    if (!ids) return TAC_ERR;
    for (int s = 0; s < b; s++)
        if (tac_bpe_tokenize(bpe, texts[s], ids + (size_t)s * ctx, ctx) < 0) { free(ids); return TAC_ERR; }
    int rc = tac_clip_encode_tokens_st(st, ids, b, ctx, out);
    free(ids);
    return rc;
}

int tac_clip_encode_texts(const tac_clip *m, const char *const *texts, int b, float *out)
{
    tac_clip_state *st;
    if (tac_clip_state_new(m, 0, &st) != TAC_OK) return TAC_ERR;
    int rc = tac_clip_encode_texts_st(st, texts, b, out);
    tac_clip_state_free(st);
    return rc;
}
