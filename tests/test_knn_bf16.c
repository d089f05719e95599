/* test_knn_bf16.c - the kNN's bf16 screen (src/cluster/tac_knn.c): where bf16 is native, tac_knn_cosine scores
 * tiles with a bf16 product and gives the candidates within eps of a row's threshold an exact similarity. Checked
 * against a brute force over all pairs in double precision: random data over several 1024-row tiles, adversarial
 * data (rows that are tiny perturbations of a few directions, so that many similarities differ by less than eps
 * and the bf16 scores alone pick wrong lists), exact ties (duplicated rows: the lower index wins), the distributed
 * form over 2 and 3 ranks (byte-identical to the single-process call), the baseline (scalar) code forms against the
 * AVX2 ones (same bits), and TACLUST_NO_BF16=1, which takes the sgemm path: every similarity bitwise the sgemm
 * tile's value, as before the screen existed.
 *
 * The brute force's similarity of rows i, j: both rows unit-normalised as tac_knn_cosine does (norm in double,
 * x * (float)(1/norm)), their dot product in double summed in exact_sim's documented order (8 accumulators, term l
 * into l mod 8, combined as ((0+4)+(1+5))+((2+6)+(3+7))), rounded to float; each list: the k best by (similarity
 * desc, index asc). So lists and similarities must be identical, bit for bit; the similarities are also checked
 * within 1e-6 of a plain double-precision cosine.
 */
#include "tac_test.h"
#include "tac_test_comm.h"
#include "cluster/tac_knn.h"
#include "core/tac_bf16.h"
#include "core/tac_cpu.h"
#include "taclust/cluster.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_NOT_NATIVE()                                                                                  \
    do {                                                                                                   \
        if (!tac_bf16_native()) TAC_SKIP("bf16 is not native on this CPU (or TACLUST_NO_BF16 is set)"); \
    } while (0)

/* Xn (N x D): the unit rows as tac_knn_cosine makes them. */
static float *unit_rows(const float *X, int64_t n, int d)
{
    float *Y = tac_xmalloc((size_t)(n * d), sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)X[i * d + j] * X[i * d + j];
        double nrm = sqrt(s);
        if (nrm > 0 && nrm < 1e-30) {
            for (int j = 0; j < d; j++) Y[i * d + j] = (float)((double)X[i * d + j] / nrm);
            continue;
        }
        float inv = (float)(1.0 / (nrm > 0 ? nrm : 1.0));
        for (int j = 0; j < d; j++) Y[i * d + j] = X[i * d + j] * inv;
    }
    return Y;
}

