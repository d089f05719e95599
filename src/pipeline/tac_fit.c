/* tac_fit.c - the whole TAC method on precomputed embeddings (tac-method.md sections 4-7 and 10).
 *
 * tac_fit runs, in order:
 *   1. L2-normalise copies of the train images, test images and nouns;
 *   2. spherical k-means (niter 300, nredo 10) of the train images into k semantic centres (section 4);
 *   3. noun selection: gamma nouns per centre (section 4);
 *   4. soft retrieval of the text counterparts of train and test images (section 5, tau 0.005);
 *   5. TAC (no train): spherical k-means (niter 300, nredo 20) of [x ; r] on the test split (section 6);
 *      with test labels, also the CLIP k-means baseline on the test image features alone (same settings);
 *   6. TAC: 50-NN in text and image space on train, the two heads trained with cross-modal distillation,
 *      test predicted with the image head (section 7);
 *   7. metrics (section 8) when labels are given, and names for each final cluster.
 * Cluster names: the selected nouns ranked by how much of the cluster they describe and how specific they are to
 * it: W_c(m)^2 / W(m), with W_c(m) the summed retrieval weight of noun m over the cluster's test members (the
 * nouns the members' text counterparts are made of) and W(m) its sum over all clusters, i.e. in-cluster weight
 * times the share of the noun's weight that falls in this cluster (a noun spread over every cluster names none
 * of them), the first n_names distinct after case-folding and
 * '_' -> ' ', leaving out nouns whose summed weight is under 1/1000 of the cluster's top noun (a cluster may then
 * get fewer names). Ties in weight: lower noun index first. The same seed gives the same outputs.
 * The result also carries what a job needs besides the clusters (issue #10): the selected nouns' embeddings,
 * the test images' text counterparts and retrieval weights, the final clusters' joint-space centroids and a
 * confidence per test image. Every allocation here fails with an error (tac_last_error), never an abort.
 */
#include "core/tac_dist.h"
#include "taclust/pipeline.h"
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "taclust/textspace.h"
#include "core/tac_internal.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void tac_fit_default_params(tac_fit_params *p)
{
    memset(p, 0, sizeof *p);
    p->K = 0;
    p->centres = 0;
    p->gamma = TAC_GAMMA;
    p->tau = TAC_TAU;
    p->niter = 300;
    p->nredo_centres = 10;
    p->nredo_concat = 20;
    p->knn = 50;
    p->train = 1;
    p->baseline = 1;
    p->n_names = 5;
    p->notrain = 1;
    p->seed = 1234;
    tac_heads_default_params(&p->heads);
    p->progress = 0;
    p->progress_fn = NULL;
    p->progress_user = NULL;
    p->threads = 0;
    p->comm = NULL;
}

/* ---- presets (section 10) ------------------------------------------------------------------------------ */
static const tac_fit_preset_info presets[] = {
    {"stl10", 10, 20, 512, 0.5f},       {"cifar10", 10, 20, 512, 0.5f},  {"cifar20", 20, 20, 512, 0.5f},
    {"imagenet10", 10, 20, 512, 0.5f},  {"imagenet-dogs", 15, 20, 512, 0.5f}, {"dtd", 47, 20, 512, 0.5f},
    {"ucf101", 101, 100, 8192, 5.0f},   {"imagenet1k", 1000, 100, 8192, 5.0f},
};
#define NPRESETS ((int)(sizeof presets / sizeof presets[0]))

/* lower-case, drop '-', '_' and spaces: "CIFAR-10" and "imagenet_dogs" match */
static void squash(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 1 < cap; s++)
        if (*s != '-' && *s != '_' && *s != ' ') out[j++] = (char)tolower((unsigned char)*s);
    out[j] = 0;
}

const char *tac_fit_preset_names(void)
{
    return "stl10, cifar10, cifar20, imagenet10, imagenet-dogs, dtd, ucf101, imagenet1k";
}

const tac_fit_preset_info *tac_fit_preset_get(const char *name)
{
    char a[64], b[64];
    if (!name) return NULL;
    squash(name, a, sizeof a);
    if (!strcmp(a, "imagenet")) strcpy(a, "imagenet1k");
    for (int i = 0; i < NPRESETS; i++) {
        squash(presets[i].name, b, sizeof b);
        if (!strcmp(a, b)) return &presets[i];
    }
    return NULL;
}

