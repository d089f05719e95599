/* tac_dist.h - private to the library: helpers of the distributed entry points (taclust/dist.h). Work is split
 * on the single-process call's own tile boundaries: n rows in tiles of tb rows, rank r owning a contiguous run of
 * whole tiles, so every BLAS call a rank makes is one the single-process call makes too.
 */
#ifndef TAC_DIST_H
#define TAC_DIST_H

#include "taclust/dist.h"

#include <stdint.h>

/* 1 when comm spreads the call over several ranks (comm != NULL and size > 1). */
int tac_dist_active(const tac_comm *c);
/* Rows [*lo, *hi) of rank r when n rows in tiles of tb rows are shared as whole tiles (tac_comm_share of the
 * tiles). */
void tac_dist_rows(int64_t n, int64_t tb, int rank, int size, int64_t *lo, int64_t *hi);
/* Every rank's rows (tac_dist_rows) of buf (n rows of row_bytes) to every rank; this rank's rows in place. */
int tac_dist_allgather_rows(const tac_comm *c, void *buf, int64_t n, int64_t tb, int64_t row_bytes);

/* Whether the last tac_comm_check of this thread returned an agreed failure (every rank knows of it); reset by
 * tac_dist_reset. A caller that fails on its own (not in an agreement) calls tac_comm_check(c, TAC_ERR) so the
 * other ranks' next agreement fails too. */
int tac_dist_failed_together(void);
void tac_dist_reset(void);

#endif
