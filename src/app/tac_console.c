/* tac_console.c - how the taclust program prints: the library reports messages and progress through callbacks
 * (taclust/core.h) and writes nothing itself; this file installs the printers and owns --quiet.
 *
 *   messages   "taclust: <msg>" on stderr; INFO and DEBUG are silenced by --quiet, WARN and ERROR never.
 *   progress   on a terminal a bar with rate and ETA redrawn at most 10 times a second from the first second on
 *              (half a second for a download); otherwise (a log file, a pipe) one line every 5 seconds, the first
 *              after 5 seconds, and a closing "took" line if any was shown. Nothing for work that ends sooner, or
 *              with --quiet. Downloads (tac_console_progress_bytes) count megabytes.
 *   test hook  $TACLUST_DEBUG_FAIL_WRITE=SUBSTRING makes every write whose path contains SUBSTRING fail as a full
 *              disk would (ENOSPC): the program's own writes ask tac_debug_write_fails, the library's atomic writer
 *              gets it as its write-failure hook from tac_console_init. The library never reads the variable.
 */
#include "app/tac_app.h"
#include "core/tac_internal.h"
#include "taclust/core.h"
#include "taclust/clip.h"
#include "taclust/image.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tac_progress_quiet = 0;

/* One bar for the process: the library runs one task at a time per job, and so does the program. The lock keeps
 * a message and a bar line from interleaving when a callback comes from another thread. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static tac_console_bar g_bar;

int tac_debug_write_fails(const char *what)
{
    const char *s = getenv("TACLUST_DEBUG_FAIL_WRITE");
    if (!s || !*s || !what || !strstr(what, s)) return 0;
    errno = ENOSPC;
    return 1;
}

static void fmt_secs(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void bar_draw(tac_console_bar *b, FILE *f, double now, int final)
{
    double el = now - b->t0, rate = el > 0 ? (double)(b->done - b->base) / el : 0;
    char eta[32], els[32];
    fmt_secs(eta, sizeof eta, rate > 0 ? (double)(b->total - b->done) / rate : -1);
    fmt_secs(els, sizeof els, el);
    double frac = b->total > 0 ? (double)b->done / (double)b->total : 0;
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    const double MB = 1e6;
    if (b->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        if (b->bytes)
            fprintf(f, "\r%s [%s] %3d%% %.1f/%.1f MB %.1f MB/s %s %s\033[K", b->label, bar, (int)(frac * 100),
                    (double)b->done / MB, (double)b->total / MB, rate / MB, final ? "in" : "ETA", final ? els : eta);
        else
            fprintf(f, "\r%-22.22s [%s] %3d%% %lld/%lld %.1f/s %s %s\033[K", b->label, bar, (int)(frac * 100),
                    (long long)b->done, (long long)b->total, rate, final ? "in" : "ETA", final ? els : eta);
        if (final) fputc('\n', f);
        b->open = !final;
    } else if (b->bytes) {
        fprintf(f, "taclust: %s: %.1f/%.1f MB (%d%%), %.1f MB/s, %s %s\n", b->label, (double)b->done / MB,
                (double)b->total / MB, (int)(frac * 100), rate / MB, final ? "took" : "ETA", final ? els : eta);
    } else {
        fprintf(f, "taclust: %s: %lld/%lld (%d%%), %.1f/s, %s %s\n", b->label, (long long)b->done,
                (long long)b->total, (int)(frac * 100), rate, final ? "took" : "ETA", final ? els : eta);
    }
    fflush(f);
}

/* A bar drawn on a terminal and not finished ends its line, so what follows starts on a fresh one. */
static void bar_break(tac_console_bar *b, FILE *f)
{
    if (b->open) { fputc('\n', f); fflush(f); }
    b->open = 0;
}

