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
#include "app/tac_app.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/heads.h"
#include "taclust/image.h"
#include "clip/tac_clip_internal.h"

#include <fcntl.h>
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
    /* timeout: a read that waits on a FIFO must fail the test, not hang the suite */
    int rc = tac_test_sh("XDG_CACHE_HOME='%s/xdg' timeout 60 %s --quiet %s >/dev/null 2>'%s'", dir, tac_test_bin(), args, err);
    char *s = slurp(err);
    int lines = 0;
    for (const char *c = s ? s : ""; *c; c++) lines += *c == '\n';
    if (rc != 1 || lines != 1 || !s || !strstr(s, want) || strstr(s, "internal error"))
        tac_test_fail_at(__FILE__, line, "taclust %s: exit %d, %d stderr lines, expected exit 1 and one line with '%s': %s",
                         args, rc, lines, want, s ? s : "(no stderr)");
    free(s);
}
#define EXPECT_ERR(dir, want, ...) do { char a_[16384]; snprintf(a_, sizeof a_, __VA_ARGS__); \
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
    /* no run.json at all: assign used to free a string literal (SIGSEGV); the message used to be garbled
     * ("(irectory)"); an OUT with no committed run (tac_outdir.c) now says so plainly */
    EXPECT_ERR(dir, "empty: no earlier run to resume or assign to", "assign --from '%s/empty' '%s'", dir, img);
    EXPECT_ERR(dir, "empty: no earlier run to resume or assign to", "cluster --resume --out '%s/empty'", dir);
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
        if (i == 4) EXPECT_ERR(dir, bad[i][1], "cluster --resume --out '%s'", o);
        if (i == 13) EXPECT_ERR(dir, bad[i][1], "assign --from '%s' '%s'", o, img);
    }
    /* run.json that is not a regular file, or absurdly large: refused, not read */
    unlink(rj);
    TAC_REQUIRE(mkfifo(rj, 0600) == 0);
    /* (a run.json that is not a regular file is no committed run of the old layout: tac_outdir.c) */
    EXPECT_ERR(dir, "no earlier run to resume", "cluster --resume --out '%s/o'", dir);
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
        {"rm c/model/params.json && mkfifo c/model/params.json", "model/params.json was not written by taclust"},
        {"printf 'TACHEADS' > c/model/heads.bin", "heads.bin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TAC_REQUIRE(tac_test_sh("cd '%s' && rm -rf c && cp -r k3 c && %s", dir, cases[i][0]) == 0);
        const char *imgs[1] = {img};
        TAC_CHECK_ERR(tac_assign_run(tac_test_path(dir, "c"), NULL, imgs, 1, NULL, 0), cases[i][1]);
        if (i == 0) EXPECT_ERR(dir, cases[i][1], "assign --from '%s/c' '%s'", dir, img);
    }
    /* a NaN in centroids.npy (the 64-byte-aligned data starts at byte 128): named, not used */
    TAC_REQUIRE(tac_test_sh("cd '%s' && rm -rf c && cp -r k3 c && printf '\\000\\000\\300\\177' | dd of=c/model/centroids.npy "
                            "bs=1 seek=136 conv=notrunc 2>/dev/null", dir) == 0);
    const char *imgs[1] = {img};
    TAC_CHECK_ERR(tac_assign_run(tac_test_path(dir, "c"), NULL, imgs, 1, NULL, 0), "centroids.npy: row 0 has a NaN");
}

/* ---- items 4, 5, 6: inputs that are not files, too big, hidden, too long, or written by taclust ------------- */
static int count_rows(const char *csv)
{
    char **l; int64_t n;
    if (tac_read_lines(csv, &l, &n, 1) != TAC_OK) return -1;
    tac_free_strings(l, n);
    return (int)n - 1;
}

/* skipped.txt has a line "DIR/in/REL<tab>reason" (or "REL<tab>reason" when REL starts with '/') whose reason
 * holds `why` */
static int skipped_has(char **lines, int64_t n, const char *dir, const char *rel, const char *why)
{
    char want[PATH_MAX + 64];
    if (rel[0] == '/') snprintf(want, sizeof want, "%s\t", rel);
    else snprintf(want, sizeof want, "%s/in/%s\t", dir, rel);
    size_t wl = strlen(want);
    for (int64_t i = 0; i < n; i++)
        if (strncmp(lines[i], want, wl) == 0 && strstr(lines[i] + wl, why)) return 1;
    return 0;
}

