/* tac_download.c - fetching a CLIP model from the Hugging Face Hub (or $HF_ENDPOINT) into the huggingface_hub
 * cache layout, with libcurl.
 *
 * Protocol (what the Hub serves): HEAD {endpoint}/{repo}/resolve/{revision}/{file} answers, before any redirect,
 * with X-Repo-Commit (the commit the revision points at), ETag (git oid) and, for LFS files, X-Linked-Etag (their
 * sha256) and X-Linked-Size; a 404 with X-Error-Code EntryNotFound means the file is absent, RepoNotFound /
 * RevisionNotFound / GatedRepo (401/403) say why a repo cannot be read. GET follows the redirect (the CDN).
 *
 * Order of work, so that nothing half-written is ever taken for complete:
 *   1. HEAD config.json at the revision (its X-Repo-Commit pins every later request to that commit), fetch it and
 *      check it is CLIP; HEAD the tokenizer files and the weight candidates (first present format wins).
 *   2. every file into blobs/<etag>.incomplete (appended to with a Range request when a partial one is there,
 *      after a cut connection or an earlier interrupted run), size checked, LFS files checked against their
 *      sha256, then renamed to blobs/<etag> (a bad checksum deletes the partial file);
 *   3. only then the snapshots/<commit>/<file> links (made under a temporary name and renamed),
 *   4. refs/<revision> last, atomically.
 * A blob is downloaded under an flock on <cache>/.locks/models--org--name/<etag>.lock, the lock huggingface_hub
 * takes, so two downloaders (taclust or Python) never write the same file. Progress: bytes, rate and ETA on a
 * terminal, a line every 5 s otherwise, nothing with --quiet.
 */
#include "tac_hub_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    long status;
    char commit[64], etag[160], linked_etag[160], location[2048], err_code[64], err_msg[256];
    int64_t length, linked_size;      /* -1: not sent */
} hub_headers;

typedef struct {
    char *name;
    char etag[160];
    int64_t size;                     /* -1: unknown */
    int lfs;                          /* etag is the sha256 */
} hub_file;

typedef struct {
    tac_hub_env env;
    const char *repo;
    char *rdir;                       /* <cache>/models--org--name */
    CURL *curl;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    hub_file *files; int nfiles;
    const char *absent[8]; int nabsent;   /* tokenizer/extra files the repo does not have (.no_exist markers) */
    /* progress over the bytes to fetch */
    int64_t total, done;
    tac_progress prog; int show;     /* to the process-wide progress sink, label "downloading org/name" */
    char label[192];
    /* the GET in flight */
    FILE *out; int64_t offset; int restarted; hub_headers *h;
    tac_sha256_ctx sha; int64_t hashed;   /* sha256 of the partial file's first `hashed` bytes, kept as it grows */
} hub_dl;


static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- headers ------------------------------------------------------------------------------------------------ */

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    while (n && *v == ' ') { v++; n--; }
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t on_header(char *b, size_t sz, size_t nm, void *ud)
{
    hub_headers *h = ud;
    size_t len = sz * nm;
    if (len >= 5 && strncmp(b, "HTTP/", 5) == 0) {   /* a new response (after a redirect): forget the last one */
        memset(h, 0, sizeof *h);
        h->length = h->linked_size = -1;
        const char *sp = memchr(b, ' ', len);
        if (sp) h->status = strtol(sp + 1, NULL, 10);
        return len;
    }
    const char *colon = memchr(b, ':', len);
    if (!colon) return len;
    size_t kn = (size_t)(colon - b);
    const char *v = colon + 1;
    size_t vn = len - kn - 1;
    char val[2048];
#define IS(name) (kn == strlen(name) && strncasecmp(b, name, kn) == 0)
    if (IS("x-repo-commit")) copy_value(h->commit, sizeof h->commit, v, vn);
    else if (IS("etag")) copy_value(h->etag, sizeof h->etag, v, vn);
    else if (IS("x-linked-etag")) copy_value(h->linked_etag, sizeof h->linked_etag, v, vn);
    else if (IS("location")) copy_value(h->location, sizeof h->location, v, vn);
    else if (IS("x-error-code")) copy_value(h->err_code, sizeof h->err_code, v, vn);
    else if (IS("x-error-message")) copy_value(h->err_msg, sizeof h->err_msg, v, vn);
    else if (IS("content-length")) { copy_value(val, sizeof val, v, vn); h->length = strtoll(val, NULL, 10); }
    else if (IS("x-linked-size")) { copy_value(val, sizeof val, v, vn); h->linked_size = strtoll(val, NULL, 10); }
#undef IS
    return len;
}

