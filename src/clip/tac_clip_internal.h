/* tac_clip_internal.h - private interfaces of the clip stage: the safetensors reader, the config.json parser,
 * the CLIP weight layout (one float32 allocation with named views) and the model struct shared by the loader
 * (tac_clip_load.c) and the two towers (tac_clip_forward.c). The fuzzers in fuzz/ call the two parsers directly.
 * Not installed; nothing outside src/clip and fuzz/ should include it.
 */
#ifndef TAC_CLIP_INTERNAL_H
#define TAC_CLIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "taclust/clip.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

/* ---- safetensors ------------------------------------------------------------------------------------ */
enum { TAC_ST_BOOL, TAC_ST_U8, TAC_ST_I8, TAC_ST_F8_E5M2, TAC_ST_F8_E4M3, TAC_ST_I16, TAC_ST_U16, TAC_ST_F16,
       TAC_ST_BF16, TAC_ST_I32, TAC_ST_U32, TAC_ST_F32, TAC_ST_F64, TAC_ST_I64, TAC_ST_U64, TAC_ST_NDTYPES };
#define TAC_ST_MAXDIM 8

typedef struct {
    char *name;
    int dtype;                       /* TAC_ST_* */
    int ndim;
    int64_t shape[TAC_ST_MAXDIM];
    const uint8_t *data;             /* into the mapping; nbytes = numel * dtype size, inside the file */
    size_t nbytes;
} tac_st_tensor;

typedef struct {
    tac_st_tensor *t;                /* n tensors sorted by name (no duplicates) */
    int n;
    const uint8_t *header;           /* the JSON header bytes (header_len of them) */
    size_t header_len;
    const uint8_t *data;             /* the data section: data_len bytes */
    size_t data_len;
    void *map; size_t map_len;       /* the mmap, when opened from a file */
    uint8_t **owned; int nowned;     /* buffers some tensors point into (inflated zip entries), freed at close */
} tac_st;

const char *tac_st_dtype_name(int dtype);
/* Parse a safetensors image in memory (not copied: buf must outlive st). Errors name `what`. */
int tac_st_parse(const uint8_t *buf, size_t len, const char *what, tac_st *st);
/* Memory-map and parse a file. */
int tac_st_open(const char *path, tac_st *st);
void tac_st_close(tac_st *st);
const tac_st_tensor *tac_st_find(const tac_st *st, const char *name);

/* ---- torch.save checkpoints (tac_torch.c): the same tensor table, from a zip + pickle, nothing executed --- */
/* Parse a torch.save zip image in memory (not copied). header = the pickle, data = the whole image. */
int tac_torch_parse(const uint8_t *buf, size_t len, const char *what, tac_st *st);
/* Memory-map and parse a file (close with tac_st_close). */
int tac_torch_open(const char *path, tac_st *st);

/* ---- config.json ------------------------------------------------------------------------------------ */
enum { TAC_ACT_QUICK_GELU, TAC_ACT_GELU };
typedef struct {
    int hidden;        /* C  hidden_size */
    int inter;         /* H  intermediate_size */
    int layers;        /* L  num_hidden_layers */
    int heads;         /* NH num_attention_heads */
    int act;           /* TAC_ACT_* from hidden_act */
    double eps;        /* layer_norm_eps */
    int vocab;         /* text: vocab_size (V) */
    int max_pos;       /* text: max_position_embeddings (P) */
    int image_size;    /* vision: S */
    int patch_size;    /* vision: PS */
    int channels;      /* vision: num_channels (must be 3) */
} tac_clip_tower_cfg;

typedef struct {
    tac_clip_tower_cfg text, vision;
    int proj_dim;      /* E projection_dim */
    float mean[3], std[3];   /* the pixel normalisation the model was trained with (OpenAI's unless the folder
                              * says otherwise); the loader folds any other into the patch embedding */
    int openclip;      /* 1: OpenCLIP / OpenAI tensor names (open_clip_config.json), 0: Hugging Face names */
    int custom_text;   /* OpenCLIP CustomTextCLIP: the text tower's names start with "text." */
} tac_clip_config;

