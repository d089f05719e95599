/* tac_choose_k.c - choosing the number of clusters K (`taclust cluster -K auto`, taclust.choose_k in Python).
 *
 * tac_choose_k_ex(X, n, d, T, m, k_max, seed, sample, &K, scores, reason, len, threads):
 *   1. L2-normalised copies of the images X (N x D) and nouns T (M x D);
 *   2. text counterparts as in TAC with centres from the rule for a mid-sized K: k = tac_num_centres(N, 10)
 *      clamped to 2..N/2, spherical k-means (50 iterations, 3 restarts), TAC_GAMMA nouns per centre, TAC_TAU;
 *   3. the joint space Z = [x ; r] / sqrt(2) (N x 2D, tac_joint_space);
 *   4. for K = 2..k_max' (k_max' = min(k_max, N/3)): spherical k-means of Z into K clusters (50 iterations, 3
 *      restarts, the same seed) and the mean silhouette with the cosine distance on a seeded subsample of at most
 *      `sample` rows (tac_rand_perm(seed), its first rows);
 *   5. K = the highest mean silhouette (the lowest K among equal scores).
 * tac_silhouette_cosine is scikit-learn's silhouette_score(Z, labels, metric='cosine'): for row i with cluster
 * A (|A| >= 2), a_i = mean cosine distance to the other members of A, b_i = the smallest mean distance to the
 * members of another non-empty cluster, s_i = (b_i - a_i) / max(a_i, b_i); s_i = 0 when |A| = 1; the score is
 * the mean of s_i over all N rows. Distances 1 - z_i.z_j / (|z_i| |z_j|), clipped to [0, 2] as scikit-learn does,
 * from a float Gram matrix of rows normalised in double (agrees with scikit-learn to about 1e-6).
 * A subsample whose rows all fall in one cluster (or each in its own) scores 0 for that K (scikit-learn would refuse it).
 * Cost: O(sample^2 D) per K for the silhouette, memory sample^2 floats (16 MB at 2000).
 */
#include "taclust/pipeline.h"
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "taclust/textspace.h"
#include "core/tac_internal.h"
#include "core/tac_threads.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAC_CHOOSE_K_SAMPLE 2000   /* default silhouette subsample */

int tac_silhouette_cosine(const float *Z, int64_t n, int d, const int32_t *labels, int k, double *score)
{
    if (!Z || !labels || !score) return tac_fail("silhouette: missing input");
    if (n < 2 || d < 1 || k < 1) return tac_fail("silhouette: need at least 2 rows of width >= 1 (N %lld, width %d)",
                                                 (long long)n, d);
    if (n > INT32_MAX) return tac_fail("silhouette: too many rows (%lld)", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return tac_fail("silhouette: label %d of row %lld is outside 0..%d", labels[i], (long long)i, k - 1);
    if (tac_check_finite("silhouette", Z, n, d) != TAC_OK) return TAC_ERR;   /* NaN would make the mean NaN */
    int rc = TAC_ERR;
    float *U = NULL, *G = NULL;
    double *sum = NULL;
    int64_t *cnt = NULL;
    if (!(cnt = tac_try_calloc((size_t)k, sizeof(int64_t), "silhouette: cluster sizes"))) goto done;   /* K */
    for (int64_t i = 0; i < n; i++) cnt[labels[i]]++;
    int nonempty = 0;
    for (int c = 0; c < k; c++) nonempty += cnt[c] > 0;
    if (nonempty < 2 || nonempty > n - 1) {
        tac_fail("silhouette: %d non-empty clusters for %lld rows (needs 2 to N - 1)", nonempty, (long long)n);
        goto done;
    }
    if (!(U = tac_try_malloc((size_t)n * d, sizeof(float), "silhouette: rows"))) goto done;     /* N x D */
    for (int64_t i = 0; i < n; i++) {
        double s2 = 0;
        for (int t = 0; t < d; t++) s2 += (double)Z[i * d + t] * Z[i * d + t];
        double inv = s2 > 0 ? 1.0 / sqrt(s2) : 0;   /* a zero row: distance 1 to everything, as scikit-learn */
        for (int t = 0; t < d; t++) U[i * d + t] = (float)(Z[i * d + t] * inv);
    }
    if (!(G = tac_try_malloc((size_t)n * n, sizeof(float), "silhouette: N x N distances"))) goto done;  /* N x N */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, d, 1.0f, U, d, U, d, 0.0f, G, (int)n);
    if (!(sum = tac_try_malloc((size_t)k, sizeof(double), "silhouette: sums"))) goto done;    /* K */
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        int own = labels[i];
        if (cnt[own] <= 1) continue;                  /* alone in its cluster: s_i = 0 */
        for (int c = 0; c < k; c++) sum[c] = 0;
        const float *g = G + i * n;
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            double dist = 1.0 - (double)g[j];
            if (dist < 0) dist = 0;
            if (dist > 2) dist = 2;
            sum[labels[j]] += dist;
        }
        double a = sum[own] / (double)(cnt[own] - 1), b = INFINITY;
        for (int c = 0; c < k; c++)
            if (c != own && cnt[c] > 0 && sum[c] / (double)cnt[c] < b) b = sum[c] / (double)cnt[c];
        double mx = a > b ? a : b;
        if (mx > 0) total += (b - a) / mx;
    }
    *score = total / (double)n;
    rc = TAC_OK;
