/* tac_hub_internal.h - what tac_hub.c (cache layout, lookup, listing, resolver) and tac_download.c (HTTP) share:
 * the settings resolved from options + environment, the repo folder name, the weight formats in order of
 * preference, and the CLIP check on a repo's config files. */
#ifndef TAC_HUB_INTERNAL_H
#define TAC_HUB_INTERNAL_H

#include "taclust/core.h"
#include "core/tac_internal.h"
#include "taclust/hub.h"

typedef struct { char *cache, *endpoint, *token; int offline, progress; } tac_hub_env;
int tac_hub_env_get(const tac_hub_options *o, tac_hub_env *e);   /* TAC_ERR when memory is short */
void tac_hub_env_free(tac_hub_env *e);

/* <cache>/models--org--name, malloc'd. */
/* A new string formatted as printf would (released with free); NULL with the reason set when memory is short. */
char *tac_hub_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tac_hub_repo_dir(const char *cache, const char *repo);
int tac_hub_is_commit(const char *s);          /* 40 lowercase hex digits */
/* A file name the cache may hold: no '/', no "..", not empty, printable. */
int tac_hub_safe_name(const char *name);

/* Weight files in order of preference. index: a .index.json listing shards in "weight_map". */
typedef struct { const char *file, *format; int index, open_clip; } tac_hub_weights;
extern const tac_hub_weights tac_hub_weight_formats[];   /* ends with {NULL} */
/* Tokenizer / preprocessing files fetched when the repo has them. */
extern const char *const tac_hub_extra_files[];          /* ends with NULL */
/* The tokenizer files a transformers CLIP snapshot must have (or be known not to have) to count as whole. */
extern const char *const tac_hub_tokenizer_files[];      /* ends with NULL */

/* Is this a CLIP model? config: config.json's text (NULL if absent); oc: open_clip_config.json's (NULL if absent).
 * *hf = 1 when config.json is a transformers CLIPModel's (model_type "clip"): its weights may be any format;
 * *hf = 0 when only open_clip_config.json makes it CLIP (OpenCLIP and timm repos, whose model.safetensors, if any,
 * is timm's image tower): only the open_clip_* weights are its CLIP. Fails with "REPO is not a CLIP model: ..."
 * saying what was found. */
int tac_hub_check_clip(const char *repo, const char *config, size_t config_len, const char *oc, size_t oc_len, int *hf);
/* The shard file names of a .index.json (its weight_map values, each once, in first-seen order). */
int tac_hub_index_shards(const char *json, size_t len, const char *what, char ***shards, int *n);

#endif
