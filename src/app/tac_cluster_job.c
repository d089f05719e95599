/* tac_cluster_job.c - `taclust cluster` and `taclust assign`: a folder of images in, named groups out.
 *
 * cluster:  list inputs -> embed images (OUT/cache/embeddings[-bf16].bin: only images not embedded before; written batch
 *           by batch, so a killed run resumes) -> noun embeddings (per-user cache) -> [K auto] -> tac_fit with
 *           train = test = the collection -> confidences, image nouns, cluster names -> outputs:
 *           clusters.csv, clusters.json, by-cluster/, report.html, skipped.txt, model/ (what assign needs).
 * assign:   embed the new images, retrieve their text counterparts over the run's selected nouns, predict with
 *           the run's heads (or nearest joint-space centroid for --no-train runs), append to clusters.csv and
 *           by-cluster/.
 * OUT/run.json records the inputs and options, so `cluster --resume --out OUT` needs nothing else.
 * Shapes: N images, E embedding width, M nouns, S selected nouns, K clusters.
 */
#include "app/tac_app.h"
#include "taclust/clip.h"
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/heads.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"
#include "app/tac_json_check.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAC_IMAGE_NOUNS 3             /* nouns listed per image in clusters.csv */
#define TAC_TYPICAL 8                 /* typical images per cluster in clusters.json */
#define JOIN(buf, dir, name) tac_path_join((buf), sizeof(buf), (dir), (name))   /* fails on overflow */

/* OUT's embedding cache of the model's precision (a file per precision, tagged by it) */
static const char *cache_name(const tac_clip *model)
{
    return tac_clip_precision(model) == TAC_CLIP_BF16 ? "cache/embeddings-bf16.bin" : "cache/embeddings.bin";
}

void tac_cluster_default_params(tac_cluster_params *p)
{
    memset(p, 0, sizeof *p);
    p->kmax = 30;
    p->seed = 1234;
    p->resize = 224;
    p->batch = 32;
    p->wordnet_dir = TAC_WORDNET_DEFAULT_DIR;
    p->n_names = 3;
}

int tac_cluster_check_params(const tac_cluster_params *p)
{
    if (p->K == 1 || p->K < 0 || p->K > TAC_CLUSTER_MAX_K)
        return tac_fail("-K must be from 2 to %d (or auto), found %d", TAC_CLUSTER_MAX_K, p->K);
    if (p->kmax < 2 || p->kmax > TAC_CLUSTER_MAX_K) return tac_fail("--kmax must be from 2 to %d, found %d", TAC_CLUSTER_MAX_K, p->kmax);
    if (p->resize != 224 && p->resize != 256) return tac_fail("--resize must be 224 or 256, found %d", p->resize);
    if (p->batch < 1 || p->batch > TAC_CLUSTER_MAX_BATCH)
        return tac_fail("--batch must be from 1 to %d images, found %d", TAC_CLUSTER_MAX_BATCH, p->batch);
    if (p->n_names < 1 || p->n_names > TAC_CLUSTER_MAX_NAMES)
        return tac_fail("--names must be from 1 to %d, found %d", TAC_CLUSTER_MAX_NAMES, p->n_names);
    if (p->epochs < 0 || p->epochs > TAC_CLUSTER_MAX_EPOCHS)
        return tac_fail("--epochs must be from 0 (automatic) to %d, found %d", TAC_CLUSTER_MAX_EPOCHS, p->epochs);
    return TAC_OK;
}

/* ---- embedding with the per-run cache ------------------------------------------------------------------ */
typedef struct {
    tac_embcache *cache;
    char **keys;          /* N_missing absolute paths */
    int64_t *sizes, *mtimes;
    int64_t *row;         /* N_missing: row in the full list */
    float *X;             /* N x E */
    int8_t *ok;           /* N */
    char **why;           /* N */
    int e;
} embed_ctx;

static int on_batch(void *vctx, int64_t first, int64_t count, const float *emb, const int8_t *ok,
                    const char *const *why)
{
    embed_ctx *c = vctx;
    const char **kp = tac_xmalloc((size_t)count, sizeof(char *));
    int64_t *sz = tac_xmalloc((size_t)count, sizeof(int64_t)), *mt = tac_xmalloc((size_t)count, sizeof(int64_t));
    float *v = tac_xmalloc((size_t)count * c->e, sizeof(float));
    int k = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t r = c->row[first + i];
        if (ok[i]) {
            memcpy(c->X + r * c->e, emb + i * c->e, (size_t)c->e * sizeof(float));
            c->ok[r] = 1;
            kp[k] = c->keys[first + i]; sz[k] = c->sizes[first + i]; mt[k] = c->mtimes[first + i];
            memcpy(v + (int64_t)k * c->e, emb + i * c->e, (size_t)c->e * sizeof(float));
            k++;
        } else {
            c->ok[r] = 0;
            free(c->why[r]);
            c->why[r] = tac_xstrdup(why && why[i] ? why[i] : "could not be read");
        }
    }
    int rc = k ? tac_embcache_put(c->cache, k, kp, sz, mt, v) : TAC_OK;
    free(kp); free(sz); free(mt); free(v);
    /* Test hook: simulate the process being killed after N batches were made durable. */
    static int batches_done;
    const char *stop = getenv("TACLUST_DEBUG_KILL_AFTER_BATCHES");
    if (stop && ++batches_done >= atoi(stop)) { fprintf(stderr, "taclust: debug kill\n"); _exit(137); }
    return rc == TAC_OK ? 0 : 1;
}

/* Embeds paths[0..n) into X (N x E), using and filling the cache. ok[i] = 1 if row i has an embedding;
 * why[i] = malloc'd reason otherwise. */
static int embed_paths(tac_clip *model, tac_embcache *cache, char **paths, int64_t n, int resize, int batch,
                       float *X, int8_t *ok, char **why)
{
    int e = tac_clip_embed_dim(model);
    embed_ctx c = {0};
    c.cache = cache; c.X = X; c.ok = ok; c.why = why; c.e = e;
    c.keys = tac_xmalloc((size_t)n + 1, sizeof(char *));
    c.sizes = tac_xmalloc((size_t)n + 1, sizeof(int64_t));
    c.mtimes = tac_xmalloc((size_t)n + 1, sizeof(int64_t));
    c.row = tac_xmalloc((size_t)n + 1, sizeof(int64_t));
    int64_t nmiss = 0, nhit = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t size, mt;
        char abs[PATH_MAX];
        ok[i] = 0;
        if (why[i]) continue;                 /* skipped when the inputs were listed: the reason is set */
        if (tac_file_key(paths[i], &size, &mt) != TAC_OK) { why[i] = tac_xstrdup(tac_last_error()); continue; }
        if (!realpath(paths[i], abs)) snprintf(abs, sizeof abs, "%s", paths[i]);
        const float *v = tac_embcache_get(cache, abs, size, mt);
        if (v) { memcpy(X + i * e, v, (size_t)e * sizeof(float)); ok[i] = 1; nhit++; continue; }
        c.keys[nmiss] = tac_xstrdup(abs); c.sizes[nmiss] = size; c.mtimes[nmiss] = mt; c.row[nmiss] = i;
        nmiss++;
    }
    if (nhit) tac_info("images: %lld already embedded (cache), %lld to embed", (long long)nhit, (long long)nmiss);
    int rc = TAC_OK;
    if (nmiss) {
        char **mp = tac_xmalloc((size_t)nmiss, sizeof(char *));
        for (int64_t j = 0; j < nmiss; j++) mp[j] = paths[c.row[j]];
        tac_embed_images_params ep = tac_embed_images_default_params();
        ep.resize = resize; ep.batch = batch; ep.on_batch = on_batch; ep.ctx = &c;
        ep.label = "embedding images";
        rc = tac_embed_images(model, (const char *const *)mp, nmiss, &ep, NULL, NULL, NULL);
        free(mp);
    }
    for (int64_t j = 0; j < nmiss; j++) free(c.keys[j]);
    free(c.keys); free(c.sizes); free(c.mtimes); free(c.row);
    return rc;
}

