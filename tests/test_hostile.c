/* test_hostile.c - the public API (include/taclust/ headers) fed hostile sizes and values: negative, zero and
 * INT_MAX-ish N / D / K (sizes whose products overflow), K > N, NaN and infinite inputs, truncated or garbage
 * .npy headers and image bytes. Every such call must return TAC_ERR with a non-empty reason in tac_last_error()
 * (never abort, crash, hang or read past the caller's small buffers), or, where the header says the input is
 * allowed, succeed with a sane result. NULL pointers the headers forbid are not tried (those may assert).
 *
 * The buffers passed with absurd sizes are small on purpose: a missing size check shows up as a crash (or an
 * AddressSanitizer report under `make SAN=1 test`) instead of passing silently. (Only where the sizes can be
 * refused before a buffer is touched: a function that writes its N outputs first, as the header allows, is not
 * fed a lying N.)
 */
#include "tac_test.h"
#include "taclust.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>

/* the call failed (TAC_ERR) and said why */
#define HOSTILE_ERR(call) do { tac_clear_error(); int hr_ = (call); \
    if (hr_ != TAC_ERR) tac_test_fail_at(__FILE__, __LINE__, "%s returned %d, expected TAC_ERR", #call, hr_); \
    else if (!tac_last_error()[0]) tac_test_fail_at(__FILE__, __LINE__, "%s failed with an empty reason", #call); \
} while (0)

/* N x D well-spread points (deterministic) */
static void fill(float *X, int64_t n, int d, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    for (int64_t i = 0; i < n * d; i++) X[i] = (float)tac_mt_normal(&r);
}

/* ---- k-means ---------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_kmeans_sizes)
{
    enum { N = 20, D = 4 };
    float X[N * D], C[N * D];
    int32_t lab[N];
    double obj;
    fill(X, N, D, 1);
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = 3;
    HOSTILE_ERR(tac_kmeans(X, -1, D, &p, C, lab, &obj));
    HOSTILE_ERR(tac_kmeans(X, 0, D, &p, C, lab, &obj));
    HOSTILE_ERR(tac_kmeans(X, N, 0, &p, C, lab, &obj));
    HOSTILE_ERR(tac_kmeans(X, N, -3, &p, C, lab, &obj));
    HOSTILE_ERR(tac_kmeans(X, INT64_MAX, D, &p, C, lab, &obj));
    HOSTILE_ERR(tac_kmeans(X, (int64_t)1 << 40, INT_MAX, &p, C, lab, &obj));
    p.k = 0;  HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.k = -5; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.k = N + 1; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.k = INT_MAX; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.k = 3; p.niter = 0;   /* allowed (faiss): the initial centroids, every point labelled */
    TAC_CHECK_OK(tac_kmeans(X, N, D, &p, C, lab, &obj));
    for (int i = 0; i < N; i++) TAC_CHECK(lab[i] >= 0 && lab[i] < 3);
    p.niter = -1; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.niter = 5; p.nredo = 0; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.nredo = -2; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.nredo = 1; p.max_points_per_centroid = 0; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.max_points_per_centroid = -7; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.max_points_per_centroid = 256; p.init = 7; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.init = -1; HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    /* threads <= 0 means "all the library may use" (as n_jobs=-1 does elsewhere): allowed */
    p.init = 0; p.threads = -4; TAC_CHECK_OK(tac_kmeans(X, N, D, &p, C, lab, &obj));
    p.threads = 0;
    /* k = n and k = 1 are allowed: every point its own centre, or one centre at the mean */
    p.k = N;
    TAC_CHECK_OK(tac_kmeans(X, N, D, &p, C, lab, &obj));
    TAC_CHECK_NEAR(obj, 0, 1e-4);
    p.k = 1;
    TAC_CHECK_OK(tac_kmeans(X, N, D, &p, C, lab, &obj));
    for (int i = 0; i < N; i++) TAC_CHECK_INT(lab[i], 0);
}

TAC_TEST(hostile_kmeans_values)
{
    enum { N = 20, D = 4 };
    float X[N * D], C[N * D];
    int32_t lab[N];
    double obj;
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = 3;
    fill(X, N, D, 2);
    X[7] = NAN;
    HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    X[7] = INFINITY;
    HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    X[7] = -INFINITY; p.spherical = 1;
    HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    /* finite values whose squared distances overflow float: refused, not clustered on infinities */
    fill(X, N, D, 2);
    for (int i = 0; i < N * D; i++) X[i] *= 1e30f;
    p.spherical = 0;
    HOSTILE_ERR(tac_kmeans(X, N, D, &p, C, lab, &obj));
    /* assignment with hostile sizes */
    fill(X, N, D, 2);
    HOSTILE_ERR(tac_kmeans_assign(X, N, D, C, 0, 0, lab, NULL));
    HOSTILE_ERR(tac_kmeans_assign(X, N, D, C, -1, 1, lab, NULL));
    HOSTILE_ERR(tac_kmeans_assign(X, -1, D, C, 2, 1, lab, NULL));
    HOSTILE_ERR(tac_kmeans_assign(X, N, 0, C, 2, 1, lab, NULL));
    HOSTILE_ERR(tac_kmeans_assign(X, N, -2, C, 2, 1, lab, NULL));
}

