/* tac_hub.c - the Hugging Face cache side of the hub: settings from the environment, repo ids, the
 * huggingface_hub cache layout (refs/, snapshots/, blobs/), the check that a snapshot holds a whole CLIP model,
 * `taclust models` listing, and tac_model_resolve, the one function every command's --model goes through.
 * Downloads are in tac_download.c. */
#include "tac_hub_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

const tac_hub_weights tac_hub_weight_formats[] = {
    {"model.safetensors", "safetensors", 0, 0},
    {"model.safetensors.index.json", "safetensors (sharded)", 1, 0},
    {"open_clip_model.safetensors", "open_clip safetensors", 0, 1},
    {"pytorch_model.bin", "pytorch .bin", 0, 0},
    {"pytorch_model.bin.index.json", "pytorch .bin (sharded)", 1, 0},
    {"open_clip_pytorch_model.bin", "open_clip .bin", 0, 1},
    {NULL, NULL, 0, 0}};

const char *const tac_hub_tokenizer_files[] = {"vocab.json", "merges.txt", NULL};
const char *const tac_hub_extra_files[] = {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "preprocessor_config.json", NULL};

char *tac_hub_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : tac_try_malloc((size_t)n + 1, 1, "hub");
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void tac_hub_default_options(tac_hub_options *o)
{
    memset(o, 0, sizeof *o);
    o->offline = -1;
    o->progress = 1;
}

