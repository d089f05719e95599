/* bench_heads.c - times TAC cluster-head training (tac_heads_train) on synthetic CIFAR-10-sized data:
 * N=50,000 x D=512 normalised image features and text counterparts around K=10 centres, 50 same-cluster
 * neighbours per row, 20 epochs x batch 512 (97 steps per epoch), H=512. Prints the machine, the OpenBLAS core,
 * the thread count, the time of every epoch, the median epoch and the total.
 *
 *   make bench && build/bench_heads [epochs] [N]        (bench/bench_heads.sh also runs the PyTorch reference)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"
#include "taclust/heads.h"

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

typedef struct { double *t; double last; int n; } timing;

static void on_epoch(const tac_heads *h, int epoch, double loss, void *user)
{
    (void)h;
    timing *tm = user;
    double now = tac_now();
    tm->t[tm->n++] = now - tm->last;
    tm->last = now;
    printf("  epoch %2d  loss %.5f  %.3f s\n", epoch, loss, tm->t[tm->n - 1]);
    fflush(stdout);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 20;
    int64_t n = argc > 2 ? atoll(argv[2]) : 50000;
    const int d = 512, K = 10, kn = 50;
    char model[256] = "?";
    FILE *f = popen("lscpu | sed -n 's/^Model name:[ \\t]*//p'", "r");
    if (f) { if (fgets(model, sizeof model, f)) model[strcspn(model, "\n")] = 0; pclose(f); }
    printf("machine: %s\nopenblas core: %s, openblas threads: %d, omp threads: %d\n", model, openblas_get_corename(),
           openblas_get_num_threads(), tac_num_threads());
    printf("taclust train-heads: N=%lld D=%d K=%d H=512 epochs=%d batch=512 neighbours=%d\n", (long long)n, d, K,
           epochs, kn);

    tac_mt r;
    tac_mt_seed(&r, 1);
    float *X = malloc((size_t)n * d * sizeof(float)), *R = malloc((size_t)n * d * sizeof(float));   /* N x D */
    float *cen = malloc((size_t)K * d * sizeof(float));                                            /* K x D */
    int64_t *nn = malloc((size_t)n * kn * sizeof(int64_t));                                        /* N x kn */
    for (int64_t i = 0; i < (int64_t)K * d; i++) cen[i] = (float)tac_mt_normal(&r);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            X[i * d + j] = cen[(i % K) * d + j] + 0.8f * (float)tac_mt_normal(&r);
            R[i * d + j] = cen[(i % K) * d + j] + 0.5f * (float)tac_mt_normal(&r);
        }
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(R, n, d);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < kn; j++) nn[i * kn + j] = (i + (int64_t)K * (j + 1 + (int64_t)tac_mt_below(&r, 1000))) % n;

    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = K; p.epochs = epochs; p.seed = 1;
    timing tm = {calloc((size_t)epochs + 1, sizeof(double)), 0, 0};
    tm.last = tac_now();
    double t0 = tm.last;
    tac_heads *h;
    if (tac_heads_train(X, R, n, d, nn, nn, kn, &p, on_epoch, &tm, &h) != TAC_OK) {
        fprintf(stderr, "bench_heads: %s\n", tac_last_error());
        return 1;
    }
    double total = tac_now() - t0;
    qsort(tm.t, (size_t)tm.n, sizeof(double), cmp_d);
    printf("RESULT taclust  median epoch %.3f s  total %.2f s  (%d epochs)\n", tm.t[tm.n / 2], total, epochs);
    tac_heads_free(h);
    free(X); free(R); free(cen); free(nn); free(tm.t);
    return 0;
}
