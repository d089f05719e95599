/* tac_files.c - whole-file reads, line lists, mkdir -p, and atomic writes (temporary name, fsync, rename);
 * tree removal with file-system calls (never a shell, never following a symlink), clean-up of temporaries left
 * by killed processes, flock-based locks, and the text escaping every output shares (control characters in
 * line-based files, bytes that are not UTF-8 in JSON).
 *
 * Reads check the file type first (a FIFO, device, socket or folder is refused, never read or waited on) and cap
 * the size (TAC_READ_FILE_MAX, or the caller's limit), so no input can make a read block or fill memory.
 *
 * Every output taclust writes goes through tac_atomic_*: a crash or kill never leaves a half-written file
 * under the final name. A write-failure hook (tac_set_write_fail_hook, core/tac_internal.h), which only the
 * taclust program installs for its tests, can make a commit fail as a full disk would (ENOSPC), so tests can check
 * that a failed run damages nothing; the library itself reads no environment for it.
 */
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static tac_write_fail_fn g_write_fail;

void tac_set_write_fail_hook(tac_write_fail_fn fn) { g_write_fail = fn; }

int tac_atomic_open(tac_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 32;
    a->tmp = tac_try_malloc(n, 1, path);
    if (!a->tmp) return TAC_ERR;
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        free(a->tmp); a->tmp = NULL;
        return tac_fail("%s: cannot write: %s", path, strerror(e));
    }
    a->path = tac_try_strdup(path, path);
    if (!a->path) {
        fclose(a->f); a->f = NULL;
        unlink(a->tmp);
        free(a->tmp); a->tmp = NULL;
        return TAC_ERR;
    }
    return TAC_OK;
}

int tac_atomic_commit(tac_atomic *a)
{
    int rc = TAC_OK;
    if (fflush(a->f) != 0 || ferror(a->f)) rc = tac_fail("%s: write failed: %s", a->path, strerror(errno));
    if (rc == TAC_OK && g_write_fail && g_write_fail(a->path)) rc = tac_fail("%s: write failed: %s", a->path, strerror(ENOSPC));
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

int tac_path_join(char *buf, size_t cap, const char *dir, const char *name)
{
    if (!buf || cap == 0) return tac_fail("path join: no room for the path");
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b + 1 > cap) {
        buf[0] = 0;
        return tac_fail("path too long (%zu bytes, at most %zu): %.200s/%.200s", a + 1 + b, cap - 1, dir, name);
    }
    memcpy(buf, dir, a);
    buf[a] = '/';
    memcpy(buf + a + 1, name, b + 1);
    return TAC_OK;
}

int tac_mkdir_p(const char *path)
{
    if (!path[0]) return tac_fail("cannot create a folder with an empty name");
    char *p = tac_try_strdup(path, path);
    if (!p) return TAC_ERR;
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
    char **out = tac_try_malloc((size_t)cap, sizeof(char *), path);
    if (!out) { free(buf); return TAC_ERR; }
    char *s = buf, *end = buf + len;
    while (s < end) {
        char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        char *t = e;
        if (t > s && t[-1] == '\r') t--;
        if (!(skip_empty && t == s)) {
            char **grown = cnt == cap ? tac_try_realloc(out, (size_t)cap * 2, sizeof(char *), path) : out;
            if (grown) { out = grown; if (cnt == cap) cap *= 2; }
            if (!grown || !(out[cnt] = tac_try_malloc((size_t)(t - s) + 1, 1, path))) {
                tac_free_strings(out, cnt);
                free(buf);
                return TAC_ERR;
            }
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

/* ---- trees, stale temporaries, locks ------------------------------------------------------------------ */
int tac_pid_alive(long pid)
{
    if (pid <= 0) return 0;
    if (pid == (long)getpid()) return 1;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Removes dfd/name and, if it is a real folder, everything below it. A symbolic link is removed itself, never
 * followed; folders are opened with O_NOFOLLOW so a link swapped in meanwhile is not entered either. */
static int remove_at(int dfd, const char *name, const char *shown, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? TAC_OK : tac_fail("%s: cannot remove: %s", shown, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) return tac_fail("%s: cannot remove: %s", shown, strerror(errno));
        return TAC_OK;
    }
    if (depth > 64) return tac_fail("%s: folders nested too deep to remove", shown);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return tac_fail("%s: cannot open: %s", shown, strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return tac_fail("%s: cannot list: %s", shown, strerror(errno)); }
    int rc = TAC_OK;
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        rc = remove_at(fd, de->d_name, shown, depth + 1);
    }
    closedir(d);
    if (rc == TAC_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = tac_fail("%s: cannot remove: %s", shown, strerror(errno));
    return rc;
}

int tac_remove_tree(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) return tac_fail("%s: refusing to remove", path);
    char *parent = tac_try_strdup(slash ? (slash == path ? "/" : path) : ".", path);
    if (!parent) return TAC_ERR;
    if (slash && slash != path) parent[slash - path] = 0;
    int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(parent);
    if (dfd < 0) return errno == ENOENT ? TAC_OK : tac_fail("%s: cannot open its folder: %s", path, strerror(errno));
    int rc = remove_at(dfd, base, path, 0);
    close(dfd);
    return rc;
}

long tac_temp_name_pid(const char *name)
{
    static const char *marks[] = {".tmp.", ".old."};
    for (int k = 0; k < 2; k++) {
        const char *m = NULL;
        for (const char *q = strstr(name, marks[k]); q; q = strstr(q + 1, marks[k])) m = q;
        if (!m) continue;
        const char *d = m + 5;
        if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 9) continue;
        return atol(d);
    }
    return -1;
}

int tac_clean_stale_temps(const char *dir, const char *const *stems, int nstems)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid = tac_temp_name_pid(de->d_name);
        if (pid <= 0 || tac_pid_alive(pid)) continue;
        /* only temporaries of the names taclust writes there: "<stem>.tmp.PID" / "<stem>.old.PID" */
        char stem[NAME_MAX + 1];
        snprintf(stem, sizeof stem, "%s", de->d_name);
        char *mark = NULL;
        for (char *q = strstr(stem, ".tmp."); q; q = strstr(q + 1, ".tmp.")) mark = q;
        if (!mark || tac_temp_name_pid(mark) != pid) for (char *q = strstr(stem, ".old."); q; q = strstr(q + 1, ".old.")) mark = q;
        if (!mark) continue;
        *mark = 0;
        int known = 0;
        for (int i = 0; i < nstems && !known; i++) known = fnmatch(stems[i], stem, 0) == 0;
        if (!known) continue;
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *p = tac_try_malloc(n, 1, dir);
        if (!p) break;
        snprintf(p, n, "%s/%s", dir, de->d_name);
        if (tac_remove_tree(p) == TAC_OK) removed++;
        free(p);
    }
    closedir(d);
    return removed;
}

