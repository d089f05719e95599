/* test_embedding.c - the embedding contract of the numeric stages (issue 10, section 2): a failed allocation is an
 * error, not an abort; the thread bound is honoured without touching process-wide settings.
 *
 * Allocation failure: each case runs in a child process (this binary executed afresh) whose address space is
 * capped (RLIMIT_AS) 8 MiB above what it already maps, then calls k-means, kNN, heads training or the metrics on
 * inputs whose workspaces (each 48 MB or more) cannot fit. The child reports the return code and tac_last_error()
 * through a pipe and exits normally; the parent checks that it did not die by a signal, that the call failed, and
 * that the reason names the stage and the allocation. AddressSanitizer reserves
 * terabytes of shadow memory and aborts on an allocator failure by default, so those cases are skipped (said
 * plainly) in the SAN=1 build; the sizes that exceed the machine's memory are refused up front in every build.
 *
 * Threads: OpenBLAS's process-wide thread count is set to a distinctive value, then heads training (default and
 * threads = 1), k-means, kNN, noun selection and retrieval with threads = 1 must leave it unchanged. Heads
 * training promises bit-identical heads at any thread count (its BLAS runs single-threaded either way): checked
 * exactly. The other stages' discrete results (labels, centroids as means of the same labels, neighbour lists,
 * selected nouns) must be identical; their float scores come from OpenBLAS's sgemm, whose rounding depends on its
 * thread count (measured: the last bits move), so those are compared to 1e-6 relative.
 */
#include "tac_test.h"

#include <cblas.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "taclust/cluster.h"
#include "taclust/heads.h"
#include "taclust/image.h"
#include "taclust/metrics.h"
#include "taclust/textspace.h"

#if defined(__SANITIZE_ADDRESS__)
#define TAC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAC_TEST_ASAN 1
#endif
#endif

static void fill_normal(tac_mt *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)tac_mt_normal(r);
}

/* ---- allocation failure in a fresh child process with a capped address space ------------------------------
 *
 * The child is this test binary executed again with TAC_EMBEDDING_CHILD=<case> in its environment: a constructor
 * (below) runs the case before the test runner starts, so the heap is fresh (a forked child would inherit the
 * parent's free heap, from which large requests can still be served under the cap) and no OpenMP team exists.
 * The case builds its inputs, caps its address space 8 MiB above what it maps, makes the call with threads = 1 and
 * writes "rc|reason" to fd 3 (a pipe to the parent). */

/* Bytes the process maps now (VmSize). */
static size_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long pages = 0;
    int ok = fscanf(f, "%lu", &pages) == 1;
    fclose(f);
    return ok ? (size_t)pages * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static int cap_address_space(void)
{
    size_t now = mapped_bytes();
    struct rlimit rl = {now + ((size_t)8 << 20), now + ((size_t)8 << 20)};
    return now && setrlimit(RLIMIT_AS, &rl) == 0;
}

static int kmeans_case(void)
{
    int64_t n = 100000;
    int d = 4;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, 1);
    fill_normal(&r, X, (size_t)n * d);
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = 640; p.spherical = 1; p.niter = 2; p.plain = -1; p.threads = 1;   /* bounds: N x 64 doubles = 51 MB */
    if (!cap_address_space()) return 99;
    return tac_kmeans(X, n, d, &p, NULL, NULL, NULL);
}

static int knn_case(void)
{
    int64_t n = 20000;
    int d = 8, k = 256;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float));
    int64_t *idx = tac_xcalloc((size_t)n * k, sizeof(int64_t));   /* the caller's output, mapped before the cap */
    tac_mt r;
    tac_mt_seed(&r, 2);
    fill_normal(&r, X, (size_t)n * d);
    if (!cap_address_space()) return 99;
    return tac_knn_cosine_ex(X, n, d, k, idx, NULL, 1);   /* heaps: N x k x 16 bytes = 82 MB */
}

static int heads_case(void)
{
    int64_t n = 128;
    int d = 8, kn = 4;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float)), *R = tac_xmalloc((size_t)n * d, sizeof(float));
    int64_t *nn = tac_xmalloc((size_t)n * kn, sizeof(int64_t));
    tac_mt r;
    tac_mt_seed(&r, 3);
    fill_normal(&r, X, (size_t)n * d);
    fill_normal(&r, R, (size_t)n * d);
    tac_l2_normalize_rows_ex(X, n, d, 1);
    tac_l2_normalize_rows_ex(R, n, d, 1);
    for (int64_t i = 0; i < n * kn; i++) nn[i] = (i / kn + 1 + i % kn) % n;
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = 2000; p.hidden = 16; p.batch = 64; p.epochs = 1; p.threads = 1;   /* distillation workspaces: 2 x 64 MB */
    tac_heads *out = NULL;
    if (!cap_address_space()) return 99;
    int rc = tac_heads_train(X, R, n, d, nn, nn, kn, &p, NULL, NULL, &out);
    tac_heads_free(out);
    return rc;
}