/* Marks OUT as a folder taclust wrote, so no later walk takes its files (by-cluster/ links) as inputs. */
static int mark_output_folder(const char *out)
{
    char path[PATH_MAX + 64];
    struct stat st;
    if (JOIN(path, out, TAC_OUTPUT_MARKER) != TAC_OK) return TAC_ERR;
    if (lstat(path, &st) == 0) return TAC_OK;
    static const char text[] = "This folder was written by taclust. Folders holding this file are never read as input.\n";
    return tac_write_file_atomic(path, text, sizeof text - 1);
}

/* Lists the image inputs (never OUT, never a folder taclust wrote) and appends every path the walk skipped, with
 * its reason in (*why)[i], so that skipped.txt names it. *n_found: the images found (the first rows). */
static int list_with_skipped(const char *const *inputs, int ninputs, const char *list_file, const char *out,
                             char ***paths, int64_t *n, int64_t *n_found, char ***why)
{
    char **found, **sk, **skw;
    int64_t nf, ns;
    if (tac_list_inputs_ex(inputs, ninputs, list_file, out, &found, &nf, &sk, &skw, &ns) != TAC_OK) return TAC_ERR;
    char **all = tac_xrealloc(found, (size_t)(nf + ns + 1), sizeof(char *));
    char **w = tac_xcalloc((size_t)(nf + ns + 1), sizeof(char *));
    for (int64_t i = 0; i < ns; i++) { all[nf + i] = sk[i]; w[nf + i] = skw[i]; }
    free(sk); free(skw);
    *paths = all; *n = nf + ns; *n_found = nf; *why = w;
    return TAC_OK;
}

/* ---- vocabulary --------------------------------------------------------------------------------------- */
static int load_vocabulary(const tac_cluster_params *p, char ***nouns, int64_t *m)
{
    if (p->vocabulary) {
        if (tac_read_lines(p->vocabulary, nouns, m, 1) != TAC_OK) return TAC_ERR;
        if (*m < 1) return tac_fail("%s: the vocabulary is empty", p->vocabulary);
        return TAC_OK;
    }
    return tac_wordnet_nouns(p->wordnet_dir, nouns, m);
}

static void pretty_noun(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (; *in && j + 1 < n; in++) out[j++] = *in == '_' ? ' ' : *in;
    out[j] = 0;
}

/* ---- run.json: the inputs and options of a run, for --resume and assign ------------------------------ */
/* JSON holds valid UTF-8 only: a path that is not is written readable (tac_utf8_text) and, exactly, as hex
 * under "<key>_hex" ("inputs_hex" for the inputs), which the reader prefers. */
static cJSON *hex_item(const char *s)
{
    size_t n = strlen(s);
    char *h = tac_xmalloc(2 * n + 1, 1);
    for (size_t i = 0; i < n; i++) sprintf(h + 2 * i, "%02x", (unsigned char)s[i]);
    cJSON *it = cJSON_CreateString(h);
    free(h);
    return it;
}