/* ---- kNN ------------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_knn)
{
    enum { N = 10, D = 3 };
    float X[N * D], sim[N * N];
    int64_t idx[N * N];
    fill(X, N, D, 3);
    HOSTILE_ERR(tac_knn_cosine(X, N, D, 0, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, N, D, -1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, N, D, N, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, N, D, INT_MAX, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, 1, D, 1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, 0, D, 1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, -5, D, 1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, N, 0, 1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, N, -1, 1, idx, sim));
    HOSTILE_ERR(tac_knn_cosine(X, INT64_MAX / 2, INT_MAX, 3, idx, sim));
    TAC_CHECK_OK(tac_knn_cosine_ex(X, N, D, 3, idx, sim, -1));   /* threads <= 0: all */
    X[4] = NAN;
    HOSTILE_ERR(tac_knn_cosine(X, N, D, 3, idx, sim));
    X[4] = INFINITY;
    HOSTILE_ERR(tac_knn_cosine(X, N, D, 3, idx, NULL));
    /* the smallest legal case: two points, each the other's neighbour */
    fill(X, 2, D, 3);
    TAC_CHECK_OK(tac_knn_cosine(X, 2, D, 1, idx, sim));
    TAC_CHECK_INT(idx[0], 1);
    TAC_CHECK_INT(idx[1], 0);
}

/* ---- metrics ---------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_metrics)
{
    int64_t y[6] = {0, 0, 1, 1, 2, 2}, q[6] = {5, 5, -3, -3, INT64_MIN, INT64_MAX};
    tac_metrics m;
    HOSTILE_ERR(tac_metrics_compute(y, q, 0, &m));
    HOSTILE_ERR(tac_metrics_compute(y, q, -1, &m));
    HOSTILE_ERR(tac_metrics_compute(y, q, INT64_MIN, &m));
    TAC_CHECK(isnan(tac_metric_acc(y, q, -2)));
    TAC_CHECK(tac_last_error()[0] != 0);
    /* extreme label values are only names: a perfect match up to renaming */
    TAC_CHECK_OK(tac_metrics_compute(y, (int64_t[]){5, 5, -3, -3, INT64_MIN, INT64_MIN}, 6, &m));
    TAC_CHECK_NEAR(m.acc, 1, 1e-12);
    TAC_CHECK_NEAR(m.nmi, 1, 1e-12);
    TAC_CHECK_NEAR(m.ari, 1, 1e-12);
    TAC_CHECK_OK(tac_metrics_compute(y, q, 6, &m));
    TAC_CHECK(m.acc > 0.8 && m.acc < 0.9);   /* 5 of 6: the last cluster split in two */
    /* Hungarian method on hostile sizes and weights */
    double w[4] = {1, 2, 3, NAN};
    int as[4];
    TAC_CHECK(isnan(tac_hungarian_max(w, 2, 2, as)));
    TAC_CHECK(isnan(tac_hungarian_max(w, -1, 2, as)));
    TAC_CHECK(isnan(tac_hungarian_max(w, 2, -1, as)));
    w[3] = INFINITY;
    TAC_CHECK(isnan(tac_hungarian_max(w, 2, 2, as)));
}

