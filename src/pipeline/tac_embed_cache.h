/* tac_embed_cache.h - private to taclust (not installed): the text embedding calls of taclust/embed.h with a cache
 * of finished batches, which the program uses to make `mpirun ... taclust embed-text` resumable
 * (src/app/tac_dist_jobs.c). A batch is keyed by a 64-bit hash of its token ids (rows x context): the same batch
 * gives the same rows, so a batch found in the cache is taken as it is and the rows stay the bytes the call
 * computes without a cache.
 */
#ifndef TAC_EMBED_CACHE_H
#define TAC_EMBED_CACHE_H

#include "taclust/embed.h"

#include <stdint.h>

typedef struct {
    void *user;
    /* 1 with the batch's rows x E floats in out when the cache has them, else 0 */
    int (*get)(void *user, uint64_t key, int rows, float *out);
    /* keeps a finished batch (rows x E); TAC_OK, or TAC_ERR with the reason (the call then fails) */
    int (*put)(void *user, uint64_t key, int rows, const float *vecs);
    int64_t hits;   /* batches taken from the cache (counted by the calls) */
} tac_text_batch_cache;

/* tac_embed_prompts_dist / tac_embed_nouns_dist with a cache of this rank's batches (NULL: none). */
int tac_embed_prompts_cached(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                             const tac_comm *comm, tac_text_batch_cache *cache, float *out);
int tac_embed_nouns_cached(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                           int ntemplates, const tac_embed_text_params *p, const tac_comm *comm,
                           tac_text_batch_cache *cache, float *out);

#endif
