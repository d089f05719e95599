/* test_silent.c - the library writes nothing to stdout or stderr: its messages reach the log callback and its
 * progress the progress callbacks (the call's own, else the process-wide one, else none), and the archive holds
 * no test hook or shell-out (those belong to the taclust program).
 *
 * The library calls run with file descriptors 1 and 2 pointed at a file, which must stay empty.
 */
#include "tac_test.h"
#include "taclust.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- what the callbacks saw -------------------------------------------------------------------------------- */
typedef struct {
    int nlog, ninfo;
    char logs[8192];             /* every message, one per line */
    int nprog, nbegin, nend, bad_order;
    char labels[512];            /* labels of the tasks begun, ";"-separated */
    int64_t last_done;
} seen;

static void on_log(int level, const char *msg, void *user)
{
    seen *s = user;
    s->nlog++;
    s->ninfo += level == TAC_LOG_INFO;
    size_t l = strlen(s->logs);
    snprintf(s->logs + l, sizeof s->logs - l, "%s\n", msg);
}

static void on_progress(const char *label, int64_t done, int64_t total, void *user)
{
    seen *s = user;
    s->nprog++;
    if (done == 0) {
        s->nbegin++;
        size_t l = strlen(s->labels);
        snprintf(s->labels + l, sizeof s->labels - l, "%s;", label);
    } else if (done < s->last_done || done > total) {
        s->bad_order++;
    }
    if (done == total) s->nend++;
    s->last_done = done;
}

/* fds 1 and 2 into `path` until quiet_end */
typedef struct { int out, err; } saved_fds;
static int quiet_begin(const char *path, saved_fds *sv)
{
    fflush(NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sv->out = dup(1); sv->err = dup(2);
    if (fd < 0 || sv->out < 0 || sv->err < 0) return -1;
    dup2(fd, 1); dup2(fd, 2);
    close(fd);
    return 0;
}
static void quiet_end(saved_fds *sv)
{
    fflush(NULL);
    dup2(sv->out, 1); dup2(sv->err, 2);
    close(sv->out); close(sv->err);
}
static int64_t file_bytes(const char *path)
{
    char *t; size_t n;
    if (tac_read_file(path, &t, &n) != TAC_OK) return -1;
    if (n) printf("    written by the library: %.*s\n", (int)(n > 300 ? 300 : n), t);
    free(t);
    return (int64_t)n;
}

/* 4 well separated blobs in D dims, N rows */
static float *blobs(int64_t n, int d, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    float *X = tac_xmalloc((size_t)n * d, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) X[i * d + j] = (j == i % 4 ? 3.0f : 0.0f) + (float)(0.2 * tac_mt_normal(&r));
    return X;
}

/* The calls that used to print: k-means with progress (a bar and its fixed-point note), heads training (epoch
 * lines), fit (its stage lines), waiting on a lock held elsewhere (a warning). */
static void *release_later(void *arg)
{
    usleep(200 * 1000);
    flock(*(int *)arg, LOCK_UN);
    return NULL;
}

static void run_printing_calls(const char *dir)
{
    const int64_t N = 512; const int D = 8;
    float *X = blobs(N, D, 5);
    tac_kmeans_params kp;
    tac_kmeans_default_params(&kp);
    kp.k = 4; kp.niter = 30; kp.nredo = 2; kp.progress = 1;
    int32_t *lab = tac_xmalloc((size_t)N, sizeof(int32_t));
    TAC_CHECK_OK(tac_kmeans(X, N, D, &kp, NULL, lab, NULL));

    /* heads: neighbours = the next rows of the same blob */
    const int kn = 3;
    int64_t *nn = tac_xmalloc((size_t)N * kn, sizeof(int64_t));
    for (int64_t i = 0; i < N; i++)
        for (int j = 0; j < kn; j++) nn[i * kn + j] = (i + 4 * (j + 1)) % N;
    float *Xn = tac_xmalloc((size_t)N * D, sizeof(float));
    memcpy(Xn, X, (size_t)N * D * sizeof(float));
    tac_l2_normalize_rows(Xn, N, D);
    tac_heads_params hp;
    tac_heads_default_params(&hp);
    hp.K = 4; hp.hidden = 16; hp.epochs = 2; hp.batch = 128; hp.progress = 1;
    tac_heads *h = NULL;
    TAC_CHECK_OK(tac_heads_train(Xn, Xn, N, D, nn, nn, kn, &hp, NULL, NULL, &h));
    tac_heads_free(h);

    /* fit without heads: its stage lines and the k-means inside it */
    const int64_t M = 40;
    float *T = blobs(M, D, 9);
    tac_fit_params fp;
    tac_fit_default_params(&fp);
    fp.K = 4; fp.train = 0; fp.baseline = 0; fp.niter = 20; fp.nredo_centres = 1; fp.nredo_concat = 1;
    fp.progress = 1;
    tac_fit_result r;
    TAC_CHECK_OK(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &fp, &r));
    tac_fit_result_free(&r);

    /* a lock held by another open file: the library says it waits (then gets it when released) */
    const char *lock = tac_test_path(dir, "lock");
    int other = open(lock, O_RDWR | O_CREAT, 0644);
    TAC_REQUIRE(other >= 0 && flock(other, LOCK_EX) == 0);
    pthread_t th;
    pthread_create(&th, NULL, release_later, &other);
    int fd = -1;
    TAC_CHECK_OK(tac_lock_acquire(lock, "OUT", &fd));
    pthread_join(th, NULL);
    tac_lock_release(fd);
    close(other);
    free(T); free(Xn); free(nn); free(lab); free(X);
}