/* ---- text space --------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_textspace)
{
    enum { N = 12, D = 4, M = 8 };
    float X[N * D], T[M * D], R[N * D], W[N * M];
    int32_t lab[N];
    for (int i = 0; i < N; i++) lab[i] = i % 3;
    fill(X, N, D, 4); tac_l2_normalize_rows(X, N, D);
    fill(T, M, D, 5); tac_l2_normalize_rows(T, M, D);
    int64_t *sel = NULL, nsel = 0;
    int32_t *cs = NULL;
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 0, T, M, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, -1, T, M, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, D, 0, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, D, -2, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, 0, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, -1, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, 0, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, -4, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, 0, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, -1, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, INT_MAX, T, M, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, INT64_MAX, D, 5, &sel, &nsel, &cs));
    HOSTILE_ERR(tac_select_nouns(X, INT64_MAX / 4, lab, 3, T, M, INT_MAX, 5, &sel, &nsel, &cs));
    lab[5] = 3;    /* a label outside [0, k) */
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    lab[5] = -1;
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    lab[5] = 2;
    T[3] = NAN;
    HOSTILE_ERR(tac_select_nouns(X, N, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    fill(T, M, D, 5); tac_l2_normalize_rows(T, M, D);
    TAC_CHECK_OK(tac_select_nouns(X, N, lab, 3, T, M, D, 5, &sel, &nsel, &cs));
    TAC_CHECK(nsel >= 1 && nsel <= M);
    tac_free(sel); tac_free(cs);

    HOSTILE_ERR(tac_retrieve(X, N, T, 0, D, 0.005f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, -1, D, 0.005f, R, W));
    HOSTILE_ERR(tac_retrieve(X, -1, T, M, D, 0.005f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, 0, 0.005f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, -8, 0.005f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, D, 0.0f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, D, -1.0f, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, D, NAN, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, M, D, INFINITY, R, W));
    HOSTILE_ERR(tac_retrieve(X, N, T, INT64_MAX / 2, INT_MAX, 0.005f, R, W));
    X[2] = NAN;
    HOSTILE_ERR(tac_retrieve(X, N, T, M, D, 0.005f, R, W));
    fill(X, N, D, 4); tac_l2_normalize_rows(X, N, D);
    TAC_CHECK_OK(tac_retrieve(X, N, T, M, D, 0.005f, R, W));
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < M; j++) s += W[i * M + j];
        TAC_CHECK_NEAR(s, 1, 1e-4);
    }
    TAC_CHECK_INT(tac_num_centres(-1, 3), TAC_ERR);
    TAC_CHECK_INT(tac_num_centres(100, 0), TAC_ERR);
    TAC_CHECK_INT(tac_num_centres(INT64_MAX, 10), TAC_ERR);
}

/* ---- heads ---------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_heads)
{
    enum { N = 16, D = 4, KN = 3 };
    float X[N * D], R[N * D];
    int64_t nn[N * KN];
    fill(X, N, D, 6); tac_l2_normalize_rows(X, N, D);
    fill(R, N, D, 7); tac_l2_normalize_rows(R, N, D);
    for (int i = 0; i < N * KN; i++) nn[i] = (i / KN + 1 + i % KN) % N;
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = 2; p.hidden = 8; p.epochs = 1; p.batch = 4;
    tac_heads *h = NULL;
    HOSTILE_ERR(tac_heads_train(X, R, N, 0, nn, nn, KN, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, N, -1, nn, nn, KN, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, 0, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, -3, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, -1, D, nn, nn, KN, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, 2, D, nn, nn, KN, &p, NULL, NULL, &h));   /* N < batch */
    HOSTILE_ERR(tac_heads_train(X, R, N, INT_MAX, nn, nn, KN, &p, NULL, NULL, &h));
    HOSTILE_ERR(tac_heads_train(X, R, INT64_MAX / 8, D, nn, nn, INT_MAX, &p, NULL, NULL, &h));
    tac_heads_params q = p;
    q.K = 0;  HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q.K = -1; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q.K = INT_MAX; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.hidden = 0; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.hidden = INT_MAX; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.batch = 0; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.batch = 1; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.epochs = -1; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.lr = NAN; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.temperature = 0; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.temperature = -INFINITY; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.eps = NAN; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    q = p; q.entropy_weight = INFINITY; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &q, NULL, NULL, &h));
    nn[5] = N;  HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &p, NULL, NULL, &h));
    nn[5] = -1; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &p, NULL, NULL, &h));
    nn[5] = 1;
    X[3] = NAN; HOSTILE_ERR(tac_heads_train(X, R, N, D, nn, nn, KN, &p, NULL, NULL, &h));
    TAC_CHECK(h == NULL);
    fill(X, N, D, 6); tac_l2_normalize_rows(X, N, D);
    TAC_CHECK_OK(tac_heads_train(X, R, N, D, nn, nn, KN, &p, NULL, NULL, &h));
    TAC_REQUIRE(h != NULL);

    int32_t pred[N];
    float prob[N * 2];
    HOSTILE_ERR(tac_heads_predict(h, X, -1, pred, prob));
    HOSTILE_ERR(tac_heads_predict_sized(h, "x", X, N, D + 1, 2, pred, prob));
    HOSTILE_ERR(tac_heads_predict_sized(h, "x", X, N, D, 3, pred, prob));
    HOSTILE_ERR(tac_heads_predict_sized(h, "x", X, N, -1, 2, pred, prob));
    HOSTILE_ERR(tac_heads_predict_sized(h, "x", X, N, D, 0, pred, prob));
    /* non-finite rows would give an arbitrary cluster: refused */
    X[6] = NAN;
    HOSTILE_ERR(tac_heads_predict(h, X, N, pred, prob));
    X[6] = INFINITY;
    HOSTILE_ERR(tac_heads_predict_sized(h, "x", X, N, D, 2, pred, NULL));
    fill(X, N, D, 6); tac_l2_normalize_rows(X, N, D);
    TAC_CHECK_OK(tac_heads_predict(h, X, 0, pred, prob));   /* zero rows: nothing to do */
    TAC_CHECK_OK(tac_heads_predict(h, X, N, pred, prob));
    for (int i = 0; i < N; i++) TAC_CHECK(pred[i] == 0 || pred[i] == 1);
    tac_heads_free(h);
}

