/* bench_common.h - what every benchmark in bench/ shares: medians, CPU time, and the machine line (CPU model,
 * OpenBLAS core and threads, OpenMP threads) that each benchmark prints before its figures. Header-only:
 * `make bench` builds each bench/bench_<x>.c on its own. */
#ifndef TAC_BENCH_COMMON_H
#define TAC_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/tac_internal.h"   /* the library's internal helpers (tac_now, tac_xmalloc, ...) */
#include "taclust/core.h"

char *openblas_get_corename(void);   /* OpenBLAS extensions */
int openblas_get_num_threads(void);

static inline int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of t[0..n) (sorts t). */
static inline double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* CPU seconds used by this process so far (user + system, all threads): on a shared machine this is the
 * load-independent cost; CPU/threads estimates the wall time on an idle machine. */
static inline double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static inline void print_machine(void)
{
    FILE *f = popen("lscpu | grep -m1 'Model name' | sed 's/.*: *//'", "r");
    char line[256] = "?\n";
    if (f) { if (!fgets(line, sizeof line, f)) line[0] = 0; pclose(f); }
    printf("machine: %s", line);
    printf("openblas core: %s, openblas threads: %d, omp threads: %d\n", openblas_get_corename(),
           openblas_get_num_threads(), tac_num_threads());
}

#endif
