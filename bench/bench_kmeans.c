/* kmeans.c (build/bench_kmeans) - time tac_kmeans on a .npy matrix (driven by bench/kmeans.sh, which runs faiss beside it).
 *
 * usage: build/bench_kmeans X.npy K NITER NREDO REPEATS [spherical(1)]
 * Prints the machine, the OpenBLAS core and threads, each run's time and objective, and the median time.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* CPU seconds used by this process so far (user + system, all threads): on a shared machine this is the
 * load-independent cost; CPU/threads estimates the wall time on an idle machine. */
static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static void print_machine(void)
{
    FILE *f = popen("lscpu | grep -m1 'Model name' | sed 's/.*: *//'", "r");
    char line[256] = "?";
    if (f) { if (!fgets(line, sizeof line, f)) line[0] = 0; pclose(f); }
    printf("machine: %s", line);
    printf("openblas core: %s, openblas threads: %d, omp threads: %d\n", openblas_get_corename(),
           openblas_get_num_threads(), tac_num_threads());
}

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
    printf("taclust kmeans median: %.2f s over %d run(s)\n", t[reps / 2], reps);
    free(X); free(lab); free(t);
    return 0;
}
