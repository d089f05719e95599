/* tac_mem.h - private to the library: non-aborting allocation helpers beside core.h's tac_try_malloc/calloc.
 *
 * Every allocation inside the library goes through tac_try_* (never tac_x*, which abort): on failure they return
 * NULL with a reason naming `what` in tac_last_error(), and the caller returns TAC_ERR (or NULL) after freeing
 * what it holds. Thread-safe (the reason is thread-local).
 */
#ifndef TAC_MEM_H
#define TAC_MEM_H

#include "taclust/core.h"

#include <stddef.h>

/* realloc of n x size bytes (overflow checked); on failure p is left allocated and untouched, NULL returned. */
void *tac_try_realloc(void *p, size_t n, size_t size, const char *what);
/* A malloc'd copy of s, or NULL with a reason naming `what`. */
char *tac_try_strdup(const char *s, const char *what);

#endif
