/* tac_dist_jobs.c - the program's embedding jobs spread over the ranks of a communicator (`mpirun -np N taclust
 * embed-images | embed-text | bench`): rank 0's lists sent to every rank, the model resolved and loaded on every
 * rank with one agreed verdict, and the images of a list embedded in shares of whole batches with a resumable
 * cache per rank, gathered on rank 0.
 *
 * Same outputs whatever N: the images are shared as contiguous runs of whole batches of the single-process call
 * (tac_dist_rows with the batch size as the tile), so every batch a rank runs is a batch the single process runs,
 * with the same images in it (the image tower's BLAS calls, hence the last bits of the features, depend on the
 * batch's composition).
 *
 * The cache (CACHE_DIR/rank-R.bin, R = this rank; tac_embcache format, tag = model cache tag + resize + batch):
 * one record per embedded image, keyed "<batch hash>:<path>" where the batch hash covers the path, size and mtime
 * of every image of its batch, in order. A batch is taken from the caches only when every image of it has a record
 * under its batch hash; otherwise the whole batch runs again (a batch holding an unreadable image always does, so
 * its reason is found again). A rank writes only its own file, appended and fsync'd batch by batch, and reads the
 * other rank-*.bin files of the folder read-only: a rerun with the same N finds its batches in its own file, one
 * with another N in the others' (the batches, hence the keys, do not depend on N).
 *
 * Text (tac_dist_embed_text): the library's own batches (tac_embed_*_cached), each keyed by the hash of its token
 * ids, records "<hash>#<row>" in CACHE_DIR/rank-R.bin the same way.
 *
 * Failures: every step ends with tac_comm_check, so a failure of one rank (model, input, cache write) is the same
 * TAC_ERR "rank R of N: ..." on every rank and nobody waits in a collective.
 */
#include "app/tac_app.h"
#include "core/tac_dist.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/hub.h"
#include "pipeline/tac_embed_cache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tac_dist_bcast_strings(const tac_comm *c, char ***list, int64_t *n)
{
    if (!tac_dist_active(c)) return TAC_OK;
    int64_t hdr[2] = {0, 0};   /* strings, bytes */
    if (c->rank == 0) {
        hdr[0] = *n;
        for (int64_t i = 0; i < *n; i++) hdr[1] += (int64_t)strlen((*list)[i]) + 1;
    }
    if (tac_comm_check(c, c->bcast(c, hdr, sizeof hdr, 0)) != TAC_OK) return TAC_ERR;
    char *blob = tac_try_malloc((size_t)hdr[1] + 1, 1, "sending the list to the ranks");   /* bytes */
    if (blob && c->rank == 0) {
        size_t o = 0;
        for (int64_t i = 0; i < *n; i++) {
            size_t l = strlen((*list)[i]) + 1;
            memcpy(blob + o, (*list)[i], l);
            o += l;
        }
    }
    if (tac_comm_check(c, blob ? TAC_OK : TAC_ERR) != TAC_OK) { free(blob); return TAC_ERR; }
    if (tac_comm_check(c, c->bcast(c, blob, hdr[1], 0)) != TAC_OK) { free(blob); return TAC_ERR; }
    int rc = TAC_OK;
    if (c->rank != 0) {
        char **l = tac_try_calloc((size_t)hdr[0] + 1, sizeof(char *), "receiving the list");   /* n */
        size_t o = 0;
        for (int64_t i = 0; l && i < hdr[0]; i++) {
            size_t len = strlen(blob + o) + 1;
            if (!(l[i] = tac_try_malloc(len, 1, "receiving the list"))) { tac_free_strings(l, i); l = NULL; break; }
            memcpy(l[i], blob + o, len);
            o += len;
        }
        if (l) { *list = l; *n = hdr[0]; } else rc = TAC_ERR;
    }
    free(blob);
    return tac_comm_check(c, rc);
}

