/* test_textspace.c - tests of noun selection (tac_select_nouns) and soft retrieval (tac_retrieve), and of the
 * `select-nouns` / `retrieve` commands.
 *
 * Golden files in tests/fixtures/textspace/ come from tools/gen_textspace_fixtures.py, an independent float64
 * NumPy re-implementation of tac-method.md sections 4 and 5 (N=500, M=3000, D=32, k=17, gamma 5, tau 0.005).
 * The selected set must be identical; R and the weights W must agree to 1e-5.
 */
#include "tac_test.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <stdlib.h>

#define FIX "tests/fixtures/textspace/"

typedef struct {
    float *X, *T;      /* N x D, M x D, normalised */
    int32_t *lab;      /* N */
    int64_t n, m, d;
} fixture;

static int load_fixture(fixture *f)
{
    int64_t *y, ny;
    if (tac_load_matrix(FIX "X.npy", &f->X, &f->n, &f->d) != TAC_OK) return TAC_ERR;
    int64_t dt;
    if (tac_load_matrix(FIX "T.npy", &f->T, &f->m, &dt) != TAC_OK) return TAC_ERR;
    if (tac_labels_load(FIX "labels.npy", &y, &ny) != TAC_OK) return TAC_ERR;
    if (ny != f->n || dt != f->d) return tac_fail("fixture shapes disagree");
    f->lab = tac_xmalloc((size_t)ny, sizeof(int32_t));
    for (int64_t i = 0; i < ny; i++) f->lab[i] = (int32_t)y[i];
    free(y);
    tac_l2_normalize_rows(f->X, f->n, f->d);
    tac_l2_normalize_rows(f->T, f->m, f->d);
    return TAC_OK;
}

static void free_fixture(fixture *f) { free(f->X); free(f->T); free(f->lab); }

TAC_TEST(textspace_select_matches_numpy)
{
    fixture f;
    TAC_CHECK_OK(load_fixture(&f));
    int64_t *want, *wcen, ns, nc, c1;
    TAC_CHECK_OK(tac_npy_load_i64(FIX "selected.npy", &want, &ns, &c1));
    TAC_CHECK_OK(tac_npy_load_i64(FIX "centre.npy", &wcen, &nc, &c1));
    int64_t *sel, nsel;
    int32_t *cen;
    TAC_CHECK_OK(tac_select_nouns(f.X, f.n, f.lab, 17, f.T, f.m, (int)f.d, 5, &sel, &nsel, &cen));
    TAC_CHECK_INT(nsel, ns);
    int same = nsel == ns, samec = 1;
    for (int64_t i = 0; same && i < ns; i++) {
        if (sel[i] != want[i]) { same = 0; printf("  first difference at %lld: %lld vs %lld\n", (long long)i, (long long)sel[i], (long long)want[i]); }
        if (cen[i] != wcen[i]) samec = 0;
        if (i > 0) TAC_CHECK(sel[i] > sel[i - 1]);
    }
    TAC_CHECK(same);
    TAC_CHECK(samec);
    /* without the optional centre output */
    int64_t *sel2, nsel2;
    TAC_CHECK_OK(tac_select_nouns(f.X, f.n, f.lab, 17, f.T, f.m, (int)f.d, 5, &sel2, &nsel2, NULL));
    TAC_CHECK(nsel2 == nsel && memcmp(sel, sel2, (size_t)nsel * sizeof(int64_t)) == 0);
    /* gamma 1 keeps exactly one noun per centre, a subset of the gamma-5 selection */
    int64_t *sel1, nsel1;
    int32_t *cen1;
    TAC_CHECK_OK(tac_select_nouns(f.X, f.n, f.lab, 17, f.T, f.m, (int)f.d, 1, &sel1, &nsel1, &cen1));
    TAC_CHECK_INT(nsel1, 17);
    int seen[17] = {0};
    for (int64_t i = 0; i < nsel1; i++) {
        seen[cen1[i]]++;
        int found = 0;
        for (int64_t j = 0; j < nsel; j++) found |= sel[j] == sel1[i];
        TAC_CHECK(found);
    }
    for (int j = 0; j < 17; j++) TAC_CHECK(seen[j] == 1);
    free(sel); free(cen); free(sel2); free(sel1); free(cen1); free(want); free(wcen);
    free_fixture(&f);
}

