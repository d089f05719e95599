/* tac_noun_cache.c - the per-user cache of noun embeddings: TAC's 146,347 WordNet nouns x 7 templates cost
 * minutes to embed, so they are embedded once per model and vocabulary and kept in
 *   $XDG_CACHE_HOME/taclust/<model hash>[-bf16]/nouns-<vocabulary hash>.npy   (default ~/.cache/taclust/...)
 * (tac_clip_cache_tag: bf16 vectors get their own folder, never mixed with fp32 ones)
 * The work is done in chunks of TAC_NOUN_CHUNK nouns, each saved as it completes (part-<i>.npy in a folder
 * beside the final file), so an interrupted run picks up at the first missing chunk. When all chunks exist they
 * are joined into the final file (atomic) and the parts removed.
 * Every part and the final file has a checksum beside it (<file>.sum: a 64-bit hash of its rows, tac_clip_hash.c,
 * with its shape), written after the file: a part or final file whose checksum is missing or wrong, whose shape
 * is not the expected one, or that holds a NaN or infinite value is reported by name and computed again (a file
 * from before checksums existed is computed again once).
 * Over the ranks of a communicator (tac_noun_embeddings_cached_dist, `mpirun ... taclust bench`) rank 0 owns the
 * files and the lock; the chunks it lacks are embedded by all ranks together and sent to every rank.
 * Two processes filling the same entry take turns: nouns-<hash>.lock is flock'ed around the check and the fill (the
 * second one says it waits, then finds the file the first one made); temporaries of dead processes are removed.
 */
#include "app/tac_app.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/textspace.h"
#include "clip/tac_clip_internal.h"
#include "core/tac_dist.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAC_NOUN_CHUNK 8192

static uint64_t fnv1a_str(uint64_t h, const char *s)
{
    static const unsigned char sep = 0xff;       /* separator so ["ab","c"] != ["a","bc"] */
    return tac_fnv1a64(tac_fnv1a64(h, s, strlen(s)), &sep, 1);
}

static const char *m_dir_of(const tac_clip *m) { return m->dir ? m->dir : "the model"; }

/* The checksum covers the rows, the shape and the file's name (model hash folder / file), so a file copied from
 * another model's or vocabulary's entry does not pass as this one. */
static uint64_t rows_hash(const float *T, int64_t rows, int e, const char *path)
{
    tac_hash64 h;
    tac_hash64_init(&h, 0x6e6f756e73756d31ULL);   /* "nounsum1" */
    const char *name = path + strlen(path);
    for (int slashes = 0; name > path; name--)
        if (name[-1] == '/' && ++slashes == 3) break;     /* <model hash>/nouns-<v>.npy or .../nouns-<v>.parts/part-N */
    tac_hash64_update(&h, name, strlen(name));
    int64_t shape[2] = {rows, e};
    tac_hash64_update(&h, shape, sizeof shape);
    tac_hash64_update(&h, T, (size_t)rows * (size_t)e * sizeof(float));
    return tac_hash64_final(&h);
}

/* path (.npy, rows x e) and then path.sum. */
static int save_checked(const char *path, const float *T, int64_t rows, int e)
{
    int64_t shape[2] = {rows, e};
    if (tac_npy_save_f32(path, T, 2, shape) != TAC_OK) return TAC_ERR;
    char sum[5200], text[128];
    snprintf(sum, sizeof sum, "%s.sum", path);
    int n = snprintf(text, sizeof text, "taclust-sum1 %016llx %lld %d\n", (unsigned long long)rows_hash(T, rows, e, path),
                     (long long)rows, e);
    return tac_write_file_atomic(sum, text, (size_t)n);
}