int tac_dist_resolve_model(const tac_comm *c, const char *spec, char **dir)
{
    *dir = NULL;
    /* rank 0 first (it may download into a cache the others share), then the others */
    int rc = TAC_OK;
    for (int turn = 0; turn < 2; turn++) {
        if ((tac_comm_rank(c) == 0) == (turn == 0)) {
            tac_set_progress(tac_console_progress_bytes, NULL);
            rc = tac_model_resolve(spec, NULL, dir);
            tac_set_progress(tac_console_progress, NULL);
        }
        if (tac_comm_check(c, rc) != TAC_OK) { free(*dir); *dir = NULL; return TAC_ERR; }
        if (!tac_dist_active(c)) break;
    }
    return TAC_OK;
}

int tac_dist_load_model(const tac_comm *c, const char *spec, char **dir, tac_clip **m)
{
    *m = NULL;
    if (tac_dist_resolve_model(c, spec, dir) != TAC_OK) return TAC_ERR;
    int rc = tac_clip_load_ex(*dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, m);
    if (tac_comm_check(c, rc) != TAC_OK) {
        tac_clip_free(*m);
        *m = NULL;
        free(*dir);
        *dir = NULL;
        return TAC_ERR;
    }
    return TAC_OK;
}

/* ---- images in shares of whole batches, cached per rank ------------------------------------------------- */

typedef struct {
    const char *const *paths;   /* the whole list */
    int64_t lo, hi;             /* this rank's rows */
    int E, B;
    char **key;                 /* hi-lo cache keys ("<batch hash>:<path>"), NULL when the file cannot be stat'ed */
    int64_t *size, *mtime;      /* hi-lo */
    float *X;                   /* hi-lo x E */
    int8_t *ok;                 /* hi-lo */
    char **why;                 /* hi-lo reasons of the skipped rows (NULL when embedded) */
    tac_embcache *own;          /* this rank's cache (appended) */
    int64_t run0;               /* first row of the tac_embed_images call in progress */
    tac_progress pr;
    int64_t done;
} shard;

/* on_batch of tac_embed_images: the batch's reasons kept, its embedded images appended to this rank's cache. */
static int shard_batch(void *ctx, int64_t first, int64_t count, const float *emb, const int8_t *ok,
                       const char *const *why)
{
    shard *s = ctx;
    int64_t at = s->run0 + first - s->lo;   /* row of the batch in the share */
    const char **keys = tac_xmalloc((size_t)count, sizeof(char *));              /* count */
    int64_t *sz = tac_xmalloc((size_t)count, sizeof(int64_t)), *mt = tac_xmalloc((size_t)count, sizeof(int64_t));
    float *vec = tac_xmalloc((size_t)count * s->E, sizeof(float));               /* count x E */
    int k = 0;
    for (int64_t i = 0; i < count; i++) {
        if (!ok[i]) { s->why[at + i] = tac_xstrdup(why[i] ? why[i] : "unknown error"); continue; }
        if (!s->key[at + i]) continue;
        keys[k] = s->key[at + i];
        sz[k] = s->size[at + i];
        mt[k] = s->mtime[at + i];
        memcpy(vec + (size_t)k * s->E, emb + (size_t)i * s->E, (size_t)s->E * sizeof(float));
        k++;
    }
    int rc = k ? tac_embcache_put(s->own, k, keys, sz, mt, vec) : TAC_OK;
    free(keys); free(sz); free(mt); free(vec);
    s->done += count;
    tac_progress_update(&s->pr, s->done);
    return rc == TAC_OK ? 0 : 1;
}

/* Keys of the share's images: stat each, hash each batch's (path, size, mtime) list. */
static void shard_keys(shard *s)
{
    for (int64_t i = s->lo; i < s->hi; i++) {
        int64_t j = i - s->lo;
        if (tac_file_key(s->paths[i], &s->size[j], &s->mtime[j]) != TAC_OK) s->size[j] = -1;
    }
    for (int64_t b0 = s->lo; b0 < s->hi; b0 += s->B) {
        int64_t b1 = b0 + s->B < s->hi ? b0 + s->B : s->hi;
        uint64_t h = TAC_FNV1A64_INIT;
        for (int64_t i = b0; i < b1; i++) {
            h = tac_fnv1a64(h, s->paths[i], strlen(s->paths[i]) + 1);
            h = tac_fnv1a64(h, &s->size[i - s->lo], 8);
            h = tac_fnv1a64(h, &s->mtime[i - s->lo], 8);
        }
        for (int64_t i = b0; i < b1; i++) {
            if (s->size[i - s->lo] < 0) continue;
            size_t l = strlen(s->paths[i]) + 18;
            s->key[i - s->lo] = tac_xmalloc(l, 1);
            snprintf(s->key[i - s->lo], l, "%016llx:%s", (unsigned long long)h, s->paths[i]);
        }
    }
}

