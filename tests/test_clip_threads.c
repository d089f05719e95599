/* test_clip_threads.c - the CLIP stage's library contract (taclust/clip.h, taclust/embed.h):
 *   - one loaded model shared by two threads that encode images, texts and prompts at the same time (each with its
 *     own tac_clip_state, or the plain per-call form) gives bit-identical results to serial calls, and the calls
 *     leave OpenBLAS's thread count and the caller's OpenMP team size as they found them;
 *   - the tokenizer is loaded with the model: a folder without one encodes images and fails text calls with a clear
 *     error; an explicit tokenizer path (tac_clip_load_ex) serves it; a broken one fails the load;
 *   - a failed allocation is an error, not an abort: in forked children with RLIMIT_AS and RLIMIT_DATA just above
 *     their current sizes (swept over several limits), tac_clip_load and the encoders return TAC_ERR with a reason or succeed,
 *     and never crash (in a fresh run_tests process; not under AddressSanitizer, whose allocator reserves its own
 *     address space).
 * Runs on the committed tiny model (tests/fixtures/clip/tiny, with its vocab.json + merges.txt).
 */
#include "tac_test.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "taclust/clip.h"
#include "taclust/embed.h"

#define TINY "tests/fixtures/clip/tiny"
#define NIMG 9
#define NTXT 12

static const char *const TEXTS[NTXT] = {
    "a photo of a cat.", "a photo of a dog.", "a photo of the cat.", "a blurry photo of a cattle.",
    "itap of a goldfish.", "a bad photo of the tench.", "art of the space shuttle.", "a photo of the small lemon.",
    "a low resolution photo of the banana.", "a photo of the large king penguin.", "", "a photo of a cat."};

/* n x 3 x s x s pixels in [-1, 1) from an integer hash (deterministic). */
static float *pixels(int n, int s)
{
    size_t per = 3 * (size_t)s * s;
    float *px = malloc((size_t)n * per * sizeof(float));
    if (!px) return NULL;
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < per; i++) {
            uint64_t h = ((uint64_t)i * 2654435761ull + (uint64_t)(b * 131 + 7)) & 0xFFFFFFFFull;
            px[(size_t)b * per + i] = (float)((h >> 8) & 1023) / 512.0f - 1.0f;
        }
    return px;
}

typedef struct {
    const tac_clip *m;
    const float *px;
    int threads;         /* the state's threads */
    int plain;           /* 1: the per-call functions instead of a state */
    int rounds;
    const float *ref_img, *ref_txt, *ref_prompts;
    int e;
    int mismatches, errors;
    char why[256];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    float img[NIMG * 64], txt[NTXT * 64], pr[NTXT * 64];
    tac_clip_state *st = NULL;
    if (!w->plain && tac_clip_state_new(w->m, w->threads, &st) != TAC_OK) { w->errors++; return NULL; }
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    tp.batch = 5;
    tp.threads = w->threads;
    for (int r = 0; r < w->rounds; r++) {
        int rc = st ? tac_clip_encode_images_st(st, w->px, NIMG, img) : tac_clip_encode_images(w->m, w->px, NIMG, img);
        if (rc == TAC_OK) rc = st ? tac_clip_encode_texts_st(st, TEXTS, NTXT, txt) : tac_clip_encode_texts(w->m, TEXTS, NTXT, txt);
        if (rc == TAC_OK) rc = tac_embed_prompts(w->m, TEXTS, NTXT, &tp, pr);
        if (rc != TAC_OK) { w->errors++; snprintf(w->why, sizeof w->why, "%s", tac_last_error()); break; }
        w->mismatches += memcmp(img, w->ref_img, sizeof(float) * NIMG * w->e) != 0;
        w->mismatches += memcmp(txt, w->ref_txt, sizeof(float) * NTXT * w->e) != 0;
        w->mismatches += memcmp(pr, w->ref_prompts, sizeof(float) * NTXT * w->e) != 0;
    }
    tac_clip_state_free(st);
    return NULL;
}

static void *ask_default(void *arg) { *(int *)arg = omp_get_max_threads(); return NULL; }

/* tac_num_threads() in a new thread (the plain calls' default there: not the main thread's omp_set_num_threads). */
static int new_thread_default(void)
{
    int n = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, ask_default, &n) != 0) return -1;
    pthread_join(t, NULL);
    return n;
}

/* Serial references, then two threads at once, each comparing with the serial result of its own thread count
 * (the chunking follows the thread count, and BLAS rounds a row differently in a block of another size). Variants:
 * both with a state of `threads`; one with a state, the other with the plain calls (default threads = threads). */
