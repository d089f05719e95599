/* tac_clip_bf16.c - the bf16 mode of the CLIP towers: every linear map as a oneDNN matmul on bfloat16 operands
 * with float32 accumulation and float32 output, and the precision setting (auto | bf16 | fp32) around it.
 *
 * Owns: the process default precision (native bf16 is detected, and fp32 rounded to bf16, by src/core/tac_bf16.c),
 * and per model (struct tac_clip_bf16):
 *   - the packed weights: each weight view W (M x K row-major float32, used as Y = X . W^T) is seen by oneDNN as
 *     the K x M matrix W^T in layout "ba" and reordered once, at tac_clip_set_precision, into bf16 in the blocked
 *     layout the matmul picks for it (format_tag any at a reference M; the same layout serves every M);
 *   - per worker slot (struct tac_clip_bf16_slot, held by the caller's tac_clip_state, not the model, so that
 *     threads can share the model): a stream, the bf16 activation buffer (N x K, reserved by the tower before a
 *     chunk runs) and a small cache of matmul primitives keyed by (K, M, N, accumulate), so the text tower's
 *     varying trie sizes create a primitive once per size a worker meets.
 * The model's part (engine, packed weights) is built by tac_clip_set_precision and read-only afterwards.
 * Threads: inside the towers' workers (an OpenMP parallel region) oneDNN runs single-threaded on the calling
 * thread; with one worker it uses the OpenMP threads itself. Both run on libgomp: no oversubscription.
 * The forward pass (tac_clip_forward.c) calls tac_clip_bf16_linear instead of cblas_sgemm in bf16 mode; all else
 * (LayerNorm, attention, activations, residuals) is the fp32 code.
 */
#include "clip/tac_clip_internal.h"
#include "core/tac_bf16.h"
#include "core/tac_cpu.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PACK_REF_M 1024          /* rows of the matmul whose preferred weight layout is used for every M */
#define PRIM_CACHE 24            /* matmul primitives kept per worker slot */

typedef struct {
    const float *src;            /* the fp32 view (M x K), the lookup key */
    int k, n;                    /* K (input features), N (output features) */
    dnnl_memory_desc_t md;       /* bf16 K x N in the packed layout */
    void *data;
} packed_w;

typedef struct { int k, n, m, sum; dnnl_primitive_t p; } prim_entry;

/* One worker's oneDNN state: it lives in the caller's tac_clip_state (the model is shared by threads). */
typedef struct tac_clip_bf16_slot {
    dnnl_stream_t st;
    uint16_t *act;               /* bf16 activations, act_cap elements */
    size_t act_cap;
    prim_entry e[PRIM_CACHE];
    int ne, next;
} slot_state;

/* The model's part: read-only once built (tac_clip_set_precision). */
struct tac_clip_bf16 {
    dnnl_engine_t eng;
    packed_w *w;                 /* nw views sorted by src */
    int nw;
};

/* The machine runs bf16 natively (src/core/tac_bf16.c: cpuid, the OS, oneDNN's ISA, TACLUST_NO_BF16). */
int tac_clip_bf16_available(void) { return tac_bf16_native(); }

const char *tac_clip_dnnl_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

/* ---- the setting ----------------------------------------------------------------------------------------- */
int tac_clip_parse_precision(const char *s, int *prec)
{
    if (s && strcmp(s, "auto") == 0) *prec = TAC_CLIP_AUTO;
    else if (s && strcmp(s, "bf16") == 0) *prec = TAC_CLIP_BF16;
    else if (s && strcmp(s, "fp32") == 0) *prec = TAC_CLIP_FP32;
    else return tac_fail("precision '%s': expected auto, bf16 or fp32", s ? s : "(null)");
    return TAC_OK;
}

const char *tac_clip_precision_name(int prec)
{
    return prec == TAC_CLIP_BF16 ? "bf16" : prec == TAC_CLIP_FP32 ? "fp32" : prec == TAC_CLIP_AUTO ? "auto" : "?";
}

int tac_clip_resolve_precision(int prec, int *resolved)
{
    if (prec == TAC_CLIP_AUTO) prec = tac_clip_bf16_available() ? TAC_CLIP_BF16 : TAC_CLIP_FP32;
    if (prec == TAC_CLIP_BF16 && !tac_clip_bf16_available()) {
        const char *no = getenv("TACLUST_NO_BF16");
        if (no && *no && strcmp(no, "0") != 0)
            return tac_fail("precision bf16: disabled by TACLUST_NO_BF16=%s (use --precision fp32 or auto)", no);
        return tac_fail("precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX; oneDNN ISA %s): use "
                        "--precision fp32 or auto", tac_clip_dnnl_isa());
    }
    if (prec != TAC_CLIP_BF16 && prec != TAC_CLIP_FP32) return tac_fail("precision %d: not a precision", prec);
    *resolved = prec;
    return TAC_OK;
}

