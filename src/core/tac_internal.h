/* tac_internal.h - what the library's own .c files (and the taclust program, and the white-box tests) share but
 * a library user never sees: not installed, nothing here carries TAC_API (hidden in libtaclust.so).
 *
 *   - invariants and allocation that abort (TAC_ASSERT, tac_xmalloc, ...) for programmer errors;
 *   - tac_log(level, fmt, ...): every message of the library goes here, then to the log callback set with
 *     tac_set_log (nothing when none is set): the library itself never writes to stdout or stderr;
 *   - tac_progress_*: progress of a long call, reported to the call's own callback, else the process-wide one
 *     (tac_set_progress), else nowhere. Drawing bars is the program's business (src/app/tac_console.c);
 *   - file-system helpers the program's outputs use (locks, temporaries of killed runs, tree removal, escaping);
 *   - the write-failure hook: only the program installs one (for its tests); the library reads no environment
 *     variable for it.
 */
#ifndef TAC_INTERNAL_H
#define TAC_INTERNAL_H

#include "taclust/core.h"

#include <stddef.h>
#include <stdint.h>

/* ---- programmer errors: print and abort (internal invariants only, never user input) ------------------ */
void tac_die_at(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
#define TAC_ASSERT(c) do { if (!(c)) tac_die_at(__FILE__, __LINE__, "assertion failed: %s", #c); } while (0)

/* ---- memory -------------------------------------------------------------------------------------------- */
/* The program's allocators: abort with file and line on exhaustion (sizes checked for overflow). Defined in
 * src/app/tac_xalloc.c, not in libtaclust: library files must not call them (the shared library would not link). */
void *tac_xmalloc_at(size_t n, size_t size, const char *file, int line);
void *tac_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *tac_xrealloc_at(void *p, size_t n, size_t size, const char *file, int line);
char *tac_xstrdup(const char *s);
#define tac_xmalloc(n, size) tac_xmalloc_at((n), (size), __FILE__, __LINE__)
#define tac_xcalloc(n, size) tac_xcalloc_at((n), (size), __FILE__, __LINE__)
#define tac_xrealloc(p, n, size) tac_xrealloc_at((p), (n), (size), __FILE__, __LINE__)
/* For sizes that come from user input (an option, a file header): NULL with a reason naming `what` when the size
 * overflows, exceeds the machine's physical memory, or malloc fails. Never aborts. */
void *tac_try_malloc(size_t n, size_t size, const char *what);
void *tac_try_calloc(size_t n, size_t size, const char *what);
size_t tac_memory_bytes(void);                     /* the machine's physical memory (SIZE_MAX if unknown) */

double tac_now(void);                              /* monotonic seconds */

/* ---- messages: to the log callback (tac_set_log), formatted; nothing when none is set ------------------ */
void tac_log(int level /* TAC_LOG_* */, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- progress of one task (a loop of `total` steps) ------------------------------------------------------
 * The sink is chosen at begin: fn when not NULL, else the process-wide callback (tac_set_progress), else none.
 * The sink sees fn(label, done, total, user): one call at begin (done = 0, or where a resumed task starts), one
 * per update (rising done), and a last call with done == total at end. A task that fails need not call end.
 * The label must live until end. Rate, ETA and throttling are the sink's business. */
typedef struct {
    const char *label;
    int64_t total, done;
    tac_progress_fn fn;   /* the resolved sink, NULL = none */
    void *user;
} tac_progress;
void tac_progress_begin_fn(tac_progress *p, tac_progress_fn fn, void *user, const char *label, int64_t total);
void tac_progress_begin_at(tac_progress *p, tac_progress_fn fn, void *user, const char *label, int64_t done,
                           int64_t total);
#define tac_progress_begin(p, label, total) tac_progress_begin_fn((p), NULL, NULL, (label), (total))
void tac_progress_update(tac_progress *p, int64_t done);
void tac_progress_end(tac_progress *p);

/* ---- files the program's outputs use ------------------------------------------------------------------ */
/* Opens path read-only for a whole read: fails (naming the kind: "a FIFO", "a folder", "a device", "a socket")
 * unless it is a regular file; *size = its size. Never blocks on a FIFO. Returns the fd or -1. */
int tac_open_regular(const char *path, int64_t *size);
int tac_mkdir_p(const char *path);
/* Removes a file, a symbolic link (never followed) or a whole folder tree with file-system calls; missing is fine. */
int tac_remove_tree(const char *path);
int tac_pid_alive(long pid);                       /* 1 if the process exists (or is ours) */
/* The PID in a temporary's name ("x.tmp.PID", ".by-cluster.old.PID"), or -1 if the name is not one. */
long tac_temp_name_pid(const char *name);
/* Removes the temporaries of dead processes directly in dir (files or trees): names "<stem>.tmp.PID" or
 * "<stem>.old.PID" whose stem matches one of the fnmatch patterns stems[0..nstems); returns how many. */
int tac_clean_stale_temps(const char *dir, const char *const *stems, int nstems);
/* An exclusive flock on path (created); when another process holds it, says so (tac_log, naming `what`) and
 * waits. Release with tac_lock_release. */
int tac_lock_acquire(const char *path, const char *what, int *fd);
void tac_lock_release(int fd);
/* Escaping shared by the outputs. tac_escape_line: one line of a text output, control characters as \t \n \r
 * \xHH and the backslash as \\ (malloc'd). tac_utf8_text: valid UTF-8 kept, every other byte read as Latin-1
 * (byte 0xHH -> U+00HH), so JSON holding it is valid (malloc'd). */
char *tac_escape_line(const char *s);
int tac_utf8_valid(const char *s);
char *tac_utf8_text(const char *s);

/* ---- write-failure injection (the program's tests only) ----------------------------------------------------
 * When a hook is set, tac_atomic_commit asks it about the final path before committing: non-zero makes the write
 * fail as a full disk would (ENOSPC). NULL (the default) removes it. The library never sets one. */
typedef int (*tac_write_fail_fn)(const char *path);
void tac_set_write_fail_hook(tac_write_fail_fn fn);

#endif
