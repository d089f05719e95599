/* bench_kmeans_bounds.c (build/bench_kmeans_bounds) - the bounded spherical k-means beside the plain pass it
 * reproduces (tac_kmeans_params.plain = 1), same data, same parameters, alternating runs.
 *
 * usage: build/bench_kmeans_bounds X.npy K NITER NREDO REPEATS [MPPC]
 * Rows are L2-normalised first (as tac_fit does). Prints the machine, the OpenBLAS core and threads, each run's
 * wall and CPU time, the median of each mode and the speed-up, the share of row passes the bounds proved, and
 * whether labels, centroids and objective are bit-identical (they must be).
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: %s X.npy K NITER NREDO REPEATS [MPPC]\n", argv[0]); return 2; }
    float *X; int64_t n, d;
    if (tac_npy_load_f32(argv[1], &X, &n, &d) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    tac_l2_normalize_rows(X, n, d);
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = atoi(argv[2]); p.niter = atoi(argv[3]); p.nredo = atoi(argv[4]); p.spherical = 1;
    int reps = atoi(argv[5]);
    if (argc > 6) p.max_points_per_centroid = atoi(argv[6]);
    if (reps < 1 || reps > 100) reps = 1;
    print_machine();
    int64_t nt = n < (int64_t)p.k * p.max_points_per_centroid ? n : (int64_t)p.k * p.max_points_per_centroid;
    printf("spherical k-means: N=%lld (training rows %lld) D=%lld K=%d niter=%d nredo=%d\n", (long long)n,
           (long long)nt, (long long)d, p.k, p.niter, p.nredo);
    int32_t *lab[2];
    float *cen[2];
    double obj[2], *t[2];
    int64_t skipped = 0;
    int fallbacks = 0;
    for (int m = 0; m < 2; m++) {
        lab[m] = tac_xmalloc((size_t)n, sizeof(int32_t));          /* N */
        cen[m] = tac_xmalloc((size_t)p.k * (size_t)d, sizeof(float)); /* K x D */
        t[m] = tac_xmalloc((size_t)reps, sizeof(double));
    }
    static const char *const mode[2] = {"plain", "bounded"};
    for (int r = 0; r < reps; r++)
        for (int m = 0; m < 2; m++) {
            p.plain = m == 0 ? 1 : -1;
            p.skipped = m ? &skipped : NULL;
            p.fallbacks = m ? &fallbacks : NULL;
            double t0 = tac_now(), c0 = cpu_seconds();
            if (tac_kmeans(X, n, (int)d, &p, cen[m], lab[m], &obj[m]) != TAC_OK) {
                fprintf(stderr, "%s\n", tac_last_error());
                return 1;
            }
            t[m][r] = tac_now() - t0;
            printf("  run %d %-7s: %8.2f s wall, %8.2f s CPU, objective %.6f\n", r, mode[m], t[m][r],
                   cpu_seconds() - c0, obj[m]);
        }
    double med[2];
    for (int m = 0; m < 2; m++) med[m] = median(t[m], reps);
    int same = memcmp(lab[0], lab[1], sizeof(int32_t) * (size_t)n) == 0 &&
               memcmp(cen[0], cen[1], sizeof(float) * (size_t)p.k * (size_t)d) == 0 && obj[0] == obj[1];
    printf("median over %d run(s): plain %.2f s, bounded %.2f s, speed-up %.2fx\n", reps, med[0], med[1],
           med[0] / med[1]);
    printf("bounded: %lld row passes proven (last run), %d fallback(s); labels, centroids, objective %s\n",
           (long long)skipped, fallbacks, same ? "bit-identical to the plain pass" : "DIFFER from the plain pass");
    for (int m = 0; m < 2; m++) { free(lab[m]); free(cen[m]); free(t[m]); }
    free(X);
    return same ? 0 : 1;
}
