/* test_outdir.c - `cluster` and `assign` never damage an earlier good result, and what they write is safe for the
 * programs that read it (issue 9, items 7-11, 14, 15). Every test runs the real `taclust` on the committed tiny
 * random-weight CLIP over JPEGs the test makes itself (flat colours), with a 40-noun vocabulary, so nothing needs
 * ../shared except the tokenizer when the tiny model folder has none (then the tests say skipped).
 *   failed reruns (bad model, a full disk at each kind of output, a file-size limit, a kill) leave OUT as it was;
 *   a lock on OUT and on the noun cache entry makes a second process wait, saying so;
 *   assign never writes through a link planted in by-cluster/, and a taken name gets a -2 suffix;
 *   odd OUT names work, user files in OUT are never deleted (the run refuses and says so), trees are removed
 *   without following links; temporaries of dead processes go, a live process's stay;
 *   every JSON file passes a strict RFC 8259 + UTF-8 check (written here) with non-UTF-8 names;
 *   clusters.csv cells never start a formula, control characters cannot forge lines in csv or skipped.txt.
 */
#include "tac_test.h"
#include "taclust/clip.h"
#include "app/tac_app.h"
#include "taclust/image.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TINY "tests/fixtures/clip/tiny"

static char g_bin[PATH_MAX], g_model[PATH_MAX];

/* The tiny model and a tokenizer for it (its folder's, or the shared one given by absolute path so that tests may
 * change the working folder). */
static const char *tiny_ready(void)
{
    if (!realpath(TINY, g_model) || access(TINY "/model.safetensors", R_OK) != 0) return "tiny CLIP fixture missing (" TINY ")";
    if (!realpath(tac_test_bin(), g_bin)) return "taclust binary not built";
    if (access(TINY "/vocab.json", R_OK) == 0 || access(TINY "/bpe_simple_vocab_16e6.txt.gz", R_OK) == 0) return NULL;
    const char *env = getenv("TACLUST_BPE");
    if (env && access(env, R_OK) == 0) return NULL;
    char shared[PATH_MAX], abs[PATH_MAX];
    snprintf(shared, sizeof shared, "%s/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz", tac_test_shared());
    if (!realpath(shared, abs)) return "no tokenizer for the tiny model (neither in " TINY " nor in ../shared)";
    setenv("TACLUST_BPE", abs, 1);
    return NULL;
}

/* A JPEG of flat colour blocks, different for each seed. */
static int write_jpeg(const char *path, unsigned seed)
{
    tac_image img = {48, 40, NULL};
    img.rgb = tac_xmalloc((size_t)img.w * img.h * 3, 1);
    tac_mt r;
    tac_mt_seed(&r, seed);
    uint8_t col[4][3];
    for (int b = 0; b < 4; b++) for (int c = 0; c < 3; c++) col[b][c] = (uint8_t)(tac_mt_next(&r) & 255);
    for (int y = 0; y < img.h; y++)
        for (int x = 0; x < img.w; x++)
            for (int c = 0; c < 3; c++) img.rgb[((size_t)y * img.w + x) * 3 + c] = col[(y >= img.h / 2) * 2 + (x >= img.w / 2)][c];
    uint8_t *jpg; size_t len;
    int rc = tac_image_thumbnail_jpeg(&img, 48, 90, &jpg, &len);
    free(img.rgb);
    if (rc != TAC_OK) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) { free(jpg); return -1; }
    size_t w = fwrite(jpg, 1, len, f);
    free(jpg);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* dir/in with n images img00.jpg.., dir/voc.txt, XDG_CACHE_HOME=dir/xdg */
static int setup(const char *dir, int n)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/in", dir);
    if (tac_mkdir_p(p) != TAC_OK) return -1;
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/in/img%02d.jpg", dir, i);
        if (write_jpeg(p, 100u + (unsigned)i) != 0) return -1;
    }
    static const char *words[] = {"cat", "dog", "car", "tree", "house", "boat", "bird", "fish", "apple", "chair",
        "table", "road", "river", "mountain", "flower", "horse", "train", "plane", "book", "cup", "shoe", "hat",
        "lamp", "door", "window", "cloud", "stone", "bridge", "clock", "phone", "bottle", "key", "ball", "bread",
        "cheese", "egg", "leaf", "sand", "snow", "star"};
    snprintf(p, sizeof p, "%s/voc.txt", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) fprintf(f, "%s\n", words[i]);
    fclose(f);
    setenv("XDG_CACHE_HOME", tac_test_path(dir, "xdg"), 1);
    return 0;
}

static char *slurp(const char *path)
{
    char *s; size_t n;
    return tac_read_file(path, &s, &n) == TAC_OK ? s : NULL;
}

static int log_has(const char *log, const char *what)
{
    char *s = slurp(log);
    int r = s && strstr(s, what) != NULL;
    if (!r) printf("    (log %s does not say \"%s\":)\n%s\n", log, what, s ? s : "(none)");
    free(s);
    return r;
}

/* `taclust cluster DIR/in ... -K k --out OUT` (env: VAR=value words before it), output to DIR/log.txt; the exit status. */
static int cluster_k(const char *dir, const char *out, int k, const char *env)
{
    return tac_test_sh("%s %s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train --seed 3 -K %d --out '%s' >'%s/log.txt' 2>&1",
                       env ? env : "", g_bin, dir, g_model, dir, k, out, dir);
}

/* Everything a user or a reader sees in OUT (through the links), hashed, into file. */
static int snapshot(const char *out, const char *file)
{
    return tac_test_sh("cd '%s' && { for f in clusters.csv clusters.json report.html skipped.txt run.json; do md5sum $f; done; "
                       "md5sum model/*; find -L by-cluster/ | sort; for l in $(find by-cluster/ -type l | sort); do "
                       "echo \"$l -> $(readlink $l)\"; done; } >'%s' 2>&1", out, file);
}

static int same_file(const char *a, const char *b)
{
    int r = tac_test_sh("cmp -s '%s' '%s'", a, b) == 0;
    if (!r) tac_test_sh("diff '%s' '%s' | head -5", a, b);
    return r;
}

/* cluster of the row whose path ends with /base in OUT/clusters.csv, or -1 */
static int cluster_of(const char *out, const char *base)
{
    char **l; int64_t n;
    if (tac_read_lines(tac_test_path(out, "clusters.csv"), &l, &n, 1) != TAC_OK) return -1;
    int c = -1;
    size_t bl = strlen(base);
    for (int64_t i = 1; i < n; i++) {
        char *comma = strchr(l[i], ',');
        if (!comma || (size_t)(comma - l[i]) < bl + 1) continue;
        if (comma[-(long)bl - 1] == '/' && strncmp(comma - bl, base, bl) == 0) c = atoi(comma + 1);
    }
    tac_free_strings(l, n);
    return c;
}

