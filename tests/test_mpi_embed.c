/* test_mpi_embed.c - `mpirun -np N taclust embed-images | embed-text` against the single-process run, on the tiny
 * committed CLIP (tests/fixtures/clip/tiny) and the photos of ../shared plus two unreadable files:
 *   - embed-images and embed-text (prompts with a repeat and an empty line; nouns x 7 templates) with 2 and 3 ranks
 *     write the same bytes (cmp) as one process with the same threads per rank, the skipped list included, and
 *     leave no cache behind;
 *   - resume (embed-text too): a run whose rank 0 cannot write its cache (TACLUST_DEBUG_FAIL_WRITE) fails on every rank naming rank
 *     0, writes no output, and leaves rank 1's finished batches in X.cache/rank-1.bin; the rerun (same N, and
 *     another N) says it took those batches from the caches and writes the single-process bytes;
 *   - bench: the split files and the noun embeddings (the per-user cache) with 2 ranks are the single process's bytes;
 *     split parts of a failed run are reused by a rerun with another N;
 *   - a rank whose model does not exist (Open MPI's MPMD form) ends the job: exit status non-zero, stderr names
 *     rank 1, no output file.
 * The library and program parts are also run on the tests' thread transport (tests/tac_test_comm.h: no MPI needed,
 * runs under the sanitizers): tac_embed_prompts_dist / tac_embed_nouns_dist and tac_dist_embed_images with 1 to 3
 * ranks against the single-process calls, byte for byte.
 * Skips (saying why) without MPI, without the tiny model or without the photos.
 */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "app/tac_app.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/textspace.h"

#include <unistd.h>

#define TINY_CLIP "tests/fixtures/clip/tiny"
/* the single-process runs use the threads tac_test_mpirun gives each rank */
#define ONE_THREAD "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"

static char g_model[1024], g_bin[1024];

/* NULL when the test can run, else why not (photos: the test needs ../shared's photos). Sets g_model and g_bin
 * (absolute). */
static const char *setup_for(int photos)
{
    const char *why = tac_test_mpi_missing();
    if (why) return why;
    if (access(TINY_CLIP "/config.json", R_OK) != 0) return "tiny CLIP model not present at " TINY_CLIP;
    if (photos && access(tac_test_path(tac_test_shared(), "datasets/photos/coffee.png"), R_OK) != 0)
        return "../shared/datasets/photos not found";
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd)) return "no working folder";
    const char *bin = tac_test_bin();
    snprintf(g_model, sizeof g_model, "%s/%s", cwd, TINY_CLIP);
    if (bin[0] == '/') snprintf(g_bin, sizeof g_bin, "%s", bin);
    else snprintf(g_bin, sizeof g_bin, "%s/%s", cwd, bin);
    return NULL;
}
static const char *setup(void) { return setup_for(1); }

/* dir/in: the 12 photos and two unreadable images, 14 in all; in walk order aaa_zero.png is image 0 (batch 0 of
 * 3) and corrupt.jpg image 6 (batch 2), so with batch 3 and 2 ranks every batch of rank 1 (images 9..13) is whole. */
static void make_images(const char *dir)
{
    int rc = tac_test_sh("mkdir -p '%s/in' && cp '%s'/datasets/photos/* '%s/in/' && printf 'not a JPEG' > '%s/in/corrupt.jpg' "
                         "&& : > '%s/in/aaa_zero.png'", dir, tac_test_shared(), dir, dir, dir);
    if (rc != 0) tac_test_fail_at(__FILE__, __LINE__, "could not build the image folder");
}

/* 1 when dir/a<name> and dir/b<name> have the same bytes */
static int same(const char *dir, const char *a, const char *b)
{
    return tac_test_sh("cmp -s '%s/%s' '%s/%s'", dir, a, dir, b) == 0;
}

static int images_run(int np, const char *dir, const char *sub, const char *env)
{
    if (np == 1)
        return tac_test_sh(ONE_THREAD " %s embed-images --model '%s' --batch 3 --out '%s/%s/x.npy' '%s/in' 2>'%s/%s.err'",
                           g_bin, g_model, dir, sub, dir, dir, sub);
    return tac_test_mpirun(np, "%s %s embed-images --model '%s' --batch 3 --out '%s/%s/x.npy' '%s/in' 2>'%s/%s.err'",
                           env ? env : "", g_bin, g_model, dir, sub, dir, dir, sub);
}

