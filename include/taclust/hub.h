/* taclust/hub.h - CLIP models by Hugging Face id: the huggingface_hub cache layout, downloads, and the resolver
 * that turns a `--model` value into a local folder.
 *
 *   char *dir;
 *   if (tac_model_resolve(spec, NULL, &dir) != TAC_OK) ...   spec: a folder, "org/name[@revision]", or NULL
 *   tac_clip_load(dir, &m); tac_free(dir);
 *
 * The cache is the one Python's huggingface_hub uses ($HF_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub):
 *   models--org--name/refs/<revision>              the commit hash the revision points at (written last)
 *   models--org--name/snapshots/<commit>/<file>    symbolic link to ../../blobs/<etag>
 *   models--org--name/blobs/<etag>                 the file's bytes (etag: sha256 of LFS files, git oid otherwise)
 *   models--org--name/blobs/<etag>.incomplete      a partial download, resumed with an HTTP Range request
 *   models--org--name/.no_exist/<commit>/<file>    an empty file: the repo has no such file at that commit
 * A model found there is used without any network access. Otherwise the files a CLIP model needs are fetched
 * from $HF_ENDPOINT (default https://huggingface.co) with $HF_TOKEN as a bearer token; HF_HUB_OFFLINE=1 forbids
 * the network. Every LFS file is checked against its sha256 before it is renamed into blobs/; the snapshot links
 * are made only when every blob is in place, and the ref last.
 * Strings these calls return are released with tac_free (lists with tac_hub_list_free); failures, a failed
 * allocation included, are TAC_ERR with tac_last_error() set. Calls may run from several threads (each resolves
 * its own settings; concurrent downloads of one file wait on its lock file).
 */
#ifndef TACLUST_HUB_H
#define TACLUST_HUB_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_HUB_DEFAULT_MODEL "openai/clip-vit-base-patch32"

/* Settings; a NULL string or a negative number means "from the environment" (see above). */
typedef struct {
    const char *cache_dir;   /* the hub cache folder */
    const char *endpoint;    /* e.g. "https://huggingface.co" (no trailing slash needed) */
    const char *token;       /* sent as "Authorization: Bearer <token>" */
    int offline;             /* 1: never use the network */
    int progress;            /* 1: bytes fetched reported to the process-wide progress callback (tac_set_progress),
                                label "downloading org/name", done and total in bytes; default 1 */
} tac_hub_options;
TAC_API void tac_hub_default_options(tac_hub_options *o);

/* The one resolver behind every command's --model. spec NULL or "": $TACLUST_MODEL, else TAC_HUB_DEFAULT_MODEL.
 * A spec that exists as a folder is that folder; otherwise it must be a repo id "org/name" with an optional
 * "@revision" (branch, tag or commit), looked up in the cache and downloaded when absent. *dir: release with tac_free.
 * o may be NULL (defaults). Errors are one line: no such repo/file/revision, gated repo without HF_TOKEN,
 * offline with nothing cached, checksum mismatch, not a CLIP model (what was found). */
TAC_API int tac_model_resolve(const char *spec, const tac_hub_options *o, char **dir);

/* Splits "org/name[@revision]" (revision defaults to "main"); fails on anything else. */
TAC_API int tac_hub_parse_id(const char *spec, char *repo, size_t repo_cap, char *rev, size_t rev_cap);
/* The cache folder in use (from o or the environment); release with tac_free (NULL when memory is short). */
TAC_API char *tac_hub_cache_dir(const tac_hub_options *o);
/* Cache only: the snapshot folder of repo@rev if it holds a whole CLIP model: a config, every weight file and, for a
 * transformers CLIP, vocab.json + merges.txt (or markers in .no_exist/<commit>/ that the repo has none). */
TAC_API int tac_hub_lookup(const char *repo, const char *rev, const tac_hub_options *o, char **dir);
/* Fetches repo@rev into the cache (what is already there is kept) and returns its snapshot folder. */
TAC_API int tac_hub_download(const char *repo, const char *rev, const tac_hub_options *o, char **dir);

/* The CLIP models in the cache: one entry per snapshot that holds a whole model. */
typedef struct {
    char *id;         /* "org/name" */
    char *revisions;  /* refs pointing at the snapshot, comma-separated ("main"), or "" */
    char *commit;     /* snapshot folder name */
    char *dir;        /* snapshot path */
    const char *format;  /* "safetensors", "safetensors (sharded)", "open_clip safetensors", "pytorch .bin", ... */
    int64_t bytes;    /* sum of the snapshot's file sizes */
} tac_hub_model;
TAC_API int tac_hub_list(const tac_hub_options *o, tac_hub_model **models, int *n);
TAC_API void tac_hub_list_free(tac_hub_model *models, int n);

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------------------------ */
typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t nbuf; } tac_sha256_ctx;
TAC_API void tac_sha256_init(tac_sha256_ctx *c);
TAC_API void tac_sha256_update(tac_sha256_ctx *c, const void *data, size_t len);
TAC_API void tac_sha256_final(tac_sha256_ctx *c, uint8_t digest[32]);
TAC_API void tac_sha256_hex(const void *data, size_t len, char hex[65]);   /* one-shot, lowercase hex + NUL */

#ifdef __cplusplus
}
#endif
#endif
