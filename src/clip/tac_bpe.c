/* tac_bpe.c - CLIP's byte-level BPE tokenizer, exactly as OpenAI's clip.tokenize(texts, truncate=True).
 *
 *   tac_bpe *t; tac_bpe_load("../shared/models/clip-vit-base-patch32", &t);   (or a .txt.gz, or a merges file)
 *   int32_t ids[77]; int n = tac_bpe_tokenize(t, "a photo of a cat.", ids, 77);  -> n = 8
 *   tac_bpe_free(t);
 *
 * Loading (tac_bpe_load):
 *   - a folder: DIR/vocab.json + DIR/merges.txt (Hugging Face layout) when both exist, else
 *     DIR/bpe_simple_vocab_16e6.txt.gz;
 *   - a file: gzip or plain text in OpenAI's layout (a header line, then merges "a b" one a line; the first
 *     49152-256-2 = 48894 merges are used). A Hugging Face merges.txt ("#version" header) has the same layout,
 *     so it loads too and yields the same ids.
 *   OpenAI's vocabulary is built as simple_tokenizer.py does: the 256 byte characters, the same with '</w>',
 *   one entry per merge (the two halves joined), '<|startoftext|>', '<|endoftext|>' = 49408 ids; a string that
 *   occurs twice keeps its last id, a merge listed twice keeps its last rank (Python dict semantics).
 *
 * Text pipeline (simple_tokenizer.py, in this order):
 *   1. ftfy.fix_text: NOT applied. It is the identity on clean text (ASCII, NFC, no mojibake, no curly quotes,
 *      ligatures or full-width forms); text where ftfy would change something (e.g. U+2019 in "don't",
 *      "\uFB01", full-width letters, decomposed accents) may tokenize differently from OpenAI's tokenizer.
 *      All TAC prompts (ASCII WordNet lemmas) are unaffected.
 *   2. html.unescape twice (numeric references with Python's replacement rules, the 2,231 HTML5 names with
 *      the longest-prefix rule for names without ';'), then str.strip().
 *   3. runs of regex \s become one space, str.strip().
 *   4. str.lower(): full Unicode lower-casing (U+0130 -> "i" U+0307) with CPython's final-sigma rule.
 *   5. the pattern <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      (IGNORECASE), leftmost alternative first at each position, unmatched characters skipped.
 *   6. each piece's UTF-8 bytes: BPE by merge rank over byte symbols, '</w>' on the last symbol.
 *   7. [SOT] + ids + [EOT]; longer than ctx: the first ctx-1 kept and EOT appended; zero padding.
 * Character classes, lower-casing and the entity table are generated from Python 3.11 and the regex module
 * into tac_bpe_tables.c (tools/gen_tokenizer_fixtures.py). Invalid UTF-8 input bytes become U+FFFD each
 * (Python strings cannot hold them). The BPE of a piece of L bytes costs O(L^2) like the original for short
 * pieces and O(L log L) from tac_bpe_heap_min_len (64) bytes on, with identical results.
 *
 * Threads: tac_bpe_tokenize may be called concurrently on one tac_bpe; each thread gets its own word cache
 * (freed by tac_bpe_free, which must not run concurrently with tokenize).
 */
#include "taclust/clip.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- generated tables (tac_bpe_tables.c) ---------------------------------------------------------- */
extern const int tac_bpe_cls_n;
extern const uint32_t tac_bpe_cls_start[];
extern const uint8_t tac_bpe_cls_bits[];
extern const int tac_bpe_lower_n;
extern const int32_t tac_bpe_lower_runs[][4];
extern const int tac_bpe_lower_multi_n;
extern const uint32_t tac_bpe_lower_multi[][3];
extern const int tac_bpe_invalid_ref_n;
extern const uint32_t tac_bpe_invalid_ref[][2];
extern const int tac_bpe_invalid_cp_n;
extern const uint32_t tac_bpe_invalid_cp[];
extern const int tac_bpe_entity_n;
extern const char *const tac_bpe_entity[][2];

enum { C_L = 1, C_N = 2, C_O = 4, C_RS = 8, C_PS = 16, C_IGN = 32, C_CASED = 64 };
#define N_MERGES (49152 - 256 - 2)
#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"

static uint8_t bmp_cls[65536];   /* class bits of U+0000..U+FFFF, filled once */
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void bmp_init(void)
{
    for (int r = 0; r < tac_bpe_cls_n; r++) {
        uint32_t a = tac_bpe_cls_start[r], b = r + 1 < tac_bpe_cls_n ? tac_bpe_cls_start[r + 1] : 0x110000;
        for (uint32_t c = a; c < b && c < 65536; c++) bmp_cls[c] = tac_bpe_cls_bits[r];
    }
}

static inline int cls(uint32_t c)
{
    if (c < 65536) return bmp_cls[c];
    if (c >= 0x110000) return C_O;
    int lo = 0, hi = tac_bpe_cls_n - 1;   /* last run with start <= c */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tac_bpe_cls_start[mid] <= c) lo = mid; else hi = mid - 1;
    }
    return tac_bpe_cls_bits[lo];
}

/* ---- per-thread word cache -------------------------------------------------------------------------- */
typedef struct cache {
    struct cache *next;
    /* open addressing: slot -> offset into keys (0 = empty), key length, ids offset, ids count */
    uint32_t *koff, *klen, *voff, *vlen;
    uint32_t cap, used;
    char *keys; size_t keys_len, keys_cap;         /* key bytes, starting at offset 1 */
    int32_t *vals; size_t vals_len, vals_cap;      /* ids */
    /* scratch, grown as needed */
    uint32_t *cp_a, *cp_b; size_t cp_cap;          /* code points, 2 buffers of cp_cap */
    char *piece; size_t piece_cap;                 /* UTF-8 of one piece */
    int32_t *sym, *rank; size_t sym_cap;           /* BPE symbols and adjacent pair ranks */
    int32_t *nxt, *prv, *touched; size_t list_cap; /* long pieces: linked symbols, merged positions */
    int64_t *heap; size_t heap_cap;                /* long pieces: (rank << 32 | position) min-heap */
} cache;

