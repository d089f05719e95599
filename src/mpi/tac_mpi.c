/* tac_mpi.c - the taclust program's MPI transport: the library's communicator (taclust/dist.h) implemented on
 * MPI_COMM_WORLD with Open MPI, and the start / finish of the program's MPI part (src/mpi/tac_mpi.h).
 *
 * MPI starts only when the process was launched by mpirun (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK in the
 * environment), so `taclust` without mpirun never touches MPI. MPI errors return (MPI_ERRORS_RETURN) and become
 * tac_fail reasons. Large parts are moved in pieces of at most 1 GiB (MPI counts are int). A failure every rank has
 * agreed on (tac_comm_check) ends with MPI_Finalize on every rank; any other failure of a rank aborts the job
 * (MPI_Abort) after printing its reason, so no rank is left waiting in a collective.
 * Built without MPI (no libopenmpi-dev), the same functions run the program as one process.
 */
#include "mpi/tac_mpi.h"
#include "core/tac_internal.h"
#include "taclust/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TAC_HAVE_MPI
#include <mpi.h>
#endif

static int launched_by_mpirun(int *size)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (!s) s = getenv("PMI_SIZE");
    *size = s ? atoi(s) : 0;
    return s || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int tac_mpi_built(void)
{
#ifdef TAC_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef TAC_HAVE_MPI
#define PIECE ((int64_t)1 << 30)

static int started, agreed_failure;
static tac_comm world;
static unsigned long long sent;   /* payload bytes this rank sent (tac_mpi_bytes_sent) */

static int mpi_fail(const char *what, int err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    return tac_fail("MPI: %s failed on rank %d: %s", what, world.rank, s);
}

static int bcast(const tac_comm *c, void *buf, int64_t bytes, int root)
{
    if (c->rank == root) sent += (unsigned long long)bytes * (unsigned long long)(c->size - 1);
    for (int64_t o = 0; o < bytes; o += PIECE) {
        int n = (int)(bytes - o < PIECE ? bytes - o : PIECE);
        int e = MPI_Bcast((char *)buf + o, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (e != MPI_SUCCESS) return mpi_fail("MPI_Bcast", e);
    }
    return TAC_OK;
}

static int allgather(const tac_comm *c, void *buf, const int64_t *bytes)
{
    int R = c->size;
    int64_t total = 0;
    sent += (unsigned long long)bytes[c->rank] * (unsigned long long)(R - 1);
    for (int r = 0; r < R; r++) total += bytes[r];
    if (total <= PIECE) {   /* one MPI_Allgatherv */
        int *cnt = malloc(sizeof(int) * (size_t)R * 2);   /* R counts, R displacements */
        if (!cnt) return tac_fail("MPI: allgather: out of memory");
        int64_t off = 0;
        for (int r = 0; r < R; r++) { cnt[r] = (int)bytes[r]; cnt[R + r] = (int)off; off += bytes[r]; }
        int e = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, cnt + R, MPI_BYTE, MPI_COMM_WORLD);
        free(cnt);
        return e == MPI_SUCCESS ? TAC_OK : mpi_fail("MPI_Allgatherv", e);
    }
    int64_t off = 0;      /* large: each rank's part broadcast in pieces */
    unsigned long long before = sent;
    for (int r = 0; r < R; r++) {
        if (bcast(c, (char *)buf + off, bytes[r], r) != TAC_OK) return TAC_ERR;
        off += bytes[r];
    }
    sent = before;        /* counted above as the allgather's */
    return TAC_OK;
}

static int allreduce_sum(const tac_comm *c, void *buf, int64_t n, int type)
{
    MPI_Datatype t = type == TAC_COMM_F32 ? MPI_FLOAT : type == TAC_COMM_F64 ? MPI_DOUBLE : MPI_INT64_T;
    size_t es = type == TAC_COMM_F32 ? 4 : 8;
    sent += (unsigned long long)n * es * (unsigned long long)(c->size - 1);
    int64_t step = PIECE / (int64_t)es;
    for (int64_t o = 0; o < n; o += step) {
        int m = (int)(n - o < step ? n - o : step);
        int e = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)o * es, m, t, MPI_SUM, MPI_COMM_WORLD);
        if (e != MPI_SUCCESS) return mpi_fail("MPI_Allreduce", e);
    }
    return TAC_OK;
}