static int metrics_case(int acc_only)
{
    int64_t n = 6000000;
    int64_t *y = tac_xmalloc((size_t)n, sizeof(int64_t)), *p = tac_xmalloc((size_t)n, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) { y[i] = i % 10; p[i] = (i * 7) % 10; }
    if (!cap_address_space()) return 99;
    if (acc_only) return isnan(tac_metric_acc(y, p, n)) ? TAC_ERR : TAC_OK;
    tac_metrics m;
    return tac_metrics_compute(y, p, n, &m);   /* compacted ids: 2 x 48 MB */
}

static void __attribute__((constructor)) embedding_child_main(void)
{
    const char *c = getenv("TAC_EMBEDDING_CHILD");
    if (!c) return;
    alarm(120);   /* never hang the suite */
    int rc = !strcmp(c, "kmeans") ? kmeans_case() : !strcmp(c, "knn") ? knn_case() : !strcmp(c, "heads") ? heads_case()
           : !strcmp(c, "metrics") ? metrics_case(0) : !strcmp(c, "acc") ? metrics_case(1) : 98;
    char buf[1100];
    int len = snprintf(buf, sizeof buf, "%d|%s", rc, tac_last_error());
    _exit(write(3, buf, (size_t)len) == len ? 0 : 4);
}

/* Runs the case in a child; returns 1 and fills rc / msg when the child exited normally after reporting, 0 (the
 * test failed, saying why) otherwise. */
static int run_capped(const char *name, int *rc, char *msg, size_t msglen)
{
    int fds[2];
    if (pipe(fds) != 0) { tac_test_fail_at(__FILE__, __LINE__, "pipe failed"); return 0; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { tac_test_fail_at(__FILE__, __LINE__, "fork failed"); return 0; }
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], 3) < 0) _exit(5);
        setenv("TAC_EMBEDDING_CHILD", name, 1);
        char *argv[] = {"run_tests", NULL};
        execv("/proc/self/exe", argv);
        _exit(6);
    }
    close(fds[1]);
    char buf[1100];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fds[0]);
    buf[got] = 0;
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        tac_test_fail_at(__FILE__, __LINE__, "the %s child died by signal %d (an abort on a failed allocation?)",
                         name, WTERMSIG(st));
        return 0;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strchr(buf, '|')) {
        tac_test_fail_at(__FILE__, __LINE__, "the %s child did not report (exit status %d)", name,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 0;
    }
    *rc = atoi(buf);
    snprintf(msg, msglen, "%s", strchr(buf, '|') + 1);
    printf("  %s child: rc %d, reason: %s\n", name, *rc, msg);
    return 1;
}

#define CHECK_CAPPED_FAILS(name, stage)                                                                      \
    do {                                                                                                     \
        int rc_ = 0;                                                                                         \
        char msg_[1100];                                                                                     \
        if (!run_capped((name), &rc_, msg_, sizeof msg_)) return;                                            \
        TAC_CHECK_INT(rc_, TAC_ERR);                                                                         \
        if (!strstr(msg_, (stage)) || !strstr(msg_, "allocate"))                                             \
            tac_test_fail_at(__FILE__, __LINE__, "reason '%s' does not name '%s' and the allocation", msg_, (stage)); \
    } while (0)

#ifdef TAC_TEST_ASAN
#define SKIP_UNDER_ASAN() TAC_SKIP("AddressSanitizer build: under an address-space cap ASan's own allocator aborts " \
                                   "(this case runs in the plain build)")
#else
#define SKIP_UNDER_ASAN() do { } while (0)
#endif

TAC_TEST(embedding_kmeans_allocation_failure_is_an_error)
{
    SKIP_UNDER_ASAN();
    CHECK_CAPPED_FAILS("kmeans", "k-means");
}

TAC_TEST(embedding_knn_allocation_failure_is_an_error)
{
    SKIP_UNDER_ASAN();
    CHECK_CAPPED_FAILS("knn", "knn");
}

TAC_TEST(embedding_heads_allocation_failure_is_an_error)
{
    SKIP_UNDER_ASAN();
    CHECK_CAPPED_FAILS("heads", "heads");
}

TAC_TEST(embedding_metrics_allocation_failure_is_an_error)
{
    SKIP_UNDER_ASAN();
    CHECK_CAPPED_FAILS("metrics", "metrics");
    CHECK_CAPPED_FAILS("acc", "metrics");
}