void tac_console_bar_feed(tac_console_bar *b, FILE *f, const char *label, int64_t done, int64_t total, double now)
{
    if (!b->active || done < b->done || strncmp(b->label, label, sizeof b->label - 1) != 0) {
        bar_break(b, f);                                  /* a new task (the last one failed, or has ended) */
        snprintf(b->label, sizeof b->label, "%s", label);
        b->base = b->done = done;
        b->t0 = b->last = now;
        b->active = 1;
        b->shown = b->open = 0;
        if (done >= total) { b->active = 0; return; }     /* nothing to show for a task already complete */
    }
    b->done = done;
    b->total = total;
    if (done >= total) {                                  /* the task's closing call */
        if (b->shown) bar_draw(b, f, now, 1);
        b->active = b->shown = b->open = 0;
        return;
    }
    double every = b->tty ? 0.1 : 5.0, delay = b->tty ? (b->bytes ? 0.5 : 1.0) : every;
    if (now - b->t0 < delay) return;
    int broken = b->tty && b->shown && !b->open;          /* a message ended the bar's line: draw it again now */
    if (b->shown && !broken && now - b->last < every) return;
    b->shown = 1;
    b->last = now;
    bar_draw(b, f, now, 0);
}

static void feed(const char *label, int64_t done, int64_t total, int bytes)
{
    if (tac_progress_quiet) return;
    pthread_mutex_lock(&g_lock);
    if (!g_bar.active || g_bar.bytes != bytes) {
        if (g_bar.active) { bar_break(&g_bar, stderr); g_bar.active = 0; }
        g_bar.tty = isatty(2);
        g_bar.bytes = bytes;
    }
    tac_console_bar_feed(&g_bar, stderr, label, done, total, tac_now());
    pthread_mutex_unlock(&g_lock);
}

void tac_console_progress(const char *label, int64_t done, int64_t total, void *user)
{
    (void)user;
    feed(label, done, total, 0);
}

void tac_console_progress_bytes(const char *label, int64_t done, int64_t total, void *user)
{
    (void)user;
    feed(label, done, total, 1);
}

void tac_console_break(void)
{
    pthread_mutex_lock(&g_lock);
    bar_break(&g_bar, stderr);
    pthread_mutex_unlock(&g_lock);
}

void tac_console_log(int level, const char *msg, void *user)
{
    (void)user;
    if (level >= TAC_LOG_INFO && tac_progress_quiet) return;
    pthread_mutex_lock(&g_lock);
    bar_break(&g_bar, stderr);       /* the bar is drawn again on its next step */
    fprintf(stderr, "taclust: %s\n", msg);
    fflush(stderr);
    pthread_mutex_unlock(&g_lock);
}

void tac_info(const char *fmt, ...)
{
    if (tac_progress_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    tac_console_log(TAC_LOG_INFO, msg, NULL);
    free(msg);
}

void tac_console_init(void)
{
    tac_set_log(tac_console_log, NULL);
    tac_set_progress(tac_console_progress, NULL);
    const char *s = getenv("TACLUST_DEBUG_FAIL_WRITE");
    tac_set_write_fail_hook(s && *s ? tac_debug_write_fails : NULL);
    const char *mb = getenv("TACLUST_DECODE_BUDGET_MB");   /* decoded pixels in flight (library default 1 GiB) */
    if (mb && atoll(mb) > 0) tac_image_set_decode_budget((int64_t)atoll(mb) << 20);
    /* the model-hash memo (tac_clip_set_hash_memo): in the user's cache (where the noun cache lives), files from
     * 16 MiB on unless TACLUST_HASH_MEMO_MIN (bytes) says otherwise (the tests remember their tiny models' too) */
    const char *mm = getenv("TACLUST_HASH_MEMO_MIN");
    char dir[4096], memo[4200];
    if (tac_user_cache_dir(dir, sizeof dir) == TAC_OK && tac_path_join(memo, sizeof memo, dir, "file-hashes.tsv") == TAC_OK)
        tac_clip_set_hash_memo(memo, mm && *mm ? atoll(mm) : (int64_t)16 << 20);
    tac_clear_error();   /* no HOME: no memo, and nothing to report */
}