/* The share's batch [b0, b1) from the caches (own first), into s->X and s->ok; 0 if any image is missing. */
static int shard_from_cache(shard *s, tac_embcache **caches, int nc, int64_t b0, int64_t b1)
{
    for (int64_t i = b0; i < b1; i++) {
        int64_t j = i - s->lo;
        const float *v = NULL;
        for (int q = 0; q < nc && !v && s->key[j]; q++) v = tac_embcache_get(caches[q], s->key[j], s->size[j], s->mtime[j]);
        if (!v) return 0;
        memcpy(s->X + (size_t)j * s->E, v, (size_t)s->E * sizeof(float));
    }
    memset(s->ok + (b0 - s->lo), 1, (size_t)(b1 - b0));
    return 1;
}

/* Opens this rank's cache (a file of another model or setting is started afresh) and, read-only, the other
 * rank-*.bin files of the folder. caches[0] is this rank's. */
static int open_caches(const char *dir, int rank, int E, const char *tag, tac_embcache ***out, int *nout)
{
    char own[PATH_MAX];
    snprintf(own, sizeof own, "%s/rank-%d.bin", dir, rank);
    if (tac_mkdir_p(dir) != TAC_OK) return TAC_ERR;
    tac_embcache *c = NULL;
    if (tac_embcache_open(own, E, tag, &c) != TAC_OK) {   /* another model, resize or batch: start afresh */
        if (unlink(own) != 0 && errno != ENOENT) return tac_fail("%s: cannot remove: %s", own, strerror(errno));
        if (tac_embcache_open(own, E, tag, &c) != TAC_OK) return TAC_ERR;
    }
    int n = 1, cap = 4;
    tac_embcache **cs = tac_xmalloc((size_t)cap, sizeof *cs);
    cs[0] = c;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int r = -1, len = 0;
        if (sscanf(e->d_name, "rank-%d.bin%n", &r, &len) != 1 || e->d_name[len] != 0 || r == rank) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        tac_embcache *o = NULL;
        if (tac_embcache_open_readonly(p, E, tag, &o) != TAC_OK) continue;   /* another setting: not ours to use */
        if (n == cap) cs = tac_xrealloc(cs, (size_t)(cap *= 2), sizeof *cs);
        cs[n++] = o;
    }
    if (d) closedir(d);
    tac_clear_error();
    *out = cs;
    *nout = n;
    return TAC_OK;
}

/* This rank's part for rank 0: header {rows, embedded, batches from the caches, reason bytes} | ok flags (rows) |
 * the skipped rows' reasons, NUL-terminated, in row order | padding to 8 | embedded rows x E floats. */
static char *pack_part(const shard *s, int64_t cached, int64_t extra, int64_t *bytes)
{
    int64_t rows = s->hi - s->lo, nok = 0, rb = 0;
    for (int64_t j = 0; j < rows; j++) {
        if (s->ok[j]) nok++;
        else rb += (int64_t)strlen(s->why[j] ? s->why[j] : "unknown error") + 1;
    }
    int64_t head = 32 + rows + rb, pad = (8 - head % 8) % 8;
    *bytes = head + pad + nok * s->E * (int64_t)sizeof(float);
    char *p = tac_try_calloc((size_t)(*bytes + extra), 1, "gathering the embeddings");   /* + extra spare bytes */
    if (!p) return NULL;
    int64_t h[4] = {rows, nok, cached, rb};
    memcpy(p, h, 32);
    memcpy(p + 32, s->ok, (size_t)rows);
    char *w = p + 32 + rows;
    float *x = (float *)(p + head + pad);
    for (int64_t j = 0; j < rows; j++) {
        if (!s->ok[j]) {
            const char *y = s->why[j] ? s->why[j] : "unknown error";
            size_t l = strlen(y) + 1;
            memcpy(w, y, l);
            w += l;
        } else {
            memcpy(x, s->X + (size_t)j * s->E, (size_t)s->E * sizeof(float));
            x += s->E;
        }
    }
    return p;
}