static char *hex_decode(const cJSON *it)
{
    if (!cJSON_IsString(it)) return NULL;
    const char *h = it->valuestring;
    size_t n = strlen(h);
    if (n % 2 || strspn(h, "0123456789abcdef") != n) return NULL;
    char *s = tac_xmalloc(n / 2 + 1, 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    s[n / 2] = 0;
    if (strlen(s) != n / 2) { free(s); return NULL; }
    return s;
}

static void add_path(cJSON *o, const char *key, const char *s)
{
    char *t = tac_utf8_text(s);
    if (!t) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
    cJSON_AddStringToObject(o, key, t);
    free(t);
    if (!tac_utf8_valid(s)) {
        char hk[64];
        snprintf(hk, sizeof hk, "%s_hex", key);
        cJSON_AddItemToObject(o, hk, hex_item(s));
    }
}

/* *dst = the exact bytes from "<key>_hex" when present and well-formed */
static void read_hex_path(const cJSON *o, const char *key, char **dst)
{
    char hk[64];
    snprintf(hk, sizeof hk, "%s_hex", key);
    char *s = hex_decode(cJSON_GetObjectItem(o, hk));
    if (s) { free(*dst); *dst = s; }
}

static int write_run_json(const char *out, const char *const *inputs, int ninputs, const tac_cluster_params *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "taclust", TACLUST_VERSION);
    char abs[PATH_MAX];
    add_path(o, "model", realpath(p->model_dir, abs) ? abs : p->model_dir);
    cJSON *arr = cJSON_AddArrayToObject(o, "inputs");
    int all_utf8 = 1;
    for (int i = 0; i < ninputs; i++) {
        char *t = tac_utf8_text(inputs[i]);
        if (!t) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        free(t);
        all_utf8 &= tac_utf8_valid(inputs[i]);
    }
    if (!all_utf8) {
        cJSON *hx = cJSON_AddArrayToObject(o, "inputs_hex");
        for (int i = 0; i < ninputs; i++) cJSON_AddItemToArray(hx, hex_item(inputs[i]));
    }
    if (p->list_file) add_path(o, "list", p->list_file);
    cJSON_AddNumberToObject(o, "K", p->K);
    cJSON_AddNumberToObject(o, "kmax", p->kmax);
    cJSON_AddBoolToObject(o, "no_train", p->no_train);
    cJSON_AddNumberToObject(o, "seed", p->seed);
    cJSON_AddNumberToObject(o, "resize", p->resize);
    cJSON_AddNumberToObject(o, "batch", p->batch);
    if (p->vocabulary) add_path(o, "vocabulary", realpath(p->vocabulary, abs) ? abs : p->vocabulary);
    add_path(o, "wordnet", p->wordnet_dir);
    cJSON_AddNumberToObject(o, "names", p->n_names);
    cJSON_AddNumberToObject(o, "epochs", p->epochs);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    char path[PATH_MAX + 16];
    int rc = JOIN(path, out, "run.json");
    if (rc == TAC_OK) rc = tac_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

static void free_run_strings(tac_cluster_params *p)
{
    free((char *)p->model_dir); free((char *)p->list_file); free((char *)p->vocabulary); free((char *)p->wordnet_dir);
    p->model_dir = p->list_file = p->vocabulary = p->wordnet_dir = NULL;
}

/* Reads OUT/run.json back. Every field is type- and range-checked (tac_json_check.c); on failure *p is left as it
 * was. On success the strings of *p (model_dir, list_file, vocabulary, wordnet_dir) and *inputs are malloc'd:
 * free them with free_run_strings and tac_free_strings. */
static int read_run_json(const char *out, tac_cluster_params *p, char ***inputs, int *ninputs)
{
    char path[PATH_MAX + 16], *buf; size_t len;
    if (JOIN(path, out, "run.json") != TAC_OK) return TAC_ERR;
    if (tac_read_file_max(path, &buf, &len, TAC_JSON_MAX) != TAC_OK)
        return tac_fail("%s: no earlier run to resume or assign to (%s)", out, tac_last_error());
    cJSON *o = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return tac_fail("%s: not a JSON object (not written by taclust?)", path); }
    tac_cluster_params q = *p;
    char *model = NULL, *list = NULL, *voc = NULL, *wn = NULL, **in = NULL;
    int nin = 0, no_train = p->no_train;
    int64_t seed = p->seed;
    int rc = TAC_ERR;
    if (tac_json_str(o, "model", path, 1, &model) != TAC_OK) goto done;
    if (tac_json_str_array(o, "inputs", path, INT_MAX / 2, &in, &nin) != TAC_OK) goto done;
    for (int i = 0; i < nin; i++)
        if (!in[i][0]) { tac_fail("%s: \"inputs\"[%d] is an empty path", path, i); goto done; }
    if (tac_json_str(o, "list", path, 0, &list) != TAC_OK) goto done;
    if (nin == 0 && !list) { tac_fail("%s: no inputs and no list", path); goto done; }
    if (tac_json_str(o, "vocabulary", path, 0, &voc) != TAC_OK) goto done;
    if (tac_json_str(o, "wordnet", path, 0, &wn) != TAC_OK) goto done;
    if (tac_json_int32(o, "K", path, 0, TAC_CLUSTER_MAX_K, 0, &q.K) != TAC_OK) goto done;
    if (q.K == 1) { tac_fail("%s: \"K\" must be 0 (auto) or at least 2, found 1", path); goto done; }
    if (tac_json_int32(o, "kmax", path, 2, TAC_CLUSTER_MAX_K, 0, &q.kmax) != TAC_OK) goto done;
    if (tac_json_bool(o, "no_train", path, 0, &no_train) != TAC_OK) goto done;
    if (tac_json_int(o, "seed", path, 0, UINT32_MAX, 0, &seed) != TAC_OK) goto done;
    if (tac_json_int32(o, "resize", path, 224, 256, 0, &q.resize) != TAC_OK) goto done;
    if (q.resize != 224 && q.resize != 256) { tac_fail("%s: \"resize\" must be 224 or 256, found %d", path, q.resize); goto done; }
    if (tac_json_int32(o, "batch", path, 1, TAC_CLUSTER_MAX_BATCH, 0, &q.batch) != TAC_OK) goto done;
    if (tac_json_int32(o, "names", path, 1, TAC_CLUSTER_MAX_NAMES, 0, &q.n_names) != TAC_OK) goto done;
    if (tac_json_int32(o, "epochs", path, 0, TAC_CLUSTER_MAX_EPOCHS, 0, &q.epochs) != TAC_OK) goto done;
    read_hex_path(o, "model", &model);        /* exact bytes of paths that are not UTF-8 (see write_run_json) */
    read_hex_path(o, "list", &list);
    read_hex_path(o, "vocabulary", &voc);
    read_hex_path(o, "wordnet", &wn);
    const cJSON *hx = cJSON_GetObjectItem(o, "inputs_hex");
    if (cJSON_IsArray(hx) && cJSON_GetArraySize(hx) == nin)
        for (int i = 0; i < nin; i++) {
            char *exact = hex_decode(cJSON_GetArrayItem(hx, i));
            if (exact) { free(in[i]); in[i] = exact; }
        }
    rc = TAC_OK;
done:
    cJSON_Delete(o);
    if (rc != TAC_OK) {
        free(model); free(list); free(voc); free(wn);
        tac_free_strings(in, nin);
        return TAC_ERR;
    }
    q.no_train = no_train;
    q.seed = (uint32_t)seed;
    q.model_dir = model;
    q.list_file = list ? list : p->list_file ? tac_xstrdup(p->list_file) : NULL;
    q.vocabulary = voc ? voc : p->vocabulary ? tac_xstrdup(p->vocabulary) : NULL;
    q.wordnet_dir = wn ? wn : p->wordnet_dir ? tac_xstrdup(p->wordnet_dir) : NULL;
    *p = q;
    *inputs = in; *ninputs = nin;
    return TAC_OK;
}

/* out/skipped.txt: the lines of old_dir/skipped.txt (when old_dir), then one line per image not embedded:
 * path TAB reason, each escaped (tac_escape_line) so a name cannot forge lines or fields. */
static int write_skipped(const char *out, char **paths, int64_t n, const int8_t *ok, char **why, const char *old_dir)
{
    char path[PATH_MAX + 16];
    if (JOIN(path, old_dir ? old_dir : out, "skipped.txt") != TAC_OK) return TAC_ERR;
    char *old = NULL; size_t oldlen = 0;
    if (old_dir && tac_read_file(path, &old, &oldlen) != TAC_OK) { old = NULL; oldlen = 0; }
    if (JOIN(path, out, "skipped.txt") != TAC_OK) { free(old); return TAC_ERR; }
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) { free(old); return TAC_ERR; }
    if (old) fwrite(old, 1, oldlen, a.f);
    free(old);
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++)
        if (!ok[i]) {
            char *ep = tac_escape_line(paths[i]), *ew = tac_escape_line(why[i] ? why[i] : "could not be read");
            if (!ep || !ew) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
            fprintf(a.f, "%s\t%s\n", ep, ew);
            free(ep); free(ew);
            cnt++;
        }
    if (cnt) tac_info("%lld image%s skipped (listed in skipped.txt)", (long long)cnt, cnt == 1 ? "" : "s");
    return tac_atomic_commit(&a);
}

/* name key for duplicate checks: ASCII lower-case, '_' -> ' ' */
static void noun_key(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (; *in && j + 1 < n; in++) out[j++] = *in == '_' ? ' ' : (char)tolower((unsigned char)*in);
    out[j] = 0;
}

/* Top TAC_IMAGE_NOUNS distinct nouns of each image by retrieval weight, "a; b; c". W: N x S. Nouns are distinct
 * when their whole names differ after case-folding and '_' -> ' ' ("cat" is kept after "cattle"). */
