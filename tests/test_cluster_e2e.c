/* test_cluster_e2e.c - end-to-end tests of `taclust cluster`, `assign` and `bench` on the committed tiny
 * random-weight CLIP (tests/fixtures/clip/tiny) over ../shared/datasets/photos and a slice of the CIFAR-10 JPEG
 * folders, with a corrupt and an empty file among them. Checks: every output exists and is consistent, the bad
 * files are skipped and listed, a run killed part-way and resumed gives identical clusters.csv, assign puts a copy
 * of a clustered image into that image's cluster, and the report renders in headless Chromium when installed.
 * The numbers mean nothing with random weights: these tests check the plumbing. */
#include "tac_test.h"
#include "taclust/textspace.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY "tests/fixtures/clip/tiny"

static int have_tiny(void) { return access(TINY "/model.safetensors", R_OK) == 0; }

static int have_shared_inputs(void)
{
    return access(tac_test_path(tac_test_shared(), "datasets/photos"), R_OK) == 0 &&
           access(tac_test_path(tac_test_shared(), "datasets/cifar10-jpeg-q75.tar"), R_OK) == 0;
}

/* The input folder: 12 photos + 7 classes (a-f) x 10 CIFAR test images + a text file named .jpg + an empty .png. */
static int make_inputs(const char *dir, char *in, size_t n)
{
    snprintf(in, n, "%s/in", dir);
    char tarp[PATH_MAX];
    snprintf(tarp, sizeof tarp, "%s/datasets/cifar10-jpeg-q75.tar", tac_test_shared());
    if (tac_test_sh("mkdir -p '%s/photos' && cp '%s'/datasets/photos/* '%s/photos/' && "
                    "tar -xf '%s' -C '%s' --wildcards 'cifar10-jpeg/test/[a-f]*/000[0-9].jpg' && "
                    "mv '%s/cifar10-jpeg/test' '%s/cifar' && echo 'not an image' > '%s/photos/broken.jpg' && "
                    ": > '%s/photos/empty.png'",
                    in, tac_test_shared(), in, tarp, dir, dir, in, in, in) != 0) return -1;
    return 0;
}

/* A small vocabulary (every 150th WordNet noun) so the tiny model embeds it in a moment. */
static int make_vocab(const char *path)
{
    char **nouns; int64_t m;
    if (tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &nouns, &m) != TAC_OK) return -1;
    FILE *f = fopen(path, "w");
    for (int64_t i = 0; i < m; i += 150) fprintf(f, "%s\n", nouns[i]);
    fclose(f);
    tac_free_strings(nouns, m);
    return 0;
}

static char *slurp(const char *path)
{
    char *s; size_t n;
    return tac_read_file(path, &s, &n) == TAC_OK ? s : NULL;
}

static int count_lines(const char *path)
{
    char **l; int64_t n;
    if (tac_read_lines(path, &l, &n, 1) != TAC_OK) return -1;
    tac_free_strings(l, n);
    return (int)n;
}

/* cluster of `base` (file name) in clusters.csv, or -1 */
static int cluster_of(const char *csv, const char *base)
{
    char **l; int64_t n;
    if (tac_read_lines(csv, &l, &n, 1) != TAC_OK) return -1;
    int c = -1;
    for (int64_t i = 1; i < n; i++) {
        char *comma = l[i][0] == '"' ? strstr(l[i] + 1, "\",") + 1 : strchr(l[i], ',');
        if (!comma) continue;
        *comma = 0;
        const char *b = strrchr(l[i], '/');
        if (b && strcmp(b + 1, base) == 0) c = atoi(comma + 1);
    }
    tac_free_strings(l, n);
    return c;
}