static int env_true(const char *v)
{
    return v && (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *dup_str(const char *s) { return tac_hub_printf("%s", s); }

int tac_hub_env_get(const tac_hub_options *o, tac_hub_env *e)
{
    memset(e, 0, sizeof *e);
    tac_hub_options d;
    if (!o) { tac_hub_default_options(&d); o = &d; }
    const char *v;
    if (o->cache_dir) e->cache = dup_str(o->cache_dir);
    else if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE"))) e->cache = dup_str(v);
    else if ((v = env_nonempty("HF_HOME"))) e->cache = tac_hub_printf("%s/hub", v);
    else if ((v = env_nonempty("XDG_CACHE_HOME"))) e->cache = tac_hub_printf("%s/huggingface/hub", v);
    else e->cache = tac_hub_printf("%s/.cache/huggingface/hub", (v = env_nonempty("HOME")) ? v : ".");
    v = o->endpoint ? o->endpoint : env_nonempty("HF_ENDPOINT");
    e->endpoint = dup_str(v ? v : "https://huggingface.co");
    if (!e->cache || !e->endpoint) { tac_hub_env_free(e); return TAC_ERR; }
    for (size_t n = strlen(e->endpoint); n > 0 && e->endpoint[n - 1] == '/'; n--) e->endpoint[n - 1] = 0;
    v = o->token ? o->token : env_nonempty("HF_TOKEN") ? env_nonempty("HF_TOKEN") : env_nonempty("HUGGING_FACE_HUB_TOKEN");
    e->token = v && *v ? dup_str(v) : NULL;
    if (v && *v && !e->token) { tac_hub_env_free(e); return TAC_ERR; }
    e->offline = o->offline >= 0 ? o->offline : env_true(getenv("HF_HUB_OFFLINE"));
    e->progress = o->progress;
    return TAC_OK;
}

void tac_hub_env_free(tac_hub_env *e)
{
    free(e->cache); free(e->endpoint); free(e->token);
    memset(e, 0, sizeof *e);
}

char *tac_hub_cache_dir(const tac_hub_options *o)
{
    tac_hub_env e;
    if (tac_hub_env_get(o, &e) != TAC_OK) return NULL;
    char *c = e.cache;
    e.cache = NULL;
    tac_hub_env_free(&e);
    return c;
}

int tac_hub_is_commit(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) if (!isdigit((unsigned char)s[n]) && !(s[n] >= 'a' && s[n] <= 'f')) return 0;
    return n == 40;
}

int tac_hub_safe_name(const char *name)
{
    if (!*name || strchr(name, '/') || strstr(name, "..") || strlen(name) > 200) return 0;
    for (const char *p = name; *p; p++) if ((unsigned char)*p < 0x20 || *p == '\\') return 0;
    return 1;
}

static int id_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.'; }

int tac_hub_parse_id(const char *spec, char *repo, size_t repo_cap, char *rev, size_t rev_cap)
{
    const char *at = strchr(spec, '@');
    size_t rn = at ? (size_t)(at - spec) : strlen(spec);
    const char *slash = memchr(spec, '/', rn);
    int ok = slash && slash > spec && slash < spec + rn - 1 && !memchr(slash + 1, '/', rn - (size_t)(slash + 1 - spec));
    for (size_t i = 0; ok && i < rn; i++) if (spec + i != slash && !id_char((unsigned char)spec[i])) ok = 0;
    if (ok && (spec[0] == '.' || slash[1] == '.' || memmem(spec, rn, "--", 2) || memmem(spec, rn, "..", 2))) ok = 0;
    const char *r = at ? at + 1 : "main";
    if (ok && (!*r || strstr(r, "..") || r[0] == '/' || r[strlen(r) - 1] == '/')) ok = 0;
    for (const char *p = r; ok && *p; p++) if (!id_char((unsigned char)*p) && *p != '/') ok = 0;
    if (!ok) return tac_fail("'%s' is neither a folder nor a Hugging Face model id (org/name or org/name@revision)", spec);
    if (rn >= repo_cap || strlen(r) >= rev_cap) return tac_fail("'%s': model id too long", spec);
    memcpy(repo, spec, rn); repo[rn] = 0;
    strcpy(rev, r);
    return TAC_OK;
}

char *tac_hub_repo_dir(const char *cache, const char *repo)
{
    const char *slash = strchr(repo, '/');
    return tac_hub_printf("%s/models--%.*s--%s", cache, (int)(slash - repo), repo, slash + 1);
}

/* ---- is a snapshot a whole CLIP model? -------------------------------------------------------------------- */

int tac_hub_check_clip(const char *repo, const char *config, size_t config_len, const char *oc, size_t oc_len, int *hf)
{
    char found[160] = "";
    *hf = 0;
    if (config) {
        cJSON *j = cJSON_ParseWithLength(config, config_len);
        if (!j) return tac_fail("%s: config.json is not valid JSON", repo);
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
        const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "architectures"), 0);
        int clip = cJSON_IsString(mt) && strcmp(mt->valuestring, "clip") == 0;
        if (cJSON_IsString(mt))
            snprintf(found, sizeof found, "config.json has model_type '%.40s'%s%.60s", mt->valuestring,
                     cJSON_IsString(arch) ? ", architecture " : "", cJSON_IsString(arch) ? arch->valuestring : "");
        else snprintf(found, sizeof found, "config.json has no model_type");
        cJSON_Delete(j);
        if (clip) { *hf = 1; return TAC_OK; }
    }
    if (oc) {
        cJSON *j = cJSON_ParseWithLength(oc, oc_len);
        if (!j) return tac_fail("%s: open_clip_config.json is not valid JSON", repo);
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(j, "model_cfg");
        int ok = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(mc, "vision_cfg")) &&
                 cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(mc, "text_cfg"));
        cJSON_Delete(j);
        if (ok) return TAC_OK;
        return tac_fail("%s is not a CLIP model: open_clip_config.json has no model_cfg with vision_cfg and text_cfg", repo);
    }
    if (!config) return tac_fail("%s is not a CLIP model: it has neither config.json nor open_clip_config.json", repo);
    return tac_fail("%s is not a CLIP model: %s (taclust runs CLIP: model_type 'clip', or OpenCLIP)", repo, found);
}