/* Every rank's part to rank 0 (an alltoall in which only rank 0 receives the parts). part: pb bytes followed by
 * R spare bytes. Every pair of ranks also exchanges one byte: the MPI transport's pairwise alltoall skips a step
 * whose send and receive are both empty while the partner's step may still wait for its empty message, so no part
 * is left empty. Rank 0: *all holds the parts back to back, bytes[r] each (R entries); other ranks: *all NULL. */
static int gather_parts(const tac_comm *c, char *part, int64_t pb, char **all, int64_t *bytes)
{
    const int R = c->size;
    *all = NULL;
    int64_t *eight = tac_xmalloc((size_t)R * 3, sizeof(int64_t));   /* R sizes of the size exchange, R send, R receive */
    int64_t *sb = eight + R, *rb = eight + 2 * R;
    for (int r = 0; r < R; r++) { eight[r] = 8; bytes[r] = r == c->rank ? pb : 0; sb[r] = r == 0 ? pb : 1; }
    if (c->rank == 0) sb[0] = pb;
    int rc = tac_comm_check(c, c->allgather(c, bytes, eight));
    int64_t total = 0;
    for (int r = 0; r < R; r++) { total += bytes[r]; rb[r] = c->rank == 0 ? bytes[r] : 1; }
    if (c->rank == 0) for (int r = 1; r < R; r++) sb[r] = 1;
    else rb[c->rank] = 1;
    char *buf = NULL;
    if (rc == TAC_OK)
        rc = tac_comm_check(c, (buf = tac_try_malloc(c->rank == 0 ? (size_t)total + 1 : (size_t)R, 1,
                                                     "gathering the embeddings on rank 0")) ? TAC_OK : TAC_ERR);
    if (rc == TAC_OK) rc = tac_comm_check(c, c->alltoall(c, part, sb, buf, rb));
    free(eight);
    if (rc != TAC_OK || c->rank != 0) { free(buf); return rc; }
    *all = buf;
    return TAC_OK;
}

void tac_dist_images_free(tac_dist_images *o)
{
    free(o->X);
    free(o->kept);
    free(o->skipped);
    tac_free_strings(o->why, o->nskipped);
    memset(o, 0, sizeof *o);
}

