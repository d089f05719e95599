/* test_app.c - tests of the folder-of-images job's pieces that need no model: the embedding cache (round trip,
 * torn tail after a kill, model mismatch), slugs, clusters.csv quoting, by-cluster links, the HTML report, and
 * the benchmark dataset readers (CIFAR and STL binary layouts, ImageFolder). End-to-end runs are in
 * test_cluster_e2e.c. */
#include "tac_test.h"
#include "app/tac_app.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

TAC_TEST(app_embcache_roundtrip_and_torn_tail)
{
    const char *dir = tac_test_tmpdir();
    const char *p = tac_test_path(dir, "emb.bin");
    tac_embcache *c;
    TAC_CHECK_OK(tac_embcache_open(p, 4, "modelA", &c));
    const char *paths[3] = {"/x/a.jpg", "/x/b.jpg", "/x/c,d.jpg"};
    int64_t sizes[3] = {10, 20, 30}, mt[3] = {1, 2, 3};
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i * 0.5f;
    TAC_CHECK_OK(tac_embcache_put(c, 2, paths, sizes, mt, v));
    TAC_CHECK_OK(tac_embcache_put(c, 1, paths + 2, sizes + 2, mt + 2, v + 8));
    tac_embcache_close(c);
    TAC_CHECK_OK(tac_embcache_open(p, 4, "modelA", &c));
    TAC_CHECK_INT(tac_embcache_count(c), 3);
    const float *g = tac_embcache_get(c, "/x/b.jpg", 20, 2);
    TAC_REQUIRE(g != NULL);
    TAC_CHECK(memcmp(g, v + 4, 16) == 0);
    TAC_CHECK(tac_embcache_get(c, "/x/b.jpg", 21, 2) == NULL);      /* size changed: stale */
    TAC_CHECK(tac_embcache_get(c, "/x/b.jpg", 20, 5) == NULL);      /* mtime changed: stale */
    TAC_CHECK(tac_embcache_get(c, "/x/zz.jpg", 20, 2) == NULL);
    tac_embcache_close(c);
    /* a kill in the middle of a write leaves a torn record: it is dropped, the rest kept */
    struct stat st;
    TAC_REQUIRE(stat(p, &st) == 0);
    TAC_REQUIRE(truncate(p, st.st_size - 7) == 0);
    TAC_CHECK_OK(tac_embcache_open(p, 4, "modelA", &c));
    TAC_CHECK_INT(tac_embcache_count(c), 2);
    TAC_CHECK(tac_embcache_get(c, "/x/c,d.jpg", 30, 3) == NULL);
    TAC_CHECK(tac_embcache_get(c, "/x/a.jpg", 10, 1) != NULL);
    /* appending after the repair works */
    TAC_CHECK_OK(tac_embcache_put(c, 1, paths + 2, sizes + 2, mt + 2, v + 8));
    tac_embcache_close(c);
    TAC_CHECK_OK(tac_embcache_open(p, 4, "modelA", &c));
    TAC_CHECK_INT(tac_embcache_count(c), 3);
    tac_embcache_close(c);
    /* a flipped byte inside a record stops the load there (checksum) */
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(p, &buf, &len));
    buf[len - 20] ^= 0x55;
    TAC_CHECK_OK(tac_write_file_atomic(p, buf, len));
    free(buf);
    TAC_CHECK_OK(tac_embcache_open(p, 4, "modelA", &c));
    TAC_CHECK_INT(tac_embcache_count(c), 2);
    tac_embcache_close(c);
    TAC_CHECK_ERR(tac_embcache_open(p, 4, "modelB", &c), "another model");
    TAC_CHECK_ERR(tac_embcache_open(p, 8, "modelA", &c), "another model");
    TAC_CHECK_OK(tac_write_file_atomic(p, "garbage-file-contents", 21));
    TAC_CHECK_ERR(tac_embcache_open(p, 4, "modelA", &c), "not a taclust embedding cache");
}

TAC_TEST(app_slugify)
{
    char s[48];
    tac_slugify("tabby, tiger cat, Egyptian_cat", s, 40);
    TAC_CHECK(strcmp(s, "tabby-tiger-cat-egyptian-cat") == 0);
    tac_slugify("  ,,, ", s, 40);
    TAC_CHECK(strcmp(s, "cluster") == 0);
    tac_slugify("abcdefghij abcdefghij abcdefghij abcdefghij", s, 12);
    TAC_CHECK(strlen(s) <= 12 && s[strlen(s) - 1] != '-');
    tac_slugify("reversing thermometer, Brassica rapa perviridis", s, 40);
    TAC_CHECK(strcmp(s, "reversing-thermometer-brassica-rapa") == 0);   /* whole words only */
}

