/* bench_knn.c (build/bench_knn) - time tac_knn_cosine on a .npy matrix (driven by bench/kmeans.sh, which runs faiss
 * beside it), or tac_knn_cosine_dist on R in-process ranks.
 *
 * usage: build/bench_knn X.npy K REPEATS [idx_out.npy] [--ranks R] [--threads T]
 * Prints the machine, the OpenBLAS core and threads, each run's time and GFLOP/s of the similarity products,
 * and the median; writes the neighbour indices (int64 N x K) if asked, so the driver can compare with faiss.
 * --ranks R / --threads T: tac_knn_cosine_dist with T threads per rank (default 1) on R ranks (default 1) of the
 * tests' thread transport (tests/tac_test_comm.c: ranks are threads of this process sharing memory), with sims
 * wanted; prints the bytes each rank sent in the exchange (alltoall + allgather, its own part excluded), counted
 * by wrapping the transport.
 */
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "bench_common.h"
#include "../tests/tac_test_comm.c"   /* the in-process transport (one source file per benchmark) */

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
} dist_job;

static int dist_body(const tac_comm *c, void *arg)
{
    dist_job *J = arg;
    counting_comm w = {.c = *c, .inner = c, .sent = 0};
    w.c.allgather = cnt_allgather; w.c.allreduce_sum = cnt_allreduce; w.c.alltoall = cnt_alltoall;
    w.c.bcast = cnt_bcast; w.c.agree = cnt_agree;
    int rc = tac_knn_cosine_dist(J->X, J->n, J->d, J->k, J->idx[c->rank], J->sim[c->rank], J->threads, &w.c);
    J->sent[c->rank] = w.sent;
    return rc;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int ranks = 0, threads = 0, npos = 0;
    const char *pos[4] = {0};
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--ranks") && a + 1 < argc) ranks = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads = atoi(argv[++a]);
        else if (npos < 4) pos[npos++] = argv[a];
    }
    if (npos < 3 || ranks < 0 || ranks > 64 || threads < 0) {
        fprintf(stderr, "usage: %s X.npy K REPEATS [idx_out.npy] [--ranks R (1..64)] [--threads T]\n", argv[0]);
        return 2;
    }
    if (npos > 3) out = pos[3];
    int dist = ranks > 0 || threads > 0;
    if (dist && ranks == 0) ranks = 1;
    if (dist && threads == 0) threads = 1;
    float *X; int64_t n, d;
    if (tac_npy_load_f32(pos[0], &X, &n, &d) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    int k = atoi(pos[1]), reps = atoi(pos[2]);
    if (reps < 1 || reps > 100) reps = 1;
    if (k < 1 || k >= n) { fprintf(stderr, "K=%d must be in 1..N-1 (N=%lld)\n", k, (long long)n); return 2; }
    print_machine();
    printf("taclust knn: N=%lld D=%lld k=%d (%.2f TFLOP of products)", (long long)n, (long long)d, k,
           2.0 * n * n * d / 1e12);
    if (dist) printf(", tac_knn_cosine_dist on %d in-process rank(s) x %d thread(s)", ranks, threads);
    printf("\n");
    dist_job J = {.X = X, .n = n, .d = (int)d, .k = k, .threads = threads};
    for (int r = 0; r < (dist ? ranks : 1); r++) {
        J.idx[r] = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
        J.sim[r] = dist ? tac_xmalloc((size_t)(n * k), sizeof(float)) : NULL;
    }
    double *t = tac_xmalloc((size_t)reps, sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = tac_now(), c0 = cpu_seconds();
        if (dist) {
            char err[64][512];
            if (tac_test_run_ranks(ranks, dist_body, &J, NULL, err) != 0) { fprintf(stderr, "%s\n", err[0]); return 1; }
        } else if (tac_knn_cosine(X, n, (int)d, k, J.idx[0], NULL) != TAC_OK) {
            fprintf(stderr, "%s\n", tac_last_error());
            return 1;
        }
        t[r] = tac_now() - t0;
        printf("  run %d: %.2f s wall, %.2f s CPU (%.0f effective GFLOP/s, counting all N*N products)\n", r, t[r],
               cpu_seconds() - c0, 2.0 * n * n * d / t[r] / 1e9);
    }
    if (dist) {
        for (int r = 0; r < ranks; r++) printf("  rank %d sent %.3f MB per call\n", r, J.sent[r] / 1e6);
        int same = 1;
        for (int r = 1; r < ranks; r++)
            same &= !memcmp(J.idx[r], J.idx[0], (size_t)(n * k) * sizeof(int64_t)) &&
                    !memcmp(J.sim[r], J.sim[0], (size_t)(n * k) * sizeof(float));
        printf("  every rank holds the same lists: %s\n", same ? "yes" : "NO");
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    printf("taclust knn median: %.2f s over %d run(s)\n", t[reps / 2], reps);
    if (out) {
        int64_t shape[2] = {n, k};
        if (tac_npy_save_i64(out, J.idx[0], 2, shape) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    }
    for (int r = 0; r < (dist ? ranks : 1); r++) { free(J.idx[r]); free(J.sim[r]); }
    free(X); free(t);
    return 0;
}
