/* tac_test.c - the test runner behind tac_test.h: runs the registered tests (optionally filtered by name),
 * prints one line per test with its verdict, and ends with "N passed, N failed, N skipped". Exit code: 0 when
 * all selected tests passed or skipped, 1 when any failed, 2 when the name filter selected no test at all. */
#include "tac_test.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 1024
static struct { const char *name, *file; tac_test_fn fn; } tests[MAX_TESTS];
static int ntests;
static int cur_failed, cur_skipped;
static char cur_skip_reason[512];
static char cur_tmp[512];
static int tmp_counter;

void tac_test_register(const char *name, const char *file, tac_test_fn fn)
{
    if (ntests >= MAX_TESTS) { fprintf(stderr, "too many tests\n"); exit(2); }
    tests[ntests].name = name; tests[ntests].file = file; tests[ntests].fn = fn; ntests++;
}

void tac_test_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    cur_failed++;
}

int tac_test_failed_now(void) { return cur_failed; }

void tac_test_skip(const char *why)
{
    cur_skipped = 1;
    snprintf(cur_skip_reason, sizeof cur_skip_reason, "%s", why);
}

const char *tac_test_shared(void)
{
    const char *s = getenv("TACLUST_SHARED");
    return s && *s ? s : "../shared";
}

const char *tac_test_bin(void)
{
    const char *s = getenv("TACLUST_BIN");
    return s && *s ? s : "build/taclust";
}

int tac_test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *tac_test_mpi_missing(void)
{
    const char *m = getenv("TACLUST_MPI");
    if (!m || strcmp(m, "1") != 0) return "taclust was built without MPI (no Open MPI: apt-get install libopenmpi-dev openmpi-bin)";
    if (tac_test_sh("command -v mpirun >/dev/null 2>&1") != 0) return "mpirun not found (apt-get install openmpi-bin)";
    /* Under the sanitizers the mpirun tests are left to the plain suite (each mpirun costs seconds, and the suite's
     * time counts in CI); the distributed library code runs under ASan/UBSan on in-process ranks (test_*_dist.c). */
    const char *san = getenv("TACLUST_SAN");
    if (san && strcmp(san, "1") == 0)
        return "mpirun tests run in the plain suite, not under the sanitizers (the distributed stages are checked under "
               "them on in-process ranks)";
    return NULL;
}

int tac_test_mpirun(int np, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    /* LSan: Open MPI's own allocations outlive MPI_Finalize (not ours); ASan's other checks stay on */
    return tac_test_sh("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
                       "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "
                       "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} timeout 300 mpirun -np %d --oversubscribe "
                       "--bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x ASAN_OPTIONS %s", np, cmd);
}

const char *tac_test_tmpdir(void)
{
    if (!cur_tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(cur_tmp, sizeof cur_tmp, "%s/taclust-test-%ld-%d", base && *base ? base : "/tmp", (long)getpid(), tmp_counter++);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cur_tmp);
        if (system(cmd) != 0) {}
        if (tac_mkdir_p(cur_tmp) != TAC_OK) { fprintf(stderr, "cannot create %s\n", cur_tmp); exit(2); }
    }
    return cur_tmp;
}

const char *tac_test_path(const char *a, const char *b)
{
    static char bufs[8][1024];
    static int slot;
    char *buf = bufs[slot++ & 7];
    snprintf(buf, sizeof bufs[0], "%s/%s", a, b);
    return buf;
}

double tac_test_row_rel_err(const float *got, const float *ref, int rows, int cols)
{
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mref = 0, md = 0;
        for (int j = 0; j < cols; j++) {
            mref = fmax(mref, fabs(ref[(size_t)r * cols + j]));
            md = fmax(md, fabs((double)got[(size_t)r * cols + j] - ref[(size_t)r * cols + j]));
        }
        double rel = md / (mref > 0 ? mref : 1);
        if (!(rel <= worst)) worst = rel;
    }
    return worst;
}

double tac_test_compare(const char *label, const float *a, const float *b, size_t n, double tol)
{
    double m = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > m || isnan(e)) { m = isnan(e) ? INFINITY : e; at = i; }
    }
    printf("    %s: max abs error %.3g (at %zu, tolerance %.3g)\n", label, m, at, tol);
    if (!(m <= tol)) tac_test_fail_at(__FILE__, __LINE__, "%s: max abs error %.3g > %.3g", label, m, tol);
    return m;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    double t_all = tac_now();
    /* the fixtures are fp32 figures: models (and the CLI under test) default to fp32 unless the caller chose;
     * the bf16 tests ask for bf16 explicitly (tests/test_clip_bf16.c) */
    setenv("TACLUST_PRECISION", "fp32", 0);
    for (int i = 0; i < ntests; i++) {
        int run = argc < 2;
        for (int a = 1; a < argc; a++) if (strstr(tests[i].name, argv[a])) run = 1;
        if (!run) continue;
        cur_failed = 0; cur_skipped = 0; cur_skip_reason[0] = 0; cur_tmp[0] = 0;
        tac_clear_error();
        printf("[ RUN  ] %s (%s)\n", tests[i].name, tests[i].file);
        fflush(stdout);
        double t0 = tac_now();
        tests[i].fn();
        double dt = tac_now() - t0;
        if (cur_failed) { failed++; printf("[ FAIL ] %s (%.2fs)\n", tests[i].name, dt); }
        else if (cur_skipped) { skipped++; printf("[ SKIP ] %s: %s\n", tests[i].name, cur_skip_reason); }
        else { passed++; printf("[  OK  ] %s (%.2fs)\n", tests[i].name, dt); }
        if (cur_tmp[0] && !getenv("TAC_KEEP_TMP")) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", cur_tmp);
            if (system(cmd) != 0) {}
        }
        fflush(stdout);
    }
    if (argc >= 2 && passed + failed + skipped == 0) {
        fprintf(stderr, "run_tests: no test name contains");
        for (int a = 1; a < argc; a++) fprintf(stderr, " '%s'", argv[a]);
        fprintf(stderr, " (a typo would otherwise pass silently)\n");
        return 2;
    }
    printf("\ntests took %.1fs\n", tac_now() - t_all);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