int tac_hub_index_shards(const char *json, size_t len, const char *what, char ***shards, int *n)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *wm = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) { cJSON_Delete(j); return tac_fail("%s: no \"weight_map\" object", what); }
    char **s = NULL;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !tac_hub_safe_name(e->valuestring)) {
            tac_fail("%s: weight_map entry '%.100s' is not a plain file name", what, e->string ? e->string : "?");
            for (int i = 0; i < k; i++) free(s[i]);
            free(s); cJSON_Delete(j);
            return TAC_ERR;
        }
        int seen = 0;
        for (int i = 0; i < k && !seen; i++) seen = strcmp(s[i], e->valuestring) == 0;
        if (seen) continue;
        char **ns = realloc(s, ((size_t)k + 1) * sizeof *s);
        char *v = ns ? dup_str(e->valuestring) : NULL;
        if (ns) s = ns;
        if (!v) {
            for (int i = 0; i < k; i++) free(s[i]);
            free(s); cJSON_Delete(j);
            return tac_fail("%s: out of memory", what);
        }
        s[k++] = v;
    }
    cJSON_Delete(j);
    if (k == 0) { free(s); return tac_fail("%s: empty weight_map", what); }
    *shards = s; *n = k;
    return TAC_OK;
}

static int file_exists(const char *path)   /* follows links: a dangling link is absent; NULL (no memory): absent */
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_opt(const char *dir, const char *name, char **buf, size_t *len)
{
    char *p = tac_hub_printf("%s/%s", dir, name);
    int ok = file_exists(p) && tac_read_file(p, buf, len) == TAC_OK;
    free(p);
    if (!ok) { *buf = NULL; *len = 0; }
    return ok;
}

/* Does the snapshot <rdir>/snapshots/<commit> hold a CLIP config and a whole set of weights (and, with need_tok, for a
 * transformers CLIP, vocab.json and merges.txt, each there or known absent from the repo: .no_exist/<commit>/<file>,
 * as huggingface_hub records it)? Returns the format, or NULL with the reason set. */
static const char *snapshot_format(const char *repo, const char *rdir, const char *commit, int need_tok)
{
    char *dir = tac_hub_printf("%s/snapshots/%s", rdir, commit);
    const char *f = NULL;
    if (!dir) return NULL;
    char *cfg, *oc;
    size_t cl, ol;
    read_opt(dir, "config.json", &cfg, &cl);
    read_opt(dir, "open_clip_config.json", &oc, &ol);
    int hf;
    int rc = tac_hub_check_clip(repo, cfg, cl, oc, ol, &hf);
    free(cfg); free(oc);
    if (rc != TAC_OK) goto done;
    for (const tac_hub_weights *w = tac_hub_weight_formats; w->file && !f; w++) {
        if (!hf && !w->open_clip) continue;
        char *p = tac_hub_printf("%s/%s", dir, w->file);
        int have = file_exists(p), oom = !p;
        free(p);
        if (oom) goto done;
        if (!have) continue;
        if (!w->index) { f = w->format; break; }
        char *js, **sh;
        size_t jl;
        int ns, all = 1;
        if (!read_opt(dir, w->file, &js, &jl)) continue;
        rc = tac_hub_index_shards(js, jl, w->file, &sh, &ns);
        free(js);
        if (rc != TAC_OK) goto done;
        for (int i = 0; i < ns; i++) {
            char *q = tac_hub_printf("%s/%s", dir, sh[i]);
            if (!file_exists(q)) all = 0;          /* no memory: not known complete */
            free(q); free(sh[i]);
        }
        free(sh);
        if (all) f = w->format;
    }
    if (!f) tac_fail("%s: the cached snapshot %s has no complete weights", repo, dir);
    for (const char *const *t = tac_hub_tokenizer_files; f && hf && need_tok && *t; t++) {
        char *p = tac_hub_printf("%s/%s", dir, *t), *q = tac_hub_printf("%s/.no_exist/%s/%s", rdir, commit, *t);
        struct stat st;
        int known = file_exists(p) || (q && lstat(q, &st) == 0);
        free(p); free(q);
        if (!known) { tac_fail("%s: the cached snapshot %s has no %s", repo, dir, *t); f = NULL; }
    }
done:
    free(dir);
    return f;
}