TAC_TEST(e2e_cluster_outputs_resume_assign)
{
    if (!have_tiny()) TAC_SKIP("tiny CLIP fixture missing (" TINY ")");
    if (access("/usr/share/wordnet/data.noun", R_OK) != 0) TAC_SKIP("WordNet not installed (tools/install-deps.sh)");
    const char *dir = tac_test_tmpdir();
    char in[PATH_MAX], voc[PATH_MAX], out[PATH_MAX], out2[PATH_MAX], log[PATH_MAX];
    if (!have_shared_inputs()) TAC_SKIP("../shared/datasets/photos or cifar10-jpeg-q75.tar not found");
    TAC_REQUIRE(make_inputs(dir, in, sizeof in) == 0);
    snprintf(voc, sizeof voc, "%s/vocab.txt", dir);
    TAC_REQUIRE(make_vocab(voc) == 0);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(out2, sizeof out2, "%s/out2", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    int rc = tac_test_sh("%s cluster '%s' --model " TINY " --vocabulary '%s' -K 4 --seed 7 --batch 8 --out '%s' >'%s' 2>&1",
                         tac_test_bin(), in, voc, out, log);
    if (rc != 0) { char *s = slurp(log); printf("%s\n", s ? s : ""); free(s); }
    TAC_REQUIRE(rc == 0);
    /* 82 readable images (12 photos + 70 CIFAR: airplane..frog), 2 skipped */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/clusters.csv", out);
    TAC_CHECK_INT(count_lines(p), 1 + 82);
    snprintf(p, sizeof p, "%s/skipped.txt", out);
    char *sk = slurp(p);
    TAC_REQUIRE(sk != NULL);
    TAC_CHECK(strstr(sk, "broken.jpg\t") != NULL && strstr(sk, "empty.png\t") != NULL);
    TAC_CHECK_INT(count_lines(p), 2);
    free(sk);
    /* every image in exactly one cluster; sizes in clusters.json add up */
    snprintf(p, sizeof p, "%s/clusters.json", out);
    char *js = slurp(p);
    TAC_REQUIRE(js != NULL);
    cJSON *o = cJSON_Parse(js);
    free(js);
    TAC_REQUIRE(o != NULL);
    cJSON *cl = cJSON_GetObjectItem(o, "clusters");
    TAC_CHECK_INT(cJSON_GetArraySize(cl), 4);
    int total = 0;
    for (int c = 0; c < cJSON_GetArraySize(cl); c++) {
        cJSON *x = cJSON_GetArrayItem(cl, c);
        total += cJSON_GetObjectItem(x, "size")->valueint;
        TAC_CHECK(strlen(cJSON_GetObjectItem(x, "name")->valuestring) > 0);
    }
    TAC_CHECK_INT(total, 82);
    cJSON_Delete(o);
    /* by-cluster: 82 links, all resolving to regular files */
    TAC_CHECK(tac_test_sh("test $(find '%s/by-cluster/' -type l | wc -l) -eq 82", out) == 0);
    TAC_CHECK(tac_test_sh("test $(find -L '%s/by-cluster/' -type f | wc -l) -eq 82", out) == 0);
    /* the report lists every image */
    snprintf(p, sizeof p, "%s/report.html", out);
    char *html = slurp(p);
    TAC_REQUIRE(html != NULL);
    TAC_CHECK(strstr(html, "chelsea.png") && strstr(html, "rocket.jpg") && strstr(html, "cifar/cat/0009.jpg"));
    int figs = 0;
    for (char *q = html; (q = strstr(q, "<figure ")); q++) figs++;
    TAC_CHECK_INT(figs, 82);
    free(html);
    TAC_CHECK(access(tac_test_path(out, "model/params.json"), R_OK) == 0);
    TAC_CHECK(access(tac_test_path(out, "model/heads.bin"), R_OK) == 0);

    /* killed after 3 batches, then resumed with nothing but --resume --out: identical clusters.csv */
    rc = tac_test_sh("TACLUST_DEBUG_KILL_AFTER_BATCHES=3 %s cluster '%s' --model " TINY " --vocabulary '%s' -K 4 --seed 7 "
                     "--batch 8 --out '%s' >'%s' 2>&1", tac_test_bin(), in, voc, out2, log);
    TAC_CHECK(rc != 0);
    TAC_CHECK(access(tac_test_path(out2, "clusters.csv"), F_OK) != 0);
    rc = tac_test_sh("%s cluster --resume --out '%s' >'%s' 2>&1", tac_test_bin(), out2, log);
    TAC_REQUIRE(rc == 0);
    char *lg = slurp(log);
    TAC_CHECK(lg && strstr(lg, "already embedded") != NULL);
    free(lg);
    TAC_CHECK(tac_test_sh("cmp -s '%s/clusters.csv' '%s/clusters.csv'", out, out2) == 0);

    /* assign: a copy of a clustered image lands in that image's cluster */
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/new' && cp '%s/photos/chelsea.png' '%s/new/chelsea-copy.png'", dir, in, dir) == 0);
    snprintf(p, sizeof p, "%s/clusters.csv", out);
    int want = cluster_of(p, "chelsea.png");
    TAC_CHECK(want >= 0);
    rc = tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", tac_test_bin(), out, dir, log);
    TAC_REQUIRE(rc == 0);
    TAC_CHECK_INT(cluster_of(p, "chelsea-copy.png"), want);
    TAC_CHECK_INT(count_lines(p), 1 + 83);
    TAC_CHECK(tac_test_sh("test $(find '%s/by-cluster/' -name chelsea-copy.png -type l | wc -l) -eq 1", out) == 0);

    /* a grown folder: the second run embeds only the new image */
    TAC_REQUIRE(tac_test_sh("cp '%s/photos/coffee.png' '%s/photos/coffee2.png'", in, in) == 0);
    rc = tac_test_sh("%s cluster '%s' --model " TINY " --vocabulary '%s' -K 4 --seed 7 --out '%s' >'%s' 2>&1",
                     tac_test_bin(), in, voc, out, log);
    TAC_REQUIRE(rc == 0);
    lg = slurp(log);
    TAC_CHECK(lg && strstr(lg, "82 already embedded (cache), 3 to embed") != NULL);
    free(lg);

    /* --no-train and K auto also run through */
    rc = tac_test_sh("%s cluster '%s/photos' --model " TINY " --vocabulary '%s' --no-train --out '%s/auto' >'%s' 2>&1",
                     tac_test_bin(), in, voc, dir, log);
    lg = slurp(log);
    if (rc != 0) printf("%s\n", lg ? lg : "");
    TAC_CHECK(rc == 0);
    TAC_CHECK(lg && strstr(lg, "K auto chose K=") != NULL);
    free(lg);
    unsetenv("XDG_CACHE_HOME");
}

TAC_TEST(e2e_cluster_bad_usage)
{
    const char *dir = tac_test_tmpdir();
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    /* no --model: the default model, here neither cached nor downloadable (offline): one line, exit 1 */
    TAC_CHECK_INT(tac_test_sh("HF_HUB_OFFLINE=1 HF_HUB_CACHE='%s/nohub' TACLUST_MODEL= %s cluster --out '%s/o' x.jpg >'%s' 2>&1",
                              dir, tac_test_bin(), dir, log), 1);
    char *s0 = slurp(log);
    TAC_CHECK(s0 && strstr(s0, "taclust cluster: openai/clip-vit-base-patch32@main is not in the cache") && strstr(s0, "HF_HUB_OFFLINE=1"));
    free(s0);
    TAC_CHECK_INT(tac_test_sh("%s cluster --model /nonexistent --out '%s/o' '%s' >'%s' 2>&1", tac_test_bin(), dir, dir, log), 1);
    char *s = slurp(log);
    TAC_CHECK(s && strstr(s, "taclust cluster: ") && strstr(s, "/nonexistent"));
    free(s);
    TAC_CHECK_INT(tac_test_sh("%s cluster --resume --out '%s/none' >'%s' 2>&1", tac_test_bin(), dir, log), 1);
    s = slurp(log);
    TAC_CHECK(s && strstr(s, "no earlier run"));
    free(s);
    TAC_CHECK_INT(tac_test_sh("%s cluster -K 1 --model m --out o x >'%s' 2>&1", tac_test_bin(), log), 2);
}

TAC_TEST(e2e_bench_cifar10_plumbing)
{
    if (!have_tiny()) TAC_SKIP("tiny CLIP fixture missing (" TINY ")");
    if (access("/usr/share/wordnet/data.noun", R_OK) != 0) TAC_SKIP("WordNet not installed (tools/install-deps.sh)");
    const char *dir = tac_test_tmpdir();
    char tarp[PATH_MAX], voc[PATH_MAX], log[PATH_MAX];
    snprintf(tarp, sizeof tarp, "%s/datasets/cifar10-jpeg-q75.tar", tac_test_shared());
    if (access(tarp, R_OK) != 0) TAC_SKIP("../shared/datasets/cifar10-jpeg-q75.tar not found");
    TAC_REQUIRE(tac_test_sh("tar -xf '%s' -C '%s' --wildcards 'cifar10-jpeg/*/*/00[0-1][0-9].jpg'", tarp, dir) == 0);
    snprintf(voc, sizeof voc, "%s/vocab.txt", dir);
    TAC_REQUIRE(make_vocab(voc) == 0);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    int rc = tac_test_sh("%s bench cifar10 --data '%s/cifar10-jpeg' --model " TINY " --vocabulary '%s' --out '%s/b' >'%s' 2>&1",
                         tac_test_bin(), dir, voc, dir, log);
    char *s = slurp(log);
    if (rc != 0) printf("%s\n", s ? s : "");
    TAC_CHECK(rc == 0);
    TAC_CHECK(s && strstr(s, "CLIP (k-means)") && strstr(s, "TAC (no train)") && strstr(s, "90.1"));
    free(s);
    TAC_CHECK(access(tac_test_path(dir, "b/metrics.json"), R_OK) == 0);
    unsetenv("XDG_CACHE_HOME");
}

/* The report in a real browser: Chromium renders it, every thumbnail decodes, every cluster is on the page. */
TAC_TEST(e2e_report_renders_in_chromium)
{
    const char *chrome = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    if (!chrome) TAC_SKIP("chromium not installed (apt-get install chromium)");
    if (!have_tiny()) TAC_SKIP("tiny CLIP fixture missing (" TINY ")");
    const char *dir = tac_test_tmpdir();
    char in[PATH_MAX], voc[PATH_MAX], log[PATH_MAX];
    if (!have_shared_inputs()) TAC_SKIP("../shared/datasets/photos or cifar10-jpeg-q75.tar not found");
    TAC_REQUIRE(make_inputs(dir, in, sizeof in) == 0);
    snprintf(voc, sizeof voc, "%s/vocab.txt", dir);
    TAC_REQUIRE(make_vocab(voc) == 0);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    TAC_REQUIRE(tac_test_sh("%s cluster '%s' --model " TINY " --vocabulary '%s' -K 3 --no-train --out '%s/out' >'%s' 2>&1",
                            tac_test_bin(), in, voc, dir, log) == 0);
    unsetenv("XDG_CACHE_HOME");
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update --disable-sync "
                        "--virtual-time-budget=5000";
    TAC_REQUIRE(tac_test_sh("%s %s --user-data-dir='%s/chr1' --dump-dom 'file://%s/out/report.html' >'%s/dom.html' 2>/dev/null",
                            chrome, flags, dir, dir, dir) == 0);
    char *dom = slurp(tac_test_path(dir, "dom.html"));
    TAC_REQUIRE(dom != NULL);
    TAC_CHECK(strstr(dom, "data-thumbs-loaded=\"82\"") != NULL);   /* set by the page once all images decoded */
    int sections = 0;
    for (char *q = dom; (q = strstr(q, "<section class=\"cluster\"")); q++) sections++;
    TAC_CHECK_INT(sections, 3);
    free(dom);
    TAC_CHECK(tac_test_sh("%s %s --user-data-dir='%s/chr2' --window-size=1200,900 --screenshot='%s/shot.png' 'file://%s/out/report.html' >/dev/null 2>&1",
                          chrome, flags, dir, dir, dir) == 0);
    TAC_CHECK(tac_test_sh("test $(stat -c %%s '%s/shot.png') -gt 10000 && head -c 8 '%s/shot.png' | grep -q PNG", dir, dir) == 0);
    if (getenv("TAC_KEEP_TMP")) printf("    screenshot: %s/shot.png\n", dir);
}