int tac_lock_acquire(const char *path, const char *what, int *fd_out)
{
    *fd_out = -1;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return tac_fail("%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) { int e = errno; close(fd); return tac_fail("%s: cannot lock: %s", path, strerror(e)); }
        char holder[32] = "";
        ssize_t r = pread(fd, holder, sizeof holder - 1, 0);
        holder[r > 0 ? r : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        tac_log(TAC_LOG_INFO, "%s is in use by another taclust process%s%s%s; waiting for it to finish", what,
                holder[0] ? " (pid " : "", holder, holder[0] ? ")" : "");
        while (flock(fd, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            int e = errno; close(fd);
            return tac_fail("%s: cannot lock: %s", path, strerror(e));
        }
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n) { /* the pid is only a hint for messages */ }
    *fd_out = fd;
    return TAC_OK;
}

void tac_lock_release(int fd)
{
    if (fd < 0) return;
    if (ftruncate(fd, 0) != 0) { /* hint only */ }
    flock(fd, LOCK_UN);
    close(fd);
}

/* ---- escaping ----------------------------------------------------------------------------------------- */
char *tac_escape_line(const char *s)
{
    size_t n = 1;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) n += *q == '\\' || *q == '\t' || *q == '\n' || *q == '\r' ? 2 : *q < 0x20 || *q == 0x7f ? 4 : 1;
    char *out = tac_try_malloc(n, 1, "escaped line"), *o = out;
    if (!out) return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '\\') { *o++ = '\\'; *o++ = '\\'; }
        else if (*q == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (*q == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (*q == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (*q < 0x20 || *q == 0x7f) { o += sprintf(o, "\\x%02x", *q); }
        else *o++ = (char)*q;
    }
    *o = 0;
    return out;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when the byte at s does not start one: overlong forms,
 * UTF-16 surrogates and code points above U+10FFFF are invalid, as RFC 3629 says. */
static int utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n) return 0;
    for (int i = 1; i < n; i++) if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;       /* overlong 3-byte */
    if (c == 0xed && s[1] >= 0xa0) return 0;      /* surrogates */
    if (c == 0xf0 && s[1] < 0x90) return 0;       /* overlong 4-byte */
    if (c == 0xf4 && s[1] >= 0x90) return 0;      /* above U+10FFFF */
    return n;
}

int tac_utf8_valid(const char *s)
{
    for (const unsigned char *q = (const unsigned char *)s; *q;) {
        int n = utf8_seq(q);
        if (!n) return 0;
        q += n;
    }
    return 1;
}

char *tac_utf8_text(const char *s)
{
    char *out = tac_try_malloc(2 * strlen(s) + 1, 1, "UTF-8 text"), *o = out;
    if (!out) return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q;) {
        int n = utf8_seq(q);
        if (n) { memcpy(o, q, (size_t)n); o += n; q += n; continue; }
        *o++ = (char)(0xc0 | *q >> 6);           /* the byte read as Latin-1: U+0080..U+00FF */
        *o++ = (char)(0x80 | (*q & 0x3f));
        q++;
    }
    *o = 0;
    return out;
}
