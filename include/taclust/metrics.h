/* taclust/metrics.h - clustering metrics as TAC reports them (tac-method.md section 8).
 *
 * ACC: best one-to-one map of clusters to labels (Hungarian method on the confusion matrix), as a fraction.
 * NMI: sklearn's normalized_mutual_info_score with average_method="arithmetic".
 * ARI: sklearn's adjusted_rand_score (Hubert-Arabie). All three in [0,1] (ARI can be negative).
 * Labels and predictions may be any int64 values; they are compacted internally.
 */
#ifndef TACLUST_METRICS_H
#define TACLUST_METRICS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { double acc, nmi, ari; } tac_metrics;

int tac_metrics_compute(const int64_t *labels, const int64_t *pred, int64_t n, tac_metrics *out);
double tac_metric_acc(const int64_t *labels, const int64_t *pred, int64_t n);
double tac_metric_nmi(const int64_t *labels, const int64_t *pred, int64_t n);
double tac_metric_ari(const int64_t *labels, const int64_t *pred, int64_t n);

/* Hungarian method: maximise sum of weight[i*c + j] over a one-to-one assignment of the r rows to
 * columns (r <= c or r > c both allowed; unmatched rows get -1). assign: r out. Returns the total weight. */
double tac_hungarian_max(const double *weight /* r x c */, int r, int c, int *assign);

#ifdef __cplusplus
}
#endif
#endif
