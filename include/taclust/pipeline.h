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

#include <stdint.h>

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
    int progress;         /* progress and stage messages on stderr (default 0) */
    void (*inputs_read)(void *arg); /* called (when set) once the inputs have been copied into normalised
                                       arrays: the caller may drop memory-mapped inputs' pages (tac_npy_map) */
    void *inputs_read_arg;
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
} tac_fit_result;

TAC_API void tac_fit_default_params(tac_fit_params *p);

/* Section 10 per-dataset settings: stl10, cifar10, cifar20, imagenet10, imagenet-dogs, dtd, ucf101,
 * imagenet1k. Sets K, heads.epochs, heads.batch, heads.temperature (centres stay on the rule, which gives
 * the table's k on the standard splits). Fails on an unknown name (the reason lists the known ones). */
TAC_API int tac_fit_preset(const char *name, tac_fit_params *p);
TAC_API const char *tac_fit_preset_names(void);   /* "stl10, cifar10, ..." */

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

/* ---- file helpers shared by the commands ---------------------------------------------------------- */
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
