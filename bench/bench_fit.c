/* bench_fit.c - the whole TAC fit (tac_fit) at CIFAR-10 scale on synthetic embeddings, with per-stage times.
 *
 *   make build/bench_fit && build/bench_fit [--ntrain 50000] [--ntest 10000] [--nouns 146347] [--dim 512]
 *        [-K 10] [--centres 167] [--epochs 20] [--no-train] [--no-labels] [--repeats 1] [--dump DIR]
 * (bench/bench_fit.sh drives it and runs the Python reference on the same data.)
 * Data: K Gaussian classes in D dimensions (class means random unit vectors plus a shared offset, per-sample
 * noise of norm ~1 and a random scale), nouns = random directions with 200 per class near the class means.
 * With --dump DIR the arrays are written as DIR/{Xtr,Xte,T}.npy and DIR/{ytr,yte}.npy (for the reference).
 * Prints the machine, the OpenBLAS core and threads, then the median per-stage seconds over the repeats
 * and the metrics; lines "stage <name> <seconds>" are machine-readable.
 */
#include "taclust/core.h"
#include "taclust/pipeline.h"
#include "bench_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) { c += 2; c[strcspn(c, "\n")] = 0; snprintf(out, cap, "%s", c); }
            break;
        }
    }
    fclose(f);
}

static void gen(float *X, int64_t *y, int64_t n, int d, int K, const float *means, const float *off, tac_mt *r)
{
    double sd = 1.0 / sqrt((double)d);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)tac_mt_below(r, (uint64_t)K);
        y[i] = c;
        float scale = (float)(5 + 5 * tac_mt_uniform(r));   /* CLIP features are not normalised: norms ~10 */
        for (int j = 0; j < d; j++)
            X[i * d + j] = scale * (off[j] + means[(size_t)c * d + j] + (float)(sd * tac_mt_normal(r)));
    }
}

