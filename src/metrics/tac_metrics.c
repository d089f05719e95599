/* tac_metrics.c - ACC, NMI and ARI of a clustering against ground-truth labels (tac-method.md section 8).
 *
 *   tac_metrics m;  tac_metrics_compute(labels, pred, n, &m);   // m.acc, m.nmi, m.ari as fractions
 *   double a = tac_metric_acc(labels, pred, n);                 // or one at a time
 *
 * All three start from the contingency table of the compacted ids (labels and predictions may be any int64
 * values, need not start at 0 or be contiguous):
 *   - NMI follows sklearn 1.2 normalized_mutual_info_score(average_method="arithmetic") step by step, including
 *     its special cases (both sides a single class -> 1.0; one side a single class -> MI = 0 -> 0.0) and its
 *     per-cell rounding rule (|cell term| < DBL_EPSILON counts as 0, then MI is clipped at 0).
 *   - ARI follows sklearn adjusted_rand_score through the pair confusion matrix, with exact 128-bit integer
 *     products, and its special case (no disagreeing pair -> 1.0).
 *   - ACC is the best one-to-one map of predicted clusters to classes (tac_hungarian_max on the
 *     clusters x classes count matrix), divided by n. Clusters left without a class (more clusters than classes)
 *     count as wrong. The original eval_utils.py has a latent bug (section 8: when cluster id 0 is never
 *     predicted it shifts the predictions by -min after computing the map, so the map is applied to the wrong
 *     ids); this port works on compacted ids and has no such shift: the bug is FIXED, not reproduced. On
 *     predictions that use ids 0..K-1 the two agree.
 * Counts are int64; sums are done in long double, so results agree with sklearn/scipy to ~1e-15.
 */
#include "taclust/metrics.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Dense tables up to this many cells (or 4n); above, the contingency table is built sparse by sorting. */
#define DENSE_CELLS (1 << 22)
/* The Hungarian method needs the dense clusters x classes matrix: refuse above this many cells. */
#define ACC_MAX_CELLS ((int64_t)1 << 26)

typedef struct {
    int64_t n, kl, kp;     /* samples, distinct labels, distinct predictions */
    int64_t *a;            /* kl: class sizes (row sums) */
    int64_t *b;            /* kp: cluster sizes (column sums) */
    int64_t nnz;           /* non-zero cells, in row-major order: */
    int64_t *ci, *cj, *cv; /* nnz: row (label id), column (cluster id), count */
} ctab;

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* ids[i] = rank of x[i] among the sorted distinct values of x. Returns the number of distinct values, or -1
 * (reason set) when its table cannot be allocated. */
static int64_t compact(const int64_t *x /* n */, int64_t n, int64_t *ids /* n out */)
{
    if (n == 0) return 0;
    int64_t lo = x[0], hi = x[0];
    for (int64_t i = 1; i < n; i++) { if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i]; }
    uint64_t range = (uint64_t)hi - (uint64_t)lo;   /* exact even for extreme values */
    if (range < (uint64_t)n * 2 + 65536) {
        int64_t *tab = tac_try_malloc((size_t)range + 1, sizeof(int64_t), "metrics: id table"); /* range+1: id of value lo+t, -1 = absent */
        if (!tab) return -1;
        for (uint64_t t = 0; t <= range; t++) tab[t] = -1;
        for (int64_t i = 0; i < n; i++) tab[(uint64_t)x[i] - (uint64_t)lo] = 0;
        int64_t k = 0;
        for (uint64_t t = 0; t <= range; t++) if (tab[t] == 0) tab[t] = ++k;
        for (int64_t i = 0; i < n; i++) ids[i] = tab[(uint64_t)x[i] - (uint64_t)lo] - 1;
        free(tab);
        return k;
    }
    int64_t *u = tac_try_malloc((size_t)n, sizeof(int64_t), "metrics: sorted ids");   /* n: sorted copy, then its distinct prefix */
    if (!u) return -1;
    memcpy(u, x, (size_t)n * sizeof(int64_t));
    qsort(u, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t k = 1;
    for (int64_t i = 1; i < n; i++) if (u[i] != u[k - 1]) u[k++] = u[i];
    for (int64_t i = 0; i < n; i++) {
        int64_t l = 0, h = k - 1;
        while (l < h) { int64_t mid = l + (h - l) / 2; if (u[mid] < x[i]) l = mid + 1; else h = mid; }
        ids[i] = l;
    }
    free(u);
    return k;
}

static void ctab_free(ctab *t)
{
    free(t->a); free(t->b); free(t->ci); free(t->cj); free(t->cv);
    memset(t, 0, sizeof *t);
}

