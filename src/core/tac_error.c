/* tac_error.c - thread-local failure reasons, fatal programmer errors, checked allocation.
 *
 * tac_fail() records a one-line reason (returned by tac_last_error()) and returns TAC_ERR, so callers write
 * `return tac_fail("%s: truncated", path);`. Allocation failures and assertion failures abort with location.
 */
#include "taclust/core.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char tac_err_buf[1024];

const char *tac_last_error(void) { return tac_err_buf; }

void tac_clear_error(void) { tac_err_buf[0] = 0; }

int tac_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tac_err_buf, sizeof tac_err_buf, fmt, ap);
    va_end(ap);
    return TAC_ERR;
}

void tac_die_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "taclust: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static size_t checked_size(size_t n, size_t size, const char *file, int line)
{
    if (size && n > SIZE_MAX / size) tac_die_at(file, line, "allocation of %zu x %zu bytes overflows", n, size);
    size_t total = n * size;
    return total ? total : 1;
}

void *tac_xmalloc_at(size_t n, size_t size, const char *file, int line)
{
    size_t total = checked_size(n, size, file, line);
    void *p = malloc(total);
    if (!p) tac_die_at(file, line, "out of memory allocating %zu bytes", total);
    return p;
}

void *tac_xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    size_t total = checked_size(n, size, file, line);
    void *p = calloc(1, total);
    if (!p) tac_die_at(file, line, "out of memory allocating %zu bytes", total);
    return p;
}

void *tac_xrealloc_at(void *q, size_t n, size_t size, const char *file, int line)
{
    size_t total = checked_size(n, size, file, line);
    void *p = realloc(q, total);
    if (!p) tac_die_at(file, line, "out of memory allocating %zu bytes", total);
    return p;
}

char *tac_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tac_xmalloc(n, 1);
    memcpy(p, s, n);
    return p;
}
