/* taclust/dist.h - one call spread over several processes ("ranks"): the communicator the distributed entry points
 * take (tac_kmeans_dist, tac_knn_cosine_dist, tac_retrieve_dist, tac_heads_train_dist, tac_fit's params.comm).
 *
 * libtaclust does not depend on MPI: the caller supplies the transport as the function pointers below. The taclust
 * program implements them with MPI (src/mpi/tac_mpi.c, built when Open MPI is present); a test or a binding can
 * implement them with anything that offers the same collectives (mpi4py, sockets, threads).
 *
 * Contract of the distributed entry points:
 *   - Every rank calls the same entry point with the same arguments (the same input rows: each rank reads them,
 *     e.g. by memory-mapping the same .npy file) and the same communicator size. Each rank computes a share of the
 *     work and the results are combined, so on return every rank holds the whole result.
 *   - Same outputs whatever the number of ranks, with the same threads per rank: k-means labels, centroids and
 *     objective, kNN lists and retrieved counterparts are bit-identical to the single-process call (work is split
 *     on the single-process call's own tile boundaries, so every BLAS call has the same shape and data, and every
 *     order-dependent float sum is done once, in the single-process order). Heads training is data-parallel with
 *     gradient sums combined every step; its float sums are ordered differently, see tac_heads_train_dist.
 *   - Failures: when a rank fails (bad input, no memory, transport error), every rank returns TAC_ERR from the same
 *     entry point with the reason "rank R of N: ..." (the lowest failed rank's reason): no rank is left waiting.
 *   - The first exchange of every distributed entry point is an agreement (tac_comm_check), so a caller whose rank
 *     failed on its own between two entry points calls tac_comm_check(comm, TAC_ERR) and every other rank fails at
 *     the start of the next entry point (tac_fit does this between its stages).
 *   - comm == NULL or comm->size == 1: exactly the single-process call.
 *
 * Collectives: every rank calls each function in the same order with the same sizes. Each returns TAC_OK, or
 * TAC_ERR with the reason set (tac_fail) when the transport failed. Byte counts are int64 (parts may exceed 2 GB).
 */
#ifndef TACLUST_DIST_H
#define TACLUST_DIST_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { TAC_COMM_F32 = 0, TAC_COMM_F64 = 1, TAC_COMM_I64 = 2 };

typedef struct tac_comm tac_comm;
struct tac_comm {
    int rank;    /* this process, 0..size-1 */
    int size;    /* number of ranks, >= 1 */
    void *user;  /* the transport's own state */
    /* buf holds size parts back to back, part r of bytes[r] bytes; this rank's part is in place on entry, every
     * part on return. */
    int (*allgather)(const tac_comm *c, void *buf, const int64_t *bytes);
    /* Element-wise sum over the ranks of n values of type TAC_COMM_*, in place; the same result on every rank. */
    int (*allreduce_sum)(const tac_comm *c, void *buf, int64_t n, int type);
    /* send holds size parts back to back (part q of sbytes[q] bytes goes to rank q); recv gets size parts back to
     * back (part r of rbytes[r] bytes from rank r). */
    int (*alltoall)(const tac_comm *c, const void *send, const int64_t *sbytes, void *recv, const int64_t *rbytes);
    /* root's bytes to every rank */
    int (*bcast)(const tac_comm *c, void *buf, int64_t bytes, int root);
    /* Agreement: each rank passes ok (1/0) and, when not ok, why (its reason). Returns -1 when every rank is ok,
     * else the lowest failed rank, with that rank's reason copied into msg (cap bytes, NUL-terminated). A transport
     * failure returns that rank's own number with the transport's reason. */
    int (*agree)(const tac_comm *c, int ok, const char *why, char *msg, size_t cap);
};

/* The rank / size of comm (0 / 1 when comm is NULL). */
TAC_API int tac_comm_rank(const tac_comm *c);
TAC_API int tac_comm_size(const tac_comm *c);

/* Collective status check for callers of the distributed entry points: every rank passes its own rc (TAC_OK or
 * TAC_ERR with tac_last_error() set); returns TAC_OK on every rank when all were TAC_OK, else TAC_ERR on every rank
 * with the reason "rank R of N: <that rank's reason>" (the lowest failed rank). comm NULL or of size 1: rc. */
TAC_API int tac_comm_check(const tac_comm *c, int rc);

/* Contiguous share of n units (rows, tiles) of rank r among `size` ranks: [*lo, *hi). Larger shares first; the same
 * function everyone uses, so every rank knows every other rank's share. */
TAC_API void tac_comm_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

#ifdef __cplusplus
}
#endif
#endif