/* a small clustering of real files for the output writers */
static void make_view(const char *dir, tac_clustering_view *v, char **paths, int32_t *cl, float *conf,
                      char **inouns, char **names, char **slugs, int64_t *typ)
{
    const char *src[4] = {"astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"};
    for (int i = 0; i < 4; i++) {
        paths[i] = tac_xstrdup(tac_test_path(tac_test_path(tac_test_shared(), "datasets/photos"), src[i]));
        cl[i] = i % 2; conf[i] = 0.5f + 0.1f * (float)i;
        inouns[i] = tac_xstrdup(i == 1 ? "cat, \"tabby\"; kitten" : "thing");
    }
    /* a file name with a comma, as a user might have */
    char odd[PATH_MAX];
    snprintf(odd, sizeof odd, "%s/odd, name.png", dir);
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", paths[0], odd);
    TAC_CHECK(system(cmd) == 0);
    free(paths[0]);
    paths[0] = tac_xstrdup(odd);
    names[0] = tac_xstrdup("astronaut, spaceman"); names[1] = tac_xstrdup("tabby <cat> & co");
    slugs[0] = tac_xstrdup("astronaut-spaceman"); slugs[1] = tac_xstrdup("tabby-cat-co");
    typ[0] = 2; typ[1] = 0; typ[2] = 3; typ[3] = -1;
    tac_clustering_view vv = {4, 2, (const char *const *)paths, cl, conf, inouns, names, slugs, typ, 2};
    *v = vv;
}

TAC_TEST(app_outputs_csv_json_links_report)
{
    if (access(tac_test_path(tac_test_shared(), "datasets/photos/chelsea.png"), R_OK) != 0)
        TAC_SKIP("../shared/datasets/photos not found");
    const char *dir = tac_test_tmpdir();
    char *paths[4], *inouns[4], *names[2], *slugs[2];
    int32_t cl[4]; float conf[4]; int64_t typ[4];
    tac_clustering_view v;
    make_view(dir, &v, paths, cl, conf, inouns, names, slugs, typ);
    TAC_CHECK_OK(tac_write_clusters_csv(tac_test_path(dir, "clusters.csv"), &v));
    char **lines; int64_t nl;
    TAC_CHECK_OK(tac_read_lines(tac_test_path(dir, "clusters.csv"), &lines, &nl, 1));
    TAC_CHECK_INT(nl, 5);
    TAC_CHECK(strncmp(lines[0], "path,cluster", 12) == 0);
    TAC_CHECK(lines[1][0] == '"');                                  /* the comma in the path is quoted */
    TAC_CHECK(strstr(lines[2], "\"cat, \"\"tabby\"\"; kitten\"") != NULL);
    tac_free_strings(lines, nl);
    TAC_CHECK_OK(tac_write_clusters_json(tac_test_path(dir, "clusters.json"), &v, "{\"K\": 2}"));
    char *js; size_t jl;
    TAC_CHECK_OK(tac_read_file(tac_test_path(dir, "clusters.json"), &js, &jl));
    TAC_CHECK(strstr(js, "\"tabby <cat> & co\"") != NULL);
    TAC_CHECK(strstr(js, "\"size\":\t2") != NULL);
    free(js);
    TAC_CHECK_OK(tac_write_cluster_links(dir, &v));
    TAC_CHECK_OK(tac_write_cluster_links(dir, &v));                 /* again: replaced, not nested */
    struct stat st;
    TAC_CHECK(stat(tac_test_path(dir, "by-cluster/00-astronaut-spaceman/odd, name.png"), &st) == 0 && S_ISREG(st.st_mode));
    TAC_CHECK(stat(tac_test_path(dir, "by-cluster/01-tabby-cat-co/chelsea.png"), &st) == 0 && S_ISREG(st.st_mode));
    TAC_CHECK(stat(tac_test_path(dir, "by-cluster/01-tabby-cat-co/by-cluster"), &st) != 0);
    TAC_CHECK_OK(tac_write_report_html(tac_test_path(dir, "report.html"), &v, "test <report>"));
    char *h; size_t hl;
    TAC_CHECK_OK(tac_read_file(tac_test_path(dir, "report.html"), &h, &hl));
    TAC_CHECK(strstr(h, "<title>test &lt;report&gt;</title>") != NULL);
    TAC_CHECK(strstr(h, "tabby &lt;cat&gt; &amp; co") != NULL);
    int imgs = 0;
    for (char *q = h; (q = strstr(q, "data:image/jpeg;base64,/9j/")); q++) imgs++;  /* JPEG magic in base64 */
    TAC_CHECK_INT(imgs, 4);
    for (int i = 0; i < 4; i++) TAC_CHECK(strstr(h, strrchr(paths[i], '/') + 1) != NULL);
    TAC_CHECK(strstr(h, "http://") == NULL && strstr(h, "https://") == NULL);   /* self-contained */
    free(h);
    for (int i = 0; i < 4; i++) { free(paths[i]); free(inouns[i]); }
    for (int i = 0; i < 2; i++) { free(names[i]); free(slugs[i]); }
}

