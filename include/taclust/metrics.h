/* taclust/metrics.h - clustering metrics as TAC reports them (tac-method.md section 8).
 *
 * ACC: best one-to-one map of clusters to labels (Hungarian method on the confusion matrix), as a fraction.
 * NMI: sklearn's normalized_mutual_info_score with average_method="arithmetic".
 * ARI: sklearn's adjusted_rand_score (Hubert-Arabie). All three in [0,1] (ARI can be negative).
 * Labels and predictions may be any int64 values; they are compacted internally.
 * tac_metrics_compute fails (TAC_ERR, tac_last_error) on n <= 0 or when the confusion matrix is too large for
 * the Hungarian method (more than 2^26 cells); tac_metric_acc then returns NaN. With n = 0, NMI and ARI are 1.0
 * like sklearn's.
 *
 * Errors and memory: tac_metrics_compute returns TAC_ERR with the reason in tac_last_error() on bad input and when
 * its memory cannot be allocated (never aborts); the value functions (tac_metric_*, tac_hungarian_max) return NaN
 * then, with the reason set (their results are never NaN otherwise). tac_labels_load's array: release with tac_free.
 * Threads: everything here is a pure function of its inputs, runs on the calling thread only (no OpenMP, no BLAS)
 * and may be called from several threads at once.
 */
#ifndef TACLUST_METRICS_H
#define TACLUST_METRICS_H

#include "taclust/version.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { double acc, nmi, ari; } tac_metrics;

TAC_API int tac_metrics_compute(const int64_t *labels, const int64_t *pred, int64_t n, tac_metrics *out);
TAC_API double tac_metric_acc(const int64_t *labels, const int64_t *pred, int64_t n);
TAC_API double tac_metric_nmi(const int64_t *labels, const int64_t *pred, int64_t n);
TAC_API double tac_metric_ari(const int64_t *labels, const int64_t *pred, int64_t n);

/* Hungarian method: maximise sum of weight[i*c + j] over a one-to-one assignment of the r rows to
 * columns (r <= c or r > c both allowed; unmatched rows get -1). assign: r out. Returns the total weight, or NaN
 * (reason set) when a weight is not finite, a size is negative or memory cannot be allocated. */
TAC_API double tac_hungarian_max(const double *weight /* r x c */, int r, int c, int *assign);

/* Reads N labels or predictions from PATH: a .npy array (any integer dtype, or float with integral values;
 * 1-D or N x 1) or a text file with one number per line (numpy.savetxt floats such as 3.000000000000000000e+00
 * are fine; blank lines are skipped). Errors name the file (and the line for text). *labels: release with tac_free. */
TAC_API int tac_labels_load(const char *path, int64_t **labels, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
