/* bench_knn.c (build/bench_knn) - time tac_knn_cosine on a .npy matrix (driven by bench/kmeans.sh, which runs faiss beside it).
 *
 * usage: build/bench_knn X.npy K REPEATS [idx_out.npy]
 * Prints the machine, the OpenBLAS core and threads, each run's time and GFLOP/s of the similarity products,
 * and the median; writes the neighbour indices (int64 N x K) if asked, so the driver can compare with faiss.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "bench_common.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: %s X.npy K REPEATS [idx_out.npy]\n", argv[0]); return 2; }
    float *X; int64_t n, d;
    if (tac_npy_load_f32(argv[1], &X, &n, &d) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    int k = atoi(argv[2]), reps = atoi(argv[3]);
    if (reps < 1 || reps > 100) reps = 1;
    print_machine();
    printf("taclust knn: N=%lld D=%lld k=%d (%.2f TFLOP of products)\n", (long long)n, (long long)d, k,
           2.0 * n * n * d / 1e12);
    int64_t *idx = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    double *t = tac_xmalloc((size_t)reps, sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = tac_now(), c0 = cpu_seconds();
        if (tac_knn_cosine(X, n, (int)d, k, idx, NULL) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
        t[r] = tac_now() - t0;
        printf("  run %d: %.2f s wall, %.2f s CPU (%.0f effective GFLOP/s, counting all N*N products)\n", r, t[r],
               cpu_seconds() - c0, 2.0 * n * n * d / t[r] / 1e9);
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    printf("taclust knn median: %.2f s over %d run(s)\n", t[reps / 2], reps);
    if (argc > 4) {
        int64_t shape[2] = {n, k};
        if (tac_npy_save_i64(argv[4], idx, 2, shape) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    }
    free(X); free(idx); free(t);
    return 0;
}