int tac_fit_preset(const char *name, tac_fit_params *p)
{
    const tac_fit_preset_info *q = tac_fit_preset_get(name);
    if (!q) return tac_fail("unknown preset '%s' (known: %s)", name ? name : "(null)", tac_fit_preset_names());
    p->K = q->K;
    p->heads.epochs = q->epochs;
    p->heads.batch = q->batch;
    p->heads.temperature = q->temperature;
    return TAC_OK;
}

/* ---- helpers ------------------------------------------------------------------------------------------- */
static float *normalised_copy(const float *X, int64_t n, int d, const char *what)
{
    float *Y = tac_try_malloc((size_t)n * d, sizeof(float), what);   /* N x D */
    if (!Y) return NULL;
    memcpy(Y, X, (size_t)n * d * sizeof(float));
    tac_l2_normalize_rows(Y, n, d);
    return Y;
}

/* Peak resident set size of the process so far, GB (Linux ru_maxrss is in KiB). */
static double peak_rss_gb(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (double)u.ru_maxrss * 1024.0 / 1e9;
}

static void say(const tac_fit_params *p, const char *what, double secs)
{
    if (p->progress) tac_log(TAC_LOG_INFO, "fit: %s done in %.1f s (peak RSS %.2f GB)", what, secs, peak_rss_gb());
}

/* stage progress through the caller's callback: stages counted 1..FIT_STAGES */
#define FIT_STAGES 8
static void stage_done(const tac_fit_params *p, int stage)
{
    if (p->progress_fn) p->progress_fn("fit", stage, FIT_STAGES, p->progress_user);
}

typedef struct {
    const float *Xte; int64_t nte; const int64_t *yte; int32_t *pred; int64_t *pred64; int epochs; int progress;
    double last;          /* when the last line was printed */
    tac_progress_fn fn; void *fn_user;
} epoch_ctx;

static void on_epoch(const tac_heads *h, int epoch, double loss, void *user)
{
    epoch_ctx *c = user;
    if (c->fn) c->fn("fit: heads", epoch, c->epochs, c->fn_user);
    if (!c->progress) return;
    /* one line per epoch, but at most one every 2 s (short epochs on small collections), and the last */
    double now = tac_now();
    if (epoch != c->epochs && epoch != 1 && now - c->last < 2.0) return;
    c->last = now;
    if (c->yte && tac_heads_predict(h, c->Xte, c->nte, c->pred, NULL) == TAC_OK) {
        for (int64_t i = 0; i < c->nte; i++) c->pred64[i] = c->pred[i];
        tac_metrics m;
        if (tac_metrics_compute(c->yte, c->pred64, c->nte, &m) == TAC_OK) {
            tac_log(TAC_LOG_INFO, "heads: epoch %d/%d loss %.4f  test ACC %.2f NMI %.2f ARI %.2f", epoch, c->epochs, loss,
                     100 * m.acc, 100 * m.nmi, 100 * m.ari);
            return;
        }
    }
    tac_log(TAC_LOG_INFO, "heads: epoch %d/%d loss %.4f", epoch, c->epochs, loss);
}

static int metrics32(const int64_t *y, const int32_t *pred, int64_t n, tac_metrics *m)
{
    int64_t *p64 = tac_try_malloc((size_t)n, sizeof(int64_t), "fit: metrics");
    if (!p64) return TAC_ERR;
    for (int64_t i = 0; i < n; i++) p64[i] = pred[i];
    int rc = tac_metrics_compute(y, p64, n, m);
    free(p64);
    return rc;
}

/* name key: ASCII lower-case, '_' -> ' ' */
static void name_key(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 1 < cap; s++) out[j++] = *s == '_' ? ' ' : (char)tolower((unsigned char)*s);
    out[j] = 0;
}

/* score: K x S summed retrieval weights; fills names (K x n_names) with global noun indices. Whole names are
 * compared (after name_key): "cat" is a distinct name from "cattle". */
