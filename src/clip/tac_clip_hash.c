/* tac_clip_hash.c - the model hash (tac_clip_hash): 64 bits over ALL bytes of config.json, of every weights file
 * and of the tokenizer files, so a model that differs anywhere (one layer, one merge) never shares cached image or
 * noun embeddings with another, and `assign` refuses it.
 *
 * The hash of a file of 16 MiB or more (model weights) is computed once and remembered in
 * $XDG_CACHE_HOME/taclust/file-hashes.tsv (or ~/.cache/taclust/...), keyed by real path + device + inode + size +
 * mtime + ctime (ns): a later load reads nothing but that line. A file that changes gets a new ctime (which, unlike
 * mtime, cannot be set back) and is hashed again; smaller files are simply hashed every time. Lines are appended
 * with one write() each (O_APPEND), so concurrent runs cannot interleave them; a corrupt or missing memo file only
 * costs a re-hash.
 *
 * The hash (tac_hash64_*): four independent 64-bit lanes, each taking one little-endian 8-byte word of every
 * 32-byte stripe as acc = rotl(acc + w * P2, 31) * P1 (no lane waits on another, so it runs at memory speed),
 * then the lanes, the byte count and the tail words are folded together and avalanched. Not cryptographic: it
 * tells models apart, it does not resist someone forging a collision.
 */
#include "clip/tac_clip_internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t w) { return rotl64(acc + w * P2, 31) * P1; }
static inline uint64_t load64(const uint8_t *p) { uint64_t w; memcpy(&w, p, 8); return w; }   /* x86-64: LE */

void tac_hash64_init(tac_hash64 *h, uint64_t seed)
{
    h->v[0] = seed + P1 + P2; h->v[1] = seed + P2; h->v[2] = seed; h->v[3] = seed - P1;
    h->nbuf = 0; h->total = 0;
}

static void stripes(tac_hash64 *h, const uint8_t *p, size_t n)   /* n: a multiple of 32 */
{
    uint64_t a = h->v[0], b = h->v[1], c = h->v[2], d = h->v[3];
    for (const uint8_t *e = p + n; p < e; p += 32) {
        a = lane(a, load64(p)); b = lane(b, load64(p + 8)); c = lane(c, load64(p + 16)); d = lane(d, load64(p + 24));
    }
    h->v[0] = a; h->v[1] = b; h->v[2] = c; h->v[3] = d;
}

void tac_hash64_update(tac_hash64 *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t take = 32 - h->nbuf < n ? 32 - h->nbuf : n;
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += take; p += take; n -= take;
        if (h->nbuf < 32) return;
        stripes(h, h->buf, 32);
        h->nbuf = 0;
    }
    size_t whole = n & ~(size_t)31;
    if (whole) stripes(h, p, whole);
    memcpy(h->buf, p + whole, n - whole);
    h->nbuf = n - whole;
}

uint64_t tac_hash64_final(const tac_hash64 *h)
{
    uint64_t x = rotl64(h->v[0], 1) + rotl64(h->v[1], 7) + rotl64(h->v[2], 12) + rotl64(h->v[3], 18);
    for (int i = 0; i < 4; i++) x = (x ^ lane(0, h->v[i])) * P1 + P4;
    x += h->total;
    size_t i = 0;
    for (; i + 8 <= h->nbuf; i += 8) x = rotl64(x ^ lane(0, load64(h->buf + i)), 27) * P1 + P4;
    for (; i < h->nbuf; i++) x = rotl64(x ^ (h->buf[i] * P3), 11) * P1;
    x ^= x >> 33; x *= P2; x ^= x >> 29; x *= P3; x ^= x >> 32;
    return x;
}

/* ---- per-file memo -------------------------------------------------------------------------------------- */
/* The memo is off unless the caller names its file (tac_clip_set_hash_memo; the taclust program does). */
static char g_memo_file[PATH_MAX];
static int64_t g_memo_min = (int64_t)16 << 20;
static pthread_mutex_t g_memo_lock = PTHREAD_MUTEX_INITIALIZER;

int tac_clip_set_hash_memo(const char *path, int64_t min_bytes)
{
    if (path && strlen(path) >= sizeof g_memo_file) return tac_fail("hash memo: path too long: %.100s...", path);
    if (min_bytes < 0) return tac_fail("hash memo: min_bytes must be >= 0, found %lld", (long long)min_bytes);
    pthread_mutex_lock(&g_memo_lock);
    snprintf(g_memo_file, sizeof g_memo_file, "%s", path ? path : "");
    g_memo_min = min_bytes;
    pthread_mutex_unlock(&g_memo_lock);
    return TAC_OK;
}

static int memo_path(char *buf, size_t n)
{
    pthread_mutex_lock(&g_memo_lock);
    int w = snprintf(buf, n, "%s", g_memo_file);
    pthread_mutex_unlock(&g_memo_lock);
    return w > 0 && (size_t)w < n;
}

typedef struct { char path[PATH_MAX]; uint64_t dev, ino; int64_t size, mtime, ctime; } file_id;