static void shared_model_round(tac_clip *m, const char *label, int threads)
{
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m);
    TAC_REQUIRE(e <= 64);
    float *px = pixels(NIMG, s);
    TAC_REQUIRE(px);
    static float ref_img[NIMG * 64], ref_txt[NTXT * 64], ref_pr[NTXT * 64];
    tac_clip_state *st;
    TAC_CHECK_OK(tac_clip_state_new(m, threads, &st));
    TAC_CHECK_OK(tac_clip_encode_images_st(st, px, NIMG, ref_img));
    TAC_CHECK_OK(tac_clip_encode_texts_st(st, TEXTS, NTXT, ref_txt));
    tac_clip_state_free(st);
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    tp.batch = 5;
    tp.threads = threads;
    TAC_CHECK_OK(tac_embed_prompts(m, TEXTS, NTXT, &tp, ref_pr));
    for (int variant = 0; variant < 2; variant++) {
        worker w[2];
        for (int t = 0; t < 2; t++) {
            memset(&w[t], 0, sizeof w[t]);
            w[t].m = m; w[t].px = px; w[t].rounds = 4; w[t].e = e; w[t].threads = threads;
            w[t].ref_img = ref_img; w[t].ref_txt = ref_txt; w[t].ref_prompts = ref_pr;
        }
        w[1].plain = variant && threads == new_thread_default();
        pthread_t th[2];
        for (int t = 0; t < 2; t++) TAC_REQUIRE(pthread_create(&th[t], NULL, work, &w[t]) == 0);
        for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
        for (int t = 0; t < 2; t++) {
            printf("    %s, thread %d (%s, %d threads): %d rounds, %d mismatches, %d errors%s%s\n", label, t,
                   w[t].plain ? "plain calls" : "own state", w[t].threads, w[t].rounds, w[t].mismatches, w[t].errors,
                   w[t].errors ? ": " : "", w[t].why);
            TAC_CHECK_INT(w[t].errors, 0);
            TAC_CHECK_INT(w[t].mismatches, 0);
        }
    }
    free(px);
}

TAC_TEST(clip_threads_shared_model_bit_identical)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_FP32));
    /* the settings a call may change for a while and must give back */
    int blas0 = openblas_get_num_threads(), omp0 = omp_get_max_threads();
    openblas_set_num_threads(3);
    omp_set_num_threads(2);
    shared_model_round(m, "fp32", 2);
    shared_model_round(m, "fp32", 1);
    TAC_CHECK_INT(openblas_get_num_threads(), 3);
    TAC_CHECK_INT(omp_get_max_threads(), 2);
    /* a state with 1 thread: no workers side by side, BLAS set to 1 thread during the call, restored after */
    tac_clip_state *st;
    TAC_CHECK_OK(tac_clip_state_new(m, 1, &st));
    float *px = pixels(3, tac_clip_image_size(m)), out[3 * 64], ref[3 * 64];
    TAC_CHECK_OK(tac_clip_encode_images_st(st, px, 3, out));
    omp_set_num_threads(1);
    TAC_CHECK_OK(tac_clip_encode_images(m, px, 3, ref));
    omp_set_num_threads(2);
    TAC_CHECK(memcmp(out, ref, sizeof(float) * 3 * (size_t)tac_clip_embed_dim(m)) == 0);
    TAC_CHECK_INT(openblas_get_num_threads(), 3);
    TAC_CHECK_INT(omp_get_max_threads(), 2);
    tac_clip_state_free(st);
    TAC_CHECK_ERR(tac_clip_state_new(m, -1, &st), "threads -1");
    TAC_CHECK(st == NULL);
    free(px);
    if (tac_clip_bf16_available()) {             /* bf16: the packed weights are shared, the oneDNN state is not */
        TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_BF16));
        shared_model_round(m, "bf16", 2);
    } else {
        printf("    bf16 round skipped: no native bf16 here\n");
    }
    openblas_set_num_threads(blas0);
    omp_set_num_threads(omp0);
    tac_clip_free(m);
}

/* A copy of the tiny model without its tokenizer files. */
static const char *copy_without_tokenizer(void)
{
    const char *d = tac_test_path(tac_test_tmpdir(), "notok");
    if (tac_test_sh("mkdir -p '%s' && cp " TINY "/config.json " TINY "/model.safetensors '%s'/", d, d) != 0) return NULL;
    return d;
}

