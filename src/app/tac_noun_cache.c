/* tac_noun_cache.c - the per-user cache of noun embeddings: TAC's 146,347 WordNet nouns x 7 templates cost
 * minutes to embed, so they are embedded once per model and vocabulary and kept in
 *   $XDG_CACHE_HOME/taclust/<model hash>[-bf16]/nouns-<vocabulary hash>.npy   (default ~/.cache/taclust/...)
 * (tac_clip_cache_tag: bf16 vectors get their own folder, never mixed with fp32 ones)
 * The work is done in chunks of TAC_NOUN_CHUNK nouns, each saved as it completes (part-<i>.npy in a folder
 * beside the final file), so an interrupted run picks up at the first missing chunk. When all chunks exist they
 * are joined into the final file (atomic) and the parts removed.
 */
#include "taclust/app.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/textspace.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAC_NOUN_CHUNK 8192

static uint64_t fnv1a_str(uint64_t h, const char *s)
{
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    h ^= 0xff; h *= 1099511628211ull;            /* separator so ["ab","c"] != ["a","bc"] */
    return h;
}

int tac_user_cache_dir(char *buf, size_t n)
{
    const char *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (x && *x) snprintf(buf, n, "%s/taclust", x);
    else if (home && *home) snprintf(buf, n, "%s/.cache/taclust", home);
    else return tac_fail("neither XDG_CACHE_HOME nor HOME is set: cannot place the noun cache");
    return TAC_OK;
}

int tac_noun_embeddings_cached(tac_clip *model, const char *const *nouns, int64_t m, float **T_out, int *e_out)
{
    char root[4096], dir[4600], final[4800], parts[4800], part[5000];
    if (tac_user_cache_dir(root, sizeof root) != TAC_OK) return TAC_ERR;
    uint64_t vh = 14695981039346656037ull;
    for (int i = 0; i < 7; i++) vh = fnv1a_str(vh, tac_prompt_templates[i]);
    for (int64_t i = 0; i < m; i++) vh = fnv1a_str(vh, nouns[i]);
    snprintf(dir, sizeof dir, "%s/%s", root, tac_clip_cache_tag(model));
    snprintf(final, sizeof final, "%s/nouns-%016llx.npy", dir, (unsigned long long)vh);
    snprintf(parts, sizeof parts, "%s/nouns-%016llx.parts", dir, (unsigned long long)vh);
    int e = tac_clip_embed_dim(model);
    struct stat st;
    if (stat(final, &st) == 0) {
        float *T; int64_t r, c;
        if (tac_npy_load_f32(final, &T, &r, &c) == TAC_OK && r == m && c == e) {
            tac_info("noun embeddings: %lld nouns from the cache (%s)", (long long)m, final);
            *T_out = T; *e_out = e;
            return TAC_OK;
        }
        tac_info("noun cache %s is unusable (%s); embedding again", final, tac_last_error());
    }
    if (tac_mkdir_p(parts) != TAC_OK) return TAC_ERR;
    tac_info("noun embeddings: %lld nouns x 7 prompts, computed once for this model and kept in %s",
             (long long)m, final);
    float *T = tac_xmalloc((size_t)m * (size_t)e, sizeof(float));
    int64_t nchunks = (m + TAC_NOUN_CHUNK - 1) / TAC_NOUN_CHUNK;
    tac_progress pr;
    tac_progress_begin(&pr, "embedding nouns", m);
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    int64_t first_missing = -1;
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t lo = c * TAC_NOUN_CHUNK, cnt = m - lo < TAC_NOUN_CHUNK ? m - lo : TAC_NOUN_CHUNK;
        snprintf(part, sizeof part, "%s/part-%05lld.npy", parts, (long long)c);
        float *P; int64_t r, cc;
        if (stat(part, &st) == 0 && tac_npy_load_f32(part, &P, &r, &cc) == TAC_OK && r == cnt && cc == e) {
            memcpy(T + lo * e, P, (size_t)cnt * e * sizeof(float));
            free(P);
            tac_progress_update(&pr, lo + cnt);
            continue;
        }
        if (first_missing < 0) {
            first_missing = c;
            if (c > 0) tac_info("noun embeddings: resuming at noun %lld of %lld", (long long)lo, (long long)m);
        }
        if (tac_embed_nouns(model, nouns + lo, cnt, tac_prompt_templates, 7, &tp, T + lo * e) != TAC_OK) {
            free(T);
            return TAC_ERR;
        }
        int64_t shape[2] = {cnt, e};
        if (tac_npy_save_f32(part, T + lo * e, 2, shape) != TAC_OK) { free(T); return TAC_ERR; }
        tac_progress_update(&pr, lo + cnt);
    }
    tac_progress_end(&pr);
    int64_t shape[2] = {m, e};
    if (tac_npy_save_f32(final, T, 2, shape) != TAC_OK) { free(T); return TAC_ERR; }
    for (int64_t c = 0; c < nchunks; c++) {
        snprintf(part, sizeof part, "%s/part-%05lld.npy", parts, (long long)c);
        unlink(part);
    }
    rmdir(parts);
    tac_info("noun embeddings cached in %s", final);
    *T_out = T; *e_out = e;
    return TAC_OK;
}