int main(int argc, char **argv)
{
    int64_t ntr = 50000, nte = 10000, m = 146347;
    int d = 512, K = 10, centres = 167, epochs = 20, no_train = 0, no_labels = 0, reps = 1;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-train")) { no_train = 1; continue; }
        if (!strcmp(a, "--no-labels")) { no_labels = 1; continue; }
        if (!v) { fprintf(stderr, "bench_fit: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--ntrain")) ntr = atoll(v);
        else if (!strcmp(a, "--ntest")) nte = atoll(v);
        else if (!strcmp(a, "--nouns")) m = atoll(v);
        else if (!strcmp(a, "--dim")) d = atoi(v);
        else if (!strcmp(a, "-K")) K = atoi(v);
        else if (!strcmp(a, "--centres")) centres = atoi(v);
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--repeats")) reps = atoi(v);
        else if (!strcmp(a, "--dump")) dump = v;
        else { fprintf(stderr, "bench_fit: unknown option %s\n", a); return 2; }
    }
    if (ntr < 1 || nte < 1 || m < 1 || d < 1 || K < 2 || centres < 0 || epochs < 1 || reps < 1 || reps > 20) {
        fprintf(stderr, "bench_fit: bad sizes\n");
        return 2;
    }

    double tg = tac_now();
    tac_mt r;
    tac_mt_seed(&r, 20240515);
    float *means = tac_xmalloc((size_t)K * d, sizeof(float));   /* K x D */
    float *off = tac_xmalloc((size_t)d, sizeof(float));         /* D */
    for (int j = 0; j < d; j++) off[j] = (float)(0.5 / sqrt((double)d) * tac_mt_normal(&r));
    for (int64_t t = 0; t < (int64_t)K * d; t++) means[t] = (float)tac_mt_normal(&r);
    tac_l2_normalize_rows(means, K, d);
    float *Xtr = tac_xmalloc((size_t)ntr * d, sizeof(float));   /* N_train x D */
    float *Xte = tac_xmalloc((size_t)nte * d, sizeof(float));   /* N_test x D */
    float *T = tac_xmalloc((size_t)m * d, sizeof(float));       /* M x D */
    int64_t *ytr = tac_xmalloc((size_t)ntr, sizeof(int64_t)), *yte = tac_xmalloc((size_t)nte, sizeof(int64_t));
    gen(Xtr, ytr, ntr, d, K, means, off, &r);
    gen(Xte, yte, nte, d, K, means, off, &r);
    double sd = 1.0 / sqrt((double)d);
    for (int64_t t = 0; t < m; t++) {
        int near = t % 700 < 10 ? (int)(t % K) : -1;   /* ~1.4% of the nouns near a class mean */
        for (int j = 0; j < d; j++)
            T[t * d + j] = near >= 0 ? off[j] + means[(size_t)near * d + j] + (float)(0.7 * sd * tac_mt_normal(&r))
                                     : (float)tac_mt_normal(&r);
    }
    tg = tac_now() - tg;
    if (dump) {
        if (tac_mkdir_p(dump) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
        char path[4096];
        int64_t s1[2] = {ntr, d}, s2[2] = {nte, d}, s3[2] = {m, d};
        snprintf(path, sizeof path, "%s/Xtr.npy", dump); if (tac_npy_save_f32(path, Xtr, 2, s1)) goto fail;
        snprintf(path, sizeof path, "%s/Xte.npy", dump); if (tac_npy_save_f32(path, Xte, 2, s2)) goto fail;
        snprintf(path, sizeof path, "%s/T.npy", dump);   if (tac_npy_save_f32(path, T, 2, s3)) goto fail;
        snprintf(path, sizeof path, "%s/ytr.npy", dump); if (tac_npy_save_i64(path, ytr, 1, &ntr)) goto fail;
        snprintf(path, sizeof path, "%s/yte.npy", dump); if (tac_npy_save_i64(path, yte, 1, &nte)) goto fail;
    }

    char model[256];
    cpu_model(model, sizeof model);
    FILE *la = fopen("/proc/loadavg", "r");
    char load[64] = "?";
    if (la) { if (!fgets(load, sizeof load, la)) load[0] = 0; load[strcspn(load, "\n")] = 0; fclose(la); }
    printf("# taclust fit bench: N_train %lld, N_test %lld, D %d, M %lld nouns, K %d, k %d, heads %s (%d epochs)\n",
           (long long)ntr, (long long)nte, d, (long long)m, K, centres, no_train ? "off" : "on", epochs);
    printf("# machine: %s; OpenBLAS core %s, OpenBLAS threads %d, OpenMP threads %d; load average %s\n", model,
           openblas_get_corename(), openblas_get_num_threads(), tac_num_threads(), load);
    printf("# synthetic data generated in %.1f s; %d repeat(s), medians\n", tg, reps);
    fflush(stdout);

    tac_fit_params p;
    tac_fit_default_params(&p);
    p.K = K; p.centres = centres; p.heads.epochs = epochs; p.train = !no_train; p.progress = 1;
    enum { NST = 11 };
    static const char *names[NST] = {"normalise", "centres_kmeans", "select_nouns", "retrieve", "tac_notrain_kmeans",
                                     "clip_kmeans_baseline", "knn", "heads_train", "predict", "cluster_names", "total"};
    double times[NST][20];
    tac_fit_result res;
    for (int rep = 0; rep < reps; rep++) {
        if (tac_fit(Xtr, ntr, Xte, nte, d, T, m, NULL, no_labels ? NULL : yte, NULL, &p, &res) != TAC_OK) {
            fprintf(stderr, "bench_fit: %s\n", tac_last_error());
            return 1;
        }
        double v[NST] = {res.t_normalise, res.t_centres, res.t_select, res.t_retrieve, res.t_notrain, res.t_baseline,
                         res.t_knn, res.t_heads, res.t_predict, res.t_names, res.t_total};
        for (int s = 0; s < NST; s++) times[s][rep] = v[s];
        if (rep + 1 < reps) tac_fit_result_free(&res);
    }
    for (int s = 0; s < NST; s++) printf("stage %-22s %9.2f\n", names[s], median(times[s], reps));
    printf("# selected nouns: %lld\n", (long long)res.nsel);
    if (res.has_metrics) {
        if (res.pred_kmeans)
            printf("# CLIP k-means   ACC %.2f NMI %.2f ARI %.2f\n", 100 * res.m_kmeans.acc, 100 * res.m_kmeans.nmi, 100 * res.m_kmeans.ari);
        printf("# TAC (no train) ACC %.2f NMI %.2f ARI %.2f\n", 100 * res.m_notrain.acc, 100 * res.m_notrain.nmi, 100 * res.m_notrain.ari);
        if (res.pred_tac)
            printf("# TAC            ACC %.2f NMI %.2f ARI %.2f\n", 100 * res.m_tac.acc, 100 * res.m_tac.nmi, 100 * res.m_tac.ari);
    }
    tac_fit_result_free(&res);
    free(means); free(off); free(Xtr); free(Xte); free(T); free(ytr); free(yte);
    return 0;
fail:
    fprintf(stderr, "bench_fit: %s\n", tac_last_error());
    return 1;
}