/* The commit a revision points at in the cache (refs/<rev>), or rev itself when it is a commit hash. */
static int cached_commit(const char *rdir, const char *rev, char commit[41])
{
    if (tac_hub_is_commit(rev)) { strcpy(commit, rev); return TAC_OK; }
    char *p = tac_hub_printf("%s/refs/%s", rdir, rev), *buf;
    if (!p) return TAC_ERR;
    size_t len;
    int rc = file_exists(p) ? tac_read_file(p, &buf, &len) : TAC_ERR;
    free(p);
    if (rc != TAC_OK) return TAC_ERR;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r')) buf[--len] = 0;
    rc = tac_hub_is_commit(buf) ? TAC_OK : TAC_ERR;
    if (rc == TAC_OK) strcpy(commit, buf);
    free(buf);
    return rc;
}

static int lookup(const char *repo, const char *rev, const tac_hub_options *o, int need_tok, char **dir)
{
    tac_hub_env e;
    if (tac_hub_env_get(o, &e) != TAC_OK) return TAC_ERR;
    char *rdir = tac_hub_repo_dir(e.cache, repo), commit[41];
    int rc = TAC_ERR;
    if (!rdir) {
        /* out of memory: the reason is set */
    } else if (cached_commit(rdir, rev, commit) != TAC_OK) {
        tac_fail("%s@%s is not in the cache %s", repo, rev, e.cache);
    } else {
        if (snapshot_format(repo, rdir, commit, need_tok) && (*dir = tac_hub_printf("%s/snapshots/%s", rdir, commit))) rc = TAC_OK;
    }
    free(rdir);
    tac_hub_env_free(&e);
    return rc;
}

int tac_hub_lookup(const char *repo, const char *rev, const tac_hub_options *o, char **dir)
{
    return lookup(repo, rev, o, 1, dir);
}

/* ---- the resolver ------------------------------------------------------------------------------------------ */

int tac_model_resolve(const char *spec, const tac_hub_options *o, char **dir)
{
    if (!spec || !*spec) spec = env_nonempty("TACLUST_MODEL");
    if (!spec) spec = TAC_HUB_DEFAULT_MODEL;
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) return (*dir = dup_str(spec)) ? TAC_OK : TAC_ERR;
    char repo[256], rev[256];
    if (spec[0] == '/' || spec[0] == '.' || spec[0] == '~')
        return tac_fail("%s: no such folder", spec);
    if (tac_hub_parse_id(spec, repo, sizeof repo, rev, sizeof rev) != TAC_OK) return TAC_ERR;
    if (tac_hub_lookup(repo, rev, o, dir) == TAC_OK) return TAC_OK;
    const char *why = tac_last_error();
    if (strstr(why, "is not a CLIP model")) return TAC_ERR;   /* cached, but not something to run */
    tac_hub_env e;
    if (tac_hub_env_get(o, &e) != TAC_OK) return TAC_ERR;
    int offline = e.offline;
    char *cache = e.cache;             /* kept for the message */
    e.cache = NULL;
    tac_hub_env_free(&e);
    if (offline && lookup(repo, rev, o, 0, dir) == TAC_OK) { free(cache); return TAC_OK; }   /* no tokenizer: still usable */
    if (offline) {
        tac_fail("%s@%s is not in the cache %s and HF_HUB_OFFLINE=1 forbids downloading it (unset HF_HUB_OFFLINE, "
                 "or give --model a folder)", repo, rev, cache);
        free(cache);
        return TAC_ERR;
    }
    free(cache);
    return tac_hub_download(repo, rev, o, dir);
}

/* ---- listing ---------------------------------------------------------------------------------------------- */

static int64_t folder_bytes(const char *dir)
{
    int64_t s = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *p = tac_hub_printf("%s/%s", dir, de->d_name);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) s += st.st_size;
        free(p);
    }
    closedir(d);
    return s;
}

/* Appends to *out every ref name under refs/ (sub folders too: refs/pr/1) whose file names `commit`. TAC_ERR when
 * memory is short. */
