/* taclust/pipeline.h - the whole TAC method on embeddings (tac-method.md sections 4-10): centres, noun
 * selection, retrieval, TAC (no train) and TAC, with per-dataset presets and cluster names.
 *
 *   tac_fit_params p;
 *   tac_fit_default_params(&p);              // constants of section 10 (K must still be set)
 *   tac_fit_preset("cifar10", &p);           // or set p.K, p.heads.* yourself
 *   tac_fit_result r;
 *   if (tac_fit(Xtr, ntr, Xte, nte, d, T, m, names, yte, ytr, &p, &r) != TAC_OK) puts(tac_last_error());
 *   ... r.pred_notrain, r.pred_tac, r.cluster_names ...
 *   tac_fit_result_free(&r);
 *
 * Inputs are raw (not normalised) float32 embeddings; tac_fit L2-normalises its own copies.
 * Determinism: the same inputs and p.seed give bit-identical outputs for a fixed thread count.
 */
#ifndef TACLUST_PIPELINE_H
#define TACLUST_PIPELINE_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>

#include "taclust/core.h"
#include "taclust/dist.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int K;                /* clusters of the final clustering (required, >= 2) */
    int centres;          /* k semantic centres; 0 = tac_num_centres(N_train, K) (default 0) */
    int gamma;            /* nouns kept per centre, default 5 */
    float tau;            /* retrieval temperature, default 0.005 */
    int niter;            /* k-means iterations, default 300 */
    int nredo_centres;    /* k-means restarts for the centres, default 10 */
    int nredo_concat;     /* k-means restarts for TAC (no train) and the CLIP k-means baseline, default 20 */
    int knn;              /* neighbours per sample for the heads, default 50 */
    int train;            /* 1 (default): also train the heads (TAC); 0: TAC (no train) only */
    int baseline;         /* 1 (default): also run CLIP k-means on test image features (only with labels) */
    int notrain;          /* 1 (default): run TAC (no train); 0 skips it (allowed only with train = 1) */
    int n_names;          /* names per cluster, default 5 (1..16) */
    uint32_t seed;        /* k-means seed (faiss default 1234) and heads seed; default 1234 */
    tac_heads_params heads; /* epochs, batch, temperature, ...; heads.K is set from K */
    int progress;         /* 1: stage messages to the log callback and progress to the process-wide progress
                             callback (default 0) */
    void (*inputs_read)(void *arg); /* called (when set) once the inputs have been copied into normalised
                                       arrays: the caller may drop memory-mapped inputs' pages (tac_npy_map) */
    void *inputs_read_arg;
    /* ---- appended (issue #10); never reorder the fields above: bindings mirror this struct ---- */
    tac_progress_fn progress_fn; /* stage progress (label "fit", done/total stages; "fit: heads", epoch/epochs);
                                    NULL = none. (Named progress_fn: `progress` above is the older on/off flag.) */
    void *progress_user;  /* passed to progress_fn */
    int threads;          /* OpenMP threads this call may use, 0 = all the library may use (default 0) */
    /* ---- appended (issue #12) ---- */
    const tac_comm *comm; /* NULL (default): one process; else every rank of comm calls tac_fit with the same
                             inputs and parameters and the stages are shared among them (taclust/dist.h): centres
                             and both k-means of the test split (tac_kmeans_dist), retrieval (tac_retrieve_dist),
                             the kNN graphs (tac_knn_cosine_dist), the heads (tac_heads_train_dist); every rank
                             returns the whole result */
} tac_fit_params;