char **tac_image_nouns(const float *W, int64_t n, int64_t s, const int64_t *sel, char *const *nouns)
{
    char **out = tac_xmalloc((size_t)n, sizeof(char *));
    int8_t *used = tac_xmalloc((size_t)s, 1);
    for (int64_t i = 0; i < n; i++) {
        char buf[512] = "";
        char pretty[128], keys[TAC_IMAGE_NOUNS][128];
        int have = 0;
        memset(used, 0, (size_t)s);
        while (have < TAC_IMAGE_NOUNS) {
            int64_t best = -1;
            for (int64_t j = 0; j < s; j++) if (!used[j] && (best < 0 || W[i * s + j] > W[i * s + best])) best = j;
            if (best < 0) break;
            used[best] = 1;
            noun_key(nouns[sel[best]], keys[have], sizeof keys[have]);
            int dup = 0;
            for (int q = 0; q < have && !dup; q++) dup = strcmp(keys[q], keys[have]) == 0;
            if (dup) continue;
            pretty_noun(nouns[sel[best]], pretty, sizeof pretty);
            if (have) strncat(buf, "; ", sizeof buf - strlen(buf) - 1);
            strncat(buf, pretty, sizeof buf - strlen(buf) - 1);
            have++;
        }
        out[i] = tac_xstrdup(buf);
    }
    free(used);
    return out;
}

static int write_model_dir(const char *out, const tac_fit_result *r, const float *E /* S x E */, int e,
                           char **nouns, const float *C /* K x 2E */, int K, const char *model_hash, int resize,
                           int no_train, char **names, int precision)
{
    char dir[PATH_MAX + 16], path[PATH_MAX + 64];
    if (JOIN(dir, out, "model") != TAC_OK) return TAC_ERR;
    if (tac_mkdir_p(dir) != TAC_OK) return TAC_ERR;
    int64_t sh[2] = {r->nsel, e};
    if (JOIN(path, dir, "selected.npy") != TAC_OK) return TAC_ERR;
    if (tac_npy_save_f32(path, E, 2, sh) != TAC_OK) return TAC_ERR;
    int64_t ch[2] = {K, 2 * e};
    if (JOIN(path, dir, "centroids.npy") != TAC_OK) return TAC_ERR;
    if (tac_npy_save_f32(path, C, 2, ch) != TAC_OK) return TAC_ERR;
    if (JOIN(path, dir, "selected_nouns.txt") != TAC_OK) return TAC_ERR;
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    for (int64_t s = 0; s < r->nsel; s++) {
        char *en = tac_escape_line(nouns[r->selected[s]]);
        if (!en) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
        fprintf(a.f, "%s\n", en);
        free(en);
    }
    if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;
    if (JOIN(path, dir, "heads.bin") != TAC_OK) return TAC_ERR;
    if (!no_train && r->heads) { if (tac_heads_save(r->heads, path) != TAC_OK) return TAC_ERR; }
    else unlink(path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", no_train ? "tac-no-train" : "tac");
    cJSON_AddNumberToObject(o, "K", K);
    cJSON_AddNumberToObject(o, "embed_dim", e);
    cJSON_AddNumberToObject(o, "tau", TAC_TAU_VALUE);
    cJSON_AddNumberToObject(o, "resize", resize);
    cJSON_AddStringToObject(o, "clip_hash", model_hash);
    cJSON_AddStringToObject(o, "precision", tac_clip_precision_name(precision));   /* assign embeds in the same */
    cJSON *arr = cJSON_AddArrayToObject(o, "cluster_names");
    for (int c = 0; c < K; c++) {
        char *t = tac_utf8_text(names[c]);
        if (!t) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        free(t);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    int rc = JOIN(path, dir, "params.json");
    if (rc == TAC_OK) rc = tac_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

static void heads_schedule(int64_t n, int K, int epochs_override, tac_fit_params *fp)
{
    int batch = n >= 2048 ? 512 : n >= 512 ? 256 : (int)(n / 2);
    if (batch < 2 * K) batch = 2 * K;
    if (batch > n) batch = (int)n;
    int iters = (int)(n / batch);
    int epochs = epochs_override > 0 ? epochs_override : 20;
    if (epochs_override <= 0 && (int64_t)iters * epochs < 500) epochs = (500 + iters - 1) / iters;
    if (epochs > 500) epochs = 500;
    fp->heads.batch = batch;
    fp->heads.epochs = epochs;
}

/* Keeps the rows with ok[i] (in order): X (N x E) and paths compacted, the others' paths freed and NULL. */
static int64_t keep_embedded(float *X, char **paths, const int8_t *ok, int64_t n, int e)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ok[i]) {
            if (k != i) { memmove(X + k * e, X + i * e, (size_t)e * sizeof(float)); paths[k] = paths[i]; paths[i] = NULL; }
            k++;
        } else { free(paths[i]); paths[i] = NULL; }
    }
    return k;
}

/* Display names "a, b, c" of the K clusters from the fit's name indices ("cluster c" when none), and their
 * folder slugs. */
static void cluster_names(const tac_fit_result *r, char **nouns, char ***names_out, char ***slugs_out)
{
    int K = r->K;
    char **names = tac_xmalloc((size_t)K, sizeof(char *)), **slugs = tac_xmalloc((size_t)K, sizeof(char *));
    for (int c = 0; c < K; c++) {
        char buf[1024] = "", pretty[256];
        int used = 0;
        for (int j = 0; j < r->n_names; j++) {
            int64_t idx = r->cluster_names[(int64_t)c * r->n_names + j];
            if (idx < 0) continue;
            pretty_noun(nouns[idx], pretty, sizeof pretty);
            if (used++) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
            strncat(buf, pretty, sizeof buf - strlen(buf) - 1);
        }
        if (!used) snprintf(buf, sizeof buf, "cluster %d", c);
        names[c] = tac_xstrdup(buf);
        char slug[48];
        tac_slugify(buf, slug, 40);
        slugs[c] = tac_xstrdup(slug);
    }
    *names_out = names; *slugs_out = slugs;
}

/* K x TAC_TYPICAL: each cluster's members of highest confidence, best first (-1 pads). */
static int64_t *typical_images(const int32_t *pred, const float *conf, int64_t n, int K)
{
    int64_t *typical = tac_xmalloc((size_t)K * TAC_TYPICAL, sizeof(int64_t));
    for (int64_t i = 0; i < (int64_t)K * TAC_TYPICAL; i++) typical[i] = -1;
    for (int c = 0; c < K; c++) {
        int64_t *t = typical + (int64_t)c * TAC_TYPICAL;
        for (int64_t i = 0; i < n; i++) {
            if (pred[i] != c) continue;
            int j = TAC_TYPICAL - 1;
            if (t[j] >= 0 && conf[t[j]] >= conf[i]) continue;
            while (j > 0 && (t[j - 1] < 0 || conf[t[j - 1]] < conf[i])) { t[j] = t[j - 1]; j--; }
            t[j] = i;
        }
    }
    return typical;
}

/* The settings of the collection's fit (train = test: clustering is transductive here). */
static void job_fit_params(const tac_cluster_params *p, int64_t n, int K, int no_train, tac_fit_params *fp)
{
    tac_fit_default_params(fp);
    fp->K = K;
    fp->seed = p->seed;
    fp->baseline = 0;
    fp->n_names = p->n_names;
    fp->progress = !tac_progress_quiet;
    fp->knn = n - 1 < 50 ? (int)(n - 1) : 50;
    fp->train = !no_train;
    fp->notrain = no_train;            /* one clustering is enough: the heads' when they are trained */
    heads_schedule(n, K, p->epochs, fp);
    int kc = tac_num_centres(n, K);
    fp->centres = kc > n ? (int)n : kc;
}