/* The name of cluster c's folder in OUT/by-cluster ("NN-..."), or "" */
static void cluster_folder(const char *out, int c, char *name, size_t n)
{
    char cmd[PATH_MAX + 128], prefix[8];
    snprintf(prefix, sizeof prefix, "%02d-", c);
    name[0] = 0;
    snprintf(cmd, sizeof cmd, "ls '%s/by-cluster/'", out);
    FILE *p = popen(cmd, "r");
    char line[256];
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, prefix, 3) == 0) snprintf(name, n, "%s", line);
    }
    if (p) pclose(p);
}

/* entries of a folder (no . and ..), or -1 */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int count_runs(const char *out) { return count_entries(tac_test_path(out, ".runs")); }

static int count_lines(const char *path)
{
    char **l; int64_t n;
    if (tac_read_lines(path, &l, &n, 0) != TAC_OK) return -1;
    tac_free_strings(l, n);
    return (int)n;
}

/* ---- item 7 ------------------------------------------------------------------------------------------------ */
TAC_TEST(outdir_failed_rerun_keeps_good_result)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 16) == 0);
    char out[PATH_MAX], snap0[PATH_MAX], snap[PATH_MAX], log[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(snap0, sizeof snap0, "%s/snap0", dir);
    snprintf(snap, sizeof snap, "%s/snap", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    TAC_REQUIRE(cluster_k(dir, out, 3, NULL) == 0);
    TAC_REQUIRE(snapshot(out, snap0) == 0);

    /* a rerun whose model does not exist: run.json and everything else unchanged; assign and --resume still work */
    TAC_CHECK_INT(tac_test_sh("%s cluster '%s/in' --model /nonexistent --out '%s' >'%s' 2>&1", g_bin, dir, out, log), 1);
    TAC_REQUIRE(snapshot(out, snap) == 0);
    TAC_CHECK(same_file(snap0, snap));

    /* a full disk at each kind of output in turn (the first file, a model file, a link, the last file, the switch
     * itself): OUT keeps the earlier run, nothing is left over */
    static const char *points[] = {"run.json", "params.json", "by-cluster", "report.html", "current"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char env[128];
        snprintf(env, sizeof env, "TACLUST_DEBUG_FAIL_WRITE=%s", points[i]);
        int rc = cluster_k(dir, out, 4, env);
        if (rc != 1) printf("    failure injected at %s: exit %d\n", points[i], rc);
        TAC_CHECK_INT(rc, 1);
        TAC_REQUIRE(snapshot(out, snap) == 0);
        if (!same_file(snap0, snap)) printf("    OUT changed by a run that failed at %s\n", points[i]);
        TAC_CHECK(same_file(snap0, snap));
        TAC_CHECK_INT(count_runs(out), 1);
    }
    /* a real file-size limit (SIGXFSZ ignored: writes fail with EFBIG) hits report.html, the largest output */
    int rc = tac_test_sh("trap '' XFSZ; ulimit -f 12; %s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train "
                         "-K 4 --out '%s' >'%s' 2>&1", g_bin, dir, g_model, dir, out, log);
    TAC_CHECK_INT(rc, 1);
    TAC_REQUIRE(snapshot(out, snap) == 0);
    TAC_CHECK(same_file(snap0, snap));

    /* --resume after the failures re-runs the committed run: same result */
    TAC_CHECK_INT(tac_test_sh("%s cluster --resume --out '%s' >'%s' 2>&1", g_bin, out, log), 0);
    TAC_REQUIRE(snapshot(out, snap) == 0);
    TAC_CHECK(same_file(snap0, snap));

    /* assign that fails half-way (full disk at its new link, at the switch) changes nothing; then one that works */
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/new' && cp '%s/in/img03.jpg' '%s/new/fresh.jpg'", dir, dir, dir) == 0);
    TAC_REQUIRE(snapshot(out, snap0) == 0);
    TAC_CHECK_INT(tac_test_sh("TACLUST_DEBUG_FAIL_WRITE=fresh.jpg %s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 1);
    TAC_CHECK_INT(tac_test_sh("TACLUST_DEBUG_FAIL_WRITE=current %s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 1);
    TAC_REQUIRE(snapshot(out, snap) == 0);
    TAC_CHECK(same_file(snap0, snap));
    TAC_CHECK_INT(count_runs(out), 1);
    TAC_CHECK_INT(tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 16 + 1);
    TAC_CHECK(tac_test_sh("test $(find '%s/by-cluster/' -name fresh.jpg -type l | wc -l) -eq 1", out) == 0);

    /* a rerun killed after its first batch leaves OUT as it was; --resume then finishes that run (4 more images) */
    for (int i = 16; i < 20; i++) {
        char xp[PATH_MAX];
        snprintf(xp, sizeof xp, "%s/in/x%02d.jpg", dir, i);
        TAC_REQUIRE(write_jpeg(xp, 900u + (unsigned)i) == 0);
    }
    TAC_REQUIRE(snapshot(out, snap0) == 0);
    rc = tac_test_sh("TACLUST_DEBUG_KILL_AFTER_BATCHES=1 %s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train "
                     "-K 3 --batch 2 --out '%s' >'%s' 2>&1", g_bin, dir, g_model, dir, out, log);
    TAC_CHECK(rc != 0);
    TAC_REQUIRE(snapshot(out, snap) == 0);
    TAC_CHECK(same_file(snap0, snap));
    TAC_CHECK_INT(tac_test_sh("%s cluster --resume --out '%s' >'%s' 2>&1", g_bin, out, log), 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 20);
    TAC_CHECK_INT(count_runs(out), 1);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 8 ------------------------------------------------------------------------------------------------ */
/* Holds an flock on path; returns the fd (or -1). */
static int hold_lock(const char *path)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { close(fd); return -1; }
    return fd;
}

/* Waits up to `secs` for file to exist. */
static int wait_file(const char *path, double secs)
{
    for (double t = 0; t < secs; t += 0.05) {
        if (access(path, F_OK) == 0) return 1;
        usleep(50000);
    }
    return access(path, F_OK) == 0;
}

/* Waits up to `secs` for file to contain text. */
static int wait_text(const char *path, const char *text, double secs)
{
    for (double t = 0; t < secs; t += 0.1) {
        char *s = slurp(path);
        int found = s && strstr(s, text);
        free(s);
        if (found) return 1;
        usleep(100000);
    }
    return 0;
}

static int read_int_file(const char *path)
{
    char *s = slurp(path);
    int v = s ? atoi(s) : -999;
    free(s);
    return v;
}

TAC_TEST(outdir_lock_second_run_waits)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char out[PATH_MAX], out2[PATH_MAX], log2[PATH_MAX], log3[PATH_MAX], rcf[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(out2, sizeof out2, "%s/out2", dir);
    snprintf(log2, sizeof log2, "%s/log2.txt", dir);
    snprintf(log3, sizeof log3, "%s/log3.txt", dir);
    snprintf(rcf, sizeof rcf, "%s/rc", dir);
    TAC_REQUIRE(cluster_k(dir, out, 3, NULL) == 0);

    /* OUT locked by another process (this test): the run says so and waits until the lock is released */
    int fd = hold_lock(tac_test_path(out, ".taclust.lock"));
    TAC_REQUIRE(fd >= 0);
    TAC_REQUIRE(tac_test_sh("(%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 2 --out '%s' >'%s' 2>&1; "
                            "echo $? >'%s.tmp'; mv '%s.tmp' '%s') >/dev/null 2>&1 &", g_bin, dir, g_model, dir, out, log2, rcf, rcf, rcf) == 0);
    TAC_CHECK(wait_text(log2, "in use by another taclust process", 60));
    usleep(300000);
    TAC_CHECK(access(rcf, F_OK) != 0);                       /* still waiting */
    flock(fd, LOCK_UN);
    close(fd);
    TAC_REQUIRE(wait_file(rcf, 60));
    TAC_CHECK_INT(read_int_file(rcf), 0);
    char *js = slurp(tac_test_path(out, "clusters.json"));
    TAC_CHECK(js && strstr(js, "\"clusters_count\":\t2") != NULL);
    free(js);
    unlink(rcf);

    /* the noun cache entry: locked, a run on another OUT with the same vocabulary waits for it */
    char lockp[PATH_MAX] = "";
    {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "find '%s/xdg' -name 'nouns-*.lock'", dir);
        FILE *q = popen(cmd, "r");
        if (q && fgets(lockp, sizeof lockp, q)) lockp[strcspn(lockp, "\n")] = 0;
        if (q) pclose(q);
    }
    TAC_REQUIRE(lockp[0] != 0);
    fd = hold_lock(lockp);
    TAC_REQUIRE(fd >= 0);
    TAC_REQUIRE(tac_test_sh("(%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 2 --out '%s' >'%s' 2>&1; "
                            "echo $? >'%s.tmp'; mv '%s.tmp' '%s') >/dev/null 2>&1 &", g_bin, dir, g_model, dir, out2, log3, rcf, rcf, rcf) == 0);
    TAC_CHECK(wait_text(log3, "waiting for it to finish", 60));
    usleep(300000);
    TAC_CHECK(access(rcf, F_OK) != 0);
    TAC_CHECK(log_has(log3, "nouns-"));
    flock(fd, LOCK_UN);
    close(fd);
    TAC_REQUIRE(wait_file(rcf, 60));
    TAC_CHECK_INT(read_int_file(rcf), 0);
    unlink(rcf);

    /* two runs at once on one OUT (K 2 and K 4) and a third on another OUT, all three filling the (removed) noun
     * cache at once: all succeed, and OUT holds one consistent run (its run.json, clusters.json and by-cluster/
     * agree) */
    TAC_REQUIRE(tac_test_sh("rm -rf '%s/xdg'", dir) == 0);
    TAC_REQUIRE(tac_test_sh("%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 2 --out '%s' >'%s/a.txt' 2>&1 & "
                            "%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 4 --out '%s' >'%s/b.txt' 2>&1 & "
                            "%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 3 --out '%s/out3' >'%s/c.txt' 2>&1 & "
                            "wait %%1 && wait %%2 && wait %%3", g_bin, dir, g_model, dir, out, dir, g_bin, dir, g_model, dir, out, dir,
                            g_bin, dir, g_model, dir, dir, dir) == 0);
    TAC_CHECK(access(tac_test_path(dir, "out3/clusters.csv"), R_OK) == 0);
    char *rj = slurp(tac_test_path(out, "run.json"));
    js = slurp(tac_test_path(out, "clusters.json"));
    TAC_REQUIRE(rj && js);
    int k = strstr(rj, "\"K\":\t4") ? 4 : strstr(rj, "\"K\":\t2") ? 2 : -1;
    TAC_CHECK(k > 0);
    char want[64];
    snprintf(want, sizeof want, "\"clusters_count\":\t%d", k);
    TAC_CHECK(strstr(js, want) != NULL);
    TAC_CHECK(tac_test_sh("test $(ls '%s/by-cluster/' | wc -l) -eq %d", out, k) == 0);
    free(rj); free(js);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 9 ------------------------------------------------------------------------------------------------ */
TAC_TEST(outdir_assign_never_writes_outside)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char out[PATH_MAX], log[PATH_MAX], folder[256], victim[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    TAC_REQUIRE(cluster_k(dir, out, 3, NULL) == 0);
    /* a new image with the name of a clustered one (another folder, same pixels: same cluster) */
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/new' && cp '%s/in/img05.jpg' '%s/new/img05.jpg'", dir, dir, dir) == 0);
    int c = cluster_of(out, "img05.jpg");
    TAC_REQUIRE(c >= 0);
    cluster_folder(out, c, folder, sizeof folder);
    TAC_REQUIRE(folder[0]);

    /* the taken name gets -2; the earlier link still points at the earlier image */
    TAC_REQUIRE(tac_test_sh("cp -a '%s' '%s/out-copy'", out, dir) == 0);
    TAC_CHECK_INT(tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    TAC_CHECK_INT(cluster_of(out, "img05.jpg"), c);
    char l1[PATH_MAX + 320], l2[PATH_MAX + 320], t[PATH_MAX];
    snprintf(l1, sizeof l1, "%s/by-cluster/%s/img05.jpg", out, folder);
    snprintf(l2, sizeof l2, "%s/by-cluster/%s/img05-2.jpg", out, folder);
    ssize_t n = readlink(l1, t, sizeof t - 1);
    TAC_REQUIRE(n > 0);
    t[n] = 0;
    TAC_CHECK(strstr(t, "/in/img05.jpg") != NULL);
    n = readlink(l2, t, sizeof t - 1);
    TAC_REQUIRE(n > 0);
    t[n] = 0;
    TAC_CHECK(strstr(t, "/new/img05.jpg") != NULL);
    /* assigning the same image again keeps one link and one row for it */
    TAC_CHECK_INT(tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    TAC_CHECK(tac_test_sh("test $(find '%s/by-cluster/' -lname '*/new/img05.jpg' | wc -l) -eq 1", out) == 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 12 + 1);

    /* the cluster folder replaced by a link to a user's folder holding a file of that name: the file survives */
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s/out-copy", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s' && echo precious >'%s/img05.jpg' && echo mine >'%s/other.txt'", victim, victim, victim) == 0);
    TAC_REQUIRE(tac_test_sh("cd '%s/by-cluster/' && rm -r '%s' && ln -s '%s' '%s'", copy, folder, victim, folder) == 0);
    int rc = tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, copy, dir, log);
    char *s = slurp(tac_test_path(victim, "img05.jpg"));
    TAC_CHECK(s && strcmp(s, "precious\n") == 0);
    free(s);
    struct stat st;
    TAC_CHECK(lstat(tac_test_path(victim, "img05.jpg"), &st) == 0 && S_ISREG(st.st_mode));
    TAC_CHECK(tac_test_sh("test $(ls -A '%s' | wc -l) -eq 2", victim) == 0);
    TAC_CHECK_INT(rc, 1);
    TAC_CHECK(log_has(log, "not written by taclust"));
    /* the embedding cache replaced by a link to a user's (empty) file: refused, the file stays empty */
    TAC_REQUIRE(tac_test_sh("cd '%s/cache' && : >'%s/empty.txt' && rm embeddings.bin && ln -s '%s/empty.txt' embeddings.bin",
                            copy, victim, victim) == 0);
    TAC_CHECK_INT(tac_test_sh("%s cluster '%s/in' --model '%s' --vocabulary '%s/voc.txt' --no-train -K 2 --out '%s' >'%s' 2>&1",
                              g_bin, dir, g_model, dir, copy, log), 1);
    TAC_CHECK(stat(tac_test_path(victim, "empty.txt"), &st) == 0 && st.st_size == 0);
    TAC_CHECK(log_has(log, "cache/embeddings.bin was not written by taclust"));
    TAC_REQUIRE(unlink(tac_test_path(victim, "empty.txt")) == 0);
    /* the same through OUT/by-cluster itself replaced by a link to the user's folder */
    TAC_REQUIRE(tac_test_sh("cd '%s' && rm -f by-cluster && ln -s '%s' by-cluster", out, victim) == 0);
    rc = tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log);
    TAC_CHECK_INT(rc, 1);
    TAC_CHECK(tac_test_sh("test $(ls -A '%s' | wc -l) -eq 2 && grep -q precious '%s/img05.jpg'", victim, victim) == 0);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 10 ----------------------------------------------------------------------------------------------- */
TAC_TEST(outdir_remove_tree_never_follows_links)
{
    const char *dir = tac_test_tmpdir();
    char odd[PATH_MAX], outside[PATH_MAX];
    snprintf(odd, sizeof odd, "%s/-it's \"odd\"", dir);
    snprintf(outside, sizeof outside, "%s/outside", dir);
    TAC_REQUIRE(tac_mkdir_p(tac_test_path(odd, "a/b")) == TAC_OK);
    TAC_REQUIRE(tac_mkdir_p(outside) == TAC_OK);
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(outside, "keep.txt"), "x", 1) == TAC_OK);
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(odd, "a/b/f.txt"), "y", 1) == TAC_OK);
    TAC_REQUIRE(symlink(outside, tac_test_path(odd, "a/link-to-outside")) == 0);
    TAC_REQUIRE(symlink(tac_test_path(outside, "keep.txt"), tac_test_path(odd, "a/b/link-to-file")) == 0);
    TAC_CHECK_OK(tac_remove_tree(odd));
    struct stat st;
    TAC_CHECK(lstat(odd, &st) != 0);
    TAC_CHECK(access(tac_test_path(outside, "keep.txt"), F_OK) == 0);
    /* a link given as the tree itself is removed, not its target */
    TAC_REQUIRE(symlink(outside, tac_test_path(dir, "l")) == 0);
    TAC_CHECK_OK(tac_remove_tree(tac_test_path(dir, "l")));
    TAC_CHECK(access(tac_test_path(outside, "keep.txt"), F_OK) == 0);
    TAC_CHECK_OK(tac_remove_tree(tac_test_path(dir, "missing")));
    TAC_CHECK(tac_remove_tree(tac_test_path(dir, "..")) != TAC_OK);
}

