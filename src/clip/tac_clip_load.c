/* tac_clip_load.c - loads a CLIP model folder, in the first of these forms that is there:
 *   Hugging Face CLIPModel: DIR/config.json + DIR/model.safetensors, else DIR/pytorch_model.bin (torch.save zip,
 *     read by tac_torch.c), else the shards that DIR/model.safetensors.index.json or pytorch_model.bin.index.json
 *     lists (weight_map: tensor name -> file in DIR); DIR/preprocessor_config.json's image_mean/image_std if present;
 *   OpenCLIP: DIR/open_clip_config.json + DIR/open_clip_model.safetensors or DIR/open_clip_pytorch_model.bin, with
 *     OpenAI tensor names (expected_tensors_openai(); in_proj stacked q,k,v; projections transposed at load);
 *   OpenAI's own weights without a config: DIR/open_clip_pytorch_model.bin (or .safetensors), or OpenAI's
 *     TorchScript ViT-*.pt given as the path or alone in DIR; the model read from the shapes (infer_openai_config(),
 *     as OpenAI's build_model).
 * A model mean/std other than OpenAI's is folded into the patch embedding (fold_normalisation()).
 *
 *   tac_clip *m; if (tac_clip_load("models/clip-vit-base-patch32", &m) != TAC_OK) puts(tac_last_error());
 *   ... tac_clip_encode_images(m, ...); tac_clip_free(m);
 *
 * Every tensor the config implies (the tables in expected_tensors() and expected_tensors_openai(), the only places
 * where tensor names are spelled) must be present with dtype F32, F16 or BF16 and the exact shape; it is converted to float32 into one
 * allocation with named views (tac_clip_weights). Errors name the file, the tensor, what was expected and what
 * was found. The int64 position_ids buffers and any other extra tensors are ignored.
 * Tokenizer (tac_clip_load_ex): the one tac_clip_load_params.tokenizer names, else DIR/vocab.json + DIR/merges.txt or
 * DIR/bpe_simple_vocab_16e6.txt.gz (with tokenizer_fallback: the folder's first); loaded here, with the model, so
 * that the loaded model is immutable. None found: the model encodes images, and text calls fail saying why.
 * The library reads no environment variable for it (the program passes $TACLUST_BPE as the fallback).
 * tac_clip_hash: over all bytes of config.json, the weights and the tokenizer files (tac_clip_hash.c).
 */
#include "clip/tac_clip_internal.h"

#include <cblas.h>
#include <cjson/cJSON.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MAXSPEC_DIMS 4

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[MAXSPEC_DIMS];
    float **view;             /* the named view the data goes to, at element offset off (views are assigned later) */
    size_t off;
    const tac_st_tensor *found;
    int scalar_ok;            /* logit_scale: shape [] or [1] */
    int transpose;            /* 2-D: the file holds shape[0] x shape[1], the view wants its transpose */
} spec;

typedef struct { spec *s; int n, cap; int failed; } spec_list;   /* failed: out of memory (reason set) */

static void add(spec_list *l, float **view, size_t voff, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static void add(spec_list *l, float **view, size_t voff, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...)
{
    if (l->failed) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        spec *ns = realloc(l->s, (size_t)cap * sizeof *l->s);
        if (!ns) { l->failed = 1; tac_fail("CLIP load: out of memory (tensor table)"); return; }
        l->s = ns; l->cap = cap;
    }
    spec *s = &l->s[l->n++];
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->ndim = ndim;
    s->shape[0] = d0; s->shape[1] = d1; s->shape[2] = d2; s->shape[3] = d3;
    s->view = view;
    s->off = voff;
}

/* Assigns the named views into base (when base != NULL) and returns the number of floats they need. */
static size_t layout(const tac_clip_config *c, tac_clip_weights *w, float *base)
{
    size_t off = 0;
#define TAKE(ptr, n) do { size_t n_ = (size_t)(n); if (base) (ptr) = base + off; off += n_; } while (0)
    const tac_clip_tower_cfg *t = &c->text, *v = &c->vision;
    size_t tc = (size_t)t->hidden, vc = (size_t)v->hidden, e = (size_t)c->proj_dim;
    size_t g = (size_t)(v->image_size / v->patch_size), ps = (size_t)v->patch_size;
    TAKE(w->tok_emb, (size_t)t->vocab * tc);
    TAKE(w->tpos_emb, (size_t)t->max_pos * tc);
    TAKE(w->final_ln_w, tc); TAKE(w->final_ln_b, tc);
    TAKE(w->text_proj, e * tc);
    TAKE(w->cls_emb, vc);
    TAKE(w->patch_w, vc * 3 * ps * ps);
    TAKE(w->vpos_emb, (g * g + 1) * vc);
    TAKE(w->pre_ln_w, vc); TAKE(w->pre_ln_b, vc);
    TAKE(w->post_ln_w, vc); TAKE(w->post_ln_b, vc);
    TAKE(w->vis_proj, e * vc);
    TAKE(w->logit_scale, 1);
    for (int tower = 0; tower < 2; tower++) {
        const tac_clip_tower_cfg *tw = tower ? v : t;
        tac_clip_layer *ls = tower ? w->vlayers : w->tlayers;
        size_t C = (size_t)tw->hidden, H = (size_t)tw->inter;
        for (int i = 0; i < tw->layers; i++) {
            tac_clip_layer dummy, *L = base ? &ls[i] : &dummy;
            TAKE(L->ln1_w, C); TAKE(L->ln1_b, C);
            TAKE(L->qkv_w, 3 * C * C); TAKE(L->qkv_b, 3 * C);
            TAKE(L->o_w, C * C); TAKE(L->o_b, C);
            TAKE(L->ln2_w, C); TAKE(L->ln2_b, C);
            TAKE(L->fc1_w, H * C); TAKE(L->fc1_b, H);
            TAKE(L->fc2_w, C * H); TAKE(L->fc2_b, C);
        }
    }
#undef TAKE
    return off;
}

