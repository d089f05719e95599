/* test_relin.c - reliability of what `cluster`, `assign` and the caches read (issue 9, part A): run.json and
 * params.json fields type- and range-checked, model/ files cross-checked before assign uses them, sizes from
 * options and headers that cannot be allocated, inputs that are not regular files or are too big, names that are
 * skipped with a reason, OUT never walked as input, the model hash over all bytes, the noun cache checksummed,
 * dataset labels checked, error messages that wrap earlier ones, the decoded-pixel budget across threads.
 *
 * Every run uses the committed tiny CLIP (tests/fixtures/clip/tiny, with its own tokenizer), the committed test
 * images (tests/fixtures/image) and a small vocabulary, so nothing here needs ../shared. A CLI failure must be
 * exit status 1 with exactly one line on stderr that names the problem (never a signal, never "internal error").
 */
#include "tac_test.h"
#include "taclust/app.h"
#include "taclust/clip.h"
#include "taclust/image.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY "tests/fixtures/clip/tiny"
#define IMG "tests/fixtures/image"

static char *slurp(const char *path)
{
    char *s; size_t n;
    return tac_read_file(path, &s, &n) == TAC_OK ? s : NULL;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Runs `taclust ARGS` (already quoted) with stderr to DIR/err.txt; checks exit 1, one stderr line holding `want`. */
static void expect_one_line_error(const char *dir, const char *args, const char *want, int line)
{
    char err[PATH_MAX];
    snprintf(err, sizeof err, "%s/err.txt", dir);
    int rc = tac_test_sh("XDG_CACHE_HOME='%s/xdg' %s --quiet %s >/dev/null 2>'%s'", dir, tac_test_bin(), args, err);
    char *s = slurp(err);
    int lines = 0;
    for (const char *c = s ? s : ""; *c; c++) lines += *c == '\n';
    if (rc != 1 || lines != 1 || !s || !strstr(s, want) || strstr(s, "internal error"))
        tac_test_fail_at(__FILE__, line, "taclust %s: exit %d, %d stderr lines, expected exit 1 and one line with '%s': %s",
                         args, rc, lines, want, s ? s : "(no stderr)");
    free(s);
}
#define EXPECT_ERR(dir, want, ...) do { char a_[8192]; snprintf(a_, sizeof a_, __VA_ARGS__); \
    expect_one_line_error(dir, a_, want, __LINE__); } while (0)

/* DIR/in: copies x reps of 8 committed test images (JPEG, PNG, WebP, gray, CMYK, interlaced); DIR/voc.txt. */
static int make_inputs(const char *dir, int reps)
{
    static const char *f[8] = {"cifar_32x32.png", "gray.jpg", "odd_666x448.jpg", "half_670x448.jpg", "lossy.webp",
                               "cmyk.jpg", "interlaced.png", "gray8.png"};
    if (tac_test_sh("mkdir -p '%s/in'", dir) != 0) return -1;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < 8; i++)
            if (tac_test_sh("cp " IMG "/%s '%s/in/r%d_%s'", f[i], dir, r, f[i]) != 0) return -1;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/voc.txt", dir);
    return write_text(p, "cat\ndog\ncar\ntree\nhouse\nbird\nflower\nboat\nphoto\napple\nship\nhorse\n");
}

/* A finished run of K clusters over DIR/in in DIR/NAME (64 images: the heads are trained, so model/heads.bin). */
static int run_cluster(const char *dir, const char *name, int K)
{
    return tac_test_sh("XDG_CACHE_HOME='%s/xdg' %s --quiet cluster '%s/in' --model " TINY " --vocabulary '%s/voc.txt' "
                       "-K %d --out '%s/%s' >/dev/null 2>&1", dir, tac_test_bin(), dir, dir, K, dir, name);
}

