/* tac_test_comm.h - an in-process transport for the distributed entry points (taclust/dist.h), for tests: R ranks
 * are R threads of the test process sharing memory, so the distributed code runs (also under the sanitizers)
 * without MPI. The collectives are the contract's: allgather, allreduce_sum (summed in rank order), alltoall,
 * bcast, agree.
 *
 *   static int body(const tac_comm *c, void *arg) { return tac_kmeans_dist(..., c); }
 *   int rc[3]; tac_test_run_ranks(3, body, &args, rc);   // rc[r]: what rank r's body returned
 */
#ifndef TAC_TEST_COMM_H
#define TAC_TEST_COMM_H

#include "taclust/dist.h"

typedef int (*tac_test_rank_fn)(const tac_comm *c, void *arg);
/* Runs fn on R threads (rank r gets a communicator of rank r of R) and waits for all; rcs (R, may be NULL) gets
 * each rank's return value, errs (R x 512 chars, may be NULL) each rank's tac_last_error() after it. Returns 0 when
 * every rank returned TAC_OK. */
int tac_test_run_ranks(int R, tac_test_rank_fn fn, void *arg, int *rcs, char (*errs)[512]);

#endif
