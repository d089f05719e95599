/* test_metrics.c - tests of the metrics stage: the Hungarian method against brute force over all assignments,
 * ACC/NMI/ARI against sklearn + scipy reference values (tests/fixtures/metrics/cases.txt, written by
 * tools/gen_metrics_fixtures.py), the label loader's formats and errors, and the `taclust metrics` command. */
#include "tac_test.h"
#include "taclust/metrics.h"

#include <cjson/cJSON.h>

#define FIX "tests/fixtures/metrics/"

/* Best total over all injective maps of the smaller side into the larger (recursive enumeration). */
static double brute_best(const double *w, int r, int c, int i, unsigned used, double acc)
{
    int rows = r <= c ? r : c;   /* iterate over the smaller side */
    if (i == rows) return acc;
    double best = -INFINITY;
    int other = r <= c ? c : r;
    for (int j = 0; j < other; j++) {
        if (used & (1u << j)) continue;
        double x = r <= c ? w[i * c + j] : w[j * c + i];
        double v = brute_best(w, r, c, i + 1, used | (1u << j), acc + x);
        if (v > best) best = v;
    }
    return best;
}

TAC_TEST(metrics_hungarian_matches_bruteforce)
{
    tac_mt rng;
    tac_mt_seed(&rng, 7);
    double maxerr = 0;
    for (int trial = 0; trial < 2000; trial++) {
        int r = 1 + (int)tac_mt_below(&rng, 7), c = 1 + (int)tac_mt_below(&rng, 7);
        double w[49];
        for (int t = 0; t < r * c; t++)
            w[t] = trial % 3 == 0 ? (double)tac_mt_below(&rng, 4)               /* many ties */
                 : trial % 3 == 1 ? (double)tac_mt_below(&rng, 1000)
                 : tac_mt_normal(&rng) * 10.0;                                  /* negative, real */
        int assign[7];
        double got = tac_hungarian_max(w, r, c, assign);
        double want = brute_best(w, r, c, 0, 0, 0.0);
        double err = fabs(got - want);
        if (err > maxerr) maxerr = err;
        TAC_CHECK_NEAR(got, want, 1e-9);
        /* the assignment is one-to-one, covers min(r, c) rows, and sums to the returned total */
        int seen[7] = {0}, matched = 0;
        double sum = 0;
        for (int i = 0; i < r; i++) {
            if (assign[i] < 0) continue;
            TAC_REQUIRE(assign[i] < c);
            TAC_CHECK(seen[assign[i]]++ == 0);
            matched++;
            sum += w[i * c + assign[i]];
        }
        TAC_CHECK_INT(matched, r < c ? r : c);
        TAC_CHECK_NEAR(sum, got, 1e-9);
    }
    printf("  hungarian vs brute force: 2000 matrices up to 7x7, max |diff| %.3g\n", maxerr);
    int a[1];
    TAC_CHECK(tac_hungarian_max(NULL, 0, 5, a) == 0.0);
}

typedef struct { char name[64]; int64_t n; double acc, nmi, ari; int64_t *y, *p; } mcase;

static int load_cases(mcase **out, int *ncase)
{
    char **lines; int64_t nl;
    if (tac_read_lines(FIX "cases.txt", &lines, &nl, 1) != TAC_OK) return TAC_ERR;
    mcase *cs = tac_xcalloc((size_t)nl, sizeof(mcase));
    int k = 0;
    for (int64_t l = 0; l < nl; l++) {
        if (strncmp(lines[l], "case ", 5) != 0) continue;
        mcase *c = &cs[k];
        long long n;
        if (sscanf(lines[l], "case %63s %lld %lf %lf %lf", c->name, &n, &c->acc, &c->nmi, &c->ari) != 5 || l + 2 >= nl) {
            tac_free_strings(lines, nl); free(cs);
            return tac_fail("cases.txt: bad line %lld", (long long)l + 1);
        }
        c->n = n;
        c->y = tac_xmalloc((size_t)n, sizeof(int64_t));
        c->p = tac_xmalloc((size_t)n, sizeof(int64_t));
        char *s = lines[l + 1], *t = lines[l + 2], *e;
        for (int64_t i = 0; i < n; i++) {
            c->y[i] = strtoll(s, &e, 10); s = e;
            c->p[i] = strtoll(t, &e, 10); t = e;
        }
        k++;
    }
    tac_free_strings(lines, nl);
    *out = cs; *ncase = k;
    return TAC_OK;
}