/* ---- item 1: run.json, type- and range-checked (and item 17: the wrapped reason is not garbled) ---------- */
TAC_TEST(relin_runjson_bad_fields_one_line_error)
{
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(make_inputs(dir, 1) == 0);
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/o/model' '%s/empty'", dir, dir) == 0);
    char rj[PATH_MAX], img[PATH_MAX], o[PATH_MAX];
    snprintf(rj, sizeof rj, "%s/o/run.json", dir);
    snprintf(o, sizeof o, "%s/o", dir);
    snprintf(img, sizeof img, "%s/in/r0_gray.jpg", dir);
    /* no run.json at all: assign used to free a string literal (SIGSEGV); the reason of the failed open is kept
     * whole (it was printed as "(irectory)") */
    EXPECT_ERR(dir, "No such file or directory)", "assign --from '%s/empty' '%s'", dir, img);
    EXPECT_ERR(dir, "no earlier run to resume or assign to (", "cluster --resume --out '%s/empty'", dir);
    EXPECT_ERR(dir, "No such file or directory)", "cluster --resume --out '%s/empty'", dir);
    /* each line: one field wrong in an otherwise good run.json */
    static const char *bad[][2] = {
        {"not json", "not a JSON object"},
        {"[1, 2]", "not a JSON object"},
        {"{\"inputs\": [\"IN\"]}", "\"model\" is missing"},
        {"{\"model\": \"M\"}", "\"inputs\" is missing"},
        {"{\"model\": \"M\", \"inputs\": [1]}", "\"inputs\"[0] must be a string"},
        {"{\"model\": \"M\", \"inputs\": \"IN\"}", "\"inputs\" must be an array"},
        {"{\"model\": \"M\", \"inputs\": [null]}", "\"inputs\"[0] must be a string"},
        {"{\"model\": 5, \"inputs\": [\"IN\"]}", "\"model\" must be a string"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"K\": \"3\"}", "\"K\" must be a whole number"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"K\": 1}", "\"K\" must be 0 (auto) or at least 2"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"K\": 1e12}", "\"K\" must be a whole number from 0"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"K\": 2.5}", "\"K\" must be a whole number"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"seed\": -1}", "\"seed\" must be a whole number"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"batch\": 100000000}", "\"batch\" must be a whole number from 1"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"batch\": 0}", "\"batch\""},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"resize\": 300}", "\"resize\""},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"kmax\": -4}", "\"kmax\""},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"names\": 0}", "\"names\""},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"epochs\": {}}", "\"epochs\" must be a whole number"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"no_train\": \"yes\"}", "\"no_train\" must be true or false"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"wordnet\": 3}", "\"wordnet\" must be a string"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"vocabulary\": [\"x\"]}", "\"vocabulary\" must be a string"},
        {"{\"model\": \"M\", \"inputs\": [\"IN\"], \"list\": false}", "\"list\" must be a string"},
        {"{\"model\": \"\", \"inputs\": [\"IN\"]}", "\"model\" is an empty string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], *w = text;
        for (const char *c = bad[i][0]; *c && w < text + sizeof text - 300; c++) {   /* M, IN: real paths */
            if (c[0] == 'M' && c[1] == '"') w += sprintf(w, "%s", TINY);
            else if (c[0] == 'I' && c[1] == 'N' && c[2] == '"') { w += sprintf(w, "%s/in", dir); c++; }
            else *w++ = *c;
        }
        *w = 0;
        TAC_REQUIRE(write_text(rj, text) == 0);
        /* in-process (both readers: --resume and assign), and through the CLI for a few (exit 1, one line) */
        tac_cluster_params p;
        tac_cluster_default_params(&p);
        p.out_dir = o; p.resume = 1;
        TAC_CHECK_ERR(tac_cluster_run(NULL, 0, &p), bad[i][1]);
        const char *imgs[1] = {img};
        TAC_CHECK_ERR(tac_assign_run(o, NULL, imgs, 1, NULL, 0), bad[i][1]);
        if (i % 8 == 4) EXPECT_ERR(dir, bad[i][1], "cluster --resume --out '%s'", o);
        if (i % 8 == 0) EXPECT_ERR(dir, bad[i][1], "assign --from '%s' '%s'", o, img);
    }
    /* run.json that is not a regular file, or absurdly large: refused, not read */
    unlink(rj);
    TAC_REQUIRE(mkfifo(rj, 0600) == 0);
    EXPECT_ERR(dir, "FIFO", "cluster --resume --out '%s/o'", dir);
    unlink(rj);
    TAC_REQUIRE(tac_test_sh("truncate -s 100M '%s'", rj) == 0);
    EXPECT_ERR(dir, "limit", "assign --from '%s/o' '%s'", dir, img);
}

