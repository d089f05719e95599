/* tac_embed.c - the embedding jobs (include/taclust/embed.h): listing image inputs, embedding a list of images
 * in batches with per-image error handling, and embedding prompts / nouns with templates.
 *
 * Images: each batch of paths is decoded and preprocessed in parallel (OpenMP over images, one image per
 * thread), the readable ones are packed and encoded with one tac_clip_encode_images call (BLAS threads, outside
 * any parallel region), then scattered back with zero rows for the skipped ones.
 *
 * Text: prompts are tokenised in parallel (one tokenizer per thread when a tokenizer path is given) into one
 * compact array of token sequences cut after EOT; identical sequences are encoded once; sequences are sorted by
 * token ids (nouns: by template first, and a batch never mixes two templates), so the sequences of a batch share
 * a token prefix that the text tower runs once (tac_clip_forward.c), and encoded in batches whose context is the
 * longest sequence of the batch. Nouns: their ntemplates sequences are grouped per noun, nouns with identical
 * groups are encoded once, the distinct nouns are ordered by tokens (neighbouring nouns share first words), and
 * chunks of nouns are encoded and averaged in double (in template order), then L2-normalised.
 * Over several ranks (tac_embed_*_dist) every rank plans the same batches and encodes a contiguous run of them
 * (encode_sorted), the rows are gathered; the program's resumable form (tac_embed_*_cached, tac_embed_cache.h) looks
 * each batch up by the hash of its token ids before encoding it.
 */
#include "taclust/embed.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/image.h"
#include "core/tac_internal.h"
#include "core/tac_dist.h"
#include "pipeline/tac_embed_cache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* =========================================== inputs ================================================== */

int tac_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash)) return 0;
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".webp"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

/* A growing list of strings. */
typedef struct { char **s; int64_t n, cap; } strlist;

/* Appends s (taken over; NULL: a failed allocation). TAC_ERR with the reason when memory is short (s freed). */
static int strlist_push(strlist *l, char *s)
{
    if (!s) return tac_fail("listing inputs: out of memory");
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **ns = realloc(l->s, (size_t)cap * sizeof(char *));
        if (!ns) { free(s); return tac_fail("listing inputs: out of memory"); }
        l->s = ns; l->cap = cap;
    }
    l->s[l->n++] = s;
    return TAC_OK;
}

/* malloc'd copy of s, NULL with the reason set when memory is short. */
static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tac_try_malloc(n, 1, "embedding");
    if (p) memcpy(p, s, n);
    return p;
}

/* The set of folders already walked, by (device, inode): an open-addressing hash table. */
typedef struct { uint64_t *dev, *ino; uint8_t *used; size_t cap, n; } dirset;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