/* Every output of a finished fit into od->stage, then the commit and the summary on stdout. */
static int write_cluster_outputs(tac_outdir *od, const tac_cluster_params *p, const tac_fit_result *r,
                                 const tac_clip *model, char **paths, char **nouns, int64_t m, const float *X,
                                 const float *T, int no_train, double t0)
{
    int64_t n = r->n_test, s = r->nsel;
    int K = r->K, e = r->d, rc = TAC_ERR;
    const int32_t *pred = no_train ? r->pred_notrain : r->pred_tac;
    char **inouns = NULL, **names = NULL, **slugs = NULL, path[PATH_MAX + 64];
    float *W = r->test_weights, *Wown = NULL, *Rtmp = NULL, *E = NULL;
    int64_t *typical = NULL;
    if (!W) {   /* weights too large for the fit to keep (TAC_FIT_MAX_WEIGHTS): recomputed here */
        Wown = W = tac_xmalloc((size_t)n * s, sizeof(float));
        Rtmp = tac_xmalloc((size_t)n * e, sizeof(float));
        if (tac_fit_retrieve(r, X, n, Rtmp, W) != TAC_OK) goto done;
    }
    E = tac_xmalloc((size_t)s * e, sizeof(float));   /* S x E: model/selected.npy, the nouns as embedded */
    for (int64_t t = 0; t < s; t++) memcpy(E + t * e, T + r->selected[t] * e, (size_t)e * sizeof(float));
    inouns = tac_image_nouns(W, n, s, r->selected, nouns);
    cluster_names(r, nouns, &names, &slugs);
    typical = typical_images(pred, r->confidence, n, K);
    tac_clustering_view v = {n, K, (const char *const *)paths, (int32_t *)pred, r->confidence, inouns, names, slugs,
                             typical, TAC_TYPICAL};
    char extra[1024];
    snprintf(extra, sizeof extra,
             "{\"method\": \"%s\", \"K\": %d, \"K_auto\": %s, \"semantic_centres\": %d, \"selected_nouns\": %lld, "
             "\"vocabulary\": %lld, \"seed\": %u, \"clip_hash\": \"%s\"}",
             no_train ? "TAC (no train)" : "TAC", K, p->K == 0 ? "true" : "false", r->k, (long long)s,
             (long long)m, p->seed, tac_clip_hash(model));
    char title[256];
    snprintf(title, sizeof title, "taclust: %lld images in %d clusters", (long long)n, K);
    if (JOIN(path, od->stage, "clusters.csv") != TAC_OK) goto done;
    if (tac_write_clusters_csv(path, &v) != TAC_OK) goto done;
    if (JOIN(path, od->stage, "clusters.json") != TAC_OK) goto done;
    if (tac_write_clusters_json(path, &v, extra) != TAC_OK) goto done;
    if (write_model_dir(od->stage, r, E, e, nouns, r->centroids, K, tac_clip_hash(model), p->resize, no_train, names,
                        tac_clip_precision(model)) != TAC_OK) goto done;
    if (tac_write_cluster_links(od->stage, &v) != TAC_OK) goto done;
    if (JOIN(path, od->stage, "report.html") != TAC_OK) goto done;
    if (tac_write_report_html(path, &v, title) != TAC_OK) goto done;
    if (tac_outdir_commit(od) != TAC_OK) goto done;
    printf("%lld images in %d clusters (%s) in %.1fs\n", (long long)n, K, no_train ? "TAC (no train)" : "TAC", tac_now() - t0);
    for (int c = 0; c < K; c++) printf("  %02d  %6lld  %s\n", c, (long long)r->cluster_size[c], names[c]);
    printf("open %s/report.html, or browse %s/by-cluster/\n", p->out_dir, p->out_dir);
    rc = TAC_OK;
done:
    free(typical);
    tac_free_strings(inouns, inouns ? n : 0);
    tac_free_strings(names, names ? K : 0);
    tac_free_strings(slugs, slugs ? K : 0);
    free(Wown); free(Rtmp); free(E);
    return rc;
}

/* The images of a job: listed (never OUT), embedded through OUT's cache (only images not embedded before), the
 * unreadable ones written to od->stage/skipped.txt (after the committed run's lines, for assign, which creates
 * its stage here). On success paths[0..*n) and X (N x E) are the embedded images in order; paths and why have
 * *n_all entries (free both with it). */
typedef struct { const char *out, *list_file, *old_run; int resize, batch, assign; } job_images;

static int embed_job_images(tac_outdir *od, tac_clip *model, const char *const *inputs, int ninputs,
                            const job_images *ji, char ***paths, char ***why, int64_t *n, int64_t *n_all, float **X)
{
    int64_t n_found = 0;
    int e = tac_clip_embed_dim(model), rc = TAC_ERR;
    tac_embcache *cache = NULL;
    int8_t *ok = NULL;
    char path[PATH_MAX + 64];
    if (list_with_skipped(inputs, ninputs, ji->list_file, ji->out, paths, n, &n_found, why) != TAC_OK) return TAC_ERR;
    *n_all = *n;
    if (n_found == 0) {
        return tac_fail(ji->assign ? "no images found in the inputs"
                                   : "no images found in the inputs (looked for .jpg .jpeg .png .webp)");
    }
    if (!ji->assign) tac_info("%lld image%s found", (long long)n_found, n_found == 1 ? "" : "s");
    if (JOIN(path, ji->out, cache_name(model)) != TAC_OK) return TAC_ERR;
    if (tac_embcache_open(path, e, tac_clip_cache_tag(model), &cache) != TAC_OK) return TAC_ERR;
    *X = tac_xmalloc((size_t)*n * e, sizeof(float));
    ok = tac_xmalloc((size_t)*n, 1);
    if (embed_paths(model, cache, *paths, *n, ji->resize, ji->batch, *X, ok, *why) != TAC_OK) goto done;
    if (!od->stage && tac_outdir_stage(od) != TAC_OK) goto done;
    if (write_skipped(od->stage, *paths, *n, ok, *why, ji->old_run) != TAC_OK) goto done;
    if (ji->assign && *n == 1 && !ok[0]) {
        tac_fail("%s: %s", (*paths)[0], (*why)[0] ? (*why)[0] : "could not be read");
        goto done;
    }
    *n = keep_embedded(*X, *paths, ok, *n, e);
    rc = TAC_OK;
done:
    tac_embcache_close(cache);
    free(ok);
    return rc;
}

/* Checks the cluster job's settings (a resumed run's come from its run.json: *p, *inputs, *ninputs then point
 * to *resumed), prepares OUT and its stage, and writes stage/run.json. */