static int pick_names(const double *score, int K, int64_t s, const int64_t *sel, const char *const *names,
                      int n_names, int64_t *out)
{
    char keys[16][256];
    char *used = tac_try_malloc((size_t)s, 1, "fit: cluster names");
    if (!used) return TAC_ERR;
    for (int c = 0; c < K; c++) {
        const double *sc = score + (size_t)c * s;
        int64_t *o = out + (size_t)c * n_names;
        for (int q = 0; q < n_names; q++) o[q] = -1;
        int got = 0;
        /* repeated selection of the best remaining candidate: n_names is small */
        memset(used, 0, (size_t)s);
        double top = 0;
        for (int64_t t = 0; t < s; t++) if (sc[t] > top) top = sc[t];
        while (got < n_names) {
            int64_t bt = -1;
            for (int64_t t = 0; t < s; t++)
                if (!used[t] && sc[t] > 0 && (bt < 0 || sc[t] > sc[bt])) bt = t;
            /* a noun carrying under 1/1000 of the top noun's weight describes (almost) no member */
            if (bt < 0 || sc[bt] < 1e-3 * top) break;
            used[bt] = 1;
            if (names) {
                char key[256];
                name_key(names[sel[bt]], key, sizeof key);
                int dup = 0;
                for (int q = 0; q < got; q++) dup |= !strcmp(keys[q], key);
                if (dup) continue;
                strcpy(keys[got], key);
            }
            o[got++] = sel[bt];
        }
    }
    free(used);
    return TAC_OK;
}

void tac_fit_result_free(tac_fit_result *r)
{
    if (!r) return;
    free(r->selected); free(r->selected_centre); free(r->pred_notrain); free(r->pred_tac); free(r->pred_kmeans);
    free(r->cluster_size); free(r->cluster_names);
    free(r->selected_emb); free(r->test_text); free(r->test_weights); free(r->centroids); free(r->confidence);
    if (r->heads) tac_heads_free(r->heads);
    memset(r, 0, sizeof *r);
}

/* ---- joint space, centroids, confidences (shared with K selection and the jobs) ------------------------ */
void tac_joint_space(const float *Xn, const float *R, int64_t n, int d, float *Z)
{
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++) {
            Z[i * 2 * d + t] = Xn[i * d + t] * (float)M_SQRT1_2;
            Z[i * 2 * d + d + t] = R[i * d + t] * (float)M_SQRT1_2;
        }
}

int tac_joint_centroids(const float *Z, int64_t n, int d2, const int32_t *labels, int K, float *C)
{
    if (K < 1 || d2 < 1 || n < 0) return tac_fail("joint centroids: bad sizes (N %lld, width %d, K %d)", (long long)n, d2, K);
    if (tac_check_finite("joint centroids", Z, n, d2) != TAC_OK) return TAC_ERR;
    memset(C, 0, (size_t)K * d2 * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= K)
            return tac_fail("joint centroids: label %d of row %lld is outside 0..%d", labels[i], (long long)i, K - 1);
        for (int t = 0; t < d2; t++) C[(int64_t)labels[i] * d2 + t] += Z[i * d2 + t];
    }
    tac_l2_normalize_rows(C, K, d2);
    return TAC_OK;
}

int tac_centroid_confidence(const float *Z, int64_t n, int d2, const float *C, int K, int32_t *pred,
                            int keep_pred, float *conf)
{
    if (K < 1 || d2 < 1 || n < 0) return tac_fail("confidence: bad sizes (N %lld, width %d, K %d)", (long long)n, d2, K);
    if (n == 0) return TAC_OK;
    if (n > INT32_MAX || K > INT32_MAX) return tac_fail("confidence: too many rows for one product (%lld)", (long long)n);
    if (tac_check_finite("confidence: rows", Z, n, d2) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("confidence: centroids", C, K, d2) != TAC_OK) return TAC_ERR;
    float *S = tac_try_malloc((size_t)n * K, sizeof(float), "confidence: N x K scores");
    if (!S) return TAC_ERR;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, K, d2, 1.0f, Z, d2, C, d2, 0.0f, S, K);
    int rc = TAC_OK;
    for (int64_t i = 0; i < n; i++) {
        float *sc = S + i * K;
        int best = 0;
        for (int c = 1; c < K; c++) if (sc[c] > sc[best]) best = c;
        if (!keep_pred) pred[i] = best;
        else if (pred[i] < 0 || pred[i] >= K) { rc = tac_fail("confidence: cluster %d of row %lld is outside 0..%d", pred[i], (long long)i, K - 1); break; }
        double z = 0;
        for (int c = 0; c < K; c++) z += exp((double)(sc[c] - sc[best]) / TAC_CONF_TEMP);
        conf[i] = (float)(exp((double)(sc[pred[i]] - sc[best]) / TAC_CONF_TEMP) / z);
    }
    free(S);
    return rc;
}