/* Sizes beyond the machine's memory are refused before any allocation, in every build (ASan included). */
TAC_TEST(embedding_hungarian_and_heads_refuse_impossible_sizes)
{
    /* the Hungarian method on a 3 x 2 matrix with a NaN weight: refused, not an assertion */
    double w[6] = {1, 2, 3, NAN, 5, 6};
    int assign[3];
    double t = tac_hungarian_max(w, 3, 2, assign);
    TAC_CHECK(isnan(t));
    TAC_CHECK(strstr(tac_last_error(), "not finite") != NULL);
    TAC_CHECK(isnan(tac_hungarian_max(w, -1, 2, assign)));
    TAC_CHECK(strstr(tac_last_error(), "negative") != NULL);
    /* metrics on a negative count: an error, not an assertion */
    tac_metrics m;
    int64_t y[2] = {0, 1};
    TAC_CHECK_ERR(tac_metrics_compute(y, y, -5, &m), "no samples");
    TAC_CHECK(isnan(tac_metric_nmi(y, y, -1)));
    /* the number of centres on bad input */
    TAC_CHECK_INT(tac_num_centres(-1, 10), TAC_ERR);
    TAC_CHECK_INT(tac_num_centres(100, 0), TAC_ERR);
    /* a resize to an empty size or a window outside the result */
    uint8_t px[3 * 4] = {0}, outpx[3 * 4];
    TAC_CHECK_ERR(tac_resize_bicubic(px, 2, 2, outpx, 0, 2), "positive");
    TAC_CHECK_ERR(tac_resize_bicubic_window(px, 2, 2, 2, 2, 1, 0, 2, 2, outpx), "window");
}

/* ---- threads --------------------------------------------------------------------------------------------- */

/* Sets OpenBLAS to a thread count that no code path of the library uses by itself (3), so a change shows. */
static int distinctive_blas(int *saved)
{
    *saved = openblas_get_num_threads();
    openblas_set_num_threads(3);
    return openblas_get_num_threads();
}

TAC_TEST(embedding_threads_heads_restore_blas_and_match)
{
    int saved, mark = distinctive_blas(&saved);
    int64_t n = 512;
    int d = 16, kn = 5;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float)), *R = tac_xmalloc((size_t)n * d, sizeof(float));
    int64_t *nn = tac_xmalloc((size_t)n * kn, sizeof(int64_t));
    tac_mt r;
    tac_mt_seed(&r, 11);
    fill_normal(&r, X, (size_t)n * d);
    fill_normal(&r, R, (size_t)n * d);
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(R, n, d);
    for (int64_t i = 0; i < n * kn; i++) nn[i] = (int64_t)tac_mt_below(&r, (uint64_t)n);
    tac_heads_params p;
    tac_heads_default_params(&p);
    TAC_CHECK_INT(p.threads, 0);
    p.K = 7; p.hidden = 32; p.batch = 128; p.epochs = 3; p.seed = 5;
    tac_heads *h0 = NULL, *h1 = NULL;
    TAC_CHECK_OK(tac_heads_train(X, R, n, d, nn, nn, kn, &p, NULL, NULL, &h0));
    TAC_CHECK_INT(openblas_get_num_threads(), mark);
    p.threads = 1;
    TAC_CHECK_OK(tac_heads_train(X, R, n, d, nn, nn, kn, &p, NULL, NULL, &h1));
    TAC_CHECK_INT(openblas_get_num_threads(), mark);
    float *P0 = tac_xmalloc((size_t)n * 7, sizeof(float)), *P1 = tac_xmalloc((size_t)n * 7, sizeof(float));
    TAC_CHECK_OK(tac_heads_predict(h0, X, n, NULL, P0));
    TAC_CHECK_OK(tac_heads_predict(h1, X, n, NULL, P1));
    TAC_CHECK(memcmp(P0, P1, (size_t)n * 7 * sizeof(float)) == 0);   /* the code promises bit-identical heads */
    tac_heads_free(h0); tac_heads_free(h1);
    free(P0); free(P1); free(X); free(R); free(nn);
    openblas_set_num_threads(saved);
}

