/* test_fit.c - end-to-end tests of the TAC pipeline (tac_fit, `taclust fit`) on synthetic embeddings.
 *
 * The data: 4 well separated Gaussian classes in 32-d (class c around the basis vector e_c plus a shared
 * offset), 1,200 train and 400 test images; 400 nouns, 20 near each class mean (named after the class, with
 * case and '_' variants that must not both appear in a cluster's names) and 320 random ones. With these,
 * TAC (no train) and TAC must recover the classes (ACC > 0.9), the outputs must be consistent with each
 * other, the same seed must give identical outputs, and bad inputs must fail with a clear message.
 */
#include "tac_test.h"
#include "taclust/pipeline.h"

#include <ctype.h>
#include <stdlib.h>

enum { SD = 32, SC = 4, SNTR = 1200, SNTE = 400, SM = 400 };

typedef struct {
    float Xtr[SNTR * SD], Xte[SNTE * SD], T[SM * SD];
    int64_t ytr[SNTR], yte[SNTE];
    char *names[SM];
} synth;

static const char *CLASS[SC] = {"Falcon", "tulip", "Volcano", "harbour"};

static void make_synth(synth *s, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    float off[SD];
    for (int c = 0; c < SD; c++) off[c] = (float)(0.05 * tac_mt_normal(&r));
    for (int set = 0; set < 2; set++) {
        int n = set ? SNTE : SNTR;
        float *X = set ? s->Xte : s->Xtr;
        int64_t *y = set ? s->yte : s->ytr;
        for (int i = 0; i < n; i++) {
            int c = (int)((i * 7 + set) % SC);
            y[i] = c;
            float scale = (float)(0.5 + tac_mt_uniform(&r));
            for (int j = 0; j < SD; j++)
                X[i * SD + j] = scale * (off[j] + (j == c ? 1.0f : 0.0f) + (float)(0.12 * tac_mt_normal(&r)));
        }
    }
    /* nouns 0..79: 20 per class near the class mean; 80..399 random directions */
    for (int t = 0; t < SM; t++) {
        char buf[64];
        if (t < SC * 20) {
            int c = t % SC, v = t / SC;
            for (int j = 0; j < SD; j++)
                s->T[t * SD + j] = off[j] + (j == c ? 1.0f : 0.0f) + (float)(0.1 * tac_mt_normal(&r));
            /* pairs collide after folding: "Falcon_3" / "falcon 3" (10 distinct names per class) */
            char base[32];
            snprintf(base, sizeof base, "%s", CLASS[c]);
            if (v % 2) for (char *q = base; *q; q++) *q = (char)tolower((unsigned char)*q);
            snprintf(buf, sizeof buf, v % 2 ? "%s %d" : "%s_%d", base, v / 2);
        } else {
            for (int j = 0; j < SD; j++) s->T[t * SD + j] = (float)tac_mt_normal(&r);
            snprintf(buf, sizeof buf, "noise_%d", t);
        }
        s->names[t] = tac_xstrdup(buf);
    }
}

static void free_synth(synth *s) { for (int t = 0; t < SM; t++) free(s->names[t]); free(s); }

static void fast_params(tac_fit_params *p)
{
    tac_fit_default_params(p);
    p->K = SC;
    p->heads.batch = 256;
    p->heads.epochs = 20;
    p->seed = 7;
}

static void fold(const char *s, char *out)
{
    for (; *s; s++) *out++ = *s == '_' ? ' ' : (char)tolower((unsigned char)*s);
    *out = 0;
}

