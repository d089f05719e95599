/* test_embed.c - tests of the embedding jobs (include/taclust/embed.h) and of `taclust embed-images` and
 * `taclust embed-text`:
 *   - input listing: recursive bytewise walk, hidden names, extensions, symlink loops, explicit files, --list;
 *   - the commands on the tiny committed CLIP (tests/fixtures/clip/tiny/) over photos of ../shared plus a
 *     corrupt and a zero-byte file: rows, paths.txt order, skipped list, and every row equal to calling the
 *     library on that one image; embed-text --nouns equal to the normalised mean of per-template library calls;
 *   - tac_embed_prompts (sorting, dedup, context cut, order restored) against one tac_clip_encode_texts call
 *     per prompt; the batch callback and stopping from it.
 * The model tests skip (saying why) while the tiny model is absent.
 */
#include "tac_test.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/image.h"

#include <unistd.h>

#define TINY_CLIP "tests/fixtures/clip/tiny"

static const char *tiny_model(void)
{
    return access(TINY_CLIP "/config.json", R_OK) == 0 ? TINY_CLIP : NULL;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) { tac_test_fail_at(__FILE__, __LINE__, "cannot write %s", path); return; }
    fputs(text, f);
    fclose(f);
}

/* A folder: photos (4 readable), a corrupt .jpg, a zero-byte .png, a text file, a hidden image, a sub folder
 * with an upper-case extension, and a symlink loop. Returns the list of readable images in walk order. */
static int have_photos(void) { return access(tac_test_path(tac_test_shared(), "datasets/photos/coffee.png"), R_OK) == 0; }

static const char *make_image_folder(const char *dir)
{
    const char *sh = tac_test_shared();
    int rc = tac_test_sh("mkdir -p '%s/in/sub' '%s/in/.hidden' && cp '%s/datasets/photos/rocket.jpg' '%s/in/b.jpg' && "
                         "cp '%s/datasets/photos/chelsea.png' '%s/in/a.png' && "
                         "cp '%s/datasets/photos/china.jpg' '%s/in/sub/C.JPG' && "
                         "cp '%s/datasets/photos/brick.png' '%s/in/B.png' && "
                         "cp '%s/datasets/photos/coffee.png' '%s/in/.hidden/x.png' && "
                         "cp '%s/datasets/photos/coffee.png' '%s/in/.dot.png' && "
                         "printf 'this is not a JPEG' > '%s/in/corrupt.jpg' && : > '%s/in/zero.png' && "
                         "echo notes > '%s/in/notes.txt' && ln -s .. '%s/in/sub/loop' && ln -s gone '%s/in/broken.png'",
                         dir, dir, sh, dir, sh, dir, sh, dir, sh, dir, sh, dir, sh, dir, dir, dir, dir, dir, dir);
    if (rc != 0) tac_test_fail_at(__FILE__, __LINE__, "could not build the image folder (photos in %s?)", sh);
    /* bytewise: "B.png" < "a.png" < "b.jpg" < "corrupt.jpg" < "sub" < "zero.png" */
    return "in/B.png\nin/a.png\nin/b.jpg\nin/corrupt.jpg\nin/sub/C.JPG\nin/zero.png\n";
}

TAC_TEST(embed_is_image_name)
{
    TAC_CHECK(tac_is_image_name("a/b.jpg"));
    TAC_CHECK(tac_is_image_name("X.JPEG"));
    TAC_CHECK(tac_is_image_name("x.Png"));
    TAC_CHECK(tac_is_image_name("x.webp"));
    TAC_CHECK(!tac_is_image_name("x.gif"));
    TAC_CHECK(!tac_is_image_name("jpg"));
    TAC_CHECK(!tac_is_image_name("dir.jpg/file"));
    TAC_CHECK(!tac_is_image_name("x.jpg.txt"));
}