int tac_dist_embed_images(const tac_comm *c, const tac_clip *m, const char *const *paths, int64_t n, int resize,
                          int batch, const char *cache_dir, tac_dist_images *o)
{
    memset(o, 0, sizeof *o);
    const int R = tac_comm_size(c), me = tac_comm_rank(c), E = tac_clip_embed_dim(m);
    shard s;
    memset(&s, 0, sizeof s);
    s.paths = paths; s.E = E; s.B = batch;
    tac_dist_rows(n, batch, me, R, &s.lo, &s.hi);
    const int64_t rows = s.hi - s.lo;
    s.key = tac_xcalloc((size_t)rows + 1, sizeof(char *));          /* rows */
    s.size = tac_xmalloc((size_t)rows + 1, sizeof(int64_t));        /* rows */
    s.mtime = tac_xmalloc((size_t)rows + 1, sizeof(int64_t));       /* rows */
    s.X = tac_xmalloc((size_t)rows * E + 1, sizeof(float));         /* rows x E */
    s.ok = tac_xcalloc((size_t)rows + 1, 1);                        /* rows */
    s.why = tac_xcalloc((size_t)rows + 1, sizeof(char *));          /* rows */
    shard_keys(&s);
    char tag[256];
    snprintf(tag, sizeof tag, "%s resize %d batch %d", tac_clip_cache_tag(m), resize, batch);
    tac_embcache **caches = NULL;
    int nc = 0;
    int rc = open_caches(cache_dir, me, E, tag, &caches, &nc);
    if ((rc = tac_comm_check(c, rc)) != TAC_OK) goto done;
    s.own = caches[0];
    int64_t cached = 0;
    tac_progress_begin(&s.pr, "embedding images", rows);
    tac_embed_images_params p = tac_embed_images_default_params();
    p.resize = resize; p.batch = batch; p.label = NULL; p.on_batch = shard_batch; p.ctx = &s;
    for (int64_t b0 = s.lo; b0 < s.hi && rc == TAC_OK;) {
        int64_t b1 = b0 + batch < s.hi ? b0 + batch : s.hi;
        if (shard_from_cache(&s, caches, nc, b0, b1)) {
            cached++;
            s.done += b1 - b0;
            tac_progress_update(&s.pr, s.done);
            b0 = b1;
            continue;
        }
        int64_t r1 = b1;   /* a run of batches missing from the caches, embedded in one call */
        while (r1 < s.hi) {
            int64_t e1 = r1 + batch < s.hi ? r1 + batch : s.hi;
            int hit = 1;
            for (int64_t i = r1; i < e1 && hit; i++) {
                const float *v = NULL;
                for (int q = 0; q < nc && !v && s.key[i - s.lo]; q++)
                    v = tac_embcache_get(caches[q], s.key[i - s.lo], s.size[i - s.lo], s.mtime[i - s.lo]);
                hit = v != NULL;
            }
            if (hit) break;
            r1 = e1;
        }
        s.run0 = b0;
        rc = tac_embed_images(m, paths + b0, r1 - b0, &p, s.X + (size_t)(b0 - s.lo) * E, s.ok + (b0 - s.lo), NULL);
        b0 = r1;
    }
    tac_progress_end(&s.pr);
    if ((rc = tac_comm_check(c, rc)) != TAC_OK) goto done;
    int64_t pb = 0;
    char *part = pack_part(&s, cached, R, &pb), *all = NULL;
    if (tac_comm_check(c, part ? TAC_OK : TAC_ERR) != TAC_OK) { free(part); rc = TAC_ERR; goto done; }
    int64_t *bytes = tac_xmalloc((size_t)R, sizeof(int64_t));   /* R */
    if (R > 1) rc = gather_parts(c, part, pb, &all, bytes);
    else { all = part; part = NULL; bytes[0] = pb; }
    free(part);
    if (rc == TAC_OK && me == 0) {   /* unpack in rank order = row order */
        int64_t nok = 0, nsk = 0, off = 0;
        for (int r = 0; r < R; r++) {
            int64_t h[4];
            memcpy(h, all + off, 32);
            nok += h[1]; nsk += h[0] - h[1]; o->cached_batches += h[2];
            off += bytes[r];
        }
        o->nbatches = (n + batch - 1) / batch;
        o->X = tac_try_malloc((size_t)nok * E + 1, sizeof(float), "the embeddings");   /* nok x E */
        o->kept = tac_xmalloc((size_t)nok + 1, sizeof(int64_t));
        o->skipped = tac_xmalloc((size_t)nsk + 1, sizeof(int64_t));
        o->why = tac_xcalloc((size_t)nsk + 1, sizeof(char *));
        if (!o->X) rc = TAC_ERR;
        off = 0;
        for (int r = 0; r < R && rc == TAC_OK; r++) {
            int64_t h[4], lo, hi;
            memcpy(h, all + off, 32);
            tac_dist_rows(n, batch, r, R, &lo, &hi);
            const int8_t *okf = (const int8_t *)(all + off + 32);
            const char *w = all + off + 32 + h[0];
            int64_t head = 32 + h[0] + h[3], pad = (8 - head % 8) % 8;
            memcpy(o->X + (size_t)o->nok * E, all + off + head + pad, (size_t)h[1] * E * sizeof(float));
            for (int64_t j = 0; j < h[0]; j++) {
                if (okf[j]) { o->kept[o->nok++] = lo + j; continue; }
                o->skipped[o->nskipped] = lo + j;
                o->why[o->nskipped++] = tac_xstrdup(w);
                w += strlen(w) + 1;
            }
            off += bytes[r];
        }
    }
    free(all);
    free(bytes);
    rc = tac_comm_check(c, rc);
done:
    for (int q = 0; q < nc; q++) tac_embcache_close(caches[q]);
    free(caches);
    tac_free_strings(s.key, rows);
    tac_free_strings(s.why, rows);
    free(s.size); free(s.mtime); free(s.X); free(s.ok);
    if (rc != TAC_OK) tac_dist_images_free(o);
    return rc;
}