TAC_TEST(fit_synthetic_recovers_classes)
{
    synth *s = tac_xmalloc(1, sizeof *s);
    make_synth(s, 11);
    tac_fit_params p;
    fast_params(&p);
    tac_fit_result r, r2;
    TAC_CHECK_OK(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, (const char *const *)s->names, s->yte, s->ytr,
                         &p, &r));
    printf("    CLIP k-means ACC %.3f, TAC (no train) ACC %.3f NMI %.3f, TAC ACC %.3f NMI %.3f, train ACC %.3f\n",
           r.m_kmeans.acc, r.m_notrain.acc, r.m_notrain.nmi, r.m_tac.acc, r.m_tac.nmi, r.m_tac_train.acc);
    TAC_CHECK(r.has_metrics && r.has_train_metrics);
    TAC_CHECK(r.m_notrain.acc > 0.9);
    TAC_CHECK(r.m_tac.acc > 0.9);
    TAC_CHECK(r.m_tac_train.acc > 0.9);
    TAC_CHECK(r.pred_kmeans != NULL);
    /* k from the rule: round(1200/300) = 4 is not below K = 4, so k = 4 */
    TAC_CHECK_INT(r.k, 4);
    TAC_CHECK(r.nsel >= 4 && r.nsel <= 20);
    for (int64_t t = 0; t < r.nsel; t++) {
        TAC_CHECK(r.selected[t] >= 0 && r.selected[t] < SM);
        if (t) TAC_CHECK(r.selected[t] > r.selected[t - 1]);
        TAC_CHECK(r.selected_centre[t] >= 0 && r.selected_centre[t] < r.k);
        TAC_CHECK(r.selected[t] < SC * 20);   /* only nouns near a class mean are discriminative */
    }
    int64_t total = 0;
    for (int c = 0; c < SC; c++) {
        total += r.cluster_size[c];
        int64_t cnt = 0;
        for (int i = 0; i < SNTE; i++) cnt += r.pred_tac[i] == c;
        TAC_CHECK_INT(cnt, r.cluster_size[c]);
        /* names: at least 3, distinct after folding, all naming the cluster's majority class */
        int64_t maj[SC] = {0}, best = 0;
        for (int i = 0; i < SNTE; i++) if (r.pred_tac[i] == c) maj[s->yte[i]]++;
        for (int q = 1; q < SC; q++) if (maj[q] > maj[best]) best = q;
        char keys[16][64];
        int nn = 0;
        for (int q = 0; q < r.n_names; q++) {
            int64_t t = r.cluster_names[c * r.n_names + q];
            if (t < 0) continue;
            TAC_REQUIRE(t < SM);
            fold(s->names[t], keys[nn]);
            for (int u = 0; u < nn; u++) TAC_CHECK(strcmp(keys[u], keys[nn]) != 0);
            TAC_CHECK(t < SC * 20 && t % SC == best);
            nn++;
        }
        TAC_CHECK(nn >= 3);
    }
    TAC_CHECK_INT(total, SNTE);
    /* same seed, same outputs (without labels: metrics are off, predictions must not change) */
    TAC_CHECK_OK(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r2));
    TAC_CHECK(!r2.has_metrics && r2.pred_kmeans == NULL);
    TAC_CHECK(memcmp(r.pred_notrain, r2.pred_notrain, SNTE * sizeof(int32_t)) == 0);
    TAC_CHECK(memcmp(r.pred_tac, r2.pred_tac, SNTE * sizeof(int32_t)) == 0);
    TAC_CHECK(r.nsel == r2.nsel && memcmp(r.selected, r2.selected, (size_t)r.nsel * sizeof(int64_t)) == 0);
    tac_fit_result_free(&r);
    tac_fit_result_free(&r2);
    free_synth(s);
}