TAC_TEST(embed_list_inputs_walk_order)
{
    if (!have_photos()) TAC_SKIP("../shared/datasets/photos not found");
    const char *dir = tac_test_tmpdir();
    const char *expect = make_image_folder(dir);
    TAC_REQUIRE(!tac_test_failed_now());
    char cwd[1024];
    TAC_REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
    TAC_REQUIRE(chdir(dir) == 0);
    char **paths; int64_t n;
    /* the folder, then an explicit non-image name (taken), then a list with a file and the folder again */
    write_text("list.txt", "in/sub/C.JPG\n\nin\n");
    const char *inputs[] = {"in/", "in/notes.txt"};
    int rc = tac_list_inputs(inputs, 2, "list.txt", &paths, &n);
    TAC_REQUIRE(chdir(cwd) == 0);   /* tests run from the repo root */
    TAC_REQUIRE(rc == TAC_OK);
    /* expected: the walk (with the trailing slash kept as one separator), then notes.txt, then C.JPG again;
     * "in" again is the same folder, walked once */
    char got[2048] = "";
    for (int64_t i = 0; i < n; i++) { strncat(got, paths[i], 200); strcat(got, "\n"); }
    char want[2048];
    snprintf(want, sizeof want, "%sin/notes.txt\nin/sub/C.JPG\n", expect);
    if (strcmp(got, want) != 0) tac_test_fail_at(__FILE__, __LINE__, "walk order:\n%s\nexpected:\n%s", got, want);
    tac_free_strings(paths, n);
}

TAC_TEST(embed_list_inputs_errors)
{
    const char *dir = tac_test_tmpdir();
    char **paths; int64_t n;
    const char *missing[] = {tac_test_path(dir, "nope.jpg")};
    TAC_CHECK_ERR(tac_list_inputs(missing, 1, NULL, &paths, &n), "nope.jpg: No such file");
    const char *list = tac_test_path(dir, "list.txt");
    write_text(list, "a\n");
    const char *none[] = {dir};
    TAC_CHECK_ERR(tac_list_inputs(none, 0, list, &paths, &n), "list.txt line 1: a: No such file");
    TAC_CHECK_ERR(tac_list_inputs(none, 0, tac_test_path(dir, "nolist.txt"), &paths, &n), "nolist.txt");
    /* an empty folder is not an error: zero images */
    TAC_CHECK_OK(tac_list_inputs(none, 1, NULL, &paths, &n));
    TAC_CHECK_INT(n, 0);   /* list.txt is in the folder, but folders keep image names only */
    tac_free_strings(paths, n);
}