void tac_dist_remove_caches(const tac_comm *c, const char *cache_dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/rank-%d.bin", cache_dir, tac_comm_rank(c));
    unlink(p);
    if (tac_comm_check(c, TAC_OK) != TAC_OK || tac_comm_rank(c) != 0) return;   /* every rank has let go of its own */
    DIR *d = opendir(cache_dir);   /* files of an earlier run with more ranks */
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int r = -1, len = 0;
        if (sscanf(e->d_name, "rank-%d.bin%n", &r, &len) != 1 || e->d_name[len] != 0) continue;
        snprintf(p, sizeof p, "%s/%s", cache_dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(cache_dir);
}

/* ---- text: the library's batches cached per rank ---------------------------------------------------------- */

typedef struct {
    tac_embcache **caches;   /* nc: this rank's first */
    int nc, E;
} text_cache;

/* Record i of a batch: key "<batch hash>#i" (size and mtime 0). */
static int text_get(void *user, uint64_t key, int rows, float *out)
{
    text_cache *t = user;
    char k[48];
    for (int i = 0; i < rows; i++) {
        snprintf(k, sizeof k, "%016llx#%d", (unsigned long long)key, i);
        const float *v = NULL;
        for (int q = 0; q < t->nc && !v; q++) v = tac_embcache_get(t->caches[q], k, 0, 0);
        if (!v) return 0;
        memcpy(out + (size_t)i * t->E, v, (size_t)t->E * sizeof(float));
    }
    return 1;
}

static int text_put(void *user, uint64_t key, int rows, const float *vecs)
{
    text_cache *t = user;
    char **keys = tac_xcalloc((size_t)rows, sizeof(char *));          /* rows */
    int64_t *zero = tac_xcalloc((size_t)rows, sizeof(int64_t));       /* rows */
    for (int i = 0; i < rows; i++) {
        keys[i] = tac_xmalloc(48, 1);
        snprintf(keys[i], 48, "%016llx#%d", (unsigned long long)key, i);
    }
    int rc = tac_embcache_put(t->caches[0], rows, (const char *const *)keys, zero, zero, vecs);
    tac_free_strings(keys, rows);
    free(zero);
    return rc;
}

int tac_dist_embed_text(const tac_comm *c, const tac_clip *m, const char *const *lines, int64_t n,
                        const char *const *templates, int ntemplates, const tac_embed_text_params *p,
                        const char *cache_dir, float *out, int64_t *hits)
{
    char tag[256];
    snprintf(tag, sizeof tag, "%s text", tac_clip_cache_tag(m));
    text_cache t = {NULL, 0, tac_clip_embed_dim(m)};
    int rc = open_caches(cache_dir, tac_comm_rank(c), t.E, tag, &t.caches, &t.nc);
    if ((rc = tac_comm_check(c, rc)) == TAC_OK) {
        tac_text_batch_cache bc = {&t, text_get, text_put, 0};
        rc = templates ? tac_embed_nouns_cached(m, lines, n, templates, ntemplates, p, c, &bc, out)
                       : tac_embed_prompts_cached(m, lines, n, p, c, &bc, out);
        int64_t h = bc.hits;
        if (rc == TAC_OK && tac_dist_active(c)) rc = tac_comm_check(c, c->allreduce_sum(c, &h, 1, TAC_COMM_I64));
        if (hits) *hits = h;
    }
    for (int q = 0; q < t.nc; q++) tac_embcache_close(t.caches[q]);
    free(t.caches);
    return rc;
}
