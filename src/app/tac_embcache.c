/* tac_embcache.c - the per-output-folder embedding cache that makes `cluster` resumable and incremental.
 *
 * File layout (little-endian):
 *   header  "TACEMB01" | u32 E | u32 tag_len | tag bytes (the model hash)
 *   record  u32 path_len | path | i64 size | i64 mtime_ns | f32[E] | u64 FNV-1a of everything before it in
 *           the record
 * Records are appended and fsync'd batch by batch. On open, records are read until the first incomplete or
 * corrupt one; the file is truncated there (a run killed mid-write loses at most the batch in flight).
 * Lookups go through an open-addressing hash table on the path; a later record for a path replaces an earlier
 * one (the file changed: new size or mtime).
 */
#include "app/tac_app.h"
#include "taclust/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tac_embcache {
    FILE *f;
    char *path;
    int e;                    /* E: vector length */
    int64_t n, cap;           /* records in memory */
    char **paths;             /* N */
    int64_t *sizes, *mtimes;  /* N */
    float *vecs;              /* N x E */
    int64_t *table;           /* hash slots -> record index, -1 empty */
    int64_t tcap;             /* power of two */
};


static void table_rebuild(tac_embcache *c, int64_t tcap)
{
    free(c->table);
    c->tcap = tcap;
    c->table = tac_xmalloc((size_t)tcap, sizeof(int64_t));
    for (int64_t i = 0; i < tcap; i++) c->table[i] = -1;
    for (int64_t r = 0; r < c->n; r++) {
        uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, c->paths[r], strlen(c->paths[r]));
        int64_t s = (int64_t)(h & (uint64_t)(tcap - 1));
        while (c->table[s] >= 0 && strcmp(c->paths[c->table[s]], c->paths[r]) != 0) s = (s + 1) & (tcap - 1);
        c->table[s] = r;      /* later records win */
    }
}

static int64_t table_find(const tac_embcache *c, const char *path)
{
    uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, path, strlen(path));
    int64_t s = (int64_t)(h & (uint64_t)(c->tcap - 1));
    while (c->table[s] >= 0) {
        if (strcmp(c->paths[c->table[s]], path) == 0) return c->table[s];
        s = (s + 1) & (c->tcap - 1);
    }
    return -1;
}

static void add_record(tac_embcache *c, const char *path, int64_t size, int64_t mtime, const float *vec)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->paths = tac_xrealloc(c->paths, (size_t)c->cap, sizeof(char *));
        c->sizes = tac_xrealloc(c->sizes, (size_t)c->cap, sizeof(int64_t));
        c->mtimes = tac_xrealloc(c->mtimes, (size_t)c->cap, sizeof(int64_t));
        c->vecs = tac_xrealloc(c->vecs, (size_t)c->cap * (size_t)c->e, sizeof(float));
    }
    c->paths[c->n] = tac_xstrdup(path);
    c->sizes[c->n] = size;
    c->mtimes[c->n] = mtime;
    memcpy(c->vecs + c->n * c->e, vec, (size_t)c->e * sizeof(float));
    c->n++;
}

/* readonly: loads the valid records and stops at the first torn one without touching the file (another process may
 * be appending to it); no writing. */
static int embcache_open(const char *path, int e, const char *model_tag, int readonly, tac_embcache **out)
{
    tac_embcache *c = tac_xcalloc(1, sizeof *c);
    c->e = e;
    c->path = tac_xstrdup(path);
    uint32_t tag_len = (uint32_t)strlen(model_tag);
    char *buf = NULL; size_t len = 0;
    struct stat st;
    size_t good = 0;                          /* bytes of the file that hold a valid header + records */
    if (stat(path, &st) == 0 && st.st_size > 0) {
        /* no fixed cap: the cache grows with the collection; memory is checked by the reader (tac_try_malloc) */
        if (tac_read_file_max(path, &buf, &len, (size_t)1 << 40) != TAC_OK) { free(c->path); free(c); return TAC_ERR; }
        size_t hl = 16 + tag_len;
        uint32_t fe = 0, ft = 0;
        if (len >= 16) { memcpy(&fe, buf + 8, 4); memcpy(&ft, buf + 12, 4); }
        if (len < 16 || memcmp(buf, "TACEMB01", 8) != 0) {
            free(buf); free(c->path); free(c);
            return tac_fail("%s: not a taclust embedding cache (remove it to start afresh)", path);
        }
        if ((int)fe != e || ft != tag_len || len < hl || memcmp(buf + 16, model_tag, tag_len) != 0) {
            free(buf); free(c->path); free(c);
            return tac_fail("%s: cache was made with another model (remove it, or use the same --model)", path);
        }
        size_t off = hl;
        good = hl;
        size_t rec_fixed = 4 + 16 + (size_t)e * 4 + 8;
        float *vec = tac_xmalloc((size_t)e, sizeof(float));
        while (off + 4 <= len) {
            uint32_t pl;
            memcpy(&pl, buf + off, 4);
            if (pl == 0 || pl > 65536 || off + rec_fixed + pl > len) break;
            const char *p = buf + off + 4;
            uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, buf + off, rec_fixed - 8 + pl), stored;
            memcpy(&stored, buf + off + rec_fixed - 8 + pl, 8);
            if (h != stored || memchr(p, 0, pl)) break;
            char *name = tac_xmalloc(pl + 1, 1);
            memcpy(name, p, pl); name[pl] = 0;
            int64_t size, mt;
            memcpy(&size, p + pl, 8); memcpy(&mt, p + pl + 8, 8);
            memcpy(vec, p + pl + 16, (size_t)e * 4);
            add_record(c, name, size, mt, vec);
            free(name);
            off += rec_fixed + pl;
            good = off;
        }
        free(vec);
        free(buf);
        if (good < len && !readonly) {
            tac_info("%s: dropped %zu bytes of an interrupted write", path, len - good);
            if (truncate(path, (off_t)good) != 0) {
                int err = errno;
                tac_embcache_close(c);
                return tac_fail("%s: cannot truncate torn tail: %s", path, strerror(err));
            }
        }
    }
    if (readonly && !good) { tac_embcache_close(c); return tac_fail("%s: no embedding cache there", path); }
    c->f = readonly ? NULL : fopen(path, good ? "ab" : "wb");
    if (readonly) goto table;
    if (!c->f) {
        int err = errno;
        tac_embcache_close(c);
        return tac_fail("%s: cannot open for writing: %s", path, strerror(err));
    }
    if (!good) {
        uint32_t e32 = (uint32_t)e;
        fwrite("TACEMB01", 1, 8, c->f);
        fwrite(&e32, 4, 1, c->f);
        fwrite(&tag_len, 4, 1, c->f);
        fwrite(model_tag, 1, tag_len, c->f);
        if (fflush(c->f) != 0) { tac_embcache_close(c); return tac_fail("%s: write failed", path); }
    }
