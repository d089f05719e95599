/* bench_heads.c - times TAC cluster-head training (tac_heads_train) on synthetic CIFAR-10-sized data:
 * N=50,000 x D=512 normalised image features and text counterparts around K=10 centres, 50 same-cluster
 * neighbours per row, 20 epochs x batch 512 (97 steps per epoch), H=512. Prints the machine, the OpenBLAS core,
 * the thread count, the time of every epoch, the median epoch and the total.
 *
 *   make bench && build/bench_heads [epochs] [N] [K] [batch] [step reps]   (bench/bench_heads.sh also runs the
 *   PyTorch reference; the ImageNet-1K setting is K 1000, batch 8192)
 *
 * Data-parallel mode (tac_heads_train_dist's step, src/heads/tac_heads_dist.c):
 *   build/bench_heads dist [N] [K] [batch] [steps] [ranks]      (default 16384 100 4096 4 2; H = D = 512)
 * times one step (median over `steps`, after one warm-up step) as 1 rank x 1 thread, 1 rank x 2 threads (the two
 * heads on two threads) and `ranks` ranks x 1 thread each over the tests' thread transport (tests/tac_test_comm.c:
 * ranks are threads of this process, allreduce sums in rank order through shared memory), and the bytes each rank
 * passes to allreduce per step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <sys/resource.h>

#include "heads/heads_internal.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/heads.h"

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* The tests' in-process transport (ranks = threads): compiled in here, the Makefile links benchmarks with the
 * library only. */
#include "../tests/tac_test_comm.c"

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

/* Synthetic data: X, R (N x d) around K centres, nn (N x kn) same-cluster neighbours. */
static void make_data(tac_mt *r, int64_t n, int d, int K, int kn, float **Xo, float **Ro, float **ceno, int64_t **nno)
{
    float *X = malloc((size_t)n * d * sizeof(float)), *R = malloc((size_t)n * d * sizeof(float));   /* N x D */
    float *cen = malloc((size_t)K * d * sizeof(float));                                            /* K x D */
    int64_t *nn = malloc((size_t)n * kn * sizeof(int64_t));                                        /* N x kn */
    if (!X || !R || !cen || !nn) { fprintf(stderr, "bench_heads: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < (int64_t)K * d; i++) cen[i] = (float)tac_mt_normal(r);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            X[i * d + j] = cen[(i % K) * d + j] + 0.8f * (float)tac_mt_normal(r);
            R[i * d + j] = cen[(i % K) * d + j] + 0.5f * (float)tac_mt_normal(r);
        }
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(R, n, d);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < kn; j++) nn[i * kn + j] = (i + (int64_t)K * (j + 1 + (int64_t)tac_mt_below(r, 1000))) % n;
    *Xo = X; *Ro = R; *ceno = cen; *nno = nn;
}

/* ---- data-parallel mode ---------------------------------------------------------------------------------- */

enum { DSTEP_MAX = 64 };
typedef struct {
    const float *X, *R; int64_t n; int d; const int64_t *sel; int steps; const tac_heads_params *p;
    double t[DSTEP_MAX];   /* rank 0's step times (warm-up first) */
    double cpu;            /* the process's CPU time from rank 0's second step to its last */
    int64_t bytes;         /* rank 0's allreduce bytes over all steps */
} dist_bench;

/* this process's CPU time (user + system, all threads), seconds */
static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec + 1e-6 * u.ru_stime.tv_usec;
}

static int dist_rank(const tac_comm *c, void *arg)
{
    dist_bench *a = arg;
    const tac_heads_params *p = a->p;
    tac_heads *h = tac_heads_alloc(a->d, p->hidden, p->K);
    tac_heads_dwork *w = h ? tac_heads_dwork_alloc(h, p->batch, c) : NULL;
    int rc = w ? TAC_OK : TAC_ERR;
    if (tac_comm_check(c, rc) != TAC_OK) { tac_heads_free(h); return TAC_ERR; }
    tac_heads_init(h, 1);
    int B = p->batch;
    for (int s = 0; s <= a->steps && rc == TAC_OK; s++) {
        const int64_t *q = a->sel + (size_t)s * 3 * B;
        if (c->rank == 0 && s == 1) a->cpu = cpu_now();
        double t = tac_now();
        rc = tac_heads_dist_step(h, w, a->X, a->R, q, q + B, q + 2 * B, p, 1, NULL);
        if (c->rank == 0) a->t[s] = tac_now() - t;
    }
    if (c->rank == 0) a->cpu = cpu_now() - a->cpu;
    if (c->rank == 0) a->bytes = tac_heads_dwork_reduced_bytes(w);
    tac_heads_dwork_free(w);
    tac_heads_free(h);
    return rc;
}