/* The brute force's similarity (see the top comment). */
static float ref_sim(const float *a, const float *b, int d)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int l = 0; l < d; l++) acc[l & 7] += (double)a[l] * b[l];
    return (float)(((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
}

typedef struct { float s; int64_t i; } cand;
static int cand_best_first(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Row i's k best under the similarity matrix S (N x N, or NULL: ref_sim on Xn) into I, Sv (k each). */
static void brute_row(const float *Xn, const float *S, int64_t n, int d, int k, int64_t i, cand *buf, int64_t *Ib,
                      float *Sv)
{
    int64_t m = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        buf[m].s = S ? S[i * n + j] : ref_sim(Xn + i * d, Xn + j * d, d);
        buf[m].i = j;
        m++;
    }
    qsort(buf, (size_t)m, sizeof(cand), cand_best_first);
    for (int e = 0; e < k; e++) { Ib[e] = buf[e].i; Sv[e] = buf[e].s; }
}

/* Compares tac_knn_cosine's lists (I, S: N x k) with the brute force on every row; returns the rows that differ.
 * Also checks each similarity within 1e-6 of the plain double cosine of the input rows. */
static int64_t compare_brute(const float *X, int64_t n, int d, int k, const int64_t *Nn, const float *S,
                             const char *what)
{
    float *Xn = unit_rows(X, n, d);
    cand *buf = tac_xmalloc((size_t)n, sizeof(cand));
    int64_t *Ir = tac_xmalloc((size_t)k, sizeof(int64_t));
    float *Sr = tac_xmalloc((size_t)k, sizeof(float));
    int64_t bad = 0, far = 0;
    for (int64_t i = 0; i < n; i++) {
        brute_row(Xn, NULL, n, d, k, i, buf, Ir, Sr);
        int diff = memcmp(Ir, Nn + i * k, (size_t)k * sizeof(int64_t)) != 0 ||
                   memcmp(Sr, S + i * k, (size_t)k * sizeof(float)) != 0;
        if (diff && bad++ < 3) {
            int e = 0;
            while (e < k - 1 && Ir[e] == Nn[i * k + e] && Sr[e] == S[i * k + e]) e++;
            tac_test_fail_at(__FILE__, __LINE__, "%s: row %lld, neighbour %d: %lld (%.9g) vs brute force %lld (%.9g)",
                             what, (long long)i, e, (long long)Nn[i * k + e], S[i * k + e], (long long)Ir[e], Sr[e]);
        }
        for (int e = 0; e < k; e++) {
            const float *a = X + i * d, *b = X + Nn[i * k + e] * d;
            double ab = 0, aa = 0, bb = 0;
            for (int l = 0; l < d; l++) {
                ab += (double)a[l] * b[l];
                aa += (double)a[l] * a[l];
                bb += (double)b[l] * b[l];
            }
            double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
            if (fabs(c - S[i * k + e]) > 1e-6) far++;
        }
    }
    if (far) tac_test_fail_at(__FILE__, __LINE__, "%s: %lld similarities off the double cosine by > 1e-6", what,
                              (long long)far);
    free(Xn); free(buf); free(Ir); free(Sr);
    return bad + far;
}

static float *random_rows(int64_t n, int d, uint32_t seed)
{
    float *X = tac_xmalloc((size_t)(n * d), sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, seed);
    for (int64_t i = 0; i < n * d; i++) X[i] = (float)tac_mt_normal(&r);
    return X;
}

/* n rows around `dirs` random directions: direction (i % dirs) plus a perturbation of norm ~ rho, rho cycling
 * over 3e-3, 1e-2, 3e-2 (so within a direction the similarities are 1 - O(rho^2): hundreds of candidates within
 * eps = 0.008 of every threshold), each row scaled by a random factor in [0.5, 2) (the cosine ignores it, the bf16
 * rounding does not). */
static float *near_tie_rows(int64_t n, int d, int dirs, uint32_t seed)
{
    float *X = tac_xmalloc((size_t)(n * d), sizeof(float));
    double *V = tac_xmalloc((size_t)(dirs * d), sizeof(double));
    tac_mt r;
    tac_mt_seed(&r, seed);
    for (int64_t e = 0; e < (int64_t)dirs * d; e++) V[e] = tac_mt_normal(&r) / sqrt((double)d);
    static const double rho[3] = {3e-3, 1e-2, 3e-2};
    for (int64_t i = 0; i < n; i++) {
        double sc = 0.5 + 1.5 * tac_mt_uniform(&r), p = rho[(i / dirs) % 3] / sqrt((double)d);
        for (int l = 0; l < d; l++) X[i * d + l] = (float)(sc * (V[(i % dirs) * d + l] + p * tac_mt_normal(&r)));
    }
    free(V);
    return X;
}

TAC_TEST(knn_bf16_random_matches_brute_force)
{
    SKIP_NOT_NATIVE();
    /* 2600 rows: 3 row blocks (1024, 1024, 552), 6 tiles, both scans and the scanner thread (threads 2 and 1) */
    int64_t n = 2600; int d = 64, k = 15;
    float *X = random_rows(n, d, 21);
    int64_t *Nl = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *S = tac_xmalloc((size_t)(n * k), sizeof(float));
    for (int threads = 2; threads >= 1; threads--) {
        TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, Nl, S, threads));
        TAC_CHECK_INT(tac_knn_last_bf16(), 1);
        int64_t ex = tac_knn_last_examined();
        printf("    N=%lld D=%d k=%d threads %d: %.1f candidates examined per row\n", (long long)n, d, k, threads,
               (double)ex / n);
        TAC_CHECK(ex >= n * k && ex < n * (n - 1) / 2);
        TAC_CHECK_INT(compare_brute(X, n, d, k, Nl, S, "random"), 0);
    }
    free(X); free(Nl); free(S);
}

