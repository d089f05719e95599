/* test_pipeline_jobs.c - what the cluster and assign jobs take from the library (issue #10): K selection
 * (tac_choose_k, tac_silhouette_cosine), the job-facing outputs of tac_fit (counterparts, weights, centroids,
 * confidences; tac_fit_assign reproduces the fit's clusters), the whole-name duplicate check of the nouns listed
 * per image, tac_path_join, and the one table of TAC's datasets (presets and the program's dataset readers).
 *
 * Silhouette golden values: tests/fixtures/silhouette/, written by tools/gen_silhouette_fixtures.py with
 * scikit-learn's silhouette_score(Z, labels, metric='cosine') (1e-5 tolerance).
 * Known K: 5 well separated blobs of images in 24-d, with 8 nouns near each blob centre and 60 random nouns;
 * tac_choose_k must find K = 5.
 */
#include "tac_test.h"
#include "app/tac_app.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#define SIL_DIR "tests/fixtures/silhouette"

TAC_TEST(silhouette_matches_sklearn)
{
    char **lines;
    int64_t nl;
    TAC_REQUIRE(tac_read_lines(SIL_DIR "/cases.txt", &lines, &nl, 1) == TAC_OK);
    TAC_CHECK(nl >= 5);
    for (int64_t l = 0; l < nl; l++) {
        char name[64];
        int k;
        double want;
        TAC_REQUIRE(sscanf(lines[l], "%63s %d %lf", name, &k, &want) == 3);
        char zp[256], lp[256];
        snprintf(zp, sizeof zp, SIL_DIR "/%s_z.npy", name);
        snprintf(lp, sizeof lp, SIL_DIR "/%s_labels.npy", name);
        float *Z; int64_t n, d, n2, c2, *lab64;
        TAC_REQUIRE(tac_npy_load_f32(zp, &Z, &n, &d) == TAC_OK);
        TAC_REQUIRE(tac_npy_load_i64(lp, &lab64, &n2, &c2) == TAC_OK);
        TAC_CHECK_INT(n2, n);
        int32_t *lab = malloc((size_t)n * sizeof *lab);
        for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)lab64[i];
        double got = NAN;
        TAC_CHECK_OK(tac_silhouette_cosine(Z, n, (int)d, lab, k, &got));
        printf("  %-10s sklearn %.9f  taclust %.9f\n", name, want, got);
        TAC_CHECK_NEAR(got, want, 1e-5);
        free(Z); free(lab64); free(lab);
    }
    tac_free_strings(lines, nl);
}

TAC_TEST(silhouette_rejects_bad_labels)
{
    float Z[4 * 2] = {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f};
    int32_t one[4] = {0, 0, 0, 0}, out[4] = {0, 0, 5, 1}, each[4] = {0, 1, 2, 3};
    double s;
    TAC_CHECK_ERR(tac_silhouette_cosine(Z, 4, 2, one, 2, &s), "non-empty clusters");
    TAC_CHECK_ERR(tac_silhouette_cosine(Z, 4, 2, each, 4, &s), "non-empty clusters");
    TAC_CHECK_ERR(tac_silhouette_cosine(Z, 4, 2, out, 2, &s), "outside");
    int32_t two[4] = {0, 0, 1, 1};
    TAC_CHECK_OK(tac_silhouette_cosine(Z, 4, 2, two, 2, &s));
    TAC_CHECK(s > 0.8);
}

enum { KD = 24, KC = 5, KPER = 40, KN = KC * KPER, KM = KC * 8 + 60 };

/* blobs: class c around 3 e_c + a shared offset; nouns 0..39 near the class directions, the rest random */
static void make_blobs(float *X, float *T, int32_t *y, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    for (int i = 0; i < KN; i++) {
        int c = i % KC;
        y[i] = c;
        for (int j = 0; j < KD; j++) X[i * KD + j] = (j == c ? 3.0f : 0.0f) + 0.3f + (float)(0.25 * tac_mt_normal(&r));
    }
    for (int t = 0; t < KM; t++)
        for (int j = 0; j < KD; j++)
            T[t * KD + j] = t < KC * 8 ? (j == t % KC ? 3.0f : 0.0f) + 0.3f + (float)(0.3 * tac_mt_normal(&r))
                                       : (float)tac_mt_normal(&r);
}

