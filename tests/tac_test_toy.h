/* tac_test_toy.h - clustered toy data for the heads' tests (test_heads.c, test_heads_dist.c, test_heads_bf16.c):
 * K centres of D standard-normal coordinates; row i belongs to centre i % K; its image row X_i is the centre plus
 * N(0, 0.3^2) noise and its text counterpart R_i the centre plus N(0, 0.2^2) noise, both L2-normalised; its kn
 * neighbours are rows of the same centre ((i + K (j + 1)) % n). Drawn from mt19937(seed) in that order.
 */
#ifndef TAC_TEST_TOY_H
#define TAC_TEST_TOY_H

#include <stdint.h>

typedef struct {
    float *X, *R;     /* n x d each */
    int64_t *nn;      /* n x kn */
    int64_t *lab;     /* n: the centre of each row */
    int64_t n;
    int d, kn;
} tac_test_toy;

tac_test_toy tac_test_toy_make(int64_t n, int d, int K, int kn, uint32_t seed);
void tac_test_toy_free(tac_test_toy *t);

#endif