static int memo_lookup(const file_id *id, uint64_t *hash)
{
    char mp[PATH_MAX], *buf;
    size_t len;
    if (!memo_path(mp, sizeof mp)) return 0;
    struct stat st;
    if (stat(mp, &st) != 0 || tac_read_file_max(mp, &buf, &len, TAC_LINES_MAX) != TAC_OK) { tac_clear_error(); return 0; }
    int found = 0;
    for (char *s = buf, *nl; *s; s = nl + 1) {  /* "hash size mtime ctime dev ino\tpath\n"; the last match wins */
        nl = strchr(s, '\n');
        if (!nl) break;
        *nl = 0;
        unsigned long long h, dev, ino;
        long long size, mt, ct;
        int off = 0;
        if (sscanf(s, "%16llx %lld %lld %lld %llu %llu\t%n", &h, &size, &mt, &ct, &dev, &ino, &off) == 6 && off > 0 &&
            size == id->size && mt == id->mtime && ct == id->ctime && dev == id->dev && ino == id->ino &&
            strcmp(s + off, id->path) == 0) {
            *hash = h;
            found = 1;
        }
    }
    free(buf);
    return found;
}

static void memo_store(const file_id *id, uint64_t hash)
{
    char mp[PATH_MAX];
    if (!memo_path(mp, sizeof mp) || strchr(id->path, '\n')) return;
    char *slash = strrchr(mp, '/');
    *slash = 0;
    if (tac_mkdir_p(mp) != TAC_OK) { tac_clear_error(); return; }
    *slash = '/';
    char line[PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "%016llx %lld %lld %lld %llu %llu\t%s\n", (unsigned long long)hash,
                     (long long)id->size, (long long)id->mtime, (long long)id->ctime, (unsigned long long)id->dev,
                     (unsigned long long)id->ino, id->path);
    if (n <= 0 || (size_t)n >= sizeof line) return;
    int fd = open(mp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (write(fd, line, (size_t)n) != n) { /* a lost memo line only costs a re-hash next time */ }
    close(fd);
}

/* The hash of one whole file, from the memo or read (in 4 MiB pieces) and remembered. */
static int file_hash(const char *path, uint64_t *out)
{
    int64_t size;
    int fd = tac_open_regular(path, &size);
    if (fd < 0) return TAC_ERR;
    struct stat st;
    file_id id;
    memset(&id, 0, sizeof id);
    if (fstat(fd, &st) != 0 || !realpath(path, id.path)) snprintf(id.path, sizeof id.path, "%s", path);
    id.dev = (uint64_t)st.st_dev; id.ino = (uint64_t)st.st_ino; id.size = (int64_t)st.st_size;
    id.mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    id.ctime = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;   /* not settable: a write resets it */
    /* small files (tokenizers, test models) hash in no time: only files from min_bytes on (16 MiB unless the caller
     * says otherwise) are remembered, so the memo holds model weights, not every copy a test makes */
    pthread_mutex_lock(&g_memo_lock);
    int64_t memo_min = g_memo_min;
    pthread_mutex_unlock(&g_memo_lock);
    int memo = id.size >= memo_min;
    if (memo && memo_lookup(&id, out)) { close(fd); return TAC_OK; }
    const size_t chunk = (size_t)4 << 20;
    uint8_t *buf = tac_try_malloc(chunk, 1, "hashing the model");
    if (!buf) { close(fd); return TAC_ERR; }
    tac_hash64 h;
    tac_hash64_init(&h, 0);
    int rc = TAC_OK;
    for (;;) {
        ssize_t r = read(fd, buf, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = tac_fail("%s: read error while hashing: %s", path, strerror(errno)); break; }
        if (r == 0) break;
        tac_hash64_update(&h, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    if (rc != TAC_OK) return rc;
    *out = tac_hash64_final(&h);
    if (memo) memo_store(&id, *out);
    return TAC_OK;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Folds one file into the model hash: its name (so renaming a tokenizer changes nothing it should not) is left
 * out, its order is fixed by the caller. */
static int fold_file(tac_hash64 *m, const char *path)
{
    uint64_t fh;
    if (file_hash(path, &fh) != TAC_OK) return TAC_ERR;
    tac_hash64_update(m, &fh, sizeof fh);
    return TAC_OK;
}

int tac_clip_model_hash(const char *cfg_text, size_t cfg_len, const char *const *weights, int nweights,
                        const char *tokenizer, char out[17])
{
    tac_hash64 m;
    tac_hash64_init(&m, 0x7461636c75737431ULL);   /* "taclust1" */
    tac_hash64_update(&m, cfg_text, cfg_len);
    for (int k = 0; k < nweights; k++)
        if (fold_file(&m, weights[k]) != TAC_OK) return TAC_ERR;
    uint8_t sep = 0xff;
    tac_hash64_update(&m, &sep, 1);
    if (tokenizer) {
        struct stat st;
        if (stat(tokenizer, &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t n = strlen(tokenizer) + 40;
            char *a = tac_try_malloc(n, 1, "hashing the model"), *b = tac_try_malloc(n, 1, "hashing the model");
            if (!a || !b) { free(a); free(b); return TAC_ERR; }
            snprintf(a, n, "%s/vocab.json", tokenizer);
            snprintf(b, n, "%s/merges.txt", tokenizer);
            int rc = TAC_OK;
            if (file_exists(a) && file_exists(b)) rc = fold_file(&m, a) == TAC_OK ? fold_file(&m, b) : TAC_ERR;
            else {
                snprintf(a, n, "%s/bpe_simple_vocab_16e6.txt.gz", tokenizer);
                if (file_exists(a)) rc = fold_file(&m, a);
            }
            free(a); free(b);
            if (rc != TAC_OK) return TAC_ERR;
        } else if (fold_file(&m, tokenizer) != TAC_OK) return TAC_ERR;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)tac_hash64_final(&m));
    return TAC_OK;
}