TAC_TEST(outdir_odd_names_and_user_files)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    /* OUT named with quotes, a space, and a leading '-' (relative, so the name is given as is): reruns work */
    static const char *odd = "-it's \"odd\"";
    setenv("TAC_ODD", odd, 1);
    for (int k = 2; k <= 3; k++) {
        int rc = tac_test_sh("cd '%s' && %s cluster in --model '%s' --vocabulary voc.txt --no-train -K %d --out \"$TAC_ODD\" >'%s' 2>&1",
                             dir, g_bin, g_model, k, log);
        if (rc) log_has(log, "(exit status)");
        TAC_CHECK_INT(rc, 0);
    }
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/%s", dir, odd);
    TAC_CHECK_INT(count_entries(tac_test_path(out, "by-cluster/")), 3);
    TAC_CHECK_INT(count_runs(out), 1);
    TAC_CHECK_INT(tac_test_sh("cd '%s' && mkdir -p new && cp in/img01.jpg new/n.jpg && %s assign --from \"$TAC_ODD\" new >'%s' 2>&1",
                              dir, g_bin, log), 0);
    unsetenv("TAC_ODD");

    /* a user's notes beside the outputs stay; a user's file inside by-cluster/ (top or a cluster folder) makes the
     * run and assign refuse, saying which file, and it is left where it is */
    snprintf(out, sizeof out, "%s/out", dir);
    TAC_REQUIRE(cluster_k(dir, out, 2, NULL) == 0);
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(out, "notes.txt"), "n", 1) == TAC_OK);
    TAC_CHECK_INT(cluster_k(dir, out, 2, NULL), 0);
    TAC_CHECK(access(tac_test_path(out, "notes.txt"), F_OK) == 0);
    char folder[256], mine[PATH_MAX + 320];
    cluster_folder(out, 0, folder, sizeof folder);
    TAC_REQUIRE(folder[0]);
    const char *where[2] = {"by-cluster/mine.txt", NULL};
    char in_cluster[300];
    snprintf(in_cluster, sizeof in_cluster, "by-cluster/%s/mine.txt", folder);
    where[1] = in_cluster;
    for (int w = 0; w < 2; w++) {
        snprintf(mine, sizeof mine, "%s/%s", out, where[w]);
        TAC_REQUIRE(tac_write_file_atomic(mine, "my own", 6) == TAC_OK);
        if (w == 0) TAC_CHECK_INT(cluster_k(dir, out, 3, NULL), 1);
        else TAC_CHECK_INT(tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 1);
        TAC_CHECK(log_has(log, "mine.txt was not written by taclust"));
        char *s = slurp(mine);
        TAC_CHECK(s && strcmp(s, "my own") == 0);
        free(s);
        TAC_REQUIRE(unlink(mine) == 0);
    }
    /* a fresh OUT holding the user's own file named `current` or report.html: refused, kept */
    char fresh[PATH_MAX];
    snprintf(fresh, sizeof fresh, "%s/fresh", dir);
    TAC_REQUIRE(tac_mkdir_p(fresh) == TAC_OK && tac_write_file_atomic(tac_test_path(fresh, "current"), "c", 1) == TAC_OK);
    TAC_CHECK_INT(cluster_k(dir, fresh, 2, NULL), 1);
    TAC_CHECK(log_has(log, "current was not written by taclust"));
    TAC_REQUIRE(rename(tac_test_path(fresh, "current"), tac_test_path(fresh, "report.html")) == 0);
    TAC_CHECK_INT(cluster_k(dir, fresh, 2, NULL), 1);
    char *mine_s = slurp(tac_test_path(fresh, "report.html"));
    TAC_CHECK(mine_s && strcmp(mine_s, "c") == 0);
    free(mine_s);
    /* clusters.csv replaced by the user's own file (a spreadsheet saving over it): refused, kept */
    TAC_REQUIRE(tac_test_sh("cd '%s' && cp clusters.csv edited && rm clusters.csv && mv edited clusters.csv", out) == 0);
    TAC_CHECK_INT(cluster_k(dir, out, 3, NULL), 1);
    TAC_CHECK(log_has(log, "clusters.csv was not written by taclust"));
    TAC_REQUIRE(unlink(tac_test_path(out, "clusters.csv")) == 0);
    TAC_CHECK_INT(cluster_k(dir, out, 3, NULL), 0);
    TAC_CHECK(access(tac_test_path(out, "notes.txt"), F_OK) == 0);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 11 ----------------------------------------------------------------------------------------------- */
