/* tac_dist.c - the communicator helpers of taclust/dist.h and src/core/tac_dist.h: rank/size of a possibly NULL
 * communicator, the collective status check that turns one rank's failure into the same error on every rank, the
 * contiguous shares, and the row allgather the distributed stages use to combine their tiles.
 */
#include "core/tac_dist.h"
#include "core/tac_internal.h"
#include "taclust/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tac_comm_rank(const tac_comm *c) { return c ? c->rank : 0; }
int tac_comm_size(const tac_comm *c) { return c && c->size > 0 ? c->size : 1; }
int tac_dist_active(const tac_comm *c) { return c && c->size > 1; }

static _Thread_local int failed_together;
int tac_dist_failed_together(void) { return failed_together; }
void tac_dist_reset(void) { failed_together = 0; }

int tac_comm_check(const tac_comm *c, int rc)
{
    if (!tac_dist_active(c)) return rc;
    char why[512], msg[512];
    snprintf(why, sizeof why, "%s", rc == TAC_OK ? "" : tac_last_error());
    int bad = c->agree(c, rc == TAC_OK, why, msg, sizeof msg);
    if (bad < 0) return TAC_OK;
    failed_together = 1;
    if (strncmp(msg, "rank ", 5) == 0) return tac_fail("%s", msg);   /* already named */
    return tac_fail("rank %d of %d: %s", bad, c->size, msg);
}

void tac_comm_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi)
{
    if (size < 1) size = 1;
    if (n < 0) n = 0;
    int64_t q = n / size, r = n % size;
    *lo = (int64_t)rank * q + (rank < r ? rank : r);
    *hi = *lo + q + (rank < r ? 1 : 0);
}

void tac_dist_rows(int64_t n, int64_t tb, int rank, int size, int64_t *lo, int64_t *hi)
{
    if (tb < 1) tb = 1;
    int64_t nt = (n + tb - 1) / tb, t0, t1;
    tac_comm_share(nt, rank, size, &t0, &t1);
    *lo = t0 * tb < n ? t0 * tb : n;
    *hi = t1 * tb < n ? t1 * tb : n;
}

int tac_dist_allgather_rows(const tac_comm *c, void *buf, int64_t n, int64_t tb, int64_t row_bytes)
{
    if (!tac_dist_active(c)) return TAC_OK;
    int64_t *bytes = tac_try_malloc((size_t)c->size, sizeof(int64_t), "distributed: part sizes"); /* size */
    if (!bytes) return TAC_ERR;
    for (int r = 0; r < c->size; r++) {
        int64_t lo, hi;
        tac_dist_rows(n, tb, r, c->size, &lo, &hi);
        bytes[r] = (hi - lo) * row_bytes;
    }
    int rc = c->allgather(c, buf, bytes);
    free(bytes);
    return rc;
}