TAC_TEST(embedding_threads_cluster_restore_blas_and_match)
{
    int saved, mark = distinctive_blas(&saved);
    int64_t n = 3000;
    int d = 24, K = 12;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, 12);
    fill_normal(&r, X, (size_t)n * d);
    for (int spherical = 0; spherical < 2; spherical++) {
        tac_kmeans_params p;
        tac_kmeans_default_params(&p);
        TAC_CHECK_INT(p.threads, 0);
        p.k = K; p.spherical = spherical; p.niter = 15; p.nredo = 2; p.plain = spherical ? -1 : 0;
        float C0[12 * 24], C1[12 * 24];
        int32_t *L0 = tac_xmalloc((size_t)n, sizeof(int32_t)), *L1 = tac_xmalloc((size_t)n, sizeof(int32_t));
        double o0, o1;
        TAC_CHECK_OK(tac_kmeans(X, n, d, &p, C0, L0, &o0));
        TAC_CHECK_INT(openblas_get_num_threads(), mark);
        p.threads = 1;
        TAC_CHECK_OK(tac_kmeans(X, n, d, &p, C1, L1, &o1));
        TAC_CHECK_INT(openblas_get_num_threads(), mark);
        TAC_CHECK(memcmp(L0, L1, (size_t)n * sizeof(int32_t)) == 0);
        TAC_CHECK(memcmp(C0, C1, sizeof C0) == 0);   /* means of the same labels, summed in point order */
        TAC_CHECK_NEAR(o0, o1, 1e-6 * fabs(o0));
        free(L0); free(L1);
    }
    int k = 9;
    int64_t *i0 = tac_xmalloc((size_t)n * k, sizeof(int64_t)), *i1 = tac_xmalloc((size_t)n * k, sizeof(int64_t));
    float *s0 = tac_xmalloc((size_t)n * k, sizeof(float)), *s1 = tac_xmalloc((size_t)n * k, sizeof(float));
    TAC_CHECK_OK(tac_knn_cosine(X, n, d, k, i0, s0));
    TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, i1, s1, 1));
    TAC_CHECK_INT(openblas_get_num_threads(), mark);
    TAC_CHECK(memcmp(i0, i1, (size_t)n * k * sizeof(int64_t)) == 0);
    tac_test_compare("kNN similarities, threads 1 vs default", s0, s1, (size_t)n * k, 1e-6);
    free(i0); free(i1); free(s0); free(s1); free(X);
    openblas_set_num_threads(saved);
}

TAC_TEST(embedding_threads_textspace_restore_blas_and_match)
{
    int saved, mark = distinctive_blas(&saved);
    int64_t n = 900, m = 400;
    int d = 16, k = 9;
    float *X = tac_xmalloc((size_t)n * d, sizeof(float)), *T = tac_xmalloc((size_t)m * d, sizeof(float));
    int32_t *lab = tac_xmalloc((size_t)n, sizeof(int32_t));
    tac_mt r;
    tac_mt_seed(&r, 13);
    fill_normal(&r, X, (size_t)n * d);
    fill_normal(&r, T, (size_t)m * d);
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(T, m, d);
    for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)(i % k);
    int64_t *s0 = NULL, *s1 = NULL, ns0 = 0, ns1 = 0;
    int32_t *c0 = NULL, *c1 = NULL;
    TAC_CHECK_OK(tac_select_nouns(X, n, lab, k, T, m, d, 5, &s0, &ns0, &c0));
    TAC_CHECK_OK(tac_select_nouns_ex(X, n, lab, k, T, m, d, 5, &s1, &ns1, &c1, 1));
    TAC_CHECK_INT(openblas_get_num_threads(), mark);
    TAC_REQUIRE(ns0 == ns1 && ns0 > 0);
    TAC_CHECK(memcmp(s0, s1, (size_t)ns0 * sizeof(int64_t)) == 0);
    TAC_CHECK(memcmp(c0, c1, (size_t)ns0 * sizeof(int32_t)) == 0);
    float *E = tac_xmalloc((size_t)ns0 * d, sizeof(float));
    for (int64_t s = 0; s < ns0; s++) memcpy(E + s * d, T + s0[s] * d, sizeof(float) * (size_t)d);
    float *R0 = tac_xmalloc((size_t)n * d, sizeof(float)), *R1 = tac_xmalloc((size_t)n * d, sizeof(float));
    TAC_CHECK_OK(tac_retrieve(X, n, E, ns0, d, 0.005f, R0, NULL));
    TAC_CHECK_OK(tac_retrieve_ex(X, n, E, ns0, d, 0.005f, R1, NULL, 1));
    TAC_CHECK_INT(openblas_get_num_threads(), mark);
    /* the logits are divided by tau = 0.005: sgemm's last-bit differences grow 200-fold in the softmax */
    tac_test_compare("retrieved counterparts, threads 1 vs default", R0, R1, (size_t)n * d, 1e-4);
    tac_free(s0); tac_free(s1); tac_free(c0); tac_free(c1);
    free(E); free(R0); free(R1); free(X); free(T); free(lab);
    openblas_set_num_threads(saved);
}