/* ---- item 2: assign checks every file of OUT/model/ against the others and the model ---------------------- */
TAC_TEST(relin_assign_crosschecks_model_dir)
{
    if (access("/usr/share/wordnet/data.noun", R_OK) != 0 && 0) TAC_SKIP("unused");
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(make_inputs(dir, 8) == 0);
    TAC_REQUIRE(run_cluster(dir, "k3", 3) == 0);
    TAC_REQUIRE(run_cluster(dir, "k2", 2) == 0);
    char img[PATH_MAX];
    snprintf(img, sizeof img, "%s/in/r0_gray.jpg", dir);
    /* the untouched run assigns */
    TAC_CHECK_INT(tac_test_sh("XDG_CACHE_HOME='%s/xdg' %s --quiet assign --from '%s/k3' '%s' >/dev/null 2>&1", dir,
                              tac_test_bin(), dir, img), 0);
    /* each case: a fresh copy of k3 with one file of model/ changed */
    static const char *cases[][2] = {
        {"cp k2/model/heads.bin c/model/heads.bin", "heads for width 16 and K = 2"},
        {"cp k2/model/centroids.npy c/model/centroids.npy", "centroids.npy: 2 x 32, expected K x 2E = 3 x 32"},
        {"sed -i 's/\"K\":\\t3/\"K\":\\t2/' c/model/params.json", "3 cluster_names for K = 2"},
        {"sed -i 's/\"K\":\\t3/\"K\":\\t\"3\"/' c/model/params.json", "\"K\" must be a whole number"},
        {"sed -i 's/\"embed_dim\":\\t16/\"embed_dim\":\\t8/' c/model/params.json", "embed_dim 8, the model's is 16"},
        {"sed -i 's/\"mode\":\\t\"tac\"/\"mode\":\\t\"xyz\"/' c/model/params.json", "\"mode\" must be"},
        {"sed -i 's/\"clip_hash\":\\t\"/\"clip_hash\":\\t\"0/' c/model/params.json", "the model differs"},
        {"sed -i 's/\"cluster_names\":/\"cluster_names\": 5, \"x\":/' c/model/params.json", "\"cluster_names\" must be an array"},
        {"sed -i '$d' c/model/selected_nouns.txt", "names for the"},
        {"echo extra >> c/model/selected_nouns.txt", "names for the"},
        {"cp k2/model/selected.npy c/model/selected.npy && head -c 200 k3/model/selected.npy > c/model/selected.npy", "selected.npy"},
        {"rm c/model/heads.bin", "heads.bin"},
        {"rm c/model/params.json", "no usable model/"},
        {"rm c/model/params.json && mkfifo c/model/params.json", "FIFO"},
        {"printf 'TACHEADS' > c/model/heads.bin", "heads.bin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TAC_REQUIRE(tac_test_sh("cd '%s' && rm -rf c && cp -r k3 c && %s", dir, cases[i][0]) == 0);
        const char *imgs[1] = {img};
        TAC_CHECK_ERR(tac_assign_run(tac_test_path(dir, "c"), NULL, imgs, 1, NULL, 0), cases[i][1]);
        if (i % 5 == 0) EXPECT_ERR(dir, cases[i][1], "assign --from '%s/c' '%s'", dir, img);
    }
    /* a NaN in centroids.npy (the 64-byte-aligned data starts at byte 128): named, not used */
    TAC_REQUIRE(tac_test_sh("cd '%s' && rm -rf c && cp -r k3 c && printf '\\000\\000\\300\\177' | dd of=c/model/centroids.npy "
                            "bs=1 seek=136 conv=notrunc 2>/dev/null", dir) == 0);
    const char *imgs[1] = {img};
    TAC_CHECK_ERR(tac_assign_run(tac_test_path(dir, "c"), NULL, imgs, 1, NULL, 0), "centroids.npy: row 0 has a NaN");
}