/* ---- fit and K selection --------------------------------------------------------------------------------- */
TAC_TEST(hostile_fit)
{
    enum { N = 40, D = 4, M = 10 };
    float X[N * D], T[M * D];
    fill(X, N, D, 8);
    fill(T, M, D, 9);
    tac_fit_params p;
    tac_fit_default_params(&p);
    p.K = 2; p.train = 0; p.niter = 5; p.nredo_centres = 1; p.nredo_concat = 1;
    tac_fit_result r;
    HOSTILE_ERR(tac_fit(X, N, X, N, 0, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, N, -1, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, 0, X, N, D, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, -1, X, N, D, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, 0, D, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, -7, D, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, N, D, T, 0, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, N, D, T, -1, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, INT64_MAX / 2, X, N, INT_MAX, T, M, NULL, NULL, NULL, &p, &r));
    HOSTILE_ERR(tac_fit(X, N, X, N, D, T, INT64_MAX, NULL, NULL, NULL, &p, &r));
    tac_fit_params q = p;
    q.K = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q.K = 1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q.K = -3; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q.K = N + 1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q.K = INT_MAX; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.centres = -1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.centres = N + 1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.gamma = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.gamma = -1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.tau = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.tau = NAN; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.niter = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.nredo_centres = -1; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.nredo_concat = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.n_names = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.n_names = INT_MAX; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.train = 0; q.notrain = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.train = 1; q.knn = 0; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.train = 1; q.knn = N; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.train = 1; q.knn = 5; q.heads.batch = N + 1;
    HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    q = p; q.train = 1; q.knn = 5; q.heads.batch = 8; q.heads.epochs = -1;
    HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &q, &r));
    X[9] = NAN; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &p, &r));
    fill(X, N, D, 8);
    T[1] = -INFINITY; HOSTILE_ERR(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &p, &r));
    fill(T, M, D, 9);
    /* the legal small case still works */
    TAC_CHECK_OK(tac_fit(X, N, X, N, D, T, M, NULL, NULL, NULL, &p, &r));
    TAC_CHECK_INT(r.K, 2);
    for (int i = 0; i < N; i++) TAC_CHECK(r.pred_notrain[i] == 0 || r.pred_notrain[i] == 1);
    tac_fit_result_free(&r);
}

TAC_TEST(hostile_choose_k)
{
    enum { N = 30, D = 4, M = 10 };
    float X[N * D], T[M * D];
    double sc[64];
    int best = -1;
    fill(X, N, D, 10);
    fill(T, M, D, 11);
    HOSTILE_ERR(tac_choose_k(X, N, D, T, M, 1, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, D, T, M, 0, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, D, T, M, -9, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, 5, D, T, M, 10, 1, &best, sc));    /* fewer than 6 images */
    HOSTILE_ERR(tac_choose_k(X, 0, D, T, M, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, -1, D, T, M, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, 0, T, M, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, -2, T, M, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, D, T, 0, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, D, T, -1, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, INT64_MAX / 2, INT_MAX, T, M, 10, 1, &best, sc));
    HOSTILE_ERR(tac_choose_k(X, N, D, T, INT64_MAX, 10, 1, &best, sc));
    X[0] = NAN;
    HOSTILE_ERR(tac_choose_k(X, N, D, T, M, 10, 1, &best, sc));
    fill(X, N, D, 10);
    TAC_CHECK_OK(tac_choose_k(X, N, D, T, M, 10, 1, &best, sc));
    TAC_CHECK(best >= 2 && best <= 10);
    TAC_CHECK(isnan(sc[0]) && isnan(sc[1]) && !isnan(sc[2]));
    /* silhouette on hostile inputs */
    int32_t lab[N];
    double s;
    for (int i = 0; i < N; i++) lab[i] = i % 3;
    HOSTILE_ERR(tac_silhouette_cosine(X, N, D, lab, 0, &s));
    HOSTILE_ERR(tac_silhouette_cosine(X, -1, D, lab, 3, &s));
    HOSTILE_ERR(tac_silhouette_cosine(X, N, 0, lab, 3, &s));
    lab[4] = 3;
    HOSTILE_ERR(tac_silhouette_cosine(X, N, D, lab, 3, &s));
    lab[4] = -1;
    HOSTILE_ERR(tac_silhouette_cosine(X, N, D, lab, 3, &s));
    for (int i = 0; i < N; i++) lab[i] = 0;
    HOSTILE_ERR(tac_silhouette_cosine(X, N, D, lab, 1, &s));   /* one cluster: undefined, as scikit-learn */
}