TAC_TEST(fit_errors_and_presets)
{
    synth *s = tac_xmalloc(1, sizeof *s);
    make_synth(s, 12);
    tac_fit_params p;
    fast_params(&p);
    tac_fit_result r;
    p.K = SNTE + 1;
    TAC_CHECK_ERR(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r), "larger than the 400 test");
    p.K = 1;
    TAC_CHECK_ERR(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r), "K must be >= 2");
    p.K = SC;
    p.heads.batch = 4096;
    TAC_CHECK_ERR(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r), "batch of 4096");
    p.heads.batch = 256;
    p.centres = SNTR + 1;
    TAC_CHECK_ERR(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r), "semantic centres");
    p.centres = 0;
    s->Xte[5 * SD + 3] = NAN;
    TAC_CHECK_ERR(tac_fit(s->Xtr, SNTR, s->Xte, SNTE, SD, s->T, SM, NULL, NULL, NULL, &p, &r),
                  "test embeddings: row 5 has a NaN");
    TAC_CHECK(r.pred_notrain == NULL && r.selected == NULL);

    tac_fit_default_params(&p);
    TAC_CHECK_INT(p.gamma, 5); TAC_CHECK_INT(p.knn, 50); TAC_CHECK_INT(p.niter, 300);
    TAC_CHECK_INT(p.nredo_centres, 10); TAC_CHECK_INT(p.nredo_concat, 20); TAC_CHECK_NEAR(p.tau, 0.005, 1e-9);
    TAC_CHECK_OK(tac_fit_preset("CIFAR-20", &p));
    TAC_CHECK_INT(p.K, 20); TAC_CHECK_INT(p.heads.epochs, 20); TAC_CHECK_INT(p.heads.batch, 512);
    TAC_CHECK_NEAR(p.heads.temperature, 0.5, 1e-9);
    TAC_CHECK_OK(tac_fit_preset("ucf101", &p));
    TAC_CHECK_INT(p.K, 101); TAC_CHECK_INT(p.heads.epochs, 100); TAC_CHECK_INT(p.heads.batch, 8192);
    TAC_CHECK_NEAR(p.heads.temperature, 5.0, 1e-9);
    TAC_CHECK_OK(tac_fit_preset("imagenet_dogs", &p));
    TAC_CHECK_INT(p.K, 15);
    TAC_CHECK_OK(tac_fit_preset("dtd", &p));
    TAC_CHECK_INT(p.K, 47);
    TAC_CHECK_OK(tac_fit_preset("imagenet1k", &p));
    TAC_CHECK_INT(p.K, 1000);
    TAC_CHECK_ERR(tac_fit_preset("mnist", &p), "unknown preset 'mnist'");
    free_synth(s);
}

/* ---- the command ---------------------------------------------------------------------------------------- */
static int write_inputs(const synth *s, const char *dir)
{
    int64_t shtr[2] = {SNTR, SD}, shte[2] = {SNTE, SD}, sht[2] = {SM, SD}, ntr = SNTR, nte = SNTE;
    if (tac_npy_save_f32(tac_test_path(dir, "Xtr.npy"), s->Xtr, 2, shtr) != TAC_OK) return TAC_ERR;
    if (tac_npy_save_f32(tac_test_path(dir, "Xte.npy"), s->Xte, 2, shte) != TAC_OK) return TAC_ERR;
    if (tac_npy_save_f32(tac_test_path(dir, "T.npy"), s->T, 2, sht) != TAC_OK) return TAC_ERR;
    if (tac_npy_save_i64(tac_test_path(dir, "ytr.npy"), s->ytr, 1, &ntr) != TAC_OK) return TAC_ERR;
    if (tac_npy_save_i64(tac_test_path(dir, "yte.npy"), s->yte, 1, &nte) != TAC_OK) return TAC_ERR;
    tac_atomic a;
    if (tac_atomic_open(&a, tac_test_path(dir, "names.txt")) != TAC_OK) return TAC_ERR;
    for (int t = 0; t < SM; t++) fprintf(a.f, "%s\n", s->names[t]);
    if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;
    if (tac_atomic_open(&a, tac_test_path(dir, "names_short.txt")) != TAC_OK) return TAC_ERR;
    for (int t = 0; t < SM - 1; t++) fprintf(a.f, "%s\n", s->names[t]);
    return tac_atomic_commit(&a);
}

static int same_file(const char *a, const char *b)
{
    char *x, *y; size_t nx, ny;
    if (tac_read_file(a, &x, &nx) != TAC_OK) return 0;
    if (tac_read_file(b, &y, &ny) != TAC_OK) { free(x); return 0; }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x); free(y);
    return same;
}

static int contains(const char *path, const char *needle)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return 0;
    int ok = strstr(buf, needle) != NULL;
    if (!ok) printf("    %s does not contain '%s':\n%s\n", path, needle, buf);
    free(buf);
    return ok;
}

