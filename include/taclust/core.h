/* taclust/core.h - errors, .npy I/O, random numbers, files, the log and progress callbacks, tac_free.
 *
 * The foundation every stage builds on. Conventions used project-wide:
 *   - Functions that can fail on user input return TAC_OK (0) or TAC_ERR (-1) and leave a one-line reason
 *     in tac_last_error() (thread-local). The reason names the file and the problem.
 *   - The library writes nothing to stdout or stderr: messages go to the log callback, progress to the
 *     progress callbacks (see "messages, progress and buffers" below).
 *   - Programmer errors (NULL where not allowed) abort with file and line. Nothing in the library aborts on bad
 *     input or on a failed allocation: that is TAC_ERR (or NULL / NaN where documented) with a reason naming
 *     what could not be allocated.
 *   - Buffers the library returns (loaded .npy data, file contents, strings) are released with tac_free.
 *   - Threads: functions are safe to call from several threads at once on different data (pure functions of
 *     their arguments) unless a comment says otherwise; process-wide settings are named as such.
 *   - Matrices are float32, row-major. Dimension letters: N rows (samples), D features, K clusters,
 *     M nouns, S selected nouns, B batch, T tokens, C channels/width.
 */
#ifndef TACLUST_CORE_H
#define TACLUST_CORE_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_OK 0
#define TAC_ERR (-1)

/* ---- errors ---------------------------------------------------------------------------------------- */
TAC_API const char *tac_last_error(void);                 /* last failure reason of this thread, "" if none */
TAC_API int tac_fail(const char *fmt, ...)                /* sets the reason; always returns TAC_ERR */
    __attribute__((format(printf, 1, 2)));
TAC_API void tac_clear_error(void);

/* ---- .npy (NumPy format 1.0/2.0, C order) ----------------------------------------------------------- */
/* Loads a 1-D or 2-D float16/float32/float64 array as float32 (a 1-D array of n gives rows=n, cols=1).
 * Errors (naming `path`): not .npy, Fortran order, other dtype, >2 dims, truncated data, no memory.
 * *out: release with tac_free. */
TAC_API int tac_npy_load_f32(const char *path, float **out, int64_t *rows, int64_t *cols);
/* Loads a 1-D or 2-D integer array (int8..int64, uint8..uint32, or float with integral values) as int64.
 * *out: release with tac_free. */
TAC_API int tac_npy_load_i64(const char *path, int64_t **out, int64_t *rows, int64_t *cols);
/* The same two loaders on a .npy image already in memory (buf of len bytes); `name` stands for the file in
 * error reasons. buf need not be NUL-terminated or aligned. */
TAC_API int tac_npy_parse_f32(const void *buf, size_t len, const char *name, float **out, int64_t *rows, int64_t *cols);
TAC_API int tac_npy_parse_i64(const void *buf, size_t len, const char *name, int64_t **out, int64_t *rows, int64_t *cols);
/* A float array read without a copy: a little-endian float32 C-order .npy is memory-mapped read-only and
 * data points into the mapping; other float dtypes (or unaligned data) are converted into an allocated copy.
 * rows x cols as tac_npy_load_f32 (1-D: cols = 1). tac_npy_map_release drops the pages read so far from the
 * process's resident memory (they are re-read from the file if touched again); tac_npy_unmap frees it all. */
typedef struct {
    const float *data;   /* rows x cols, row-major */
    int64_t rows, cols;
    void *map;           /* the whole file's mapping, or NULL */
    size_t map_len;
    float *own;          /* the converted copy, or NULL */
} tac_npy_map;
TAC_API int tac_npy_map_f32(const char *path, tac_npy_map *m);
TAC_API void tac_npy_map_release(const tac_npy_map *m);
TAC_API void tac_npy_unmap(tac_npy_map *m);
/* Writes atomically (temporary name, then rename), version 1.0, data 64-byte aligned. shape: ndim values, ndim
 * from 1 to TAC_NPY_MAX_SAVE_DIMS (the loaders above read only 1-D and 2-D arrays). */
#define TAC_NPY_MAX_SAVE_DIMS 8
TAC_API int tac_npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape);
TAC_API int tac_npy_save_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape);

/* Every value finite? Otherwise fails with "<what>: row R has a NaN / an infinite value". Also fails (before
 * reading X) on a negative shape or one whose N x D floats could not be addressed. */
TAC_API int tac_check_finite(const char *what, const float *X /* N x D */, int64_t n, int64_t d);

/* ---- random numbers: mt19937 (bit-compatible with std::mt19937, as faiss uses) ---------------------- */
typedef struct { uint32_t mt[624]; int idx; } tac_mt;
TAC_API void tac_mt_seed(tac_mt *r, uint32_t seed);
TAC_API uint32_t tac_mt_next(tac_mt *r);
TAC_API float tac_mt_float(tac_mt *r);                    /* faiss rand_float: next / 4294967295.0f */
TAC_API double tac_mt_uniform(tac_mt *r);                 /* [0, 1) with 53 random bits */
TAC_API double tac_mt_normal(tac_mt *r);                  /* standard normal (Box-Muller) */
TAC_API uint64_t tac_mt_below(tac_mt *r, uint64_t n);     /* uniform integer in [0, n) (unbiased) */
/* faiss 1.7 rand_perm: identity then swap(perm[i], perm[i + mt() % (n - i)]) for i < n-1. */
TAC_API void tac_rand_perm(int64_t *perm, int64_t n, uint32_t seed);