/* Returns 1 if (dev, ino) was added, 0 if it was already there, TAC_ERR (-1) with the reason when memory is short. */
static int dirset_add(dirset *s, uint64_t dev, uint64_t ino)
{
    if (2 * (s->n + 1) > s->cap) {
        dirset t = {0};
        t.cap = s->cap ? 2 * s->cap : 256;
        t.dev = tac_try_calloc(t.cap, sizeof(uint64_t), "listing inputs");
        t.ino = tac_try_calloc(t.cap, sizeof(uint64_t), "listing inputs");
        t.used = tac_try_calloc(t.cap, 1, "listing inputs");
        if (!t.dev || !t.ino || !t.used) { free(t.dev); free(t.ino); free(t.used); return TAC_ERR; }
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i]) dirset_add(&t, s->dev[i], s->ino[i]);
        free(s->dev); free(s->ino); free(s->used);
        *s = t;
    }
    size_t i = mix64(dev * 0x9e3779b97f4a7c15ULL ^ ino) & (s->cap - 1);
    while (s->used[i]) {
        if (s->dev[i] == dev && s->ino[i] == ino) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->used[i] = 1; s->dev[i] = dev; s->ino[i] = ino; s->n++;
    return 1;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = tac_try_malloc(a + b + 2, 1, "listing inputs");
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* What the walk does not take but a user could expect it to: kept with the reason (NULL lists: not kept). */
typedef struct {
    strlist *skipped, *why;
    uint64_t out_dev, out_ino;   /* the output folder (never an input); out_set = 0 when there is none */
    int out_set;
} walk_ctx;

/* TAC_ERR only when memory is short. */
static int skip(walk_ctx *w, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int skip(walk_ctx *w, const char *path, const char *fmt, ...)
{
    if (!w->skipped) return TAC_OK;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (strlist_push(w->skipped, dup_str(path)) != TAC_OK) return TAC_ERR;
    if (strlist_push(w->why, dup_str(why)) != TAC_OK) { free(w->skipped->s[--w->skipped->n]); return TAC_ERR; }
    return TAC_OK;
}

/* A folder taclust wrote: it holds the marker file, or (runs made before the marker) run.json beside cache/. */
int tac_is_output_folder(const char *dir)
{
    char p[PATH_MAX];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, TAC_OUTPUT_MARKER) < (int)sizeof p && lstat(p, &st) == 0) return 1;
    if (snprintf(p, sizeof p, "%s/run.json", dir) >= (int)sizeof p || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (snprintf(p, sizeof p, "%s/cache/embeddings.bin", dir) >= (int)sizeof p || stat(p, &st) != 0) return 0;
    return 1;
}

/* 1 (with a skipped entry) if the folder p (stat st) must not be walked: the output folder or one taclust wrote;
 * TAC_ERR when memory is short. */
static int skip_output_folder(walk_ctx *w, const char *p, const struct stat *st)
{
    if (w->out_set && (uint64_t)st->st_dev == w->out_dev && (uint64_t)st->st_ino == w->out_ino)
        return skip(w, p, "the output folder of this run: not read as input") == TAC_OK ? 1 : TAC_ERR;
    if (tac_is_output_folder(p))
        return skip(w, p, "a folder taclust wrote (it holds %s or run.json + cache/): not read as input",
                    TAC_OUTPUT_MARKER) == TAC_OK ? 1 : TAC_ERR;
    return 0;
}

static const char *kind_of(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO (named pipe)" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) || S_ISBLK(m) ? "a device" :
           "not a regular file";
}

/* TAC_OK, TAC_ERR (out of memory, or a sub folder that cannot be read when nothing is kept as skipped), or
 * WALK_UNREADABLE when dir itself cannot be read (the reason set). */
#define WALK_UNREADABLE 1
static int walk_dir(const char *dir, dirset *seen, strlist *out, walk_ctx *w)
{
    DIR *d = opendir(dir);
    if (!d) { tac_fail("%s: cannot read folder: %s", dir, strerror(errno)); return WALK_UNREADABLE; }
    strlist names = {0};
    struct dirent *e;
    int rc = TAC_OK;
    while (rc == TAC_OK && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) rc = strlist_push(&names, dup_str(e->d_name));
    closedir(d);
    if (names.n > 1) qsort(names.s, (size_t)names.n, sizeof(char *), cmp_str);
    for (int64_t i = 0; i < names.n && rc == TAC_OK; i++) {
        const char *name = names.s[i];
        int image = tac_is_image_name(name);
        char *p = join_path(dir, name);
        struct stat st;
        if (!p) { rc = TAC_ERR; break; }
        if (strlen(p) >= PATH_MAX) {          /* no system call can open it */
            if (image) rc = skip(w, p, "the path is longer than PATH_MAX (%d bytes): cannot be opened", PATH_MAX);
            else rc = skip(w, p, "the path is longer than PATH_MAX (%d bytes): not walked", PATH_MAX);
            free(p);
            continue;
        }
        if (name[0] == '.') {                 /* hidden: not taken, but said when it looks like an image or a folder */
            if (image) rc = skip(w, p, "hidden file (the name starts with '.'): not taken");
            else if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) rc = skip(w, p, "hidden folder (the name starts with '.'): not walked");
            free(p);
            continue;
        }
        if (stat(p, &st) != 0) {              /* broken symlink, link loop, no permission, or vanished meanwhile */
            if (image) rc = skip(w, p, "%s", strerror(errno));
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int so = skip_output_folder(w, p, &st), added = so == 0 ? dirset_add(seen, (uint64_t)st.st_dev, (uint64_t)st.st_ino) : 0;
            if (so < 0 || added < 0) rc = TAC_ERR;
            else if (added) {
                rc = walk_dir(p, seen, out, w);
                if (rc == WALK_UNREADABLE)            /* an unreadable sub folder: said, the walk goes on */
                    rc = w->skipped ? skip(w, p, "%s", tac_last_error()) : TAC_ERR;
            }
            free(p);
        } else if (image && S_ISREG(st.st_mode)) {
            rc = strlist_push(out, p);
        } else {
            if (image) rc = skip(w, p, "is %s, not a regular file", kind_of(st.st_mode));
            free(p);
        }
    }

    tac_free_strings(names.s, names.n);
    return rc;
}

/* 1 (with a skipped entry) if an input named on the command line or in a list lies inside the output folder or
 * inside a folder taclust wrote (some folder above it is one), e.g. OUT/by-cluster/03-cat; TAC_ERR when memory is
 * short. */
static int inside_output(walk_ctx *w, const char *in)
{
    char real[PATH_MAX];
    if (!realpath(in, real)) return 0;
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
        if (slash == real) slash[1] = 0; else *slash = 0;        /* the parent ("/" last) */
        struct stat st;
        if (stat(real, &st) == 0 && ((w->out_set && (uint64_t)st.st_dev == w->out_dev && (uint64_t)st.st_ino == w->out_ino) ||
                                     tac_is_output_folder(real))) {
            return skip(w, in, "inside %s, a folder taclust wrote: not read as input", real) == TAC_OK ? 1 : TAC_ERR;
        }
        if (slash == real) break;
    }
    return 0;
}