/* ---- .npy parsing ------------------------------------------------------------------------------------------ */
/* a .npy 1.0 image: magic, version, header length, header text padded to 64 bytes, then `data` */
static size_t npy_image(uint8_t *buf, const char *hdr, const void *data, size_t dlen)
{
    size_t hl = strlen(hdr), tot = 10 + hl + 1;
    size_t pad = (64 - tot % 64) % 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t h16 = (uint16_t)(hl + pad + 1);
    memcpy(buf + 8, &h16, 2);
    memcpy(buf + 10, hdr, hl);
    memset(buf + 10 + hl, ' ', pad);
    buf[10 + hl + pad] = '\n';
    memcpy(buf + 10 + hl + pad + 1, data, dlen);
    return 10 + hl + pad + 1 + dlen;
}

TAC_TEST(hostile_npy)
{
    uint8_t buf[1024];
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float *out = NULL;
    int64_t *oi = NULL, r, c;
    size_t len;
    /* the good image parses */
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data, sizeof data);
    TAC_CHECK_OK(tac_npy_parse_f32(buf, len, "ok", &out, &r, &c));
    TAC_CHECK_INT(r, 2); TAC_CHECK_INT(c, 4);
    tac_free(out); out = NULL;
    /* every truncation of it fails */
    for (size_t cut = 0; cut < len; cut++) HOSTILE_ERR(tac_npy_parse_f32(buf, cut, "cut", &out, &r, &c));
    for (size_t cut = 0; cut < len; cut++) HOSTILE_ERR(tac_npy_parse_i64(buf, cut, "cut", &oi, &r, &c));
    static const char *const bad[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 5), }",              /* more data than given */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 4), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 4), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4 }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, , 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2x, 4), }",
        "{'descr': '<f4', 'fortran_order': False, }",
        "{'fortran_order': False, 'shape': (2, 4), }",
        "{'descr': '<f4', 'shape': (2, 4), }",
        "{'descr': , 'fortran_order': False, 'shape': (2, 4), }",
        "{'descr': '<f4",
        "",
        "\xff\xfe garbage \x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        len = npy_image(buf, bad[i], data, sizeof data);
        HOSTILE_ERR(tac_npy_parse_f32(buf, len, "bad", &out, &r, &c));
        HOSTILE_ERR(tac_npy_parse_i64(buf, len, "bad", &oi, &r, &c));
    }
    /* a header length that points past the end, and a wrong magic / version */
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data, sizeof data);
    uint16_t big = 60000;
    memcpy(buf + 8, &big, 2);
    HOSTILE_ERR(tac_npy_parse_f32(buf, len, "hlen", &out, &r, &c));
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data, sizeof data);
    buf[6] = 9;
    HOSTILE_ERR(tac_npy_parse_f32(buf, len, "version", &out, &r, &c));
    buf[6] = 2;   /* version 2 has a 4-byte header length: the 2-byte one read as 4 bytes is huge */
    HOSTILE_ERR(tac_npy_parse_f32(buf, len, "version2", &out, &r, &c));
    buf[0] = 'X';
    HOSTILE_ERR(tac_npy_parse_f32(buf, len, "magic", &out, &r, &c));
    /* garbage bytes of every small length */
    tac_mt g;
    tac_mt_seed(&g, 12);
    for (size_t n = 0; n < 200; n++) {
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)tac_mt_next(&g);
        if (n >= 8 && n % 2) memcpy(buf, "\x93NUMPY\x01\x00", 8);
        HOSTILE_ERR(tac_npy_parse_f32(buf, n, "garbage", &out, &r, &c));
    }
    TAC_CHECK(out == NULL || 1);
    /* integral check of the int64 loader: a float array with a fraction, NaN, or beyond int64 */
    float fr[2] = {1.5f, 2};
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", fr, sizeof fr);
    HOSTILE_ERR(tac_npy_parse_i64(buf, len, "frac", &oi, &r, &c));
    fr[0] = NAN;
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", fr, sizeof fr);
    HOSTILE_ERR(tac_npy_parse_i64(buf, len, "nan", &oi, &r, &c));
    fr[0] = 1e30f;
    len = npy_image(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", fr, sizeof fr);
    HOSTILE_ERR(tac_npy_parse_i64(buf, len, "huge", &oi, &r, &c));
}