TAC_TEST(mpi_embed_images_same_bytes_with_2_and_3_ranks)
{
    const char *why = setup();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    make_images(dir);
    TAC_REQUIRE(images_run(1, dir, "one", NULL) == 0);
    char *txt; size_t len;
    TAC_CHECK_OK(tac_read_file(tac_test_path(dir, "one/x.skipped.txt"), &txt, &len));
    TAC_CHECK(strstr(txt, "/in/aaa_zero.png\t") && strstr(txt, "/in/corrupt.jpg\t"));
    free(txt);
    const char *subs[2] = {"two", "three"};
    for (int np = 2; np <= 3; np++) {
        const char *s = subs[np - 2];
        TAC_CHECK_INT(images_run(np, dir, s, NULL), 0);
        char a[64], b[64];
        static const char *files[3] = {"x.npy", "x.paths.txt", "x.skipped.txt"};
        for (int f = 0; f < 3; f++) {
            snprintf(a, sizeof a, "one/%s", files[f]);
            snprintf(b, sizeof b, "%s/%s", s, files[f]);
            if (!same(dir, a, b)) tac_test_fail_at(__FILE__, __LINE__, "-np %d: %s differs from the single process", np, files[f]);
        }
        /* the skipped images said once, by rank 0, and the caches gone */
        TAC_CHECK_INT(tac_test_sh("test $(grep -c 'skipped .*corrupt.jpg' '%s/%s.err') = 1", dir, s), 0);
        TAC_CHECK(access(tac_test_path(dir, b), F_OK) == 0);
        char cache[64];
        snprintf(cache, sizeof cache, "%s/x.cache", s);
        TAC_CHECK(access(tac_test_path(dir, cache), F_OK) != 0);
    }
}

