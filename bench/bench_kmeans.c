/* bench_kmeans.c (build/bench_kmeans) - time tac_kmeans on a .npy matrix (driven by bench/kmeans.sh, which runs faiss beside it).
 *
 * usage: build/bench_kmeans X.npy K NITER NREDO REPEATS [spherical(1)]
 * Prints the machine, the OpenBLAS core and threads, each run's time and objective, the median time, the nominal
 * rate (NITER*NREDO iterations over the median time; a redo that reaches its exact fixed point stops early and
 * says so on stderr, so this can exceed the per-iteration rate), and the rate of one assignment pass alone
 * (tac_kmeans_assign over the NT = min(N, 256 K) training rows: sgemm tiles + argmax), median over REPEATS.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "bench_common.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: %s X.npy K NITER NREDO REPEATS [spherical]\n", argv[0]); return 2; }
    float *X; int64_t n, d;
    if (tac_npy_load_f32(argv[1], &X, &n, &d) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = atoi(argv[2]); p.niter = atoi(argv[3]); p.nredo = atoi(argv[4]);
    int reps = atoi(argv[5]);
    p.spherical = argc > 6 ? atoi(argv[6]) : 1;
    p.progress = 1; /* the fixed-point notes go to stderr */
    if (reps < 1 || reps > 100) reps = 1;
    print_machine();
    printf("taclust kmeans: N=%lld D=%lld K=%d niter=%d nredo=%d spherical=%d\n", (long long)n, (long long)d, p.k,
           p.niter, p.nredo, p.spherical);
    int32_t *lab = tac_xmalloc((size_t)n, sizeof(int32_t));
    double *t = tac_xmalloc((size_t)reps, sizeof(double));
    for (int r = 0; r < reps; r++) {
        double obj, t0 = tac_now(), c0 = cpu_seconds();
        if (tac_kmeans(X, n, (int)d, &p, NULL, lab, &obj) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
        t[r] = tac_now() - t0;
        printf("  run %d: %.2f s wall, %.2f s CPU, objective %.6f\n", r, t[r], cpu_seconds() - c0, obj);
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    int64_t nt = n < (int64_t)p.k * p.max_points_per_centroid ? n : (int64_t)p.k * p.max_points_per_centroid;
    double gf = 2.0 * (double)nt * p.k * (double)d * 1e-9; /* GFLOP per iteration (the X . C^T product) */
    double med = t[reps / 2];
    printf("taclust kmeans median: %.2f s over %d run(s); nominal %.1f it/s = %.0f GFLOP/s effective (NT=%lld)\n",
           med, reps, p.niter * p.nredo / med, gf * p.niter * p.nredo / med, (long long)nt);
    /* one assignment pass alone: NT rows against K centroids taken from rows of X */
    float *C = tac_xmalloc((size_t)p.k * (size_t)d, sizeof(float)); /* K x D */
    for (int c = 0; c < p.k; c++) memcpy(C + (int64_t)c * d, X + ((int64_t)c * 97 % n) * d, sizeof(float) * (size_t)d);
    int pr = reps < 5 ? 5 : reps;
    double *tp = tac_xmalloc((size_t)pr, sizeof(double));
    for (int r = 0; r < pr; r++) {
        double t0 = tac_now();
        tac_kmeans_assign(X, nt, (int)d, C, p.k, p.spherical, lab, NULL);
        tp[r] = tac_now() - t0;
    }
    qsort(tp, (size_t)pr, sizeof(double), cmp_d);
    printf("taclust assignment pass (NT x K x D): median %.1f ms = %.1f passes/s = %.0f GFLOP/s over %d runs\n",
           tp[pr / 2] * 1e3, 1 / tp[pr / 2], gf / tp[pr / 2], pr);
    free(C); free(tp);
    free(X); free(lab); free(t);
    return 0;
}