static int refs_naming(const char *refdir, const char *prefix, const char *commit, char **out)
{
    DIR *d = opendir(refdir);
    if (!d) return TAC_OK;
    struct dirent *de;
    int rc = TAC_OK;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *p = tac_hub_printf("%s/%s", refdir, de->d_name), *name = tac_hub_printf("%s%s", prefix, de->d_name);
        struct stat st;
        if (!p || !name) {
            rc = TAC_ERR;
        } else if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            char *sub = tac_hub_printf("%s/", name);
            rc = sub ? refs_naming(p, sub, commit, out) : TAC_ERR;
            free(sub);
        } else {
            char *buf;
            size_t len;
            if (tac_read_file(p, &buf, &len) == TAC_OK) {
                while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) buf[--len] = 0;
                if (strcmp(buf, commit) == 0) {
                    char *n = **out ? tac_hub_printf("%s,%s", *out, name) : dup_str(name);
                    if (n) { free(*out); *out = n; } else rc = TAC_ERR;
                }
                free(buf);
            }
        }
        free(p); free(name);
    }
    closedir(d);
    return rc;
}

static int cmp_model(const void *a, const void *b)
{
    const tac_hub_model *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->commit, y->commit);
}

int tac_hub_list(const tac_hub_options *o, tac_hub_model **models, int *n)
{
    char *cache = tac_hub_cache_dir(o);
    tac_hub_model *m = NULL;
    int k = 0, rc = TAC_OK;
    if (!cache) return TAC_ERR;
    DIR *d = opendir(cache);
    if (!d) {
        int err = errno;
        *models = NULL; *n = 0;
        if (err == ENOENT) { free(cache); return TAC_OK; }   /* no cache yet: no models */
        tac_fail("%s: cannot read the cache folder: %s", cache, strerror(err));
        free(cache);
        return TAC_ERR;
    }
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (strncmp(de->d_name, "models--", 8) != 0) continue;
        const char *org = de->d_name + 8, *sep = strstr(org, "--");
        if (!sep || sep == org || !sep[2]) continue;
        char *id = tac_hub_printf("%.*s/%s", (int)(sep - org), org, sep + 2);
        char *sdir = tac_hub_printf("%s/%s/snapshots", cache, de->d_name);
        DIR *sd = id && sdir ? opendir(sdir) : NULL;
        struct dirent *se;
        if (!id || !sdir) rc = TAC_ERR;
        while (rc == TAC_OK && sd && (se = readdir(sd))) {
            if (!tac_hub_is_commit(se->d_name)) continue;
            char *snap = tac_hub_printf("%s/%s", sdir, se->d_name);
            char *rdir = tac_hub_printf("%s/%s", cache, de->d_name);
            const char *fmt = snap && rdir ? snapshot_format(id, rdir, se->d_name, 0) : NULL;
            int oom = !snap || !rdir;
            free(rdir);
            if (oom) { free(snap); rc = TAC_ERR; break; }
            if (!fmt) { free(snap); continue; }
            tac_hub_model *nm = realloc(m, ((size_t)k + 1) * sizeof *m);
            if (!nm) { free(snap); rc = tac_fail("listing the hub cache: out of memory"); break; }
            m = nm;
            tac_hub_model *x = &m[k++];
            memset(x, 0, sizeof *x);
            x->dir = snap;
            x->format = fmt;
            x->bytes = folder_bytes(snap);
            x->id = dup_str(id);
            x->commit = dup_str(se->d_name);
            x->revisions = dup_str("");
            char *refdir = tac_hub_printf("%s/%s/refs", cache, de->d_name);
            if (!x->id || !x->commit || !x->revisions || !refdir ||
                refs_naming(refdir, "", se->d_name, &x->revisions) != TAC_OK)
                rc = TAC_ERR;
            free(refdir);
        }
        if (sd) closedir(sd);
        free(id); free(sdir);
    }
    closedir(d);
    free(cache);
    if (rc != TAC_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", tac_last_error());
        tac_hub_list_free(m, k);
        *models = NULL; *n = 0;
        return tac_fail("%s", why[0] ? why : "listing the hub cache: out of memory");
    }
    tac_clear_error();
    if (k > 1) qsort(m, (size_t)k, sizeof *m, cmp_model);
    *models = m; *n = k;
    return TAC_OK;
}

void tac_hub_list_free(tac_hub_model *models, int n)
{
    for (int i = 0; i < n; i++) {
        free(models[i].id); free(models[i].revisions); free(models[i].commit); free(models[i].dir);
    }
    free(models);
}