struct tac_bpe {
    int32_t nvocab;
    int32_t sot, eot;
    int32_t byte_id[256], byte_id_w[256];          /* id of byte b's character, and with '</w>' */
    uint64_t *mkey;                                /* merge table: (a << 32 | b) + 1, 0 = empty */
    int32_t *mrank, *mres;
    uint32_t mcap;
    pthread_key_t key;
    pthread_mutex_t mu;
    cache *caches;
};

#define CACHE_MAX_WORDS 65536u

static void cache_reset(cache *c)
{
    memset(c->koff, 0, c->cap * sizeof *c->koff);
    c->used = 0; c->keys_len = 1; c->vals_len = 0;
}

static void cache_free(cache *c);

/* Grows the array *p to n elements of `elem` bytes (contents kept); TAC_ERR with the reason (and *p untouched)
 * when memory is short. */
static int grow(void *p, size_t n, size_t elem)
{
    void **pp = p;
    if (elem && n > SIZE_MAX / elem) return tac_fail("tokenizer: out of memory");
    void *q = realloc(*pp, n * elem != 0 ? n * elem : 1);
    if (!q) return tac_fail("tokenizer: out of memory (%zu bytes)", n * elem);
    *pp = q;
    return TAC_OK;
}

/* The calling thread's cache, made on first use; NULL with the reason when memory is short. */
static cache *get_cache(tac_bpe *t)
{
    cache *c = pthread_getspecific(t->key);
    if (c) return c;
    c = tac_try_calloc(1, sizeof *c, "tokenizer");
    if (!c) return NULL;
    c->cap = 2 * CACHE_MAX_WORDS;
    c->koff = tac_try_calloc(c->cap, sizeof *c->koff, "tokenizer");
    c->klen = tac_try_malloc(c->cap, sizeof *c->klen, "tokenizer");
    c->voff = tac_try_malloc(c->cap, sizeof *c->voff, "tokenizer");
    c->vlen = tac_try_malloc(c->cap, sizeof *c->vlen, "tokenizer");
    c->keys_cap = 1 << 16; c->keys = tac_try_malloc(c->keys_cap, 1, "tokenizer"); c->keys_len = 1;
    c->vals_cap = 1 << 14; c->vals = tac_try_malloc(c->vals_cap, sizeof *c->vals, "tokenizer");
    if (!c->koff || !c->klen || !c->voff || !c->vlen || !c->keys || !c->vals || pthread_setspecific(t->key, c) != 0) {
        cache_free(c);
        if (!tac_last_error()[0]) tac_fail("tokenizer: cannot keep a per-thread cache");
        return NULL;
    }
    pthread_mutex_lock(&t->mu);
    c->next = t->caches; t->caches = c;
    pthread_mutex_unlock(&t->mu);
    return c;
}

static void cache_free(cache *c)
{
    free(c->koff); free(c->klen); free(c->voff); free(c->vlen); free(c->keys); free(c->vals);
    free(c->cp_a); free(c->cp_b); free(c->piece); free(c->sym); free(c->rank);
    free(c->nxt); free(c->prv); free(c->touched); free(c->heap);
    free(c);
}

static inline uint64_t fnv64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 0x100000001b3ull; }
    return h;
}

/* ---- merges ------------------------------------------------------------------------------------------ */
static inline uint32_t mslot(uint64_t k, uint32_t mask) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & mask; }

static inline int merge_find(const tac_bpe *t, int32_t a, int32_t b, int32_t *res)
{
    uint64_t k = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t mask = t->mcap - 1;
    for (uint32_t s = mslot(k, mask);; s = (s + 1) & mask) {
        if (t->mkey[s] == k) { *res = t->mres[s]; return t->mrank[s]; }
        if (!t->mkey[s]) return -1;
    }
}

static void merge_put(tac_bpe *t, int32_t a, int32_t b, int32_t rank, int32_t res)
{
    uint64_t k = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t mask = t->mcap - 1;
    uint32_t s = mslot(k, mask);
    while (t->mkey[s] && t->mkey[s] != k) s = (s + 1) & mask;
    t->mkey[s] = k; t->mrank[s] = rank; t->mres[s] = res;   /* a repeated merge keeps its last rank */
}

/* ---- BPE of one piece -------------------------------------------------------------------------------- */
/* Pieces of at least this many bytes use the O(L log L) heap version; shorter ones the plain rescan. Both give
 * the same result (tests force the heap version for every piece by setting this to 2). */
int tac_bpe_heap_min_len = 64;

static void heap_push(cache *c, size_t *hn, int64_t v)
{
    TAC_ASSERT(*hn < c->heap_cap);    /* reserved by piece_ids: at most 3 pushes per byte */
    size_t i = (*hn)++;
    while (i > 0 && c->heap[(i - 1) / 2] > v) { c->heap[i] = c->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    c->heap[i] = v;
}

static int64_t heap_pop(cache *c, size_t *hn)
{
    int64_t top = c->heap[0], v = c->heap[--*hn];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t mv = v;
        if (l < n && c->heap[l] < mv) { m = l; mv = c->heap[l]; }
        if (l + 1 < n && c->heap[l + 1] < mv) { m = l + 1; mv = c->heap[l + 1]; }
        if (m == i) break;
        c->heap[i] = c->heap[m]; i = m;
    }
    if (n) c->heap[i] = v;
    return top;
}

/* The same merges as the rescan below, for long pieces: symbols in a linked list (position = index of the
 * symbol's first byte), candidate pairs in a heap ordered by (rank, position). All pairs of the lowest rank
 * - that is, all occurrences of one merge - are taken left to right in one batch, skipping the ones a merge
 * just consumed, and the pairs the batch creates enter the heap only afterwards: exactly simple_tokenizer's
 * "merge every occurrence of the best pair, then look again". */