TAC_TEST(choose_k_finds_known_k)
{
    float *X = malloc(sizeof(float) * KN * KD), *T = malloc(sizeof(float) * KM * KD);
    int32_t y[KN];
    make_blobs(X, T, y, 11);
    double scores[13];
    int best = 0;
    TAC_CHECK_OK(tac_choose_k(X, KN, KD, T, KM, 12, 1234, &best, scores));
    for (int k = 2; k <= 12; k++) printf("  K=%-2d silhouette %.4f\n", k, scores[k]);
    TAC_CHECK_INT(best, KC);
    TAC_CHECK(isnan(scores[0]) && isnan(scores[1]));
    for (int k = 2; k <= 12; k++) TAC_CHECK(isfinite(scores[k]) && scores[k] <= scores[KC]);
    /* k_max capped by n/3; the reason names the choice; the same seed, the same scores */
    double s2[301];
    char why[256];
    int best2 = 0;
    TAC_CHECK_OK(tac_choose_k_ex(X, 18, KD, T, KM, 300, 1234, 0, &best2, s2, why, sizeof why, 0));
    TAC_CHECK(isfinite(s2[6]) && isnan(s2[7]) && isnan(s2[300]));
    TAC_CHECK(strstr(why, "highest mean silhouette") != NULL && strstr(why, "K=2..6") != NULL);
    double s3[13];
    TAC_CHECK_OK(tac_choose_k(X, KN, KD, T, KM, 12, 1234, &best2, s3));
    for (int k = 2; k <= 12; k++) TAC_CHECK(s3[k] == scores[k]);
    /* one thread: the same choice, scores equal to rounding (OpenBLAS's sums depend on its thread count), and the
     * caller's OpenBLAS thread count untouched */
    int blas_before = openblas_get_num_threads();
    double s4[13];
    int best4 = 0;
    TAC_CHECK_OK(tac_choose_k_ex(X, KN, KD, T, KM, 12, 1234, 0, &best4, s4, NULL, 0, 1));
    TAC_CHECK_INT(best4, best);
    for (int k = 2; k <= 12; k++) TAC_CHECK(fabs(s4[k] - scores[k]) < 1e-4);
    TAC_CHECK_INT(openblas_get_num_threads(), blas_before);
    TAC_CHECK_ERR(tac_choose_k_ex(X, KN, KD, T, KM, 12, 1234, 0, &best4, NULL, NULL, 0, -1), "threads");
    /* bad input: a clear error */
    TAC_CHECK_ERR(tac_choose_k(X, 5, KD, T, KM, 12, 1, &best2, NULL), "at least 6 images");
    TAC_CHECK_ERR(tac_choose_k(X, KN, KD, T, KM, 1, 1, &best2, NULL), "k_max");
    TAC_CHECK_ERR(tac_choose_k(X, KN, KD, T, 0, 12, 1, &best2, NULL), "noun");
    X[7] = NAN;
    TAC_CHECK_ERR(tac_choose_k(X, KN, KD, T, KM, 12, 1, &best2, NULL), "images");
    free(X); free(T);
}

/* tac_fit's job outputs agree with what they are defined as, and tac_fit_assign on the same images gives the
 * fit's clusters and confidences back (heads, and nearest centroid for TAC no train). */