TAC_TEST(silent_library_reports_through_callbacks)
{
    const char *dir = tac_test_tmpdir(), *out = tac_test_path(dir, "out.txt");
    static seen s;
    memset(&s, 0, sizeof s);
    tac_set_log(on_log, &s);
    tac_set_progress(on_progress, &s);
    saved_fds sv;
    TAC_REQUIRE(quiet_begin(out, &sv) == 0);
    run_printing_calls(dir);
    quiet_end(&sv);
    tac_set_log(NULL, NULL);
    tac_set_progress(NULL, NULL);
    TAC_CHECK_INT(file_bytes(out), 0);
    /* the messages came to the log callback */
    TAC_CHECK(strstr(s.logs, "heads: epoch 1/2") && strstr(s.logs, "heads: epoch 2/2"));
    TAC_CHECK(strstr(s.logs, "fit: selected ") != NULL);
    TAC_CHECK(strstr(s.logs, "OUT is in use by another taclust process") != NULL);
    TAC_CHECK(s.ninfo == s.nlog && s.nlog >= 6);
    /* progress: k-means (alone and inside fit) and the heads, each task begun at 0 and ended at its total */
    TAC_CHECK(strncmp(s.labels, "k-means;training heads;k-means;", 31) == 0);
    TAC_CHECK(s.nbegin >= 4 && s.nend == s.nbegin && s.bad_order == 0);
    if (tac_test_failed_now()) printf("    log:\n%s    progress tasks: %s\n", s.logs, s.labels);
}

TAC_TEST(silent_library_without_callbacks)
{
    const char *dir = tac_test_tmpdir(), *out = tac_test_path(dir, "out.txt");
    tac_set_log(NULL, NULL);
    tac_set_progress(NULL, NULL);
    saved_fds sv;
    TAC_REQUIRE(quiet_begin(out, &sv) == 0);
    run_printing_calls(dir);
    quiet_end(&sv);
    TAC_CHECK_INT(file_bytes(out), 0);
}