TAC_TEST(knn_bf16_near_ties_exact)
{
    SKIP_NOT_NATIVE();
    int64_t n = 2300; int d = 48, k = 20, dirs = 6;
    float *X = near_tie_rows(n, d, dirs, 7);
    /* the data is adversarial: ranked by bf16 scores alone, many rows of the first 256 get a wrong list */
    float *Xn = unit_rows(X, n, d);
    float *T = tac_xmalloc((size_t)(256 * n), sizeof(float));   /* 256 x N bf16 scores */
    tac_bf16_mm *mm = tac_bf16_mm_new(0);
    TAC_REQUIRE(mm);
    TAC_CHECK_OK(tac_bf16_gemm(mm, 0, 1, 256, (int)n, d, 1.0f, Xn, d, Xn, d, 0.0f, T, (int)n));
    tac_bf16_mm_free(mm);
    cand *buf = tac_xmalloc((size_t)n, sizeof(cand));
    int64_t *Ib = tac_xmalloc((size_t)k, sizeof(int64_t)), *Ie = tac_xmalloc((size_t)k, sizeof(int64_t));
    float *Sb = tac_xmalloc((size_t)k, sizeof(float));
    int wrong_by_scores = 0;
    for (int64_t i = 0; i < 256; i++) {
        int64_t m = 0;
        for (int64_t j = 0; j < n; j++) if (j != i) { buf[m].s = T[i * n + j]; buf[m].i = j; m++; }
        qsort(buf, (size_t)m, sizeof(cand), cand_best_first);
        for (int e = 0; e < k; e++) Ib[e] = buf[e].i;
        brute_row(Xn, NULL, n, d, k, i, buf, Ie, Sb);
        wrong_by_scores += memcmp(Ib, Ie, (size_t)k * sizeof(int64_t)) != 0;
    }
    printf("    near ties: the bf16 scores alone give a wrong list for %d of the first 256 rows\n", wrong_by_scores);
    TAC_CHECK(wrong_by_scores > 64);
    free(T); free(buf); free(Ib); free(Ie); free(Sb); free(Xn);

    int64_t *Nl = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *S = tac_xmalloc((size_t)(n * k), sizeof(float));
    TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, Nl, S, 2));
    TAC_CHECK_INT(tac_knn_last_bf16(), 1);
    printf("    near ties: %.1f candidates examined per row (k=%d)\n", (double)tac_knn_last_examined() / n, k);
    TAC_CHECK(tac_knn_last_examined() > 4 * n * k);   /* the screen let many through: the exact check decided */
    TAC_CHECK_INT(compare_brute(X, n, d, k, Nl, S, "near ties"), 0);
    free(X); free(Nl); free(S);
}

TAC_TEST(knn_bf16_exact_ties_lower_index)
{
    SKIP_NOT_NATIVE();
    /* 2100 rows, each a copy of one of 300 random rows scaled by 1, 2 or 0.5 (exactly the same unit row): every row
     * has 6 duplicates of equal similarity, and k = 9 takes them in index order, then the 3 best others */
    int64_t n = 2100; int d = 40, k = 9, nb = 300;
    float *B = random_rows(nb, d, 3);
    float *X = tac_xmalloc((size_t)(n * d), sizeof(float));
    static const float scale[3] = {1.0f, 2.0f, 0.5f};
    for (int64_t i = 0; i < n; i++)
        for (int l = 0; l < d; l++) X[i * d + l] = B[(i % nb) * d + l] * scale[(i / nb) % 3];
    int64_t *Nl = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *S = tac_xmalloc((size_t)(n * k), sizeof(float));
    TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, Nl, S, 2));
    TAC_CHECK_INT(tac_knn_last_bf16(), 1);
    TAC_CHECK_INT(compare_brute(X, n, d, k, Nl, S, "duplicates"), 0);
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        int e = 0;
        for (int64_t j = i % nb; j < n; j += nb) {
            if (j == i) continue;
            wrong += Nl[i * k + e] != j || S[i * k + e] != S[i * k];   /* the duplicates: ascending, all tied */
            e++;
        }
        wrong += e != 6 || !(S[i * k + 6] < S[i * k + 5]);
    }
    TAC_CHECK_INT(wrong, 0);
    free(B); free(X); free(Nl); free(S);
}

/* ---- over several ranks -------------------------------------------------------------------------------------- */
#define MAXR 3
typedef struct {
    const float *X;
    int64_t n;
    int d, k;
    int64_t *idx[MAXR];
    float *sim[MAXR];
    int bf16[MAXR];
} dist_job;

