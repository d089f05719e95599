/* bench_metrics.c - time ACC / NMI / ARI on a large clustering (default 1,000,000 samples, 1000 classes,
 * 1000 clusters, 70% of the samples in the cluster matching their class).
 *
 *   make build/bench_bench_metrics && build/bench_bench_metrics OUTDIR [N] [K] [REPEATS]
 * (the Makefile builds bench/<x>.c into build/bench_<x>; bench/bench_metrics.sh drives it against sklearn).
 * Writes the labels and predictions to OUTDIR/y.npy and OUTDIR/p.npy (so that bench/bench_metrics.sh can time
 * sklearn/scipy on the very same data) and prints, per metric, the median wall time over REPEATS (default 5)
 * runs and the value, as lines "tac <metric> <median seconds> <value>" after a header with the machine.
 * The metrics are single-threaded; the thread count is printed for completeness.
 */
#include "taclust/core.h"
#include "taclust/metrics.h"
#include "bench_common.h"

#include <stdlib.h>
#include <string.h>


int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s OUTDIR [N] [K] [REPEATS]\n", argv[0]); return 2; }
    const char *dir = argv[1];
    int64_t n = argc > 2 ? atoll(argv[2]) : 1000000;
    int k = argc > 3 ? atoi(argv[3]) : 1000;
    int reps = argc > 4 ? atoi(argv[4]) : 5;
    if (n <= 0 || k <= 0 || reps <= 0 || reps > 100) { fprintf(stderr, "bad N, K or REPEATS\n"); return 2; }
    if (tac_mkdir_p(dir) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }

    int64_t *y = tac_xmalloc((size_t)n, sizeof(int64_t));   /* N labels */
    int64_t *p = tac_xmalloc((size_t)n, sizeof(int64_t));   /* N predictions */
    int64_t *perm = tac_xmalloc((size_t)k, sizeof(int64_t)); /* K: cluster id of each class */
    tac_rand_perm(perm, k, 42);
    tac_mt rng;
    tac_mt_seed(&rng, 2024);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int64_t)tac_mt_below(&rng, (uint64_t)k);
        p[i] = tac_mt_uniform(&rng) < 0.7 ? perm[y[i]] : (int64_t)tac_mt_below(&rng, (uint64_t)k);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/y.npy", dir);
    if (tac_npy_save_i64(path, y, 1, &n) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    snprintf(path, sizeof path, "%s/p.npy", dir);
    if (tac_npy_save_i64(path, p, 1, &n) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }

    printf("# taclust metrics: N=%lld, K=%d classes and clusters, %d repeats, metrics single-threaded "
           "(OpenMP threads available %d), OpenBLAS core %s\n", (long long)n, k, reps, tac_num_threads(),
           openblas_get_corename());
    const char *names[4] = {"acc", "nmi", "ari", "all3"};
    double t[100], val[4] = {0};
    for (int m = 0; m < 4; m++) {
        for (int r = 0; r < reps; r++) {
            double t0 = tac_now();
            if (m == 0) val[m] = tac_metric_acc(y, p, n);
            else if (m == 1) val[m] = tac_metric_nmi(y, p, n);
            else if (m == 2) val[m] = tac_metric_ari(y, p, n);
            else {
                tac_metrics all;
                if (tac_metrics_compute(y, p, n, &all) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
                val[m] = all.acc;
            }
            t[r] = tac_now() - t0;
        }
        printf("tac %s %.6f %.17g\n", names[m], median(t, reps), val[m]);
    }
    free(y); free(p); free(perm);
    return 0;
}
