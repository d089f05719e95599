/* bench_gemm.c (build/bench_gemm) - the product rates the ImageNet-1K cost model (docs/scale.md) rests on: OpenBLAS
 * cblas_sgemm (float32) against tac_bf16_gemm (oneDNN on bf16 operands with float32 accumulation, the operands'
 * rounding included) on the shapes of the heads' step, the kNN tiles and the centre k-means, side by side in one
 * run, with all the threads the process has (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
 *
 * usage: make bench && build/bench_gemm [REPEATS]        (default 5; median and best of REPEATS per product)
 */
#include "bench_common.h"
#include "core/tac_bf16.h"

#include <cblas.h>
#include <string.h>

typedef struct { const char *what; int M, N, K, ta, tb; } shape;

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 50) { fprintf(stderr, "usage: %s [REPEATS 1..50]\n", argv[0]); return 2; }
    print_machine();
    const shape sh[] = {
        {"heads linear 1, forward (2B x H x D)", 16384, 512, 512, 0, 1},
        {"heads linear 2, forward (2B x K x H)", 16384, 1000, 512, 0, 1},
        {"heads linear 2, weight gradient (K x H x 2B)", 1000, 512, 16384, 1, 0},
        {"heads distillation gradient (2K x B x 2K)", 2000, 8192, 2000, 0, 0},
        {"kNN tile (1024 x 1024 x D)", 1024, 1024, 512, 0, 1},
        {"k-means scores (4096 rows x k 4271 x D)", 4096, 4271, 512, 0, 1},
    };
    int bf16 = tac_bf16_native();
    size_t maxe = 0;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        size_t a = (size_t)sh[s].M * sh[s].K, b = (size_t)sh[s].K * sh[s].N, c = (size_t)sh[s].M * sh[s].N;
        if (a > maxe) maxe = a;
        if (b > maxe) maxe = b;
        if (c > maxe) maxe = c;
    }
    float *A = tac_xmalloc(maxe, sizeof(float)), *B = tac_xmalloc(maxe, sizeof(float)), *C = tac_xmalloc(maxe, sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, 1);
    for (size_t i = 0; i < maxe; i++) { A[i] = (float)tac_mt_normal(&r); B[i] = (float)tac_mt_normal(&r); }
    tac_bf16_mm *mm = bf16 ? tac_bf16_mm_new(maxe) : NULL;
    if (bf16 && !mm) { fprintf(stderr, "bench_gemm: %s\n", tac_last_error()); return 1; }
    printf("bf16: %s\n", bf16 ? "native (oneDNN matmul)" : "not native on this CPU: sgemm only");
    printf("%-48s %18s %18s %8s\n", "product", "sgemm GFLOP/s", "bf16 GFLOP/s", "bf16/sg");
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        const shape *q = &sh[s];
        int lda = q->ta ? q->M : q->K, ldb = q->tb ? q->K : q->N;
        double fl = 2.0 * q->M * q->N * q->K, ts[50], tb[50];
        for (int i = 0; i <= reps; i++) {   /* the first of each is a warm-up */
            double t = tac_now();
            cblas_sgemm(CblasRowMajor, q->ta ? CblasTrans : CblasNoTrans, q->tb ? CblasTrans : CblasNoTrans, q->M,
                        q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f, C, q->N);
            if (i) ts[i - 1] = tac_now() - t;
            if (mm) {
                t = tac_now();
                if (tac_bf16_gemm(mm, q->ta, q->tb, q->M, q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f, C, q->N) != TAC_OK) {
                    fprintf(stderr, "bench_gemm: %s\n", tac_last_error());
                    return 1;
                }
                if (i) tb[i - 1] = tac_now() - t;
            }
        }
        double ms = median(ts, reps), bs = ts[0];
        if (mm) {
            double mb = median(tb, reps), bb = tb[0];
            printf("%-48s %7.0f (best %4.0f) %7.0f (best %4.0f) %7.2fx\n", q->what, fl / ms * 1e-9, fl / bs * 1e-9,
                   fl / mb * 1e-9, fl / bb * 1e-9, ms / mb);
        } else {
            printf("%-48s %7.0f (best %4.0f) %18s\n", q->what, fl / ms * 1e-9, fl / bs * 1e-9, "-");
        }
    }
    printf("RESULT medians of %d runs each (GFLOP/s = 2 M N K / time; bf16 includes rounding the operands)\n", reps);
    tac_bf16_mm_free(mm);
    free(A); free(B); free(C);
    return 0;
}