static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    int st;
    waitpid(p, &st, 0);
    return (long)p;
}

TAC_TEST(outdir_stale_temporaries_removed)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    TAC_REQUIRE(cluster_k(dir, out, 2, NULL) == 0);
    long dead = dead_pid(), live = (long)getpid();
    TAC_REQUIRE(!tac_pid_alive(dead));
    /* what killed runs of this and earlier versions leave, for a dead and for a live process */
    TAC_REQUIRE(tac_test_sh("cd '%s' && mkdir -p .by-cluster.tmp.%ld/00-x .by-cluster.old.%ld .runs/0000000000000001-%ld/by-cluster && "
                            "ln -s /etc/hostname .by-cluster.tmp.%ld/00-x/h.jpg && echo x >report.html.tmp.%ld && "
                            "echo x >.runs/0000000000000001-%ld/run.json && echo x >clusters.csv.tmp.%ld && echo l >report.html.tmp.%ld && "
                            "mkdir -p .by-cluster.tmp.%ld && echo mine >notes.old.%ld && echo mine >photo.tmp.%ld",
                            out, dead, dead, dead, dead, dead, dead, dead, live, live, dead, dead) == 0);
    char noun_tmp[PATH_MAX];
    {
        FILE *q;
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "dirname \"$(find '%s/xdg' -name 'nouns-*.npy' | head -1)\"", dir);
        q = popen(cmd, "r");
        noun_tmp[0] = 0;
        if (q && fgets(noun_tmp, sizeof noun_tmp, q)) noun_tmp[strcspn(noun_tmp, "\n")] = 0;
        if (q) pclose(q);
    }
    TAC_REQUIRE(noun_tmp[0]);
    TAC_REQUIRE(tac_test_sh("echo x >'%s/nouns-0000000000000000.npy.tmp.%ld' && echo x >'%s/nouns-0000000000000000.npy.tmp.%ld'",
                            noun_tmp, dead, noun_tmp, live) == 0);
    TAC_CHECK_INT(cluster_k(dir, out, 3, NULL), 0);
    TAC_CHECK(tac_test_sh("cd '%s' && ! ls -d .by-cluster.tmp.%ld .by-cluster.old.%ld report.html.tmp.%ld clusters.csv.tmp.%ld "
                          ".runs/0000000000000001-%ld 2>/dev/null | grep -q .", out, dead, dead, dead, dead, dead) == 0);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/report.html.tmp.%ld", out, live);
    TAC_CHECK(access(p, F_OK) == 0);                     /* a live process's temporary is never touched */
    snprintf(p, sizeof p, "%s/.by-cluster.tmp.%ld", out, live);
    TAC_CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof p, "%s/notes.old.%ld", out, dead);           /* a user's files that merely look like one */
    TAC_CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof p, "%s/photo.tmp.%ld", out, dead);
    TAC_CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof p, "%s/nouns-0000000000000000.npy.tmp.%ld", noun_tmp, dead);
    TAC_CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/nouns-0000000000000000.npy.tmp.%ld", noun_tmp, live);
    TAC_CHECK(access(p, F_OK) == 0);
    TAC_CHECK_INT(count_runs(out), 1);
    TAC_CHECK_INT(tac_temp_name_pid("report.html.tmp.123"), 123);
    TAC_CHECK_INT(tac_temp_name_pid(".by-cluster.old.77"), 77);
    TAC_CHECK_INT(tac_temp_name_pid("holiday.tmp.jpg"), -1);
    TAC_CHECK_INT(tac_temp_name_pid("clusters.csv"), -1);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 14: a strict JSON (RFC 8259) + UTF-8 (RFC 3629) check ------------------------------------------- */