TAC_TEST(embed_cli_usage_errors)
{
    const char *bin = tac_test_bin(), *dir = tac_test_tmpdir();
    TAC_CHECK_INT(tac_test_sh("%s embed-images --help > /dev/null", bin), 0);
    TAC_CHECK_INT(tac_test_sh("%s embed-images --model m x.jpg 2>/dev/null", bin), 2);            /* no --out */
    TAC_CHECK_INT(tac_test_sh("%s embed-images --model m --out %s/x.npy 2>/dev/null", bin, dir), 2);  /* no INPUT */
    TAC_CHECK_INT(tac_test_sh("%s embed-images --model m --out %s/x.npy --resize 300 x 2>/dev/null", bin, dir), 2);
    TAC_CHECK_INT(tac_test_sh("%s embed-images --model m --out %s/x.npy %s/missing.jpg 2>%s/err", bin, dir, dir, dir), 1);
    TAC_CHECK_INT(tac_test_sh("grep -q 'missing.jpg: No such file' %s/err", dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s embed-text --help | grep -q 'normalised'", bin), 0);
    TAC_CHECK_INT(tac_test_sh("%s embed-text --model m --out %s/t.npy 2>/dev/null", bin, dir), 2);
    TAC_CHECK_INT(tac_test_sh("%s embed-text --model m --out %s/t.npy --nouns a --prompts b 2>/dev/null", bin, dir), 2);
    TAC_CHECK_INT(tac_test_sh("%s embed-text --model m --out %s/t.npy --nouns a --templates x 2>/dev/null", bin, dir), 2);
}

/* Library reference: one image through load, preprocess and a batch-1 forward pass. out: E. */
static int embed_one(tac_clip *m, const char *path, int resize, float *out)
{
    const int S = tac_clip_image_size(m);
    float *pix = tac_xmalloc((size_t)3 * S * S, sizeof(float));   /* 3 x S x S */
    tac_image img;
    int rc = tac_image_load(path, &img);
    if (rc == TAC_OK) {
        rc = tac_clip_preprocess(&img, resize, S, pix);
        tac_image_free(&img);
    }
    if (rc == TAC_OK) rc = tac_clip_encode_images(m, pix, 1, out);
    free(pix);
    return rc;
}

TAC_TEST(embed_images_cli_matches_library)
{
    if (!have_photos()) TAC_SKIP("../shared/datasets/photos not found");
    const char *model = tiny_model();
    if (!model) TAC_SKIP("tiny CLIP model not present at " TINY_CLIP " (lands with the clip stage)");
    const char *dir = tac_test_tmpdir(), *bin = tac_test_bin();
    make_image_folder(dir);
    TAC_REQUIRE(!tac_test_failed_now());
    char cwd[1024];
    TAC_REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
    /* run from the temp folder so paths are relative and predictable; batch 3 splits the 6 files in two */
    int rc = tac_test_sh("cd '%s' && '%s/%s' embed-images --model '%s/%s' --batch 3 --out out/x.npy in 2> err.txt",
                         dir, bin[0] == '/' ? "" : cwd, bin, cwd, model);
    TAC_CHECK_INT(rc, 0);
    char *txt; size_t len;
    TAC_CHECK_OK(tac_read_file(tac_test_path(dir, "out/x.paths.txt"), &txt, &len));
    TAC_CHECK(strcmp(txt, "in/B.png\nin/a.png\nin/b.jpg\nin/sub/C.JPG\n") == 0);
    free(txt);
    TAC_CHECK_OK(tac_read_file(tac_test_path(dir, "out/x.skipped.txt"), &txt, &len));
    TAC_CHECK(strncmp(txt, "in/corrupt.jpg\t", 15) == 0);
    TAC_CHECK(strstr(txt, "\nin/zero.png\t") != NULL);
    int lines = 0;
    for (const char *q = txt; *q; q++) lines += *q == '\n';
    TAC_CHECK_INT(lines, 5);   /* and what the walk did not take, with the reason: */
    TAC_CHECK(strstr(txt, "\nin/.dot.png\thidden file") && strstr(txt, "\nin/.hidden\thidden folder") &&
              strstr(txt, "\nin/broken.png\tNo such file"));
    free(txt);
    TAC_CHECK_INT(tac_test_sh("grep -q 'skipped in/corrupt.jpg: ' '%s/err.txt'", dir), 0);
    float *X; int64_t r, c;
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "out/x.npy"), &X, &r, &c));
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(model, &m));
    const int E = tac_clip_embed_dim(m);
    TAC_CHECK_INT(r, 4);
    TAC_CHECK_INT(c, E);
    const char *names[4] = {"in/B.png", "in/a.png", "in/b.jpg", "in/sub/C.JPG"};
    float *ref = tac_xmalloc((size_t)E, sizeof(float));   /* E */
    for (int i = 0; i < 4 && r == 4; i++) {
        TAC_CHECK_OK(embed_one(m, tac_test_path(dir, names[i]), 224, ref));
        double scale = 0;
        for (int e = 0; e < E; e++) scale = fmax(scale, fabs(ref[e]));
        tac_test_compare(names[i], X + (size_t)i * E, ref, (size_t)E, 1e-5 * (1 + scale));
    }
    /* --resize 256 changes the features, and the library with 256 agrees */
    rc = tac_test_sh("cd '%s' && '%s/%s' --quiet embed-images --model '%s/%s' --resize 256 --out y.npy in/a.png",
                     dir, bin[0] == '/' ? "" : cwd, bin, cwd, model);
    TAC_CHECK_INT(rc, 0);
    float *Y;
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "y.npy"), &Y, &r, &c));
    TAC_CHECK_OK(embed_one(m, tac_test_path(dir, "in/a.png"), 256, ref));
    tac_test_compare("resize 256", Y, ref, (size_t)E, 1e-4);
    double diff = 0;
    for (int e = 0; e < E; e++) diff = fmax(diff, fabs(Y[e] - X[E + e]));
    TAC_CHECK(diff > 1e-4);
    free(Y); free(ref); free(X);
    tac_clip_free(m);
}