/* The Hugging Face tensor names, shapes and destinations: the only place the names are spelled. */
static void expected_tensors(const tac_clip_config *c, tac_clip_weights *w, spec_list *l)
{
    const tac_clip_tower_cfg *t = &c->text, *v = &c->vision;
    int64_t tc = t->hidden, vc = v->hidden, e = c->proj_dim, ps = v->patch_size, g = v->image_size / v->patch_size;
    add(l, &w->tok_emb, 0, 2, t->vocab, tc, 0, 0, "text_model.embeddings.token_embedding.weight");
    add(l, &w->tpos_emb, 0, 2, t->max_pos, tc, 0, 0, "text_model.embeddings.position_embedding.weight");
    add(l, &w->final_ln_w, 0, 1, tc, 0, 0, 0, "text_model.final_layer_norm.weight");
    add(l, &w->final_ln_b, 0, 1, tc, 0, 0, 0, "text_model.final_layer_norm.bias");
    add(l, &w->text_proj, 0, 2, e, tc, 0, 0, "text_projection.weight");
    add(l, &w->cls_emb, 0, 1, vc, 0, 0, 0, "vision_model.embeddings.class_embedding");
    add(l, &w->patch_w, 0, 4, vc, 3, ps, ps, "vision_model.embeddings.patch_embedding.weight");
    add(l, &w->vpos_emb, 0, 2, g * g + 1, vc, 0, 0, "vision_model.embeddings.position_embedding.weight");
    add(l, &w->pre_ln_w, 0, 1, vc, 0, 0, 0, "vision_model.pre_layrnorm.weight");      /* (sic) */
    add(l, &w->pre_ln_b, 0, 1, vc, 0, 0, 0, "vision_model.pre_layrnorm.bias");
    add(l, &w->post_ln_w, 0, 1, vc, 0, 0, 0, "vision_model.post_layernorm.weight");
    add(l, &w->post_ln_b, 0, 1, vc, 0, 0, 0, "vision_model.post_layernorm.bias");
    add(l, &w->vis_proj, 0, 2, e, vc, 0, 0, "visual_projection.weight");
    add(l, &w->logit_scale, 0, 0, 0, 0, 0, 0, "logit_scale");
    l->s[l->n - 1].scalar_ok = 1;
    for (int tower = 0; tower < 2; tower++) {
        const tac_clip_tower_cfg *tw = tower ? v : t;
        const char *p = tower ? "vision_model" : "text_model";
        int64_t C = tw->hidden, H = tw->inter;
        for (int i = 0; i < tw->layers; i++) {
            tac_clip_layer *L = tower ? &w->vlayers[i] : &w->tlayers[i];
            static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
            for (int k = 0; k < 3; k++) {
                add(l, &L->qkv_w, (size_t)(k * C * C), 2, C, C, 0, 0, "%s.encoder.layers.%d.self_attn.%s.weight", p, i, qkv[k]);
                add(l, &L->qkv_b, (size_t)(k * C), 1, C, 0, 0, 0, "%s.encoder.layers.%d.self_attn.%s.bias", p, i, qkv[k]);
            }
            add(l, &L->o_w, 0, 2, C, C, 0, 0, "%s.encoder.layers.%d.self_attn.out_proj.weight", p, i);
            add(l, &L->o_b, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.self_attn.out_proj.bias", p, i);
            add(l, &L->ln1_w, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.layer_norm1.weight", p, i);
            add(l, &L->ln1_b, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.layer_norm1.bias", p, i);
            add(l, &L->ln2_w, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.layer_norm2.weight", p, i);
            add(l, &L->ln2_b, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.layer_norm2.bias", p, i);
            add(l, &L->fc1_w, 0, 2, H, C, 0, 0, "%s.encoder.layers.%d.mlp.fc1.weight", p, i);
            add(l, &L->fc1_b, 0, 1, H, 0, 0, 0, "%s.encoder.layers.%d.mlp.fc1.bias", p, i);
            add(l, &L->fc2_w, 0, 2, C, H, 0, 0, "%s.encoder.layers.%d.mlp.fc2.weight", p, i);
            add(l, &L->fc2_b, 0, 1, C, 0, 0, 0, "%s.encoder.layers.%d.mlp.fc2.bias", p, i);
        }
    }
}

/* The OpenAI / OpenCLIP tensor names (state_dict of OpenAI's CLIP and of OpenCLIP's CLIP / CustomTextCLIP, whose
 * text tower names start with "text."): the only place they are spelled. Differences from the HF layout: q, k, v
 * come stacked as attn.in_proj_weight (3C x C, the order of qkv_w) and in_proj_bias; the two projections are
 * stored as x @ P (C x E), the transpose of the HF weights; the MLP is c_fc / c_proj. */
static void expected_tensors_openai(const tac_clip_config *c, tac_clip_weights *w, spec_list *l)
{
    const tac_clip_tower_cfg *t = &c->text, *v = &c->vision;
    const char *tp = c->custom_text ? "text." : "";
    int64_t tc = t->hidden, vc = v->hidden, e = c->proj_dim, ps = v->patch_size, g = v->image_size / v->patch_size;
    add(l, &w->tok_emb, 0, 2, t->vocab, tc, 0, 0, "%stoken_embedding.weight", tp);
    add(l, &w->tpos_emb, 0, 2, t->max_pos, tc, 0, 0, "%spositional_embedding", tp);
    add(l, &w->final_ln_w, 0, 1, tc, 0, 0, 0, "%sln_final.weight", tp);
    add(l, &w->final_ln_b, 0, 1, tc, 0, 0, 0, "%sln_final.bias", tp);
    add(l, &w->text_proj, 0, 2, tc, e, 0, 0, "%stext_projection", tp);
    l->s[l->n - 1].transpose = 1;
    add(l, &w->cls_emb, 0, 1, vc, 0, 0, 0, "visual.class_embedding");
    add(l, &w->patch_w, 0, 4, vc, 3, ps, ps, "visual.conv1.weight");
    add(l, &w->vpos_emb, 0, 2, g * g + 1, vc, 0, 0, "visual.positional_embedding");
    add(l, &w->pre_ln_w, 0, 1, vc, 0, 0, 0, "visual.ln_pre.weight");
    add(l, &w->pre_ln_b, 0, 1, vc, 0, 0, 0, "visual.ln_pre.bias");
    add(l, &w->post_ln_w, 0, 1, vc, 0, 0, 0, "visual.ln_post.weight");
    add(l, &w->post_ln_b, 0, 1, vc, 0, 0, 0, "visual.ln_post.bias");
    add(l, &w->vis_proj, 0, 2, vc, e, 0, 0, "visual.proj");
    l->s[l->n - 1].transpose = 1;
    add(l, &w->logit_scale, 0, 0, 0, 0, 0, 0, "logit_scale");
    l->s[l->n - 1].scalar_ok = 1;
    for (int tower = 0; tower < 2; tower++) {
        const tac_clip_tower_cfg *tw = tower ? v : t;
        const char *p = tower ? "visual." : tp;
        int64_t C = tw->hidden, H = tw->inter;
        for (int i = 0; i < tw->layers; i++) {
            tac_clip_layer *L = tower ? &w->vlayers[i] : &w->tlayers[i];
            add(l, &L->qkv_w, 0, 2, 3 * C, C, 0, 0, "%stransformer.resblocks.%d.attn.in_proj_weight", p, i);
            add(l, &L->qkv_b, 0, 1, 3 * C, 0, 0, 0, "%stransformer.resblocks.%d.attn.in_proj_bias", p, i);
            add(l, &L->o_w, 0, 2, C, C, 0, 0, "%stransformer.resblocks.%d.attn.out_proj.weight", p, i);
            add(l, &L->o_b, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.attn.out_proj.bias", p, i);
            add(l, &L->ln1_w, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.ln_1.weight", p, i);
            add(l, &L->ln1_b, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.ln_1.bias", p, i);
            add(l, &L->ln2_w, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.ln_2.weight", p, i);
            add(l, &L->ln2_b, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.ln_2.bias", p, i);
            add(l, &L->fc1_w, 0, 2, H, C, 0, 0, "%stransformer.resblocks.%d.mlp.c_fc.weight", p, i);
            add(l, &L->fc1_b, 0, 1, H, 0, 0, 0, "%stransformer.resblocks.%d.mlp.c_fc.bias", p, i);
            add(l, &L->fc2_w, 0, 2, C, H, 0, 0, "%stransformer.resblocks.%d.mlp.c_proj.weight", p, i);
            add(l, &L->fc2_b, 0, 1, C, 0, 0, 0, "%stransformer.resblocks.%d.mlp.c_proj.bias", p, i);
        }
    }
}

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static float f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023u, bits;
    if (e == 31) bits = s | 0x7f800000u | (m << 13);
    else if (e) bits = s | ((e + 112) << 23) | (m << 13);
    else if (!m) bits = s;
    else {                                   /* subnormal: value m * 2^-24 */
        float f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void convert(const tac_st_tensor *t, float *dst)
{
    size_t n = t->nbytes / (t->dtype == TAC_ST_F32 ? 4 : 2);
    const uint8_t *p = t->data;
    if (t->dtype == TAC_ST_F32) { memcpy(dst, p, n * 4); return; }
    if (t->dtype == TAC_ST_F16) {
        #pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return;
    }
    #pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
        memcpy(&dst[i], &bits, 4);
    }
}

/* The weights: one model.safetensors, or the shards that model.safetensors.index.json lists. */
typedef struct {
    tac_st *st;        /* nst opened files */
    char **path;       /* their paths (for messages) */
    int nst;
    cJSON *map;        /* sharded: the index's weight_map (tensor name -> shard file name); NULL: one file */
    char **shard_name; /* sharded: the file name of each st, as the index spells it */
} weights_src;

/* Finds the tensor of s (in the shard the index names for it) and checks its dtype and shape (before anything is
 * allocated). */
static int check_tensor(const weights_src *w, const char *index_path, spec *s)
{
    int k = 0;
    if (w->map) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(w->map, s->name);
        if (!cJSON_IsString(f))
            return tac_fail("%s: tensor %s is missing from weight_map (a CLIPModel checkpoint matching config.json is "
                            "needed)", index_path, s->name);
        while (k < w->nst && strcmp(w->shard_name[k], f->valuestring) != 0) k++;
        TAC_ASSERT(k < w->nst);   /* every file the map names was opened */
    }
    const char *path = w->path[k];
    const tac_st_tensor *t = tac_st_find(&w->st[k], s->name);
    if (!t)
        return tac_fail("%s: tensor %s is missing (a CLIPModel checkpoint matching config.json is needed)", path, s->name);
    if (t->dtype != TAC_ST_F32 && t->dtype != TAC_ST_F16 && t->dtype != TAC_ST_BF16)
        return tac_fail("%s: %s: expected dtype F32, F16 or BF16, found %s", path, s->name, tac_st_dtype_name(t->dtype));
    int ok = t->ndim == s->ndim;
    for (int i = 0; ok && i < s->ndim; i++) ok = t->shape[i] == s->shape[i];
    if (!ok && s->scalar_ok) ok = t->ndim == 1 && t->shape[0] == 1;
    if (!ok) {
        char e[96], f[160];
        fmt_shape(e, sizeof e, s->ndim, s->shape);
        fmt_shape(f, sizeof f, t->ndim, t->shape);
        return tac_fail("%s: %s: expected shape %s, found %s (does config.json match the weights?)", path, s->name, e, f);
    }
    s->found = t;
    return TAC_OK;
}

/* ---- files ------------------------------------------------------------------------------------------------ */
static int file_exists(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* "dir/name", malloc'd; NULL with the reason set when memory is short. */
static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = tac_try_malloc(n, 1, "CLIP load");
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *tac_clip_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tac_try_malloc(n, 1, "CLIP");
    if (p) memcpy(p, s, n);
    return p;
}

/* The model folder's own tokenizer: *found = 1 when dir holds vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz.
 * TAC_ERR only when memory is short. */
static int folder_has_tokenizer(const char *dir, int *found)
{
    char *a = join(dir, "vocab.json"), *b = join(dir, "merges.txt"), *c = join(dir, "bpe_simple_vocab_16e6.txt.gz");
    int rc = a && b && c ? TAC_OK : TAC_ERR;
    *found = rc == TAC_OK && ((file_exists(a) && file_exists(b)) || file_exists(c));
    free(a); free(b); free(c);
    return rc;
}

tac_bpe *tac_clip_tokenizer(const tac_clip *m)
{
    if (!m) { tac_fail("tac_clip_tokenizer: no model"); return NULL; }
    if (!m->bpe) tac_fail("%s", m->bpe_why ? m->bpe_why : "this CLIP model has no tokenizer");
    return m->bpe;
}

float *tac_clip_big_alloc(size_t n, const char *what)
{
    const size_t huge = (size_t)2 << 20;
    if (n > (SIZE_MAX - huge) / sizeof(float)) { tac_fail("%s: %zu floats is more memory than can be addressed", what, n); return NULL; }
    size_t bytes = (n * sizeof(float) + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes ? bytes : huge) != 0 || !p) {
        tac_fail("%s: cannot allocate %.2f GB of memory", what, (double)bytes / 1e9);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* ---- load / free -------------------------------------------------------------------------------------- */
/* Once per process, a note when the environment keeps OpenBLAS off the AVX-512 kernels this CPU has (some machines
 * set OPENBLAS_CORETYPE=Haswell): the user's choice is kept, but said, as the towers are BLAS-bound. */
static void note_coretype(void)
{
    static int said;
    const char *ct = getenv("OPENBLAS_CORETYPE"), *core = openblas_get_corename();
    if (said || !ct || !*ct || !core) return;
    said = 1;
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx512f") && !strstr(core, "kylake") && !strstr(core, "ooperlake") &&
        !strstr(core, "apphire") && !strstr(core, "Zen5"))
        tac_log(TAC_LOG_INFO, "note: OPENBLAS_CORETYPE=%s keeps OpenBLAS on its %s kernels although this CPU has AVX-512 (the "
                 "CLIP towers run about 1.7x slower); unset it for full speed", ct, core);
#endif
}

/* A weights file by its name: *.safetensors, else a torch.save zip (*.bin, *.pt, *.pth). */
static int open_one(const char *path, tac_st *st)
{
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) return tac_st_open(path, st);
    return tac_torch_open(path, st);
}

/* Opens the first of the single files names[] that exists in DIR, or else the shards that the first existing
 * index[] file lists (its weight_map names, for each tensor, a file in DIR; the files are opened once each, in the
 * order the map first names them). Fails naming every file looked for when there is none. */
static int open_weights(const char *dir, const char *const *names, const char *const *index, weights_src *w,
                        char **index_text, char **index_path)
{
    for (int i = 0; names[i]; i++) {
        char *one = join(dir, names[i]);
        if (!one) return TAC_ERR;
        if (!file_exists(one)) { free(one); continue; }
        w->st = tac_try_calloc(1, sizeof(tac_st), "CLIP load");
        w->path = tac_try_calloc(1, sizeof(char *), "CLIP load");
        if (!w->st || !w->path) { free(one); return TAC_ERR; }
        w->path[0] = one;
        w->nst = 1;
        return open_one(one, &w->st[0]);
    }
    for (int i = 0; index[i] && !*index_path; i++) {
        char *p = join(dir, index[i]);
        if (!p) return TAC_ERR;
        if (file_exists(p)) *index_path = p;
        else free(p);
    }
    if (!*index_path) {
        char list[512];
        size_t k = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; (pass ? index : names)[i]; i++)
                k += (size_t)snprintf(list + k, k < sizeof list ? sizeof list - k : 0, "%s%s", k ? ", " : "", (pass ? index : names)[i]);
        return tac_fail("%s: no weights: none of %s is there", dir, list);
    }
    size_t len;
    if (tac_read_file_max(*index_path, index_text, &len, TAC_JSON_MAX) != TAC_OK) return TAC_ERR;
    cJSON *root = cJSON_ParseWithLength(*index_text, len);
    if (!root) return tac_fail("%s: not valid JSON", *index_path);
    cJSON *map = cJSON_DetachItemFromObjectCaseSensitive(root, "weight_map");
    cJSON_Delete(root);
    if (!cJSON_IsObject(map)) { cJSON_Delete(map); return tac_fail("%s: no \"weight_map\" object", *index_path); }
    w->map = map;
    int cap = 0;
    for (const cJSON *e = map->child; e; e = e->next) cap++;
    w->st = tac_try_calloc((size_t)(cap > 0 ? cap : 1), sizeof(tac_st), "CLIP load");
    w->path = tac_try_calloc((size_t)(cap > 0 ? cap : 1), sizeof(char *), "CLIP load");
    w->shard_name = tac_try_calloc((size_t)(cap > 0 ? cap : 1), sizeof(char *), "CLIP load");
    if (!w->st || !w->path || !w->shard_name) return TAC_ERR;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return tac_fail("%s: weight_map[\"%s\"] is not a file name", *index_path, e->string ? e->string : "?");
        const char *f = e->valuestring;
        if (strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
            return tac_fail("%s: weight_map[\"%s\"] = \"%s\": shards must be plain file names in the folder",
                            *index_path, e->string ? e->string : "?", f);
        int k = 0;
        while (k < w->nst && strcmp(w->shard_name[k], f) != 0) k++;
        if (k < w->nst) continue;
        w->shard_name[k] = tac_clip_strdup(f);
        w->path[k] = join(dir, f);
        w->nst++;
        if (!w->shard_name[k] || !w->path[k]) return TAC_ERR;
        if (!file_exists(w->path[k]))
            return tac_fail("%s: missing (named by %s for %s)", w->path[k], *index_path, e->string ? e->string : "?");
        if (open_one(w->path[k], &w->st[k]) != TAC_OK) return TAC_ERR;
    }
    if (w->nst == 0) return tac_fail("%s: weight_map is empty", *index_path);
    return TAC_OK;
}

static void close_weights(weights_src *w)
{
    for (int k = 0; k < w->nst; k++) {
        if (w->st) tac_st_close(&w->st[k]);
        if (w->path) free(w->path[k]);
        if (w->shard_name) free(w->shard_name[k]);
    }
    free(w->st); free(w->path); free(w->shard_name);
    cJSON_Delete(w->map);
}

static int has_tensor(const weights_src *w, const char *name)
{
    if (w->map) return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(w->map, name));
    for (int k = 0; k < w->nst; k++)
        if (tac_st_find(&w->st[k], name)) return 1;
    return 0;
}

/* OpenAI-named weights without a config (OpenAI's own state dict): the shapes say the model, as OpenAI's
 * clip.model.build_model reads them (heads = width / 64, MLP 4 x width, QuickGELU). */
static int infer_openai_config(const weights_src *w, const char *what, tac_clip_config *cfg)
{
    const tac_st *st = &w->st[0];
    const tac_st_tensor *conv = tac_st_find(st, "visual.conv1.weight"), *pos = tac_st_find(st, "visual.positional_embedding");
    const tac_st_tensor *tp = tac_st_find(st, "text_projection"), *tpos = tac_st_find(st, "positional_embedding");
    const tac_st_tensor *tok = tac_st_find(st, "token_embedding.weight"), *lnf = tac_st_find(st, "ln_final.weight");
    if (!conv || !pos || !tp || !tpos || !tok || !lnf || conv->ndim != 4 || pos->ndim != 2 || tp->ndim != 2 ||
        tpos->ndim != 2 || tok->ndim != 2 || lnf->ndim != 1)
        return tac_fail("%s: no config beside it, and the weights are not an OpenAI CLIP ViT state dict "
                        "(visual.conv1.weight, visual.positional_embedding, text_projection, ... with their shapes): "
                        "give the model's folder, with its config.json or open_clip_config.json", what);
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->mean, tac_clip_openai_mean, sizeof cfg->mean);
    memcpy(cfg->std, tac_clip_openai_std, sizeof cfg->std);
    cfg->openclip = 1;
    tac_clip_tower_cfg *v = &cfg->vision, *t = &cfg->text;
    int64_t g = 0;
    while ((g + 1) * (g + 1) + 1 <= pos->shape[0]) g++;
    if (g * g + 1 != pos->shape[0] || conv->shape[2] != conv->shape[3] || conv->shape[0] % 64 || lnf->shape[0] % 64 ||
        conv->shape[0] > 65536 || lnf->shape[0] > 65536 || g * conv->shape[2] > 8192 || tp->shape[1] > 65536 ||
        tok->shape[0] > (1 << 24) || tpos->shape[0] > (1 << 16))
        return tac_fail("%s: no open_clip_config.json, and the weights' shapes are not those of an OpenAI CLIP ViT", what);
    v->hidden = (int)conv->shape[0]; v->patch_size = (int)conv->shape[2]; v->image_size = (int)(g * conv->shape[2]);
    t->hidden = (int)lnf->shape[0]; t->vocab = (int)tok->shape[0]; t->max_pos = (int)tpos->shape[0];
    cfg->proj_dim = (int)tp->shape[1];
    for (int tower = 0; tower < 2; tower++) {
        tac_clip_tower_cfg *tw = tower ? v : t;
        char nm[96];
        for (tw->layers = 0; tw->layers < 1024; tw->layers++) {
            snprintf(nm, sizeof nm, "%stransformer.resblocks.%d.attn.in_proj_weight", tower ? "visual." : "", tw->layers);
            if (!tac_st_find(st, nm)) break;
        }
        if (!tw->layers) return tac_fail("%s: no %stransformer.resblocks.0.attn.in_proj_weight", what, tower ? "visual." : "");
        tw->heads = tw->hidden / 64;
        tw->inter = 4 * tw->hidden;
        tw->act = TAC_ACT_QUICK_GELU;
        tw->eps = 1e-5;
        tw->channels = 3;
    }
    return TAC_OK;
}

/* Pixels arrive normalised with OpenAI's mean and std (tac_clip_preprocess). A model trained with others sees
 * x' = a x + b per channel (a = std_oai / std, b = (mean_oai - mean) / std); the patch convolution is linear, so
 * W' = W a and a constant b . sum(W) per output channel, added to the patch rows of the position embedding. */
static void fold_normalisation(tac_clip *m)
{
    const tac_clip_config *c = &m->cfg;
    int same = 1;                  /* OpenAI's constants as a config spells them (to float precision): nothing to do */
    for (int k = 0; k < 3; k++)
        same &= fabsf(c->mean[k] - tac_clip_openai_mean[k]) <= 1e-6f && fabsf(c->std[k] - tac_clip_openai_std[k]) <= 1e-6f;
    if (same) return;
    int C = c->vision.hidden, ps = c->vision.patch_size, g = c->vision.image_size / ps;
    size_t per = (size_t)ps * ps;
    double a[3], b[3];
    for (int k = 0; k < 3; k++) {
        a[k] = (double)tac_clip_openai_std[k] / c->std[k];
        b[k] = ((double)tac_clip_openai_mean[k] - c->mean[k]) / c->std[k];
    }
    for (int o = 0; o < C; o++) {
        double bias = 0;
        for (int k = 0; k < 3; k++) {
            float *wk = m->w.patch_w + ((size_t)o * 3 + (size_t)k) * per;
            double sum = 0;
            for (size_t i = 0; i < per; i++) { sum += wk[i]; wk[i] = (float)(wk[i] * a[k]); }
            bias += b[k] * sum;
        }
        for (int r = 1; r <= g * g; r++) m->w.vpos_emb[(size_t)r * C + o] += (float)bias;
    }
}

/* The one *.pt file in dir (OpenAI's ViT-B-32.pt, ...) into *path; none: *path NULL; several: an error. */
static int find_single_pt(const char *dir, char **path)
{
    *path = NULL;
    DIR *d = opendir(dir);
    if (!d) return TAC_OK;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".pt") != 0) continue;
        char *p = join(dir, e->d_name);
        if (!p) { closedir(d); free(*path); *path = NULL; return TAC_ERR; }
        if (!file_exists(p)) { free(p); continue; }
        if (n++) { free(p); continue; }
        *path = p;
    }
    closedir(d);
    if (n > 1) {
        free(*path);
        *path = NULL;
        return tac_fail("%s: %d .pt files and no config: give the one to use as the model path", dir, n);
    }
    return TAC_OK;
}

tac_clip_load_params tac_clip_load_default_params(void)
{
    tac_clip_load_params p;
    memset(&p, 0, sizeof p);
    return p;
}

int tac_clip_load(const char *dir, tac_clip **out)
{
    tac_clip_load_params p = tac_clip_load_default_params();
    return tac_clip_load_ex(dir, &p, out);
}

/* The tokenizer source (see tac_clip_load_params): *src malloc'd, or NULL with m->bpe_why saying why there is none. */
static int tokenizer_source(tac_clip *m, const char *dir, int is_file, const tac_clip_load_params *p, char **src)
{
    *src = NULL;
    const char *given = p && p->tokenizer && *p->tokenizer ? p->tokenizer : NULL;
    int own = 0;
    if (!is_file && (!given || p->tokenizer_fallback) && folder_has_tokenizer(dir, &own) != TAC_OK) return TAC_ERR;
    const char *use = own ? dir : given;
    if (use) {
        *src = tac_clip_strdup(use);
        return *src ? TAC_OK : TAC_ERR;
    }
    size_t n = strlen(dir) + 256;
    m->bpe_why = tac_try_malloc(n, 1, "CLIP load");
    if (!m->bpe_why) return TAC_ERR;
    snprintf(m->bpe_why, n, "%s: no tokenizer: %s, and none was given (tac_clip_load_params.tokenizer): this model "
             "encodes images only", dir, is_file ? "the model is a single file" :
             "the folder has no vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz");
    return TAC_OK;
}

int tac_clip_load_ex(const char *dir, const tac_clip_load_params *params, tac_clip **out)
{
    if (!out) return tac_fail("tac_clip_load: NULL argument");
    *out = NULL;
    if (!dir) return tac_fail("tac_clip_load: no model path");
    static const char *const hf_names[] = {"model.safetensors", "pytorch_model.bin", NULL};
    static const char *const hf_index[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json", NULL};
    static const char *const oc_names[] = {"open_clip_model.safetensors", "open_clip_pytorch_model.bin", NULL};
    static const char *const oc_index[] = {"open_clip_model.safetensors.index.json", "open_clip_pytorch_model.bin.index.json", NULL};
    char *cfg_path = join(dir, "config.json"), *index_text = NULL, *index_path = NULL;
    char *oc_path = join(dir, "open_clip_config.json"), *pre_path = join(dir, "preprocessor_config.json");
    char *cfg_text = NULL, *bpe_src = NULL;
    size_t cfg_len = 0;
    weights_src w = {0};
    spec_list specs = {0};
    tac_clip *m = NULL;
    int rc = TAC_ERR;
    struct stat sb;
    int is_file = stat(dir, &sb) == 0 && S_ISREG(sb.st_mode);   /* an OpenAI checkpoint file (ViT-B-32.pt) */
    if (!cfg_path || !oc_path || !pre_path) goto done;
    if (!is_file && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) { tac_fail("%s: not a folder (a CLIP model folder is needed)", dir); goto done; }
    m = tac_try_calloc(1, sizeof *m, "CLIP model");
    if (!m) goto done;
    if (is_file) {
        /* handled with the OpenAI state dicts below */
    } else if (file_exists(cfg_path)) {                              /* Hugging Face transformers CLIPModel */
        if (tac_read_file_max(cfg_path, &cfg_text, &cfg_len, TAC_JSON_MAX) != TAC_OK) goto done;
        if (tac_clip_config_parse(cfg_text, cfg_len, cfg_path, &m->cfg) != TAC_OK) goto done;
        if (file_exists(pre_path)) {                          /* CLIPImageProcessor's image_mean / image_std */
            char *pt = NULL;
            size_t pl = 0;
            if (tac_read_file_max(pre_path, &pt, &pl, TAC_JSON_MAX) != TAC_OK) goto done;
            cJSON *pj = cJSON_ParseWithLength(pt, pl);
            int prc = pj ? tac_clip_norm_from_json(pj, "image_mean", "image_std", pre_path, &m->cfg) : tac_fail("%s: not valid JSON", pre_path);
            cJSON_Delete(pj);
            free(pt);
            if (prc != TAC_OK) goto done;
        }
        if (open_weights(dir, hf_names, hf_index, &w, &index_text, &index_path) != TAC_OK) goto done;
    } else if (!is_file && file_exists(oc_path)) {           /* OpenCLIP */
        free(cfg_path);
        cfg_path = oc_path;
        oc_path = NULL;
        if (tac_read_file_max(cfg_path, &cfg_text, &cfg_len, TAC_JSON_MAX) != TAC_OK) goto done;
        if (tac_clip_openclip_config_parse(cfg_text, cfg_len, cfg_path, dir, &m->cfg) != TAC_OK) goto done;
        if (open_weights(dir, oc_names, oc_index, &w, &index_text, &index_path) != TAC_OK) goto done;
        /* the names decide where the text tower is (as OpenCLIP converts between CLIP and CustomTextCLIP) */
        int plain = has_tensor(&w, "token_embedding.weight"), custom = has_tensor(&w, "text.token_embedding.weight");
        if (plain != custom) m->cfg.custom_text = custom;
    }
    if (is_file || !cfg_text) {                               /* OpenAI-named weights alone */
        int any = 0;
        char *one = NULL;
        if (is_file && !(one = tac_clip_strdup(dir))) goto done;
        for (int i = 0; !one && oc_names[i]; i++) {
            char *p = join(dir, oc_names[i]);
            if (!p) goto done;
            any |= file_exists(p);
            free(p);
        }
        if (!one && !any && find_single_pt(dir, &one) != TAC_OK) goto done;
        if (!one && !any) {
            tac_fail("%s: not a CLIP model folder: it needs config.json (Hugging Face: with model.safetensors or "
                     "pytorch_model.bin) or open_clip_config.json (OpenCLIP: with open_clip_model.safetensors or "
                     "open_clip_pytorch_model.bin), or OpenAI's ViT-*.pt", dir);
            goto done;
        }
        if (one) {
            w.st = tac_try_calloc(1, sizeof(tac_st), "CLIP load");
            w.path = tac_try_calloc(1, sizeof(char *), "CLIP load");
            if (!w.st || !w.path) { free(one); goto done; }
            w.path[0] = one;
            w.nst = 1;
            if (open_one(one, &w.st[0]) != TAC_OK) goto done;
        } else if (open_weights(dir, oc_names, oc_index, &w, &index_text, &index_path) != TAC_OK) {
            goto done;
        }
        if (infer_openai_config(&w, w.path[0], &m->cfg) != TAC_OK) goto done;
        if (!(cfg_text = tac_clip_strdup("openai-inferred"))) goto done;
        cfg_len = strlen(cfg_text);
    }
    m->w.tlayers = tac_try_calloc((size_t)m->cfg.text.layers, sizeof(tac_clip_layer), "CLIP load");
    m->w.vlayers = tac_try_calloc((size_t)m->cfg.vision.layers, sizeof(tac_clip_layer), "CLIP load");
    if (!m->w.tlayers || !m->w.vlayers) goto done;
    if (m->cfg.openclip) expected_tensors_openai(&m->cfg, &m->w, &specs);
    else expected_tensors(&m->cfg, &m->w, &specs);
    if (specs.failed) goto done;
    for (int i = 0; i < specs.n; i++)       /* all checked first: the allocation below is bounded by the file */
        if (check_tensor(&w, index_path, &specs.s[i]) != TAC_OK) goto done;
    m->nfloats = layout(&m->cfg, &m->w, NULL);
    m->mem = tac_clip_big_alloc(m->nfloats, "CLIP weights");
    if (!m->mem) goto done;
    layout(&m->cfg, &m->w, m->mem);
    float *tmp = NULL;
    size_t tmp_cap = 0;
    for (int i = 0; i < specs.n; i++) {
        const spec *sp = &specs.s[i];
        float *v = *sp->view + sp->off;
        size_t n = sp->found->nbytes / (sp->found->dtype == TAC_ST_F32 ? 4 : 2), bad = 0;
        if (sp->transpose) {                 /* file: r x c, view: c x r */
            size_t r = (size_t)sp->shape[0], c = (size_t)sp->shape[1];
            if (n > tmp_cap) {
                free(tmp);
                tmp_cap = n;
                if (!(tmp = tac_try_malloc(n, sizeof *tmp, "CLIP load"))) goto done;
            }
            convert(sp->found, tmp);
            for (size_t y = 0; y < r; y++)
                for (size_t x = 0; x < c; x++) v[x * r + y] = tmp[y * c + x];
        } else {
            convert(sp->found, v);
        }
        for (size_t k = 0; k < n; k++) bad += !isfinite(v[k]);
        if (bad) { tac_fail("%s: %s has %zu NaN or Inf values", index_path ? index_path : w.path[0], sp->name, bad); free(tmp); goto done; }
    }
    free(tmp);
    fold_normalisation(m);
    if (!(m->dir = tac_clip_strdup(dir))) goto done;
    if (tokenizer_source(m, dir, is_file, params, &bpe_src) != TAC_OK) goto done;
    if (bpe_src && tac_bpe_load(bpe_src, &m->bpe) != TAC_OK) { m->bpe = NULL; goto done; }   /* loaded here, once */
    if (tac_clip_model_hash(cfg_text, cfg_len, (const char *const *)w.path, w.nst, bpe_src, m->hash) != TAC_OK) goto done;
    note_coretype();
    rc = tac_clip_apply_default_precision(m);    /* bf16: packs the weights (tac_clip_bf16.c) */
done:
    if (rc != TAC_OK && m) { tac_clip_free(m); m = NULL; }
    close_weights(&w);
    free(index_text);
    free(index_path);
    free(specs.s);
    free(bpe_src);
    free(cfg_text);
    free(cfg_path);
    free(oc_path);
    free(pre_path);
    *out = m;
    return rc;
}

void tac_clip_free(tac_clip *m)
{
    if (!m) return;
    if (m->bpe) tac_bpe_free(m->bpe);
    free(m->mem);
    tac_clip_bf16_free(m->bf16);
    free(m->w.tlayers);
    free(m->w.vlayers);
    free(m->dir);
    free(m->bpe_why);
    free(m);
}

int tac_clip_embed_dim(const tac_clip *m) { return m->cfg.proj_dim; }
int64_t tac_clip_text_rows(const tac_clip *m) { return __atomic_load_n(&m->text_rows, __ATOMIC_RELAXED); }
int tac_clip_image_size(const tac_clip *m) { return m->cfg.vision.image_size; }
const char *tac_clip_hash(const tac_clip *m) { return m->hash; }