static int add_input(const char *in, dirset *seen, strlist *out, walk_ctx *w)
{
    struct stat st;
    if (stat(in, &st) != 0) return tac_fail("%s: %s", in, strerror(errno));
    if (w->skipped || w->out_set) {
        int io = inside_output(w, in);
        if (io) return io > 0 ? TAC_OK : TAC_ERR;
    }
    if (S_ISDIR(st.st_mode)) {
        int so = skip_output_folder(w, in, &st);
        if (so) return so > 0 ? TAC_OK : TAC_ERR;
        int added = dirset_add(seen, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
        if (added <= 0) return added == 0 ? TAC_OK : TAC_ERR;   /* walked already */
        return walk_dir(in, seen, out, w) == TAC_OK ? TAC_OK : TAC_ERR;
    }
    return strlist_push(out, dup_str(in));   /* an explicit file, whatever its name (unreadable ones fail later) */
}

int tac_list_inputs_ex(const char *const *inputs, int ninputs, const char *list_file, const char *out_dir,
                       char ***paths, int64_t *n, char ***skipped, char ***why, int64_t *nskipped)
{
    if (!paths || !n || (ninputs > 0 && !inputs) || ninputs < 0 || (skipped && (!why || !nskipped)))
        return tac_fail("tac_list_inputs: NULL or negative argument");
    strlist out = {0}, sk = {0}, wy = {0};
    dirset seen = {0};
    walk_ctx w = {0};
    if (skipped) { w.skipped = &sk; w.why = &wy; }
    struct stat ost;
    if (out_dir && stat(out_dir, &ost) == 0) { w.out_set = 1; w.out_dev = (uint64_t)ost.st_dev; w.out_ino = (uint64_t)ost.st_ino; }
    int rc = TAC_OK;
    for (int i = 0; i < ninputs && rc == TAC_OK; i++) rc = add_input(inputs[i], &seen, &out, &w);
    if (rc == TAC_OK && list_file) {
        char **lines = NULL; int64_t nl = 0;
        rc = tac_read_lines(list_file, &lines, &nl, 1);
        for (int64_t i = 0; i < nl && rc == TAC_OK; i++) {
            rc = add_input(lines[i], &seen, &out, &w);
            if (rc != TAC_OK) {
                char reason[1024];
                snprintf(reason, sizeof reason, "%s", tac_last_error());
                tac_fail("%s line %lld: %s", list_file, (long long)i + 1, reason);
            }
        }
        if (lines) tac_free_strings(lines, nl);
    }
    free(seen.dev); free(seen.ino); free(seen.used);
    if (rc == TAC_OK && !out.s && !(out.s = tac_try_calloc(1, sizeof(char *), "listing inputs"))) rc = TAC_ERR;
    if (rc == TAC_OK && skipped && !sk.s && !(sk.s = tac_try_calloc(1, sizeof(char *), "listing inputs"))) rc = TAC_ERR;
    if (rc == TAC_OK && skipped && !wy.s && !(wy.s = tac_try_calloc(1, sizeof(char *), "listing inputs"))) rc = TAC_ERR;
    if (rc != TAC_OK) { tac_free_strings(out.s, out.n); tac_free_strings(sk.s, sk.n); tac_free_strings(wy.s, wy.n); return TAC_ERR; }
    *paths = out.s;
    *n = out.n;
    if (skipped) {
        *skipped = sk.s;
        *why = wy.s;
        *nskipped = sk.n;
    }
    return TAC_OK;
}

int tac_list_inputs(const char *const *inputs, int ninputs, const char *list_file, char ***paths, int64_t *n)
{
    return tac_list_inputs_ex(inputs, ninputs, list_file, NULL, paths, n, NULL, NULL, NULL);
}

/* =========================================== images ================================================== */

tac_embed_images_params tac_embed_images_default_params(void)
{
    tac_embed_images_params p = {.resize = 224, .batch = 32, .label = "embedding images"};   /* the rest 0 / NULL */
    return p;
}

/* The reason without a leading "PATH: " (the caller prints the path itself); NULL when memory is short. */
static char *reason_without_path(const char *why, const char *path)
{
    size_t lp = strlen(path);
    if (strncmp(why, path, lp) == 0 && why[lp] == ':' && why[lp + 1] == ' ') why += lp + 2;
    return dup_str(why[0] ? why : "unknown error");
}

/* Threads a call may use (the params' threads, 0: tac_num_threads()). */
static int call_threads(int threads)
{
    int t = threads > 0 ? threads : tac_num_threads();
    return t > 0 ? t : 1;
}

int tac_embed_images(const tac_clip *m, const char *const *paths, int64_t n, const tac_embed_images_params *p,
                     float *out, int8_t *ok, int64_t *nok)
{
    if (!m || (n > 0 && !paths) || n < 0) return tac_fail("tac_embed_images: no model, no paths or a negative count");
    tac_embed_images_params dp = tac_embed_images_default_params();
    if (!p) p = &dp;
    const int E = tac_clip_embed_dim(m), S = tac_clip_image_size(m);
    if (p->batch < 1) return tac_fail("batch must be at least 1 (got %d)", p->batch);
    if (p->threads < 0) return tac_fail("threads must be 0 (default) or positive (got %d)", p->threads);
    const int nthr = call_threads(p->threads);
    if (p->resize < S || p->resize > 8192)
        return tac_fail("resize %d is not valid: the shorter side must be at least the crop size %d", p->resize, S);
    const size_t P = (size_t)3 * S * S;
    const int B = p->batch;
    float *pix = tac_try_malloc((size_t)B * P, sizeof(float), "images: a batch of pixels (lower --batch)");  /* B x 3 x S x S */
    if (!pix) return TAC_ERR;
    float *emb = tac_try_malloc((size_t)B * E, sizeof(float), "images: a batch of embeddings");   /* B x E */
    int8_t *okb = tac_try_malloc((size_t)B, 1, "images");                                       /* B */
    char **why = tac_try_calloc((size_t)B, sizeof(char *), "images");     /* B reasons (NULL when embedded) */
    tac_clip_state *st = NULL;           /* the workspaces, kept over the batches */
    if (!emb || !okb || !why || tac_clip_state_new(m, nthr, &st) != TAC_OK) {
        free(pix); free(emb); free(okb); free(why);
        return TAC_ERR;
    }
    tac_progress pr;
    if (p->label) tac_progress_begin_fn(&pr, p->progress, p->progress_user, p->label, n);
    int64_t good = 0;
    int rc = TAC_OK;
    for (int64_t first = 0; first < n && rc == TAC_OK; first += B) {
        const int cnt = (int)(n - first < B ? n - first : B);
        int short_mem = 0;
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nthr)
        for (int i = 0; i < cnt; i++) {
            const char *path = paths[first + i];
            tac_image img = {0};
            okb[i] = 0;
            if (tac_image_load(path, &img) != TAC_OK) {
                why[i] = reason_without_path(tac_last_error(), path);
            } else {
                if (tac_clip_preprocess(&img, p->resize, S, pix + (size_t)i * P) != TAC_OK)
                    why[i] = reason_without_path(tac_last_error(), path);
                else
                    okb[i] = 1;
                tac_image_free(&img);
            }
            if (!okb[i] && !why[i]) {      /* not even the reason could be kept: memory is short */
                #pragma omp atomic write
                short_mem = 1;
            }
        }
        if (short_mem) { rc = tac_fail("images: out of memory in the batch starting at %s", paths[first]); break; }
        int k = 0;   /* pack the readable images to the front */
        for (int i = 0; i < cnt; i++)
            if (okb[i]) {
                if (k != i) memcpy(pix + (size_t)k * P, pix + (size_t)i * P, P * sizeof(float));
                k++;
            }
        if (k > 0 && tac_clip_encode_images_st(st, pix, k, emb) != TAC_OK) {
            char e[1024];
            snprintf(e, sizeof e, "%s", tac_last_error());
            rc = tac_fail("image tower failed on the batch starting at %s: %s", paths[first], e);
            break;
        }
        good += k;
        for (int i = cnt - 1; i >= 0; i--) {   /* scatter back from the end (k <= i), zero rows for skipped */
            if (okb[i]) {
                k--;
                if (k != i) memcpy(emb + (size_t)i * E, emb + (size_t)k * E, (size_t)E * sizeof(float));
            } else {
                memset(emb + (size_t)i * E, 0, (size_t)E * sizeof(float));
            }
        }
        if (out) memcpy(out + (size_t)first * E, emb, (size_t)cnt * E * sizeof(float));
        if (ok) memcpy(ok + first, okb, (size_t)cnt);
        if (p->on_batch) {
            tac_clear_error();
            if (p->on_batch(p->ctx, first, cnt, emb, okb, (const char *const *)why) != 0)
                rc = tac_last_error()[0] ? TAC_ERR : tac_fail("stopped by the batch callback");
        }
        for (int i = 0; i < cnt; i++) { free(why[i]); why[i] = NULL; }
        if (p->label) tac_progress_update(&pr, first + cnt);
    }
    if (p->label) tac_progress_end(&pr);
    for (int i = 0; i < B; i++) free(why[i]);      /* a batch left early */
    tac_clip_state_free(st);
    free(pix); free(emb); free(okb); free(why);
    if (nok) *nok = good;
    return rc;
}