static int default_prec = -1;    /* -1: not set, $TACLUST_PRECISION or auto */

int tac_clip_set_default_precision(int prec)
{
    int r = TAC_CLIP_FP32;
    if (tac_clip_resolve_precision(prec, &r) != TAC_OK) return TAC_ERR;
    default_prec = prec;
    return TAC_OK;
}

int tac_clip_default_precision(void)
{
    if (default_prec >= 0) return default_prec;
    const char *e = getenv("TACLUST_PRECISION");
    int p = TAC_CLIP_AUTO;
    if (e && *e && tac_clip_parse_precision(e, &p) != TAC_OK) p = TAC_CLIP_AUTO;   /* checked where it is set */
    return p;
}

int tac_clip_apply_default_precision(tac_clip *m)
{
    const char *e = getenv("TACLUST_PRECISION");
    int p;
    if (default_prec < 0 && e && *e && tac_clip_parse_precision(e, &p) != TAC_OK)
        return tac_fail("TACLUST_PRECISION=%s: expected auto, bf16 or fp32", e);
    return tac_clip_set_precision(m, tac_clip_default_precision());
}

int tac_clip_precision(const tac_clip *m) { return m->precision == TAC_CLIP_BF16 ? TAC_CLIP_BF16 : TAC_CLIP_FP32; }

const char *tac_clip_cache_tag(const tac_clip *m) { return m->cache_tag; }   /* set by tac_clip_set_precision */

/* ---- packing ----------------------------------------------------------------------------------------------- */
#define DN(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { \
        rc = tac_fail("oneDNN: %s failed (status %d)", what, (int)s_); goto done; } } while (0)

/* Packs W (n x k, fp32 row-major) into p: bf16 K x N in the layout a matmul of PACK_REF_M rows prefers. */
static int pack_one(dnnl_engine_t eng, dnnl_stream_t st, const float *w, int k, int n, packed_w *p)
{
    int rc = TAC_OK;
    dnnl_memory_desc_t src, wany, dst, user;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t mu = NULL, mp = NULL;
    dnnl_dims_t ds = {PACK_REF_M, k}, dw = {k, n}, dd = {PACK_REF_M, n};
    memset(p, 0, sizeof *p);
    DN(dnnl_memory_desc_init_by_tag(&src, 2, ds, dnnl_bf16, dnnl_ab), "memory_desc");
    DN(dnnl_memory_desc_init_by_tag(&wany, 2, dw, dnnl_bf16, dnnl_format_tag_any), "memory_desc");
    DN(dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab), "memory_desc");
    DN(dnnl_memory_desc_init_by_tag(&user, 2, dw, dnnl_f32, dnnl_ba), "memory_desc");
    dnnl_matmul_desc_t mdesc;
    DN(dnnl_matmul_desc_init(&mdesc, &src, &wany, NULL, &dst), "matmul_desc_init");
    DN(dnnl_primitive_desc_create(&pd, &mdesc, NULL, eng, NULL), "matmul primitive_desc");
    p->md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    p->data = tac_try_malloc(dnnl_memory_desc_get_size(&p->md), 1, "bf16 packed weights");
    if (!p->data) { rc = TAC_ERR; goto done; }
    p->src = w; p->k = k; p->n = n;
    DN(dnnl_memory_create(&mu, &user, eng, (void *)w), "memory_create");
    DN(dnnl_memory_create(&mp, &p->md, eng, p->data), "memory_create");
    DN(dnnl_reorder_primitive_desc_create(&rpd, &user, eng, &p->md, eng, NULL), "reorder primitive_desc");
    DN(dnnl_primitive_create(&reorder, rpd), "reorder primitive");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mu}, {DNNL_ARG_TO, mp}};
    DN(dnnl_primitive_execute(reorder, st, 2, args), "reorder");
    DN(dnnl_stream_wait(st), "stream_wait");
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (mu) dnnl_memory_destroy(mu);
    if (mp) dnnl_memory_destroy(mp);
    return rc;
}

static int cmp_packed(const void *a, const void *b)
{
    const float *x = ((const packed_w *)a)->src, *y = ((const packed_w *)b)->src;
    return x < y ? -1 : x > y;
}

static dnnl_primitive_t get_prim(const struct tac_clip_bf16 *b, slot_state *ss, const packed_w *pw, int mrows, int sum);