static int bpe_word_heap(const tac_bpe *t, cache *c, int n, int32_t *out)
{
    TAC_ASSERT(c->list_cap >= (size_t)n);   /* reserved by piece_ids */
    int32_t *sym = c->sym, *nxt = c->nxt, *prv = c->prv, *touched = c->touched;   /* L each; sym = -1: dead */
    size_t hn = 0;
    int32_t dummy;
    for (int i = 0; i < n; i++) { nxt[i] = i + 1 < n ? i + 1 : -1; prv[i] = i - 1; }
    for (int i = 0; i + 1 < n; i++) {
        int r = merge_find(t, sym[i], sym[i + 1], &dummy);
        if (r >= 0) heap_push(c, &hn, ((int64_t)r << 32) | i);
    }
    while (hn) {
        int32_t r = (int32_t)(c->heap[0] >> 32), a = -1, b = -1, merged = 0;
        int nt = 0;
        while (hn && (int32_t)(c->heap[0] >> 32) == r) {
            int p = (int)(heap_pop(c, &hn) & 0xFFFFFFFF), q = nxt[p];
            if (sym[p] < 0 || q < 0) continue;
            if (a < 0) {                                 /* the batch's pair, from its first live entry */
                if (merge_find(t, sym[p], sym[q], &merged) != r) continue;
                a = sym[p]; b = sym[q];
            }
            if (sym[p] != a || sym[q] != b) continue;    /* stale, or consumed by a merge to its left */
            sym[p] = merged;
            sym[q] = -1;
            nxt[p] = nxt[q];
            if (nxt[q] >= 0) prv[nxt[q]] = p;
            touched[nt++] = p;
        }
        for (int k = 0; k < nt; k++) {
            int p = touched[k];
            if (prv[p] >= 0) {
                int rr = merge_find(t, sym[prv[p]], sym[p], &dummy);
                if (rr >= 0) heap_push(c, &hn, ((int64_t)rr << 32) | prv[p]);
            }
            if (nxt[p] >= 0) {
                int rr = merge_find(t, sym[p], sym[nxt[p]], &dummy);
                if (rr >= 0) heap_push(c, &hn, ((int64_t)rr << 32) | p);
            }
        }
    }
    int m = 0;
    for (int i = 0; i >= 0; i = nxt[i]) out[m++] = sym[i];
    return m;
}

/* bytes[0..n) -> ids appended to out (capacity >= n). Returns the number of ids. */
static int bpe_word(const tac_bpe *t, cache *c, const unsigned char *bytes, int n, int32_t *out)
{
    TAC_ASSERT(c->sym_cap >= (size_t)n);    /* reserved by piece_ids */
    int32_t *sym = c->sym;    /* T symbols (vocab ids) */
    int32_t *rk = c->rank;    /* T-1: rank of pair (sym[i], sym[i+1]), INT32_MAX if none */
    int m = n;
    for (int i = 0; i < n - 1; i++) sym[i] = t->byte_id[bytes[i]];
    sym[n - 1] = t->byte_id_w[bytes[n - 1]];
    if (n >= tac_bpe_heap_min_len) return bpe_word_heap(t, c, n, out);
    int32_t dummy;
    for (int i = 0; i + 1 < m; i++) {
        int r = merge_find(t, sym[i], sym[i + 1], &dummy);
        rk[i] = r < 0 ? INT32_MAX : r;
    }
    while (m > 1) {
        int32_t best = INT32_MAX;
        int at = -1;
        for (int i = 0; i + 1 < m; i++) if (rk[i] < best) { best = rk[i]; at = i; }
        if (at < 0) break;
        int32_t a = sym[at], b = sym[at + 1], merged = 0;
        merge_find(t, a, b, &merged);
        /* merge every occurrence of (a, b) left to right, as simple_tokenizer.py does */
        int w = at;
        for (int i = at; i < m;) {
            if (i + 1 < m && sym[i] == a && sym[i + 1] == b) { sym[w++] = merged; i += 2; }
            else sym[w++] = sym[i++];
        }
        m = w;
        for (int i = (at > 0 ? at - 1 : 0); i + 1 < m; i++) {
            int r = merge_find(t, sym[i], sym[i + 1], &dummy);
            rk[i] = r < 0 ? INT32_MAX : r;
        }
    }
    memcpy(out, sym, (size_t)m * sizeof *out);
    return m;
}

/* Makes the scratch of the BPE of an n-byte piece big enough (TAC_ERR when memory is short): the merge loops
 * themselves never allocate. */
static int reserve_word(cache *c, size_t n)
{
    if (c->sym_cap < n) {
        size_t cap = n * 2;
        if (grow(&c->sym, cap, sizeof *c->sym) != TAC_OK || grow(&c->rank, cap, sizeof *c->rank) != TAC_OK) return TAC_ERR;
        c->sym_cap = cap;
    }
    if (n >= (size_t)tac_bpe_heap_min_len && c->list_cap < n) {
        size_t cap = n * 2;
        if (grow(&c->nxt, cap, sizeof *c->nxt) != TAC_OK || grow(&c->prv, cap, sizeof *c->prv) != TAC_OK ||
            grow(&c->touched, cap, sizeof *c->touched) != TAC_OK)
            return TAC_ERR;
        c->list_cap = cap;
    }
    /* heap: n-1 first pairs, then at most 2 per merge (n-1 merges at most) */
    if (n >= (size_t)tac_bpe_heap_min_len && c->heap_cap < 3 * n) {
        if (grow(&c->heap, 3 * n, sizeof *c->heap) != TAC_OK) return TAC_ERR;
        c->heap_cap = 3 * n;
    }
    return TAC_OK;
}

/* ids of one piece through the cache; returns a pointer to them (valid until the next call) and the count; NULL
 * with the reason when memory is short */