TAC_TEST(app_dataset_cifar_and_stl_binary)
{
    const char *dir = tac_test_tmpdir();
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    TAC_REQUIRE(tac_mkdir_p(sub) == TAC_OK);
    /* 3 records per batch file: label then R, G, B planes of 32x32 */
    unsigned char rec[3 * 3073];
    for (int r = 0; r < 3; r++) {
        rec[r * 3073] = (unsigned char)(r + 1);
        for (int i = 0; i < 3072; i++) rec[r * 3073 + 1 + i] = (unsigned char)(i / 1024 * 100 + r);
    }
    char p[PATH_MAX + 32];
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", sub, b);
        TAC_CHECK_OK(tac_write_file_atomic(p, rec, sizeof rec));
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", sub);
    TAC_CHECK_OK(tac_write_file_atomic(p, rec, sizeof rec));
    tac_split tr, te;
    TAC_CHECK_OK(tac_dataset_load("cifar10", dir, &tr, &te));
    TAC_CHECK_INT(tr.n, 15); TAC_CHECK_INT(te.n, 3);
    TAC_CHECK_INT(tr.w, 32);
    TAC_CHECK_INT(te.labels[2], 3);
    /* pixel (0,0) of record 1: R=1, G=101, B=201 (planes interleaved into RGB) */
    TAC_CHECK_INT(te.pixels[32 * 32 * 3 + 0], 1);
    TAC_CHECK_INT(te.pixels[32 * 32 * 3 + 1], 101);
    TAC_CHECK_INT(te.pixels[32 * 32 * 3 + 2], 201);
    tac_split_free(&tr); tac_split_free(&te);
    /* a truncated batch file is an error naming it */
    snprintf(p, sizeof p, "%s/data_batch_3.bin", sub);
    TAC_CHECK_OK(tac_write_file_atomic(p, rec, sizeof rec - 5));
    TAC_CHECK_ERR(tac_dataset_load("cifar10", dir, &tr, &te), "data_batch_3.bin");

    /* STL-10: column-major planes, labels 1..10 */
    snprintf(sub, sizeof sub, "%s/stl10_binary", dir);
    TAC_REQUIRE(tac_mkdir_p(sub) == TAC_OK);
    unsigned char *x = calloc(2, 3 * 96 * 96);
    x[0 * 9216 + 5 * 96 + 2] = 77;             /* channel R, column x=5, row y=2 */
    unsigned char y[2] = {1, 10};
    snprintf(p, sizeof p, "%s/train_X.bin", sub); TAC_CHECK_OK(tac_write_file_atomic(p, x, 2 * 3 * 96 * 96));
    snprintf(p, sizeof p, "%s/train_y.bin", sub); TAC_CHECK_OK(tac_write_file_atomic(p, y, 2));
    snprintf(p, sizeof p, "%s/test_X.bin", sub); TAC_CHECK_OK(tac_write_file_atomic(p, x, 2 * 3 * 96 * 96));
    snprintf(p, sizeof p, "%s/test_y.bin", sub); TAC_CHECK_OK(tac_write_file_atomic(p, y, 2));
    free(x);
    TAC_CHECK_OK(tac_dataset_load("stl10", dir, &tr, &te));
    TAC_CHECK_INT(tr.n, 2);
    TAC_CHECK_INT(tr.labels[1], 9);
    TAC_CHECK_INT(tr.pixels[(2 * 96 + 5) * 3 + 0], 77);
    tac_split_free(&tr); tac_split_free(&te);
    TAC_CHECK_ERR(tac_dataset_load("cifar11", dir, &tr, &te), "unknown dataset");
}

TAC_TEST(app_dataset_image_folders_from_cifar_jpeg)
{
    const char *dir = tac_test_tmpdir();
    char tarp[PATH_MAX];
    snprintf(tarp, sizeof tarp, "%s/datasets/cifar10-jpeg-q75.tar", tac_test_shared());
    if (access(tarp, R_OK) != 0) TAC_SKIP("../shared/datasets/cifar10-jpeg-q75.tar not found");
    TAC_REQUIRE(tac_test_sh("tar -xf '%s' -C '%s' --wildcards 'cifar10-jpeg/*/cat/000[0-2].jpg' 'cifar10-jpeg/*/ship/000[0-2].jpg'", tarp, dir) == 0);
    tac_split tr, te;
    TAC_CHECK_OK(tac_dataset_load("cifar10", tac_test_path(dir, "cifar10-jpeg"), &tr, &te));
    TAC_CHECK_INT(tr.n, 6); TAC_CHECK_INT(te.n, 6);
    TAC_CHECK_INT(tr.nclasses, 2);
    TAC_CHECK(strcmp(tr.class_names[0], "cat") == 0 && strcmp(tr.class_names[1], "ship") == 0);
    TAC_CHECK_INT(tr.labels[0], 0); TAC_CHECK_INT(tr.labels[5], 1);
    TAC_CHECK(strstr(tr.paths[3], "ship/0000.jpg") != NULL);
    tac_split_free(&tr); tac_split_free(&te);
    TAC_CHECK_ERR(tac_dataset_load("cifar10", dir, &tr, &te), "no cifar10 data found");
}