static double median_of(const double *t, int n)
{
    double s[DSTEP_MAX];
    memcpy(s, t, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static int bench_dist(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 16384;
    int K = argc > 2 ? atoi(argv[2]) : 100, B = argc > 3 ? atoi(argv[3]) : 4096;
    int steps = argc > 4 ? atoi(argv[4]) : 4, ranks = argc > 5 ? atoi(argv[5]) : 2;
    const int d = 512, kn = 10;
    if (K < 2 || B < ranks || B > n || steps < 1 || steps >= DSTEP_MAX || ranks < 1 || ranks > 64) {
        fprintf(stderr, "bench_heads dist: bad N, K, batch, steps or ranks\n");
        return 2;
    }
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = K; p.batch = B; p.seed = 1;
    printf("openblas core: %s\ndata-parallel step: N=%lld D=%d H=%d K=%d batch=%d, median of %d steps after 1 warm-up\n",
           openblas_get_corename(), (long long)n, d, p.hidden, K, B, steps);
    tac_mt r;
    tac_mt_seed(&r, 1);
    float *X, *R, *cen;
    int64_t *nn;
    make_data(&r, n, d, K, kn, &X, &R, &cen, &nn);
    int64_t *sel = malloc((size_t)(steps + 1) * 3 * B * sizeof(int64_t));   /* (steps+1) x 3B */
    for (int64_t i = 0; i < (int64_t)(steps + 1) * 3 * B; i++) sel[i] = (int64_t)tac_mt_below(&r, (uint64_t)n);
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double t1[DSTEP_MAX];
    for (int threads = 1; threads <= 2; threads++) {   /* one rank: the single-process step */
        tac_heads *h = tac_heads_alloc(d, p.hidden, K);
        tac_heads_work *w = h ? tac_heads_work_alloc(h, B) : NULL;
        if (!w) { fprintf(stderr, "bench_heads: %s\n", tac_last_error()); return 1; }
        tac_heads_work_set_threads(w, threads);
        tac_heads_init(h, 1);
        double c0 = 0;
        for (int s = 0; s <= steps; s++) {
            const int64_t *q = sel + (size_t)s * 3 * B;
            if (s == 1) c0 = cpu_now();
            double t = tac_now();
            tac_heads_step(h, w, X, R, q, q + B, q + 2 * B, &p, NULL);
            t1[s] = tac_now() - t;
        }
        printf("RESULT 1 rank  x %d thread%s: %8.1f ms per step (CPU time %.1f ms per step)\n", threads,
               threads > 1 ? "s" : " ", median_of(t1 + 1, steps) * 1e3, (cpu_now() - c0) / steps * 1e3);
        tac_heads_work_free(w);
        tac_heads_free(h);
    }
    dist_bench a = {X, R, n, d, sel, steps, &p, {0}, 0, 0};
    char errs[64][512];
    if (tac_test_run_ranks(ranks, dist_rank, &a, NULL, errs) != 0) {
        fprintf(stderr, "bench_heads: %s\n", errs[0]);
        return 1;
    }
    openblas_set_num_threads(blas);
    int lo;
    {   /* rank 0's share, for the report */
        int64_t l, hi;
        tac_comm_share(B, 0, ranks, &l, &hi);
        lo = (int)(hi - l);
    }
    printf("RESULT %d ranks x 1 thread : %8.1f ms per step (all ranks' CPU time %.1f ms per step; rank 0: %d rows of "
           "the batch; thread transport)\n", ranks, median_of(a.t + 1, steps) * 1e3, a.cpu / steps * 1e3, lo);
    double per = (double)a.bytes / (steps + 1);
    printf("RESULT allreduce per step and rank: %.0f bytes (%.2f MB): 2 x 8H doubles, 6K+1 doubles, 2 x 4K^2 floats, "
           "4K doubles, the gradients but gamma and beta (floats)\n", per, per / 1e6);
    free(sel); free(X); free(R); free(cen); free(nn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dist") == 0) return bench_dist(argc - 1, argv + 1);
    int epochs = argc > 1 ? atoi(argv[1]) : 20;
    int64_t n = argc > 2 ? atoll(argv[2]) : 50000;
    const int d = 512, kn = 50;
    int K = argc > 3 ? atoi(argv[3]) : 10, batch = argc > 4 ? atoi(argv[4]) : 512;   /* ImageNet-1K: 1000 8192 */
    int nrep = argc > 5 ? atoi(argv[5]) : 15;
    if (K < 2 || batch < 1 || batch > n || nrep < 1 || nrep > 15) { fprintf(stderr, "bad K, batch or reps\n"); return 2; }
    char model[256] = "?";
    FILE *f = popen("lscpu | sed -n 's/^Model name:[ \\t]*//p'", "r");
    if (f) { if (fgets(model, sizeof model, f)) model[strcspn(model, "\n")] = 0; pclose(f); }
    printf("machine: %s\nopenblas core: %s, openblas threads: %d, omp threads: %d\n", model, openblas_get_corename(),
           openblas_get_num_threads(), tac_num_threads());
    printf("taclust train-heads: N=%lld D=%d K=%d H=512 epochs=%d batch=%d neighbours=%d\n", (long long)n, d, K,
           epochs, batch, kn);

    tac_mt r;
    tac_mt_seed(&r, 1);
    float *X, *R, *cen;
    int64_t *nn;
    make_data(&r, n, d, K, kn, &X, &R, &cen, &nn);

    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = K; p.epochs = epochs; p.seed = 1; p.batch = batch;

    /* one step against its matrix products alone: the share of time spent outside sgemm */
    {
        enum { REPMAX = 15 };
        const int REP = nrep;
        const int B = p.batch, H = p.hidden;
        tac_heads *hs = tac_heads_alloc(d, H, K);
        tac_heads_work *w = hs ? tac_heads_work_alloc(hs, B) : NULL;
        if (!w) { fprintf(stderr, "bench_heads: %s\n", tac_last_error()); return 1; }
        tac_heads_init(hs, 1);
        int64_t *sel = malloc(3 * (size_t)B * sizeof(int64_t));   /* 3B */
        for (int i = 0; i < 3 * B; i++) sel[i] = (int64_t)tac_mt_below(&r, (uint64_t)n);
        double ts[REPMAX], tt[REPMAX], tg[REPMAX], tb[REPMAX], ct[REPMAX], cb[REPMAX];
        int bf16 = tac_bf16_native();
        float *A = malloc((size_t)2 * B * d * sizeof(float)), *C = malloc((size_t)2 * B * H * sizeof(float));
        float *W = malloc((size_t)H * d * sizeof(float));
        memcpy(A, X, (size_t)2 * B * d * sizeof(float));
        memcpy(W, X, (size_t)H * d * sizeof(float));
        int blas = openblas_get_num_threads();
        for (int rep = 0; rep < REP; rep++) {
            double t = tac_now();
            tac_heads_step(hs, w, X, R, sel, sel + B, sel + 2 * B, &p, NULL);
            ts[rep] = tac_now() - t;
            tac_heads_work_set_threads(w, 2);
            openblas_set_num_threads(1);
            t = tac_now();
            double c = cpu_now();
            if (tac_heads_step(hs, w, X, R, sel, sel + B, sel + 2 * B, &p, NULL) != TAC_OK) {
                fprintf(stderr, "bench_heads: step: %s\n", tac_last_error());
                return 1;
            }
            tt[rep] = tac_now() - t;
            ct[rep] = cpu_now() - c;
            if (bf16) {   /* the same step with bf16 products (tac_heads_set_precision(TAC_HEADS_BF16)'s path) */
                if (tac_heads_work_set_bf16(w, hs, 1) != TAC_OK) { fprintf(stderr, "bench_heads: %s\n", tac_last_error()); return 1; }
                t = tac_now();
                double c2 = cpu_now();
                if (tac_heads_step(hs, w, X, R, sel, sel + B, sel + 2 * B, &p, NULL) != TAC_OK) {
                    fprintf(stderr, "bench_heads: bf16 step: %s\n", tac_last_error());
                    return 1;
                }
                tb[rep] = tac_now() - t;
                cb[rep] = cpu_now() - c2;
                tac_heads_work_set_bf16(w, hs, 0);
            }
            openblas_set_num_threads(blas);
            tac_heads_work_set_threads(w, 1);
            t = tac_now();
            for (int k = 0; k < 2; k++) {   /* per head: Z1 = Xg W1^T and dW1 = dZ1^T Xg over 2B rows */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2 * B, H, d, 1.0f, A, d, W, d, 0.0f, C, H);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, d, 2 * B, 1.0f, C, H, A, d, 0.0f, W, d);
            }
            tg[rep] = tac_now() - t;
        }
        qsort(ts, REP, sizeof(double), cmp_d);
        qsort(tt, REP, sizeof(double), cmp_d);
        qsort(tg, REP, sizeof(double), cmp_d);
        qsort(tb, REP, sizeof(double), cmp_d);
        qsort(ct, REP, sizeof(double), cmp_d);
        qsort(cb, REP, sizeof(double), cmp_d);
        double fl = 2 * 2 * 2.0 * (2.0 * B) * H * d;
        printf("one step (B=%d), medians of %d: heads in sequence with %d BLAS threads %.2f ms; heads on 2 threads with "
               "1 BLAS thread each %.2f ms; the step's 4 big sgemms alone (%d BLAS threads) %.2f ms = %.0f GFLOP/s\n",
               B, REP, blas, ts[REP / 2] * 1e3, tt[REP / 2] * 1e3, blas, tg[REP / 2] * 1e3, fl / tg[REP / 2] * 1e-9);
        if (bf16)
            printf("RESULT step fp32 %.2f ms | bf16 products (oneDNN %s) %.2f ms | %.2fx (2 threads, one head each; "
                   "medians of wall time; best wall %.2f / %.2f ms; median CPU time %.2f / %.2f s)\n",
                   tt[REP / 2] * 1e3, tac_clip_dnnl_isa(), tb[REP / 2] * 1e3, tt[REP / 2] / tb[REP / 2], tt[0] * 1e3,
                   tb[0] * 1e3, ct[REP / 2], cb[REP / 2]);
        else
            printf("RESULT step fp32 %.2f ms | bf16: not native on this CPU, not timed\n", tt[REP / 2] * 1e3);
        free(A); free(C); free(W); free(sel);
        tac_heads_work_free(w);
        tac_heads_free(hs);
    }
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