/* An ETag as the cache names blobs: without W/ and quotes. */
static void norm_etag(char *dst, size_t cap, const char *e)
{
    if (strncmp(e, "W/", 2) == 0) e += 2;
    size_t n = strlen(e);
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"') { e++; n -= 2; }
    if (n >= cap) n = cap - 1;
    memcpy(dst, e, n);
    dst[n] = 0;
}

static int is_sha256(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) if (!isxdigit((unsigned char)s[n])) return 0;
    return n == 64;
}

/* ---- errors ------------------------------------------------------------------------------------------------- */

/* One line for an HTTP failure on `file`. */
static int http_fail(hub_dl *d, const hub_headers *h, const char *rev, const char *file)
{
    const char *code = h->err_code, *ep = d->env.endpoint, *repo = d->repo;
    int tok = d->env.token != NULL;
    if (!strcmp(code, "GatedRepo") || (h->status == 403 && !code[0]) || (h->status == 401 && !strcmp(code, "")))
        return tok ? tac_fail("%s is gated and your HF_TOKEN was refused (HTTP %ld): accept its terms on %s/%s with "
                              "the account the token belongs to", repo, h->status, ep, repo)
                   : tac_fail("%s is gated (HTTP %ld): accept its terms on %s/%s, then set HF_TOKEN to an access "
                              "token (export HF_TOKEN=hf_..., from %s/settings/tokens)", repo, h->status, ep, repo, ep);
    if (!strcmp(code, "RepoNotFound") || (h->status == 401))
        return tac_fail("%s: no such model on %s (and no folder of that name here)%s", repo, ep,
                        tok ? "" : "; a private repo needs HF_TOKEN");
    if (!strcmp(code, "RevisionNotFound")) return tac_fail("%s has no revision '%s' on %s", repo, rev, ep);
    if (h->status == 404) return tac_fail("%s has no file '%s' at revision %s on %s", repo, file, rev, ep);
    return tac_fail("%s: %s: HTTP %ld from %s%s%s", repo, file, h->status, ep, h->err_msg[0] ? ": " : "", h->err_msg);
}

/* ---- requests ----------------------------------------------------------------------------------------------- */

static char *url_of(hub_dl *d, const char *rev, const char *file)
{
    char *er = curl_easy_escape(d->curl, rev, 0);   /* refs/pr/1 -> refs%2Fpr%2F1, as the Hub expects */
    char *ef = curl_easy_escape(d->curl, file, 0);
    char *u = er && ef ? tac_hub_printf("%s/%s/resolve/%s/%s", d->env.endpoint, d->repo, er, ef) : NULL;
    if (!u && (!er || !ef)) tac_fail("%s: out of memory", d->repo);
    curl_free(er); curl_free(ef);
    return u;
}