static int start_cluster_run(tac_outdir *od, tac_cluster_params *p, const char *const **inputs, int *ninputs,
                             char ***resumed, int *nresumed)
{
    if (!p->out_dir) return tac_fail("no output folder (--out OUT)");
    if (p->resume && *ninputs == 0) {
        /* a run killed before its commit is continued; else the committed run is run again */
        const char *from = od->pending ? od->pending : od->committed;
        if (!from) return tac_fail("%s: no earlier run to resume or assign to", p->out_dir);
        if (read_run_json(from, p, resumed, nresumed) != TAC_OK) return TAC_ERR;
        p->resume = 1;
        *inputs = (const char *const *)*resumed; *ninputs = *nresumed;
        tac_info("resuming the run in %s (%d input%s)", p->out_dir, *ninputs, *ninputs == 1 ? "" : "s");
    }
    if (!p->model_dir) return tac_fail("no model folder (--model DIR)");
    if (*ninputs == 0 && !p->list_file) return tac_fail("no images given");
    if (p->K == 1 || p->K < 0) return tac_fail("-K must be at least 2 (or auto)");
    if (tac_cluster_check_params(p) != TAC_OK) return TAC_ERR;
    char path[PATH_MAX + 64];
    if (JOIN(path, p->out_dir, "cache") != TAC_OK || tac_mkdir_p(path) != TAC_OK) return TAC_ERR;
    if (mark_output_folder(p->out_dir) != TAC_OK || tac_outdir_prepare(od) != TAC_OK || tac_outdir_stage(od) != TAC_OK)
        return TAC_ERR;
    return write_run_json(od->stage, *inputs, *ninputs, p);
}

/* The cluster job with OUT open and locked: every output goes to od->stage, committed at the end. */
static int cluster_run_in(tac_outdir *od, const char *const *inputs_in, int ninputs_in, const tac_cluster_params *pin)
{
    tac_cluster_params p = *pin;
    const char *const *inputs = inputs_in;
    int ninputs = ninputs_in, nresumed = 0, rc = TAC_ERR, e = 0, K = 0;
    char **resumed = NULL, **paths = NULL, **nouns = NULL, **why = NULL;
    int64_t n = 0, m = 0, n_all = 0;
    float *X = NULL, *T = NULL;
    tac_clip *model = NULL;
    tac_fit_result r;
    memset(&r, 0, sizeof r);
    double t0 = tac_now();
    if (start_cluster_run(od, &p, &inputs, &ninputs, &resumed, &nresumed) != TAC_OK) goto done;
    K = p.K;

    /* 1. images: listed, embedded (through the run's cache), the unreadable ones listed in skipped.txt */
    tac_info("loading the CLIP model from %s", p.model_dir);
    if (tac_clip_load_ex(p.model_dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &model) != TAC_OK) goto done;
    job_images ji = {p.out_dir, p.list_file, NULL, p.resize, p.batch, 0};
    if (embed_job_images(od, model, inputs, ninputs, &ji, &paths, &why, &n, &n_all, &X) != TAC_OK) goto done;
    if (n < 2) { tac_fail("fewer than 2 images could be read: nothing to cluster"); goto done; }

    /* 2. nouns */
    if (load_vocabulary(&p, &nouns, &m) != TAC_OK) goto done;
    if (tac_noun_embeddings_cached(model, (const char *const *)nouns, m, &T, &e) != TAC_OK) goto done;

    /* 3. K */
    if (K == 0) {
        char reason[256];
        if (tac_choose_k_ex(X, n, e, T, m, p.kmax, p.seed, 0, &K, NULL, reason, sizeof reason, 0) != TAC_OK) goto done;
        tac_info("K auto: %s", reason);
        printf("K auto chose K=%d: %s\n", K, reason);
    }
    if (K > n) { tac_fail("-K %d is larger than the %lld images that could be read", K, (long long)n); goto done; }

    /* 4. TAC on the collection; the fit returns the clusters, their centroids and names, the confidences */
    int no_train = p.no_train;
    if (!no_train && n < 64) {
        tac_info("only %lld images: too few to train the heads, using TAC (no train)", (long long)n);
        no_train = 1;
    }
    tac_fit_params fp;
    job_fit_params(&p, n, K, no_train, &fp);
    if (tac_fit(X, n, X, n, e, T, m, (const char *const *)nouns, NULL, NULL, &fp, &r) != TAC_OK) goto done;

    /* 5. outputs */
    rc = write_cluster_outputs(od, &p, &r, model, paths, nouns, m, X, T, no_train, t0);
done:
    tac_clip_free(model);
    tac_free_strings(paths, n_all);
    tac_free_strings(nouns, m);
    tac_free_strings(why, n_all);
    free(X); free(T);
    tac_fit_result_free(&r);
    tac_free_strings(resumed, nresumed);
    if (resumed) free_run_strings(&p);
    return rc;
}

int tac_cluster_run(const char *const *inputs_in, int ninputs_in, const tac_cluster_params *pin)
{
    if (!pin->out_dir) return tac_fail("no output folder (--out OUT)");
    tac_outdir od;
    if (tac_outdir_open(&od, pin->out_dir, !(pin->resume && ninputs_in == 0)) != TAC_OK) return TAC_ERR;
    int rc = cluster_run_in(&od, inputs_in, ninputs_in, pin);
    tac_outdir_close(&od);
    return rc;
}

/* ---- assign ------------------------------------------------------------------------------------------ */
/* dst_dir/rel as a second name of src_dir/rel (a copy where links are not possible); a missing source is fine. */
static int carry_file(const char *src_dir, const char *dst_dir, const char *rel)
{
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    if (JOIN(src, src_dir, rel) != TAC_OK || JOIN(dst, dst_dir, rel) != TAC_OK) return TAC_ERR;
    
    struct stat st;
    if (lstat(src, &st) != 0) return errno == ENOENT ? TAC_OK : tac_fail("%s: %s", src, strerror(errno));
    if (!S_ISREG(st.st_mode)) return tac_fail("%s: not a file taclust wrote", src);
    if (tac_debug_write_fails(dst)) return tac_fail("%s: write failed: %s", dst, strerror(ENOSPC));
    if (link(src, dst) == 0) return TAC_OK;
    char *buf; size_t len;
    if (tac_read_file(src, &buf, &len) != TAC_OK) return TAC_ERR;
    int rc = tac_write_file_atomic(dst, buf, len);
    free(buf);
    return rc;
}

static int assign_in(tac_outdir *od, const char *out, const char *model_dir, const char *const *inputs, int ninputs,
                     const char *list_file, int batch);

int tac_assign_run(const char *out, const char *model_dir, const char *const *inputs, int ninputs,
                   const char *list_file, int batch)
{
    tac_outdir od;
    if (tac_outdir_open(&od, out, 0) != TAC_OK) return TAC_ERR;
    int rc;
    if (!od.committed) rc = tac_fail("%s: no earlier run to resume or assign to", out);
    else rc = tac_outdir_prepare(&od) == TAC_OK ? assign_in(&od, out, model_dir, inputs, ninputs, list_file, batch) : TAC_ERR;
    tac_outdir_close(&od);
    return rc;
}

/* The run's model/params.json, every field type- and range-checked: mode (*heads_mode = "tac"), K, embed_dim,
 * resize, clip_hash, cluster_names (K malloc'd strings), precision (optional: runs before it was recorded have
 * none, *precision = -1; else TAC_CLIP_FP32 or TAC_CLIP_BF16). */