TAC_TEST(fit_job_outputs_and_assign)
{
    float *X = malloc(sizeof(float) * KN * KD), *T = malloc(sizeof(float) * KM * KD);
    int32_t y[KN];
    make_blobs(X, T, y, 5);
    for (int train = 0; train <= 1; train++) {
        tac_fit_params p;
        tac_fit_default_params(&p);
        TAC_CHECK(p.progress_fn == NULL && p.threads == 0 && p.tau == TAC_TAU && p.gamma == TAC_GAMMA);
        p.K = KC; p.train = train; p.notrain = !train; p.baseline = 0; p.knn = 10; p.centres = 10;
        p.heads.batch = 50; p.heads.epochs = 30; p.threads = 1;
        tac_fit_result r;
        TAC_CHECK_OK(tac_fit(X, KN, X, KN, KD, T, KM, NULL, NULL, NULL, &p, &r));
        const int32_t *fin = train ? r.pred_tac : r.pred_notrain;
        TAC_REQUIRE(r.selected_emb && r.test_text && r.test_weights && r.centroids && r.confidence);
        TAC_CHECK(r.tau == TAC_TAU);
        double worst_norm = 0, worst_sum = 0;
        for (int64_t i = 0; i < KN; i++) {
            double nr = 0, sw = 0;
            for (int j = 0; j < KD; j++) nr += (double)r.test_text[i * KD + j] * r.test_text[i * KD + j];
            for (int64_t t = 0; t < r.nsel; t++) sw += r.test_weights[i * r.nsel + t];
            worst_norm = fmax(worst_norm, fabs(sqrt(nr) - 1));
            worst_sum = fmax(worst_sum, fabs(sw - 1));
            TAC_CHECK(r.confidence[i] > 0 && r.confidence[i] <= 1.0f + 1e-6f);
        }
        TAC_CHECK(worst_norm < 1e-5 && worst_sum < 1e-4);
        for (int c = 0; c < KC; c++) {
            double nc = 0;
            for (int j = 0; j < 2 * KD; j++) nc += (double)r.centroids[c * 2 * KD + j] * r.centroids[c * 2 * KD + j];
            TAC_CHECK_NEAR(nc, 1.0, 1e-5);
        }
        /* weights and counterparts recomputed from the result match the kept ones */
        float *R2 = malloc(sizeof(float) * KN * KD), *W2 = malloc(sizeof(float) * KN * r.nsel);
        TAC_CHECK_OK(tac_fit_retrieve(&r, X, KN, R2, W2));
        TAC_CHECK(memcmp(R2, r.test_text, sizeof(float) * KN * KD) == 0);
        TAC_CHECK(memcmp(W2, r.test_weights, sizeof(float) * KN * r.nsel) == 0);
        /* assign the same images back */
        int32_t *pred = malloc(sizeof(int32_t) * KN);
        float *conf = malloc(sizeof(float) * KN);
        TAC_CHECK_OK(tac_fit_assign(X, KN, KD, r.selected_emb, r.nsel, r.tau, r.heads, r.centroids, KC, pred, conf, NULL));
        int64_t same = 0;
        for (int64_t i = 0; i < KN; i++) same += pred[i] == fin[i];
        if (train) {
            TAC_CHECK_INT(same, KN);
            TAC_CHECK(memcmp(conf, r.confidence, sizeof(float) * KN) == 0);
        } else {
            TAC_CHECK(same >= KN * 98 / 100);   /* nearest joint centroid = the k-means cluster, bar ties */
        }
        TAC_CHECK_ERR(tac_fit_assign(X, KN, KD, r.selected_emb, r.nsel, r.tau, NULL, NULL, KC, pred, conf, NULL), "missing");
        free(R2); free(W2); free(pred); free(conf);
        tac_fit_result_free(&r);
    }
    tac_fit_params p;
    tac_fit_default_params(&p);
    p.K = KC; p.threads = -1;
    tac_fit_result r;
    TAC_CHECK_ERR(tac_fit(X, KN, X, KN, KD, T, KM, NULL, NULL, NULL, &p, &r), "threads");
    free(X); free(T);
}

/* progress callback: stages reported in order, ending at total */
static int64_t g_last_done, g_total, g_calls;
static void on_progress(const char *label, int64_t done, int64_t total, void *user)
{
    (void)user;
    if (strcmp(label, "fit") != 0) return;
    if (done < g_last_done) g_last_done = -1000;   /* out of order */
    else g_last_done = done;
    g_total = total;
    g_calls++;
}