typedef struct {
    int K, k, d, n_names;
    int64_t n_train, n_test, m;
    int64_t nsel;
    int64_t *selected;        /* S: selected noun indices, ascending */
    int32_t *selected_centre; /* S: centre each selected noun was assigned to */
    int32_t *pred_notrain;    /* N_test: TAC (no train) clusters, NULL when !notrain */
    int32_t *pred_tac;        /* N_test: TAC (image head) clusters, NULL when !train */
    int32_t *pred_kmeans;     /* N_test: CLIP k-means baseline, NULL unless labels and baseline */
    int64_t *cluster_size;    /* K: members of each final cluster (pred_tac, else pred_notrain) */
    int64_t *cluster_names;   /* K x n_names: noun indices naming each final cluster, -1 = none */
    tac_heads *heads;         /* trained heads, NULL when !train */
    int has_metrics, has_train_metrics;
    tac_metrics m_kmeans, m_notrain, m_tac; /* on test labels (m_kmeans only when baseline ran) */
    tac_metrics m_tac_train;                /* image head on the train split, with train labels */
    double t_normalise, t_centres, t_select, t_retrieve, t_notrain, t_baseline, t_knn, t_heads,
           t_predict, t_names, t_total;     /* seconds per stage */
    double rss_normalise, rss_centres, rss_select, rss_retrieve, rss_notrain, rss_knn, rss_heads,
           rss_total;                       /* peak resident memory (GB, getrusage) at the end of each stage */
    /* ---- appended (issue #10); never reorder the fields above: bindings mirror this struct ----
     * What a job needs besides the clusters; every array is released by tac_fit_result_free.
     * "Final clusters" = pred_tac when the heads were trained, else pred_notrain. */
    float tau;                /* retrieval temperature used (p->tau) */
    float *selected_emb;      /* S x D: L2-normalised embeddings of the selected nouns (rows of normalised T) */
    float *test_text;         /* N_test x D: text counterparts r_i of the test images (unit rows, section 5) */
    float *test_weights;      /* N_test x S: retrieval weights w_im over the selected nouns (rows sum to 1);
                                 NULL when N_test x S > TAC_FIT_MAX_WEIGHTS (tac_fit_retrieve gives any rows) */
    float *centroids;         /* K x 2D: unit-length means of the final clusters in the joint space
                                 z_i = [x_i ; r_i] / sqrt(2) (tac_joint_space); a cluster with no member: zeros */
    float *confidence;        /* N_test: each test image's confidence in its final cluster: the image head's
                                 probability (TAC), else tac_centroid_confidence (TAC no train) */
} tac_fit_result;

/* Largest N_test x S for which tac_fit keeps the retrieval weights (2^28 floats = 1 GiB). */
#define TAC_FIT_MAX_WEIGHTS ((int64_t)1 << 28)
/* Softmax temperature turning joint-space cosines into confidences (tac_centroid_confidence). */
#define TAC_CONF_TEMP 0.05f

TAC_API void tac_fit_default_params(tac_fit_params *p);

/* Section 10 per-dataset settings: stl10, cifar10, cifar20, imagenet10, imagenet-dogs, dtd, ucf101,
 * imagenet1k. Sets K, heads.epochs, heads.batch, heads.temperature (centres stay on the rule, which gives
 * the table's k on the standard splits). Fails on an unknown name (the reason lists the known ones). */
TAC_API int tac_fit_preset(const char *name, tac_fit_params *p);
TAC_API const char *tac_fit_preset_names(void);   /* "stl10, cifar10, ..." */
/* The section 10 table itself, the one list of TAC's datasets (the program's dataset readers use its names and
 * K): the row tac_fit_preset would apply for name, or NULL when it knows no such preset. */
typedef struct { const char *name; int K, epochs, batch; float temperature; } tac_fit_preset_info;
TAC_API const tac_fit_preset_info *tac_fit_preset_get(const char *name);

/* Xtr: N_train x D, Xte: N_test x D, T: M x D noun embeddings (all raw). names: M strings or NULL.
 * yte: N_test test labels or NULL; ytr: N_train train labels or NULL (any int64 values).
 * Cluster names: for each final cluster c, selected nouns ranked by their summed retrieval weight
 * sum_{i in c} w_im over the cluster's test members, keeping the first n_names that are distinct after
 * case-folding and '_' -> ' ' (by index when names is NULL), skipping nouns under 1/1000 of the top weight.
 * Errors: shape problems, non-finite values, K < 2, K > N_test or K > N_train, k > N_train, N_train < batch. */
TAC_API int tac_fit(const float *Xtr, int64_t ntr, const float *Xte, int64_t nte, int d,
            const float *T, int64_t m, const char *const *names,
            const int64_t *yte, const int64_t *ytr, const tac_fit_params *p, tac_fit_result *out);
TAC_API void tac_fit_result_free(tac_fit_result *r);

/* Text counterparts and retrieval weights of any images over a fit's selected nouns: X: N x D raw images
 * (normalised in a copy), R: N x D out, W: N x S out or NULL. */
TAC_API int tac_fit_retrieve(const tac_fit_result *r, const float *X, int64_t n, float *R, float *W);