static int dist_body(const tac_comm *c, void *arg)
{
    dist_job *J = arg;
    int rc = tac_knn_cosine_dist(J->X, J->n, J->d, J->k, J->idx[c->rank], J->sim[c->rank], 1, c);
    J->bf16[c->rank] = tac_knn_last_bf16();
    return rc;
}

/* The distributed call on R = 2, 3 ranks against the single-process one (threads 1); returns the differences.
 * want_bf16: the path every call must have taken. */
static int dist_vs_single(const float *X, int64_t n, int d, int k, int want_bf16, const char *what)
{
    int64_t nk = n * k;
    int64_t *Nl = tac_xmalloc((size_t)nk, sizeof(int64_t));
    float *S = tac_xmalloc((size_t)nk, sizeof(float));
    int bad = 0;
    if (tac_knn_cosine_ex(X, n, d, k, Nl, S, 1) != TAC_OK) {
        tac_test_fail_at(__FILE__, __LINE__, "%s: %s", what, tac_last_error());
        free(Nl); free(S);
        return 1;
    }
    bad += tac_knn_last_bf16() != want_bf16;
    for (int R = 2; R <= MAXR; R++) {
        dist_job J = {.X = X, .n = n, .d = d, .k = k};
        for (int r = 0; r < R; r++) {
            J.idx[r] = tac_xmalloc((size_t)nk, sizeof(int64_t));
            J.sim[r] = tac_xmalloc((size_t)nk, sizeof(float));
            J.bf16[r] = -1;
        }
        char err[MAXR][512];
        if (tac_test_run_ranks(R, dist_body, &J, NULL, err) != 0) {
            tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d: %s", what, R, err[0]);
            bad++;
        } else {
            for (int r = 0; r < R; r++) {
                int di = memcmp(J.idx[r], Nl, (size_t)nk * sizeof(int64_t)) != 0;
                int ds = memcmp(J.sim[r], S, (size_t)nk * sizeof(float)) != 0;
                if (di || ds || J.bf16[r] != want_bf16) {
                    tac_test_fail_at(__FILE__, __LINE__, "%s, R=%d rank %d: %s", what, R, r,
                                     J.bf16[r] != want_bf16 ? "took the other path"
                                     : di ? "indices differ from the single-process call"
                                          : "similarities differ from the single-process call");
                    bad++;
                }
            }
        }
        for (int r = 0; r < R; r++) { free(J.idx[r]); free(J.sim[r]); }
    }
    free(Nl); free(S);
    return bad;
}

TAC_TEST(knn_bf16_dist_matches_single_process)
{
    SKIP_NOT_NATIVE();
    /* R = 3 over 6 tiles: each rank computes 2 tiles; the near-tie data makes the screen's work uneven */
    float *X = random_rows(2600, 32, 5);
    TAC_CHECK_INT(dist_vs_single(X, 2600, 32, 10, 1, "random"), 0);
    free(X);
    X = near_tie_rows(2200, 24, 5, 9);
    TAC_CHECK_INT(dist_vs_single(X, 2200, 24, 16, 1, "near ties"), 0);
    free(X);
}