static void free_cases(mcase *cs, int n)
{
    for (int i = 0; i < n; i++) { free(cs[i].y); free(cs[i].p); }
    free(cs);
}

TAC_TEST(metrics_match_sklearn_reference)
{
    mcase *cs; int nc;
    TAC_CHECK_OK(load_cases(&cs, &nc));
    TAC_REQUIRE(nc >= 40);
    double ea = 0, en = 0, er = 0;
    for (int i = 0; i < nc; i++) {
        mcase *c = &cs[i];
        tac_metrics m;
        if (tac_metrics_compute(c->y, c->p, c->n, &m) != TAC_OK) {
            tac_test_fail_at(__FILE__, __LINE__, "case %s: %s", c->name, tac_last_error());
            continue;
        }
        double da = fabs(m.acc - c->acc), dn = fabs(m.nmi - c->nmi), dr = fabs(m.ari - c->ari);
        if (!(da <= 1e-9 && dn <= 1e-9 && dr <= 1e-9))
            tac_test_fail_at(__FILE__, __LINE__, "case %s (n=%lld): ACC %.17g vs %.17g, NMI %.17g vs %.17g, ARI %.17g vs %.17g",
                             c->name, (long long)c->n, m.acc, c->acc, m.nmi, c->nmi, m.ari, c->ari);
        if (da > ea) ea = da;
        if (dn > en) en = dn;
        if (dr > er) er = dr;
        /* the one-at-a-time entry points give the same numbers */
        TAC_CHECK(tac_metric_acc(c->y, c->p, c->n) == m.acc);
        TAC_CHECK(tac_metric_nmi(c->y, c->p, c->n) == m.nmi);
        TAC_CHECK(tac_metric_ari(c->y, c->p, c->n) == m.ari);
        /* swapping the roles keeps NMI and ARI (symmetric) and ACC (one-to-one matching is symmetric) */
        TAC_CHECK_NEAR(tac_metric_nmi(c->p, c->y, c->n), m.nmi, 1e-12);
        TAC_CHECK_NEAR(tac_metric_ari(c->p, c->y, c->n), m.ari, 1e-12);
        TAC_CHECK_NEAR(tac_metric_acc(c->p, c->y, c->n), m.acc, 1e-12);
    }
    printf("  %d cases vs sklearn/scipy: max |diff| ACC %.3g NMI %.3g ARI %.3g\n", nc, ea, en, er);
    free_cases(cs, nc);
}