/* the "acc" value of "key": {"acc": X, ...} in a metrics.json, -1 when missing */
static double json_acc(const char *path, const char *key)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return -1;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {\"acc\": ", key);
    const char *q = strstr(buf, pat);
    double v = q ? atof(q + strlen(pat)) : -1;
    free(buf);
    return v;
}

TAC_TEST(fit_cli_outputs_consistent_and_deterministic)
{
    synth *s = tac_xmalloc(1, sizeof *s);
    make_synth(s, 13);
    const char *dir = tac_test_tmpdir(), *bin = tac_test_bin();
    TAC_CHECK_OK(write_inputs(s, dir));
    const char *fmt = "cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy --noun-names names.txt -K 4 "
                      "--labels yte.npy --train-labels ytr.npy --batch 256 --seed 3 --out %s > %s.out 2> %s.err";
    char *abin = realpath(bin, NULL);   /* the commands run inside dir */
    TAC_REQUIRE(abin);
    TAC_REQUIRE(tac_test_sh(fmt, dir, abin, "out1", "out1", "out1") == 0);
    TAC_REQUIRE(tac_test_sh(fmt, dir, abin, "out2", "out2", "out2") == 0);
    char o1[4096], o2[4096];
    snprintf(o1, sizeof o1, "%s/out1", dir);
    snprintf(o2, sizeof o2, "%s/out2", dir);
    const char *files[] = {"pred_notrain.npy", "pred_tac.npy", "selected.txt", "selected_nouns.tsv",
                           "cluster_names.tsv", "metrics.json", "heads.bin"};
    for (int i = 0; i < 7; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s", o1, files[i]);
        snprintf(b, sizeof b, "%s/%s", o2, files[i]);
        if (!same_file(a, b)) printf("    %s differs between two runs with the same seed\n", files[i]);
        TAC_CHECK(same_file(a, b));
    }
    /* no staging folder left behind */
    TAC_CHECK(tac_test_sh("ls -A %s | grep -q fit-tmp", o1) != 0);
    /* consistency: predictions, selected list and the tsv files agree */
    int64_t *pt, *pn, n1, n2, c1;
    TAC_CHECK_OK(tac_npy_load_i64(tac_test_path(o1, "pred_tac.npy"), &pt, &n1, &c1));
    TAC_CHECK_OK(tac_npy_load_i64(tac_test_path(o1, "pred_notrain.npy"), &pn, &n2, &c1));
    TAC_CHECK_INT(n1, SNTE); TAC_CHECK_INT(n2, SNTE);
    int64_t size[SC] = {0};
    for (int i = 0; i < SNTE; i++) { TAC_REQUIRE(pt[i] >= 0 && pt[i] < SC && pn[i] >= 0 && pn[i] < SC); size[pt[i]]++; }
    char **lines; int64_t nl;
    TAC_CHECK_OK(tac_read_lines(tac_test_path(o1, "cluster_names.tsv"), &lines, &nl, 1));
    TAC_REQUIRE(nl == SC + 1);
    TAC_CHECK(strcmp(lines[0], "cluster\tsize\tnames") == 0);
    for (int c = 0; c < SC; c++) {
        int cc; long long sz;
        TAC_REQUIRE(sscanf(lines[c + 1], "%d\t%lld\t", &cc, &sz) == 2);
        TAC_CHECK_INT(cc, c); TAC_CHECK_INT(sz, size[c]);
        /* names are class nouns: one of the 4 class words appears, case-insensitively */
        int hit = 0;
        for (int q = 0; q < SC; q++) {
            char lw[64]; fold(CLASS[q], lw);
            char line[512]; fold(lines[c + 1], line);
            hit |= strstr(line, lw) != NULL;
        }
        TAC_CHECK(hit);
    }
    tac_free_strings(lines, nl);
    int64_t *sel, ns;
    TAC_CHECK_OK(tac_read_indices(tac_test_path(o1, "selected.txt"), SM, &sel, &ns));
    TAC_CHECK_OK(tac_read_lines(tac_test_path(o1, "selected_nouns.tsv"), &lines, &nl, 1));
    TAC_REQUIRE(nl == ns + 1);
    for (int64_t t = 0; t < ns; t++) {
        long long idx; char name[64]; int cen;
        TAC_REQUIRE(sscanf(lines[t + 1], "%lld\t%63[^\t]\t%d", &idx, name, &cen) == 3);
        TAC_CHECK_INT(idx, sel[t]);
        TAC_CHECK(strcmp(name, s->names[idx]) == 0);
    }
    tac_free_strings(lines, nl);
    const char *mj = tac_test_path(o1, "metrics.json");
    TAC_CHECK(contains(mj, "\"clip_kmeans\": {\"acc\": "));
    TAC_CHECK(json_acc(mj, "tac_notrain") > 0.9);
    TAC_CHECK(json_acc(mj, "tac") > 0.9);
    TAC_CHECK(contains(mj, "\"tac_train_split\""));
    TAC_CHECK(contains(tac_test_path(dir, "out1.out"), "TAC (no train)"));
    free(pt); free(pn); free(sel);

    /* --no-train into the same folder: pred_tac.npy and heads.bin of the earlier run are removed */
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy -K 4 --no-train --seed 3 "
                          "--out out1 > /dev/null 2>&1", dir, abin) == 0);
    TAC_CHECK(tac_test_sh("test -f %s/pred_notrain.npy && ! test -e %s/pred_tac.npy && ! test -e %s/heads.bin "
                          "&& ! test -e %s/metrics.json", o1, o1, o1, o1) == 0);
    TAC_CHECK(same_file(tac_test_path(o1, "pred_notrain.npy"), tac_test_path(o2, "pred_notrain.npy")));

    /* bad inputs */
    const char *err = tac_test_path(dir, "err.txt");
    int64_t sh[2] = {SNTE, SD - 1};
    TAC_CHECK_OK(tac_npy_save_f32(tac_test_path(dir, "narrow.npy"), s->Xte, 2, sh));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test narrow.npy --nouns T.npy -K 4 --out o3 2> %s",
                          dir, abin, err) == 1);
    TAC_CHECK(contains(err, "narrow.npy has 31 columns but Xtr.npy has 32"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns narrow.npy -K 4 --out o3 2> %s",
                          dir, abin, err) == 1);
    TAC_CHECK(contains(err, "narrow.npy has 31 columns but Xtr.npy has 32"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy --noun-names "
                          "names_short.txt -K 4 --out o3 2> %s", dir, abin, err) == 1);
    TAC_CHECK(contains(err, "names_short.txt has 399 noun names but the noun embeddings have 400 rows"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy -K 401 --out o3 2> %s",
                          dir, abin, err) == 1);
    TAC_CHECK(contains(err, "-K 401 is larger than the 400 rows of Xte.npy"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy -K 4 --labels ytr.npy "
                          "--out o3 2> %s", dir, abin, err) == 1);
    TAC_CHECK(contains(err, "ytr.npy has 1200 labels but test embeddings Xte.npy has 400 rows"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy --preset nope --out o3 "
                          "2> %s", dir, abin, err) == 2);
    TAC_CHECK(contains(err, "unknown preset 'nope'"));
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --out o3 2> /dev/null", dir, abin) == 2);
    TAC_CHECK(tac_test_sh("test -e %s/o3", dir) != 0);   /* nothing created on failure */
    /* a failure inside the pipeline (batch larger than the train set) leaves no partial output or stage */
    TAC_CHECK(tac_test_sh("cd %s && %s fit --train Xtr.npy --test Xte.npy --nouns T.npy -K 4 --batch 5000 --out o4 "
                          "2> %s", dir, abin, err) == 1);
    TAC_CHECK(contains(err, "batch of 5000 is larger than the 1200 train embeddings"));
    TAC_CHECK(tac_test_sh("test -z \"$(ls -A %s/o4)\"", dir) == 0);
    free(abin);
    free_synth(s);
}
