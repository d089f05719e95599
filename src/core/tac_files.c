/* tac_files.c - whole-file reads, line lists, mkdir -p, and atomic writes (temporary name, fsync, rename).
 *
 * Reads check the file type first (a FIFO, device, socket or folder is refused, never read or waited on) and cap
 * the size (TAC_READ_FILE_MAX, or the caller's limit), so no input can make a read block or fill memory.
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

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO (named pipe)" : S_ISSOCK(m) ? "a socket" :
           S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

int tac_open_regular(const char *path, int64_t *size)
{
    /* O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) { int e = errno; tac_fail("%s: cannot open: %s", path, strerror(e)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); tac_fail("%s: cannot read: %s", path, strerror(e)); return -1; }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        tac_fail("%s: is %s, not a regular file", path, file_kind(st.st_mode));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (size) *size = (int64_t)st.st_size;
    return fd;
}

int tac_read_file_max(const char *path, char **data, size_t *len, size_t max_bytes)
{
    int64_t size;
    int fd = tac_open_regular(path, &size);
    if (fd < 0) return TAC_ERR;
    if ((uint64_t)size > max_bytes) {
        close(fd);
        return tac_fail("%s: %.1f MiB, larger than the %zu MiB limit for this kind of file", path,
                        (double)size / 1048576.0, max_bytes >> 20);
    }
    /* the file may grow while it is read: read at most max_bytes + 1 to notice, in a buffer grown as needed */
    size_t cap = (size_t)size + 1 < 4096 ? 4096 : (size_t)size + 1, n = 0;
    char *buf = tac_try_malloc(cap, 1, path);
    if (!buf) { close(fd); return TAC_ERR; }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max_bytes) break;
            size_t ncap = cap * 2 > max_bytes + 2 ? max_bytes + 2 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) { free(buf); close(fd); return tac_fail("%s: out of memory while reading", path); }
            buf = nb; cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { int e = errno; free(buf); close(fd); return tac_fail("%s: read error: %s", path, strerror(e)); }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max_bytes) break;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return tac_fail("%s: grew past the %zu MiB limit for this kind of file while being read", path, max_bytes >> 20);
    }
    buf[n] = 0;
    *data = buf; *len = n;
    return TAC_OK;
}

int tac_read_file(const char *path, char **data, size_t *len)
{
    return tac_read_file_max(path, data, len, TAC_READ_FILE_MAX);
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
    if (tac_read_file_max(path, &buf, &len, TAC_LINES_MAX) != TAC_OK) return TAC_ERR;
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
