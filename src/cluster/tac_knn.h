/* tac_knn.h - private to the library and its tests: the tuning knob of tac_knn_cosine_dist's exchange
 * (src/cluster/tac_knn.c).
 */
#ifndef TAC_KNN_H
#define TAC_KNN_H

/* Wire items (8 bytes each) per exchange buffer of tac_knn_cosine_dist: each round moves at most
 * max(1, items / (R k)) rows per owner. 0 (the default): 4M items, 32 MB per buffer. Tests lower it to run many
 * rounds; set it only while no tac_knn_cosine_dist call is running. */
extern int tac_knn_exchange_items;

#endif
