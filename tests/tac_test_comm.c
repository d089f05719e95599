/* tac_test_comm.c - the tests' in-process transport (tests/tac_test_comm.h): ranks are threads, each collective is
 * "post my buffer, barrier, copy what I need from the others' buffers, barrier". Sums run in rank order.
 */
#include "tac_test_comm.h"
#include "taclust/core.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int R;
    pthread_barrier_t bar;
    const void *post[64];         /* each rank's posted buffer */
    const int64_t *bytes[64];     /* each rank's posted sizes */
    int ok[64];
    char why[64][512];
} shared_t;

typedef struct {
    tac_comm c;
    shared_t *S;
    tac_test_rank_fn fn;
    void *arg;
    int rc;
    char err[512];
} rank_t;

static shared_t *S_of(const tac_comm *c) { return ((rank_t *)c->user)->S; }
static void sync_all(shared_t *S) { pthread_barrier_wait(&S->bar); }

static int t_allgather(const tac_comm *c, void *buf, const int64_t *bytes)
{
    shared_t *S = S_of(c);
    S->post[c->rank] = buf;
    sync_all(S);
    int64_t off = 0;
    for (int r = 0; r < c->size; r++) {
        if (r != c->rank) memcpy((char *)buf + off, (const char *)S->post[r] + off, (size_t)bytes[r]);
        off += bytes[r];
    }
    sync_all(S);
    return TAC_OK;
}

static int t_allreduce(const tac_comm *c, void *buf, int64_t n, int type)
{
    shared_t *S = S_of(c);
    size_t es = type == TAC_COMM_F32 ? 4 : 8;
    void *sum = malloc((size_t)n * es + 1);
    if (!sum) return tac_fail("test transport: out of memory");
    S->post[c->rank] = buf;
    sync_all(S);
    for (int64_t i = 0; i < n; i++) {
        if (type == TAC_COMM_F32) {
            float s = 0;
            for (int r = 0; r < c->size; r++) s += ((const float *)S->post[r])[i];
            ((float *)sum)[i] = s;
        } else if (type == TAC_COMM_F64) {
            double s = 0;
            for (int r = 0; r < c->size; r++) s += ((const double *)S->post[r])[i];
            ((double *)sum)[i] = s;
        } else {
            int64_t s = 0;
            for (int r = 0; r < c->size; r++) s += ((const int64_t *)S->post[r])[i];
            ((int64_t *)sum)[i] = s;
        }
    }
    sync_all(S);
    memcpy(buf, sum, (size_t)n * es);
    free(sum);
    sync_all(S);
    return TAC_OK;
}

static int t_alltoall(const tac_comm *c, const void *send, const int64_t *sbytes, void *recv, const int64_t *rbytes)
{
    shared_t *S = S_of(c);
    S->post[c->rank] = send;
    S->bytes[c->rank] = sbytes;
    sync_all(S);
    int64_t roff = 0;
    for (int r = 0; r < c->size; r++) {
        int64_t soff = 0;
        for (int q = 0; q < c->rank; q++) soff += S->bytes[r][q];
        if (S->bytes[r][c->rank] != rbytes[r]) {
            fprintf(stderr, "test transport: alltoall sizes disagree (rank %d sends %lld to %d, which expects %lld)\n",
                    r, (long long)S->bytes[r][c->rank], c->rank, (long long)rbytes[r]);
            abort();
        }
        memcpy((char *)recv + roff, (const char *)S->post[r] + soff, (size_t)rbytes[r]);
        roff += rbytes[r];
    }
    sync_all(S);
    return TAC_OK;
}

static int t_bcast(const tac_comm *c, void *buf, int64_t bytes, int root)
{
    shared_t *S = S_of(c);
    if (c->rank == root) S->post[root] = buf;
    sync_all(S);
    if (c->rank != root) memcpy(buf, S->post[root], (size_t)bytes);
    sync_all(S);
    return TAC_OK;
}

static int t_agree(const tac_comm *c, int ok, const char *why, char *msg, size_t cap)
{
    shared_t *S = S_of(c);
    S->ok[c->rank] = ok;
    snprintf(S->why[c->rank], sizeof S->why[0], "%s", ok || !why ? "" : why);
    sync_all(S);
    int bad = -1;
    for (int r = 0; r < c->size && bad < 0; r++) if (!S->ok[r]) bad = r;
    if (bad >= 0) snprintf(msg, cap, "%s", S->why[bad]);
    sync_all(S);
    return bad;
}

static void *rank_main(void *p)
{
    rank_t *rk = p;
    tac_clear_error();
    rk->rc = rk->fn(&rk->c, rk->arg);
    snprintf(rk->err, sizeof rk->err, "%s", tac_last_error());
    return NULL;
}

int tac_test_run_ranks(int R, tac_test_rank_fn fn, void *arg, int *rcs, char (*errs)[512])
{
    if (R < 1 || R > 64) return -1;
    shared_t *S = calloc(1, sizeof *S);
    rank_t *rk = calloc((size_t)R, sizeof *rk);
    pthread_t *th = calloc((size_t)R, sizeof *th);
    if (!S || !rk || !th) { free(S); free(rk); free(th); return -1; }
    S->R = R;
    pthread_barrier_init(&S->bar, NULL, (unsigned)R);
    for (int r = 0; r < R; r++) {
        rk[r].c = (tac_comm){.rank = r, .size = R, .user = &rk[r], .allgather = t_allgather,
                             .allreduce_sum = t_allreduce, .alltoall = t_alltoall, .bcast = t_bcast, .agree = t_agree};
        rk[r].S = S;
        rk[r].fn = fn;
        rk[r].arg = arg;
    }
    for (int r = 1; r < R; r++) pthread_create(&th[r], NULL, rank_main, &rk[r]);
    rank_main(&rk[0]);
    for (int r = 1; r < R; r++) pthread_join(th[r], NULL);
    int all = 0;
    for (int r = 0; r < R; r++) {
        if (rcs) rcs[r] = rk[r].rc;
        if (errs) snprintf(errs[r], 512, "%s", rk[r].err);
        if (rk[r].rc != TAC_OK) all = -1;
    }
    pthread_barrier_destroy(&S->bar);
    free(S); free(rk); free(th);
    return all;
}
