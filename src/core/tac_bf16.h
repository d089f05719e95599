/* tac_bf16.h - private: bfloat16 for the library's matrix products. Whether this machine runs bf16 natively
 * (tac_bf16_native), fp32 -> bf16 rounding (tac_bf16_from_f32), and a general product in the form of
 * cblas_sgemm whose operands are rounded to bf16 and multiplied by oneDNN with float32 accumulation and output
 * (tac_bf16_gemm on a tac_bf16_mm context; tac_bf16_gemm_rounded on operands rounded beforehand). Used by the
 * CLIP towers' bf16 mode (src/clip/tac_clip_bf16.c: its own packed-weight matmuls, with this file's detection and
 * rounding), the heads' bf16 mode (src/heads) and the kNN's bf16 screen (src/cluster/tac_knn.c).
 *
 * A tac_bf16_mm belongs to one thread at a time: it holds a oneDNN engine and stream, the two bf16 operand
 * buffers and a small cache of matmul primitives keyed by the product's shape. oneDNN runs the product on the
 * calling thread's OpenMP thread count (omp_get_max_threads(); the heads set it to 1 in their workers, so the
 * results do not depend on how many workers ran).
 */
#ifndef TAC_BF16_H
#define TAC_BF16_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the CPU and the OS run AVX512-BF16 or AMX-BF16 and oneDNN's effective ISA has bf16, and
 * TACLUST_NO_BF16 is unset or "0" (the variable lets tests and users take the fp32 path on such machines). */
int tac_bf16_native(void);

/* dst[i] = bf16(src[i]), round to nearest even (finite inputs). n elements. */
void tac_bf16_from_f32(uint16_t *dst, const float *src, size_t n);

typedef struct tac_bf16_mm tac_bf16_mm;
/* A context whose operand buffers hold `elems` elements each (grown on demand by tac_bf16_gemm). NULL with the
 * reason set when bf16 is not native here or memory or oneDNN fails. */
tac_bf16_mm *tac_bf16_mm_new(size_t elems);
void tac_bf16_mm_free(tac_bf16_mm *mm);

/* Row-major, as cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
 *   C (M x N, row stride ldc) = alpha op(A) op(B) + beta C,
 * op(A) M x K: A is M x K (lda >= K) when !ta, K x M (lda >= M) when ta; op(B) K x N likewise with tb.
 * beta is 0 or 1. A and B are rounded to bf16 (alpha is applied to the fp32 result), products are accumulated
 * in float32. TAC_ERR (reason set) when memory or oneDNN fails; C is then unspecified. */
int tac_bf16_gemm(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* The same product on operands already rounded to bf16 (tac_bf16_from_f32), read in place with row strides
 * lda >= (ta ? M : K), ldb >= (tb ? K : N): nothing is converted or copied, so a matrix rounded once serves many
 * products (the kNN's tiles are row blocks of one N x D bf16 copy). The mm's operand buffers are not used. */
int tac_bf16_gemm_rounded(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const uint16_t *A,
                          int lda, const uint16_t *B, int ldb, float beta, float *C, int ldc);

#endif