TAC_TEST(clip_tokenizer_loaded_with_the_model)
{
    char dir[4096];
    const char *d = copy_without_tokenizer();
    TAC_REQUIRE(d);
    snprintf(dir, sizeof dir, "%s", d);
    tac_clip *ref, *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &ref));
    TAC_CHECK(tac_clip_tokenizer(ref) != NULL);
    int e = tac_clip_embed_dim(ref);
    float *px = pixels(2, tac_clip_image_size(ref)), a[2 * 64], b[2 * 64], t[3 * 64], u[3 * 64];
    TAC_CHECK_OK(tac_clip_encode_images(ref, px, 2, a));
    TAC_CHECK_OK(tac_clip_encode_texts(ref, TEXTS, 3, t));

    /* no tokenizer: images yes, text no (saying why), and no fall-back to ../shared or $TACLUST_BPE */
    setenv("TACLUST_BPE", TINY, 1);
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    unsetenv("TACLUST_BPE");
    TAC_CHECK_OK(tac_clip_encode_images(m, px, 2, b));
    TAC_CHECK(memcmp(a, b, sizeof(float) * 2 * e) == 0);
    TAC_CHECK(tac_clip_tokenizer(m) == NULL);
    TAC_CHECK(strstr(tac_last_error(), "no tokenizer") != NULL);
    TAC_CHECK_ERR(tac_clip_encode_texts(m, TEXTS, 3, u), "no tokenizer");
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    TAC_CHECK_ERR(tac_embed_prompts(m, TEXTS, 3, &tp, u), "no tokenizer");
    printf("    without a tokenizer: %s\n", tac_last_error());
    tac_clip_free(m);

    /* an explicit tokenizer: the same text features */
    tac_clip_load_params lp = tac_clip_load_default_params();
    lp.tokenizer = TINY;
    TAC_CHECK_OK(tac_clip_load_ex(dir, &lp, &m));
    TAC_CHECK_OK(tac_clip_encode_texts(m, TEXTS, 3, u));
    TAC_CHECK(memcmp(t, u, sizeof(float) * 3 * e) == 0);
    tac_clip_free(m);
    /* the fallback form: the folder's own files first (a wrong fallback is not even read) */
    lp.tokenizer = "/nonexistent/tokenizer";
    lp.tokenizer_fallback = 1;
    TAC_CHECK_OK(tac_clip_load_ex(TINY, &lp, &m));
    TAC_CHECK_OK(tac_clip_encode_texts(m, TEXTS, 3, u));
    TAC_CHECK(memcmp(t, u, sizeof(float) * 3 * e) == 0);
    tac_clip_free(m);
    /* an explicit path that is not a tokenizer fails the load, naming it */
    lp.tokenizer_fallback = 0;
    TAC_CHECK_ERR(tac_clip_load_ex(TINY, &lp, &m), "/nonexistent/tokenizer");
    TAC_CHECK(m == NULL);
    /* broken tokenizer files in the folder fail the load too */
    TAC_REQUIRE(tac_test_sh("cp " TINY "/merges.txt '%s'/ && echo '{\"a\": 1}' > '%s'/vocab.json", dir, dir) == 0);
    TAC_CHECK_ERR(tac_clip_load(dir, &m), "vocab.json");
    free(px);
    tac_clip_free(ref);
}

/* ---- allocation failure ------------------------------------------------------------------------------------ */
#if defined(__SANITIZE_ADDRESS__)
#define TAC_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAC_UNDER_ASAN 1
#endif
#endif

/* The process's address-space size and its private writable ("data") size now, in bytes (/proc/self/statm). */
static void vm_sizes(size_t *as, size_t *data)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long v[6] = {0};
    if (f) {
        for (int i = 0; i < 6; i++) if (fscanf(f, "%lu", &v[i]) != 1) break;
        fclose(f);
    }
    *as = (size_t)v[0] * (size_t)sysconf(_SC_PAGESIZE);
    *data = (size_t)v[5] * (size_t)sysconf(_SC_PAGESIZE);
}

enum { STEP_LOAD, STEP_IMAGES, STEP_TEXTS };
#define NBIG 32          /* images of one chunk: about 40 MB of workspace for the tiny model's 224 x 224 input */

/* In a child: limit the address space to its size + slack, run one step. Exit 0: TAC_OK; 1: TAC_ERR with a reason
 * about memory; 2: TAC_ERR with another reason (printed); 3: TAC_ERR without a reason. Anything else (a signal
 * such as SIGABRT or SIGSEGV) fails the test. */