/* ---- images -------------------------------------------------------------------------------------------- */
TAC_TEST(hostile_images)
{
    uint8_t buf[512];
    tac_image img;
    tac_mt g;
    tac_mt_seed(&g, 13);
    static const char *const magic[] = {"", "\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "RIFF\x20\x00\x00\x00WEBPVP8 ",
                                        "RIFF\x20\x00\x00\x00WEBPVP8L", "GIF89a", "BM"};
    for (size_t k = 0; k < sizeof magic / sizeof *magic; k++) {
        size_t ml = strlen(magic[k]);
        for (size_t n = 0; n < 300; n += 7) {
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)tac_mt_next(&g);
            memcpy(buf, magic[k], ml < n ? ml : n);
            memset(&img, 0, sizeof img);
            HOSTILE_ERR(tac_image_decode(buf, n, "garbage", &img));
            TAC_CHECK(img.rgb == NULL);
        }
    }
    HOSTILE_ERR(tac_image_decode(buf, 0, "empty", &img));
    /* a PNG header claiming 2^31-1 x 2^31-1 pixels is refused before any allocation */
    static const uint8_t png_huge[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
        0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    HOSTILE_ERR(tac_image_decode(png_huge, sizeof png_huge, "huge.png", &img));

    /* resizing and preprocessing with hostile sizes */
    uint8_t px[4 * 4 * 3] = {0}, dst[8 * 8 * 3];
    HOSTILE_ERR(tac_resize_bicubic(px, 0, 4, dst, 2, 2));
    HOSTILE_ERR(tac_resize_bicubic(px, 4, -1, dst, 2, 2));
    HOSTILE_ERR(tac_resize_bicubic(px, 4, 4, dst, 0, 2));
    HOSTILE_ERR(tac_resize_bicubic(px, 4, 4, dst, 2, -2));
    HOSTILE_ERR(tac_resize_bicubic(px, 4, 4, dst, INT_MAX, INT_MAX));
    HOSTILE_ERR(tac_resize_bicubic_window(px, 4, 4, 8, 8, -1, 0, 2, 2, dst));
    HOSTILE_ERR(tac_resize_bicubic_window(px, 4, 4, 8, 8, 0, 0, 9, 2, dst));
    HOSTILE_ERR(tac_resize_bicubic_window(px, 4, 4, 8, 8, 7, 7, 2, 2, dst));
    HOSTILE_ERR(tac_resize_bicubic_window(px, 4, 4, 8, 8, INT_MAX, 0, 2, 2, dst));
    HOSTILE_ERR(tac_resize_bicubic_window(px, 4, 4, 8, 8, 0, 0, 0, 2, dst));
    int nw, nh;
    HOSTILE_ERR(tac_clip_resized_size(0, 5, 224, &nw, &nh));
    HOSTILE_ERR(tac_clip_resized_size(5, -5, 224, &nw, &nh));
    HOSTILE_ERR(tac_clip_resized_size(5, 5, 0, &nw, &nh));
    HOSTILE_ERR(tac_clip_resized_size(1, INT_MAX, 224, &nw, &nh));   /* the long side overflows int */
    tac_image tiny = {4, 4, px};
    static float out[3 * 8 * 8];
    HOSTILE_ERR(tac_clip_preprocess(&tiny, 0, 8, out));
    HOSTILE_ERR(tac_clip_preprocess(&tiny, -224, 8, out));
    HOSTILE_ERR(tac_clip_preprocess(&tiny, 4, 8, out));    /* crop larger than the resized image */
    HOSTILE_ERR(tac_clip_preprocess(&tiny, 8, 0, out));
    HOSTILE_ERR(tac_clip_preprocess(&tiny, 8, -1, out));
    HOSTILE_ERR(tac_clip_preprocess_mode(&tiny, 8, 8, 5, out));
    tac_image bad = {0, 4, px};
    HOSTILE_ERR(tac_clip_preprocess(&bad, 8, 8, out));
    bad.w = -4;
    HOSTILE_ERR(tac_clip_preprocess(&bad, 8, 8, out));
    TAC_CHECK_OK(tac_clip_preprocess(&tiny, 8, 8, out));
    uint8_t *jpg = NULL;
    size_t jl = 0;
    HOSTILE_ERR(tac_image_thumbnail_jpeg(&tiny, 0, 80, &jpg, &jl));
    HOSTILE_ERR(tac_image_thumbnail_jpeg(&tiny, 8, 0, &jpg, &jl));
    HOSTILE_ERR(tac_image_thumbnail_jpeg(&tiny, 8, 101, &jpg, &jl));
    HOSTILE_ERR(tac_image_thumbnail_jpeg(&bad, 8, 80, &jpg, &jl));
}