table:;
    int64_t tcap = 1024;
    while (tcap < 2 * c->n + 16) tcap *= 2;
    table_rebuild(c, tcap);
    *out = c;
    return TAC_OK;
}

int tac_embcache_open(const char *path, int e, const char *model_tag, tac_embcache **out)
{
    return embcache_open(path, e, model_tag, 0, out);
}

int tac_embcache_open_readonly(const char *path, int e, const char *model_tag, tac_embcache **out)
{
    return embcache_open(path, e, model_tag, 1, out);
}

const float *tac_embcache_get(const tac_embcache *c, const char *path, int64_t size, int64_t mtime_ns)
{
    int64_t r = table_find(c, path);
    if (r < 0 || c->sizes[r] != size || c->mtimes[r] != mtime_ns) return NULL;
    return c->vecs + r * c->e;
}

int tac_embcache_put(tac_embcache *c, int n, const char *const *paths, const int64_t *sizes,
                     const int64_t *mtimes, const float *vecs)
{
    if (!c->f) return tac_fail("%s: opened read-only", c->path);
    if (tac_debug_write_fails(c->path)) return tac_fail("%s: write failed: %s", c->path, strerror(ENOSPC));
    for (int i = 0; i < n; i++) {
        uint32_t pl = (uint32_t)strlen(paths[i]);
        size_t rl = 4 + pl + 16 + (size_t)c->e * 4;
        unsigned char *rec = tac_xmalloc(rl + 8, 1);
        memcpy(rec, &pl, 4);
        memcpy(rec + 4, paths[i], pl);
        memcpy(rec + 4 + pl, &sizes[i], 8);
        memcpy(rec + 12 + pl, &mtimes[i], 8);
        memcpy(rec + 20 + pl, vecs + (size_t)i * c->e, (size_t)c->e * 4);
        uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, rec, rl);
        memcpy(rec + rl, &h, 8);
        size_t w = fwrite(rec, 1, rl + 8, c->f);
        free(rec);
        if (w != rl + 8) return tac_fail("%s: write failed: %s", c->path, strerror(errno));
        add_record(c, paths[i], sizes[i], mtimes[i], vecs + (size_t)i * c->e);
    }
    if (fflush(c->f) != 0) return tac_fail("%s: write failed: %s", c->path, strerror(errno));
    fsync(fileno(c->f));
    if (2 * c->n + 16 > c->tcap) table_rebuild(c, c->tcap * 2);
    else {
        /* insert the new records into the existing table */
        for (int64_t r = c->n - n; r < c->n; r++) {
            uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, c->paths[r], strlen(c->paths[r]));
            int64_t s = (int64_t)(h & (uint64_t)(c->tcap - 1));
            while (c->table[s] >= 0 && strcmp(c->paths[c->table[s]], c->paths[r]) != 0) s = (s + 1) & (c->tcap - 1);
            c->table[s] = r;
        }
    }
    return TAC_OK;
}

int64_t tac_embcache_count(const tac_embcache *c) { return c->n; }

void tac_embcache_close(tac_embcache *c)
{
    if (!c) return;
    if (c->f) fclose(c->f);
    for (int64_t i = 0; i < c->n; i++) free(c->paths[i]);
    free(c->paths); free(c->sizes); free(c->mtimes); free(c->vecs); free(c->table); free(c->path);
    free(c);
}

int tac_file_key(const char *path, int64_t *size, int64_t *mtime_ns)
{
    struct stat st;
    if (stat(path, &st) != 0) return tac_fail("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tac_fail("%s: is %s, not a regular file", path, S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ?
                        "a FIFO (named pipe)" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
    *size = (int64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return TAC_OK;
}