static const int32_t *piece_ids(const tac_bpe *t, cache *c, const char *p, int n, int *nids)
{
    if (n == (int)sizeof SOT_TEXT - 1 && !memcmp(p, SOT_TEXT, (size_t)n)) { *nids = 1; return &t->sot; }
    if (n == (int)sizeof EOT_TEXT - 1 && !memcmp(p, EOT_TEXT, (size_t)n)) { *nids = 1; return &t->eot; }
    uint32_t mask = c->cap - 1;
    uint32_t s = (uint32_t)fnv64(p, (size_t)n) & mask;
    for (; c->koff[s]; s = (s + 1) & mask)
        if (c->klen[s] == (uint32_t)n && !memcmp(c->keys + c->koff[s], p, (size_t)n)) {
            *nids = (int)c->vlen[s];
            return c->vals + c->voff[s];
        }
    if (c->used >= CACHE_MAX_WORDS || c->keys_len + (size_t)n > 0xFFFFFFF0u || c->vals_len + (size_t)n > 0xFFFFFFF0u) {
        cache_reset(c);
        s = (uint32_t)fnv64(p, (size_t)n) & mask;
    }
    size_t kc = c->keys_cap, vc = c->vals_cap;
    while (c->keys_len + (size_t)n > kc) kc *= 2;
    while (c->vals_len + (size_t)n > vc) vc *= 2;
    if (kc != c->keys_cap) { if (grow(&c->keys, kc, 1) != TAC_OK) return NULL; c->keys_cap = kc; }
    if (vc != c->vals_cap) { if (grow(&c->vals, vc, sizeof *c->vals) != TAC_OK) return NULL; c->vals_cap = vc; }
    if (reserve_word(c, (size_t)n) != TAC_OK) return NULL;
    int k = bpe_word(t, c, (const unsigned char *)p, n, c->vals + c->vals_len);
    memcpy(c->keys + c->keys_len, p, (size_t)n);
    c->koff[s] = (uint32_t)c->keys_len; c->klen[s] = (uint32_t)n;
    c->voff[s] = (uint32_t)c->vals_len; c->vlen[s] = (uint32_t)k;
    c->keys_len += (size_t)n; c->vals_len += (size_t)k; c->used++;
    *nids = k;
    return c->vals + c->voff[s];
}

/* ---- text normalisation on code points --------------------------------------------------------------- */
static size_t utf8_decode(const unsigned char *s, uint32_t *out)
{
    size_t n = 0;
    while (*s) {
        unsigned c = s[0];
        if (c < 0x80) { out[n++] = c; s++; continue; }
        int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? (c <= 0xEF ? 3 : 0) : c >= 0xC2 ? 2 : 0;
        uint32_t v = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        int ok = len > 0;
        for (int k = 1; ok && k < len; k++) {
            if ((s[k] & 0xC0) != 0x80) ok = 0;
            else v = (v << 6) | (s[k] & 0x3F);
        }
        if (ok && ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))))
            ok = 0;
        if (!ok) { out[n++] = 0xFFFD; s++; continue; }
        out[n++] = v; s += len;
    }
    return n;
}

static inline size_t utf8_put(uint32_t v, char *o)
{
    if (v < 0x80) { o[0] = (char)v; return 1; }
    if (v < 0x800) { o[0] = (char)(0xC0 | v >> 6); o[1] = (char)(0x80 | (v & 0x3F)); return 2; }
    if (v < 0x10000) { o[0] = (char)(0xE0 | v >> 12); o[1] = (char)(0x80 | ((v >> 6) & 0x3F)); o[2] = (char)(0x80 | (v & 0x3F)); return 3; }
    o[0] = (char)(0xF0 | v >> 18); o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((v >> 6) & 0x3F)); o[3] = (char)(0x80 | (v & 0x3F)); return 4;
}

static const char *entity_find(const char *name)
{
    int lo = 0, hi = tac_bpe_entity_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(tac_bpe_entity[mid][0], name);
        if (!c) return tac_bpe_entity[mid][1];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

static size_t put_utf8_string(const char *v, uint32_t *out)
{
    return utf8_decode((const unsigned char *)v, out);
}

static inline int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static inline int hex_val(uint32_t c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Python's html.unescape on in[0..n) -> out (never longer than the input). Returns the output length. */
static size_t html_unescape(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] != '&') { out[o++] = in[i++]; continue; }
        size_t j = i + 1;
        if (j < n && in[j] == '#') {
            size_t k = j + 1;
            int hex = 0;
            if (k < n && is_digit(in[k])) hex = 0;
            else if (k + 1 < n && (in[k] == 'x' || in[k] == 'X') && hex_val(in[k + 1]) >= 0) { hex = 1; k++; }
            else { out[o++] = in[i++]; continue; }            /* "&#" not followed by a number: left as is */
            uint64_t num = 0;
            for (; k < n && (hex ? hex_val(in[k]) >= 0 : is_digit(in[k])); k++) {
                num = num * (hex ? 16 : 10) + (uint64_t)(hex ? hex_val(in[k]) : (int)(in[k] - '0'));
                if (num > 0x110000) num = 0x110000;           /* saturate: anything above is "too big" */
            }
            if (k < n && in[k] == ';') k++;
            i = k;
            int done = 0;
            for (int r = 0; r < tac_bpe_invalid_ref_n; r++)
                if (tac_bpe_invalid_ref[r][0] == num) { out[o++] = tac_bpe_invalid_ref[r][1]; done = 1; break; }
            if (done) continue;
            if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { out[o++] = 0xFFFD; continue; }
            for (int r = 0; r < tac_bpe_invalid_cp_n; r++)
                if (tac_bpe_invalid_cp[r] == num) { done = 1; break; }
            if (!done) out[o++] = (uint32_t)num;
            continue;
        }
        /* named: [^\t\n\f <&#;]{1,32};? */
        size_t k = j;
        while (k < n && k - j < 32 && in[k] != '\t' && in[k] != '\n' && in[k] != '\f' && in[k] != ' ' &&
               in[k] != '<' && in[k] != '&' && in[k] != '#' && in[k] != ';')
            k++;
        if (k == j) { out[o++] = in[i++]; continue; }
        if (k < n && in[k] == ';') k++;
        size_t len = k - j;                                  /* s = in[j..k), at most 33 code points */
        char name[40];
        size_t ascii = 0;
        while (ascii < len && in[j + ascii] < 128) { name[ascii] = (char)in[j + ascii]; ascii++; }
        const char *val = NULL;
        size_t used = 0;
        if (ascii == len) { name[len] = 0; val = entity_find(name); used = len; }
        for (size_t x = len - 1; !val && x >= 2; x--) {      /* longest prefix s[:x], x from len-1 down to 2 */
            if (x > ascii) continue;
            name[x] = 0;
            val = entity_find(name);
            used = x;
        }
        if (!val) { out[o++] = '&'; for (size_t q = j; q < k; q++) out[o++] = in[q]; i = k; continue; }
        o += put_utf8_string(val, out + o);
        for (size_t q = j + used; q < k; q++) out[o++] = in[q];
        i = k;
    }
    return o;
}