typedef struct { const unsigned char *s, *end; int depth; } jcur;

static void jws(jcur *c) { while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++; }

static int jhex4(jcur *c, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (c->s >= c->end) return 0;
        unsigned ch = *c->s++, d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

static int jstring(jcur *c)
{
    if (c->s >= c->end || *c->s != '"') return 0;
    c->s++;
    while (c->s < c->end) {
        unsigned ch = *c->s;
        if (ch == '"') { c->s++; return 1; }
        if (ch < 0x20) return 0;                          /* raw control character */
        if (ch == '\\') {
            c->s++;
            if (c->s >= c->end) return 0;
            unsigned e = *c->s++;
            if (e == 'u') {
                unsigned v;
                if (!jhex4(c, &v)) return 0;
                if (v >= 0xdc00 && v <= 0xdfff) return 0;    /* lone low surrogate */
                if (v >= 0xd800 && v <= 0xdbff) {             /* must be followed by a low one */
                    if (c->end - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u') return 0;
                    c->s += 2;
                    if (!jhex4(c, &v) || v < 0xdc00 || v > 0xdfff) return 0;
                }
            } else if (!strchr("\"\\/bfnrt", (int)e) || e == 0) return 0;
            continue;
        }
        if (ch < 0x80) { c->s++; continue; }
        int n = ch >= 0xc2 && ch <= 0xdf ? 2 : ch >= 0xe0 && ch <= 0xef ? 3 : ch >= 0xf0 && ch <= 0xf4 ? 4 : 0;
        if (!n || c->end - c->s < n) return 0;
        for (int i = 1; i < n; i++) if ((c->s[i] & 0xc0) != 0x80) return 0;
        if ((ch == 0xe0 && c->s[1] < 0xa0) || (ch == 0xed && c->s[1] >= 0xa0) || (ch == 0xf0 && c->s[1] < 0x90) ||
            (ch == 0xf4 && c->s[1] >= 0x90)) return 0;
        c->s += n;
    }
    return 0;
}

static int jdigits(jcur *c) { const unsigned char *b = c->s; while (c->s < c->end && *c->s >= '0' && *c->s <= '9') c->s++; return c->s > b; }

static int jnumber(jcur *c)
{
    if (c->s < c->end && *c->s == '-') c->s++;
    if (c->s < c->end && *c->s == '0') c->s++;
    else if (!(c->s < c->end && *c->s >= '1' && *c->s <= '9' && jdigits(c))) return 0;
    if (c->s < c->end && *c->s == '.') { c->s++; if (!jdigits(c)) return 0; }
    if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
        c->s++;
        if (c->s < c->end && (*c->s == '+' || *c->s == '-')) c->s++;
        if (!jdigits(c)) return 0;
    }
    return 1;
}

static int jvalue(jcur *c)
{
    jws(c);
    if (c->s >= c->end || ++c->depth > 200) return 0;
    int ok;
    unsigned ch = *c->s;
    if (ch == '"') ok = jstring(c);
    else if (ch == '{' || ch == '[') {
        int obj = ch == '{';
        c->s++;
        jws(c);
        ok = 1;
        if (c->s < c->end && *c->s == (obj ? '}' : ']')) c->s++;
        else for (;;) {
            if (obj) {
                jws(c);
                if (!jstring(c)) { ok = 0; break; }
                jws(c);
                if (c->s >= c->end || *c->s++ != ':') { ok = 0; break; }
            }
            if (!jvalue(c)) { ok = 0; break; }
            jws(c);
            if (c->s < c->end && *c->s == ',') { c->s++; continue; }
            if (c->s < c->end && *c->s == (obj ? '}' : ']')) { c->s++; break; }
            ok = 0;
            break;
        }
    } else if (c->end - c->s >= 4 && memcmp(c->s, "true", 4) == 0) { c->s += 4; ok = 1; }
    else if (c->end - c->s >= 5 && memcmp(c->s, "false", 5) == 0) { c->s += 5; ok = 1; }
    else if (c->end - c->s >= 4 && memcmp(c->s, "null", 4) == 0) { c->s += 4; ok = 1; }
    else ok = jnumber(c);
    c->depth--;
    return ok;
}

static int json_strict_ok(const char *text, size_t len)
{
    jcur c = {(const unsigned char *)text, (const unsigned char *)text + len, 0};
    if (!jvalue(&c)) return 0;
    jws(&c);
    return c.s == c.end;
}

static int json_file_ok(const char *path)
{
    char *s; size_t n;
    if (tac_read_file(path, &s, &n) != TAC_OK) { printf("    %s: cannot read\n", path); return 0; }
    int ok = json_strict_ok(s, n);
    if (!ok) printf("    %s: not strict JSON / UTF-8\n", path);
    free(s);
    return ok;
}

TAC_TEST(outdir_strict_json_checker)
{
    /* the checker itself: it must accept valid JSON and refuse each kind of invalid text */
    static const char *good[] = {"{}", "[]", "{\"a\": [1, -0.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"]}",
                                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", " 0 "};
    static const char *bad[] = {"{", "[1,]", "{\"a\":1,}", "\"\xff\"", "\"\xc3\x28\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                                "\"\\ud800\"", "\"\\udc00\"", "\"\x01\"", "01", "NaN", "1.", "\"\\x41\"", "{} x", "'a'",
                                "\"\xf4\x90\x80\x80\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) TAC_CHECK(json_strict_ok(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (json_strict_ok(bad[i], strlen(bad[i]))) printf("    accepted: %s\n", bad[i]);
        TAC_CHECK(!json_strict_ok(bad[i], strlen(bad[i])));
    }
    /* the library's text helpers */
    char *t = tac_utf8_text("a\xff" "b\xc3\xa9\xc3(");
    TAC_CHECK(strcmp(t, "a\xc3\xbf" "b\xc3\xa9\xc3\x83(") == 0);
    TAC_CHECK(tac_utf8_valid(t) && !tac_utf8_valid("\xed\xa0\x80") && !tac_utf8_valid("\xc0\xaf") && tac_utf8_valid("\xe2\x82\xac"));
    free(t);
}

