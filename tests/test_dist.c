/* test_dist.c - the communicator contract (taclust/dist.h) on the tests' thread transport (tests/tac_test_comm.h):
 * shares, the collective status check naming the failed rank, and the distributed stages against their
 * single-process forms. */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "core/tac_dist.h"

#include <stdint.h>

TAC_TEST(dist_share_covers_everything_once)
{
    for (int64_t n = 0; n < 40; n++)
        for (int R = 1; R <= 7; R++) {
            int64_t prev = 0;
            for (int r = 0; r < R; r++) {
                int64_t lo, hi;
                tac_comm_share(n, r, R, &lo, &hi);
                TAC_CHECK_INT(lo, prev);
                TAC_CHECK(hi >= lo && hi - lo <= n / R + 1);
                prev = hi;
            }
            TAC_CHECK_INT(prev, n);
            /* whole tiles of 4 rows */
            prev = 0;
            for (int r = 0; r < R; r++) {
                int64_t lo, hi;
                tac_dist_rows(n, 4, r, R, &lo, &hi);
                TAC_CHECK_INT(lo, prev);
                TAC_CHECK(lo % 4 == 0 || lo == n);
                prev = hi;
            }
            TAC_CHECK_INT(prev, n);
        }
}

static int fail_on_rank1(const tac_comm *c, void *arg)
{
    (void)arg;
    int rc = c->rank == 1 ? tac_fail("cannot open /nonexistent/x.npy") : TAC_OK;
    return tac_comm_check(c, rc);
}

TAC_TEST(dist_check_names_the_failed_rank_on_every_rank)
{
    int rc[3];
    char err[3][512];
    TAC_CHECK(tac_test_run_ranks(3, fail_on_rank1, NULL, rc, err) != 0);
    for (int r = 0; r < 3; r++) {
        TAC_CHECK_INT(rc[r], TAC_ERR);
        TAC_CHECK(strstr(err[r], "rank 1 of 3: cannot open /nonexistent/x.npy") != NULL);
    }
}

static int all_ok(const tac_comm *c, void *arg)
{
    (void)arg;
    int64_t v[2] = {c->rank + 1, 10};
    if (c->allreduce_sum(c, v, 2, TAC_COMM_I64) != TAC_OK) return TAC_ERR;
    if (v[0] != c->size * (c->size + 1) / 2 || v[1] != 10 * c->size) return tac_fail("allreduce: wrong sums");
    int32_t rows[10];   /* 10 rows in tiles of 3: each rank fills its own */
    for (int i = 0; i < 10; i++) rows[i] = -1;
    int64_t lo, hi;
    tac_dist_rows(10, 3, c->rank, c->size, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) rows[i] = (int32_t)(i * 7);
    if (tac_dist_allgather_rows(c, rows, 10, 3, sizeof(int32_t)) != TAC_OK) return TAC_ERR;
    for (int i = 0; i < 10; i++) if (rows[i] != i * 7) return tac_fail("allgather: row %d is %d", i, rows[i]);
    return tac_comm_check(c, TAC_OK);
}

TAC_TEST(dist_thread_transport_collectives)
{
    for (int R = 1; R <= 4; R++) {
        int rc[4];
        char err[4][512];
        int all = tac_test_run_ranks(R, all_ok, NULL, rc, err);
        if (all != 0) tac_test_fail_at(__FILE__, __LINE__, "R=%d: %s", R, err[0]);
    }
}
