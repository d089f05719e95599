/* tac_outputs.c - what `cluster` leaves for the user: clusters.csv, clusters.json, by-cluster/ symlinks.
 *
 * Every file is written through tac_atomic_* (temporary name, then rename). by-cluster/ is built as a sibling
 * folder and swapped in, so a file manager never sees a half-built tree. The HTML report is in tac_report.c.
 * Text that other programs read is made safe here: clusters.csv cells have control characters escaped
 * (\t \n \r \xHH, backslash as \\: one row per line) and a leading = + - @ neutralised by a single quote
 * (formula injection); JSON strings hold valid UTF-8 only (a byte that is not UTF-8 is written as U+00XX, the
 * byte read as Latin-1). Links are made with *at() calls under folders opened with O_NOFOLLOW, so a link planted
 * in by-cluster/ never makes taclust write elsewhere; trees are removed with file-system calls, never a shell.
 */
#include "app/tac_app.h"
#include "taclust/core.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tac_slugify(const char *name, char *out, int maxlen)
{
    int n = 0, dash = 0;
    for (const unsigned char *s = (const unsigned char *)name; *s && n < maxlen; s++) {
        if (isalnum(*s)) {
            if (dash && n > 0 && n < maxlen - 1) out[n++] = '-';
            dash = 0;
            out[n++] = (char)tolower(*s);
        } else dash = 1;
    }
    /* cut at a word boundary when the name was too long for maxlen */
    if (n == maxlen && name[0]) {
        int cut = n;
        while (cut > 0 && out[cut - 1] != '-') cut--;
        if (cut > maxlen / 2) n = cut;
    }
    while (n > 0 && out[n - 1] == '-') n--;
    if (n == 0 && maxlen > 7) { memcpy(out, "cluster", 7); n = 7; }
    out[n] = 0;
}

char *tac_csv_cell(const char *s)
{
    char *e = tac_escape_line(s);
    if (!e) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
    int neut = e[0] == '=' || e[0] == '+' || e[0] == '-' || e[0] == '@';
    int quote = strpbrk(e, ",\"") != NULL;
    size_t n = strlen(e);
    char *out = tac_xmalloc(2 * n + 4, 1), *o = out;
    if (quote) *o++ = '"';
    if (neut) *o++ = '\'';
    for (const char *q = e; *q; q++) { if (*q == '"') *o++ = '"'; *o++ = *q; }
    if (quote) *o++ = '"';
    *o = 0;
    free(e);
    return out;
}

static void csv_field(FILE *f, const char *s)
{
    char *c = tac_csv_cell(s);
    fputs(c, f);
    free(c);
}

/* a JSON string item holding valid UTF-8 only */
static cJSON *json_text(const char *s)
{
    char *t = tac_utf8_text(s);
    if (!t) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
    cJSON *it = cJSON_CreateString(t);
    free(t);
    return it;
}

int tac_write_clusters_csv(const char *path, const tac_clustering_view *v)
{
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    fputs("path,cluster,cluster_name,confidence,nouns\n", a.f);
    tac_write_clusters_csv_rows(a.f, v);
    return tac_atomic_commit(&a);
}

void tac_write_clusters_csv_rows(FILE *f, const tac_clustering_view *v)
{
    for (int64_t i = 0; i < v->n; i++) {
        csv_field(f, v->paths[i]);
        fprintf(f, ",%d,", v->cluster[i]);
        csv_field(f, v->cluster_name[v->cluster[i]]);
        fprintf(f, ",%.4f,", v->confidence[i]);
        csv_field(f, v->image_nouns && v->image_nouns[i] ? v->image_nouns[i] : "");
        fputc('\n', f);
    }
}