TAC_TEST(outdir_json_outputs_strict_with_non_utf8_names)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    /* a folder and files whose names are not UTF-8, or hold control characters, quotes and backslashes */
    char odd_dir[PATH_MAX], p[PATH_MAX + 64];
    snprintf(odd_dir, sizeof odd_dir, "%s/in/caf\xe9-\xff", dir);
    TAC_REQUIRE(tac_mkdir_p(odd_dir) == TAC_OK);
    static const char *names[] = {"\xc3(bad.jpg", "ctl\x01\x1f.jpg", "q\"uo\\te.jpg", "\xed\xa0\x80surrogate.jpg", "ok\xe2\x82\xac.jpg"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", odd_dir, names[i]);
        TAC_REQUIRE(write_jpeg(p, 500u + (unsigned)i) == 0);
    }
    char out[PATH_MAX], log[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    /* the odd folder given by name, so run.json must keep its exact bytes for --resume */
    setenv("TAC_ODD", odd_dir, 1);
    int rc = tac_test_sh("%s cluster '%s/in' \"$TAC_ODD\" --model '%s' --vocabulary '%s/voc.txt' --no-train -K 3 --out '%s' >'%s' 2>&1",
                         g_bin, dir, g_model, dir, out, log);
    unsetenv("TAC_ODD");
    TAC_REQUIRE(rc == 0);
    TAC_CHECK(json_file_ok(tac_test_path(out, "clusters.json")));
    TAC_CHECK(json_file_ok(tac_test_path(out, "run.json")));
    TAC_CHECK(json_file_ok(tac_test_path(out, "model/params.json")));
    /* the page says UTF-8: it must be */
    char *html = slurp(tac_test_path(out, "report.html"));
    TAC_REQUIRE(html != NULL);
    TAC_CHECK(tac_utf8_valid(html));
    TAC_CHECK(strstr(html, "caf\xc3\xa9-\xc3\xbf") != NULL);     /* 0xE9 and 0xFF shown as U+00E9, U+00FF */
    free(html);
    /* --resume reads the exact input bytes back: the same images, the same clusters.csv */
    TAC_REQUIRE(tac_test_sh("cp '%s/clusters.csv' '%s/before.csv'", out, dir) == 0);
    TAC_CHECK_INT(tac_test_sh("%s cluster --resume --out '%s' >'%s' 2>&1", g_bin, out, log), 0);
    TAC_CHECK(tac_test_sh("cmp -s '%s/clusters.csv' '%s/before.csv'", out, dir) == 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 12 + 12 + 5 - 12);
    /* `taclust metrics --json` with a non-UTF-8 file name */
    int64_t lab[4] = {0, 0, 1, 1}, sh[1] = {4};
    snprintf(p, sizeof p, "%s/l\xff.npy", dir);
    TAC_REQUIRE(tac_npy_save_i64(p, lab, 1, sh) == TAC_OK);
    setenv("TAC_ODD", p, 1);
    TAC_CHECK_INT(tac_test_sh("%s metrics --labels \"$TAC_ODD\" --pred \"$TAC_ODD\" --json '%s/m.json' >/dev/null 2>&1", g_bin, dir), 0);
    unsetenv("TAC_ODD");
    TAC_CHECK(json_file_ok(tac_test_path(dir, "m.json")));
    unsetenv("XDG_CACHE_HOME");
}

