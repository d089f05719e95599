/* bench_knn.c (build/bench_knn) - time tac_knn_cosine on a .npy matrix (driven by bench/kmeans.sh, which runs faiss
 * beside it), or tac_knn_cosine_dist on R in-process ranks; its two paths side by side (src/cluster/tac_knn.c: the
 * sgemm path and the bf16 screen with an exact check).
 *
 * usage: build/bench_knn X.npy K REPEATS [idx_out.npy] [--ranks R] [--threads T] [--path both|auto|sgemm|bf16]
 * Prints the machine, the OpenBLAS core and threads, each run's time and GFLOP/s of the similarity products,
 * and the medians; writes the neighbour indices (int64 N x K) of the library's own choice of path if asked, so the
 * driver can compare with faiss. --path: both (the default where bf16 is native: each repetition runs the sgemm
 * path (TACLUST_NO_BF16=1), then the bf16 screen, on the same data; prints both medians, the candidates the screen
 * examined per row, and how many list entries and similarities differ between the paths), auto (the library's
 * choice only), sgemm, bf16. "taclust knn median" is the library's own choice (bf16 where native). With --path
 * both, each path's lists are also checked against a brute force on 100 sampled rows (exact_sim's definition: the bf16 screen must
 * match it bit for bit; the sgemm path's similarities are sgemm's, its indices differ where rounding decides a
 * near-tie).
 * --ranks R / --threads T: tac_knn_cosine_dist with T threads per rank (default 1) on R ranks (default 1) of the
 * tests' thread transport (tests/tac_test_comm.c: ranks are threads of this process sharing memory), with sims
 * wanted; prints the bytes each rank sent in the exchange (alltoall + allgather, its own part excluded), counted
 * by wrapping the transport.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "bench_common.h"
#include "../tests/tac_test_comm.c"   /* the in-process transport (one source file per benchmark) */
#include "cluster/tac_knn.h"          /* which path the last call took, its examined candidates */
#include "core/tac_bf16.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <stdlib.h>

/* A rank's communicator wrapped to count the bytes it sends (c must stay the first member). */
typedef struct {
    tac_comm c;
    const tac_comm *inner;
    int64_t sent;
} counting_comm;

static int cnt_allgather(const tac_comm *c, void *buf, const int64_t *bytes)
{
    counting_comm *w = (counting_comm *)c;
    w->sent += (int64_t)(c->size - 1) * bytes[c->rank];
    return w->inner->allgather(w->inner, buf, bytes);
}
static int cnt_allreduce(const tac_comm *c, void *buf, int64_t n, int type)
{
    counting_comm *w = (counting_comm *)c;
    w->sent += (int64_t)(c->size - 1) * n * (type == TAC_COMM_F32 ? 4 : 8);
    return w->inner->allreduce_sum(w->inner, buf, n, type);
}
static int cnt_alltoall(const tac_comm *c, const void *send, const int64_t *sbytes, void *recv, const int64_t *rbytes)
{
    counting_comm *w = (counting_comm *)c;
    for (int q = 0; q < c->size; q++) if (q != c->rank) w->sent += sbytes[q];
    return w->inner->alltoall(w->inner, send, sbytes, recv, rbytes);
}
static int cnt_bcast(const tac_comm *c, void *buf, int64_t bytes, int root)
{
    counting_comm *w = (counting_comm *)c;
    if (c->rank == root) w->sent += (int64_t)(c->size - 1) * bytes;
    return w->inner->bcast(w->inner, buf, bytes, root);
}
static int cnt_agree(const tac_comm *c, int ok, const char *why, char *msg, size_t cap)
{
    counting_comm *w = (counting_comm *)c;
    return w->inner->agree(w->inner, ok, why, msg, cap);
}

typedef struct {
    const float *X;
    int64_t n;
    int d, k, threads;
    int64_t *idx[64];
    float *sim[64];
    int64_t sent[64];
    int bf16[64];          /* the path rank r took */
    int64_t examined[64];  /* its examined candidates (bf16 path) */
} dist_job;

