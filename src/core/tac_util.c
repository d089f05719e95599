/* tac_util.c - small numeric helpers (row normalisation, clocks, thread count) and progress reporting.
 *
 * Progress goes to stderr: on a terminal a bar with rate and ETA redrawn at most 10 times a second from the
 * first second on; otherwise (a log file, a pipe) one line every 5 seconds, the first after 5 seconds, and a
 * closing "took" line if any was shown. Nothing is shown for work that ends sooner, or with --quiet.
 */
#include "taclust/core.h"
#include "core/tac_threads.h"

#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int tac_progress_quiet = 0;

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

void tac_info(const char *fmt, ...)
{
    if (tac_progress_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("taclust: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void fmt_secs(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void progress_draw(tac_progress *p, double now, int final)
{
    double el = now - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    char eta[32], els[32];
    fmt_secs(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1);
    fmt_secs(els, sizeof els, el);
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%-22.22s [%s] %3d%% %lld/%lld %.1f/s %s %s\033[K", p->label, bar, (int)(frac * 100),
                (long long)p->done, (long long)p->total, rate, final ? "in" : "ETA", final ? els : eta);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "taclust: %s: %lld/%lld (%d%%), %.1f/s, %s %s\n", p->label, (long long)p->done,
                (long long)p->total, (int)(frac * 100), rate, final ? "took" : "ETA", final ? els : eta);
    }
    fflush(stderr);
}

void tac_progress_begin(tac_progress *p, const char *label, int64_t total)
{
    p->label = label; p->total = total; p->done = 0;
    p->t0 = p->last = tac_now(); p->shown = 0;
    p->tty = isatty(2);
}

void tac_progress_update(tac_progress *p, int64_t done)
{
    p->done = done;
    if (tac_progress_quiet) return;
    double now = tac_now();
    double every = p->tty ? 0.1 : 5.0;
    if (now - p->t0 < (p->tty ? 1.0 : every)) return;
    if (p->shown && now - p->last < every) return;
    p->shown = 1; p->last = now;
    progress_draw(p, now, 0);
}

void tac_progress_end(tac_progress *p)
{
    if (tac_progress_quiet || !p->shown) return;
    progress_draw(p, tac_now(), 1);
}