/* The contingency table of labels x pred (n each). TAC_ERR (reason set, t freed) when memory cannot be had. */
static int ctab_build(ctab *t, const int64_t *labels, const int64_t *pred, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    int ok = 0;
    int64_t *li = tac_try_malloc((size_t)(n ? n : 1), sizeof(int64_t), "metrics: label ids");        /* n: compacted labels */
    int64_t *pj = li ? tac_try_malloc((size_t)(n ? n : 1), sizeof(int64_t), "metrics: cluster ids") : NULL; /* n: compacted predictions */
    if (!pj) goto out;
    if ((t->kl = compact(labels, n, li)) < 0 || (t->kp = compact(pred, n, pj)) < 0) goto out;
    t->a = tac_try_calloc((size_t)(t->kl ? t->kl : 1), sizeof(int64_t), "metrics: class sizes");
    t->b = t->a ? tac_try_calloc((size_t)(t->kp ? t->kp : 1), sizeof(int64_t), "metrics: cluster sizes") : NULL;
    if (!t->b) goto out;
    for (int64_t i = 0; i < n; i++) { t->a[li[i]]++; t->b[pj[i]]++; }
    int64_t dense_max = n * 4 > DENSE_CELLS ? n * 4 : DENSE_CELLS;
    if (n == 0) {
        /* nothing */
    } else if (t->kl <= dense_max / t->kp) {
        int64_t cells = t->kl * t->kp;
        int64_t *c = tac_try_calloc((size_t)cells, sizeof(int64_t), "metrics: contingency table");   /* kl x kp counts */
        if (!c) goto out;
        for (int64_t i = 0; i < n; i++) c[li[i] * t->kp + pj[i]]++;
        int64_t nnz = 0;
        for (int64_t q = 0; q < cells; q++) nnz += c[q] != 0;
        if (!(t->ci = tac_try_malloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))
            || !(t->cj = tac_try_malloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))
            || !(t->cv = tac_try_malloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))) {
            free(c);
            goto out;
        }
        for (int64_t q = 0; q < cells; q++)
            if (c[q]) { t->ci[t->nnz] = q / t->kp; t->cj[t->nnz] = q % t->kp; t->cv[t->nnz] = c[q]; t->nnz++; }
        free(c);
    } else {
        /* kl, kp <= n, so kl * kp < 2^63 whenever n < 3e9 */
        TAC_ASSERT((unsigned __int128)t->kl * (unsigned __int128)t->kp < ((unsigned __int128)1 << 63));
        int64_t *code = tac_try_malloc((size_t)n, sizeof(int64_t), "metrics: cell codes");   /* n: row-major cell index of each sample */
        if (!code) goto out;
        for (int64_t i = 0; i < n; i++) code[i] = li[i] * t->kp + pj[i];
        qsort(code, (size_t)n, sizeof(int64_t), cmp_i64);
        int64_t nnz = 1;
        for (int64_t i = 1; i < n; i++) nnz += code[i] != code[i - 1];
        if (!(t->ci = tac_try_malloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))
            || !(t->cj = tac_try_malloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))
            || !(t->cv = tac_try_calloc((size_t)nnz, sizeof(int64_t), "metrics: contingency table"))) {
            free(code);
            goto out;
        }
        for (int64_t i = 0; i < n; i++) {
            if (i == 0 || code[i] != code[i - 1]) {
                t->ci[t->nnz] = code[i] / t->kp; t->cj[t->nnz] = code[i] % t->kp; t->nnz++;
            }
            t->cv[t->nnz - 1]++;
        }
        free(code);
    }
    ok = 1;
out:
    free(li); free(pj);
    if (!ok) ctab_free(t);
    return ok ? TAC_OK : TAC_ERR;
}

/* sklearn entropy(): -sum p log p over the non-empty groups, 0 for a single group. */
static double entropy_of(const int64_t *sizes, int64_t k, int64_t n)
{
    if (k <= 1) return 0.0;
    double logn = log((double)n);
    long double h = 0;
    for (int64_t i = 0; i < k; i++) {
        double p = (double)sizes[i];
        h += (long double)((p / (double)n) * (log(p) - logn));
    }
    return -(double)h;
}

static double nmi_of(const ctab *t)
{
    if (t->kl == t->kp && (t->kl == 1 || t->kl == 0)) return 1.0;   /* both unsplit: perfect match */
    if (t->kl == 1 || t->kp == 1) return 0.0;                       /* MI = 0 */
    double nd = (double)t->n, logn = log(nd);
    long double mi = 0;
    for (int64_t q = 0; q < t->nnz; q++) {
        double v = (double)t->cv[q];
        double cnm = v / nd;
        double outer = (double)(t->a[t->ci[q]] * t->b[t->cj[q]]);
        double log_outer = -log(outer) + logn + logn;
        double term = cnm * (log(v) - logn) + cnm * log_outer;
        if (fabs(term) < DBL_EPSILON) term = 0.0;   /* sklearn zeroes tiny per-cell terms */
        mi += term;
    }
    double mid = (double)mi;
    if (mid < 0) mid = 0;
    if (mid == 0) return 0.0;
    double ht = entropy_of(t->a, t->kl, t->n), hp = entropy_of(t->b, t->kp, t->n);
    return mid / ((ht + hp) / 2.0);
}