/* ---- the small helpers with sizes ------------------------------------------------------------------------ */
TAC_TEST(hostile_helpers)
{
    char small[8];
    HOSTILE_ERR(tac_path_join(small, sizeof small, "abcdef", "ghijkl"));
    HOSTILE_ERR(tac_path_join(small, 0, "a", "b"));
    float X[6] = {1, 2, 3, NAN, 5, 6};
    HOSTILE_ERR(tac_check_finite("x", X, 2, 3));
    int prec;
    HOSTILE_ERR(tac_clip_parse_precision("", &prec));
    HOSTILE_ERR(tac_clip_parse_precision("fp64", &prec));
    HOSTILE_ERR(tac_clip_set_default_precision(99));
    HOSTILE_ERR(tac_clip_set_default_precision(-1));
    tac_fit_params p;
    tac_fit_default_params(&p);
    HOSTILE_ERR(tac_fit_preset("", &p));
    HOSTILE_ERR(tac_fit_preset("cifar10; rm -rf /", &p));
    TAC_CHECK(tac_fit_preset_get("nope") == NULL);
    const char *tmpl[2] = {"a photo of a {}.", "no field here"};
    (void)tmpl;
}

/* ---- kNN on rows far from unit scale: cosine does not depend on scale -------------------------------------- */
TAC_TEST(hostile_knn_scale)
{
    enum { N = 12, D = 5, K = 3 };
    float X[N * D], S[N * D], s0[N * K], s1[N * K];
    int64_t i0[N * K], i1[N * K];
    fill(X, N, D, 14);
    TAC_CHECK_OK(tac_knn_cosine(X, N, D, K, i0, s0));
    static const float scale[] = {1e-15f, 1e-25f, 1e-36f, 1e18f};
    for (size_t t = 0; t < sizeof scale / sizeof *scale; t++) {
        for (int i = 0; i < N * D; i++) S[i] = X[i] * scale[t];
        TAC_CHECK_OK(tac_knn_cosine(S, N, D, K, i1, s1));
        for (int i = 0; i < N * K; i++) TAC_CHECK_NEAR(s1[i], s0[i], 1e-4);   /* not ~0: rows were scaled up */
    }
    /* an all-zero row has similarity 0 to everything and does not disturb the others */
    memset(S, 0, sizeof(float) * D);
    memcpy(S + D, X + D, sizeof(float) * (N - 1) * D);
    TAC_CHECK_OK(tac_knn_cosine(S, N, D, K, i1, s1));
    for (int j = 0; j < K; j++) TAC_CHECK_NEAR(s1[j], 0, 1e-7);
}

/* ---- noun templates must hold "{}" -------------------------------------------------------------------------- */
TAC_TEST(hostile_noun_templates)
{
    const char *dir = "tests/fixtures/clip/tiny";
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    FILE *f = fopen(cfg, "rb");
    if (!f) TAC_SKIP("no tiny CLIP fixture (tests/fixtures/clip/tiny)");
    fclose(f);
    tac_clip *m = NULL;
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    const int E = tac_clip_embed_dim(m);
    float *out = calloc((size_t)2 * E, sizeof(float));
    TAC_REQUIRE(out != NULL);
    const char *nouns[2] = {"cat", "dog"};
    const char *no_field[2] = {"a photo of a {}.", "a photo"};
    const char *brace[1] = {"{"};
    const char *null_tmpl[1] = {NULL};
    TAC_CHECK_ERR(tac_embed_nouns(m, nouns, 2, no_field, 2, &tp, out), "template 1");
    TAC_CHECK_ERR(tac_embed_nouns(m, nouns, 2, brace, 1, &tp, out), "has no");
    TAC_CHECK_ERR(tac_embed_nouns(m, nouns, 2, null_tmpl, 1, &tp, out), "has no");
    TAC_CHECK_ERR(tac_embed_nouns(m, nouns, 2, no_field, 0, &tp, out), "template");
    TAC_CHECK_ERR(tac_embed_nouns(m, nouns, 2, no_field, -1, &tp, out), "template");
    /* the good template gives two different unit rows */
    TAC_CHECK_OK(tac_embed_nouns(m, nouns, 2, no_field, 1, &tp, out));
    double n0 = 0, n1 = 0, diff = 0;
    for (int j = 0; j < E; j++) {
        n0 += (double)out[j] * out[j];
        n1 += (double)out[E + j] * out[E + j];
        diff += fabs(out[j] - out[E + j]);
    }
    TAC_CHECK_NEAR(n0, 1, 1e-4);
    TAC_CHECK_NEAR(n1, 1, 1e-4);
    TAC_CHECK(diff > 1e-3);
    free(out);
    tac_clip_free(m);
}