extern const float tac_clip_openai_mean[3], tac_clip_openai_std[3];

/* Parse config.json text (len bytes, need not be NUL-terminated); missing keys take the transformers defaults of
 * CLIPTextConfig / CLIPVisionConfig / CLIPConfig. Errors name `what`. */
int tac_clip_config_parse(const char *json, size_t len, const char *what, tac_clip_config *cfg);
/* Parse an OpenCLIP open_clip_config.json ({"model_cfg": {...}, "preprocess_cfg": {...}}) or a bare OpenCLIP
 * model config ({"embed_dim", "vision_cfg", "text_cfg", ...}) into cfg (openclip = 1). Only the OpenAI-architecture
 * ViT is accepted; options that change it (timm or Hugging Face towers, ResNets, layer scale, attention pooling, ...)
 * are refused naming the option. name: the model's name or folder path, for the -quickgelu rule (see the .c). */
int tac_clip_openclip_config_parse(const char *json, size_t len, const char *what, const char *name,
                                   tac_clip_config *cfg);
/* Reads mean/std (3 numbers each) under the keys mkey/skey of the JSON object obj into cfg (absent: unchanged). */
int tac_clip_norm_from_json(const void *obj, const char *mkey, const char *skey, const char *what, tac_clip_config *cfg);

/* ---- weights: one allocation, named views ----------------------------------------------------------- */
typedef struct {
    float *ln1_w, *ln1_b;        /* C */
    float *qkv_w;                /* 3C x C: q_proj, k_proj, v_proj weights stacked (one sgemm) */
    float *qkv_b;                /* 3C */
    float *o_w;                  /* C x C */
    float *o_b;                  /* C */
    float *ln2_w, *ln2_b;        /* C */
    float *fc1_w;                /* H x C */
    float *fc1_b;                /* H */
    float *fc2_w;                /* C x H */
    float *fc2_b;                /* C */
} tac_clip_layer;

typedef struct {
    /* text tower */
    float *tok_emb;              /* V x C */
    float *tpos_emb;             /* P x C */
    float *final_ln_w, *final_ln_b;   /* C */
    float *text_proj;            /* E x C */
    tac_clip_layer *tlayers;     /* L */
    /* vision tower */
    float *cls_emb;              /* C */
    float *patch_w;              /* C x (3*PS*PS), the conv weight flattened (channel, row, column) */
    float *vpos_emb;             /* (G*G+1) x C, G = S / PS */
    float *pre_ln_w, *pre_ln_b;  /* C */
    float *post_ln_w, *post_ln_b;/* C */
    float *vis_proj;             /* E x C */
    tac_clip_layer *vlayers;     /* L */
    float *logit_scale;          /* 1 */
} tac_clip_weights;

#define TAC_CLIP_MAX_WS 64       /* workers that run chunks side by side, at most (more threads are not used) */

/* A loaded model: immutable once tac_clip_load returns (tac_clip_set_precision aside, which must not run while the
 * model encodes), so that any number of threads may encode with it at once, each with its own tac_clip_state. */
struct tac_clip {
    tac_clip_config cfg;
    tac_clip_weights w;
    float *mem;                  /* the one allocation behind every view */
    size_t nfloats;
    char hash[17];
    char *dir;
    tac_bpe *bpe;                /* the tokenizer, loaded with the model (NULL: none; text calls then fail) */
    char *bpe_why;               /* why there is none (the error text for text calls), or NULL */
    int text_no_prefix;          /* 0 (default): the text tower merges a chunk's rows into their token trie, so a
                                  * shared token prefix runs once; 1: every row runs in full (tests, benchmarks;
                                  * set before the model is shared) */
    int64_t text_rows;           /* token rows run through the text tower so far, prefixes included (statistics;
                                  * the one field encoding writes: atomically) */
    int precision;               /* TAC_CLIP_FP32 or TAC_CLIP_BF16 once loaded (tac_clip_set_precision) */
    struct tac_clip_bf16 *bf16;  /* bf16 mode: packed weights and the oneDNN engine (tac_clip_bf16.c), built by
                                  * tac_clip_set_precision and kept until tac_clip_free */
    char cache_tag[40];          /* tac_clip_cache_tag, rewritten by tac_clip_set_precision */
};