/* str.strip() then runs of regex \s -> ' ' (the second strip of whitespace_clean is then a no-op, because
 * every regex \s character is also str.isspace()). In place; returns the new length. */
static size_t clean_space(uint32_t *s, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (cls(s[a]) & C_PS)) a++;
    while (b > a && (cls(s[b - 1]) & C_PS)) b--;
    size_t o = 0;
    for (size_t i = a; i < b;) {
        if (cls(s[i]) & C_RS) {
            while (i < b && (cls(s[i]) & C_RS)) i++;
            s[o++] = ' ';
        } else s[o++] = s[i++];
    }
    return o;
}

static int lower_one(uint32_t c, uint32_t *out)
{
    if (c < 128) { out[0] = c >= 'A' && c <= 'Z' ? c + 32 : c; return 1; }
    for (int r = 0; r < tac_bpe_lower_multi_n; r++)
        if (tac_bpe_lower_multi[r][0] == c) { out[0] = tac_bpe_lower_multi[r][1]; out[1] = tac_bpe_lower_multi[r][2]; return 2; }
    int lo = 0, hi = tac_bpe_lower_n - 1, at = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if ((uint32_t)tac_bpe_lower_runs[mid][0] <= c) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    out[0] = c;
    if (at >= 0) {
        const int32_t *r = tac_bpe_lower_runs[at];
        uint32_t d = c - (uint32_t)r[0];
        if (d % (uint32_t)r[2] == 0 && d / (uint32_t)r[2] < (uint32_t)r[1]) out[0] = (uint32_t)((int32_t)c + r[3]);
    }
    return 1;
}

/* str.lower() of s[0..n) -> out (capacity 2n). CPython's final sigma: U+03A3 -> U+03C2 when preceded by a
 * cased letter and not followed by one, skipping case-ignorable characters on both sides. */
static size_t lower_str(const uint32_t *s, size_t n, uint32_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x3A3) {
            size_t j = i;
            int prev = 0;
            while (j > 0 && (cls(s[j - 1]) & C_IGN)) j--;
            if (j > 0 && (cls(s[j - 1]) & C_CASED)) prev = 1;
            int fin = prev;
            if (fin) {
                size_t k = i + 1;
                while (k < n && (cls(s[k]) & C_IGN)) k++;
                fin = k == n || !(cls(s[k]) & C_CASED);
            }
            out[o++] = fin ? 0x3C2 : 0x3C3;
            continue;
        }
        o += (size_t)lower_one(c, out + o);
    }
    return o;
}

/* does s[i..) start with the ASCII literal lit, under IGNORECASE (text is lower-cased already; 's' also
 * matches U+017F, the only non-ASCII case twin of the letters used) */
static int match_lit(const uint32_t *s, size_t i, size_t n, const char *lit)
{
    for (; *lit; lit++, i++) {
        if (i >= n) return 0;
        uint32_t c = s[i], l = (unsigned char)*lit;
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c == l) continue;
        if (l == 's' && c == 0x17F) continue;
        return 0;
    }
    return 1;
}

static int grow_cp(cache *c, size_t n)
{
    if (c->cp_cap >= n) return TAC_OK;
    size_t cap = n + n / 2 + 64;
    free(c->cp_a); free(c->cp_b);
    c->cp_a = tac_try_malloc(cap, sizeof *c->cp_a, "tokenizer");
    c->cp_b = tac_try_malloc(cap, sizeof *c->cp_b, "tokenizer");
    c->cp_cap = c->cp_a && c->cp_b ? cap : 0;
    return c->cp_cap ? TAC_OK : TAC_ERR;
}

int tac_bpe_tokenize(tac_bpe *t, const char *text, int32_t *ids, int ctx)
{
    if (!t || !text || !ids) return tac_fail("tac_bpe_tokenize: NULL argument");
    if (ctx < 1) return tac_fail("tac_bpe_tokenize: context length %d must be at least 1", ctx);
    cache *c = get_cache(t);
    if (!c) return TAC_ERR;
    size_t nb = strlen(text);
    if (grow_cp(c, 2 * nb + 2) != TAC_OK) return TAC_ERR;
    /* cp_a, cp_b: code point buffers of 2*len+2 (lower-casing may double the length) */
    size_t n = utf8_decode((const unsigned char *)text, c->cp_a);
    if (memchr(text, '&', nb)) {
        n = html_unescape(c->cp_a, n, c->cp_b);
        n = html_unescape(c->cp_b, n, c->cp_a);
    }
    n = clean_space(c->cp_a, n);
    n = lower_str(c->cp_a, n, c->cp_b);
    const uint32_t *s = c->cp_b;

    /* ids: [SOT] then text ids; stop once ctx tokens are known (enough to decide truncation) */
    int have = 0;
    ids[have++] = t->sot;
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < n && have < ctx;) {
        size_t e = i;
        uint32_t ch = s[i];
        if (ch == '<' && match_lit(s, i, n, SOT_TEXT)) e = i + sizeof SOT_TEXT - 1;
        else if (ch == '<' && match_lit(s, i, n, EOT_TEXT)) e = i + sizeof EOT_TEXT - 1;
        else if (ch == '\'') {
            for (int q = 0; q < 7 && e == i; q++)
                if (match_lit(s, i, n, contractions[q])) e = i + strlen(contractions[q]);
        }
        if (e == i) {
            int k = cls(ch);
            if (k & C_L) { while (e < n && (cls(s[e]) & C_L)) e++; }
            else if (k & C_N) e = i + 1;
            else if (k & C_O) { while (e < n && (cls(s[e]) & C_O)) e++; }
            else { i++; continue; }                          /* whitespace, U+0345: no piece */
        }
        size_t need = 4 * (e - i);
        if (c->piece_cap < need) {
            free(c->piece);
            c->piece = tac_try_malloc(need * 2, 1, "tokenizer");
            c->piece_cap = c->piece ? need * 2 : 0;
            if (!c->piece) return TAC_ERR;
        }
        size_t pn = 0;
        for (size_t q = i; q < e; q++) pn += utf8_put(s[q], c->piece + pn);
        int k;
        const int32_t *w = piece_ids(t, c, c->piece, (int)pn, &k);
        if (!w) return TAC_ERR;
        for (int q = 0; q < k && have < ctx; q++) ids[have++] = w[q];
        i = e;
    }
    /* have < ctx: everything fits with EOT; have == ctx: ctx-1 tokens kept, EOT last (the cut case, or
     * exactly ctx-1 tokens before EOT - the same ids either way) */
    if (have < ctx) ids[have++] = t->eot;
    else ids[ctx - 1] = t->eot;
    for (int q = have; q < ctx; q++) ids[q] = 0;
    return have;
}