TAC_TEST(fit_progress_callback)
{
    float *X = malloc(sizeof(float) * KN * KD), *T = malloc(sizeof(float) * KM * KD);
    int32_t y[KN];
    make_blobs(X, T, y, 6);
    tac_fit_params p;
    tac_fit_default_params(&p);
    p.K = KC; p.train = 0; p.notrain = 1; p.baseline = 0; p.centres = 10;
    p.progress_fn = on_progress;
    g_last_done = g_total = g_calls = 0;
    tac_fit_result r;
    TAC_CHECK_OK(tac_fit(X, KN, X, KN, KD, T, KM, NULL, NULL, NULL, &p, &r));
    TAC_CHECK(g_calls >= 5);
    TAC_CHECK(g_total > 0 && g_last_done == g_total);
    tac_fit_result_free(&r);
    free(X); free(T);
}

/* The nouns listed per image: "cat" is its own noun after "cattle" (the old substring test dropped it), while
 * "Cat" and "cat" are one name after case-folding. */
TAC_TEST(image_nouns_compare_whole_names)
{
    char *nouns[] = {"cattle", "cat", "Cat", "dog", "hot_dog", "hot dog"};
    int64_t sel[] = {0, 1, 2, 3, 4, 5};
    /* image 0 ranks cattle > cat > Cat > dog; image 1 ranks hot_dog > hot dog > dog > cattle */
    float W[2 * 6] = {0.4f, 0.3f, 0.2f, 0.1f, 0, 0,
                      0.1f, 0, 0, 0.2f, 0.4f, 0.3f};
    char **out = tac_image_nouns(W, 2, 6, sel, nouns);
    TAC_CHECK(strcmp(out[0], "cattle; cat; dog") == 0);
    TAC_CHECK(strcmp(out[1], "hot dog; dog; cattle") == 0);
    printf("  image 0: %s\n  image 1: %s\n", out[0], out[1]);
    tac_free_strings(out, 2);
}

/* tac_path_join: "dir/name", and an error (never a silently cut path) when it does not fit */
TAC_TEST(path_join_fails_on_overflow)
{
    char buf[16];
    TAC_CHECK_OK(tac_path_join(buf, sizeof buf, "out", "run.json"));
    TAC_CHECK(strcmp(buf, "out/run.json") == 0);
    TAC_CHECK_OK(tac_path_join(buf, sizeof buf, "abcdefg", "1234567"));   /* 15 bytes + NUL: fits exactly */
    TAC_CHECK(strcmp(buf, "abcdefg/1234567") == 0);
    TAC_CHECK_ERR(tac_path_join(buf, sizeof buf, "abcdefg", "12345678"), "path too long");
    TAC_CHECK(buf[0] == 0);
}

/* the dataset readers take their names and K from the fit presets: one table */
TAC_TEST(dataset_table_follows_presets)
{
    const char *names[] = {"stl10", "cifar10", "cifar20", "imagenet10", "imagenet-dogs", "dtd", "ucf101", "imagenet1k"};
    for (int i = 0; i < 8; i++) {
        const tac_fit_preset_info *q = tac_fit_preset_get(names[i]);
        const tac_dataset_info *d = tac_dataset_find(names[i]);
        TAC_REQUIRE(q && d);
        TAC_CHECK_INT(d->K, q->K);
        TAC_CHECK(strstr(tac_dataset_names(), names[i]) != NULL);
    }
    TAC_CHECK_INT(tac_fit_preset_get("CIFAR-20")->K, 20);
    TAC_CHECK_INT(tac_fit_preset_get("imagenet")->K, 1000);
    TAC_CHECK(tac_fit_preset_get("mnist") == NULL && tac_dataset_find("mnist") == NULL);
    TAC_CHECK(strcmp(tac_dataset_names(), tac_fit_preset_names()) == 0);
    tac_fit_params p;
    tac_fit_default_params(&p);
    TAC_CHECK_OK(tac_fit_preset("ucf101", &p));
    TAC_CHECK(p.K == 101 && p.heads.epochs == 100 && p.heads.batch == 8192 && p.heads.temperature == 5.0f);
    TAC_CHECK_ERR(tac_fit_preset("mnist", &p), "unknown preset 'mnist'");
}