TAC_TEST(mpi_embed_text_same_bytes_with_2_and_3_ranks)
{
    const char *why = setup_for(0);   /* text only: no photos needed */
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    /* 60 nouns (a few repeated, one differing only in case) and prompts with a repeat and an empty line */
    int rc = tac_test_sh("cd '%s' && for w in cat dog tabby kitten car truck boat ship plane bird eagle owl fish shark "
                         "tree rose tulip apple pear lemon house castle bridge road river lake hill mountain cloud "
                         "storm; do echo $w; echo \"small $w\"; done > nouns.txt && echo Cat >> nouns.txt && echo dog "
                         ">> nouns.txt && (echo 'a photo of a cat'; echo; echo 'a photo of a cat'; head -40 nouns.txt) "
                         "> prompts.txt", dir);
    TAC_REQUIRE(rc == 0);
    TAC_REQUIRE(tac_test_sh("cd '%s' && " ONE_THREAD " %s -q embed-text --model '%s' --batch 8 --out n1.npy --nouns nouns.txt "
                            "&& " ONE_THREAD " %s -q embed-text --model '%s' --batch 5 --out p1.npy --prompts prompts.txt",
                            dir, g_bin, g_model, g_bin, g_model) == 0);
    for (int np = 2; np <= 3; np++) {
        TAC_CHECK_INT(tac_test_mpirun(np, "sh -c \"cd '%s' && %s -q embed-text --model '%s' --batch 8 --out n%d.npy "
                                      "--nouns nouns.txt\"", dir, g_bin, g_model, np), 0);
        TAC_CHECK_INT(tac_test_mpirun(np, "sh -c \"cd '%s' && %s -q embed-text --model '%s' --batch 5 --out p%d.npy "
                                      "--prompts prompts.txt\"", dir, g_bin, g_model, np), 0);
        char a[16], b[16];
        snprintf(a, sizeof a, "n%d.npy", np);
        snprintf(b, sizeof b, "p%d.npy", np);
        if (!same(dir, "n1.npy", a)) tac_test_fail_at(__FILE__, __LINE__, "-np %d: nouns differ from the single process", np);
        if (!same(dir, "p1.npy", b)) tac_test_fail_at(__FILE__, __LINE__, "-np %d: prompts differ from the single process", np);
    }
    /* resume: rank 0 of 2 cannot write its cache, rank 1 keeps its batches in nr.cache/rank-1.bin; the rerun with 3
     * ranks takes them from there (its batches are keyed by their tokens, whatever N) and writes the same bytes */
    TAC_CHECK(tac_test_mpirun(2, "-x TACLUST_DEBUG_FAIL_WRITE=rank-0 sh -c \"cd '%s' && %s embed-text --model '%s' --batch 8 "
                              "--out nr.npy --nouns nouns.txt 2>nr.err\"", dir, g_bin, g_model) != 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'rank 0 of 2: .*rank-0.bin: write failed' '%s/nr.err'", dir), 0);
    TAC_CHECK(access(tac_test_path(dir, "nr.npy"), F_OK) != 0);
    TAC_CHECK_INT(tac_test_sh("test $(stat -c %%s '%s/nr.cache/rank-1.bin') -gt 1000", dir), 0);
    TAC_CHECK_INT(tac_test_mpirun(3, "sh -c \"cd '%s' && %s embed-text --model '%s' --batch 8 --out nr.npy --nouns nouns.txt "
                                  "2>nr.err\"", dir, g_bin, g_model), 0);
    TAC_CHECK_INT(tac_test_sh("grep -q '[1-9][0-9]* batches taken from the ranks. embedding caches' '%s/nr.err'", dir), 0);
    TAC_CHECK(same(dir, "n1.npy", "nr.npy"));
    TAC_CHECK(access(tac_test_path(dir, "nr.cache"), F_OK) != 0);
}

TAC_TEST(mpi_embed_images_resume_from_rank_caches)
{
    const char *why = setup();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    make_images(dir);
    TAC_REQUIRE(images_run(1, dir, "one", NULL) == 0);
    /* rank 0's cache cannot be written: every rank fails, naming rank 0; rank 1 finished its batches (9..13) */
    const char *fail = "-x TACLUST_DEBUG_FAIL_WRITE=rank-0";
    for (int np = 2; np <= 3; np++) {
        TAC_CHECK(images_run(2, dir, "res", fail) != 0);
        TAC_CHECK_INT(tac_test_sh("grep -q 'rank 0 of 2: .*rank-0.bin: write failed' '%s/res.err'", dir), 0);
        TAC_CHECK(access(tac_test_path(dir, "res/x.npy"), F_OK) != 0);
        TAC_CHECK(access(tac_test_path(dir, "res/x.paths.txt"), F_OK) != 0);
        /* rank 1's file holds its 5 images (records of >= 16 floats each) */
        TAC_CHECK_INT(tac_test_sh("test $(stat -c %%s '%s/res/x.cache/rank-1.bin') -gt 400", dir), 0);
        /* the rerun (np 2: the same shares; np 3: rank 1 and rank 2 find batches 3 and 4 in rank-1.bin) */
        TAC_CHECK_INT(images_run(np, dir, "res", NULL), 0);
        TAC_CHECK_INT(tac_test_sh("grep -q '2 of 5 batches taken from the ranks. embedding caches' '%s/res.err'", dir), 0);
        TAC_CHECK(same(dir, "one/x.npy", "res/x.npy") && same(dir, "one/x.paths.txt", "res/x.paths.txt") &&
                  same(dir, "one/x.skipped.txt", "res/x.skipped.txt"));
        TAC_CHECK(access(tac_test_path(dir, "res/x.cache"), F_OK) != 0);
        TAC_CHECK_INT(tac_test_sh("rm -rf '%s/res'", dir), 0);
    }
}

TAC_TEST(mpi_embed_failing_rank_ends_the_job)
{
    const char *why = setup();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    make_images(dir);
    int rc = tac_test_mpirun(1, "%s embed-images --model '%s' --batch 3 --out '%s/bad/x.npy' '%s/in' : -np 1 %s "
                             "embed-images --model /nonexistent --batch 3 --out '%s/bad/x.npy' '%s/in' >/dev/null 2>'%s/err'",
                             g_bin, g_model, dir, dir, g_bin, dir, dir, dir);
    TAC_CHECK(rc != 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'taclust embed-images: rank 1 of 2: /nonexistent' '%s/err'", dir), 0);
    TAC_CHECK(access(tac_test_path(dir, "bad/x.npy"), F_OK) != 0);
    /* embed-text: the same, and the nouns file missing on rank 0 only is rank 0's failure */
    TAC_REQUIRE(tac_test_sh("printf 'cat\\ndog\\n' > '%s/nouns.txt'", dir) == 0);
    rc = tac_test_mpirun(1, "%s embed-text --model '%s' --out '%s/t.npy' --nouns '%s/nouns.txt' : -np 1 %s embed-text "
                         "--model /nonexistent --out '%s/t.npy' --nouns '%s/nouns.txt' >/dev/null 2>'%s/err2'",
                         g_bin, g_model, dir, dir, g_bin, dir, dir, dir);
    TAC_CHECK(rc != 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'taclust embed-text: rank 1 of 2: /nonexistent' '%s/err2'", dir), 0);
    TAC_CHECK(access(tac_test_path(dir, "t.npy"), F_OK) != 0);
    rc = tac_test_mpirun(2, "%s embed-text --model '%s' --out '%s/t.npy' --nouns '%s/missing.txt' >/dev/null 2>'%s/err3'",
                         g_bin, g_model, dir, dir, dir);
    TAC_CHECK(rc != 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'rank 0 of 2: .*missing.txt' '%s/err3'", dir), 0);
    TAC_CHECK(access(tac_test_path(dir, "t.npy"), F_OK) != 0);
}

TAC_TEST(mpi_embed_bench_split_bytes_with_2_ranks)
{
    const char *why = setup();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    char tarp[1024];
    snprintf(tarp, sizeof tarp, "%s/datasets/cifar10-jpeg-q75.tar", tac_test_shared());
    if (access(tarp, R_OK) != 0) TAC_SKIP("../shared/datasets/cifar10-jpeg-q75.tar not found");
    /* 20 images per class and split (200 + 200: 7 batches of 32 per split, shared 4 + 3) and a small vocabulary */
    TAC_REQUIRE(tac_test_sh("tar -xf '%s' -C '%s' --wildcards 'cifar10-jpeg/*/*/00[0-1][0-9].jpg'", tarp, dir) == 0);
    TAC_REQUIRE(tac_test_sh("cd '%s' && for w in cat dog car truck ship plane bird deer frog horse tree house road lake "
                            "boat cloud apple rose fish owl; do echo $w; done > voc.txt", dir) == 0);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    TAC_REQUIRE(tac_test_sh("cd '%s' && " ONE_THREAD " %s bench cifar10 --data cifar10-jpeg --model '%s' --vocabulary voc.txt "
                            "--no-train-only --out b1 >b1.log 2>&1", dir, g_bin, g_model) == 0);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg2"), 1);   /* empty: the ranks embed the nouns themselves */
    int rc = tac_test_mpirun(2, "-x XDG_CACHE_HOME sh -c \"cd '%s' && %s bench cifar10 --data cifar10-jpeg --model '%s' "
                             "--vocabulary voc.txt --no-train-only --out b2 >b2.log 2>&1\"", dir, g_bin, g_model);
    unsetenv("XDG_CACHE_HOME");
    /* the noun embeddings the two ranks computed together, cached by rank 0: the single process's bytes */
    TAC_CHECK_INT(tac_test_sh("cd '%s' && a=$(ls xdg/taclust/*/nouns-*.npy) && b=$(ls xdg2/taclust/*/nouns-*.npy) && "
                              "test \"${a#xdg}\" = \"${b#xdg2}\" && cmp -s \"$a\" \"$b\"", dir), 0);
    /* the embedding stage: the split files are the single process's bytes, the parts are gone */
    TAC_CHECK(same(dir, "b1/train.npy", "b2/train.npy"));
    TAC_CHECK(same(dir, "b1/test.npy", "b2/test.npy"));
    TAC_CHECK(access(tac_test_path(dir, "b2/train.parts"), F_OK) != 0);
    /* the fit stage over the 2 ranks (tac_fit with the communicator): the same metrics, printed once (as many
     * lines naming TAC (no train) as the single process's log) */
    TAC_CHECK_INT(rc, 0);
    TAC_CHECK(same(dir, "b1/metrics.json", "b2/metrics.json"));
    TAC_CHECK_INT(tac_test_sh("test $(grep -c 'TAC (no train)' '%s/b2.log') = $(grep -c 'TAC (no train)' '%s/b1.log')",
                              dir, dir), 0);
    /* resume across N: rank 0 of 2 cannot write its first part (rows 0..127 of 200), rank 1 keeps rows 128..199;
     * with 3 ranks (shares 0..95, 96..159, 160..199 of whole batches) rank 2 takes its rows from that part and
     * writes none, rank 1 embeds 96..159 again (only partly covered); then a clean run gives the same bytes */
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    const char *run = "-x XDG_CACHE_HOME -x TACLUST_DEBUG_FAIL_WRITE=rows-000000000000 sh -c \"cd '%s' && %s bench cifar10 "
                      "--data cifar10-jpeg --model '%s' --vocabulary voc.txt --no-train-only --out b3 >b3.log 2>&1\"";
    TAC_CHECK(tac_test_mpirun(2, run, dir, g_bin, g_model) != 0);
    TAC_CHECK_INT(tac_test_sh("grep -q 'rank 0 of 2: .*rows-000000000000-000000000128.npy' '%s/b3.log'", dir), 0);
    TAC_CHECK_INT(tac_test_sh("test -f '%s/b3/train.parts/rows-000000000128-000000000200.npy'", dir), 0);
    TAC_CHECK(tac_test_mpirun(3, run, dir, g_bin, g_model) != 0);
    TAC_CHECK_INT(tac_test_sh("test -f '%s/b3/train.parts/rows-000000000096-000000000160.npy'", dir), 0);
    TAC_CHECK_INT(tac_test_sh("test ! -e '%s/b3/train.parts/rows-000000000160-000000000200.npy'", dir), 0);
    /* a clean run on 3 ranks: the same split files, the whole job succeeds */
    rc = tac_test_mpirun(3, "-x XDG_CACHE_HOME sh -c \"cd '%s' && %s bench cifar10 --data cifar10-jpeg --model '%s' "
                         "--vocabulary voc.txt --no-train-only --out b3 >b3.log 2>&1\"", dir, g_bin, g_model);
    TAC_CHECK_INT(rc, 0);
    TAC_CHECK(same(dir, "b1/metrics.json", "b3/metrics.json"));
    unsetenv("XDG_CACHE_HOME");
    TAC_CHECK(same(dir, "b1/train.npy", "b3/train.npy") && same(dir, "b1/test.npy", "b3/test.npy"));
    TAC_CHECK(access(tac_test_path(dir, "b3/train.parts"), F_OK) != 0);
}

/* ---- the same on the thread transport ---------------------------------------------------------------------- */

typedef struct {
    tac_clip *m;
    const char *const *texts;
    int64_t n;
    int nouns;          /* 1: tac_embed_nouns_dist with the 7 templates, 0: prompts */
    float *out[3];      /* per rank: n x E */
    const char *const *paths;   /* images */
    const char *cache;
    tac_dist_images img[3];
} dist_args;

static int text_rank(const tac_comm *c, void *arg)
{
    dist_args *a = arg;
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = 6; p.label = NULL; p.threads = 1;
    return a->nouns ? tac_embed_nouns_dist(a->m, a->texts, a->n, tac_prompt_templates, TAC_NUM_TEMPLATES, &p, c,
                                           a->out[c->rank])
                    : tac_embed_prompts_dist(a->m, a->texts, a->n, &p, c, a->out[c->rank]);
}

TAC_TEST(mpi_embed_threads_text_same_bytes)
{
    if (access(TINY_CLIP "/config.json", R_OK) != 0) TAC_SKIP("tiny CLIP model not present at " TINY_CLIP);
    static const char *const words[] = {"cat", "dog", "Cat", "a photo of a cat", "", "tabby kitten", "car", "dog",
                                        "sailing boat", "lighthouse", "owl", "red fox", "bridge", "castle", "tulip",
                                        "snow", "eagle", "pear", "truck", "cloud"};
    const int64_t n = (int64_t)(sizeof words / sizeof words[0]);
    dist_args a;
    memset(&a, 0, sizeof a);
    TAC_REQUIRE(tac_clip_load(TINY_CLIP, &a.m) == TAC_OK);
    const int E = tac_clip_embed_dim(a.m);
    a.texts = words; a.n = n;
    float *ref = tac_xmalloc((size_t)n * E, sizeof(float));   /* n x E */
    for (int r = 0; r < 3; r++) a.out[r] = tac_xmalloc((size_t)n * E, sizeof(float));
    for (a.nouns = 0; a.nouns <= 1; a.nouns++) {
        tac_embed_text_params p = tac_embed_text_default_params();
        p.batch = 6; p.label = NULL; p.threads = 1;
        TAC_CHECK_OK(a.nouns ? tac_embed_nouns(a.m, words, n, tac_prompt_templates, TAC_NUM_TEMPLATES, &p, ref)
                             : tac_embed_prompts(a.m, words, n, &p, ref));
        for (int R = 1; R <= 3; R++) {
            for (int r = 0; r < R; r++) memset(a.out[r], 0xff, (size_t)n * E * sizeof(float));
            int rcs[3];
            char errs[3][512];
            if (tac_test_run_ranks(R, text_rank, &a, rcs, errs) != 0)
                tac_test_fail_at(__FILE__, __LINE__, "R=%d: %s", R, errs[0]);
            for (int r = 0; r < R; r++)
                if (memcmp(a.out[r], ref, (size_t)n * E * sizeof(float)) != 0)
                    tac_test_fail_at(__FILE__, __LINE__, "%s, %d ranks: rank %d's rows differ from the single call",
                                     a.nouns ? "nouns" : "prompts", R, r);
        }
    }
    /* a bad argument on every rank is one agreed failure */
    a.nouns = 1;
    a.n = -1;
    int rcs[2];
    char errs[2][512];
    TAC_CHECK(tac_test_run_ranks(2, text_rank, &a, rcs, errs) != 0);
    TAC_CHECK(rcs[0] == TAC_ERR && rcs[1] == TAC_ERR && strstr(errs[1], "rank 0 of 2: ") != NULL);
    for (int r = 0; r < 3; r++) free(a.out[r]);
    free(ref);
    tac_clip_free(a.m);
}

static int images_rank(const tac_comm *c, void *arg)
{
    dist_args *a = arg;
    return tac_dist_embed_images(c, a->m, a->paths, a->n, 224, 3, a->cache, &a->img[c->rank]);
}

TAC_TEST(mpi_embed_threads_images_same_bytes_and_resume)
{
    const char *why = NULL;
    if (access(TINY_CLIP "/config.json", R_OK) != 0) why = "tiny CLIP model not present at " TINY_CLIP;
    else if (access(tac_test_path(tac_test_shared(), "datasets/photos/coffee.png"), R_OK) != 0)
        why = "../shared/datasets/photos not found";
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    make_images(dir);
    char **paths; int64_t n;
    const char *in[1] = {tac_test_path(dir, "in")};
    TAC_REQUIRE(tac_list_inputs(in, 1, NULL, &paths, &n) == TAC_OK && n == 14);
    dist_args a;
    memset(&a, 0, sizeof a);
    TAC_REQUIRE(tac_clip_load(TINY_CLIP, &a.m) == TAC_OK);
    const int E = tac_clip_embed_dim(a.m);
    a.paths = (const char *const *)paths; a.n = n;
    char cache[1024];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    a.cache = cache;
    float *ref = tac_xmalloc((size_t)n * E, sizeof(float));   /* n x E */
    int8_t ok[14];
    tac_embed_images_params p = tac_embed_images_default_params();
    p.batch = 3; p.label = NULL;
    TAC_REQUIRE(tac_embed_images(a.m, a.paths, n, &p, ref, ok, NULL) == TAC_OK);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (ok[i]) memmove(ref + (size_t)k++ * E, ref + (size_t)i * E, (size_t)E * sizeof(float));
    TAC_CHECK_INT(k, 12);
    for (int pass = 0; pass < 2; pass++)     /* pass 1: every batch without an unreadable image from the caches */
        for (int R = 1; R <= 3; R++) {
            int rcs[3];
            char errs[3][512];
            if (tac_test_run_ranks(R, images_rank, &a, rcs, errs) != 0) {
                tac_test_fail_at(__FILE__, __LINE__, "R=%d: %s", R, errs[0]);
                continue;
            }
            tac_dist_images *o = &a.img[0];
            TAC_CHECK_INT(o->nok, 12);
            TAC_CHECK_INT(o->nskipped, 2);
            TAC_CHECK_INT(o->nbatches, 5);
            /* batches 0 and 2 hold the unreadable images; the other 3 come from the caches of the earlier calls */
            TAC_CHECK_INT(o->cached_batches, pass == 0 && R == 1 ? 0 : 3);
            if (o->nok == 12 && memcmp(o->X, ref, (size_t)12 * E * sizeof(float)) != 0)
                tac_test_fail_at(__FILE__, __LINE__, "pass %d, %d ranks: rows differ from tac_embed_images", pass, R);
            if (o->nskipped == 2) {
                TAC_CHECK(o->skipped[0] == 0 && o->skipped[1] == 6);
                TAC_CHECK(strstr(o->why[0], "empty") != NULL);
            }
            for (int r = 1; r < R; r++) TAC_CHECK(a.img[r].X == NULL && a.img[r].nok == 0);
            for (int r = 0; r < R; r++) tac_dist_images_free(&a.img[r]);
        }
    tac_free_strings(paths, n);
    free(ref);
    tac_clip_free(a.m);
}