/* A call's own progress callback wins over the process-wide one. */
TAC_TEST(silent_per_call_progress)
{
    static seen wide, own;
    memset(&wide, 0, sizeof wide);
    memset(&own, 0, sizeof own);
    tac_set_progress(on_progress, &wide);
    const int64_t N = 256; const int D = 8, kn = 2;
    float *X = blobs(N, D, 3);
    tac_l2_normalize_rows(X, N, D);
    int64_t *nn = tac_xmalloc((size_t)N * kn, sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) { nn[i * kn] = (i + 4) % N; nn[i * kn + 1] = (i + 8) % N; }
    tac_heads_params hp;
    tac_heads_default_params(&hp);
    hp.K = 4; hp.hidden = 8; hp.epochs = 3; hp.batch = 64;   /* 4 batches an epoch, 12 in all */
    hp.progress_fn = on_progress; hp.progress_user = &own;
    tac_heads *h = NULL;
    TAC_CHECK_OK(tac_heads_train(X, X, N, D, nn, nn, kn, &hp, NULL, NULL, &h));
    tac_heads_free(h);
    TAC_CHECK_INT(wide.nprog, 0);
    TAC_CHECK_INT(own.nbegin, 1);
    TAC_CHECK_INT(own.nend, 1);
    TAC_CHECK_INT(own.nprog, 1 + 11 + 1);   /* begin, 11 steps below the total, end */
    TAC_CHECK(strcmp(own.labels, "training heads;") == 0 && own.bad_order == 0);
    /* neither flag nor callback: nothing at all */
    hp.progress_fn = NULL;
    TAC_CHECK_OK(tac_heads_train(X, X, N, D, nn, nn, kn, &hp, NULL, NULL, &h));
    tac_heads_free(h);
    TAC_CHECK_INT(wide.nprog, 0);
    /* the flag alone: the process-wide callback */
    hp.progress = 1;
    TAC_CHECK_OK(tac_heads_train(X, X, N, D, nn, nn, kn, &hp, NULL, NULL, &h));
    tac_heads_free(h);
    TAC_CHECK_INT(wide.nprog, 13);
    tac_set_progress(NULL, NULL);

    /* the text tower's progress goes to the call's callback too (tiny CLIP fixture) */
    const char *model = "tests/fixtures/clip/tiny";
    tac_clip *m;
    if (access("tests/fixtures/clip/tiny/config.json", R_OK) == 0 && tac_clip_load(model, &m) == TAC_OK) {
        memset(&own, 0, sizeof own);
        const char *prompts[5] = {"a cat", "a dog", "a photo of a tree", "a cat", "the sea"};
        tac_embed_text_params tp = tac_embed_text_default_params();
        tp.batch = 2; tp.progress = on_progress; tp.progress_user = &own;
        float *E = tac_xmalloc((size_t)5 * tac_clip_embed_dim(m), sizeof(float));
        TAC_CHECK_OK(tac_embed_prompts(m, prompts, 5, &tp, E));
        TAC_CHECK(own.nbegin == 1 && own.nend == 1 && own.bad_order == 0);
        TAC_CHECK(strcmp(own.labels, "embedding text;") == 0);
        free(E);
        tac_clip_free(m);
    } else {
        printf("    (tiny CLIP fixture not loadable: %s; text progress not checked)\n", tac_last_error());
    }
    free(nn); free(X);
}

/* The archive is the library only: no TACLUST_DEBUG_* hook, no shell-out; the program keeps the hooks. */
static int has(const char *buf, size_t n, const char *needle, size_t len)
{
    return memmem(buf, n, needle, len) != NULL;
}

TAC_TEST(silent_archive_has_no_test_hooks)
{
    char lib[1024];
    const char *bin = tac_test_bin(), *slash = strrchr(bin, '/');
    snprintf(lib, sizeof lib, "%.*slibtaclust.a", slash ? (int)(slash - bin + 1) : 0, bin);
    char *a; size_t n;
    TAC_CHECK_OK(tac_read_file(lib, &a, &n));
    TAC_CHECK(has(a, n, "tac_kmeans_default_params", 25));       /* the right file */
    TAC_CHECK(!has(a, n, "TACLUST_DEBUG", 13));
    TAC_CHECK(!has(a, n, "rm -rf", 6));
    /* no reference to a shell-out: symbol names are NUL-delimited in the string tables */
    TAC_CHECK(!has(a, n, "\0system\0", 8));
    TAC_CHECK(!has(a, n, "\0popen\0", 7));
    TAC_CHECK(!has(a, n, "\0execv\0", 7) && !has(a, n, "\0execvp\0", 8) && !has(a, n, "\0posix_spawn\0", 13));
    free(a);
    char *b;
    TAC_CHECK_OK(tac_read_file(bin, &b, &n));
    TAC_CHECK(has(b, n, "TACLUST_DEBUG_FAIL_WRITE", 24));          /* the hook moved to the program */
    free(b);
}