done:
    free(U); free(G); free(sum); free(cnt);
    return rc;
}

/* 1 when labels (N in [0,k)) have 2 to N - 1 non-empty clusters, the silhouette's domain; seen: k bytes */
static int silhouette_defined(const int32_t *labels, int64_t n, int k, char *seen)
{
    memset(seen, 0, (size_t)k);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) if (!seen[labels[i]]) { seen[labels[i]] = 1; c++; }
    return c >= 2 && c <= n - 1;
}

/* Text counterparts of the images for K selection: R (N x D) from k semantic centres. */
static int counterparts(const float *Xn, int64_t n, int d, const float *Tn, int64_t m, uint32_t seed, int threads,
                        float *R)
{
    int kc = tac_num_centres(n, 10);
    if (kc > n / 2) kc = (int)(n / 2);
    if (kc < 2) kc = 2;
    tac_kmeans_params kp;
    tac_kmeans_default_params(&kp);
    kp.k = kc; kp.spherical = 1; kp.niter = 50; kp.nredo = 3; kp.seed = seed; kp.threads = threads;
    int rc = TAC_ERR;
    int64_t *sel = NULL, nsel = 0;
    float *E = NULL;
    int32_t *lab = tac_try_malloc((size_t)n, sizeof(int32_t), "K selection: centre labels");   /* N */
    if (!lab) return TAC_ERR;
    if (tac_kmeans(Xn, n, d, &kp, NULL, lab, NULL) != TAC_OK) goto done;
    if (tac_select_nouns_ex(Xn, n, lab, kc, Tn, m, d, TAC_GAMMA, &sel, &nsel, NULL, threads) != TAC_OK) goto done;
    if (!(E = tac_try_malloc((size_t)nsel * d, sizeof(float), "K selection: selected nouns"))) goto done;  /* S x D */
    for (int64_t s = 0; s < nsel; s++) memcpy(E + s * d, Tn + sel[s] * d, (size_t)d * sizeof(float));
    rc = tac_retrieve_ex(Xn, n, E, nsel, d, TAC_TAU, R, NULL, threads);
done:
    free(lab); free(sel); free(E);
    return rc;
}