/* ---- loading ----------------------------------------------------------------------------------------- */
/* byte b -> its character in the byte alphabet (OpenAI's bytes_to_unicode), and the vocabulary order */
static void byte_alphabet(uint32_t chr_of[256], int order[256])
{
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) { chr_of[b] = (uint32_t)b; order[n++] = b; }
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) { chr_of[b] = (uint32_t)(256 + extra++); order[n++] = b; }
}

/* string -> id map used while loading (last insertion wins) */
typedef struct { char **key; int32_t *val; uint32_t cap; } strmap;

static int sm_init(strmap *m, size_t n)
{
    m->cap = 1;
    while (m->cap < 2 * n + 16) m->cap <<= 1;
    m->key = tac_try_calloc(m->cap, sizeof *m->key, "tokenizer");
    m->val = tac_try_malloc(m->cap, sizeof *m->val, "tokenizer");
    return m->key && m->val ? TAC_OK : TAC_ERR;
}
static void sm_free(strmap *m) { free(m->key); free(m->val); }
static void sm_put(strmap *m, char *k, int32_t v)
{
    uint32_t s = (uint32_t)fnv64(k, strlen(k)) & (m->cap - 1);
    while (m->key[s] && strcmp(m->key[s], k)) s = (s + 1) & (m->cap - 1);
    m->key[s] = k; m->val[s] = v;
}
static int32_t sm_get(const strmap *m, const char *k)
{
    uint32_t s = (uint32_t)fnv64(k, strlen(k)) & (m->cap - 1);
    for (; m->key[s]; s = (s + 1) & (m->cap - 1))
        if (!strcmp(m->key[s], k)) return m->val[s];
    return -1;
}

/* Builds the tokenizer from vocab strings (index = id) and merges (pairs of strings). */
static int build(tac_bpe *t, char **vocab, int32_t nvocab, char **ma, char **mb, int nm, const char *src)
{
    strmap m;
    if (sm_init(&m, (size_t)nvocab) != TAC_OK) { sm_free(&m); return TAC_ERR; }
    for (int32_t i = 0; i < nvocab; i++) if (vocab[i]) sm_put(&m, vocab[i], i);
    uint32_t chr_of[256];
    int order[256];
    byte_alphabet(chr_of, order);
    int rc = TAC_OK;
    for (int b = 0; b < 256 && rc == TAC_OK; b++) {
        char buf[16];
        size_t k = utf8_put(chr_of[b], buf);
        buf[k] = 0;
        t->byte_id[b] = sm_get(&m, buf);
        memcpy(buf + k, "</w>", 5);
        t->byte_id_w[b] = sm_get(&m, buf);
        if (t->byte_id[b] < 0 || t->byte_id_w[b] < 0)
            rc = tac_fail("%s: the vocabulary lacks the token for byte 0x%02X ('%s')", src, b, buf);
    }
    t->sot = sm_get(&m, SOT_TEXT);
    t->eot = sm_get(&m, EOT_TEXT);
    if (rc == TAC_OK && (t->sot < 0 || t->eot < 0))
        rc = tac_fail("%s: the vocabulary lacks %s", src, t->sot < 0 ? SOT_TEXT : EOT_TEXT);
    t->mcap = 1;
    while (t->mcap < 2 * (uint32_t)nm + 16) t->mcap <<= 1;
    t->mkey = tac_try_calloc(t->mcap, sizeof *t->mkey, "tokenizer");
    t->mrank = tac_try_malloc(t->mcap, sizeof *t->mrank, "tokenizer");
    t->mres = tac_try_malloc(t->mcap, sizeof *t->mres, "tokenizer");
    if (rc == TAC_OK && (!t->mkey || !t->mrank || !t->mres)) rc = TAC_ERR;
    char *cat = NULL;
    size_t catcap = 0;
    for (int r = 0; r < nm && rc == TAC_OK; r++) {
        int32_t a = sm_get(&m, ma[r]), b = sm_get(&m, mb[r]);
        size_t la = strlen(ma[r]), lb = strlen(mb[r]);
        if (la + lb + 1 > catcap) {
            catcap = 2 * (la + lb + 1);
            free(cat);
            if (!(cat = tac_try_malloc(catcap, 1, "tokenizer"))) { rc = TAC_ERR; break; }
        }
        memcpy(cat, ma[r], la); memcpy(cat + la, mb[r], lb + 1);
        int32_t res = sm_get(&m, cat);
        if (a < 0 || b < 0) continue;                 /* a pair that cannot occur in any word */
        if (res < 0) rc = tac_fail("%s: merge %d '%s %s' gives '%s', which is not in the vocabulary", src, r + 1, ma[r], mb[r], cat);
        else merge_put(t, a, b, r, res);
    }
    free(cat);
    sm_free(&m);
    t->nvocab = nvocab;
    return rc;
}