static int read_model_params(const char *run, const char *out, int *heads_mode, int *K, int *json_e, int *resize,
                             char *hash_out, size_t hash_len, char ***names_out, int *precision)
{
    char path[PATH_MAX + 64], *buf;
    size_t len;
    if (JOIN(path, run, "model/params.json") != TAC_OK) return TAC_ERR;
    if (tac_read_file_max(path, &buf, &len, TAC_JSON_MAX) != TAC_OK) {
        char *why = tac_xstrdup(tac_last_error());
        tac_fail("%s: the run has no usable model/ (did it finish?): %s", out, why);
        free(why);
        return TAC_ERR;
    }
    cJSON *o = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); return tac_fail("%s: not a JSON object", path); }
    char *mode = NULL, *hash = NULL, **names = NULL, *prec = NULL;
    int nnames = 0, prc = TAC_ERR;
    if (tac_json_str(o, "mode", path, 1, &mode) != TAC_OK) goto done;
    if (strcmp(mode, "tac") != 0 && strcmp(mode, "tac-no-train") != 0) {
        tac_fail("%s: \"mode\" must be \"tac\" or \"tac-no-train\", found \"%.40s\"", path, mode);
        goto done;
    }
    if (tac_json_int32(o, "K", path, 2, TAC_CLUSTER_MAX_K, 1, K) != TAC_OK) goto done;
    if (tac_json_int32(o, "embed_dim", path, 1, 1 << 16, 1, json_e) != TAC_OK) goto done;
    if (tac_json_int32(o, "resize", path, 224, 256, 0, resize) != TAC_OK) goto done;
    if (*resize != 224 && *resize != 256) { tac_fail("%s: \"resize\" must be 224 or 256, found %d", path, *resize); goto done; }
    if (tac_json_str(o, "clip_hash", path, 1, &hash) != TAC_OK) goto done;
    if (strlen(hash) >= 64) { tac_fail("%s: \"clip_hash\" is too long to be a model hash", path); goto done; }
    if (tac_json_str_array(o, "cluster_names", path, TAC_CLUSTER_MAX_K, &names, &nnames) != TAC_OK) goto done;
    if (nnames != *K) { tac_fail("%s: %d cluster_names for K = %d", path, nnames, *K); goto done; }
    *precision = -1;
    if (tac_json_str(o, "precision", path, 0, &prec) != TAC_OK) goto done;
    if (prec) {
        if (strcmp(prec, "fp32") == 0) *precision = TAC_CLIP_FP32;
        else if (strcmp(prec, "bf16") == 0) *precision = TAC_CLIP_BF16;
        else { tac_fail("%s: \"precision\" must be \"fp32\" or \"bf16\", found \"%.40s\"", path, prec); goto done; }
    }
    *heads_mode = strcmp(mode, "tac") == 0;
    snprintf(hash_out, hash_len, "%s", hash);
    *names_out = names; names = NULL;
    prc = TAC_OK;
done:
    cJSON_Delete(o);
    free(mode); free(hash); free(prec); tac_free_strings(names, nnames);
    return prc;
}

/* What assign needs from the run's model/: the selected nouns (E: S x e, their names), the joint centroids (C:
 * K x 2e) and, for a TAC run, the heads; each checked against params.json's K and the model's width e. */
typedef struct { float *E, *C; int64_t nsel; char **sel_names; tac_heads *heads; } run_model;

static void run_model_free(run_model *rm)
{
    free(rm->E); free(rm->C);
    tac_free_strings(rm->sel_names, rm->sel_names ? rm->nsel : 0);
    if (rm->heads) tac_heads_free(rm->heads);
    memset(rm, 0, sizeof *rm);
}

static int load_run_model(const char *run, int e, int K, int heads_mode, run_model *rm)
{
    char path[PATH_MAX + 64];
    int64_t r1, c1, nsn = 0;
    memset(rm, 0, sizeof *rm);
    if (JOIN(path, run, "model/selected.npy") != TAC_OK) goto fail;
    if (tac_npy_load_f32(path, &rm->E, &rm->nsel, &c1) != TAC_OK) goto fail;
    if (c1 != e || rm->nsel < 1) { tac_fail("%s: %lld x %lld, expected S x %d with S >= 1", path, (long long)rm->nsel, (long long)c1, e); goto fail; }
    if (tac_check_finite(path, rm->E, rm->nsel, e) != TAC_OK) goto fail;
    if (JOIN(path, run, "model/centroids.npy") != TAC_OK) goto fail;
    if (tac_npy_load_f32(path, &rm->C, &r1, &c1) != TAC_OK) goto fail;
    if (r1 != K || c1 != 2 * e) { tac_fail("%s: %lld x %lld, expected K x 2E = %d x %d (params.json)", path, (long long)r1, (long long)c1, K, 2 * e); goto fail; }
    if (tac_check_finite(path, rm->C, K, 2 * e) != TAC_OK) goto fail;
    if (JOIN(path, run, "model/selected_nouns.txt") != TAC_OK) goto fail;
    if (tac_read_lines(path, &rm->sel_names, &nsn, 0) != TAC_OK) goto fail;
    if (nsn != rm->nsel) {
        tac_fail("%s: %lld names for the %lld nouns of selected.npy", path, (long long)nsn, (long long)rm->nsel);
        tac_free_strings(rm->sel_names, nsn); rm->sel_names = NULL;
        goto fail;
    }
    if (heads_mode) {
        if (JOIN(path, run, "model/heads.bin") != TAC_OK) goto fail;
        if (tac_heads_load(path, &rm->heads) != TAC_OK) goto fail;
        if (tac_heads_input_dim(rm->heads) != e || tac_heads_num_clusters(rm->heads) != K) {
            tac_fail("%s: heads for width %d and K = %d, the run has width %d and K = %d (params.json)", path,
                     tac_heads_input_dim(rm->heads), tac_heads_num_clusters(rm->heads), e, K);
            goto fail;
        }
    }
    return TAC_OK;
fail:
    run_model_free(rm);
    return TAC_ERR;
}

/* stage/clusters.csv = the run's rows minus those of re-assigned paths, then the new rows (v). A row is
 * re-assigned when it starts with a new path's cell exactly as written (escaped, quoted). */
static int append_clusters_csv(const char *run, const char *stage, const tac_clustering_view *v)
{
    char csv[PATH_MAX + 32];
    char **lines; int64_t nl, n = v->n;
    if (JOIN(csv, run, "clusters.csv") != TAC_OK) return TAC_ERR;
    if (tac_read_lines(csv, &lines, &nl, 1) != TAC_OK) return TAC_ERR;
    if (JOIN(csv, stage, "clusters.csv") != TAC_OK) { tac_free_strings(lines, nl); return TAC_ERR; }
    tac_atomic a;
    if (tac_atomic_open(&a, csv) != TAC_OK) { tac_free_strings(lines, nl); return TAC_ERR; }
    char **cells = tac_xmalloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++) cells[i] = tac_csv_cell(v->paths[i]);
    for (int64_t l = 0; l < nl; l++) {
        int replaced = 0;
        for (int64_t i = 0; l > 0 && i < n && !replaced; i++) {
            size_t cl = strlen(cells[i]);
            replaced = strncmp(lines[l], cells[i], cl) == 0 && lines[l][cl] == ',';
        }
        if (!replaced) fprintf(a.f, "%s\n", lines[l]);
    }
    tac_free_strings(cells, n);
    tac_free_strings(lines, nl);
    tac_write_clusters_csv_rows(a.f, v);
    return tac_atomic_commit(&a);
}