typedef struct { int calls; int64_t next; int stop_at; int skipped; } cb_state;

static int count_batches(void *ctx, int64_t first, int64_t count, const float *emb, const int8_t *ok,
                         const char *const *why)
{
    (void)emb;
    cb_state *s = ctx;
    if (first != s->next) return tac_fail("batch starts at %lld, expected %lld", (long long)first, (long long)s->next);
    s->next = first + count;
    for (int64_t i = 0; i < count; i++) s->skipped += !ok[i] && why[i] && why[i][0];
    return ++s->calls == s->stop_at ? tac_fail("stop requested") : 0;
}

TAC_TEST(embed_images_callback_and_stop)
{
    if (!have_photos()) TAC_SKIP("../shared/datasets/photos not found");
    const char *model = tiny_model();
    if (!model) TAC_SKIP("tiny CLIP model not present at " TINY_CLIP " (lands with the clip stage)");
    const char *dir = tac_test_tmpdir();
    make_image_folder(dir);
    char **paths; int64_t n;
    const char *in[] = {tac_test_path(dir, "in")};
    TAC_CHECK_OK(tac_list_inputs(in, 1, NULL, &paths, &n));
    TAC_REQUIRE(n == 6);
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(model, &m));
    const int E = tac_clip_embed_dim(m);
    float *X = tac_xmalloc((size_t)n * E, sizeof(float));   /* N x E */
    int8_t ok[6];
    int64_t nok;
    cb_state st = {0, 0, 0, 0};
    tac_embed_images_params p = tac_embed_images_default_params();
    p.batch = 4; p.label = NULL; p.on_batch = count_batches; p.ctx = &st;
    TAC_CHECK_OK(tac_embed_images(m, (const char *const *)paths, n, &p, X, ok, &nok));
    TAC_CHECK_INT(st.calls, 2);
    TAC_CHECK_INT(st.skipped, 2);
    TAC_CHECK_INT(nok, 4);
    TAC_CHECK(ok[0] && ok[1] && ok[2] && !ok[3] && ok[4] && !ok[5]);
    int zero = 1;
    for (int e = 0; e < E; e++) zero &= X[3 * E + e] == 0.0f;
    TAC_CHECK(zero);
    cb_state st2 = {0, 0, 1, 0};
    p.ctx = &st2;
    TAC_CHECK_ERR(tac_embed_images(m, (const char *const *)paths, n, &p, NULL, NULL, &nok), "stop requested");
    TAC_CHECK_INT(st2.calls, 1);
    p.batch = 0;
    TAC_CHECK_ERR(tac_embed_images(m, (const char *const *)paths, n, &p, X, NULL, NULL), "batch");
    free(X);
    tac_free_strings(paths, n);
    tac_clip_free(m);
}

static const char *const NOUNS[] = {"dog", "hot_dog", "Dog", "physical_entity", "French_leave", "a", "dog"};
static const char *const TEMPLATES[7] = {
    "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
};

TAC_TEST(embed_prompts_match_one_by_one)
{
    const char *model = tiny_model();
    if (!model) TAC_SKIP("tiny CLIP model not present at " TINY_CLIP " (lands with the clip stage)");
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(model, &m));
    const int E = tac_clip_embed_dim(m);
    const char *prompts[] = {"a photo of a dog.", "x", "a very much longer prompt about a small red origami crane",
                             "a photo of a dog.", "", "A PHOTO OF A DOG."};
    const int n = 6;
    float *X = tac_xmalloc((size_t)n * E, sizeof(float));    /* N x E */
    float *ref = tac_xmalloc((size_t)E, sizeof(float));      /* E */
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = 2; p.label = NULL;
    TAC_CHECK_OK(tac_embed_prompts(m, prompts, n, &p, X));
    for (int i = 0; i < n; i++) {
        TAC_CHECK_OK(tac_clip_encode_texts(m, &prompts[i], 1, ref));
        tac_test_compare(prompts[i], X + (size_t)i * E, ref, (size_t)E, 1e-4);
    }
    free(X); free(ref);
    tac_clip_free(m);
}