/* ---- TACLUST_NO_BF16=1: the sgemm path, as before ------------------------------------------------------------ */
TAC_TEST(knn_no_bf16_is_the_sgemm_path)
{
    const char *prev = getenv("TACLUST_NO_BF16");
    char *saved = prev ? strdup(prev) : NULL;
    setenv("TACLUST_NO_BF16", "1", 1);
    int64_t n = 2100; int d = 24, k = 12;
    float *X = random_rows(n, d, 13);
    int64_t *Nl = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *S = tac_xmalloc((size_t)(n * k), sizeof(float));
    TAC_CHECK_OK(tac_knn_cosine(X, n, d, k, Nl, S));
    TAC_CHECK_INT(tac_knn_last_bf16(), 0);
    TAC_CHECK_INT(tac_knn_last_examined(), -1);
    /* the sgemm path's similarities: the value of the tile that holds the pair, each tile (I, J), J >= I, computed
     * by the same cblas_sgemm call as in tac_knn.c (1024-row blocks); the lists: the k best under these values */
    float *Xn = unit_rows(X, n, d);
    float *M = tac_xmalloc((size_t)(n * n), sizeof(float));   /* N x N */
    float *tile = tac_xmalloc((size_t)1024 * 1024, sizeof(float));
    for (int64_t r0 = 0; r0 < n; r0 += 1024) {
        int64_t nr = n - r0 < 1024 ? n - r0 : 1024;
        for (int64_t c0 = r0; c0 < n; c0 += 1024) {
            int64_t nc = n - c0 < 1024 ? n - c0 : 1024;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, d, 1.0f, Xn + r0 * d, d,
                        Xn + c0 * d, d, 0.0f, tile, (int)nc);
            for (int64_t a = 0; a < nr; a++)
                for (int64_t b = 0; b < nc; b++) {
                    M[(r0 + a) * n + c0 + b] = tile[a * nc + b];
                    if (c0 != r0) M[(c0 + b) * n + r0 + a] = tile[a * nc + b];
                }
        }
    }
    cand *buf = tac_xmalloc((size_t)n, sizeof(cand));
    int64_t *Ir = tac_xmalloc((size_t)k, sizeof(int64_t));
    float *Sr = tac_xmalloc((size_t)k, sizeof(float));
    int64_t bad = 0, differs_from_exact = 0;
    for (int64_t i = 0; i < n; i++) {
        brute_row(Xn, M, n, d, k, i, buf, Ir, Sr);
        bad += memcmp(Ir, Nl + i * k, (size_t)k * sizeof(int64_t)) != 0 ||
               memcmp(Sr, S + i * k, (size_t)k * sizeof(float)) != 0;
        for (int e = 0; e < k; e++)
            differs_from_exact += S[i * k + e] != ref_sim(Xn + i * d, Xn + Nl[i * k + e] * d, d);
    }
    TAC_CHECK_INT(bad, 0);
    printf("    TACLUST_NO_BF16=1: %lld of %lld similarities differ in the last bits from the exact ones\n",
           (long long)differs_from_exact, (long long)(n * k));
    /* and the distributed form takes the same path on every rank, byte-identical */
    TAC_CHECK_INT(dist_vs_single(X, n, d, k, 0, "TACLUST_NO_BF16=1"), 0);
    free(buf); free(Ir); free(Sr); free(M); free(tile); free(Xn);
    free(X); free(Nl); free(S);
    if (saved) { setenv("TACLUST_NO_BF16", saved, 1); free(saved); }
    else unsetenv("TACLUST_NO_BF16");
}

TAC_TEST(knn_bf16_scalar_forms_equal_dispatched)
{
    SKIP_NOT_NATIVE();
    /* the baseline forms of the collections and of exact_sim (TACLUST_ISA=scalar's) give the same lists and the
     * same similarity bits as the AVX2 forms; D = 45 leaves exact_sim a tail of 5 */
    int64_t n = 2100; int d = 45, k = 11;
    float *X = near_tie_rows(n, d, 4, 17);
    int64_t *Ia = tac_xmalloc((size_t)(n * k), sizeof(int64_t)), *Is = tac_xmalloc((size_t)(n * k), sizeof(int64_t));
    float *Sa = tac_xmalloc((size_t)(n * k), sizeof(float)), *Ss = tac_xmalloc((size_t)(n * k), sizeof(float));
    int cpu = tac_cpu_detected_level();
    TAC_CHECK_INT(tac_cpu_set_level(TAC_ISA_SCALAR), TAC_ISA_SCALAR);
    int rc = tac_knn_cosine_ex(X, n, d, k, Is, Ss, 2);
    tac_cpu_set_level(-1);   /* back to the CPU's level and TACLUST_ISA */
    TAC_CHECK_INT(rc, TAC_OK);
    TAC_CHECK_INT(tac_knn_last_bf16(), 1);
    TAC_CHECK_OK(tac_knn_cosine_ex(X, n, d, k, Ia, Sa, 2));
    if (cpu == TAC_ISA_SCALAR) printf("    this CPU has no AVX2: both runs took the scalar forms\n");
    TAC_CHECK(memcmp(Ia, Is, (size_t)(n * k) * sizeof(int64_t)) == 0);
    TAC_CHECK(memcmp(Sa, Ss, (size_t)(n * k) * sizeof(float)) == 0);
    TAC_CHECK_INT(compare_brute(X, n, d, k, Ia, Sa, "scalar forms"), 0);
    free(X); free(Ia); free(Is); free(Sa); free(Ss);
}