/* ---- files ------------------------------------------------------------------------------------------ */
/* Atomic output: write to "<path>.tmp.<pid>", then tac_atomic_commit renames over path (fsync'd);
 * tac_atomic_abort removes the temporary. A crash or kill never leaves a half-written file under the final name. */
typedef struct { FILE *f; char *path; char *tmp; } tac_atomic;
TAC_API int tac_atomic_open(tac_atomic *a, const char *path);
TAC_API int tac_atomic_commit(tac_atomic *a);
TAC_API void tac_atomic_abort(tac_atomic *a);
TAC_API int tac_write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole regular file (adds a NUL after the data). A FIFO, device, socket or folder is refused without
 * reading (never blocks), and so is a file larger than max_bytes ("larger than the N MiB limit for ...").
 * tac_read_file uses TAC_READ_FILE_MAX; text readers pass their own limits (TAC_JSON_MAX, TAC_LINES_MAX).
 * *data: release with tac_free. */
#define TAC_READ_FILE_MAX ((size_t)1 << 30)   /* 1 GiB: any whole-file read */
#define TAC_JSON_MAX ((size_t)64 << 20)       /* 64 MiB: config.json, run.json, params.json, index files */
#define TAC_LINES_MAX ((size_t)256 << 20)     /* 256 MiB: vocabularies, input lists, CSV read back */
TAC_API int tac_read_file(const char *path, char **data, size_t *len);
TAC_API int tac_read_file_max(const char *path, char **data, size_t *len, size_t max_bytes);
/* Reads a text file of lines (trailing \r\n stripped, empty lines kept unless skip_empty). *lines: release with
 * tac_free_strings. */
/* buf (cap bytes) = "dir/name", the one path join of the project. Fails (buf = "") with "path too long" naming
 * both parts when the result does not fit. */
TAC_API int tac_path_join(char *buf, size_t cap, const char *dir, const char *name);
TAC_API int tac_read_lines(const char *path, char ***lines, int64_t *n, int skip_empty);
TAC_API void tac_free_strings(char **s, int64_t n);

/* ---- messages, progress and buffers: the library prints nothing by itself ---------------------------
 * Messages (warnings, stage notes; one line, no newline) go to the log callback, progress of long calls to a
 * progress callback: the one in a call's parameter struct when it has one, else the process-wide one set here.
 * Both default to none (silent). The taclust program installs callbacks that print to stderr. Callbacks may be
 * called from any thread (one call at a time per job); msg and label are valid only during the call.
 * A progress task (one label) is reported as: a first call when it starts (done = 0, or where a resumed task
 * starts), calls as done rises (as often as every step: throttle in the callback), and a last call with
 * done == total when it finished (a call that fails may stop without it). */
enum { TAC_LOG_ERROR = 0, TAC_LOG_WARN = 1, TAC_LOG_INFO = 2, TAC_LOG_DEBUG = 3 };
typedef void (*tac_log_fn)(int level, const char *msg, void *user);
typedef void (*tac_progress_fn)(const char *label, int64_t done, int64_t total, void *user);
TAC_API void tac_set_log(tac_log_fn fn, void *user);
TAC_API void tac_set_progress(tac_progress_fn fn, void *user);
/* Releases any buffer the library returns to its caller (arrays in results, strings, loaded .npy data). */
TAC_API void tac_free(void *p);

/* ---- hashing: FNV-1a 64 (tac_hash.c) ---------------------------------------------------------------- */
#define TAC_FNV1A64_INIT 14695981039346656037ull   /* offset basis */
#define TAC_FNV1A64_PRIME 1099511628211ull
/* h continued over the n bytes at p: start from TAC_FNV1A64_INIT. */
TAC_API uint64_t tac_fnv1a64(uint64_t h, const void *p, size_t n);

/* ---- numerics helpers ------------------------------------------------------------------------------- */
TAC_API void tac_l2_normalize_rows(float *X /* N x D */, int64_t n, int64_t d);  /* eps 1e-12 like F.normalize */
TAC_API void tac_l2_normalize_rows_ex(float *X, int64_t n, int64_t d, int threads); /* at most `threads` (0: all) */
TAC_API int tac_num_threads(void);                         /* threads the library may use (OMP setting) */
/* A `threads` argument or field of 0 means tac_num_threads(). A call that runs with another count sets only the
 * calling thread's OpenMP team size (omp_set_num_threads acts per thread) or uses num_threads clauses, and puts the
 * old value back before it returns; it lowers OpenBLAS's process-wide thread count only while it runs and restores
 * exactly the value it found. */

#ifdef __cplusplus
}
#endif
#endif