static int dist_body(const tac_comm *c, void *arg)
{
    dist_job *J = arg;
    counting_comm w = {.c = *c, .inner = c, .sent = 0};
    w.c.allgather = cnt_allgather; w.c.allreduce_sum = cnt_allreduce; w.c.alltoall = cnt_alltoall;
    w.c.bcast = cnt_bcast; w.c.agree = cnt_agree;
    int rc = tac_knn_cosine_dist(J->X, J->n, J->d, J->k, J->idx[c->rank], J->sim[c->rank], J->threads, &w.c);
    J->sent[c->rank] = w.sent;
    J->bf16[c->rank] = tac_knn_last_bf16();
    J->examined[c->rank] = tac_knn_last_examined();
    return rc;
}

enum { P_SGEMM = 0, P_BF16 = 1 };

/* A brute force on sampled rows: row i's k best under exact_sim's definition (src/cluster/tac_knn.c: the rows
 * unit-normalised as tac_knn_cosine does, their dot in double summed into 8 accumulators, rounded to float; ties to
 * the lower index). */
typedef struct { float s; int64_t i; } bf_cand;
static int bf_best_first(const void *a, const void *b)
{
    const bf_cand *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}
static void bf_unit(float *y, const float *x, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++) s += (double)x[j] * x[j];
    double nrm = sqrt(s);
    if (nrm > 0 && nrm < 1e-30) { for (int j = 0; j < d; j++) y[j] = (float)((double)x[j] / nrm); return; }
    float inv = (float)(1.0 / (nrm > 0 ? nrm : 1.0));
    for (int j = 0; j < d; j++) y[j] = x[j] * inv;
}
/* Rows among `samples` evenly spaced ones whose index list (idx: N x k) differs from the brute force's; *simrows:
 * those whose similarities (sim) differ in any bit. */