TAC_TEST(metrics_unpredicted_cluster_zero_is_fixed)
{
    /* eval_utils.py's latent bug: cluster 0 never predicted. A perfect clustering with ids 1..3 must score 1. */
    int64_t y[6] = {0, 0, 1, 1, 2, 2}, p[6] = {2, 2, 3, 3, 1, 1};
    TAC_CHECK(tac_metric_acc(y, p, 6) == 1.0);
    TAC_CHECK(tac_metric_nmi(y, p, 6) == 1.0);
    TAC_CHECK(tac_metric_ari(y, p, 6) == 1.0);
    /* one cluster merges two classes, another is surplus: 4 of 6 matched one-to-one */
    int64_t q[6] = {5, 5, 5, 5, 9, 7};
    TAC_CHECK_NEAR(tac_metric_acc(y, q, 6), 3.0 / 6.0, 1e-15);
    /* no samples: sklearn gives NMI = ARI = 1; ACC is undefined */
    tac_metrics m;
    TAC_CHECK_ERR(tac_metrics_compute(y, p, 0, &m), "no samples");
    TAC_CHECK(isnan(tac_metric_acc(y, p, 0)));
    TAC_CHECK(tac_metric_nmi(y, p, 0) == 1.0 && tac_metric_ari(y, p, 0) == 1.0);
    /* 9000 distinct labels x 9000 distinct clusters: ACC refuses (81M cells), NMI/ARI still work (sparse) */
    int64_t big = 9000;
    int64_t *by = tac_xmalloc((size_t)big, sizeof(int64_t)), *bp = tac_xmalloc((size_t)big, sizeof(int64_t));
    for (int64_t i = 0; i < big; i++) { by[i] = i * 1000003; bp[i] = (i * 7919) % big; }
    TAC_CHECK_ERR(tac_metrics_compute(by, bp, big, &m), "9000 clusters x 9000 classes is too large");
    TAC_CHECK(isnan(tac_metric_acc(by, bp, big)));
    TAC_CHECK(tac_metric_nmi(by, bp, big) == 1.0 && tac_metric_ari(by, bp, big) == 1.0);   /* all singletons */
    free(by); free(bp);
}

/* Independent labellings (a x b grid: class i / b, cluster i % b): sklearn's NMI is exactly 0.0 because it
 * zeroes per-cell terms below DBL_EPSILON; summing them as they are leaves ~1e-16 on most grids. */
TAC_TEST(metrics_nmi_independent_is_exactly_zero)
{
    int64_t y[81], p[81];
    static const int grids[][2] = {{2, 3}, {2, 5}, {3, 3}, {3, 4}, {3, 7}, {4, 9}, {9, 9}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
        int a = grids[g][0], b = grids[g][1], n = a * b;
        for (int i = 0; i < n; i++) { y[i] = i / b; p[i] = i % b; }
        double v = tac_metric_nmi(y, p, n);
        if (v != 0.0) tac_test_fail_at(__FILE__, __LINE__, "%dx%d grid: NMI %.3g, sklearn gives 0.0", a, b, v);
    }
}

TAC_TEST(metrics_label_files)
{
    const char *dir = tac_test_tmpdir();
    int64_t *y, n;
    /* numpy.savetxt floats, blank lines, CRLF */
    const char *p = tac_test_path(dir, "a.txt");
    const char *txt = "3.000000000000000000e+00\r\n-1\n\n  7 \n";
    TAC_CHECK_OK(tac_write_file_atomic(p, txt, strlen(txt)));
    TAC_CHECK_OK(tac_labels_load(p, &y, &n));
    TAC_CHECK_INT(n, 3);
    TAC_CHECK(y[0] == 3 && y[1] == -1 && y[2] == 7);
    free(y);
    const char *pb = tac_test_path(dir, "b.txt");
    TAC_CHECK_OK(tac_write_file_atomic(pb, "1\n2\nfoo\n", 8));
    TAC_CHECK_ERR(tac_labels_load(pb, &y, &n), "line 3: 'foo' is not a number");
    TAC_CHECK_OK(tac_write_file_atomic(pb, "1\n2.5\n", 6));
    TAC_CHECK_ERR(tac_labels_load(pb, &y, &n), "line 2: value 2.5 is not an integer label");
    TAC_CHECK_OK(tac_write_file_atomic(pb, "1 2\n", 4));
    TAC_CHECK_ERR(tac_labels_load(pb, &y, &n), "line 1");
    TAC_CHECK_OK(tac_write_file_atomic(pb, "\n\n", 2));
    TAC_CHECK_ERR(tac_labels_load(pb, &y, &n), "no labels");
    /* beyond 2^53 a float label is no longer exact */
    TAC_CHECK_OK(tac_write_file_atomic(pb, "1\n1e17\n", 8));
    TAC_CHECK_ERR(tac_labels_load(pb, &y, &n), "line 2: value 1e+17 is not an integer label");
    TAC_CHECK_ERR(tac_labels_load(tac_test_path(dir, "missing.txt"), &y, &n), "missing.txt");
    /* .npy: int64 1-D works, 2-D with 2 columns is refused */
    int64_t v[4] = {4, 3, 2, 1}, s1 = 4, s2[2] = {2, 2};
    const char *pn = tac_test_path(dir, "v.npy");
    TAC_CHECK_OK(tac_npy_save_i64(pn, v, 1, &s1));
    TAC_CHECK_OK(tac_labels_load(pn, &y, &n));
    TAC_CHECK_INT(n, 4);
    TAC_CHECK(memcmp(y, v, sizeof v) == 0);
    free(y);
    TAC_CHECK_OK(tac_npy_save_i64(pn, v, 2, s2));
    TAC_CHECK_ERR(tac_labels_load(pn, &y, &n), "expected a 1-D array of labels, got 2 x 2");
}