/* Pairwise exchange in R steps (step s: send to rank+s, receive from rank-s), each part in pieces. */
static int alltoall(const tac_comm *c, const void *send, const int64_t *sbytes, void *recv, const int64_t *rbytes)
{
    int R = c->size, me = c->rank;
    int64_t *soff = malloc(sizeof(int64_t) * (size_t)R * 2);   /* R send offsets, R receive offsets */
    if (!soff) return tac_fail("MPI: alltoall: out of memory");
    int64_t *roff = soff + R, a = 0, b = 0;
    for (int r = 0; r < R; r++) { soff[r] = a; a += sbytes[r]; roff[r] = b; b += rbytes[r]; }
    sent += (unsigned long long)(a - sbytes[me]);
    int rc = TAC_OK;
    for (int s = 0; s < R && rc == TAC_OK; s++) {
        int to = (me + s) % R, from = (me - s + R) % R;
        const char *sp = (const char *)send + soff[to];
        char *rp = (char *)recv + roff[from];
        if (s == 0) { memcpy(rp, sp, (size_t)sbytes[me]); continue; }
        int64_t ns = sbytes[to], nr = rbytes[from];
        /* at least one exchange per step, even of 0 bytes: the partners' Sendrecv wait for it */
        for (int64_t o = 0; o == 0 || o < ns || o < nr; o += PIECE) {
            int cs = (int)(ns - o > PIECE ? PIECE : ns - o > 0 ? ns - o : 0);
            int cr = (int)(nr - o > PIECE ? PIECE : nr - o > 0 ? nr - o : 0);
            int e = MPI_Sendrecv(sp + (cs ? o : 0), cs, MPI_BYTE, to, 77, rp + (cr ? o : 0), cr, MPI_BYTE, from, 77,
                                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (e != MPI_SUCCESS) { rc = mpi_fail("MPI_Sendrecv", e); break; }
        }
    }
    free(soff);
    return rc;
}

static int agree(const tac_comm *c, int ok, const char *why, char *msg, size_t cap)
{
    int R = c->size;
    int *oks = malloc(sizeof(int) * (size_t)R);   /* R */
    if (!oks) { snprintf(msg, cap, "out of memory"); return c->rank; }
    int e = MPI_Allgather(&ok, 1, MPI_INT, oks, 1, MPI_INT, MPI_COMM_WORLD);
    if (e != MPI_SUCCESS) {
        free(oks);
        mpi_fail("MPI_Allgather", e);
        snprintf(msg, cap, "%s", tac_last_error());
        return c->rank;
    }
    int bad = -1;
    for (int r = 0; r < R && bad < 0; r++) if (!oks[r]) bad = r;
    free(oks);
    if (bad < 0) return -1;
    char m[512];
    snprintf(m, sizeof m, "%s", c->rank == bad && why ? why : "");
    e = MPI_Bcast(m, (int)sizeof m, MPI_CHAR, bad, MPI_COMM_WORLD);
    if (e != MPI_SUCCESS) snprintf(m, sizeof m, "(its reason could not be received)");
    m[sizeof m - 1] = 0;
    snprintf(msg, cap, "%s", m);
    agreed_failure = 1;   /* every rank knows: the job can finalize in order */
    return bad;
}
#endif /* TAC_HAVE_MPI */

int tac_mpi_start(int *argc, char ***argv)
{
    int n = 0;
    if (!launched_by_mpirun(&n)) return 0;
#ifdef TAC_HAVE_MPI
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "taclust: MPI_Init failed\n");
        return 1;
    }
    started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    memset(&world, 0, sizeof world);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    world.allgather = allgather;
    world.allreduce_sum = allreduce_sum;
    world.alltoall = alltoall;
    world.bcast = bcast;
    world.agree = agree;
    return 0;
#else
    (void)argc;
    (void)argv;
    if (n > 1) {
        const char *r = getenv("OMPI_COMM_WORLD_RANK");
        if (!r || atoi(r) == 0)
            fprintf(stderr, "taclust: launched by mpirun with %d ranks, but this taclust was built without MPI: "
                            "install Open MPI (apt-get install libopenmpi-dev openmpi-bin), then `make clean && make`\n", n);
        return 1;
    }
    return 0;
#endif
}

const tac_comm *tac_mpi_comm(void)
{
#ifdef TAC_HAVE_MPI
    return started && world.size > 1 ? &world : NULL;
#else
    return NULL;
#endif
}

unsigned long long tac_mpi_bytes_sent(void)
{
#ifdef TAC_HAVE_MPI
    return sent;
#else
    return 0;
#endif
}

int tac_mpi_rank(void) { const tac_comm *c = tac_mpi_comm(); return c ? c->rank : 0; }
int tac_mpi_size(void) { const tac_comm *c = tac_mpi_comm(); return c ? c->size : 1; }

int tac_mpi_finish(int rc)
{
#ifdef TAC_HAVE_MPI
    if (!started) return rc;
    /* 2 is a usage error: every rank parsed the same command line and stopped at the same place */
    if (rc != 0 && rc != 2 && !agreed_failure && world.size > 1) {
        fprintf(stderr, "taclust: rank %d of %d failed (reason above); ending every rank (MPI_Abort)\n", world.rank,
                world.size);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    started = 0;
#endif
    return rc;
}

int tac_mpi_single_only(const char *cmd)
{
    if (tac_mpi_size() <= 1) return 0;
    if (tac_mpi_rank() == 0)
        fprintf(stderr, "taclust %s: runs on one process; run it without mpirun (the commands that run on several "
                        "ranks: embed-images, embed-text, fit, bench)\n", cmd);
    return 2;
}