/* =========================================== text ==================================================== */

tac_embed_text_params tac_embed_text_default_params(void)
{
    tac_embed_text_params p = {.batch = 512, .label = "embedding text"};   /* the rest 0 / NULL */
    return p;
}

char *tac_prompt_format(const char *tmpl, const char *noun)
{
    const char *f = strstr(tmpl, "{}");
    if (!f) return dup_str(tmpl);
    size_t a = (size_t)(f - tmpl), b = strlen(noun), c = strlen(f + 2);
    char *s = tac_try_malloc(a + b + c + 1, 1, "prompt");
    if (!s) return NULL;
    memcpy(s, tmpl, a);
    memcpy(s + a, noun, b);
    memcpy(s + a + b, f + 2, c + 1);
    return s;
}

/* Token sequences, each cut after its EOT: sequence i is ids[off[i] .. off[i+1]). */
typedef struct { int32_t *ids; int64_t *off; int64_t n; } tokseqs;

static void tokseqs_free(tokseqs *s) { free(s->ids); free(s->off); memset(s, 0, sizeof *s); }

/* Prompt i of a job: either prompts[i], or templates[i % nt] formatted with nouns[i / nt]. */
typedef struct { const char *const *texts; const char *const *templates; int nt; } prompt_src;

static char *prompt_at(const prompt_src *src, int64_t i)
{
    if (!src->templates) return (char *)src->texts[i];
    return tac_prompt_format(src->templates[i % src->nt], src->texts[i / src->nt]);
}

/* Tokenises n prompts into s, in chunks tokenised in parallel by nthr threads with the model's tokenizer (safe
 * from several threads: each has its own word cache in it). */