TAC_TEST(metrics_cli)
{
    mcase *cs; int nc;
    TAC_CHECK_OK(load_cases(&cs, &nc));
    mcase *c = NULL;
    for (int i = 0; i < nc; i++) if (strcmp(cs[i].name, "cli") == 0) c = &cs[i];
    TAC_REQUIRE(c);
    const char *dir = tac_test_tmpdir();
    const char *js = tac_test_path(dir, "m.json"), *outp = tac_test_path(dir, "out.txt");
    TAC_CHECK_INT(tac_test_sh("%s metrics --labels " FIX "cli_labels.txt --pred " FIX "cli_pred.npy --json %s > %s",
                              tac_test_bin(), js, outp), 0);
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(outp, &buf, &len));
    char want[128];
    snprintf(want, sizeof want, "ACC %.2f  NMI %.2f  ARI %.2f", 100 * c->acc, 100 * c->nmi, 100 * c->ari);
    if (!strstr(buf, want)) tac_test_fail_at(__FILE__, __LINE__, "output '%s' lacks '%s'", buf, want);
    free(buf);
    TAC_CHECK_OK(tac_read_file(js, &buf, &len));
    cJSON *o = cJSON_Parse(buf);
    free(buf);
    TAC_REQUIRE(o);
    TAC_CHECK_NEAR(cJSON_GetObjectItem(o, "acc")->valuedouble, c->acc, 1e-12);
    TAC_CHECK_NEAR(cJSON_GetObjectItem(o, "nmi")->valuedouble, c->nmi, 1e-12);
    TAC_CHECK_NEAR(cJSON_GetObjectItem(o, "ari")->valuedouble, c->ari, 1e-12);
    TAC_CHECK_INT(cJSON_GetObjectItem(o, "n")->valuedouble, 400);
    cJSON_Delete(o);
    /* length mismatch names both files; usage errors exit 2 */
    const char *shortp = tac_test_path(dir, "short.txt"), *errp = tac_test_path(dir, "err.txt");
    TAC_CHECK_OK(tac_write_file_atomic(shortp, "1\n2\n", 4));
    TAC_CHECK_INT(tac_test_sh("%s metrics --labels " FIX "cli_labels.txt --pred %s 2> %s", tac_test_bin(), shortp, errp), 1);
    TAC_CHECK_OK(tac_read_file(errp, &buf, &len));
    TAC_CHECK(strstr(buf, "cli_labels.txt has 400 labels") && strstr(buf, "short.txt has 2 predictions"));
    free(buf);
    TAC_CHECK_INT(tac_test_sh("%s metrics --labels " FIX "cli_labels.txt 2>/dev/null", tac_test_bin()), 2);
    TAC_CHECK_INT(tac_test_sh("%s metrics --labels %s/nope.npy --pred %s 2>/dev/null", tac_test_bin(), dir, shortp), 1);
    free_cases(cs, nc);
}