TAC_TEST(textspace_retrieve_matches_numpy)
{
    fixture f;
    TAC_CHECK_OK(load_fixture(&f));
    int64_t *sel, s, c1;
    TAC_CHECK_OK(tac_npy_load_i64(FIX "selected.npy", &sel, &s, &c1));
    float *Rw, *Ww; int64_t r1, r2, q1, q2;
    TAC_CHECK_OK(tac_npy_load_f32(FIX "R.npy", &Rw, &r1, &q1));
    TAC_CHECK_OK(tac_npy_load_f32(FIX "W.npy", &Ww, &r2, &q2));
    TAC_REQUIRE(r1 == f.n && q1 == f.d && r2 == f.n && q2 == s);
    int64_t d = f.d;
    float *E = tac_xmalloc((size_t)s * d, sizeof(float));
    for (int64_t t = 0; t < s; t++) memcpy(E + t * d, f.T + sel[t] * d, (size_t)d * sizeof(float));
    float *R = tac_xmalloc((size_t)f.n * d, sizeof(float)), *W = tac_xmalloc((size_t)f.n * s, sizeof(float));
    TAC_CHECK_OK(tac_retrieve(f.X, f.n, E, s, (int)d, 0.005f, R, W));
    tac_test_compare("R vs numpy", R, Rw, (size_t)(f.n * d), 1e-5);
    /* float32 logits carry ~1e-7 rounding that 1/tau = 200 amplifies to ~2e-5 relative in the weights */
    tac_test_compare("W vs numpy", W, Ww, (size_t)(f.n * s), 5e-5);
    /* rows of R are unit vectors, rows of W sum to 1 */
    double worst = 0;
    for (int64_t i = 0; i < f.n; i++) {
        double a = 0, b = 0;
        for (int64_t c = 0; c < d; c++) a += (double)R[i * d + c] * R[i * d + c];
        for (int64_t t = 0; t < s; t++) b += W[i * s + t];
        worst = fmax(worst, fmax(fabs(a - 1), fabs(b - 1)));
    }
    TAC_CHECK(worst < 1e-5);
    /* a row's result does not depend on the rows retrieved with it; R alone (W NULL) is the same */
    float *R2 = tac_xmalloc((size_t)7 * d, sizeof(float));
    TAC_CHECK_OK(tac_retrieve(f.X + 123 * d, 7, E, s, (int)d, 0.005f, R2, NULL));
    tac_test_compare("R of a 7-row slice", R2, R + 123 * d, (size_t)(7 * d), 5e-6);
    /* a large tau gives a nearly uniform mixture: r = normalize(mean of E) */
    TAC_CHECK_OK(tac_retrieve(f.X, 1, E, s, (int)d, 1e6f, R2, NULL));
    double mean[64] = {0}, nrm = 0;
    for (int64_t t = 0; t < s; t++) for (int64_t c = 0; c < d; c++) mean[c] += E[t * d + c];
    for (int64_t c = 0; c < d; c++) nrm += mean[c] * mean[c];
    for (int64_t c = 0; c < d; c++) TAC_CHECK_NEAR(R2[c], mean[c] / sqrt(nrm), 1e-4);
    TAC_CHECK_ERR(tac_retrieve(f.X, f.n, E, s, (int)d, 0.0f, R, NULL), "tau");
    TAC_CHECK_ERR(tac_retrieve(f.X, f.n, E, 0, (int)d, 0.005f, R, NULL), "no selected nouns");
    free(E); free(R); free(W); free(R2); free(Rw); free(Ww); free(sel);
    free_fixture(&f);
}

/* Hand-made case: 2 centres in 2-D, nouns with exact ties. */
TAC_TEST(textspace_select_ties_and_empty_centres)
{
    /* images: centre 0 along +x, centre 2 along +y; centre 1 has no member */
    float X[4 * 2] = {1, 0, 1, 0, 0, 1, 0, 1};
    int32_t lab[4] = {0, 0, 2, 2};
    /* nouns: 0,1,2 identical near +x; 3 nearer +x; 4,5 identical near +y; 6 on the diagonal (tie: first
     * centre wins, i.e. centre 0) */
    float s2 = 0.70710678f;
    float T[7 * 2] = {0.8f, 0.6f, 0.8f, 0.6f, 0.8f, 0.6f, 0.96f, 0.28f, 0.6f, 0.8f, 0.6f, 0.8f, s2, s2};
    int64_t *sel, ns;
    int32_t *cen;
    TAC_CHECK_OK(tac_select_nouns(X, 4, lab, 3, T, 7, 2, 2, &sel, &ns, &cen));
    /* centre 0 gets nouns {0,1,2,3,6}: 3 is most confident, then 0,1,2 tie -> 0 */
    TAC_REQUIRE(ns == 4);
    int64_t want[4] = {0, 3, 4, 5};
    int32_t wantc[4] = {0, 0, 2, 2};
    for (int i = 0; i < 4; i++) { TAC_CHECK_INT(sel[i], want[i]); TAC_CHECK_INT(cen[i], wantc[i]); }
    free(sel); free(cen);
    /* gamma larger than every group: all nouns, noun 6 (a tie between centres 0 and 2) goes to centre 0 */
    TAC_CHECK_OK(tac_select_nouns(X, 4, lab, 3, T, 7, 2, 10, &sel, &ns, &cen));
    TAC_REQUIRE(ns == 7);
    TAC_CHECK_INT(cen[6], 0);
    TAC_CHECK_INT(cen[4], 2);
    free(sel); free(cen);
    /* errors */
    int32_t bad[4] = {0, 0, 3, 2};
    TAC_CHECK_ERR(tac_select_nouns(X, 4, bad, 3, T, 7, 2, 2, &sel, &ns, NULL), "label of row 2 is 3");
    TAC_CHECK_ERR(tac_select_nouns(X, 4, lab, 3, T, 7, 2, 0, &sel, &ns, NULL), "gamma");
    TAC_CHECK_ERR(tac_select_nouns(X, 4, lab, 0, T, 7, 2, 2, &sel, &ns, NULL), "centres");
}