TAC_TEST(embed_text_cli_nouns_match_library)
{
    const char *model = tiny_model();
    if (!model) TAC_SKIP("tiny CLIP model not present at " TINY_CLIP " (lands with the clip stage)");
    const char *dir = tac_test_tmpdir(), *bin = tac_test_bin();
    const int n = (int)(sizeof NOUNS / sizeof NOUNS[0]);
    char buf[512] = "";
    for (int i = 0; i < n; i++) { strcat(buf, NOUNS[i]); strcat(buf, "\n"); }
    write_text(tac_test_path(dir, "nouns.txt"), buf);
    TAC_CHECK_INT(tac_test_sh("%s --quiet embed-text --model %s --batch 5 --nouns %s/nouns.txt --out %s/t.npy", bin,
                              model, dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s --quiet embed-text --model %s --nouns %s/nouns.txt --templates none --out %s/n.npy",
                              bin, model, dir, dir), 0);
    float *T, *N1; int64_t r, c, r2, c2;
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "t.npy"), &T, &r, &c));
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "n.npy"), &N1, &r2, &c2));
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(model, &m));
    const int E = tac_clip_embed_dim(m);
    TAC_CHECK_INT(r, n); TAC_CHECK_INT(c, E);
    TAC_CHECK_INT(r2, n); TAC_CHECK_INT(c2, E);
    float *t = tac_xmalloc((size_t)E, sizeof(float));          /* E: one template */
    float *want = tac_xmalloc((size_t)E, sizeof(float));       /* E */
    double *acc = tac_xmalloc((size_t)E, sizeof(double));      /* E */
    for (int i = 0; i < n && r == n && c == E; i++) {
        for (int e = 0; e < E; e++) acc[e] = 0;
        for (int k = 0; k < 7; k++) {
            char *pr = tac_prompt_format(TEMPLATES[k], NOUNS[i]);
            TAC_CHECK_OK(tac_clip_encode_texts(m, (const char *const *)&pr, 1, t));
            free(pr);
            for (int e = 0; e < E; e++) acc[e] += t[e];
        }
        double ss = 0;
        for (int e = 0; e < E; e++) ss += (acc[e] / 7) * (acc[e] / 7);
        for (int e = 0; e < E; e++) want[e] = (float)(acc[e] / 7 / sqrt(ss));
        tac_test_compare(NOUNS[i], T + (size_t)i * E, want, (size_t)E, 2e-5);
        /* --templates none: the noun alone, normalised */
        TAC_CHECK_OK(tac_clip_encode_texts(m, &NOUNS[i], 1, want));
        tac_l2_normalize_rows(want, 1, E);
        tac_test_compare("none", N1 + (size_t)i * E, want, (size_t)E, 2e-5);
    }
    /* duplicates after lower-casing give identical rows */
    TAC_CHECK(memcmp(T, T + 2 * (size_t)E, (size_t)E * sizeof(float)) == 0);
    TAC_CHECK(memcmp(T, T + 6 * (size_t)E, (size_t)E * sizeof(float)) == 0);
    free(t); free(want); free(acc); free(T); free(N1);
    tac_clip_free(m);
}

TAC_TEST(embed_prompt_format)
{
    char *s = tac_prompt_format("a {} in a video game.", "hot_dog");
    TAC_CHECK(strcmp(s, "a hot_dog in a video game.") == 0);
    free(s);
    s = tac_prompt_format("{}", "x{}y");
    TAC_CHECK(strcmp(s, "x{}y") == 0);
    free(s);
}