/* ---- item 15 ----------------------------------------------------------------------------------------------- */
/* Splits a CSV line into cells (RFC 4180 quoting); returns the count, cells malloc'd. */
static int csv_cells(const char *line, char **cells, int max)
{
    int n = 0;
    const char *s = line;
    for (;;) {
        char buf[4096];
        size_t j = 0;
        if (*s == '"') {
            for (s++; *s; s++) {
                if (*s == '"') { if (s[1] == '"') s++; else { s++; break; } }
                if (j + 1 < sizeof buf) buf[j++] = *s;
            }
        } else for (; *s && *s != ','; s++) if (j + 1 < sizeof buf) buf[j++] = *s;
        buf[j] = 0;
        if (n < max) cells[n++] = tac_xstrdup(buf);
        if (*s != ',') break;
        s++;
    }
    return n;
}

TAC_TEST(outdir_csv_formulas_and_forged_lines)
{
    /* the cell writer */
    char *c = tac_csv_cell("=1+1.jpg");
    TAC_CHECK(strcmp(c, "'=1+1.jpg") == 0);
    free(c);
    c = tac_csv_cell("@SUM(A1),x");
    TAC_CHECK(strcmp(c, "\"'@SUM(A1),x\"") == 0);
    free(c);
    c = tac_csv_cell("a\"b\nc\td\\e\x01");
    TAC_CHECK(strcmp(c, "\"a\"\"b\\nc\\td\\\\e\\x01\"") == 0);
    free(c);
    c = tac_escape_line("\tx\r\n\x7f");
    TAC_CHECK(strcmp(c, "\\tx\\r\\n\\x7f") == 0);
    free(c);

    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 8) == 0);
    static const char *names[] = {"=1+1.jpg", "+cmd.jpg", "-2+3.jpg", "@SUM(A1).jpg", "new\nline.jpg", "tab\there.jpg"};
    char p[PATH_MAX];
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/in/%s", dir, names[i]);
        TAC_REQUIRE(write_jpeg(p, 700u + (unsigned)i) == 0);
    }
    /* an unreadable file whose name forges a second skipped.txt line and a reason */
    snprintf(p, sizeof p, "%s/in/evil\tforged reason\nfake.jpg\tother", dir);
    TAC_REQUIRE(tac_write_file_atomic(p, "not an image", 12) == TAC_OK);
    char out[PATH_MAX], log[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    /* given by bare name from inside the folder (a --list file for those starting with '-'), so the path cells
     * start with those characters */
    snprintf(p, sizeof p, "%s/in/list.txt", dir);
    const char *list = "-2+3.jpg\n@SUM(A1).jpg\ntab\there.jpg\n";
    TAC_REQUIRE(tac_write_file_atomic(p, list, strlen(list)) == TAC_OK);
    int rc = tac_test_sh("cd '%s/in' && %s cluster --model '%s' --vocabulary ../voc.txt --no-train -K 3 --out '%s' --list list.txt "
                         "./img00.jpg img0[1-7].jpg '=1+1.jpg' '+cmd.jpg' \"$(printf 'new\\nline.jpg')\" "
                         "\"$(printf 'evil\\tforged reason\\nfake.jpg\\tother')\" >'%s' 2>&1", dir, g_bin, g_model, out, log);
    if (rc) log_has(log, "(exit status)");
    TAC_REQUIRE(rc == 0);
    char **lines; int64_t nl;
    TAC_REQUIRE(tac_read_lines(tac_test_path(out, "clusters.csv"), &lines, &nl, 0) == TAC_OK);
    TAC_CHECK_INT(nl, 1 + 14);                                   /* one row per image: no name splits a row */
    int formulas = 0, cols_ok = 1, saw_newline_row = 0;
    for (int64_t i = 1; i < nl; i++) {
        char *cells[8];
        int n = csv_cells(lines[i], cells, 8);
        if (n != 5) cols_ok = 0;
        for (int k = 0; k < n; k++) {
            if (strchr("=+-@\t\r", cells[k][0]) && cells[k][0]) formulas++;
            if (strstr(cells[k], "new\\nline.jpg")) saw_newline_row++;
            free(cells[k]);
        }
    }
    TAC_CHECK_INT(formulas, 0);
    TAC_CHECK(cols_ok);
    TAC_CHECK_INT(saw_newline_row, 1);
    tac_free_strings(lines, nl);
    TAC_CHECK(tac_test_sh("grep -q \"^'=1+1.jpg,\" '%s/clusters.csv' && grep -q \"^'@SUM(A1).jpg,\" '%s/clusters.csv' && "
                          "grep -q \"^'-2+3.jpg,\" '%s/clusters.csv' && grep -q '^tab.there.jpg,' '%s/clusters.csv'", out, out, out, out) == 0);
    /* skipped.txt: one line, two fields, for the one unreadable file */
    TAC_REQUIRE(tac_read_lines(tac_test_path(out, "skipped.txt"), &lines, &nl, 1) == TAC_OK);
    TAC_CHECK_INT(nl, 1);
    if (nl >= 1) {
        int tabs = 0;
        for (const char *q = lines[0]; *q; q++) tabs += *q == '\t';
        TAC_CHECK_INT(tabs, 1);
        const char *want = "evil\\tforged reason\\nfake.jpg\\tother\t";
        TAC_CHECK(strncmp(lines[0], want, strlen(want)) == 0);
    }
    tac_free_strings(lines, nl);
    /* re-assigning the name with a newline replaces its row (never a duplicate), twice over */
    for (int r = 0; r < 2; r++) {
        rc = tac_test_sh("cd '%s/in' && %s assign --from '%s' \"$(printf 'new\\nline.jpg')\" '=1+1.jpg' >'%s' 2>&1", dir, g_bin, out, log);
        if (rc) log_has(log, "(exit status)");
        TAC_CHECK_INT(rc, 0);
    }
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 14);
    TAC_CHECK(tac_test_sh("test $(grep -c 'new\\\\nline.jpg' '%s/clusters.csv') -eq 1", out) == 0);
    unsetenv("XDG_CACHE_HOME");
}