static int build(tac_clip *m, struct tac_clip_bf16 **out)
{
    const tac_clip_config *cf = &m->cfg;
    const tac_clip_weights *w = &m->w;
    struct tac_clip_bf16 *b = tac_try_calloc(1, sizeof *b, "bf16 weights");
    if (!b) { *out = NULL; return TAC_ERR; }
    int rc = TAC_OK, cap = 4 * (cf->text.layers + cf->vision.layers) + 3;
    dnnl_stream_t st = NULL;
    slot_state probe;                       /* the primitives tried below (freed at the end) */
    memset(&probe, 0, sizeof probe);
    b->w = tac_try_calloc((size_t)cap, sizeof(packed_w), "bf16 weights");
    if (!b->w) { rc = TAC_ERR; goto done; }
    DN(dnnl_engine_create(&b->eng, dnnl_cpu, 0), "engine_create");
    DN(dnnl_stream_create(&st, b->eng, dnnl_stream_default_flags), "stream_create");
    /* (W, K, N) of every linear map: N x K row-major views */
    struct { const float *w; int k, n; } todo[4 * 2 * 64 + 3];
    int nt = 0;
    for (int t = 0; t < 2; t++) {
        const tac_clip_tower_cfg *tc = t ? &cf->vision : &cf->text;
        const tac_clip_layer *L = t ? w->vlayers : w->tlayers;
        for (int l = 0; l < tc->layers && nt + 4 < (int)(sizeof todo / sizeof todo[0]) - 3; l++) {
            todo[nt].w = L[l].qkv_w; todo[nt].k = tc->hidden; todo[nt++].n = 3 * tc->hidden;
            todo[nt].w = L[l].o_w; todo[nt].k = tc->hidden; todo[nt++].n = tc->hidden;
            todo[nt].w = L[l].fc1_w; todo[nt].k = tc->hidden; todo[nt++].n = tc->inter;
            todo[nt].w = L[l].fc2_w; todo[nt].k = tc->inter; todo[nt++].n = tc->hidden;
        }
    }
    if (nt != 4 * (cf->text.layers + cf->vision.layers)) {
        rc = tac_fail("bf16: too many layers (%d + %d)", cf->text.layers, cf->vision.layers);
        goto done;
    }
    todo[nt].w = w->patch_w; todo[nt].k = 3 * cf->vision.patch_size * cf->vision.patch_size;
    todo[nt++].n = cf->vision.hidden;
    todo[nt].w = w->vis_proj; todo[nt].k = cf->vision.hidden; todo[nt++].n = cf->proj_dim;
    todo[nt].w = w->text_proj; todo[nt].k = cf->text.hidden; todo[nt++].n = cf->proj_dim;
    for (int i = 0; i < nt; i++) {
        b->nw = i + 1;
        if (pack_one(b->eng, st, todo[i].w, todo[i].k, todo[i].n, &b->w[i]) != TAC_OK) { rc = TAC_ERR; goto done; }
    }
    /* every shape has a matmul for the packed layout, one row and many, overwriting and accumulating: checked
     * here, so that the forward pass does not meet a failure (it would fall back to sgemm for that product) */
    for (int i = 0; i < b->nw; i++)
        for (int c = 0, seen = 0; c < 4 && !seen; c++) {
            for (int j = 0; j < i && !seen; j++) seen = b->w[j].k == b->w[i].k && b->w[j].n == b->w[i].n;
            if (!seen && !get_prim(b, &probe, &b->w[i], c & 1 ? PACK_REF_M : 1, c >> 1)) {
                rc = tac_fail("oneDNN: no bf16 matmul for %d x %d with the packed weights (ISA %s)", b->w[i].k,
                              b->w[i].n, tac_clip_dnnl_isa());
                goto done;
            }
        }
    qsort(b->w, (size_t)b->nw, sizeof(packed_w), cmp_packed);
done:
    for (int i = 0; i < probe.ne; i++) dnnl_primitive_destroy(probe.e[i].p);
    if (st) dnnl_stream_destroy(st);
    if (rc != TAC_OK) { tac_clip_bf16_free(b); b = NULL; }
    *out = b;
    return rc;
}

void tac_clip_bf16_free(struct tac_clip_bf16 *b)
{
    if (!b) return;
    if (b->w)
        for (int i = 0; i < b->nw; i++) free(b->w[i].data);
    free(b->w);
    if (b->eng) dnnl_engine_destroy(b->eng);
    free(b);
}

void tac_clip_bf16_slot_free(slot_state *ss)
{
    if (!ss) return;
    for (int i = 0; i < ss->ne; i++) dnnl_primitive_destroy(ss->e[i].p);
    if (ss->st) dnnl_stream_destroy(ss->st);
    free(ss->act);
    free(ss);
}

int tac_clip_bf16_reserve(const struct tac_clip_bf16 *b, slot_state **slot, size_t elems)
{
    slot_state *ss = *slot;
    if (!ss) {
        ss = tac_try_calloc(1, sizeof *ss, "bf16 worker state");
        if (!ss) return TAC_ERR;
        if (dnnl_stream_create(&ss->st, b->eng, dnnl_stream_default_flags) != dnnl_success) {
            free(ss);
            return tac_fail("oneDNN: stream_create failed");
        }
        *slot = ss;
    }
    if (elems > ss->act_cap) {
        uint16_t *a = tac_try_malloc(elems, sizeof(uint16_t), "bf16 activations");
        if (!a) return TAC_ERR;
        free(ss->act);
        ss->act = a;
        ss->act_cap = elems;
    }
    return TAC_OK;
}

