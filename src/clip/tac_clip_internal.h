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
} tac_st;

const char *tac_st_dtype_name(int dtype);
/* Parse a safetensors image in memory (not copied: buf must outlive st). Errors name `what`. */
int tac_st_parse(const uint8_t *buf, size_t len, const char *what, tac_st *st);
/* Memory-map and parse a file. */
int tac_st_open(const char *path, tac_st *st);
void tac_st_close(tac_st *st);
const tac_st_tensor *tac_st_find(const tac_st *st, const char *name);

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
} tac_clip_config;

/* Parse config.json text (len bytes, need not be NUL-terminated); missing keys take the transformers defaults of
 * CLIPTextConfig / CLIPVisionConfig / CLIPConfig. Errors name `what`. */
int tac_clip_config_parse(const char *json, size_t len, const char *what, tac_clip_config *cfg);

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

struct tac_clip {
    tac_clip_config cfg;
    tac_clip_weights w;
    float *mem;                  /* the one allocation behind every view */
    size_t nfloats;
    char hash[17];
    char *dir;
    char *bpe_path;              /* tokenizer source found at load time (NULL: none) */
    tac_bpe *bpe;                /* loaded on first use */
    float *ws[TAC_CLIP_MAX_WS];  /* forward-pass workspaces, kept between calls (grown on demand): ws[t] for the
                                  * worker t of either tower, ws[0] when the chunks run in turn */
    size_t ws_cap[TAC_CLIP_MAX_WS];   /* floats in ws[t] */
    int text_no_prefix;          /* 0 (default): the text tower merges a chunk's rows into their token trie, so a
                                  * shared token prefix runs once; 1: every row runs in full (tests, benchmarks) */
    int64_t text_rows;           /* token rows run through the text tower so far, prefixes included (statistics) */
    int precision;               /* TAC_CLIP_FP32 or TAC_CLIP_BF16 once loaded (tac_clip_set_precision) */
    struct tac_clip_bf16 *bf16;  /* bf16 mode: packed weights, primitives, per-worker buffers (tac_clip_bf16.c) */
    char cache_tag[40];          /* tac_clip_cache_tag */
};

/* ---- bf16 mode (tac_clip_bf16.c) ------------------------------------------------------------------------
 * Y[n x m] = X[n x k] . W[m x k]^T (+ Y when beta != 0): X rounded to bf16 in worker `slot`'s buffer, W one of
 * the model's weight views packed at tac_clip_set_precision, fp32 accumulation and output. TAC_ERR (y untouched)
 * if oneDNN fails (not expected: every shape is tried at set time); the caller then runs the product in fp32. */
int tac_clip_bf16_linear(struct tac_clip_bf16 *b, int slot, float *y, const float *x, const float *w, size_t n,
                         size_t k, size_t m, float beta);
void tac_clip_bf16_free(struct tac_clip_bf16 *b);
/* Sets the process default precision on a freshly loaded model (tac_clip_load). */
int tac_clip_apply_default_precision(tac_clip *m);

/* n floats, 2 MB aligned and backed by transparent huge pages where the kernel allows (few page faults);
 * aborts on exhaustion; release with free(). */
float *tac_clip_big_alloc(size_t n);

#endif
