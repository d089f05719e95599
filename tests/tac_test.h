/* tac_test.h - the project's test framework: self-registering tests, checks that count, a closing summary.
 *
 *   TAC_TEST(npy_roundtrip) { ... TAC_CHECK(x == 1); TAC_CHECK_NEAR(a, b, 1e-6); ... }
 *   TAC_SKIP("no model: set TACLUST_MODEL")   -- marks the test skipped (said plainly in the output)
 * Every test file is linked into build/run_tests; `run_tests [SUBSTRING...]` runs the tests whose name
 * contains one of the substrings. The last line is "N passed, N failed, N skipped"; exit code 1 if any failed.
 * Paths: TAC_SHARED is ../shared (or $TACLUST_SHARED), TAC_FIXTURES is tests/fixtures; tests run from the repo root.
 */
#ifndef TAC_TEST_H
#define TAC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tac_internal.h"   /* white-box: the library's internal helpers */
#include "taclust/core.h"

typedef void (*tac_test_fn)(void);
void tac_test_register(const char *name, const char *file, tac_test_fn fn);
void tac_test_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tac_test_skip(const char *why);
int tac_test_failed_now(void);
const char *tac_test_shared(void);   /* ../shared or $TACLUST_SHARED */
const char *tac_test_bin(void);      /* the taclust binary under test: $TACLUST_BIN or build/taclust */
/* Run a shell command; returns its exit status. */
int tac_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* MPI for the tests (tests/test_mpi*.c): NULL when `mpirun -np N` can run the taclust under test (Open MPI present
 * and the binary built with it: TACLUST_MPI=1 from make, and not the sanitizer build: TACLUST_SAN=1), else the
 * reason to skip. */
const char *tac_test_mpi_missing(void);
/* Runs `mpirun -np NP --oversubscribe ... <cmd>` (cmd: the rest of the command line, e.g. "build/taclust fit ...";
 * stdout and stderr of every rank go where cmd redirects them) with OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 set for that
 * command only (CI runs as root), OpenMP and OpenBLAS at 1 thread per rank unless cmd says otherwise; a time limit
 * (timeout 300) so a hang fails the test instead of stalling the suite. Returns the exit status. */
int tac_test_mpirun(int np, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A fresh empty temporary folder for this test (removed after the run unless TAC_KEEP_TMP is set). */
const char *tac_test_tmpdir(void);
/* Join path pieces into a static rotating buffer (8 slots). */
const char *tac_test_path(const char *a, const char *b);

#define TAC_TEST(name) \
    static void tac_test_##name(void); \
    static void __attribute__((constructor)) tac_test_reg_##name(void) { tac_test_register(#name, __FILE__, tac_test_##name); } \
    static void tac_test_##name(void)

#define TAC_CHECK(c) do { if (!(c)) { tac_test_fail_at(__FILE__, __LINE__, "check failed: %s", #c); } } while (0)
#define TAC_REQUIRE(c) do { if (!(c)) { tac_test_fail_at(__FILE__, __LINE__, "required: %s (last error: %s)", #c, tac_last_error()); return; } } while (0)
#define TAC_CHECK_OK(call) do { if ((call) != TAC_OK) { tac_test_fail_at(__FILE__, __LINE__, "%s failed: %s", #call, tac_last_error()); return; } } while (0)
#define TAC_CHECK_ERR(call, substr) do { if ((call) == TAC_OK) tac_test_fail_at(__FILE__, __LINE__, "%s succeeded, expected an error", #call); \
    else if (!strstr(tac_last_error(), (substr))) tac_test_fail_at(__FILE__, __LINE__, "%s: error '%s' does not mention '%s'", #call, tac_last_error(), (substr)); } while (0)
#define TAC_CHECK_NEAR(a, b, tol) do { double tac_a_ = (a), tac_b_ = (b); if (!(fabs(tac_a_ - tac_b_) <= (tol))) \
    tac_test_fail_at(__FILE__, __LINE__, "%s = %.10g, %s = %.10g, differ by %.3g > %.3g", #a, tac_a_, #b, tac_b_, fabs(tac_a_ - tac_b_), (double)(tol)); } while (0)
#define TAC_CHECK_INT(a, b) do { long long tac_a_ = (long long)(a), tac_b_ = (long long)(b); if (tac_a_ != tac_b_) \
    tac_test_fail_at(__FILE__, __LINE__, "%s = %lld, expected %s = %lld", #a, tac_a_, #b, tac_b_); } while (0)
#define TAC_SKIP(why) do { tac_test_skip(why); return; } while (0)

/* Worst over rows of max |got-ref| / max |ref| in that row (rows x cols); NaN counts as worst. */
double tac_test_row_rel_err(const float *got, const float *ref, int rows, int cols);
/* Max |a-b| over n values, printed with the label; fails the test if above tol. Returns the max error. */
double tac_test_compare(const char *label, const float *a, const float *b, size_t n, double tol);

#endif