/* Per-caller state of the towers (tac_clip_state_new): the forward-pass workspaces, kept between calls (grown on
 * demand: fresh large allocations would page-fault tens of MB on every batch), one per worker, and the bf16
 * per-worker state (stream, primitive cache, activation buffer). One thread uses a state at a time. */
struct tac_clip_state {
    const tac_clip *m;
    int threads;                 /* threads a call may use; 0: tac_num_threads() at the call */
    float *ws[TAC_CLIP_MAX_WS];  /* ws[t] for the worker t of either tower, ws[0] when the chunks run in turn */
    size_t ws_cap[TAC_CLIP_MAX_WS];   /* floats in ws[t] */
    struct tac_clip_bf16_slot *bf[TAC_CLIP_MAX_WS];   /* bf16 mode: worker t's oneDNN state (NULL until used) */
};

/* ---- bf16 mode (tac_clip_bf16.c) ------------------------------------------------------------------------
 * Y[n x m] = X[n x k] . W[m x k]^T (+ Y when beta != 0): X rounded to bf16 in the worker's slot (its buffer made
 * big enough beforehand by tac_clip_bf16_reserve), W one of the model's weight views packed at
 * tac_clip_set_precision, fp32 accumulation and output. TAC_ERR (y untouched) if oneDNN fails (not expected: every
 * shape is tried at set time); the caller then runs the product in fp32. */
struct tac_clip_bf16_slot;
int tac_clip_bf16_linear(const struct tac_clip_bf16 *b, struct tac_clip_bf16_slot *slot, float *y, const float *x,
                         const float *w, size_t n, size_t k, size_t m, float beta);
/* Creates *slot when NULL (a stream) and grows its activation buffer to `elems` bf16 values: TAC_ERR with the
 * reason when memory or oneDNN fails. */
int tac_clip_bf16_reserve(const struct tac_clip_bf16 *b, struct tac_clip_bf16_slot **slot, size_t elems);
void tac_clip_bf16_slot_free(struct tac_clip_bf16_slot *s);
void tac_clip_bf16_free(struct tac_clip_bf16 *b);
/* Sets the process default precision on a freshly loaded model (tac_clip_load). */
int tac_clip_apply_default_precision(tac_clip *m);

/* n floats, 2 MB aligned and backed by transparent huge pages where the kernel allows (few page faults); NULL with
 * the reason (naming `what`) when memory is short; release with free(). */
float *tac_clip_big_alloc(size_t n, const char *what);

/* malloc'd copy of s, NULL with the reason set when memory is short. */
char *tac_clip_strdup(const char *s);

/* tac_clip_hash.c: a streaming 64-bit hash (4 lanes, memory speed), and the model hash over ALL bytes of the
 * config text, the weights files (in order) and the tokenizer files (a folder with vocab.json + merges.txt or
 * bpe_simple_vocab_16e6.txt.gz, or one file; NULL: none). Each file's hash is remembered in the user cache by
 * path, size and mtime. out: 16 hex digits + NUL. */
typedef struct { uint64_t v[4]; uint8_t buf[32]; size_t nbuf; uint64_t total; } tac_hash64;
void tac_hash64_init(tac_hash64 *h, uint64_t seed);
void tac_hash64_update(tac_hash64 *h, const void *data, size_t n);
uint64_t tac_hash64_final(const tac_hash64 *h);
int tac_clip_model_hash(const char *cfg_text, size_t cfg_len, const char *const *weights, int nweights,
                        const char *tokenizer, char out[17]);

#endif