/* The rest of the new run: the committed run's files and links, then the new images' links (a re-assigned image
 * loses its earlier link; a new name taken by another image gets a -2 suffix). */
static int carry_run_and_link(const char *run, const char *stage, char **paths, const int32_t *pred, int64_t n, int K)
{
    static const char *const same[] = {"clusters.json", "report.html", "run.json", "model/selected.npy",
                                       "model/centroids.npy", "model/selected_nouns.txt", "model/heads.bin",
                                       "model/params.json"};
    char path[PATH_MAX + 64];
    if (JOIN(path, stage, "model") != TAC_OK) return TAC_ERR;
    if (tac_mkdir_p(path) != TAC_OK) return TAC_ERR;
    for (size_t f = 0; f < sizeof same / sizeof same[0]; f++) if (carry_file(run, stage, same[f]) != TAC_OK) return TAC_ERR;
    char **targets = tac_xmalloc((size_t)n + 1, sizeof(char *)), **sorted = tac_xmalloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++) {
        char target[PATH_MAX];
        if (!realpath(paths[i], target)) snprintf(target, sizeof target, "%s", paths[i]);
        targets[i] = sorted[i] = tac_xstrdup(target);
    }
    int lrc = tac_copy_cluster_links(run, stage, sorted, n);
    for (int64_t i = 0; i < n && lrc == TAC_OK; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        lrc = tac_add_cluster_link(stage, pred[i], K, targets[i], base);
    }
    free(sorted);
    tac_free_strings(targets, n);
    return lrc;
}

/* assign with OUT locked: reads the committed run (od->committed), writes a new run (the committed one plus the
 * new images) in od->stage and commits it, so an assign that fails changes nothing. */
static int assign_in(tac_outdir *od, const char *out, const char *model_dir, const char *const *inputs, int ninputs,
                     const char *list_file, int batch)
{
    const char *run = od->committed;
    tac_cluster_params p;
    tac_cluster_default_params(&p);
    char **run_inputs = NULL, want_hash[64], **names = NULL, **paths = NULL, **why = NULL, **inouns = NULL;
    int nrun = 0, K = 0, resize = p.resize, json_e = 0, heads_mode = 0, rc = TAC_ERR, e = 0, run_prec = -1;
    if (batch < 0 || batch > TAC_CLUSTER_MAX_BATCH)
        return tac_fail("--batch must be from 1 to %d images, found %d", TAC_CLUSTER_MAX_BATCH, batch);
    if (read_run_json(run, &p, &run_inputs, &nrun) != TAC_OK) return TAC_ERR;   /* p's strings: still the defaults */
    tac_free_strings(run_inputs, nrun);
    if (model_dir) { free((char *)p.model_dir); p.model_dir = tac_xstrdup(model_dir); }
    if (read_model_params(run, out, &heads_mode, &K, &json_e, &resize, want_hash, sizeof want_hash, &names, &run_prec) != TAC_OK) {
        free_run_strings(&p);
        return TAC_ERR;
    }
    tac_clip *model = NULL;
    run_model rm = {0};
    int64_t n = 0, n_all = 0;
    float *X = NULL, *W = NULL, *conf = NULL;
    int32_t *pred = NULL;
    /* 1. the run's model: the same CLIP, its selected nouns, centroids and heads */
    if (tac_clip_load_ex(p.model_dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &model) != TAC_OK) goto done;
    if (strcmp(tac_clip_hash(model), want_hash) != 0) {
        tac_fail("%s: the model differs from the one the run used (hash %s, run %s)", p.model_dir, tac_clip_hash(model), want_hash);
        goto done;
    }
    /* the new images in the run's precision, unless the user chose one (--precision, TACLUST_PRECISION): bf16 and
     * fp32 features differ slightly (cosine >= 0.9997) and the run's heads and centroids were made from its own */
    if (run_prec >= 0 && tac_clip_default_precision() == TAC_CLIP_AUTO && tac_clip_precision(model) != run_prec) {
        if (run_prec == TAC_CLIP_BF16 && !tac_clip_bf16_available())
            tac_info("the run embedded in bf16, which this CPU lacks: assigning with fp32 features");
        else if (tac_clip_set_precision(model, run_prec) != TAC_OK) goto done;
    }
    e = tac_clip_embed_dim(model);
    if (json_e != e) { tac_fail("%s/model/params.json: embed_dim %d, the model's is %d", out, json_e, e); goto done; }
    if (load_run_model(run, e, K, heads_mode, &rm) != TAC_OK) goto done;
    /* 2. the new images, embedded through the run's cache */
    job_images ji = {out, list_file, run, resize, batch > 0 ? batch : p.batch, 1};
    if (embed_job_images(od, model, inputs, ninputs, &ji, &paths, &why, &n, &n_all, &X) != TAC_OK) goto done;
    if (n == 0) { tac_fail("none of the %lld new images could be read (nothing assigned)", (long long)n_all); goto done; }
    /* 3. clusters: the run's heads, or its nearest joint centroid; the images' nouns */
    pred = tac_xmalloc((size_t)n, sizeof(int32_t));
    conf = tac_xmalloc((size_t)n, sizeof(float));
    W = tac_xmalloc((size_t)n * rm.nsel, sizeof(float));
    if (tac_fit_assign(X, n, e, rm.E, rm.nsel, TAC_TAU, rm.heads, rm.C, K, pred, conf, W) != TAC_OK) goto done;
    int64_t *ident = tac_xmalloc((size_t)rm.nsel, sizeof(int64_t));   /* selected noun names are indexed 0..S-1 */
    for (int64_t s = 0; s < rm.nsel; s++) ident[s] = s;
    inouns = tac_image_nouns(W, n, rm.nsel, ident, rm.sel_names);
    free(ident);
    /* 4. the new run: clusters.csv with the new rows, the committed run's files and links, the new links */
    tac_clustering_view v = {n, K, (const char *const *)paths, pred, conf, inouns, names, names, NULL, 0};
    if (append_clusters_csv(run, od->stage, &v) != TAC_OK) goto done;
    if (carry_run_and_link(run, od->stage, paths, pred, n, K) != TAC_OK) goto done;
    if (tac_outdir_commit(od) != TAC_OK) goto done;
    for (int64_t i = 0; i < n; i++)
        printf("%s -> cluster %d (%s), confidence %.2f\n", paths[i], pred[i], names[pred[i]], conf[i]);
    rc = TAC_OK;
done:
    tac_clip_free(model);
    run_model_free(&rm);
    tac_free_strings(paths, n_all);
    tac_free_strings(why, n_all);
    tac_free_strings(inouns, inouns ? n : 0);
    tac_free_strings(names, K);
    free(X); free(W); free(conf); free(pred);
    free_run_strings(&p);
    return rc;
}