/* Reads a whole gzip (or plain) file. */
/* gzerror's message without the "path: " that zlib puts in front of it (the reason already names the file). */
static const char *gz_reason(gzFile f, const char *path)
{
    int e;
    const char *msg = gzerror(f, &e);
    if (e == Z_ERRNO) return strerror(errno);
    size_t pl = strlen(path);
    if (strncmp(msg, path, pl) == 0 && msg[pl] == ':') msg += pl + 1 + (msg[pl + 1] == ' ');
    return msg;
}

/* The whole text of a gzip (or plain) file, at most TAC_BPE_MAX_TEXT bytes: CLIP's merges file is 1.6 MB, so a
 * bigger text is the wrong file (or a gzip bomb) and is refused before it fills memory. */
#define TAC_BPE_MAX_TEXT ((size_t)64 << 20)
static int read_gz(const char *path, char **out, size_t *len)
{
    int fd = tac_open_regular(path, NULL);   /* a FIFO or device is refused, never read */
    if (fd < 0) return TAC_ERR;
    gzFile f = gzdopen(fd, "rb");
    if (!f) { close(fd); return tac_fail("%s: cannot open (%s)", path, strerror(errno)); }
    size_t cap = 1 << 20, n = 0;
    char *buf = tac_try_malloc(cap + 1, 1, path);   /* n text bytes + NUL */
    if (!buf) { gzclose(f); return TAC_ERR; }
    for (;;) {
        if (n == cap) {
            if (cap >= TAC_BPE_MAX_TEXT) {
                gzclose(f); free(buf);
                return tac_fail("%s: more than %zu MiB of text: not a CLIP BPE merges file", path, TAC_BPE_MAX_TEXT >> 20);
            }
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { gzclose(f); free(buf); return tac_fail("%s: out of memory", path); }
            cap *= 2; buf = nb;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            tac_fail("%s: corrupt or truncated gzip data (%s)", path, gz_reason(f, path));
            gzclose(f); free(buf); return TAC_ERR;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    int e;
    gzerror(f, &e);
    if (e != Z_OK && e != Z_STREAM_END) {
        tac_fail("%s: corrupt or truncated gzip data (%s)", path, gz_reason(f, path));
        gzclose(f); free(buf); return TAC_ERR;
    }
    gzclose(f);
    buf[n] = 0;
    *out = buf; *len = n;
    return TAC_OK;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Splits "a b" (Python str.split()) in place; 0 if the line does not hold exactly two fields. */
static int split_pair(char *line, char **a, char **b)
{
    char *p = line;
    while (is_ws(*p)) p++;
    if (!*p) return 0;
    *a = p;
    while (*p && !is_ws(*p)) p++;
    if (!*p) return 0;
    *p++ = 0;
    while (is_ws(*p)) p++;
    if (!*p) return 0;
    *b = p;
    while (*p && !is_ws(*p)) p++;
    char *end = p;
    while (is_ws(*p)) p++;
    if (*p) return 0;
    *end = 0;
    return 1;
}

/* OpenAI layout: a header line, then the merges; lines[1 : 1 + 48894] are used. */
static int load_openai(tac_bpe *t, const char *path)
{
    char *data = NULL; size_t len = 0;
    if (read_gz(path, &data, &len) != TAC_OK) return TAC_ERR;
    if (memchr(data, 0, len)) { free(data); return tac_fail("%s: not a BPE merges file (binary data)", path); }
    char **ma = tac_try_malloc(N_MERGES, sizeof *ma, "tokenizer"), **mb = tac_try_malloc(N_MERGES, sizeof *mb, "tokenizer");
    int nm = 0, rc = ma && mb ? TAC_OK : TAC_ERR;
    char *p = strchr(data, '\n');
    if (rc != TAC_OK) p = NULL;
    else if (!p) rc = tac_fail("%s: not a BPE merges file (no header line)", path);
    else p++;
    while (rc == TAC_OK && nm < N_MERGES && p && p <= data + len) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (!split_pair(p, &ma[nm], &mb[nm])) {
            if (!nl && !*p) break;                        /* end of file */
            rc = tac_fail("%s: line %d is not a merge \"A B\": '%.40s'", path, nm + 2, p);
            break;
        }
        nm++;
        p = nl ? nl + 1 : NULL;
    }
    if (rc == TAC_OK && nm < N_MERGES)
        rc = tac_fail("%s: truncated: %d merges, CLIP needs %d", path, nm, N_MERGES);
    if (rc == TAC_OK) {
        uint32_t chr_of[256];
        int order[256];
        byte_alphabet(chr_of, order);
        int32_t nv = 512 + nm + 2;
        char **vocab = tac_try_calloc((size_t)nv, sizeof *vocab, "tokenizer");
        if (!vocab) { free(ma); free(mb); free(data); return TAC_ERR; }
        for (int i = 0; i < 256; i++) {
            char buf[16];
            size_t k = utf8_put(chr_of[order[i]], buf);
            buf[k] = 0;
            vocab[i] = strdup(buf);
            memcpy(buf + k, "</w>", 5);
            vocab[256 + i] = strdup(buf);
        }
        for (int r = 0; r < nm; r++) {
            size_t la = strlen(ma[r]), lb = strlen(mb[r]);
            vocab[512 + r] = malloc(la + lb + 1);
            if (!vocab[512 + r]) continue;                 /* found below */
            memcpy(vocab[512 + r], ma[r], la); memcpy(vocab[512 + r] + la, mb[r], lb + 1);
        }
        vocab[512 + nm] = strdup(SOT_TEXT);
        vocab[513 + nm] = strdup(EOT_TEXT);
        for (int i = 0; i < nv && rc == TAC_OK; i++)
            if (!vocab[i]) rc = tac_fail("%s: out of memory building the vocabulary", path);
        if (rc == TAC_OK) rc = build(t, vocab, nv, ma, mb, nm, path);
        for (int i = 0; i < nv; i++) free(vocab[i]);
        free(vocab);
    }
    free(ma); free(mb); free(data);
    return rc;
}

/* Hugging Face layout: vocab.json {token: id} and merges.txt ("#version" line, then "a b" lines). */
static int load_hf(tac_bpe *t, const char *vpath, const char *mpath)
{
    char *js; size_t jl;
    if (tac_read_file_max(vpath, &js, &jl, TAC_JSON_MAX) != TAC_OK) return TAC_ERR;
    cJSON *root = cJSON_ParseWithLength(js, jl);
    free(js);
    if (!root || !cJSON_IsObject(root)) { cJSON_Delete(root); return tac_fail("%s: not a JSON object {token: id}", vpath); }
    int32_t nv = cJSON_GetArraySize(root);
    if (nv < 514) { cJSON_Delete(root); return tac_fail("%s: only %d tokens", vpath, nv); }
    char **vocab = tac_try_calloc((size_t)nv, sizeof *vocab, "tokenizer");
    int rc = vocab ? TAC_OK : TAC_ERR;
    for (cJSON *it = root->child; it && rc == TAC_OK; it = it->next) {
        if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int32_t)it->valuedouble || it->valuedouble < 0 || it->valuedouble >= nv)
            rc = tac_fail("%s: token '%s' has id %s; ids must be 0..%d", vpath, it->string, cJSON_IsNumber(it) ? "out of range" : "that is not a number", nv - 1);
        else if (vocab[(int32_t)it->valuedouble])
            rc = tac_fail("%s: id %d is given to both '%s' and '%s'", vpath, (int)it->valuedouble, vocab[(int32_t)it->valuedouble], it->string);
        else vocab[(int32_t)it->valuedouble] = it->string;
    }
    char *data = NULL; size_t len;
    char **ma = NULL, **mb = NULL;
    int nm = 0;
    if (rc == TAC_OK && tac_read_file_max(mpath, &data, &len, TAC_JSON_MAX) != TAC_OK) rc = TAC_ERR;
    if (rc == TAC_OK) {
        size_t lines = 1;
        for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
        ma = tac_try_malloc(lines, sizeof *ma, "tokenizer"); mb = tac_try_malloc(lines, sizeof *mb, "tokenizer");
        if (!ma || !mb) rc = TAC_ERR;
        int lineno = 0;
        for (char *p = data; p && rc == TAC_OK;) {
            char *nl = strchr(p, '\n');
            if (nl) *nl = 0;
            lineno++;
            if (!(lineno == 1 && !strncmp(p, "#version", 8))) {
                char *q = p;
                while (is_ws(*q)) q++;
                if (*q && !split_pair(p, &ma[nm], &mb[nm]))
                    rc = tac_fail("%s: line %d is not a merge \"A B\": '%.40s'", mpath, lineno, p);
                else if (*q) nm++;
            }
            p = nl ? nl + 1 : NULL;
        }
        if (rc == TAC_OK && nm == 0) rc = tac_fail("%s: no merges", mpath);
    }
    if (rc == TAC_OK) {
        for (int32_t i = 0; i < nv && rc == TAC_OK; i++)
            if (!vocab[i]) rc = tac_fail("%s: no token has id %d", vpath, i);
        if (rc == TAC_OK) rc = build(t, vocab, nv, ma, mb, nm, vpath);
    }
    free(ma); free(mb); free(data); free(vocab);
    cJSON_Delete(root);
    return rc;
}

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