int tac_fit_retrieve(const tac_fit_result *r, const float *X, int64_t n, float *R, float *W)
{
    if (!r || !r->selected_emb || r->nsel < 1) return tac_fail("fit retrieve: the result holds no selected nouns");
    float *Xn = normalised_copy(X, n, r->d, "fit retrieve: images");
    if (!Xn) return TAC_ERR;
    int rc = tac_retrieve(Xn, n, r->selected_emb, r->nsel, r->d, r->tau, R, W);
    free(Xn);
    return rc;
}

int tac_fit_assign(const float *X, int64_t n, int d, const float *E, int64_t s, float tau,
                   const tac_heads *heads, const float *C, int K, int32_t *pred, float *conf, float *W)
{
    if (!X || !E || !pred || !conf || (!heads && !C)) return tac_fail("assign: missing input (images, nouns, heads or centroids)");
    if (n < 1 || d < 1 || s < 1 || K < 1) return tac_fail("assign: bad sizes (N %lld, width %d, S %lld, K %d)",
                                                          (long long)n, d, (long long)s, K);
    if (tac_check_finite("assign: images", X, n, d) != TAC_OK) return TAC_ERR;
    int rc = TAC_ERR;
    float *Xn = normalised_copy(X, n, d, "assign: images"), *R = NULL, *Z = NULL, *prob = NULL;
    if (!Xn) goto done;
    if (!(R = tac_try_malloc((size_t)n * d, sizeof(float), "assign: text counterparts"))) goto done;   /* N x D */
    if (tac_retrieve(Xn, n, E, s, d, tau, R, W) != TAC_OK) goto done;
    if (heads) {
        if (!(prob = tac_try_malloc((size_t)n * K, sizeof(float), "assign: probabilities"))) goto done;  /* N x K */
        if (tac_heads_predict_sized(heads, "assign: heads", Xn, n, d, K, pred, prob) != TAC_OK) goto done;
        for (int64_t i = 0; i < n; i++) conf[i] = prob[i * K + pred[i]];
    } else {
        if (!(Z = tac_try_malloc((size_t)n * 2 * d, sizeof(float), "assign: joint space"))) goto done;  /* N x 2D */
        tac_joint_space(Xn, R, n, d, Z);
        if (tac_centroid_confidence(Z, n, 2 * d, C, K, pred, 0, conf) != TAC_OK) goto done;
    }
    rc = TAC_OK;
done:
    free(Xn); free(R); free(Z); free(prob);
    return rc;
}

/* ---- the pipeline -------------------------------------------------------------------------------------- */
#define ALLOC(ptr, n, size, what) do { if (!((ptr) = tac_try_malloc((n), (size), (what)))) goto done; } while (0)
#define CALLOC(ptr, n, size, what) do { if (!((ptr) = tac_try_calloc((n), (size), (what)))) goto done; } while (0)

static int fit_body(const float *Xtr, int64_t ntr, const float *Xte, int64_t nte, int d,
                    const float *T, int64_t m, const char *const *names,
                    const int64_t *yte, const int64_t *ytr, const tac_fit_params *p, tac_fit_result *out);

int tac_fit(const float *Xtr, int64_t ntr, const float *Xte, int64_t nte, int d,
            const float *T, int64_t m, const char *const *names,
            const int64_t *yte, const int64_t *ytr, const tac_fit_params *p, tac_fit_result *out)
{
    if (!out) return tac_fail("fit: no result struct");
    memset(out, 0, sizeof *out);
    if (!Xtr || !Xte || !T || !p) return tac_fail("fit: missing input (train, test or noun embeddings, or params)");
    if (p->threads < 0) return tac_fail("fit: threads must be >= 0 (got %d)", p->threads);
    /* the thread count is this thread's OpenMP setting for the call, restored after it */
    int saved = omp_get_max_threads();
    if (p->threads > 0) omp_set_num_threads(p->threads);
    tac_dist_reset();
    int rc = fit_body(Xtr, ntr, Xte, nte, d, T, m, names, yte, ytr, p, out);
    /* over several ranks: a failure of this rank alone (its memory, say) is made every rank's, at the other ranks'
     * next agreement (each distributed stage begins with one), so none of them waits for this rank */
    if (rc != TAC_OK && tac_dist_active(p->comm) && !tac_dist_failed_together()) tac_comm_check(p->comm, TAC_ERR);
    if (p->threads > 0) omp_set_num_threads(saved);
    return rc;
}