static int64_t brute_check(const float *X, int64_t n, int d, int k, const int64_t *idx, const float *sim, int samples,
                           int64_t *simrows)
{
    float *a = tac_xmalloc((size_t)d, sizeof(float)), *b = tac_xmalloc((size_t)d, sizeof(float));
    bf_cand *c = tac_xmalloc((size_t)n, sizeof(bf_cand));
    int64_t bad = 0;
    *simrows = 0;
    for (int q = 0; q < samples; q++) {
        int64_t i = (int64_t)((double)q * n / samples), m = 0;
        bf_unit(a, X + i * d, d);
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            bf_unit(b, X + j * d, d);
            double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int l = 0; l < d; l++) acc[l & 7] += (double)a[l] * b[l];
            c[m].s = (float)(((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
            c[m++].i = j;
        }
        qsort(c, (size_t)m, sizeof(bf_cand), bf_best_first);
        int di = 0, ds = 0;
        for (int e = 0; e < k; e++) { di |= c[e].i != idx[i * k + e]; ds |= c[e].s != sim[i * k + e]; }
        bad += di;
        *simrows += ds;
    }
    free(a); free(b); free(c);
    return bad;
}

/* One call on path p (TACLUST_NO_BF16 set for sgemm, unset for bf16) into idx / sim of job slot `slot` (ranks
 * slot..slot+R-1 in the distributed form); returns its wall time, *examined the candidates examined (summed over
 * the ranks), or a negative time on failure. */
static double run_path(dist_job *J, int dist, int ranks, int p, int slot, int64_t *examined, int *took_bf16)
{
    if (p == P_SGEMM) setenv("TACLUST_NO_BF16", "1", 1);
    else unsetenv("TACLUST_NO_BF16");
    double t0 = tac_now();
    *examined = 0;
    if (dist) {
        dist_job K = *J;
        for (int r = 0; r < ranks; r++) { K.idx[r] = J->idx[slot + r]; K.sim[r] = J->sim[slot + r]; }
        char err[64][512];
        if (tac_test_run_ranks(ranks, dist_body, &K, NULL, err) != 0) { fprintf(stderr, "%s\n", err[0]); return -1; }
        double t = tac_now() - t0;
        for (int r = 0; r < ranks; r++) {
            J->sent[r] = K.sent[r];
            *examined += K.examined[r] > 0 ? K.examined[r] : 0;
        }
        *took_bf16 = K.bf16[0];
        return t;
    }
    if (tac_knn_cosine(J->X, J->n, J->d, J->k, J->idx[slot], J->sim[slot]) != TAC_OK) {
        fprintf(stderr, "%s\n", tac_last_error());
        return -1;
    }
    double t = tac_now() - t0;
    *examined = tac_knn_last_examined();
    *took_bf16 = tac_knn_last_bf16();
    return t;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *path = "both";
    int ranks = 0, threads = 0, npos = 0;
    const char *pos[4] = {0};
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--ranks") && a + 1 < argc) ranks = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--path") && a + 1 < argc) path = argv[++a];
        else if (npos < 4) pos[npos++] = argv[a];
    }
    int pboth = !strcmp(path, "both"), pauto = !strcmp(path, "auto"), psg = !strcmp(path, "sgemm"),
        pbf = !strcmp(path, "bf16");
    if (npos < 3 || ranks < 0 || ranks > 32 || threads < 0 || !(pboth || pauto || psg || pbf)) {
        fprintf(stderr, "usage: %s X.npy K REPEATS [idx_out.npy] [--ranks R (1..32)] [--threads T] "
                        "[--path both|auto|sgemm|bf16]\n", argv[0]);
        return 2;
    }
    if (npos > 3) out = pos[3];
    int dist = ranks > 0 || threads > 0;
    if (dist && ranks == 0) ranks = 1;
    if (dist && threads == 0) threads = 1;
    const char *env = getenv("TACLUST_NO_BF16");
    int native = tac_bf16_native();   /* with the caller's TACLUST_NO_BF16 */
    if (pbf && !native) {
        fprintf(stderr, "--path bf16: bf16 is not native here (or TACLUST_NO_BF16 is set)\n");
        return 2;
    }
    /* the paths to run, in order; the library's own choice is the last one */
    int paths[2], np = 0;
    if (pboth && native) { paths[np++] = P_SGEMM; paths[np++] = P_BF16; }
    else if (psg || ((pboth || pauto) && !native)) paths[np++] = P_SGEMM;
    else paths[np++] = P_BF16;
    float *X; int64_t n, d;
    if (tac_npy_load_f32(pos[0], &X, &n, &d) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    int k = atoi(pos[1]), reps = atoi(pos[2]);
    if (reps < 1 || reps > 100) reps = 1;
    if (k < 1 || k >= n) { fprintf(stderr, "K=%d must be in 1..N-1 (N=%lld)\n", k, (long long)n); return 2; }
    print_machine();
    printf("taclust knn: N=%lld D=%lld k=%d (%.2f TFLOP of products)", (long long)n, (long long)d, k,
           2.0 * n * n * d / 1e12);
    if (dist) printf(", tac_knn_cosine_dist on %d in-process rank(s) x %d thread(s)", ranks, threads);
    printf("\npaths: %s%s%s (bf16 %snative here%s)\n", np == 2 || paths[0] == P_SGEMM ? "sgemm" : "",
           np == 2 ? " and " : "", np == 2 || paths[0] == P_BF16 ? "bf16 screen" : "", native ? "" : "not ",
           env ? ", TACLUST_NO_BF16 was set" : "");
    dist_job J = {.X = X, .n = n, .d = (int)d, .k = k, .threads = threads};
    int slots = (dist ? ranks : 1) * np;   /* slot p*R + r: path p's lists on rank r */
    for (int r = 0; r < slots; r++) {
        J.idx[r] = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
        J.sim[r] = tac_xmalloc((size_t)(n * k), sizeof(float));
    }
    int R1 = dist ? ranks : 1;
    double *t = tac_xmalloc((size_t)(reps * 2), sizeof(double));   /* t[p * reps + r] */
    int64_t examined = -1;
    for (int r = 0; r < reps; r++) {
        for (int q = 0; q < np; q++) {
            double c0 = cpu_seconds();
            int took;
            int64_t ex;
            double tt = run_path(&J, dist, ranks, paths[q], q * R1, &ex, &took);
            if (tt < 0) return 1;
            if (took != paths[q]) { fprintf(stderr, "the call took the other path\n"); return 1; }
            t[q * reps + r] = tt;
            if (paths[q] == P_BF16) examined = ex;
            printf("  run %d %-11s: %.2f s wall, %.2f s CPU (%.0f effective GFLOP/s, counting all N*N products)", r,
                   paths[q] == P_BF16 ? "bf16 screen" : "sgemm", tt, cpu_seconds() - c0, 2.0 * n * n * d / tt / 1e9);
            if (paths[q] == P_BF16) printf(", %.1f candidates examined per row", (double)ex / n);
            printf("\n");
        }
    }
    if (env) setenv("TACLUST_NO_BF16", env, 1);
    else unsetenv("TACLUST_NO_BF16");
    if (dist) {
        for (int r = 0; r < ranks; r++) printf("  rank %d sent %.3f MB per call\n", r, J.sent[r] / 1e6);
        for (int q = 0; q < np; q++) {
            int same = 1;
            for (int r = 1; r < ranks; r++)
                same &= !memcmp(J.idx[q * R1 + r], J.idx[q * R1], (size_t)(n * k) * sizeof(int64_t)) &&
                        !memcmp(J.sim[q * R1 + r], J.sim[q * R1], (size_t)(n * k) * sizeof(float));
            printf("  every rank holds the same lists (%s): %s\n", paths[q] == P_BF16 ? "bf16 screen" : "sgemm",
                   same ? "yes" : "NO");
        }
    }
    if (pboth) {   /* each path's lists (rank 0's) against the brute force on sampled rows */
        int samples = n < 100 ? (int)n : 100;
        printf("  brute force (exact_sim's definition) on %d sampled rows, rows that differ:", samples);
        for (int q = 0; q < np; q++) {
            int64_t sr, ir = brute_check(X, n, (int)d, k, J.idx[q * R1], J.sim[q * R1], samples, &sr);
            printf(" %s %lld in the indices, %lld in the similarity bits%s",
                   paths[q] == P_BF16 ? "bf16 screen" : "sgemm", (long long)ir, (long long)sr, q + 1 < np ? ";" : "\n");
        }
    }
    if (np == 2) {   /* the two paths' lists (rank 0's) */
        const int64_t *Ia = J.idx[0], *Ib = J.idx[R1];
        const float *Sa = J.sim[0], *Sb = J.sim[R1];
        int64_t di = 0, ds = 0, rows = 0;
        double maxd = 0;
        for (int64_t i = 0; i < n; i++) {
            int rd = 0;
            for (int e = 0; e < k; e++) {
                int64_t x = i * k + e;
                di += Ia[x] != Ib[x];
                rd |= Ia[x] != Ib[x];
                ds += Sa[x] != Sb[x];
                double dd = fabs((double)Sa[x] - Sb[x]);
                if (dd > maxd) maxd = dd;
            }
            rows += rd;
        }
        printf("  sgemm vs bf16 screen: %lld of %lld indices differ (%lld rows), %lld similarities differ, "
               "max |difference| %.3g (position-wise)\n", (long long)di, (long long)(n * k), (long long)rows,
               (long long)ds, maxd);
    }
    double med[2];
    for (int q = 0; q < np; q++) {
        qsort(t + q * reps, (size_t)reps, sizeof(double), cmp_d);
        med[q] = t[q * reps + reps / 2];
    }
    if (np == 2)
        printf("  medians: sgemm %.2f s, bf16 screen %.2f s (%.2fx), %.1f candidates examined per row\n", med[0],
               med[1], med[0] / med[1], (double)examined / n);
    else if (paths[0] == P_BF16)
        printf("  %.1f candidates examined per row\n", (double)examined / n);
    printf("taclust knn median: %.2f s over %d run(s)%s\n", med[np - 1], reps,
           paths[np - 1] == P_BF16 ? " (bf16 screen)" : " (sgemm)");
    if (out) {
        int64_t shape[2] = {n, k};
        if (tac_npy_save_i64(out, J.idx[(np - 1) * R1], 2, shape) != TAC_OK) {
            fprintf(stderr, "%s\n", tac_last_error());
            return 1;
        }
    }
    for (int r = 0; r < slots; r++) { free(J.idx[r]); free(J.sim[r]); }
    free(X); free(t);
    return 0;
}