static int grep_file(const char *path, const char *needle)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return 0;
    int ok = strstr(buf, needle) != NULL;
    if (!ok) printf("  %s does not contain '%s':\n%s", path, needle, buf);
    free(buf);
    return ok;
}

TAC_TEST(textspace_cli_select_retrieve)
{
    const char *dir = tac_test_tmpdir(), *bin = tac_test_bin();
    const char *sel = tac_test_path(dir, "sel.txt"), *cen = tac_test_path(dir, "cen.txt");
    const char *R = tac_test_path(dir, "R.npy"), *err = tac_test_path(dir, "err.txt");
    TAC_REQUIRE(tac_test_sh("%s select-nouns --images " FIX "X.npy --labels " FIX "labels.npy --nouns " FIX
                            "T.npy --out %s --centres-out %s > /dev/null", bin, sel, cen) == 0);
    int64_t *got, ng, *want, nw, c1;
    TAC_CHECK_OK(tac_read_indices(sel, 3000, &got, &ng));
    TAC_CHECK_OK(tac_npy_load_i64(FIX "selected.npy", &want, &nw, &c1));
    TAC_CHECK(ng == nw && memcmp(got, want, (size_t)nw * sizeof(int64_t)) == 0);
    TAC_REQUIRE(tac_test_sh("%s retrieve --images " FIX "X.npy --nouns " FIX "T.npy --selected %s --out %s "
                            "> /dev/null", bin, sel, R) == 0);
    float *r, *rw; int64_t n, d, n2, d2;
    TAC_CHECK_OK(tac_npy_load_f32(R, &r, &n, &d));
    TAC_CHECK_OK(tac_npy_load_f32(FIX "R.npy", &rw, &n2, &d2));
    TAC_REQUIRE(n == n2 && d == d2);
    tac_test_compare("CLI R vs numpy", r, rw, (size_t)(n * d), 1e-5);
    free(got); free(want); free(r); free(rw);

    /* bad inputs: exit 1 and a message naming the file */
    float bad[3 * 5] = {1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, NAN, 4, 5};
    int64_t sh[2] = {3, 5}, sl = 3;
    const char *Xn = tac_test_path(dir, "nan.npy"), *Xw = tac_test_path(dir, "wide.npy");
    TAC_CHECK_OK(tac_npy_save_f32(Xn, bad, 2, sh));
    int64_t lab3[3] = {0, 1, 5}, labneg[3] = {0, -1, 1};
    const char *L3 = tac_test_path(dir, "l3.npy"), *Ln = tac_test_path(dir, "lneg.npy");
    TAC_CHECK_OK(tac_npy_save_i64(L3, lab3, 1, &sl));
    TAC_CHECK_OK(tac_npy_save_i64(Ln, labneg, 1, &sl));
    bad[12] = 3;
    TAC_CHECK_OK(tac_npy_save_f32(Xw, bad, 2, sh));
    TAC_CHECK(tac_test_sh("%s select-nouns --images %s --labels %s --nouns " FIX "T.npy --out %s 2> %s",
                          bin, Xn, L3, sel, err) == 1);
    TAC_CHECK(grep_file(err, "nan.npy: row 2 has a NaN value"));
    TAC_CHECK(tac_test_sh("%s select-nouns --images %s --labels %s --nouns " FIX "T.npy --out %s 2> %s",
                          bin, Xw, L3, sel, err) == 1);
    TAC_CHECK(grep_file(err, "T.npy has 32 columns but"));
    TAC_CHECK(tac_test_sh("%s select-nouns --images " FIX "X.npy --labels %s --nouns " FIX "T.npy --out %s 2> %s",
                          bin, L3, sel, err) == 1);
    TAC_CHECK(grep_file(err, "l3.npy has 3 labels but"));
    TAC_CHECK(tac_test_sh("%s select-nouns --images %s --labels %s --nouns %s --out %s 2> %s",
                          bin, Xw, Ln, Xw, sel, err) == 1);
    TAC_CHECK(grep_file(err, "lneg.npy: label -1 of row 1 is out of range"));
    TAC_CHECK_OK(tac_write_file_atomic(sel, "1\n3000\n", 7));
    TAC_CHECK(tac_test_sh("%s retrieve --images " FIX "X.npy --nouns " FIX "T.npy --selected %s --out %s 2> %s",
                          bin, sel, R, err) == 1);
    TAC_CHECK(grep_file(err, "line 2: noun index 3000 is outside [0, 3000)"));
    TAC_CHECK(tac_test_sh("%s retrieve --images " FIX "X.npy --nouns %s --selected %s --out %s 2> %s",
                          bin, Xw, sel, R, err) == 1);
    TAC_CHECK(grep_file(err, "wide.npy has 5 columns but"));
    TAC_CHECK(tac_test_sh("%s retrieve --images " FIX "X.npy 2> %s", bin, err) == 2);
}