int tac_choose_k_ex(const float *X, int64_t n, int d, const float *T, int64_t m, int k_max, uint32_t seed,
                    int64_t sample, int *best_k, double *scores, char *reason, size_t reason_len, int threads)
{
    if (!X || !T || !best_k) return tac_fail("K selection: missing input (images, nouns or best_k)");
    if (d < 1) return tac_fail("K selection: embedding width must be >= 1 (got %d)", d);
    if (m < 1) return tac_fail("K selection: no noun embeddings");
    if (k_max < 2) return tac_fail("K selection: k_max must be >= 2 (got %d)", k_max);
    if (scores) for (int k = 0; k <= k_max; k++) scores[k] = NAN;
    int kmax = k_max;
    if (kmax > n / 3) kmax = (int)(n / 3);
    if (kmax < 2) return tac_fail("K auto needs at least 6 images (found %lld); give -K", (long long)(n < 0 ? 0 : n));
    if (tac_check_finite("K selection: images", X, n, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("K selection: nouns", T, m, d) != TAC_OK) return TAC_ERR;
    if (threads < 0) return tac_fail("K selection: threads must be >= 0 (0: all the library may use), got %d", threads);
    int64_t ns = sample > 0 ? sample : TAC_CHOOSE_K_SAMPLE;
    if (ns > n) ns = n;
    const int d2 = 2 * d;
    int rc = TAC_ERR;
    float *Xn = NULL, *Tn = NULL, *R = NULL, *Z = NULL, *Zs = NULL;
    int32_t *lab = NULL, *ls = NULL;
    int64_t *perm = NULL;
    char *seen = NULL;
    const int blas_lowered = threads > 0;   /* the silhouette's Gram products: at most `threads` BLAS threads */
    if (blas_lowered) tac_blas_threads_enter(tac_threads_resolve(threads));
    if (!(Xn = tac_try_malloc((size_t)n * d, sizeof(float), "K selection: images"))) goto done;     /* N x D */
    memcpy(Xn, X, (size_t)n * d * sizeof(float));
    tac_l2_normalize_rows_ex(Xn, n, d, threads);
    if (!(Tn = tac_try_malloc((size_t)m * d, sizeof(float), "K selection: nouns"))) goto done;      /* M x D */
    memcpy(Tn, T, (size_t)m * d * sizeof(float));
    tac_l2_normalize_rows_ex(Tn, m, d, threads);
    if (!(R = tac_try_malloc((size_t)n * d, sizeof(float), "K selection: text counterparts"))) goto done;  /* N x D */
    if (counterparts(Xn, n, d, Tn, m, seed, threads, R) != TAC_OK) goto done;
    free(Tn); Tn = NULL;
    if (!(Z = tac_try_malloc((size_t)n * d2, sizeof(float), "K selection: joint space"))) goto done;   /* N x 2D */
    tac_joint_space(Xn, R, n, d, Z);
    free(R); R = NULL;
    free(Xn); Xn = NULL;
    if (!(perm = tac_try_malloc((size_t)n, sizeof(int64_t), "K selection: subsample"))) goto done;    /* N */
    tac_rand_perm(perm, n, seed);
    if (!(Zs = tac_try_malloc((size_t)ns * d2, sizeof(float), "K selection: subsample"))) goto done;  /* NS x 2D */
    for (int64_t i = 0; i < ns; i++) memcpy(Zs + i * d2, Z + perm[i] * d2, (size_t)d2 * sizeof(float));
    if (!(lab = tac_try_malloc((size_t)n, sizeof(int32_t), "K selection: labels"))) goto done;        /* N */
    if (!(ls = tac_try_malloc((size_t)ns, sizeof(int32_t), "K selection: labels"))) goto done;        /* NS */
    if (!(seen = tac_try_malloc((size_t)kmax + 1, 1, "K selection: labels"))) goto done;              /* K */
    tac_kmeans_params kp;
    tac_kmeans_default_params(&kp);
    kp.spherical = 1; kp.niter = 50; kp.nredo = 3; kp.seed = seed; kp.threads = threads;
    double best = -2, second = -2;
    int bestk = 2, secondk = 0;
    tac_progress pr;
    tac_progress_begin(&pr, "K auto", kmax - 1);
    int failed = 0;
    for (int k = 2; k <= kmax && !failed; k++) {
        kp.k = k;
        if (tac_kmeans(Z, n, d2, &kp, NULL, lab, NULL) != TAC_OK) { failed = 1; break; }
        for (int64_t i = 0; i < ns; i++) ls[i] = lab[perm[i]];
        double s = 0;
        /* a subsample holding a single non-empty cluster, or every row alone (scikit-learn would refuse) scores 0 */
        if (silhouette_defined(ls, ns, k, seen) && tac_silhouette_cosine(Zs, ns, d2, ls, k, &s) != TAC_OK) {
            failed = 1;
            break;
        }
        if (scores) scores[k] = s;
        if (s > best) { second = best; secondk = bestk; best = s; bestk = k; }
        else if (s > second) { second = s; secondk = k; }
        tac_progress_update(&pr, k - 1);
    }
    tac_progress_end(&pr);
    if (failed) goto done;
    *best_k = bestk;
    if (reason && reason_len)
        snprintf(reason, reason_len, "K=%d has the highest mean silhouette (%.3f) on the joint image+text space "
                 "among K=2..%d (runner-up K=%d: %.3f)", bestk, best, kmax, secondk, second);
    rc = TAC_OK;
done:
    if (blas_lowered) tac_blas_threads_leave();
    free(Xn); free(Tn); free(R); free(Z); free(Zs); free(lab); free(ls); free(perm); free(seen);
    return rc;
}

int tac_choose_k(const float *X, int64_t n, int d, const float *T, int64_t m, int k_max, uint32_t seed,
                 int *best_k, double *scores)
{
    return tac_choose_k_ex(X, n, d, T, m, k_max, seed, 0, best_k, scores, NULL, 0, 0);
}
