/* tac_knn.h - private to the library, its tests and benchmarks: the tuning knob of tac_knn_cosine_dist's exchange
 * and what the last call did (src/cluster/tac_knn.c).
 */
#ifndef TAC_KNN_H
#define TAC_KNN_H

#include <stdint.h>

/* Wire items (8 bytes each) per exchange buffer of tac_knn_cosine_dist: each round moves at most
 * max(1, items / (R k)) rows per owner. 0 (the default): 4M items, 32 MB per buffer. Tests lower it to run many
 * rounds; set it only while no tac_knn_cosine_dist call is running. */
extern int tac_knn_exchange_items;

/* The last tac_knn_cosine* call made on this thread: 1 when it took the bf16-screen path, 0 the sgemm path; and
 * the candidates its selection gave an exact similarity to (over all rows, both sides of every tile of this rank;
 * -1 on the sgemm path). Set when the call's tiles are done. */
int tac_knn_last_bf16(void);
int64_t tac_knn_last_examined(void);

#endif