/* Under `base`: folders of 240-character names nested as deep as a path can go, x.jpg at the deepest level that
 * PATH_MAX allows, and one more folder (whose path is too long to open) holding far.jpg. Made with *at() calls,
 * as no path-based call can reach the bottom. */
static int make_deep(const char *base, const char *image)
{
    char name[241];
    memset(name, 'd', 240);
    name[240] = 0;
    char *data; size_t len;
    if (tac_read_file(image, &data, &len) != TAC_OK) return -1;
    int fd = open(base, O_RDONLY | O_DIRECTORY), rc = -1;
    size_t plen = strlen(base);
    while (fd >= 0 && plen + 241 + 6 < PATH_MAX) {         /* room for "/<name>/x.jpg" */
        if (mkdirat(fd, name, 0755) != 0) break;
        int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = nfd;
        plen += 241;
    }
    if (fd >= 0) {
        int w = openat(fd, "x.jpg", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (w >= 0 && write(w, data, len) == (ssize_t)len && mkdirat(fd, name, 0755) == 0) {
            int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY);
            int w2 = nfd >= 0 ? openat(nfd, "far.jpg", O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
            if (w2 >= 0 && write(w2, data, len) == (ssize_t)len) rc = 0;
            if (w2 >= 0) close(w2);
            if (nfd >= 0) close(nfd);
        }
        if (w >= 0) close(w);
        close(fd);
    }
    free(data);
    return rc;
}

TAC_TEST(relin_inputs_not_files_hidden_long_and_outputs_skipped_with_reason)
{
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(make_inputs(dir, 1) == 0);
    /* the hostile entries: hidden image names, a hidden folder, a FIFO and a socket-less device link named .jpg,
     * a 600 MB sparse "image", a broken link, a path longer than PATH_MAX */
    TAC_REQUIRE(tac_test_sh("cd '%s/in' && cp r0_gray.jpg ..jpg && cp r0_gray.jpg ...jpg && cp r0_gray.jpg .dot.png && "
                            "mkdir .thumbs && cp r0_gray.jpg .thumbs/t.jpg && mkfifo fifo.jpg && ln -s /dev/zero zero.png && "
                            "truncate -s 600M big.jpg && ln -s nowhere gone.jpg && mkdir deep", dir) == 0);
    TAC_REQUIRE(make_deep(tac_test_path(dir, "in/deep"), tac_test_path(dir, "in/r0_gray.jpg")) == 0);
    char out[PATH_MAX], csv[PATH_MAX + 32], skp[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/in/groups", dir);        /* OUT inside the input folder */
    snprintf(csv, sizeof csv, "%s/clusters.csv", out);
    snprintf(skp, sizeof skp, "%s/skipped.txt", out);
    for (int run = 0; run < 3; run++) {                     /* reruns must not take OUT's by-cluster links as images */
        int rc = tac_test_sh("XDG_CACHE_HOME='%s/xdg' timeout 120 %s --quiet cluster '%s/in' /dev/zero --model " TINY
                             " --vocabulary '%s/voc.txt' -K 2 --no-train --out '%s' >/dev/null 2>'%s/err.txt'",
                             dir, tac_test_bin(), dir, dir, out, dir);
        TAC_CHECK_INT(rc, 0);
        TAC_CHECK_INT(count_rows(csv), 9);                 /* the 8 images + deep/.../x.jpg (PATH_MAX - 1 fits) */
    }
    /* a second, older OUT in the inputs (no marker: a run made before the marker existed) is not walked either */
    TAC_REQUIRE(tac_test_sh("cp -r '%s' '%s/in/old' && rm '%s/in/old/" TAC_OUTPUT_MARKER "'", out, dir, dir) == 0);
    TAC_CHECK_INT(tac_test_sh("XDG_CACHE_HOME='%s/xdg' %s --quiet cluster '%s/in' --model " TINY
                              " --vocabulary '%s/voc.txt' -K 2 --no-train --out '%s' >/dev/null 2>&1",
                              dir, tac_test_bin(), dir, dir, out), 0);
    TAC_CHECK_INT(count_rows(csv), 9);
    char **s; int64_t ns;
    TAC_REQUIRE(tac_read_lines(skp, &s, &ns, 1) == TAC_OK);
    TAC_CHECK(skipped_has(s, ns, dir, "..jpg", "hidden file"));
    TAC_CHECK(skipped_has(s, ns, dir, "...jpg", "hidden file"));
    TAC_CHECK(skipped_has(s, ns, dir, ".dot.png", "hidden file"));
    TAC_CHECK(skipped_has(s, ns, dir, ".thumbs", "hidden folder"));
    TAC_CHECK(skipped_has(s, ns, dir, "fifo.jpg", "FIFO"));
    TAC_CHECK(skipped_has(s, ns, dir, "zero.png", "device"));
    TAC_CHECK(skipped_has(s, ns, dir, "big.jpg", "512 MiB limit"));
    TAC_CHECK(skipped_has(s, ns, dir, "gone.jpg", "No such file"));
    TAC_CHECK(skipped_has(s, ns, dir, "groups", "output folder"));
    TAC_CHECK(skipped_has(s, ns, dir, "old", "a folder taclust wrote"));
    int long_said = 0;                                     /* the folder beside x.jpg whose path is too long */
    for (int64_t i = 0; i < ns; i++) long_said += strstr(s[i], "/deep/") && strstr(s[i], "longer than PATH_MAX") != NULL;
    TAC_CHECK_INT(long_said, 1);
    tac_free_strings(s, ns);
    /* explicit inputs that are not regular files, or inside a folder taclust wrote: skipped with the reason */
    TAC_CHECK_INT(tac_test_sh("XDG_CACHE_HOME='%s/xdg' timeout 60 %s --quiet cluster '%s/in' /dev/zero '%s/in/fifo.jpg' "
                              "'%s/in/groups/by-cluster' --model " TINY " --vocabulary '%s/voc.txt' -K 2 --no-train "
                              "--out '%s/o2' >/dev/null 2>&1", dir, tac_test_bin(), dir, dir, dir, dir, dir), 0);
    TAC_CHECK_INT(count_rows(tac_test_path(dir, "o2/clusters.csv")), 9);
    TAC_REQUIRE(tac_read_lines(tac_test_path(dir, "o2/skipped.txt"), &s, &ns, 1) == TAC_OK);
    TAC_CHECK(skipped_has(s, ns, dir, "/dev/zero", "device"));
    TAC_CHECK(skipped_has(s, ns, dir, tac_test_path(dir, "in/fifo.jpg"), "is a FIFO"));
    TAC_CHECK(skipped_has(s, ns, dir, "groups/by-cluster", "a folder taclust wrote"));
    tac_free_strings(s, ns);
    /* a vocabulary, WordNet folder or list that is not a regular file: one-line error, nothing read */
    EXPECT_ERR(dir, "/dev/zero: is a device", "cluster '%s/in' --model " TINY " --vocabulary /dev/zero -K 2 --out '%s/o3'", dir, dir);
    EXPECT_ERR(dir, "is a FIFO", "cluster '%s/in' --model " TINY " --vocabulary '%s/in/fifo.jpg' -K 2 --out '%s/o3'", dir, dir, dir);
    EXPECT_ERR(dir, "is a FIFO", "cluster --list '%s/in/fifo.jpg' --model " TINY " -K 2 --out '%s/o3'", dir, dir);
    TAC_REQUIRE(tac_test_sh("mkdir '%s/wn' && mkfifo '%s/wn/data.noun'", dir, dir) == 0);
    EXPECT_ERR(dir, "is a FIFO", "cluster '%s/in' --model " TINY " --wordnet '%s/wn' -K 2 --out '%s/o3'", dir, dir, dir);
}

/* the reader itself: type check before reading, size limits, a file that is exactly at the limit */
TAC_TEST(relin_read_file_refuses_non_regular_and_oversized)
{
    const char *dir = tac_test_tmpdir();
    char *d; size_t n;
    TAC_CHECK_ERR(tac_read_file("/dev/zero", &d, &n), "is a device");
    TAC_CHECK_ERR(tac_read_file(dir, &d, &n), "is a folder");
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/f", dir);
    TAC_REQUIRE(mkfifo(fifo, 0600) == 0);
    TAC_CHECK_ERR(tac_read_file(fifo, &d, &n), "is a FIFO");          /* returns at once: no writer is waited for */
    TAC_CHECK_ERR(tac_npy_load_f32(fifo, (float **)&d, (int64_t *)&n, (int64_t *)&n), "is a FIFO");
    char **lines; int64_t nl;
    TAC_CHECK_ERR(tac_read_lines("/dev/zero", &lines, &nl, 1), "is a device");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/ten", dir);
    TAC_REQUIRE(write_text(p, "0123456789") == 0);
    TAC_CHECK_ERR(tac_read_file_max(p, &d, &n, 9), "limit");
    TAC_CHECK_OK(tac_read_file_max(p, &d, &n, 10));
    TAC_CHECK_INT(n, 10);
    TAC_CHECK(d[10] == 0);
    free(d);
    /* a symlink to /dev/zero is followed and refused too */
    snprintf(p, sizeof p, "%s/z.png", dir);
    TAC_REQUIRE(symlink("/dev/zero", p) == 0);
    tac_image img;
    TAC_CHECK_ERR(tac_image_load(p, &img), "is a device");
}

static const char *abs_bin(void)
{
    static char p[PATH_MAX];
    if (!realpath(tac_test_bin(), p)) snprintf(p, sizeof p, "%s", tac_test_bin());
    return p;
}

/* ---- item 3: sizes that cannot be allocated fail with a message (exit 1), never abort ---------------------- */
TAC_TEST(relin_unallocatable_sizes_fail_with_a_message)
{
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(make_inputs(dir, 1) == 0);
    /* a 51 GB sparse .npy: the header is valid and the file size matches it */
    char big[PATH_MAX];
    snprintf(big, sizeof big, "%s/big.npy", dir);
    const char hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 128), }";
    char hb[128];
    memset(hb, ' ', sizeof hb);
    memcpy(hb, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(hb + 10, hdr, sizeof hdr - 1);
    hb[127] = '\n';
    FILE *f = fopen(big, "wb");
    TAC_REQUIRE(f != NULL);
    fwrite(hb, 1, sizeof hb, f);
    fclose(f);
    TAC_REQUIRE(truncate(big, 128 + (off_t)100000000 * 128 * 4) == 0);
    float *X; int64_t r, c;
    TAC_CHECK_ERR(tac_npy_load_f32(big, &X, &r, &c), "GB of memory");
    EXPECT_ERR(dir, "GB of memory", "kmeans '%s' -k 2 --out '%s/l.npy'", big, dir);
    EXPECT_ERR(dir, "--batch must be from 1 to 1024", "cluster '%s/in' --model " TINY " --batch 100000000 --out '%s/o'", dir, dir);
    /* small stage inputs written here: X 40 x 16 (rows around 4 directions), labels, 30 nouns, R, neighbours */
    float Xs[40 * 16], Ts[30 * 16];
    int64_t L[40], NN[40 * 3];
    tac_mt rng;
    tac_mt_seed(&rng, 7);
    for (int i = 0; i < 40 * 16; i++) Xs[i] = (float)tac_mt_normal(&rng) * 0.1f + ((i % 16) == (i / 16) % 4 ? 1.0f : 0.0f);
    for (int i = 0; i < 30 * 16; i++) Ts[i] = (float)tac_mt_normal(&rng);
    for (int i = 0; i < 40; i++) { L[i] = i % 4; for (int j = 0; j < 3; j++) NN[i * 3 + j] = (i + 4 * (j + 1)) % 40; }
    int64_t sx[2] = {40, 16}, st[2] = {30, 16}, sl[1] = {40}, sn[2] = {40, 3};
    TAC_REQUIRE(tac_npy_save_f32(tac_test_path(dir, "X.npy"), Xs, 2, sx) == TAC_OK);
    TAC_REQUIRE(tac_npy_save_f32(tac_test_path(dir, "T.npy"), Ts, 2, st) == TAC_OK);
    TAC_REQUIRE(tac_npy_save_i64(tac_test_path(dir, "L.npy"), L, 1, sl) == TAC_OK);
    TAC_REQUIRE(tac_npy_save_i64(tac_test_path(dir, "N.npy"), NN, 2, sn) == TAC_OK);
    /* gamma beyond the number of nouns keeps all nouns (the same answer as gamma = M), with bounded memory */
    TAC_CHECK_INT(tac_test_sh("cd '%s' && %s --quiet select-nouns --images X.npy --labels L.npy --nouns T.npy "
                              "--gamma 2000000000 --out s1.txt >/dev/null 2>&1 && %s --quiet select-nouns --images X.npy "
                              "--labels L.npy --nouns T.npy --gamma 30 --out s2.txt >/dev/null 2>&1 && cmp -s s1.txt s2.txt",
                              dir, abs_bin(), abs_bin()), 0);
    EXPECT_ERR(dir, "GB of memory", "train-heads --images '%s/X.npy' --text '%s/X.npy' --nn-images '%s/N.npy' "
               "--nn-text '%s/N.npy' -K 2 --batch 4 --hidden 2000000000 --out '%s/h.bin'", dir, dir, dir, dir, dir);
    /* the same limits in the library, for every option that sizes a buffer of the heads */
    tac_heads_params hp;
    tac_heads_default_params(&hp);
    hp.K = 4; hp.batch = 8; hp.epochs = 1;
    tac_heads *h = NULL;
    hp.hidden = 2000000000;
    TAC_CHECK_ERR(tac_heads_train(Xs, Xs, 40, 16, NN, NN, 3, &hp, NULL, NULL, &h), "GB of memory");
    hp.hidden = 64; hp.K = 2000000000;
    TAC_CHECK_ERR(tac_heads_train(Xs, Xs, 40, 16, NN, NN, 3, &hp, NULL, NULL, &h), "GB of memory");
    hp.K = 4; hp.batch = 2000000000;
    TAC_CHECK_ERR(tac_heads_train(Xs, Xs, 40, 16, NN, NN, 3, &hp, NULL, NULL, &h), "fewer than one batch");
    hp.batch = 8;
    TAC_CHECK_OK(tac_heads_train(Xs, Xs, 40, 16, NN, NN, 3, &hp, NULL, NULL, &h));
    tac_heads_free(h);
}

/* ---- Also: decoded pixels in flight are bounded across all threads ------------------------------------------ */
TAC_TEST(relin_decode_budget_bounds_pixels_in_flight)
{
    /* 8 images of up to 670 x 448 (PNG: 11 bytes a pixel while decoding) decoded by 4 threads */
    static const char *f[8] = {"odd_666x448.jpg", "half_670x448.jpg", "interlaced.png", "cmyk.jpg", "gray.jpg",
                               "lossy.webp", "gray8.png", "cifar_32x32.png"};
    int64_t biggest = 0;
    for (int i = 0; i < 8; i++) {
        tac_image img;
        TAC_CHECK_OK(tac_image_load(tac_test_path(IMG, f[i]), &img));
        int64_t need = (int64_t)img.w * img.h * (strstr(f[i], ".png") ? 11 : 3);
        if (need > biggest) biggest = need;
        tac_image_free(&img);
    }
    /* the paths made before the threads start: tac_test_path's rotating buffers are not for concurrent callers */
    char path[8][1024];
    for (int i = 0; i < 8; i++) snprintf(path[i], sizeof path[i], "%s", tac_test_path(IMG, f[i]));
    tac_image_set_decode_budget(1);            /* smaller than any image: each decode runs alone */
    for (int round = 0; round < 3; round++) {
        tac_image_decode_peak(1);
        int bad = 0;
        #pragma omp parallel for num_threads(4) schedule(dynamic, 1) reduction(+:bad)
        for (int i = 0; i < 32; i++) {
            tac_image img;
            if (tac_image_load(path[i % 8], &img) != TAC_OK) { bad++; continue; }
            volatile uint8_t sink = img.rgb[(size_t)img.w * img.h * 3 - 1];   /* hold it for a moment */
            (void)sink;
            tac_image_free(&img);
        }
        TAC_CHECK_INT(bad, 0);
        int64_t peak = tac_image_decode_peak(0);
        TAC_CHECK(peak <= biggest);
        TAC_CHECK(peak > 0);
    }
    tac_image_decode_peak(1);
    TAC_CHECK_INT(tac_image_decode_peak(0), 0);   /* everything given back */
    tac_image_set_decode_budget(0);
}

/* ---- item 12: the model hash covers every byte of the weights and of the tokenizer, and is remembered ------- */
static int hash_of(const char *dir, char out[17])
{
    tac_clip *m;
    if (tac_clip_load(dir, &m) != TAC_OK) return -1;
    snprintf(out, 17, "%s", tac_clip_hash(m));
    tac_clip_free(m);
    return 0;
}

TAC_TEST(relin_model_hash_all_bytes_and_tokenizer)
{
    const char *dir = tac_test_tmpdir();
    char memo[PATH_MAX];
    snprintf(memo, sizeof memo, "%s/xdg/taclust/file-hashes.tsv", dir);
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/xdg/taclust'", dir) == 0);
    /* no memo unless asked for: a load writes no file of its own accord */
    char plain[17];
    TAC_REQUIRE(hash_of(TINY, plain) == 0);
    TAC_CHECK(access(memo, F_OK) != 0);
    TAC_REQUIRE(tac_clip_set_hash_memo(memo, 0) == TAC_OK);   /* remember the tiny model's files too */
    char a[PATH_MAX], b[PATH_MAX], h0[17], h1[17], h2[17], h3[17];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    TAC_REQUIRE(tac_test_sh("cp -r " TINY " '%s' && cp -r " TINY " '%s'", a, b) == 0);
    TAC_REQUIRE(hash_of(a, h0) == 0 && hash_of(b, h1) == 0);
    TAC_CHECK(strcmp(h0, h1) == 0);                       /* same bytes, same hash, wherever the folder is */
    /* one weight changed by its lowest bit, at byte 500,000: outside the blocks the old hash sampled (the first
     * 4 KB of every MB and the last 4 KB) */
    char st[PATH_MAX + 32];
    snprintf(st, sizeof st, "%s/model.safetensors", b);
    FILE *f = fopen(st, "r+b");
    TAC_REQUIRE(f != NULL);
    uint64_t hl = 0;
    TAC_REQUIRE(fread(&hl, 8, 1, f) == 1);
    long off = 500000;
    if ((off - 8 - (long)hl) % 2) off++;                  /* the low byte of an F16 value: it stays finite */
    TAC_REQUIRE(off > 8 + (long)hl && off % (1 << 20) >= 4096);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    TAC_REQUIRE(hash_of(b, h2) == 0);
    TAC_CHECK(strcmp(h2, h0) != 0);
    TAC_REQUIRE(tac_test_sh("cp '%s' '%s/changed.safetensors'", st, dir) == 0);
    /* a changed tokenizer (one merge line dropped), weights as in a */
    TAC_REQUIRE(tac_test_sh("cp " TINY "/model.safetensors '%s/' && sed -i '$d' '%s/merges.txt'", b, b) == 0);
    TAC_REQUIRE(hash_of(b, h3) == 0);
    TAC_CHECK(strcmp(h3, h0) != 0 && strcmp(h3, h2) != 0);
    /* remembered: the memo holds each file once per version; a forged memo line (same path, size, mtime) is what
     * the next load uses, so the file was not read again; touching the file makes it hashed again */
    char **l; int64_t nl;
    TAC_REQUIRE(tac_read_lines(memo, &l, &nl, 1) == TAC_OK);
    int64_t before = nl;
    tac_free_strings(l, nl);
    TAC_REQUIRE(hash_of(a, h1) == 0);
    TAC_REQUIRE(tac_read_lines(memo, &l, &nl, 1) == TAC_OK);
    TAC_CHECK_INT(nl, before);                              /* nothing hashed again */
    TAC_CHECK(strcmp(h1, h0) == 0);
    char ast0[PATH_MAX + 32], ast[PATH_MAX], forged[PATH_MAX + 200] = "";
    snprintf(ast0, sizeof ast0, "%s/model.safetensors", a);
    TAC_REQUIRE(realpath(ast0, ast) != NULL);
    for (int64_t i = 0; i < nl; i++) {
        const char *tab = strchr(l[i], '\t');
        if (tab && strcmp(tab + 1, ast) == 0) { snprintf(forged, sizeof forged, "0123456789abcdef%s\n", l[i] + 16); }
    }
    tac_free_strings(l, nl);
    FILE *mf = fopen(memo, "a");
    TAC_REQUIRE(mf != NULL);
    fputs(forged, mf);
    fclose(mf);
    TAC_REQUIRE(hash_of(a, h1) == 0);
    TAC_CHECK(strcmp(h1, h0) != 0);                        /* the forged line was used: no re-read */
    TAC_REQUIRE(tac_test_sh("touch -d '2001-01-01' '%s'", ast) == 0);
    TAC_REQUIRE(hash_of(a, h1) == 0);
    TAC_CHECK(strcmp(h1, h0) == 0);                        /* new mtime: hashed again, the true value */
    /* content changed with size and mtime put back (touch -r): the ctime still changed, so it is hashed again */
    TAC_REQUIRE(tac_test_sh("cp -p '%s' '%s/ref' && cp '%s/changed.safetensors' '%s' && touch -r '%s/ref' '%s'", ast, dir,
                            dir, ast, dir, ast) == 0);
    TAC_REQUIRE(hash_of(a, h1) == 0);
    TAC_CHECK(strcmp(h1, h0) != 0 && strcmp(h1, h2) == 0);  /* a now holds b's changed weights */
    TAC_REQUIRE(tac_clip_set_hash_memo(NULL, (int64_t)16 << 20) == TAC_OK);
    /* the streaming hash does not depend on how the bytes are cut into updates, and sees every byte */
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7 + 3);
    tac_hash64 x, y;
    tac_hash64_init(&x, 0);
    tac_hash64_update(&x, buf, sizeof buf);
    uint64_t whole = tac_hash64_final(&x);
    for (int step = 1; step < 70; step += 13) {
        tac_hash64_init(&y, 0);
        for (int i = 0; i < 1000; i += step) tac_hash64_update(&y, buf + i, (size_t)(1000 - i < step ? 1000 - i : step));
        TAC_CHECK(tac_hash64_final(&y) == whole);
    }
    for (int i = 0; i < 1000; i += 37) {
        buf[i] ^= 0x10;
        tac_hash64_init(&y, 0);
        tac_hash64_update(&y, buf, sizeof buf);
        TAC_CHECK(tac_hash64_final(&y) != whole);
        buf[i] ^= 0x10;
    }
    tac_hash64_init(&y, 0);
    tac_hash64_update(&y, buf, 999);                        /* one byte shorter */
    TAC_CHECK(tac_hash64_final(&y) != whole);
}