int tac_bpe_load(const char *path, tac_bpe **out)
{
    if (!path || !out) return tac_fail("tac_bpe_load: NULL argument");
    *out = NULL;
    pthread_once(&bmp_once, bmp_init);
    tac_bpe *t = tac_try_calloc(1, sizeof *t, "tokenizer");
    if (!t) return TAC_ERR;
    int rc;
    if (is_dir(path)) {
        size_t n = strlen(path) + 64;
        char *v = tac_try_malloc(n, 1, "tokenizer"), *m = tac_try_malloc(n, 1, "tokenizer"), *g = tac_try_malloc(n, 1, "tokenizer");
        if (v && m && g) {
            snprintf(v, n, "%s/vocab.json", path);
            snprintf(m, n, "%s/merges.txt", path);
            snprintf(g, n, "%s/bpe_simple_vocab_16e6.txt.gz", path);
        }
        if (!v || !m || !g) rc = TAC_ERR;
        else if (is_file(v) && is_file(m)) rc = load_hf(t, v, m);
        else if (is_file(g)) rc = load_openai(t, g);
        else rc = tac_fail("%s: no tokenizer files (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz)", path);
        free(v); free(m); free(g);
    } else if (!is_file(path)) {
        rc = tac_fail("%s: cannot open (%s)", path, strerror(errno ? errno : ENOENT));
    } else {
        size_t l = strlen(path);
        if (l >= 5 && !strcmp(path + l - 5, ".json"))
            rc = tac_fail("%s: give the folder holding vocab.json and merges.txt, not the .json file", path);
        else rc = load_openai(t, path);
    }
    if (rc != TAC_OK) {
        free(t->mkey); free(t->mrank); free(t->mres); free(t);
        return TAC_ERR;
    }
    if (pthread_key_create(&t->key, NULL)) {
        free(t->mkey); free(t->mrank); free(t->mres); free(t);
        return tac_fail("tac_bpe_load: cannot create a thread key");
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return TAC_OK;
}

void tac_bpe_free(tac_bpe *t)
{
    if (!t) return;
    for (cache *c = t->caches, *nx; c; c = nx) { nx = c->next; cache_free(c); }
    pthread_key_delete(t->key);
    pthread_mutex_destroy(&t->mu);
    free(t->mkey); free(t->mrank); free(t->mres);
    free(t);
}