/* ---- an OUT in the layout of earlier versions (real files at the top, temporaries of a killed run) -------- */
TAC_TEST(outdir_old_layout_converted)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char out[PATH_MAX], log[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    TAC_REQUIRE(cluster_k(dir, out, 3, NULL) == 0);
    /* made old: the run's files moved to the top, no links, no .runs; a dead process's by-cluster temporary */
    long dead = dead_pid();
    TAC_REQUIRE(tac_test_sh("cd '%s' && run=$(readlink current) && rm -f current clusters.csv clusters.json report.html by-cluster "
                            "skipped.txt model run.json .taclust.lock && mv \"$run\"/* . && rm -r .runs && mkdir .by-cluster.tmp.%ld && "
                            "test -f clusters.csv -a -d by-cluster", out, dead) == 0);
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/new' && cp '%s/in/img02.jpg' '%s/new/n.jpg'", dir, dir, dir) == 0);
    /* assign reads the old layout and converts it */
    TAC_CHECK_INT(tac_test_sh("%s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    struct stat st;
    TAC_CHECK(lstat(tac_test_path(out, "clusters.csv"), &st) == 0 && S_ISLNK(st.st_mode));
    TAC_CHECK(lstat(tac_test_path(out, "by-cluster"), &st) == 0 && S_ISLNK(st.st_mode));
    char tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/.by-cluster.tmp.%ld", out, dead);
    TAC_CHECK(access(tmp, F_OK) != 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 12 + 1);
    TAC_CHECK(tac_test_sh("test $(find '%s/by-cluster/' -type l | wc -l) -eq 13", out) == 0);
    TAC_CHECK_INT(count_entries(out), 12);   /* 7 links, current, .runs, .taclust.lock, cache, .taclust-output */
    TAC_CHECK_INT(tac_test_sh("%s cluster --resume --out '%s' >'%s' 2>&1", g_bin, out, log), 0);
    TAC_CHECK_INT(count_lines(tac_test_path(out, "clusters.csv")), 1 + 12);
    TAC_CHECK_INT(count_runs(out), 1);
    unsetenv("XDG_CACHE_HOME");
}

/* assign embeds the new images in the run's precision (model/params.json "precision") unless the user chose one:
 * a run made in fp32 on a bf16 machine, assigned to with the default (auto = bf16 here), stays in fp32 - its
 * embedding cache gets no bf16 file. */
TAC_TEST(outdir_assign_uses_the_runs_precision)
{
    const char *skip = tiny_ready();
    if (skip) TAC_SKIP(skip);
    if (!tac_clip_bf16_available()) TAC_SKIP("no bf16 on this CPU: auto is fp32 either way");
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(setup(dir, 12) == 0);
    char out[PATH_MAX], log[PATH_MAX], params[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    TAC_REQUIRE(cluster_k(dir, out, 3, "TACLUST_PRECISION=fp32") == 0);
    snprintf(params, sizeof params, "%s/model/params.json", out);
    TAC_CHECK(log_has(params, "\"precision\":\t\"fp32\""));
    TAC_REQUIRE(tac_test_sh("mkdir -p '%s/new' && cp '%s/in/img05.jpg' '%s/new/x.jpg'", dir, dir, dir) == 0);
    TAC_CHECK_INT(tac_test_sh("env -u TACLUST_PRECISION %s assign --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    TAC_CHECK(tac_test_sh("test -z \"$(find -L '%s' -name 'embeddings-bf16.bin')\"", out) == 0);
    TAC_CHECK(tac_test_sh("test -n \"$(find -L '%s' -name 'embeddings.bin')\"", out) == 0);
    /* the user's explicit choice wins */
    TAC_REQUIRE(tac_test_sh("cp '%s/in/img06.jpg' '%s/new/y.jpg'", dir, dir) == 0);
    TAC_CHECK_INT(tac_test_sh("%s assign --precision bf16 --from '%s' '%s/new' >'%s' 2>&1", g_bin, out, dir, log), 0);
    TAC_CHECK(tac_test_sh("test -n \"$(find -L '%s' -name 'embeddings-bf16.bin')\"", out) == 0);
}