static int tokenize_all(const tac_clip *m, const prompt_src *src, int64_t n, int nthr, tokseqs *s)
{
    memset(s, 0, sizeof *s);
    tac_bpe *bpe = tac_clip_tokenizer(m);
    if (!bpe) return TAC_ERR;   /* the reason says why the model has no tokenizer */
    if (n < 64) nthr = 1;
    const int64_t CH = 16384;
    int32_t *buf = tac_try_malloc((size_t)CH * TAC_CLIP_CONTEXT, sizeof(int32_t), "tokenizing");   /* CH x 77 */
    int *len = tac_try_malloc((size_t)CH, sizeof(int), "tokenizing");                               /* CH */
    int64_t cap = n * 12 + 16;
    s->ids = tac_try_malloc((size_t)cap, sizeof(int32_t), "tokenizing");
    s->off = tac_try_malloc((size_t)n + 1, sizeof(int64_t), "tokenizing");
    if (!buf || !len || !s->ids || !s->off) { free(buf); free(len); tokseqs_free(s); return TAC_ERR; }
    s->off[0] = 0;
    s->n = n;
    int bad = 0;
    char why[512] = "";
    for (int64_t c0 = 0; c0 < n && !bad; c0 += CH) {
        const int64_t cnt = n - c0 < CH ? n - c0 : CH;
        #pragma omp parallel for schedule(dynamic, 64) num_threads(nthr)
        for (int64_t i = 0; i < cnt; i++) {
            char *txt = prompt_at(src, c0 + i);
            len[i] = txt ? tac_bpe_tokenize(bpe, txt, buf + (size_t)i * TAC_CLIP_CONTEXT, TAC_CLIP_CONTEXT) : TAC_ERR;
            if (len[i] < 0) {
                #pragma omp critical   /* unnamed: a named one would be an exported .gomp_critical_user_ symbol */
                if (!bad) { bad = 1; snprintf(why, sizeof why, "prompt %lld: %s", (long long)(c0 + i), tac_last_error()); }
            }
            if (src->templates) free(txt);
        }
        if (bad) break;
        for (int64_t i = 0; i < cnt && !bad; i++) {
            int l = len[i];
            if (l < 1 || l > TAC_CLIP_CONTEXT) l = TAC_CLIP_CONTEXT;   /* defensive: keep the whole context */
            int64_t at = s->off[c0 + i];
            if (at + l > cap) {
                int64_t ncap = 2 * cap + l;
                int32_t *ni = realloc(s->ids, (size_t)ncap * sizeof(int32_t));
                if (!ni) { bad = 1; snprintf(why, sizeof why, "prompt %lld: out of memory", (long long)(c0 + i)); break; }
                s->ids = ni; cap = ncap;
            }
            memcpy(s->ids + at, buf + (size_t)i * TAC_CLIP_CONTEXT, (size_t)l * sizeof(int32_t));
            s->off[c0 + i + 1] = at + l;
        }
    }
    free(buf); free(len);
    if (bad) { tokseqs_free(s); return tac_fail("tokenizer failed on %s", why); }
    return TAC_OK;
}

static uint64_t hash_ids(const int32_t *x, int64_t len, uint64_t h)
{
    for (int64_t i = 0; i < len; i++) h = mix64(h ^ (uint64_t)(uint32_t)x[i]) + 0x9e3779b97f4a7c15ULL;
    return mix64(h ^ (uint64_t)len);
}

/* Groups of g consecutive sequences (group u = sequences u*g .. u*g+g-1): rep[u] = the first group with the
 * same token ids. Returns the number of distinct groups, TAC_ERR when memory is short. */
static int64_t dedup_groups(const tokseqs *s, int g, int64_t ngroups, int64_t *rep)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)ngroups) cap *= 2;
    int64_t *tab = tac_try_malloc(cap, sizeof(int64_t), "text dedup");   /* group index or -1 */
    if (!tab) return TAC_ERR;
    for (size_t i = 0; i < cap; i++) tab[i] = -1;
    int64_t distinct = 0;
    for (int64_t u = 0; u < ngroups; u++) {
        const int64_t a = s->off[u * g], b = s->off[u * g + g];
        uint64_t h = hash_ids(s->ids + a, b - a, 0);
        for (int j = 0; j < g; j++) h = mix64(h + (uint64_t)(s->off[u * g + j + 1] - s->off[u * g + j]));
        size_t i = h & (cap - 1);
        rep[u] = u;
        while (tab[i] >= 0) {
            int64_t v = tab[i];
            const int64_t va = s->off[v * g], vb = s->off[v * g + g];
            int same = vb - va == b - a && memcmp(s->ids + va, s->ids + a, (size_t)(b - a) * sizeof(int32_t)) == 0;
            for (int j = 0; same && j < g; j++)
                same = s->off[v * g + j + 1] - s->off[v * g + j] == s->off[u * g + j + 1] - s->off[u * g + j];
            if (same) { rep[u] = v; break; }
            i = (i + 1) & (cap - 1);
        }
        if (rep[u] == u) { tab[i] = u; distinct++; }
    }
    free(tab);
    return distinct;
}

/* Sort context: the sequences, and g > 1 when sequence q is prompt q % g of its noun (its template). */
typedef struct { const tokseqs *s; int g; } sort_ctx;

