/* taclust/cluster.h - k-means with faiss 1.7 semantics, and exact cosine k-nearest neighbours.
 *
 * tac_kmeans reproduces faiss Clustering (tac-method.md section 9): subsample at most
 * max_points_per_centroid*K points with rand_perm(n, seed); per redo r, init from rand_perm(n_train,
 * seed + 1 + r*15486557); niter iterations of assign / objective / mean update / split empty clusters
 * (mt19937(seed)) / renormalise if spherical; keep the redo with the largest objective (strict >);
 * final labels = argmax inner product (spherical) or min L2 distance over all n points.
 * init = TAC_KMEANS_INIT_PLUSPLUS replaces the random init by k-means++ (seeded the same way).
 *
 * Errors and memory: every function returns TAC_OK or TAC_ERR with the reason in tac_last_error(), also when a
 * workspace cannot be allocated (never aborts). Outputs are caller-allocated buffers.
 * Threads: the functions are pure functions of their inputs and parameters: several threads may call them at
 * once. Their work runs on OpenMP teams (num_threads clauses, never omp_set_num_threads), a helper pthread (kNN)
 * and OpenBLAS. `threads` (0 = all the library may use, tac_num_threads(); else at most that many): when it is
 * below OpenBLAS's process-wide thread count, that count is lowered for the duration of the call and then restored
 * exactly (OpenBLAS has no per-call setting; other BLAS users of the process see the lower count meanwhile).
 * Labels, centroids and neighbour lists do not depend on the thread count (barring float near-ties); scores and
 * the objective can differ in their last bits, because OpenBLAS's sgemm rounding depends on its thread count.
 */
#ifndef TACLUST_CLUSTER_H
#define TACLUST_CLUSTER_H

#include "taclust/dist.h"
#include "taclust/version.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { TAC_KMEANS_INIT_RANDOM = 0, TAC_KMEANS_INIT_PLUSPLUS = 1 };

typedef struct {
    int k;                        /* K clusters (required) */
    int niter;                    /* default 25 (faiss); TAC uses 300 */
    int nredo;                    /* default 1; TAC uses 10 (centres) and 20 (no-train) */
    int spherical;                /* default 0; TAC uses 1 */
    int max_points_per_centroid;  /* default 256 */
    uint32_t seed;                /* default 1234 */
    int init;                     /* TAC_KMEANS_INIT_* , default random (faiss) */
    int progress;                 /* 1: progress (label "k-means") to the process-wide progress callback and
                                     notes to the log callback (default 0) */
    int accumulate_double;        /* 0 (default): float centroid sums in point order, bit-for-bit faiss;
                                     1: double sums (more accurate, drifts from faiss at near-ties) */
    int plain;                    /* 0 (default): spherical k-means skips the rows whose label bounds prove
                                     unchanged (same labels, centroids and objective as the plain pass) when
                                     the training rows span at least 64 score tiles (large N and K: below,
                                     its overhead outweighs what it skips); -1: always; 1: never, the plain
                                     pass (every row scored against every centroid each time) */
    int64_t *skipped;             /* out (may be NULL): rows whose assignment was proven, summed over passes */
    int *fallbacks;               /* out (may be NULL): redos whose final check found a bounded label differing
                                     from the plain pass, so they were run again plain (0 unless a bound is wrong) */
    int threads;                  /* threads the call may use: 0 (default) = all the library may use */
} tac_kmeans_params;

TAC_API void tac_kmeans_default_params(tac_kmeans_params *p);

/* X: N x D (not modified). centroids: K x D out (may be NULL). labels: N out (may be NULL).
 * obj: best objective (sum of max inner products if spherical, else sum of squared distances, summed in float
 * in point order as faiss does, at the last assignment of the best redo), may be NULL. When the training set has
 * exactly K rows faiss runs no iteration (and reports 0); here obj is then the objective of the final labels.
 * Fails with a reason when K < 1, K > N, or X has a non-finite value. */
TAC_API int tac_kmeans(const float *X, int64_t n, int d, const tac_kmeans_params *p,
               float *centroids, int32_t *labels, double *obj);

/* Assign rows of X (N x D) to the nearest of K centroids (K x D): max inner product if spherical,
 * else min L2 distance. labels: N out; score: N out or NULL (the inner product / squared distance).
 * tac_kmeans_assign uses all the threads the library may use; the _ex form at most `threads` (0 = all). */
TAC_API int tac_kmeans_assign(const float *X, int64_t n, int d, const float *centroids, int k, int spherical,
                      int32_t *labels, float *score);
TAC_API int tac_kmeans_assign_ex(const float *X, int64_t n, int d, const float *centroids, int k, int spherical,
                         int32_t *labels, float *score, int threads);

/* Exact cosine k-NN of every row among all rows, self excluded. X: N x D (need not be normalised; rows are
 * normalised internally). idx: N x k out, most similar first, ties by lower index; sim: N x k or NULL.
 * Fails when k >= N. Where the CPU has native bf16 (and TACLUST_NO_BF16 is unset), the tiles are screened with bf16
 * products and the candidates that could belong get an exact similarity (a double-precision dot of the two unit
 * rows, rounded to float): exact lists, with an extra N x D x 2 bytes; elsewhere the similarities are float32
 * sgemm values (the two paths can differ at near-ties closer than sgemm's rounding). */
TAC_API int tac_knn_cosine(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim);
/* The same with a thread bound: threads 0 = all the library may use (tac_knn_cosine), 1 = the calling thread only
 * (no helper thread, single-threaded BLAS for the call), n = at most n OpenMP threads / OpenBLAS threads. */
TAC_API int tac_knn_cosine_ex(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim, int threads);

/* ---- over several ranks (taclust/dist.h) -------------------------------------------------------------------
 * The same calls with the work shared among comm's ranks; every rank passes the same arguments and gets the whole
 * result. Bit-identical to the single-process call with the same threads per rank, whatever the number of ranks.
 * k-means: each rank scores a contiguous run of the single-process call's score tiles, the labels and scores are
 * exchanged (8 bytes per training row per iteration), and each rank accumulates the new centroids of its share of
 * the clusters over all rows in point order (the single-process order), exchanged as K x D sums; the label bounds
 * (params.plain) are not used (they give the same labels). kNN: the upper-triangle tiles are dealt round-robin
 * (tile t of the single-process order to rank t % R), each rank keeps partial lists of every row (N x k, as the
 * single-process call), the partial lists are merged at each row's owner (tac_comm_share of N; the k best under the
 * same total order: similarity, then lower index) in alltoall rounds of at most 32 MB per buffer, and the owners'
 * rows are allgathered. Rank r, owning s_r rows, sends (N - s_r) k 8 bytes in the alltoall and s_r k 4 bytes
 * of indices (and as many of similarities when sim is wanted) in the allgather: about 2 (R-1)/R N k 8 bytes. */
TAC_API int tac_kmeans_dist(const float *X, int64_t n, int d, const tac_kmeans_params *p, float *centroids,
                            int32_t *labels, double *obj, const tac_comm *comm);
TAC_API int tac_knn_cosine_dist(const float *X, int64_t n, int d, int k, int64_t *idx, float *sim, int threads,
                                const tac_comm *comm);

#ifdef __cplusplus
}
#endif
#endif
