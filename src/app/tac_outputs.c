/* tac_outputs.c - what `cluster` leaves for the user: clusters.csv, clusters.json, by-cluster/ symlinks.
 *
 * Every file is written through tac_atomic_* (temporary name, then rename). by-cluster/ is built as a sibling
 * folder and swapped in, so a file manager never sees a half-built tree. The HTML report is in tac_report.c.
 */
#include "taclust/app.h"
#include "taclust/core.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
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

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

int tac_write_clusters_csv(const char *path, const tac_clustering_view *v)
{
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    fputs("path,cluster,cluster_name,confidence,nouns\n", a.f);
    for (int64_t i = 0; i < v->n; i++) {
        csv_field(a.f, v->paths[i]);
        fprintf(a.f, ",%d,", v->cluster[i]);
        csv_field(a.f, v->cluster_name[v->cluster[i]]);
        fprintf(a.f, ",%.4f,", v->confidence[i]);
        csv_field(a.f, v->image_nouns && v->image_nouns[i] ? v->image_nouns[i] : "");
        fputc('\n', a.f);
    }
    return tac_atomic_commit(&a);
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
        cJSON_AddStringToObject(o, "name", v->cluster_name[c]);
        cJSON_AddStringToObject(o, "folder", v->cluster_slug[c]);
        cJSON_AddNumberToObject(o, "size", (double)size[c]);
        cJSON *t = cJSON_AddArrayToObject(o, "typical");
        for (int j = 0; j < v->n_typical; j++) {
            int64_t idx = v->typical[(int64_t)c * v->n_typical + j];
            if (idx >= 0) cJSON_AddItemToArray(t, cJSON_CreateString(v->paths[idx]));
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
    char cmd[PATH_MAX + 32];
    if (strchr(path, '\'')) return tac_fail("%s: refusing to remove a path with a quote", path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd) == 0 ? TAC_OK : tac_fail("%s: cannot remove", path);
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