static double ari_of(const ctab *t)
{
    __int128 n = t->n, sumsq = 0, suma2 = 0, sumb2 = 0;
    for (int64_t q = 0; q < t->nnz; q++) sumsq += (__int128)t->cv[q] * t->cv[q];
    for (int64_t i = 0; i < t->kl; i++) suma2 += (__int128)t->a[i] * t->a[i];
    for (int64_t j = 0; j < t->kp; j++) sumb2 += (__int128)t->b[j] * t->b[j];
    /* sklearn pair_confusion_matrix: ordered pairs of distinct samples */
    __int128 tp = sumsq - n;
    __int128 fp = sumb2 - sumsq;   /* same cluster, different class */
    __int128 fn = suma2 - sumsq;   /* same class, different cluster */
    __int128 tn = n * n - fp - fn - sumsq;
    if (fn == 0 && fp == 0) return 1.0;
    __int128 num = tp * tn - fn * fp;
    __int128 den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
    return 2.0 * (double)num / (double)den;   /* as Python: float(num) * 2.0, then / float(den) */
}

static int acc_of(const ctab *t, double *acc)
{
    if (t->n == 0) return tac_fail("ACC: no samples");
    if (t->kp > ACC_MAX_CELLS / t->kl)
        return tac_fail("ACC: %lld clusters x %lld classes is too large for the Hungarian method",
                        (long long)t->kp, (long long)t->kl);
    int r = (int)t->kp, c = (int)t->kl;
    double *w = tac_try_calloc((size_t)r * (size_t)c, sizeof(double), "ACC: count matrix"); /* kp x kl: #(cluster j, class i) */
    int *assign = w ? tac_try_malloc((size_t)r, sizeof(int), "ACC: assignment") : NULL;    /* kp: class of each cluster or -1 */
    if (!assign) { free(w); return TAC_ERR; }
    for (int64_t q = 0; q < t->nnz; q++) w[t->cj[q] * c + t->ci[q]] = (double)t->cv[q];
    double total = tac_hungarian_max(w, r, c, assign);
    free(assign); free(w);
    if (isnan(total)) return TAC_ERR;   /* the reason is set */
    *acc = total / (double)t->n;
    return TAC_OK;
}

int tac_metrics_compute(const int64_t *labels, const int64_t *pred, int64_t n, tac_metrics *out)
{
    TAC_ASSERT(out && ((labels && pred) || n <= 0));
    if (n <= 0) return tac_fail("metrics: no samples (n = %lld)", (long long)n);
    ctab t;
    if (ctab_build(&t, labels, pred, n) != TAC_OK) return TAC_ERR;
    int rc = acc_of(&t, &out->acc);
    out->nmi = nmi_of(&t);
    out->ari = ari_of(&t);
    ctab_free(&t);
    return rc;
}

double tac_metric_acc(const int64_t *labels, const int64_t *pred, int64_t n)
{
    if (n < 0) { tac_fail("ACC: negative sample count %lld", (long long)n); return NAN; }
    TAC_ASSERT((labels && pred) || n == 0);
    ctab t;
    if (ctab_build(&t, labels, pred, n) != TAC_OK) return NAN;
    double acc;
    if (acc_of(&t, &acc) != TAC_OK) acc = NAN;
    ctab_free(&t);
    return acc;
}

double tac_metric_nmi(const int64_t *labels, const int64_t *pred, int64_t n)
{
    if (n < 0) { tac_fail("NMI: negative sample count %lld", (long long)n); return NAN; }
    TAC_ASSERT((labels && pred) || n == 0);
    ctab t;
    if (ctab_build(&t, labels, pred, n) != TAC_OK) return NAN;
    double v = nmi_of(&t);
    ctab_free(&t);
    return v;
}

double tac_metric_ari(const int64_t *labels, const int64_t *pred, int64_t n)
{
    if (n < 0) { tac_fail("ARI: negative sample count %lld", (long long)n); return NAN; }
    TAC_ASSERT((labels && pred) || n == 0);
    ctab t;
    if (ctab_build(&t, labels, pred, n) != TAC_OK) return NAN;
    double v = ari_of(&t);
    ctab_free(&t);
    return v;
}