static int fit_body(const float *Xtr, int64_t ntr, const float *Xte, int64_t nte, int d,
                    const float *T, int64_t m, const char *const *names,
                    const int64_t *yte, const int64_t *ytr, const tac_fit_params *p, tac_fit_result *out)
{
    double t_start = tac_now(), t0 = t_start;
    if (d < 1) return tac_fail("fit: embedding width must be >= 1 (got %d)", d);
    if (ntr < 1 || nte < 1) return tac_fail("fit: no train or no test embeddings");
    if (m < 1) return tac_fail("fit: no noun embeddings");
    if (p->K < 2) return tac_fail("fit: K must be >= 2 (got %d)", p->K);
    if (p->K > nte) return tac_fail("fit: K = %d is larger than the %lld test embeddings", p->K, (long long)nte);
    if (p->K > ntr) return tac_fail("fit: K = %d is larger than the %lld train embeddings", p->K, (long long)ntr);
    if (p->gamma < 1) return tac_fail("fit: gamma must be >= 1");
    if (!(p->tau > 0) || !isfinite(p->tau)) return tac_fail("fit: tau must be a positive number (got %g)", p->tau);
    if (p->centres < 0) return tac_fail("fit: centres must be >= 0 (0: the rule; got %d)", p->centres);
    if (p->niter < 1 || p->nredo_centres < 1 || p->nredo_concat < 1) return tac_fail("fit: niter and nredo must be >= 1");
    if (p->n_names < 1 || p->n_names > 16) return tac_fail("fit: names per cluster must be in 1..16");
    int k = p->centres > 0 ? p->centres : tac_num_centres(ntr, p->K);
    if (k < 1 || k > ntr)
        return tac_fail("fit: %d semantic centres for %lld train embeddings (need 1 <= k <= N_train)", k, (long long)ntr);
    if (!p->train && !p->notrain) return tac_fail("fit: nothing to do: neither TAC nor TAC (no train) was asked for");
    if (p->train) {
        if (p->knn < 1 || p->knn >= ntr)
            return tac_fail("fit: %d neighbours need more than %d train embeddings (have %lld)", p->knn, p->knn,
                            (long long)ntr);
        if (p->heads.batch < 1 || ntr < p->heads.batch)
            return tac_fail("fit: the heads' batch of %d is larger than the %lld train embeddings (use a smaller "
                            "batch or no training)", p->heads.batch, (long long)ntr);
        if (p->heads.epochs < 1) return tac_fail("fit: epochs must be >= 1");
    }
    if (tac_check_finite("train embeddings", Xtr, ntr, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("test embeddings", Xte, nte, d) != TAC_OK) return TAC_ERR;
    if (tac_check_finite("noun embeddings", T, m, d) != TAC_OK) return TAC_ERR;

    int K = p->K, rc = TAC_ERR;
    out->K = K; out->k = k; out->d = d; out->n_train = ntr; out->n_test = nte; out->m = m;
    out->n_names = p->n_names;
    out->tau = p->tau;
    float *Xn = NULL, *Yn = NULL, *Tn = NULL, *E = NULL, *Rtr = NULL, *Rte = NULL, *Z = NULL, *Wb = NULL, *Rb = NULL;
    float *prob = NULL;
    int32_t *lab = NULL, *pred_tr = NULL;
    int64_t *nn_img = NULL, *nn_txt = NULL, *pred64 = NULL;
    double *score = NULL, *tot = NULL;
    int64_t s = 0;

    /* 1. normalise */
    if (!(Xn = normalised_copy(Xtr, ntr, d, "fit: train embeddings"))) goto done;   /* N_train x D */
    if (!(Yn = normalised_copy(Xte, nte, d, "fit: test embeddings"))) goto done;    /* N_test x D */
    if (!(Tn = normalised_copy(T, m, d, "fit: noun embeddings"))) goto done;        /* M x D */
    out->t_normalise = tac_now() - t0;
    if (p->inputs_read) p->inputs_read(p->inputs_read_arg);
    out->rss_normalise = peak_rss_gb();
    stage_done(p, 1);

    /* 2. semantic centres */
    t0 = tac_now();
    if (p->progress) tac_log(TAC_LOG_INFO, "fit: k-means of %lld train images into k = %d centres (niter %d, nredo %d)",
                              (long long)ntr, k, p->niter, p->nredo_centres);
    tac_kmeans_params kp;
    tac_kmeans_default_params(&kp);
    kp.k = k; kp.niter = p->niter; kp.nredo = p->nredo_centres; kp.spherical = 1; kp.seed = p->seed;
    kp.progress = p->progress;
    ALLOC(lab, (size_t)ntr, sizeof(int32_t), "fit: centre labels");    /* N_train */
    if (tac_kmeans_dist(Xn, ntr, d, &kp, NULL, lab, NULL, p->comm) != TAC_OK) goto done;
    out->t_centres = tac_now() - t0;
    say(p, "centres", out->t_centres);
    out->rss_centres = peak_rss_gb();
    stage_done(p, 2);

    /* 3. noun selection */
    t0 = tac_now();
    if (tac_select_nouns(Xn, ntr, lab, k, Tn, m, d, p->gamma, &out->selected, &out->nsel,
                         &out->selected_centre) != TAC_OK) goto done;
    s = out->nsel;
    ALLOC(E, (size_t)s * d, sizeof(float), "fit: selected nouns");       /* S x D */
    for (int64_t t = 0; t < s; t++) memcpy(E + t * d, Tn + out->selected[t] * d, (size_t)d * sizeof(float));
    free(Tn); Tn = NULL;
    out->t_select = tac_now() - t0;
    if (p->progress) tac_log(TAC_LOG_INFO, "fit: selected %lld nouns of %lld in %.1f s", (long long)s, (long long)m, out->t_select);
    out->rss_select = peak_rss_gb();
    stage_done(p, 3);

    /* 4. retrieval (the test weights kept when they fit TAC_FIT_MAX_WEIGHTS) */
    t0 = tac_now();
    ALLOC(Rtr, (size_t)ntr * d, sizeof(float), "fit: train text counterparts");   /* N_train x D */
    ALLOC(Rte, (size_t)nte * d, sizeof(float), "fit: test text counterparts");    /* N_test x D */
    if (nte <= TAC_FIT_MAX_WEIGHTS / s)
        ALLOC(out->test_weights, (size_t)nte * s, sizeof(float), "fit: test retrieval weights");   /* N_test x S */
    if (tac_retrieve_dist(Xn, ntr, E, s, d, p->tau, Rtr, NULL, 0, p->comm) != TAC_OK) goto done;
    if (tac_retrieve_dist(Yn, nte, E, s, d, p->tau, Rte, out->test_weights, 0, p->comm) != TAC_OK) goto done;
    out->t_retrieve = tac_now() - t0;
    say(p, "retrieval", out->t_retrieve);
    out->rss_retrieve = peak_rss_gb();
    stage_done(p, 4);

    /* 5. TAC (no train): k-means on [x ; r] of the test split */
    t0 = tac_now();
    tac_kmeans_default_params(&kp);
    kp.k = K; kp.niter = p->niter; kp.nredo = p->nredo_concat; kp.spherical = 1; kp.seed = p->seed;
    kp.progress = p->progress;
    if (p->notrain) {
        ALLOC(Z, (size_t)nte * 2 * d, sizeof(float), "fit: joint space");   /* N_test x 2D */
        for (int64_t i = 0; i < nte; i++) {
            memcpy(Z + i * 2 * d, Yn + i * d, (size_t)d * sizeof(float));
            memcpy(Z + i * 2 * d + d, Rte + i * d, (size_t)d * sizeof(float));
        }
        if (p->progress) tac_log(TAC_LOG_INFO, "fit: TAC (no train): k-means of %lld test [image; text] into K = %d", (long long)nte, K);
        ALLOC(out->pred_notrain, (size_t)nte, sizeof(int32_t), "fit: clusters");   /* N_test */
        if (tac_kmeans_dist(Z, nte, 2 * d, &kp, NULL, out->pred_notrain, NULL, p->comm) != TAC_OK) goto done;
        free(Z); Z = NULL;
        out->t_notrain = tac_now() - t0;
        say(p, "TAC (no train)", out->t_notrain);
        out->rss_notrain = peak_rss_gb();
    }
    stage_done(p, 5);
    if (yte && p->baseline) {
        t0 = tac_now();
        if (p->progress) tac_log(TAC_LOG_INFO, "fit: CLIP k-means baseline on %lld test images", (long long)nte);
        ALLOC(out->pred_kmeans, (size_t)nte, sizeof(int32_t), "fit: baseline clusters");
        if (tac_kmeans_dist(Yn, nte, d, &kp, NULL, out->pred_kmeans, NULL, p->comm) != TAC_OK) goto done;
        out->t_baseline = tac_now() - t0;
    }

    /* 6. TAC: neighbours, heads, prediction */
    if (p->train) {
        t0 = tac_now();
        if (p->progress) tac_log(TAC_LOG_INFO, "fit: %d nearest neighbours of %lld train samples (text and image)", p->knn,
                                  (long long)ntr);
        ALLOC(nn_img, (size_t)ntr * p->knn, sizeof(int64_t), "fit: image neighbours");  /* N_train x 50 */
        ALLOC(nn_txt, (size_t)ntr * p->knn, sizeof(int64_t), "fit: text neighbours");   /* N_train x 50 */
        if (tac_knn_cosine_dist(Rtr, ntr, d, p->knn, nn_txt, NULL, 0, p->comm) != TAC_OK) goto done;
        if (tac_knn_cosine_dist(Xn, ntr, d, p->knn, nn_img, NULL, 0, p->comm) != TAC_OK) goto done;
        out->t_knn = tac_now() - t0;
        say(p, "neighbours", out->t_knn);
        out->rss_knn = peak_rss_gb();
        stage_done(p, 6);

        t0 = tac_now();
        tac_heads_params hp = p->heads;
        hp.K = K; hp.seed = p->seed; hp.progress = 0;   /* on_epoch reports each epoch (with test metrics) */
        ALLOC(out->pred_tac, (size_t)nte, sizeof(int32_t), "fit: clusters");     /* N_test */
        ALLOC(pred64, (size_t)nte, sizeof(int64_t), "fit: clusters");            /* N_test */
        epoch_ctx ec = {Yn, nte, yte, out->pred_tac, pred64, hp.epochs, p->progress, 0, p->progress_fn, p->progress_user};
        if (p->progress)
            tac_log(TAC_LOG_INFO, "fit: training the heads (%d epochs, batch %d, T %g, %s products)", hp.epochs, hp.batch,
                    hp.temperature, tac_heads_bf16_active() && !tac_dist_active(p->comm) ? "bf16" : "fp32");
        if (tac_heads_train_dist(Xn, Rtr, ntr, d, nn_img, nn_txt, p->knn, &hp, on_epoch, &ec, &out->heads, p->comm) != TAC_OK)
            goto done;
        out->t_heads = tac_now() - t0;
        out->rss_heads = peak_rss_gb();
        say(p, "heads", out->t_heads);
        free(nn_img); free(nn_txt); free(Rtr);   /* not needed past training: room for the joint space below */
        nn_img = nn_txt = NULL; Rtr = NULL;
        stage_done(p, 7);
        t0 = tac_now();
        ALLOC(prob, (size_t)nte * K, sizeof(float), "fit: cluster probabilities");   /* N_test x K */
        if (tac_heads_predict(out->heads, Yn, nte, out->pred_tac, prob) != TAC_OK) goto done;
        ALLOC(out->confidence, (size_t)nte, sizeof(float), "fit: confidences");      /* N_test */
        for (int64_t i = 0; i < nte; i++) out->confidence[i] = prob[i * K + out->pred_tac[i]];
        free(prob); prob = NULL;
        if (ytr) {
            ALLOC(pred_tr, (size_t)ntr, sizeof(int32_t), "fit: train clusters");    /* N_train */
            if (tac_heads_predict(out->heads, Xn, ntr, pred_tr, NULL) != TAC_OK) goto done;
            if (metrics32(ytr, pred_tr, ntr, &out->m_tac_train) != TAC_OK) goto done;
            out->has_train_metrics = 1;
        }
        out->t_predict = tac_now() - t0;
    }

    /* 7. metrics */
    if (yte) {
        if (out->pred_notrain && metrics32(yte, out->pred_notrain, nte, &out->m_notrain) != TAC_OK) goto done;
        if (out->pred_tac && metrics32(yte, out->pred_tac, nte, &out->m_tac) != TAC_OK) goto done;
        if (out->pred_kmeans && metrics32(yte, out->pred_kmeans, nte, &out->m_kmeans) != TAC_OK) goto done;
        out->has_metrics = 1;
    }

    /* joint centroids of the final clusters (and, without heads, the confidences from them) */
    const int32_t *fin = out->pred_tac ? out->pred_tac : out->pred_notrain;
    ALLOC(Z, (size_t)nte * 2 * d, sizeof(float), "fit: joint space");        /* N_test x 2D */
    tac_joint_space(Yn, Rte, nte, d, Z);
    ALLOC(out->centroids, (size_t)K * 2 * d, sizeof(float), "fit: centroids");   /* K x 2D */
    if (tac_joint_centroids(Z, nte, 2 * d, fin, K, out->centroids) != TAC_OK) goto done;
    if (!out->confidence) {
        ALLOC(out->confidence, (size_t)nte, sizeof(float), "fit: confidences");  /* N_test */
        if (tac_centroid_confidence(Z, nte, 2 * d, out->centroids, K, (int32_t *)fin, 1, out->confidence) != TAC_OK)
            goto done;
    }
    free(Z); Z = NULL;

    /* cluster sizes and names, from the final clustering */
    t0 = tac_now();
    CALLOC(out->cluster_size, (size_t)K, sizeof(int64_t), "fit: cluster sizes");   /* K */
    for (int64_t i = 0; i < nte; i++) out->cluster_size[fin[i]]++;
    CALLOC(score, (size_t)K * s, sizeof(double), "fit: name scores");              /* K x S */
    if (out->test_weights) {
        for (int64_t i = 0; i < nte; i++) {
            double *sc = score + (size_t)fin[i] * s;
            const float *w = out->test_weights + i * s;
            for (int64_t t = 0; t < s; t++) sc[t] += w[t];
        }
    } else {
        int64_t bn = ((int64_t)1 << 22) / s;
        if (bn < 1) bn = 1;
        if (bn > nte) bn = nte;
        ALLOC(Wb, (size_t)bn * s, sizeof(float), "fit: retrieval weights");       /* B x S */
        ALLOC(Rb, (size_t)bn * d, sizeof(float), "fit: text counterparts");       /* B x D */
        for (int64_t i0 = 0; i0 < nte; i0 += bn) {
            int64_t b = nte - i0 < bn ? nte - i0 : bn;
            if (tac_retrieve(Yn + i0 * d, b, E, s, d, p->tau, Rb, Wb) != TAC_OK) goto done;
            for (int64_t i = 0; i < b; i++) {
                double *sc = score + (size_t)fin[i0 + i] * s;
                const float *w = Wb + i * s;
                for (int64_t t = 0; t < s; t++) sc[t] += w[t];
            }
        }
    }
    /* specificity: W_c(m)^2 / W(m) */
    CALLOC(tot, (size_t)s, sizeof(double), "fit: name scores");                   /* S */
    for (int c = 0; c < K; c++)
        for (int64_t t = 0; t < s; t++) tot[t] += score[(size_t)c * s + t];
    for (int c = 0; c < K; c++)
        for (int64_t t = 0; t < s; t++) {
            double w = score[(size_t)c * s + t];
            score[(size_t)c * s + t] = tot[t] > 0 ? w * w / tot[t] : 0;
        }
    ALLOC(out->cluster_names, (size_t)K * p->n_names, sizeof(int64_t), "fit: cluster names");  /* K x n_names */
    if (pick_names(score, K, s, out->selected, names, p->n_names, out->cluster_names) != TAC_OK) goto done;
    out->t_names = tac_now() - t0;
    stage_done(p, 8);
    out->selected_emb = E; E = NULL;
    out->test_text = Rte; Rte = NULL;
    rc = TAC_OK;

done:
    out->t_total = tac_now() - t_start;
    out->rss_total = peak_rss_gb();
    free(Xn); free(Yn); free(Tn); free(E); free(Rtr); free(Rte); free(Z); free(Wb); free(Rb); free(lab); free(pred_tr);
    free(nn_img); free(nn_txt); free(pred64); free(score); free(tot); free(prob);
    if (rc != TAC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", tac_last_error());
        tac_fit_result_free(out);
        tac_fail("%s", msg);
    }
    return rc;
}