/* ---- item 13: the noun cache is checksummed; what fails the check is computed again; errors name the file -- */
static int noun_cache_files(const char *xdg, char *final, char *parts, size_t n)
{
    char cmd[2 * PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "ls -d '%s'/taclust/*/nouns-*.npy '%s'/taclust/*/nouns-*.parts 2>/dev/null", xdg, xdg);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    final[0] = parts[0] = 0;
    char line[PATH_MAX];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strstr(line, ".parts")) snprintf(parts, n, "%s", line);
        else snprintf(final, n, "%s", line);
    }
    pclose(p);
    return final[0] ? 0 : -1;
}

TAC_TEST(relin_noun_cache_checksummed_and_recomputed)
{
    const char *dir = tac_test_tmpdir();
    char xdg[PATH_MAX];
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    setenv("XDG_CACHE_HOME", xdg, 1);
    tac_clip *m;
    TAC_REQUIRE(tac_clip_load(TINY, &m) == TAC_OK);
    const char *nouns[12] = {"cat", "dog", "car", "tree", "house", "bird", "flower", "boat", "photo", "apple", "ship", "horse"};
    float *T0, *T;
    int e;
    TAC_REQUIRE(tac_noun_embeddings_cached(m, nouns, 12, &T0, &e) == TAC_OK);
    char final[PATH_MAX], parts[PATH_MAX], sum[PATH_MAX + 8];
    TAC_REQUIRE(noun_cache_files(xdg, final, parts, sizeof final) == 0);
    snprintf(sum, sizeof sum, "%s.sum", final);
    TAC_CHECK(access(sum, R_OK) == 0);
    size_t bytes = (size_t)12 * e * sizeof(float);
    /* damage the final file in ways the old cache used forever: rows swapped, half a row zeroed, a NaN */
    for (int d = 0; d < 4; d++) {
        float *X; int64_t r, c;
        TAC_REQUIRE(tac_npy_load_f32(final, &X, &r, &c) == TAC_OK);
        if (d == 0) for (int j = 0; j < e; j++) { float t = X[j]; X[j] = X[e + j]; X[e + j] = t; }
        if (d == 1) memset(X + 3 * e, 0, (size_t)e / 2 * sizeof(float));
        if (d == 2) X[5 * e + 1] = NAN;
        int64_t shape[2] = {r, c};
        TAC_REQUIRE(tac_npy_save_f32(final, X, 2, shape) == TAC_OK);
        if (d == 3) unlink(sum);
        free(X);
        TAC_REQUIRE(tac_noun_embeddings_cached(m, nouns, 12, &T, &e) == TAC_OK);
        TAC_CHECK(memcmp(T, T0, bytes) == 0);              /* computed again, the same values */
        free(T);
        TAC_CHECK(access(sum, R_OK) == 0);
    }
    /* an interrupted fill: the final file gone, a part left behind that is damaged (or has no checksum) */
    for (int d = 0; d < 2; d++) {
        char part[PATH_MAX + 32], psum[PATH_MAX + 40];
        snprintf(parts, sizeof parts, "%.*s.parts", (int)(strlen(final) - 4), final);
        snprintf(part, sizeof part, "%s/part-00000.npy", parts);
        snprintf(psum, sizeof psum, "%s.sum", part);
        TAC_REQUIRE(tac_test_sh("mkdir -p '%s' && cp '%s' '%s' && cp '%s' '%s' && rm '%s' '%s'", parts, final, part, sum,
                                psum, final, sum) == 0);
        if (d == 0) TAC_REQUIRE(tac_test_sh("printf '\\001\\002\\003\\004' | dd of='%s' bs=1 seek=200 conv=notrunc 2>/dev/null", part) == 0);
        else unlink(psum);
        TAC_REQUIRE(tac_noun_embeddings_cached(m, nouns, 12, &T, &e) == TAC_OK);
        TAC_CHECK(memcmp(T, T0, bytes) == 0);
        free(T);
        TAC_CHECK(access(part, F_OK) != 0);                 /* parts removed once the final file is written */
    }
    /* a final name that cannot be replaced (a folder): the error names the cache file */
    TAC_REQUIRE(tac_test_sh("rm -f '%s' '%s' && mkdir '%s' && touch '%s/x'", final, sum, final, final) == 0);
    TAC_CHECK_ERR(tac_noun_embeddings_cached(m, nouns, 12, &T, &e), "nouns-");
    free(T0);
    tac_clip_free(m);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 16: dataset readers refuse labels outside the dataset's classes ---------------------------------- */
static void write_cifar_bin(const char *dir, const char *sub, const char *const *files, int nfiles, int lab_bytes,
                            int bad_file, int bad_label)
{
    char d[PATH_MAX + 64], p[PATH_MAX + 128];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    tac_mkdir_p(d);
    int rec = lab_bytes + 3072;
    unsigned char *buf = calloc(3, (size_t)rec);
    for (int f = 0; f < nfiles; f++) {
        for (int r = 0; r < 3; r++) buf[r * rec] = (unsigned char)(f == bad_file && r == 2 ? bad_label : r + 1);
        snprintf(p, sizeof p, "%s/%s", d, files[f]);
        tac_write_file_atomic(p, buf, (size_t)3 * rec);
    }
    free(buf);
}

TAC_TEST(relin_dataset_labels_checked)
{
    const char *dir = tac_test_tmpdir();
    static const char *c10[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                                 "data_batch_5.bin", "test_batch.bin"};
    static const char *c100[2] = {"train.bin", "test.bin"};
    tac_split tr, te;
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s/ok", dir);
    write_cifar_bin(d, "cifar-10-batches-bin", c10, 6, 1, -1, 0);
    TAC_CHECK_OK(tac_dataset_load("cifar10", d, &tr, &te));
    tac_split_free(&tr); tac_split_free(&te);
    const int bad[3] = {255, 10, 11};
    for (int i = 0; i < 3; i++) {
        snprintf(d, sizeof d, "%s/c10_%d", dir, i);
        write_cifar_bin(d, "cifar-10-batches-bin", c10, 6, 1, i == 2 ? 5 : 2, bad[i]);   /* in a train or the test file */
        TAC_CHECK_ERR(tac_dataset_load("cifar10", d, &tr, &te), i == 2 ? "test_batch.bin: label 11" : "data_batch_3.bin: label");
    }
    snprintf(d, sizeof d, "%s/c100", dir);
    write_cifar_bin(d, "cifar-100-binary", c100, 2, 2, 1, 20);                               /* 20 superclasses: 0..19 */
    TAC_CHECK_ERR(tac_dataset_load("cifar20", d, &tr, &te), "test.bin: label 20");
    /* the bench command says it in one line */
    snprintf(d, sizeof d, "%s/c10_0", dir);
    EXPECT_ERR(dir, "label 255", "bench cifar10 --data '%s' --model " TINY " --out '%s/b'", d, dir);
}