/* ---- the joint-space helpers on non-finite rows ------------------------------------------------------------ */
TAC_TEST(hostile_joint_space)
{
    enum { N = 10, D2 = 4, K = 2 };
    float Z[N * D2], C[K * D2], conf[N];
    int32_t lab[N], pred[N];
    double s;
    fill(Z, N, D2, 15);
    for (int i = 0; i < N; i++) lab[i] = i % K;
    TAC_CHECK_OK(tac_joint_centroids(Z, N, D2, lab, K, C));
    TAC_CHECK_OK(tac_centroid_confidence(Z, N, D2, C, K, pred, 0, conf));
    TAC_CHECK_OK(tac_silhouette_cosine(Z, N, D2, lab, K, &s));
    TAC_CHECK(isfinite(s) && s >= -1 && s <= 1);
    Z[9] = NAN;   /* row 2 */
    HOSTILE_ERR(tac_joint_centroids(Z, N, D2, lab, K, C));
    HOSTILE_ERR(tac_centroid_confidence(Z, N, D2, C, K, pred, 0, conf));
    HOSTILE_ERR(tac_silhouette_cosine(Z, N, D2, lab, K, &s));
    TAC_CHECK(strstr(tac_last_error(), "row 2") != NULL);
    fill(Z, N, D2, 15);
    C[1] = INFINITY;
    HOSTILE_ERR(tac_centroid_confidence(Z, N, D2, C, K, pred, 0, conf));
    HOSTILE_ERR(tac_joint_centroids(Z, N, D2, lab, 0, C));
    HOSTILE_ERR(tac_centroid_confidence(Z, -1, D2, C, K, pred, 0, conf));
    lab[3] = K;   /* keep_pred with a prediction outside [0, K) */
    HOSTILE_ERR(tac_centroid_confidence(Z, N, D2, C, K, lab, 1, conf));
}

/* ---- files that are not regular files: refused, never waited on (a FIFO's open would block) ------------------ */
TAC_TEST(hostile_fifo_inputs)
{
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/pipe.npy", tac_test_tmpdir());
    TAC_REQUIRE(mkfifo(fifo, 0600) == 0);
    alarm(120);   /* a hang becomes a failure (SIGALRM ends the run) rather than a stuck suite */
    float *X = NULL;
    int64_t *y = NULL, r, c;
    tac_npy_map mp;
    tac_heads *h = NULL;
    HOSTILE_ERR(tac_npy_map_f32(fifo, &mp));
    HOSTILE_ERR(tac_npy_load_f32(fifo, &X, &r, &c));
    HOSTILE_ERR(tac_npy_load_i64(fifo, &y, &r, &c));
    HOSTILE_ERR(tac_labels_load(fifo, &y, &r));
    HOSTILE_ERR(tac_load_matrix(fifo, &X, &r, &c));
    HOSTILE_ERR(tac_heads_load(fifo, &h));
    HOSTILE_ERR(tac_npy_map_f32("/dev/zero", &mp));
    HOSTILE_ERR(tac_npy_map_f32(tac_test_tmpdir(), &mp));
    alarm(0);
}

/* ---- assignment to given centroids and saving with hostile shapes ----------------------------------------- */
TAC_TEST(hostile_assign_and_save)
{
    enum { N = 10, D = 4, K = 2 };
    float X[N * D], C[K * D], sc[N];
    int32_t lab[N];
    fill(X, N, D, 16);
    fill(C, K, D, 17);
    TAC_CHECK_OK(tac_kmeans_assign(X, N, D, C, K, 0, lab, sc));
    C[5] = NAN;
    HOSTILE_ERR(tac_kmeans_assign(X, N, D, C, K, 0, lab, sc));
    fill(C, K, D, 17);
    X[13] = -INFINITY;
    HOSTILE_ERR(tac_kmeans_assign_ex(X, N, D, C, K, 1, lab, NULL, 1));
    HOSTILE_ERR(tac_kmeans_assign(X, INT64_MAX, D, C, K, 1, lab, NULL));   /* refused before reading */

    const char *path = tac_test_path(tac_test_tmpdir(), "s.npy");
    float d8[8] = {0};
    int64_t huge[2] = {INT64_MAX, INT64_MAX}, neg[2] = {-1, 4}, big8[8];
    for (int i = 0; i < 8; i++) big8[i] = (int64_t)1 << 20;   /* 2^160 elements: the product wraps */
    HOSTILE_ERR(tac_npy_save_f32(path, d8, 2, huge));
    HOSTILE_ERR(tac_npy_save_i64(path, (const int64_t *)d8, 8, big8));
    HOSTILE_ERR(tac_npy_save_f32(path, d8, 2, neg));
    HOSTILE_ERR(tac_npy_save_f32(path, d8, 0, neg));
    HOSTILE_ERR(tac_npy_save_f32(path, d8, 9, big8));
    TAC_CHECK(access(path, F_OK) != 0);   /* nothing was written */
}