/* ---- the joint image + text space (stage helpers shared by fit, K selection and the jobs) ----------- */
/* Z (N x 2D, caller's) = [Xn ; R] / sqrt(2) row by row; Xn, R: N x D unit rows, so Z's rows are unit too. */
TAC_API void tac_joint_space(const float *Xn, const float *R, int64_t n, int d, float *Z);
/* C (K x D2, caller's): the L2-normalised sum of Z's rows (N x D2) of each cluster; labels: N in [0,K). */
TAC_API int tac_joint_centroids(const float *Z, int64_t n, int d2, const int32_t *labels, int K, float *C);
/* Confidences from centroids: s_ic = z_i . c_c, p_ic = softmax_c(s_ic / TAC_CONF_TEMP). keep_pred = 1: conf[i]
 * = p_i,pred[i] for the given pred; keep_pred = 0: pred[i] = argmax_c s_ic (first maximum) and conf[i] its p. */
TAC_API int tac_centroid_confidence(const float *Z, int64_t n, int d2, const float *C, int K, int32_t *pred,
                                    int keep_pred, float *conf);
/* New images into a fitted clustering (what `taclust assign` does): X: N x D raw images, E: S x D selected noun
 * embeddings, tau the fit's temperature; heads (TAC: the image head decides, conf = its probability) or, with
 * heads NULL, C: K x 2D joint centroids (TAC no train: nearest centroid, conf by tac_centroid_confidence).
 * pred, conf: N out; W: N x S retrieval weights out, or NULL. */
TAC_API int tac_fit_assign(const float *X, int64_t n, int d, const float *E, int64_t s, float tau,
                           const tac_heads *heads, const float *C, int K, int32_t *pred, float *conf, float *W);

/* ---- K selection (`taclust cluster -K auto`) -------------------------------------------------------------
 * For K = 2..k_max' (k_max' = min(k_max, n/3)): text counterparts from k = clamp(tac_num_centres(n, 10), 2, n/2)
 * semantic centres (spherical k-means, 50 iterations, 3 restarts), gamma 5, tau 0.005; spherical k-means of
 * the joint space Z = [x ; r] / sqrt(2) into K clusters (50 iterations, 3 restarts, the same seed), and the mean
 * silhouette of that clustering with the cosine distance, exactly scikit-learn's
 * silhouette_score(Z, labels, metric='cosine') (on a seeded subsample of at most 2000 rows when n is larger;
 * a K whose subsample falls in one cluster, where scikit-learn would refuse, scores 0).
 * X: N x D raw image embeddings, T: M x D noun embeddings (both normalised in copies).
 * scores: k_max + 1 doubles out, scores[K] for K in 2..k_max', NaN elsewhere; *best_k: the argmax (lowest K on
 * ties). Fails when k_max' < 2 (fewer than 6 images). */
TAC_API int tac_choose_k(const float *X, int64_t n, int d, const float *T, int64_t m, int k_max, uint32_t seed,
                         int *best_k, double *scores);
/* The same with the silhouette subsample size (sample <= 0: 2000; sample >= n: every row), a one-line reason
 * ("K=4 has the highest mean silhouette (0.412) ... (runner-up K=3: 0.398)") written to reason (may be NULL), and
 * the threads the call may use (0: all the library may use; OpenBLAS's count is restored afterwards). */
TAC_API int tac_choose_k_ex(const float *X, int64_t n, int d, const float *T, int64_t m, int k_max, uint32_t seed,
                            int64_t sample, int *best_k, double *scores, char *reason, size_t reason_len,
                            int threads);
/* Mean silhouette of labels (N in [0,k)) on Z (N x D) with the cosine distance 1 - z_i.z_j / (|z_i| |z_j|):
 * scikit-learn's silhouette_score(Z, labels, metric='cosine') (a point alone in its cluster scores 0). Needs
 * 2 <= (number of non-empty clusters) <= N - 1, like scikit-learn. */
TAC_API int tac_silhouette_cosine(const float *Z, int64_t n, int d, const int32_t *labels, int k, double *score);

/* ---- file helpers: the inputs `taclust fit` and the stage commands read ---------------------------- */
/* Loads a 2-D float .npy (f16/f32/f64), checks every value is finite; errors name `path` (also a failed
 * allocation). *X: release with tac_free. Thread-safe (no shared state). */
TAC_API int tac_load_matrix(const char *path, float **X, int64_t *n, int64_t *d);
/* Reads noun indices, one per line (first whitespace-separated field; lines starting '#' skipped); each must
 * be in [0, limit). *idx: release with tac_free. Thread-safe. */
TAC_API int tac_read_indices(const char *path, int64_t limit, int64_t **idx, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