/* Loads path (rows x e) if it and its checksum agree and every value is finite; else fails naming the file. */
static int load_checked(const char *path, int64_t rows, int e, float **out)
{
    float *T; int64_t r, c;
    if (tac_npy_load_f32(path, &T, &r, &c) != TAC_OK) return TAC_ERR;
    if (r != rows || c != e) {
        free(T);
        return tac_fail("%s: %lld x %lld, expected %lld x %d", path, (long long)r, (long long)c, (long long)rows, e);
    }
    char sum[5200], *text;
    size_t len;
    snprintf(sum, sizeof sum, "%s.sum", path);
    if (tac_read_file_max(sum, &text, &len, 4096) != TAC_OK) {
        free(T);
        return tac_fail("%s: no checksum beside it (%s)", path, sum);
    }
    unsigned long long want = 0;
    long long wr = -1;
    int wc = -1;
    int got = sscanf(text, "taclust-sum1 %16llx %lld %d", &want, &wr, &wc);
    free(text);
    if (got != 3 || wr != rows || wc != e || want != rows_hash(T, rows, e, path)) {
        free(T);
        return tac_fail("%s: checksum mismatch (the file was changed or damaged)", path);
    }
    if (tac_check_finite(path, T, rows, e) != TAC_OK) { free(T); return TAC_ERR; }
    *out = T;
    return TAC_OK;
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

static int noun_cache_locked(tac_clip *model, const char *const *nouns, int64_t m, float **T_out, int *e_out,
                             const char *final, const char *parts, char *part, size_t partlen);

int tac_noun_embeddings_cached(tac_clip *model, const char *const *nouns, int64_t m, float **T_out, int *e_out)
{
    char root[4096], dir[4600], final[4800], parts[4800], part[5000];
    if (tac_user_cache_dir(root, sizeof root) != TAC_OK) return TAC_ERR;
    uint64_t vh = TAC_FNV1A64_INIT;
    for (int i = 0; i < TAC_NUM_TEMPLATES; i++) vh = fnv1a_str(vh, tac_prompt_templates[i]);
    for (int64_t i = 0; i < m; i++) vh = fnv1a_str(vh, nouns[i]);
    snprintf(dir, sizeof dir, "%s/%s", root, tac_clip_cache_tag(model));
    snprintf(final, sizeof final, "%s/nouns-%016llx.npy", dir, (unsigned long long)vh);
    snprintf(parts, sizeof parts, "%s/nouns-%016llx.parts", dir, (unsigned long long)vh);
    if (tac_mkdir_p(dir) != TAC_OK) return TAC_ERR;
    snprintf(part, sizeof part, "%s/nouns-%016llx.lock", dir, (unsigned long long)vh);
    int lock;
    if (tac_lock_acquire(part, final, &lock) != TAC_OK) return TAC_ERR;
    static const char *const final_stem[] = {"nouns-*.npy"}, *const part_stem[] = {"part-*.npy"};
    tac_clean_stale_temps(dir, final_stem, 1);
    tac_clean_stale_temps(parts, part_stem, 1);
    int rc = noun_cache_locked(model, nouns, m, T_out, e_out, final, parts, part, sizeof part);
    tac_lock_release(lock);
    return rc;
}

static int noun_cache_locked(tac_clip *model, const char *const *nouns, int64_t m, float **T_out, int *e_out,
                             const char *final, const char *parts, char *part, size_t partlen)
{
    int e = tac_clip_embed_dim(model);
    struct stat st;
    if (stat(final, &st) == 0) {
        float *T;
        if (load_checked(final, m, e, &T) == TAC_OK) {
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
        snprintf(part, partlen, "%s/part-%05lld.npy", parts, (long long)c);
        float *P;
        if (stat(part, &st) == 0) {
            if (load_checked(part, cnt, e, &P) == TAC_OK) {
                memcpy(T + lo * e, P, (size_t)cnt * e * sizeof(float));
                free(P);
                tac_progress_update(&pr, lo + cnt);
                continue;
            }
            tac_info("noun cache part unusable (%s); embedding it again", tac_last_error());
        }
        if (first_missing < 0) {
            first_missing = c;
            if (c > 0) tac_info("noun embeddings: resuming at noun %lld of %lld", (long long)lo, (long long)m);
        }
        if (tac_embed_nouns(model, nouns + lo, cnt, tac_prompt_templates, TAC_NUM_TEMPLATES, &tp, T + lo * e) != TAC_OK) {
            free(T);
            return TAC_ERR;
        }
        if (tac_check_finite("noun embeddings", T + lo * e, cnt, e) != TAC_OK) {
            char *why = tac_xstrdup(tac_last_error());
            tac_fail("%s: the model gave non-finite noun embeddings (%s)", m_dir_of(model), why);
            free(why); free(T);
            return TAC_ERR;
        }
        if (save_checked(part, T + lo * e, cnt, e) != TAC_OK) { free(T); return TAC_ERR; }
        tac_progress_update(&pr, lo + cnt);
    }
    tac_progress_end(&pr);
    if (save_checked(final, T, m, e) != TAC_OK) { free(T); return TAC_ERR; }
    for (int64_t c = 0; c < nchunks; c++) {
        snprintf(part, partlen, "%s/part-%05lld.npy", parts, (long long)c);
        unlink(part);
        snprintf(part, partlen, "%s/part-%05lld.npy.sum", parts, (long long)c);
        unlink(part);
    }
    rmdir(parts);
    tac_info("noun embeddings cached in %s", final);
    *T_out = T; *e_out = e;
    return TAC_OK;
}

int tac_noun_embeddings_cached_dist(const tac_comm *c, tac_clip *model, const char *const *nouns, int64_t m,
                                    float **T_out, int *e_out)
{
    if (!tac_dist_active(c)) return tac_noun_embeddings_cached(model, nouns, m, T_out, e_out);
    const int e = tac_clip_embed_dim(model), me = c->rank;
    const int64_t nchunks = (m + TAC_NOUN_CHUNK - 1) / TAC_NOUN_CHUNK;
    char root[4096], dir[4600], final[4800], parts[4800], part[5000];
    int lock = -1, rc = TAC_OK, had_final = 0;
    int8_t *need = tac_xcalloc((size_t)nchunks + 1, 1);                                      /* nchunks */
    float *T = tac_try_malloc((size_t)m * (size_t)e + 1, sizeof(float), "noun embeddings");  /* M x E */
    if (!T) rc = TAC_ERR;
    if (me == 0 && rc == TAC_OK) {   /* rank 0 owns the cache: lock, final file, parts */
        uint64_t vh = TAC_FNV1A64_INIT;
        for (int i = 0; i < TAC_NUM_TEMPLATES; i++) vh = fnv1a_str(vh, tac_prompt_templates[i]);
        for (int64_t i = 0; i < m; i++) vh = fnv1a_str(vh, nouns[i]);
        rc = tac_user_cache_dir(root, sizeof root);
        snprintf(dir, sizeof dir, "%s/%s", root, tac_clip_cache_tag(model));
        snprintf(final, sizeof final, "%s/nouns-%016llx.npy", dir, (unsigned long long)vh);
        snprintf(parts, sizeof parts, "%s/nouns-%016llx.parts", dir, (unsigned long long)vh);
        snprintf(part, sizeof part, "%s/nouns-%016llx.lock", dir, (unsigned long long)vh);
        if (rc == TAC_OK) rc = tac_mkdir_p(dir);
        if (rc == TAC_OK) rc = tac_lock_acquire(part, final, &lock);
        if (rc != TAC_OK) lock = -1;
        struct stat st;
        float *F;
        if (rc == TAC_OK) {
            static const char *const final_stem[] = {"nouns-*.npy"}, *const part_stem[] = {"part-*.npy"};
            tac_clean_stale_temps(dir, final_stem, 1);
            tac_clean_stale_temps(parts, part_stem, 1);
            if (stat(final, &st) == 0 && load_checked(final, m, e, &F) == TAC_OK) {
                memcpy(T, F, (size_t)m * e * sizeof(float));
                free(F);
                had_final = 1;
                tac_info("noun embeddings: %lld nouns from the cache (%s)", (long long)m, final);
            } else {
                tac_clear_error();
                rc = tac_mkdir_p(parts);
                for (int64_t k = 0; k < nchunks && rc == TAC_OK; k++) {
                    int64_t lo = k * TAC_NOUN_CHUNK, cnt = m - lo < TAC_NOUN_CHUNK ? m - lo : TAC_NOUN_CHUNK;
                    snprintf(part, sizeof part, "%s/part-%05lld.npy", parts, (long long)k);
                    if (stat(part, &st) == 0 && load_checked(part, cnt, e, &F) == TAC_OK) {
                        memcpy(T + lo * e, F, (size_t)cnt * e * sizeof(float));
                        free(F);
                    } else {
                        need[k] = 1;
                    }
                }
                tac_clear_error();
                tac_info("noun embeddings: %lld nouns x 7 prompts over %d ranks, kept in %s", (long long)m, c->size, final);
            }
        }
    }
    if ((rc = tac_comm_check(c, rc)) == TAC_OK) rc = tac_comm_check(c, c->bcast(c, need, nchunks, 0));
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    for (int64_t k = 0; k < nchunks && rc == TAC_OK; k++) {
        if (!need[k]) continue;
        int64_t lo = k * TAC_NOUN_CHUNK, cnt = m - lo < TAC_NOUN_CHUNK ? m - lo : TAC_NOUN_CHUNK;
        /* every rank a share of the chunk's batches: the bytes of the single process's tac_embed_nouns */
        rc = tac_embed_nouns_dist(model, nouns + lo, cnt, tac_prompt_templates, TAC_NUM_TEMPLATES, &tp, c, T + lo * e);
        if (rc != TAC_OK) break;   /* agreed */
        int src = TAC_OK;
        if (me == 0) {
            src = tac_check_finite("noun embeddings", T + lo * e, cnt, e);
            snprintf(part, sizeof part, "%s/part-%05lld.npy", parts, (long long)k);
            if (src == TAC_OK) src = save_checked(part, T + lo * e, cnt, e);
        }
        rc = tac_comm_check(c, src);
    }
    if (rc == TAC_OK) {   /* agreed so far: rank 0 writes the final file, every rank learns how that went */
        int frc = TAC_OK;
        if (me == 0 && !had_final) {
            frc = save_checked(final, T, m, e);
            for (int64_t k = 0; k < nchunks && frc == TAC_OK; k++) {
                snprintf(part, sizeof part, "%s/part-%05lld.npy", parts, (long long)k);
                unlink(part);
                snprintf(part, sizeof part, "%s/part-%05lld.npy.sum", parts, (long long)k);
                unlink(part);
            }
            if (frc == TAC_OK) rmdir(parts);
        }
        rc = tac_comm_check(c, frc);
    }
    if (rc == TAC_OK) rc = tac_comm_check(c, c->bcast(c, T, m * e * (int64_t)sizeof(float), 0));
    if (me == 0 && lock >= 0) tac_lock_release(lock);
    free(need);
    if (rc != TAC_OK) { free(T); return TAC_ERR; }
    *T_out = T;
    *e_out = e;
    return TAC_OK;
}
