/* tac_util.c - small numeric helpers (row normalisation, clocks, thread count), and the library's messages and
 * progress: tac_log formats a message for the log callback (tac_set_log), tac_progress_* report a task to the
 * call's progress callback or the process-wide one (tac_set_progress). Nothing is written to stdout or stderr
 * here: without callbacks the library is silent (the taclust program installs printers, src/app/tac_console.c).
 */
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_threads.h"

#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static tac_log_fn g_log_fn;
static void *g_log_user;
static tac_progress_fn g_progress_fn;
static void *g_progress_user;

void tac_set_log(tac_log_fn fn, void *user) { g_log_fn = fn; g_log_user = user; }
void tac_set_progress(tac_progress_fn fn, void *user) { g_progress_fn = fn; g_progress_user = user; }
void tac_free(void *p) { free(p); }
const char *tac_version(void) { return TAC_VERSION_STRING; }

void tac_l2_normalize_rows(float *X, int64_t n, int64_t d) { tac_l2_normalize_rows_ex(X, n, d, tac_threads_resolve(0)); }

double tac_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tac_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void tac_log(int level, const char *fmt, ...)
{
    tac_log_fn fn = g_log_fn;
    if (!fn) return;
    char buf[512], *msg = buf;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof buf) {            /* a long one (paths): formatted again at its length */
        msg = malloc((size_t)n + 1);
        if (!msg) { msg = buf; }              /* no memory: the message cut at sizeof buf - 1 */
        else {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    fn(level, msg, g_log_user);
    if (msg != buf) free(msg);
}

void tac_progress_begin_at(tac_progress *p, tac_progress_fn fn, void *user, const char *label, int64_t done,
                           int64_t total)
{
    p->label = label; p->total = total; p->done = done;
    p->fn = fn ? fn : g_progress_fn;
    p->user = fn ? user : g_progress_user;
    if (p->fn) p->fn(label, done, total, p->user);
}

void tac_progress_begin_fn(tac_progress *p, tac_progress_fn fn, void *user, const char *label, int64_t total)
{
    tac_progress_begin_at(p, fn, user, label, 0, total);
}

void tac_progress_update(tac_progress *p, int64_t done)
{
    p->done = done;
    if (p->fn && done < p->total) p->fn(p->label, done, p->total, p->user);
}

void tac_progress_end(tac_progress *p)
{
    p->done = p->total;
    if (p->fn) p->fn(p->label, p->total, p->total, p->user);
    p->fn = NULL;   /* one closing call */
}
