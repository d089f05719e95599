/* tac_error.c - thread-local failure reasons, fatal programmer errors, checked allocation.
 *
 * tac_fail() records a one-line reason (returned by tac_last_error()) and returns TAC_ERR, so callers write
 * `return tac_fail("%s: truncated", path);`. Assertion failures (programmer errors) abort with location.
 * Allocations go through tac_try_malloc/tac_try_calloc (here and in core/tac_mem.h): they return NULL with a reason
 * ("X: needs 51.0 GB of memory, more than this machine has"). The aborting tac_x* allocators are the program's
 * (src/app/tac_xalloc.c): libtaclust.so is linked with --no-undefined, so a library file calling one fails to link.
 */
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Thread_local char tac_err_buf[1024];

const char *tac_last_error(void) { return tac_err_buf; }

void tac_clear_error(void) { tac_err_buf[0] = 0; }

int tac_fail(const char *fmt, ...)
{
    /* Formatted into a separate buffer first: the arguments may include tac_last_error() itself (a reason that
     * wraps the previous one), and vsnprintf into the buffer it reads from garbles the text. */
    char tmp[sizeof tac_err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(tac_err_buf, tmp, sizeof tmp);
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

static size_t phys_bytes(void);

/* Memory the machine cannot give at all (more than its physical RAM) is refused up front: with overcommit a huge
 * malloc may "succeed" and the process is then killed when the pages are touched. */
size_t tac_memory_bytes(void) { return phys_bytes(); }

static size_t phys_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return SIZE_MAX;
    return (size_t)pages > SIZE_MAX / (size_t)psz ? SIZE_MAX : (size_t)pages * (size_t)psz;
}

/* n x size in bytes (at least 1) when it can be addressed and fits the machine; else 0 with the reason set. */
static size_t checked_total(size_t n, size_t size, const char *what)
{
    if (size && n > SIZE_MAX / size) {
        tac_fail("%s: %zu x %zu bytes is more memory than can be addressed", what, n, size);
        return 0;
    }
    size_t total = n * size != 0 ? n * size : 1;
    if (total > phys_bytes()) {
        tac_fail("%s: needs %.1f GB of memory, more than this machine has (%.1f GB)", what, (double)total / 1e9,
                 (double)phys_bytes() / 1e9);
        return 0;
    }
    return total;
}

static void *try_alloc(size_t n, size_t size, int zero, const char *what)
{
    size_t total = checked_total(n, size, what);
    if (!total) return NULL;
    void *p = zero ? calloc(1, total) : malloc(total);
    if (!p) tac_fail("%s: cannot allocate %.2f GB of memory", what, (double)total / 1e9);
    return p;
}

void *tac_try_malloc(size_t n, size_t size, const char *what) { return try_alloc(n, size, 0, what); }
void *tac_try_calloc(size_t n, size_t size, const char *what) { return try_alloc(n, size, 1, what); }

void *tac_try_realloc(void *q, size_t n, size_t size, const char *what)
{
    size_t total = checked_total(n, size, what);
    if (!total) return NULL;
    void *p = realloc(q, total);
    if (!p) tac_fail("%s: cannot allocate %.2f GB of memory", what, (double)total / 1e9);
    return p;
}

char *tac_try_strdup(const char *s, const char *what)
{
    size_t n = strlen(s) + 1;
    char *p = tac_try_malloc(n, 1, what);
    if (p) memcpy(p, s, n);
    return p;
}