static void common_opts(hub_dl *d, const char *url, hub_headers *h)
{
    curl_easy_reset(d->curl);
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(d->curl, CURLOPT_USERAGENT, "taclust/" TACLUST_VERSION);
    curl_easy_setopt(d->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(d->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(d->curl, CURLOPT_ERRORBUFFER, d->curl_err);
    curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(d->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);      /* a stalled transfer: give up after 60 s */
    curl_easy_setopt(d->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(d->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    d->curl_err[0] = 0;
    memset(h, 0, sizeof *h);
    h->length = h->linked_size = -1;
}

static int net_fail(hub_dl *d, CURLcode c)
{
    return tac_fail("cannot reach %s: %s (HF_HUB_OFFLINE=1 uses only the cache)", d->env.endpoint,
                    d->curl_err[0] ? d->curl_err : curl_easy_strerror(c));
}

/* HEAD a file; *present = 0 for a 404 EntryNotFound. Relative redirects (a renamed repo) are followed, an
 * absolute one (the CDN) is not: its response already carries the metadata. */
static int head(hub_dl *d, const char *rev, const char *file, hub_headers *h, int *present)
{
    char *url = url_of(d, rev, file);
    if (!url) return TAC_ERR;
    for (int hop = 0;; hop++) {
        common_opts(d, url, h);
        curl_easy_setopt(d->curl, CURLOPT_NOBODY, 1L);
        CURLcode c = curl_easy_perform(d->curl);
        if (c != CURLE_OK) { free(url); return net_fail(d, c); }
        if (h->status >= 300 && h->status < 400 && h->location[0] == '/' && hop < 5) {
            const char *host = strstr(d->env.endpoint, "://");
            const char *slash = host ? strchr(host + 3, '/') : NULL;
            int olen = slash ? (int)(slash - d->env.endpoint) : (int)strlen(d->env.endpoint);
            free(url);
            url = tac_hub_printf("%.*s%s", olen, d->env.endpoint, h->location);
            if (!url) return TAC_ERR;
            continue;
        }
        break;
    }
    free(url);
    *present = 1;
    if (h->status >= 200 && h->status < 400) return TAC_OK;
    if (h->status == 404 && (!strcmp(h->err_code, "EntryNotFound") || !h->err_code[0])) { *present = 0; return TAC_OK; }
    return http_fail(d, h, rev, file);
}

static hub_file *add_file(hub_dl *d, const char *name, const hub_headers *h)
{
    if (!tac_hub_safe_name(name)) { tac_fail("%s: refusing the file name '%s'", d->repo, name); return NULL; }
    const char *e = h->linked_etag[0] ? h->linked_etag : h->etag;
    if (!e[0]) { tac_fail("%s: %s: the server sent no ETag (is %s a Hugging Face endpoint?)", d->repo, name, d->env.endpoint); return NULL; }
    hub_file *nf = realloc(d->files, ((size_t)d->nfiles + 1) * sizeof *d->files);
    if (!nf) { tac_fail("%s: out of memory", d->repo); return NULL; }
    d->files = nf;
    hub_file *f = &d->files[d->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->name = tac_hub_printf("%s", name))) return NULL;
    d->nfiles++;
    norm_etag(f->etag, sizeof f->etag, e);
    if (!tac_hub_safe_name(f->etag)) { d->nfiles--; free(f->name); tac_fail("%s: %s: unusable ETag", d->repo, name); return NULL; }
    f->lfs = h->linked_etag[0] && is_sha256(f->etag);
    if (f->lfs) for (char *p = f->etag; *p; p++) *p = (char)tolower((unsigned char)*p);
    f->size = h->linked_size >= 0 ? h->linked_size : (h->status == 200 ? h->length : -1);
    return f;
}

/* ---- progress: bytes fetched so far over the bytes to fetch (the program draws the bar) ----------------- */

static void progress(hub_dl *d, int final)
{
    if (!d->show) return;
    if (final) tac_progress_end(&d->prog);
    else tac_progress_update(&d->prog, d->done);
}

/* ---- one blob ------------------------------------------------------------------------------------------------ */

static size_t on_body(char *b, size_t sz, size_t nm, void *ud)
{
    hub_dl *d = ud;
    size_t len = sz * nm;
    long st = d->h->status;
    if (st != 200 && st != 206) return len;              /* an error page (or a redirect's body): not the file */
    if (st == 200 && d->offset > 0 && !d->restarted) {   /* the server ignored the Range: start over */
        if (ftruncate(fileno(d->out), 0) != 0 || fseek(d->out, 0, SEEK_SET) != 0) return 0;
        d->done -= d->offset;
        d->offset = 0;
        d->restarted = 1;
        tac_sha256_init(&d->sha);
        d->hashed = 0;
    }
    if (fwrite(b, 1, len, d->out) != len) return 0;
    tac_sha256_update(&d->sha, b, len);   /* hashed as it arrives: no second read of a large file */
    d->hashed += (int64_t)len;
    d->done += (int64_t)len;
    progress(d, 0);
    return len;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Feeds the first n bytes of path (n < 0: all of it) to c. */
static int sha256_prefix(const char *path, tac_sha256_ctx *c, int64_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tac_fail("%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = tac_try_malloc(CHUNK, 1, path);
    if (!buf) { fclose(f); return TAC_ERR; }
    size_t r;
    int64_t left = n < 0 ? INT64_MAX : n;
    while (left > 0 && (r = fread(buf, 1, left < CHUNK ? (size_t)left : CHUNK, f)) > 0) {
        tac_sha256_update(c, buf, r);
        left -= (int64_t)r;
    }
    int err = ferror(f) || (n >= 0 && left > 0);
    fclose(f);
    free(buf);
    return err ? tac_fail("%s: read error", path) : TAC_OK;
}

static void sha256_hex_of(const tac_sha256_ctx *c, char hex[65])
{
    tac_sha256_ctx t = *c;
    uint8_t dg[32];
    tac_sha256_final(&t, dg);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dg[i]);
}

static int transient(CURLcode c)
{
    return c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR || c == CURLE_OPERATION_TIMEDOUT ||
           c == CURLE_GOT_NOTHING || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

/* Downloads f into blobs/<etag>: resumes a partial file, verifies, renames into place. Caller holds the lock. */
static int fetch_locked(hub_dl *d, const char *commit, const hub_file *f, const char *blob)
{
    char *inc = tac_hub_printf("%s.incomplete", blob), *url = inc ? url_of(d, commit, f->name) : NULL;
    int rc = TAC_ERR;
    if (!url) { free(inc); return TAC_ERR; }
    d->hashed = -1;
    for (int attempt = 0;; attempt++) {
        int64_t off = file_size(inc);
        if (off < 0) off = 0;
        if (f->size >= 0 && off > f->size) { unlink(inc); off = 0; }
        if (f->size >= 0 && off == f->size && file_size(inc) >= 0) break;   /* all there: verify */
        if (d->hashed != off) {                               /* a partial file from an earlier run: its bytes first */
            tac_sha256_init(&d->sha);
            d->hashed = -1;
            if (off > 0 && sha256_prefix(inc, &d->sha, off) != TAC_OK) goto done;
            d->hashed = off;
        }
        d->out = fopen(inc, off > 0 ? "ab" : "wb");
        if (!d->out) { tac_fail("%s: cannot write: %s", inc, strerror(errno)); goto done; }
        hub_headers h;
        common_opts(d, url, &h);
        char range[64];
        snprintf(range, sizeof range, "%lld-", (long long)off);
        if (off > 0) curl_easy_setopt(d->curl, CURLOPT_RANGE, range);
        curl_easy_setopt(d->curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(d->curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, d);
        d->offset = off; d->restarted = 0; d->h = &h;
        CURLcode c = curl_easy_perform(d->curl);
        int werr = fclose(d->out) != 0;
        d->out = NULL;
        if (werr) { tac_fail("%s: write failed: %s", inc, strerror(errno)); goto done; }
        if (c == CURLE_OK && h.status == 416 && f->size < 0) break;   /* nothing after off: whole */
        if (c == CURLE_OK && h.status >= 400) {      /* the Hub says why; a CDN's bare 403/404 is not "gated" */
            if (h.err_code[0]) http_fail(d, &h, commit, f->name);
            else tac_fail("%s: downloading %s: HTTP %ld (%lld bytes kept; run again to resume)", d->repo, f->name, h.status,
                          (long long)file_size(inc));
            goto done;
        }
        if (c == CURLE_OK && h.status != 200 && h.status != 206) {
            tac_fail("%s: %s: unexpected HTTP %ld", d->repo, f->name, h.status); goto done;
        }
        if (c == CURLE_OK) break;
        if (c == CURLE_WRITE_ERROR) { tac_fail("%s: write failed (disk full?)", inc); goto done; }
        if (!transient(c) || attempt >= 4) {
            tac_fail("%s: downloading %s stopped: %s (%lld bytes kept; run again to resume)", d->repo, f->name,
                     d->curl_err[0] ? d->curl_err : curl_easy_strerror(c), (long long)file_size(inc));
            goto done;
        }
        usleep(200000u << attempt);                             /* 0.2 s, 0.4 s, ... then resume with Range */
    }
    int64_t got = file_size(inc);
    if (f->size >= 0 && got != f->size) {
        tac_fail("%s: %s: got %lld bytes, the server announced %lld; the file was not kept", d->repo, f->name,
                 (long long)got, (long long)f->size);
        unlink(inc);
        goto done;
    }
    if (f->lfs) {
        char hex[65];
        if (d->hashed != got) {                                 /* not seen arriving (complete before this run) */
            tac_sha256_init(&d->sha);
            if (sha256_prefix(inc, &d->sha, -1) != TAC_OK) goto done;
        }
        sha256_hex_of(&d->sha, hex);
        if (strcmp(hex, f->etag) != 0) {
            unlink(inc);
            tac_fail("%s: %s: checksum mismatch (sha256 %.12s..., expected %.12s...); the file was not kept", d->repo,
                     f->name, hex, f->etag);
            goto done;
        }
    }
    int fd = open(inc, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    if (rename(inc, blob) != 0) { tac_fail("%s: cannot rename into place: %s", blob, strerror(errno)); goto done; }
    rc = TAC_OK;
done:
    free(inc); free(url);
    return rc;
}

static char *blob_path(hub_dl *d, const hub_file *f) { return tac_hub_printf("%s/blobs/%s", d->rdir, f->etag); }

static int fetch(hub_dl *d, const char *commit, const hub_file *f)
{
    char *blob = blob_path(d, f);
    if (!blob) return TAC_ERR;
    if (file_size(blob) >= 0) { free(blob); return TAC_OK; }
    const char *slash = strchr(d->repo, '/');
    char *lockdir = tac_hub_printf("%s/.locks/models--%.*s--%s", d->env.cache, (int)(slash - d->repo), d->repo, slash + 1);
    char *lock = lockdir ? tac_hub_printf("%s/%s.lock", lockdir, f->etag) : NULL;
    char *blobs = lock ? tac_hub_printf("%s/blobs", d->rdir) : NULL;
    int rc = TAC_ERR, fd = -1;
    if (!blobs) goto done;
    if (tac_mkdir_p(lockdir) != TAC_OK || tac_mkdir_p(blobs) != TAC_OK) goto done;
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { tac_fail("%s: cannot open: %s", lock, strerror(errno)); goto done; }
    if (flock(fd, LOCK_EX) != 0) { tac_fail("%s: cannot lock: %s", lock, strerror(errno)); goto done; }
    rc = file_size(blob) >= 0 ? TAC_OK : fetch_locked(d, commit, f, blob);   /* another process may have done it */
done:
    if (fd >= 0) close(fd);                                  /* releases the lock */
    free(blob); free(lockdir); free(lock); free(blobs);
    return rc;
}

static int read_blob(hub_dl *d, const hub_file *f, char **buf, size_t *len)
{
    char *b = blob_path(d, f);
    if (!b) return TAC_ERR;
    int rc = tac_read_file(b, buf, len);
    free(b);
    return rc;
}

/* snapshots/<commit>/<name> -> ../../blobs/<etag>, replaced atomically (a temporary link renamed over it). */
static int link_file(const char *snap, const hub_file *f)
{
    char *target = tac_hub_printf("../../blobs/%s", f->etag), *lnk = tac_hub_printf("%s/%s", snap, f->name);
    char *tmp = tac_hub_printf("%s/.%s.tmp.%ld", snap, f->name, (long)getpid());
    char cur[512];
    int rc = TAC_OK;
    if (!target || !lnk || !tmp) { rc = TAC_ERR; goto done; }
    ssize_t n = readlink(lnk, cur, sizeof cur - 1);
    if (n > 0 && (size_t)n == strlen(target) && memcmp(cur, target, (size_t)n) == 0) goto done;
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, lnk) != 0) {
        rc = tac_fail("%s: cannot link: %s", lnk, strerror(errno));
        unlink(tmp);
    }
done:
    free(target); free(lnk); free(tmp);
    return rc;
}

/* ---- the whole model ------------------------------------------------------------------------------------------ */

static int find_file(hub_dl *d, const char *name)
{
    for (int i = 0; i < d->nfiles; i++) if (!strcmp(d->files[i].name, name)) return i;
    return -1;
}

/* HEAD `name` at the commit and add it when present; *present tells which. */
static int probe(hub_dl *d, const char *commit, const char *name, int *present)
{
    if (find_file(d, name) >= 0) { *present = 1; return TAC_OK; }
    hub_headers h;
    if (head(d, commit, name, &h, present) != TAC_OK) return TAC_ERR;
    if (*present && !add_file(d, name, &h)) return TAC_ERR;
    return TAC_OK;
}

static int plan(hub_dl *d, const char *rev, char commit[64])
{
    hub_headers h;
    int have_cfg, have_oc = 0, p;
    const char *first = "config.json";
    if (head(d, rev, first, &h, &have_cfg) != TAC_OK) return TAC_ERR;
    if (!have_cfg && !h.commit[0]) {
        first = "open_clip_config.json";
        if (head(d, rev, first, &h, &have_oc) != TAC_OK) return TAC_ERR;
    }
    if (!h.commit[0]) {
        if (!have_cfg && !have_oc) return tac_fail("%s: not found on %s (HTTP %ld, no config.json)", d->repo, d->env.endpoint, h.status);
        return tac_fail("%s: the server sent no X-Repo-Commit for %s (is %s a Hugging Face endpoint?)", d->repo, first, d->env.endpoint);
    }
    if (!tac_hub_is_commit(h.commit)) return tac_fail("%s: the server sent an unusable commit '%.60s'", d->repo, h.commit);
    strcpy(commit, h.commit);
    if ((have_cfg || have_oc) && !add_file(d, first, &h)) return TAC_ERR;
    /* the config: is it CLIP? */
    char *cfg = NULL, *oc = NULL;
    size_t cl = 0, ol = 0;
    int rc = TAC_ERR, ci = find_file(d, "config.json");
    if (ci >= 0 && (fetch(d, commit, &d->files[ci]) != TAC_OK || read_blob(d, &d->files[ci], &cfg, &cl) != TAC_OK)) goto done;
    int hf;
    if (tac_hub_check_clip(d->repo, cfg, cl, NULL, 0, &hf) != TAC_OK) {      /* not transformers CLIP: OpenCLIP? */
        if (probe(d, commit, "open_clip_config.json", &have_oc) != TAC_OK) goto done;
        int oi = find_file(d, "open_clip_config.json");
        if (oi >= 0 && (fetch(d, commit, &d->files[oi]) != TAC_OK || read_blob(d, &d->files[oi], &oc, &ol) != TAC_OK)) goto done;
        if (tac_hub_check_clip(d->repo, cfg, cl, oc, ol, &hf) != TAC_OK) goto done;
    }
    for (const char *const *x = tac_hub_extra_files; *x; x++) {
        if (probe(d, commit, *x, &p) != TAC_OK) goto done;
        if (!p && d->nabsent < 8) d->absent[d->nabsent++] = *x;
    }
    const tac_hub_weights *w = tac_hub_weight_formats;
    for (; w->file; w++) {
        if (!hf && !w->open_clip) continue;                  /* a timm repo's model.safetensors: not CLIP */
        if (probe(d, commit, w->file, &p) != TAC_OK) goto done;
        if (!p) continue;
        if (w->open_clip && probe(d, commit, "open_clip_config.json", &have_oc) != TAC_OK) goto done;
        if (w->index) {
            char *js, **sh;
            size_t jl;
            int ns, wi = find_file(d, w->file);
            if (fetch(d, commit, &d->files[wi]) != TAC_OK || read_blob(d, &d->files[wi], &js, &jl) != TAC_OK) goto done;
            int r = tac_hub_index_shards(js, jl, w->file, &sh, &ns);
            free(js);
            if (r != TAC_OK) goto done;
            for (int i = 0; i < ns && r == TAC_OK; i++) {
                r = probe(d, commit, sh[i], &p);
                if (r == TAC_OK && !p) r = tac_fail("%s: %s lists %s, which the repo does not have", d->repo, w->file, sh[i]);
            }
            for (int i = 0; i < ns; i++) free(sh[i]);
            free(sh);
            if (r != TAC_OK) goto done;
        }
        break;
    }
    if (!w->file) {
        tac_fail("%s has no CLIP weights taclust reads (looked for model.safetensors, its shards, "
                 "open_clip_model.safetensors, pytorch_model.bin, its shards, open_clip_pytorch_model.bin)", d->repo);
        goto done;
    }
    rc = TAC_OK;
done:
    free(cfg); free(oc);
    return rc;
}

int tac_hub_download(const char *repo, const char *rev, const tac_hub_options *o, char **dir)
{
    pthread_once(&curl_once, curl_init);
    hub_dl d;
    memset(&d, 0, sizeof d);
    if (tac_hub_env_get(o, &d.env) != TAC_OK) return TAC_ERR;
    d.repo = repo;
    if (d.env.offline) {
        tac_fail("%s@%s is not in the cache %s and HF_HUB_OFFLINE=1 forbids downloading it", repo, rev, d.env.cache);
        tac_hub_env_free(&d.env);
        return TAC_ERR;
    }
    char commit[64] = "";
    char *snap = NULL;
    int rc = TAC_ERR;
    d.rdir = tac_hub_repo_dir(d.env.cache, repo);
    d.curl = d.rdir ? curl_easy_init() : NULL;
    if (!d.curl) { if (d.rdir) tac_fail("%s: cannot start libcurl", repo); goto done; }
    d.headers = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (d.headers && d.env.token) {   /* libcurl drops it on a redirect to another host (the CDN): UNRESTRICTED_AUTH stays off */
        char *a = tac_hub_printf("Authorization: Bearer %s", d.env.token);
        struct curl_slist *hs = a ? curl_slist_append(d.headers, a) : NULL;
        free(a);
        if (hs) d.headers = hs;
        else { curl_slist_free_all(d.headers); d.headers = NULL; }
    }
    if (!d.headers) { tac_fail("%s: out of memory", repo); goto done; }
    if (plan(&d, rev, commit) != TAC_OK) goto done;
    /* fetch what is missing, with one progress bar over all bytes */
    for (int i = 0; i < d.nfiles; i++) {
        char *b = blob_path(&d, &d.files[i]), *inc = b ? tac_hub_printf("%s.incomplete", b) : NULL;
        if (!inc) { free(b); goto done; }
        if (file_size(b) < 0 && d.files[i].size > 0) {
            d.total += d.files[i].size;
            int64_t part = file_size(inc);
            if (part > 0 && part <= d.files[i].size) d.done += part;
        }
        free(b); free(inc);
    }
    d.show = d.env.progress;
    snprintf(d.label, sizeof d.label, "downloading %s", repo);
    if (d.total > 0)
        tac_log(TAC_LOG_INFO, "downloading %s (commit %.12s, %.1f MB) into %s", repo, commit, (double)d.total / 1e6, d.rdir);
    if (d.show) tac_progress_begin_at(&d.prog, NULL, NULL, d.label, d.done, d.total);
    for (int i = 0; i < d.nfiles; i++)
        if (fetch(&d, commit, &d.files[i]) != TAC_OK) goto done;
    progress(&d, 1);
    /* every blob is in place: the snapshot links, then the ref */
    snap = tac_hub_printf("%s/snapshots/%s", d.rdir, commit);
    if (!snap || tac_mkdir_p(snap) != TAC_OK) goto done;
    for (int i = 0; i < d.nfiles; i++)
        if (link_file(snap, &d.files[i]) != TAC_OK) goto done;
    if (d.nabsent) {                                         /* what the repo lacks, as huggingface_hub notes it */
        char *ne = tac_hub_printf("%s/.no_exist/%s", d.rdir, commit);
        int r = ne ? tac_mkdir_p(ne) : TAC_ERR;
        for (int i = 0; i < d.nabsent && r == TAC_OK; i++) {
            char *m = tac_hub_printf("%s/%s", ne, d.absent[i]);
            if (!m) { r = TAC_ERR; break; }
            int fd = open(m, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) r = tac_fail("%s: cannot write: %s", m, strerror(errno));
            else close(fd);
            free(m);
        }
        free(ne);
        if (r != TAC_OK) goto done;
    }
    if (strcmp(rev, commit) != 0) {
        char *ref = tac_hub_printf("%s/refs/%s", d.rdir, rev);
        if (!ref) goto done;
        char *slash = strrchr(ref, '/');
        *slash = 0;
        int r = tac_mkdir_p(ref);
        *slash = '/';
        if (r == TAC_OK) r = tac_write_file_atomic(ref, commit, strlen(commit));
        free(ref);
        if (r != TAC_OK) goto done;
    }
    *dir = snap;
    snap = NULL;
    rc = TAC_OK;
done:
    free(snap);
    for (int i = 0; i < d.nfiles; i++) free(d.files[i].name);
    free(d.files);
    curl_slist_free_all(d.headers);
    if (d.curl) curl_easy_cleanup(d.curl);
    free(d.rdir);
    tac_hub_env_free(&d.env);
    return rc;
}
