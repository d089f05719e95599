/* tac_xalloc.c - the program's allocators: abort with file and line when memory runs out (declared in
 * core/tac_internal.h). The taclust program and its tests use them; the library never does (it returns errors
 * instead, tac_try_malloc), and as this file is not part of libtaclust a library file that called one would not link.
 */
#include "core/tac_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
