/* tac_files.c - whole-file reads, line lists, mkdir -p, and atomic writes (temporary name, fsync, rename).
 *
 * Every output taclust writes goes through tac_atomic_*: a crash or kill never leaves a half-written file
 * under the final name.
 */
#include "taclust/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tac_atomic_open(tac_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 32;
    a->tmp = tac_xmalloc(n, 1);
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        free(a->tmp); a->tmp = NULL;
        return tac_fail("%s: cannot write: %s", path, strerror(e));
    }
    a->path = tac_xstrdup(path);
    return TAC_OK;
}

int tac_atomic_commit(tac_atomic *a)
{
    int rc = TAC_OK;
    if (fflush(a->f) != 0 || ferror(a->f)) rc = tac_fail("%s: write failed: %s", a->path, strerror(errno));
    if (rc == TAC_OK) fsync(fileno(a->f));
    if (fclose(a->f) != 0 && rc == TAC_OK) rc = tac_fail("%s: write failed: %s", a->path, strerror(errno));
    a->f = NULL;
    if (rc == TAC_OK && rename(a->tmp, a->path) != 0) rc = tac_fail("%s: cannot rename into place: %s", a->path, strerror(errno));
    if (rc != TAC_OK) unlink(a->tmp);
    free(a->tmp); free(a->path);
    a->tmp = a->path = NULL;
    return rc;
}

void tac_atomic_abort(tac_atomic *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp); free(a->path);
    memset(a, 0, sizeof *a);
}

int tac_write_file_atomic(const char *path, const void *data, size_t len)
{
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    if (len && fwrite(data, 1, len, a.f) != len) { tac_atomic_abort(&a); return tac_fail("%s: write failed", path); }
    return tac_atomic_commit(&a);
}

int tac_read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tac_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) { fclose(f); return tac_fail("%s: not a regular file", path); }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = tac_xmalloc(cap, 1);
    for (;;) {
        if (n + 1 >= cap) { cap *= 2; buf = tac_xrealloc(buf, cap, 1); }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return tac_fail("%s: read error", path); }
    buf[n] = 0;
    *data = buf; *len = n;
    return TAC_OK;
}

int tac_mkdir_p(const char *path)
{
    if (!path[0]) return tac_fail("cannot create a folder with an empty name");
    char *p = tac_xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = tac_fail("%s: cannot create folder: %s", p, strerror(e));
                free(p);
                return rc;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return tac_fail("%s: exists and is not a folder", path);
    return TAC_OK;
}

int tac_read_lines(const char *path, char ***lines, int64_t *n, int skip_empty)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return TAC_ERR;
    int64_t cap = 64, cnt = 0;
    char **out = tac_xmalloc((size_t)cap, sizeof(char *));
    char *s = buf, *end = buf + len;
    while (s < end) {
        char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        char *t = e;
        if (t > s && t[-1] == '\r') t--;
        if (!(skip_empty && t == s)) {
            if (cnt == cap) { cap *= 2; out = tac_xrealloc(out, (size_t)cap, sizeof(char *)); }
            out[cnt] = tac_xmalloc((size_t)(t - s) + 1, 1);
            memcpy(out[cnt], s, (size_t)(t - s));
            out[cnt][t - s] = 0;
            cnt++;
        }
        s = e + 1;
    }
    free(buf);
    *lines = out; *n = cnt;
    return TAC_OK;
}

void tac_free_strings(char **s, int64_t n)
{
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}