/* Sequences a and b by token ids (lexicographic, a prefix first), then by index. */
static int cmp_tokens(const tokseqs *s, int64_t a, int64_t b)
{
    int64_t la = s->off[a + 1] - s->off[a], lb = s->off[b + 1] - s->off[b];
    const int32_t *x = s->ids + s->off[a], *y = s->ids + s->off[b];
    for (int64_t i = 0; i < la && i < lb; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* qsort_r order of sequence indices: by template (when g > 1), then by token ids (sequences that share a token
 * prefix are adjacent, so a batch shares the template's prefix, and often more, which the text tower runs once). */
static int cmp_seq(const void *pa, const void *pb, void *ctx)
{
    const sort_ctx *c = ctx;
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    if (c->g > 1 && a % c->g != b % c->g) return a % c->g < b % c->g ? -1 : 1;
    return cmp_tokens(c->s, a, b);
}

/* qsort_r order of noun indices by the tokens of their first prompt: the nouns of a chunk are neighbours in token
 * order, so consecutive prompts of one template share more than the template's prefix. */
static int cmp_noun(const void *pa, const void *pb, void *ctx)
{
    const sort_ctx *c = ctx;
    return cmp_tokens(c->s, *(const int64_t *)pa * c->g, *(const int64_t *)pb * c->g);
}

/* Start of the batch after the one starting at j: at most B sequences that never mix two templates (g > 1: template
 * of q = q % g). */
static int64_t batch_end(const int64_t *idx, int64_t j, int64_t cnt, int B, int g)
{
    int64_t b = 1;
    while (b < B && j + b < cnt && (g <= 1 || idx[j + b] % g == idx[j] % g)) b++;
    return j + b;
}

/* Encodes the sequences idx[0..cnt) (sorted by cmp_seq) in batches of at most B that never mix two templates
 * (g > 1: template of q = q % g); out: cnt x E in idx order. With a communicator of several ranks, the batches
 * are shared (tac_comm_share of the batch count: each rank a contiguous run of the very batches the single process
 * runs), each rank encodes its run and the rows are gathered, so every rank holds all cnt rows; a failure on any
 * rank is TAC_ERR on every rank (tac_comm_check). */
static int encode_sorted(tac_clip_state *st, int E, const tokseqs *s, const int64_t *idx, int64_t cnt, int B, int g,
                         float *out, tac_progress *pr, int64_t *done, const tac_comm *c, tac_text_batch_cache *cache)
{
    int64_t lo = 0, hi = cnt, *bytes = NULL;   /* this rank's rows; R part sizes in bytes */
    int rc = TAC_OK;
    if (tac_dist_active(c)) {
        int64_t nb = 0;
        for (int64_t j = 0; j < cnt; j = batch_end(idx, j, cnt, B, g)) nb++;
        bytes = tac_try_calloc((size_t)c->size, sizeof(int64_t), "text batch");   /* R */
        if (!bytes) rc = TAC_ERR;
        for (int r = 0; r < c->size && rc == TAC_OK; r++) {
            int64_t b0, b1, q = 0, j = 0, a = cnt, z = cnt;
            tac_comm_share(nb, r, c->size, &b0, &b1);
            for (; j < cnt; j = batch_end(idx, j, cnt, B, g), q++) {
                if (q == b0) a = j;
                if (q == b1) { z = j; break; }
            }
            if (b0 == b1) z = a;
            bytes[r] = (z - a) * E * (int64_t)sizeof(float);
            if (r == c->rank) { lo = a; hi = z; }
        }
    }
    int32_t *ids = rc == TAC_OK ? tac_try_malloc((size_t)B * TAC_CLIP_CONTEXT, sizeof(int32_t), "text batch") : NULL;   /* B x ctx */
    if (!ids) rc = TAC_ERR;
    for (int64_t j = lo; j < hi && rc == TAC_OK;) {
        int b = (int)(batch_end(idx, j, cnt, B, g) - j);
        int ctx = 0;
        for (int i = 0; i < b; i++) {
            int l = (int)(s->off[idx[j + i] + 1] - s->off[idx[j + i]]);
            if (l > ctx) ctx = l;
        }
        memset(ids, 0, (size_t)b * ctx * sizeof(int32_t));
        for (int i = 0; i < b; i++) {
            int64_t q = idx[j + i];
            memcpy(ids + (size_t)i * ctx, s->ids + s->off[q], (size_t)(s->off[q + 1] - s->off[q]) * sizeof(int32_t));
        }
        /* a cache (the program's resumable runs) keyed by the batch's token ids: the same batch, the same rows */
        uint64_t key = cache ? hash_ids(ids, (int64_t)b * ctx, mix64((uint64_t)b * 131 + (uint64_t)ctx)) : 0;
        if (cache && cache->get(cache->user, key, b, out + (size_t)j * E)) {
            cache->hits++;
        } else {
            if (tac_clip_encode_tokens_st(st, ids, b, ctx, out + (size_t)j * E) != TAC_OK) { rc = TAC_ERR; break; }
            if (cache && cache->put(cache->user, key, b, out + (size_t)j * E) != TAC_OK) { rc = TAC_ERR; break; }
        }
        j += b;
        *done += b;
        if (pr) tac_progress_update(pr, *done);
    }
    free(ids);
    if (tac_dist_active(c)) {
        rc = tac_comm_check(c, rc);
        if (rc == TAC_OK) rc = tac_comm_check(c, c->allgather(c, out, bytes));
    }
    free(bytes);
    return rc;
}

/* Checks the common arguments of the text calls; *nthr = the threads the call may use. */
static int text_args(const tac_clip *m, int64_t n, const void *texts, const float *out, const tac_embed_text_params *p,
                     int *nthr)
{
    if (!m || (n > 0 && (!texts || !out)) || n < 0) return tac_fail("embedding text: no model, no texts, no output or a negative count");
    if (p->batch < 1) return tac_fail("batch must be at least 1 (got %d)", p->batch);
    if (p->threads < 0) return tac_fail("threads must be 0 (default) or positive (got %d)", p->threads);
    *nthr = call_threads(p->threads);
    return TAC_OK;
}

/* tac_embed_prompts(_dist). Every failure path goes through tac_comm_check (a no-op for one process), so the ranks
 * make the same collective calls in the same order whichever of them fails. */
static int embed_prompts(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                         const tac_comm *c, tac_text_batch_cache *cache, float *out)
{
    tac_embed_text_params dp = tac_embed_text_default_params();
    if (!p) p = &dp;
    int nthr = 1;
    if (text_args(m, n, prompts, out, p, &nthr) != TAC_OK) return tac_comm_check(c, TAC_ERR);
    if (n == 0) return TAC_OK;
    const int E = tac_clip_embed_dim(m);
    prompt_src src = {prompts, NULL, 1};
    tokseqs s;
    if (tokenize_all(m, &src, n, nthr, &s) != TAC_OK) return tac_comm_check(c, TAC_ERR);
    int64_t *rep = tac_try_malloc((size_t)n, sizeof(int64_t), "embedding text");   /* N: first prompt with the same tokens */
    int64_t u = rep ? dedup_groups(&s, 1, n, rep) : TAC_ERR;
    int64_t *idx = u >= 0 ? tac_try_malloc((size_t)u, sizeof(int64_t), "embedding text") : NULL;  /* U distinct prompts, in token order */
    float *tmp = idx ? tac_try_malloc((size_t)u * E, sizeof(float), "embedding text") : NULL;  /* U x E in idx order */
    tac_clip_state *st = NULL;
    if (tac_comm_check(c, tmp && tac_clip_state_new(m, nthr, &st) == TAC_OK ? TAC_OK : TAC_ERR) != TAC_OK) {
        tac_clip_state_free(st);
        free(tmp); free(idx); free(rep); tokseqs_free(&s);
        return TAC_ERR;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) if (rep[i] == i) idx[k++] = i;
    sort_ctx sctx = {&s, 1};
    qsort_r(idx, (size_t)u, sizeof(int64_t), cmp_seq, &sctx);
    tac_progress pr;
    if (p->label) tac_progress_begin_fn(&pr, p->progress, p->progress_user, p->label, u);
    int64_t done = 0;
    int rc = encode_sorted(st, E, &s, idx, u, p->batch, 1, tmp, p->label ? &pr : NULL, &done, c, cache);
    if (p->label) tac_progress_end(&pr);
    tac_clip_state_free(st);
    if (rc == TAC_OK) {
        for (int64_t j = 0; j < u; j++) memcpy(out + (size_t)idx[j] * E, tmp + (size_t)j * E, (size_t)E * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            if (rep[i] != i) memcpy(out + (size_t)i * E, out + (size_t)rep[i] * E, (size_t)E * sizeof(float));
    }
    free(tmp); free(idx); free(rep); tokseqs_free(&s);
    return rc;
}

int tac_embed_prompts(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                      float *out)
{
    return embed_prompts(m, prompts, n, p, NULL, NULL, out);
}

int tac_embed_prompts_dist(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                           const tac_comm *comm, float *out)
{
    return embed_prompts(m, prompts, n, p, comm, NULL, out);
}

int tac_embed_prompts_cached(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                             const tac_comm *comm, tac_text_batch_cache *cache, float *out)
{
    return embed_prompts(m, prompts, n, p, comm, cache, out);
}

/* tac_embed_nouns(_dist); failures as embed_prompts. */
static int embed_nouns(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                       int ntemplates, const tac_embed_text_params *p, const tac_comm *c, tac_text_batch_cache *cache,
                       float *out)
{
    tac_embed_text_params dp = tac_embed_text_default_params();
    if (!p) p = &dp;
    int nthr = 1;
    if (text_args(m, n, nouns, out, p, &nthr) != TAC_OK) return tac_comm_check(c, TAC_ERR);
    if (ntemplates < 1 || !templates) return tac_comm_check(c, tac_fail("at least one prompt template is needed"));
    for (int t = 0; t < ntemplates; t++)   /* without the field every noun would get the same embedding */
        if (!templates[t] || !strstr(templates[t], "{}"))
            return tac_comm_check(c, tac_fail("prompt template %d (\"%.60s\") has no \"{}\" for the noun", t,
                            templates[t] ? templates[t] : "(null)"));
    if (n == 0) return TAC_OK;
    const int E = tac_clip_embed_dim(m), G = ntemplates;
    prompt_src src = {nouns, templates, G};
    tokseqs s;
    if (tokenize_all(m, &src, n * G, nthr, &s) != TAC_OK) return tac_comm_check(c, TAC_ERR);
    const char *what = "embedding nouns";
    int64_t *rep = tac_try_malloc((size_t)n, sizeof(int64_t), what);   /* M: first noun with the same G token sequences */
    int64_t u = rep ? dedup_groups(&s, G, n, rep) : TAC_ERR;
    int64_t *uniq = u >= 0 ? tac_try_malloc((size_t)u, sizeof(int64_t), what) : NULL;  /* U distinct nouns */
    if (!uniq) { free(rep); tokseqs_free(&s); return tac_comm_check(c, TAC_ERR); }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) if (rep[i] == i) uniq[k++] = i;
    sort_ctx nctx = {&s, G};
    qsort_r(uniq, (size_t)u, sizeof(int64_t), cmp_noun, &nctx);   /* chunks of nouns that are neighbours in tokens */

    /* Chunks of CH distinct nouns: their CH*G prompts sorted by template then tokens (each batch shares its
     * template's token prefix), encoded, averaged per noun in double in template order. */
    const int64_t CH = 4096;
    int64_t *idx = tac_try_malloc((size_t)CH * G, sizeof(int64_t), what);          /* CH*G sequence indices */
    int64_t *pos = tac_try_malloc((size_t)CH * G, sizeof(int64_t), what);          /* CH x G: row in tmp of (noun, template) */
    float *tmp = tac_try_malloc((size_t)CH * G * E, sizeof(float), what);          /* CH*G x E in idx order */
    double *acc = tac_try_malloc((size_t)CH * E, sizeof(double), what);            /* CH x E sums */
    int64_t *slot = tac_try_malloc((size_t)n, sizeof(int64_t), what);              /* noun -> position in its chunk */
    tac_clip_state *st = NULL;
    int ready = idx && pos && tmp && acc && slot && tac_clip_state_new(m, nthr, &st) == TAC_OK;
    if (tac_comm_check(c, ready ? TAC_OK : TAC_ERR) != TAC_OK) {
        tac_clip_state_free(st);
        free(idx); free(pos); free(tmp); free(acc); free(slot); free(uniq); free(rep); tokseqs_free(&s);
        return TAC_ERR;
    }
    tac_progress pr;
    if (p->label) tac_progress_begin_fn(&pr, p->progress, p->progress_user, p->label, u * G);
    int64_t done = 0;
    int rc = TAC_OK;
    for (int64_t c0 = 0; c0 < u && rc == TAC_OK; c0 += CH) {
        const int64_t cnt = u - c0 < CH ? u - c0 : CH;
        for (int64_t j = 0; j < cnt; j++) {
            slot[uniq[c0 + j]] = j;
            for (int t = 0; t < G; t++) idx[j * G + t] = uniq[c0 + j] * G + t;
        }
        sort_ctx sctx = {&s, G};
        qsort_r(idx, (size_t)(cnt * G), sizeof(int64_t), cmp_seq, &sctx);
        rc = encode_sorted(st, E, &s, idx, cnt * G, p->batch, G, tmp, p->label ? &pr : NULL, &done, c, cache);
        if (rc != TAC_OK) break;
        for (int64_t q = 0; q < cnt * G; q++) pos[slot[idx[q] / G] * G + idx[q] % G] = q;
        memset(acc, 0, (size_t)cnt * E * sizeof(double));
        for (int64_t j = 0; j < cnt; j++)     /* templates in their order: the sum does not depend on the batching */
            for (int t = 0; t < G; t++) {
                double *a = acc + (size_t)j * E;
                const float *x = tmp + (size_t)pos[j * G + t] * E;
                for (int e = 0; e < E; e++) a[e] += x[e];
            }
        for (int64_t j = 0; j < cnt; j++) {   /* mean, then L2-normalise (the mean's norm, in double) */
            double *a = acc + (size_t)j * E, ss = 0;
            for (int e = 0; e < E; e++) { a[e] /= G; ss += a[e] * a[e]; }
            double nrm = sqrt(ss);
            double inv = 1.0 / (nrm > 1e-12 ? nrm : 1e-12);
            float *o = out + (size_t)uniq[c0 + j] * E;
            for (int e = 0; e < E; e++) o[e] = (float)(a[e] * inv);
        }
    }
    if (p->label) tac_progress_end(&pr);
    tac_clip_state_free(st);
    if (rc == TAC_OK)
        for (int64_t i = 0; i < n; i++)
            if (rep[i] != i) memcpy(out + (size_t)i * E, out + (size_t)rep[i] * E, (size_t)E * sizeof(float));
    free(idx); free(pos); free(tmp); free(acc); free(slot); free(uniq); free(rep); tokseqs_free(&s);
    return rc;
}

int tac_embed_nouns(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                    int ntemplates, const tac_embed_text_params *p, float *out)
{
    return embed_nouns(m, nouns, n, templates, ntemplates, p, NULL, NULL, out);
}

int tac_embed_nouns_dist(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                         int ntemplates, const tac_embed_text_params *p, const tac_comm *comm, float *out)
{
    return embed_nouns(m, nouns, n, templates, ntemplates, p, comm, NULL, out);
}

int tac_embed_nouns_cached(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                           int ntemplates, const tac_embed_text_params *p, const tac_comm *comm,
                           tac_text_batch_cache *cache, float *out)
{
    return embed_nouns(m, nouns, n, templates, ntemplates, p, comm, cache, out);
}