static int child_step(int step, size_t slack, tac_clip *m, const float *px)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        omp_set_num_threads(1);               /* the parent's OpenMP threads are not in the child */
        openblas_set_num_threads(1);
        float out[NTXT * 64];
        static float big[NBIG * 64];
        tac_clip_state *st = NULL;
        tac_clip *mm = NULL;
        /* RLIMIT_AS: new mappings; RLIMIT_DATA: also memory that malloc's thread arenas had reserved before and
         * only make writable now (mprotect, no new address space) */
        size_t as, data;
        vm_sizes(&as, &data);
        struct rlimit ra = {as, RLIM_INFINITY}, rd = {data, RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &ra) != 0 || setrlimit(RLIMIT_DATA, &rd) != 0) _exit(4);
        /* with no room at all, take what the heap kept from earlier tests (freed memory malloc reuses without new
         * mappings), so that the step's allocations need new memory; then allow exactly `slack` more */
        for (size_t sz = (size_t)1 << 20; sz >= 64; sz /= 16)
            for (int i = 0; i < 1000000 && malloc(sz); i++) {}
        vm_sizes(&as, &data);
        ra.rlim_cur = as + slack;
        rd.rlim_cur = data + slack;
        if (setrlimit(RLIMIT_AS, &ra) != 0 || setrlimit(RLIMIT_DATA, &rd) != 0) _exit(4);
        int rc;
        if (step == STEP_LOAD) rc = tac_clip_load(TINY, &mm);
        else if ((rc = tac_clip_state_new(m, 1, &st)) == TAC_OK)
            rc = step == STEP_IMAGES ? tac_clip_encode_images_st(st, px, NBIG, big) : tac_clip_encode_texts_st(st, TEXTS, NTXT, out);
        if (rc == TAC_OK) _exit(0);
        const char *e = tac_last_error();
        if (!e[0]) _exit(3);
        if (strstr(e, "memory") || strstr(e, "allocate")) _exit(1);
        fprintf(stderr, "    (slack %zu KB: %s)\n", slack >> 10, e);
        _exit(2);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

TAC_TEST(clip_allocation_failure_is_an_error)
{
#ifdef TAC_UNDER_ASAN
    TAC_SKIP("RLIMIT_AS sweep skipped under AddressSanitizer (its allocator reserves terabytes of address space)");
#else
    if (!getenv("TAC_ALLOC_FRESH")) {
        /* a fresh process: here, the thread arenas of earlier tests hold freed memory that malloc reuses under any
         * limit, so the run_tests binary runs this test alone */
        const char *log = tac_test_path(tac_test_tmpdir(), "alloc.txt");
        int rc = tac_test_sh("TAC_ALLOC_FRESH=1 /proc/%d/exe clip_allocation_failure_is_an_error > '%s' 2>&1",
                             (int)getpid(), log);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "RLIMIT") || strstr(line, "FAIL") || strstr(line, "slack")) fputs(line, stdout);
        if (f) fclose(f);
        TAC_CHECK_INT(rc, 0);
        return;
    }
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_FP32));
    float *px = pixels(NBIG, tac_clip_image_size(m));
    TAC_REQUIRE(px);
    /* OpenBLAS allocates its own work buffer at a thread's first product and cannot fail gracefully (it retries
     * forever): warm it up here, in the thread the children are forked from, with the single-threaded BLAS they use */
    {
        static float warm[NBIG * 64];
        tac_clip_state *st;
        TAC_CHECK_OK(tac_clip_state_new(m, 1, &st));
        TAC_CHECK_OK(tac_clip_encode_images_st(st, px, NBIG, warm));
        TAC_CHECK_OK(tac_clip_encode_texts_st(st, TEXTS, NTXT, warm));
        tac_clip_state_free(st);
    }
    static const char *const names[] = {"tac_clip_load", "tac_clip_encode_images_st", "tac_clip_encode_texts_st"};
    for (int step = STEP_LOAD; step <= STEP_TEXTS; step++) {
        int count[4] = {0}, crashed = 0;
        /* limits from 0 to 24 (images: 64) MB above the child's size: the first fail at the first allocation, later
         * ones deeper in, the last ones succeed */
        size_t most = step == STEP_IMAGES ? (size_t)64 << 20 : (size_t)24 << 20;
        size_t by = step == STEP_IMAGES ? (size_t)4 << 20 : (size_t)1 << 20;
        for (size_t slack = 0; slack <= most; slack += by) {
            int r = child_step(step, slack, m, px);
            if (r >= 0 && r <= 3) count[r]++;
            else {
                crashed++;
                tac_test_fail_at(__FILE__, __LINE__, "%s with %zu KB of address space left: child %s %d", names[step],
                                 slack >> 10, r >= 100 ? "killed by signal" : "exit", r >= 100 ? r - 100 : r);
            }
        }
        printf("    %s under RLIMIT_AS: %d succeeded, %d failed with a memory error, %d with another error, %d with "
               "no reason, %d crashed\n", names[step], count[0], count[1], count[2], count[3], crashed);
        TAC_CHECK(count[1] > 0);       /* the limit did bite, and the failure was reported as an error */
        TAC_CHECK(count[0] > 0);       /* and with room enough the same call works in the child */
        TAC_CHECK_INT(count[3], 0);
        TAC_CHECK_INT(crashed, 0);
    }
    free(px);
    tac_clip_free(m);
#endif
}