int tac_clip_set_precision(tac_clip *m, int prec)
{
    int r = TAC_CLIP_FP32;
    if (tac_clip_resolve_precision(prec, &r) != TAC_OK) return TAC_ERR;
    if (r == TAC_CLIP_BF16 && !m->bf16 && build(m, &m->bf16) != TAC_OK) return TAC_ERR;   /* packed here, once */
    m->precision = r;
    snprintf(m->cache_tag, sizeof m->cache_tag, "%s%s", m->hash, r == TAC_CLIP_BF16 ? "-bf16" : "");
    return TAC_OK;
}

/* ---- the matmul -------------------------------------------------------------------------------------------- */
static const packed_w *find_packed(const struct tac_clip_bf16 *b, const float *w)
{
    int lo = 0, hi = b->nw - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (b->w[mid].src == w) return &b->w[mid];
        if (b->w[mid].src < w) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

/* The primitive for (K, N, M rows, sum post-op) in slot ss, created on a miss (evicting round robin); NULL when
 * oneDNN has none. */
static dnnl_primitive_t get_prim(const struct tac_clip_bf16 *b, slot_state *ss, const packed_w *pw, int mrows, int sum)
{
    for (int i = 0; i < ss->ne; i++) {
        prim_entry *e = &ss->e[i];
        if (e->k == pw->k && e->n == pw->n && e->m == mrows && e->sum == sum) return e->p;
    }
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t ds = {mrows, pw->k}, dd = {mrows, pw->n};
    dnnl_matmul_desc_t mdesc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    int ok = dnnl_memory_desc_init_by_tag(&src, 2, ds, dnnl_bf16, dnnl_ab) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success &&
             dnnl_matmul_desc_init(&mdesc, &src, &pw->md, NULL, &dst) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && sum)
        ok = dnnl_post_ops_create(&po) == dnnl_success && dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &mdesc, attr, b->eng, NULL) == dnnl_success &&
         dnnl_primitive_create(&p, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    if (!ok) return NULL;
    int i;
    if (ss->ne < PRIM_CACHE) {
        i = ss->ne++;
    } else {
        i = ss->next;
        ss->next = (ss->next + 1) % PRIM_CACHE;
        dnnl_primitive_destroy(ss->e[i].p);
    }
    prim_entry *e = &ss->e[i];
    e->k = pw->k; e->n = pw->n; e->m = mrows; e->sum = sum; e->p = p;
    return p;
}

int tac_clip_bf16_linear(const struct tac_clip_bf16 *b, slot_state *ss, float *y, const float *x, const float *w,
                         size_t n, size_t k, size_t m, float beta)
{
    if (n == 0) return TAC_OK;
    TAC_ASSERT(beta == 0.0f || beta == 1.0f);            /* the towers overwrite or accumulate */
    const packed_w *pw = find_packed(b, w);
    TAC_ASSERT(pw && (size_t)pw->k == k && (size_t)pw->n == m);
    size_t need = n * k;
    TAC_ASSERT(ss && ss->st && need <= ss->act_cap);    /* reserved by the tower (tac_clip_bf16_reserve) */
    dnnl_primitive_t p = get_prim(b, ss, pw, (int)n, beta != 0.0f);
    if (!p) return TAC_ERR;
    if (omp_in_parallel() || n < 64) {
        tac_bf16_from_f32(ss->act, x, need);
    } else {
        #pragma omp parallel for schedule(static)
        for (size_t r = 0; r < n; r++) tac_bf16_from_f32(ss->act + r * k, x + r * k, k);
    }
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t ds = {(dnnl_dim_t)n, (dnnl_dim_t)k}, dd = {(dnnl_dim_t)n, (dnnl_dim_t)m};
    dnnl_memory_t ms = NULL, mw = NULL, md = NULL;
    int ok = dnnl_memory_desc_init_by_tag(&src, 2, ds, dnnl_bf16, dnnl_ab) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success &&
             dnnl_memory_create(&ms, &src, b->eng, ss->act) == dnnl_success &&
             dnnl_memory_create(&mw, &pw->md, b->eng, pw->data) == dnnl_success &&
             dnnl_memory_create(&md, &dst, b->eng, y) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
        ok = dnnl_primitive_execute(p, ss->st, 3, args) == dnnl_success && dnnl_stream_wait(ss->st) == dnnl_success;
    }
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (md) dnnl_memory_destroy(md);
    return ok ? TAC_OK : TAC_ERR;
}