int tac_write_clusters_json(const char *path, const tac_clustering_view *v, const char *extra_json)
{
    int64_t *size = tac_xcalloc((size_t)v->k, sizeof(int64_t));
    for (int64_t i = 0; i < v->n; i++) size[v->cluster[i]]++;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "images", (double)v->n);
    cJSON_AddNumberToObject(root, "clusters_count", v->k);
    if (extra_json) {
        cJSON *extra = cJSON_Parse(extra_json);
        if (extra) cJSON_AddItemToObject(root, "run", extra);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "clusters");
    for (int c = 0; c < v->k; c++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", c);
        cJSON_AddItemToObject(o, "name", json_text(v->cluster_name[c]));
        cJSON_AddItemToObject(o, "folder", json_text(v->cluster_slug[c]));
        cJSON_AddNumberToObject(o, "size", (double)size[c]);
        cJSON *t = cJSON_AddArrayToObject(o, "typical");
        for (int j = 0; j < v->n_typical; j++) {
            int64_t idx = v->typical[(int64_t)c * v->n_typical + j];
            if (idx >= 0) cJSON_AddItemToArray(t, json_text(v->paths[idx]));
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    free(size);
    size_t len = strlen(s);
    s = realloc(s, len + 2);
    s[len] = '\n'; s[len + 1] = 0;
    int rc = tac_write_file_atomic(path, s, len + 1);
    free(s);
    return rc;
}

static int rm_rf(const char *path)
{
    return tac_remove_tree(path);
}

int tac_write_cluster_links(const char *out_dir, const tac_clustering_view *v)
{
    char tmp[PATH_MAX], final[PATH_MAX], old[PATH_MAX];
    snprintf(final, sizeof final, "%s/by-cluster", out_dir);
    snprintf(tmp, sizeof tmp, "%s/.by-cluster.tmp.%ld", out_dir, (long)getpid());
    snprintf(old, sizeof old, "%s/.by-cluster.old.%ld", out_dir, (long)getpid());
    if (rm_rf(tmp) != TAC_OK || tac_mkdir_p(tmp) != TAC_OK) return TAC_ERR;
    char (*dirs)[PATH_MAX + 64] = tac_xmalloc((size_t)v->k, sizeof *dirs);
    int width = v->k > 99 ? 3 : 2;
    for (int c = 0; c < v->k; c++) {
        snprintf(dirs[c], PATH_MAX + 64, "%s/%0*d-%s", tmp, width, c, v->cluster_slug[c]);
        if (tac_mkdir_p(dirs[c]) != TAC_OK) { free(dirs); return TAC_ERR; }
    }
    int rc = TAC_OK;
    for (int64_t i = 0; i < v->n && rc == TAC_OK; i++) {
        char target[PATH_MAX], link[2 * PATH_MAX + 96];
        if (!realpath(v->paths[i], target)) snprintf(target, sizeof target, "%s", v->paths[i]);
        const char *base = strrchr(v->paths[i], '/');
        base = base ? base + 1 : v->paths[i];
        snprintf(link, sizeof link, "%s/%s", dirs[v->cluster[i]], base);
        if (tac_debug_write_fails(link)) { rc = tac_fail("%s: cannot create link: %s", link, strerror(ENOSPC)); break; }
        for (int dup = 2; symlink(target, link) != 0; dup++) {
            if (errno != EEXIST || dup > 100000) { rc = tac_fail("%s: cannot create link: %s", link, strerror(errno)); break; }
            const char *dot = strrchr(base, '.');
            int stem = dot ? (int)(dot - base) : (int)strlen(base);
            snprintf(link, sizeof link, "%s/%.*s-%d%s", dirs[v->cluster[i]], stem, base, dup, dot ? dot : "");
        }
    }
    free(dirs);
    if (rc != TAC_OK) { rm_rf(tmp); return rc; }
    struct stat st;
    int had = lstat(final, &st) == 0;
    if (had && rename(final, old) != 0) { rm_rf(tmp); return tac_fail("%s: cannot replace: %s", final, strerror(errno)); }
    if (rename(tmp, final) != 0) { rm_rf(tmp); return tac_fail("%s: cannot rename into place: %s", final, strerror(errno)); }
    if (had) rm_rf(old);
    return TAC_OK;
}

/* Opens dfd/name as a folder, never through a symbolic link. */
static int open_dir_at(int dfd, const char *name)
{
    return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int is_cluster_folder(const char *name)
{
    size_t d = strspn(name, "0123456789");
    return d >= 2 && name[d] == '-';
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tac_copy_cluster_links(const char *src_run, const char *dst_run, char **skip, int64_t nskip)
{
    if (nskip) qsort(skip, (size_t)nskip, sizeof(char *), cmp_str);
    char src[PATH_MAX + 16], dst[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/by-cluster", src_run);
    snprintf(dst, sizeof dst, "%s/by-cluster", dst_run);
    if (mkdir(dst, 0777) != 0) return tac_fail("%s: cannot create folder: %s", dst, strerror(errno));
    int sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) return errno == ENOENT ? TAC_OK : tac_fail("%s: not a folder taclust made (%s)", src, strerror(errno));
    int dfd = open_dir_at(AT_FDCWD, dst);
    if (dfd < 0) { close(sfd); return tac_fail("%s: cannot open: %s", dst, strerror(errno)); }
    DIR *d = fdopendir(sfd);
    int rc = d ? TAC_OK : tac_fail("%s: cannot list: %s", src, strerror(errno));
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        struct stat st;
        if (!is_cluster_folder(de->d_name) || fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
            rc = tac_fail("%s/%s: not a cluster folder taclust made", src, de->d_name);
            break;
        }
        int cs = open_dir_at(sfd, de->d_name);
        if (cs < 0) { rc = tac_fail("%s/%s: cannot open: %s", src, de->d_name, strerror(errno)); break; }
        if (mkdirat(dfd, de->d_name, 0777) != 0) { rc = tac_fail("%s/%s: cannot create folder: %s", dst, de->d_name, strerror(errno)); close(cs); break; }
        int cd = open_dir_at(dfd, de->d_name);
        DIR *c = cd >= 0 ? fdopendir(cs) : NULL;
        if (!c) { rc = tac_fail("%s/%s: cannot open: %s", dst, de->d_name, strerror(errno)); if (cd >= 0) close(cd); close(cs); break; }
        struct dirent *ce;
        while (rc == TAC_OK && (ce = readdir(c))) {
            if (strcmp(ce->d_name, ".") == 0 || strcmp(ce->d_name, "..") == 0) continue;
            char target[PATH_MAX];
            ssize_t r = readlinkat(cs, ce->d_name, target, sizeof target - 1);
            if (r < 0) { rc = tac_fail("%s/%s/%s: not a link taclust made", src, de->d_name, ce->d_name); break; }
            target[r] = 0;
            const char *key = target;
            if (nskip && bsearch(&key, skip, (size_t)nskip, sizeof(char *), cmp_str)) continue;   /* re-assigned */
            char shown[2 * PATH_MAX];
            snprintf(shown, sizeof shown, "%s/%s/%s", dst, de->d_name, ce->d_name);
            if (tac_debug_write_fails(shown)) rc = tac_fail("%s: cannot create link: %s", shown, strerror(ENOSPC));
            else if (symlinkat(target, cd, ce->d_name) != 0) rc = tac_fail("%s: cannot create link: %s", shown, strerror(errno));
        }
        closedir(c);
        close(cd);
    }
    if (d) closedir(d); else close(sfd);
    close(dfd);
    return rc;
}

int tac_add_cluster_link(const char *run_dir, int c, int k, const char *target, const char *base)
{
    char bc[PATH_MAX + 16], prefix[16], folder[NAME_MAX + 1] = "";
    snprintf(bc, sizeof bc, "%s/by-cluster", run_dir);
    snprintf(prefix, sizeof prefix, "%0*d-", k > 99 ? 3 : 2, c);
    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) base = "image";
    int bfd = open_dir_at(AT_FDCWD, bc);
    if (bfd < 0) return tac_fail("%s: cannot open: %s", bc, strerror(errno));
    int lfd = dup(bfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        struct stat st;
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && fstatat(bfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            snprintf(folder, sizeof folder, "%s", de->d_name);
    }
    if (d) closedir(d); else if (lfd >= 0) close(lfd);
    if (!folder[0]) {
        snprintf(folder, sizeof folder, "%scluster", prefix);
        if (mkdirat(bfd, folder, 0777) != 0 && errno != EEXIST) {
            int e = errno; close(bfd);
            return tac_fail("%s/%s: cannot create folder: %s", bc, folder, strerror(e));
        }
    }
    int cfd = open_dir_at(bfd, folder);
    close(bfd);
    if (cfd < 0) return tac_fail("%s/%s: not a folder taclust made (%s)", bc, folder, strerror(errno));
    char name[NAME_MAX + 32];
    snprintf(name, sizeof name, "%s", base);
    int rc = TAC_OK;
    char shown[PATH_MAX + 2 * NAME_MAX + 64];
    snprintf(shown, sizeof shown, "%s/%s/%s", bc, folder, name);
    if (tac_debug_write_fails(shown)) rc = tac_fail("%s: cannot create link: %s", shown, strerror(ENOSPC));
    for (int n = 2; rc == TAC_OK && symlinkat(target, cfd, name) != 0; n++) {
        if (errno != EEXIST || n > 100000) { rc = tac_fail("%s/%s/%s: cannot create link: %s", bc, folder, name, strerror(errno)); break; }
        const char *dot = strrchr(base, '.');
        int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        snprintf(name, sizeof name, "%.*s-%d%s", stem, base, n, dot && dot != base ? dot : "");
    }
    close(cfd);
    return rc;
}
