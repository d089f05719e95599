/* cmd_kmeans.c - `taclust kmeans X.npy -k K --out labels.npy [...]`: faiss-1.7-compatible k-means on a .npy
 * matrix. Writes int64 labels (N), optionally the float32 centroids (K x D), and prints the objective.
 * See `taclust kmeans --help`.
 */
#include "tac_cli.h"
#include "taclust/cluster.h"

#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: taclust kmeans X.npy -k K --out labels.npy [options]\n"
    "\n"
    "k-means on the rows of X.npy (N x D, float16/32/64) with faiss 1.7 semantics: training on at most\n"
    "max-points-per-centroid*K rows sampled with the seed, nredo restarts, niter iterations each, empty\n"
    "clusters split, the best restart kept (largest objective with --spherical, smallest otherwise), then\n"
    "every row labelled by its nearest centroid. Writes labels as int64 (N) to --out and prints\n"
    "'objective <value>' on stdout (sum of max inner products with --spherical, else sum of squared\n"
    "distances, measured at the last assignment of the best restart). Same seed, same output.\n"
    "Rows are used as given (faiss does not normalise them): L2-normalise X first for cosine clustering.\n"
    "--init kmeans++ draws each initial centre with probability proportional to the squared distance to the\n"
    "nearest centre already chosen, seeded per restart like faiss's random init.";

static int cmd_kmeans(int argc, char **argv)
{
    int k = 0, niter = 25, nredo = 1, spherical = 0, mppc = 256, dsums = 0;
    int64_t seed = 1234;
    const char *out = NULL, *cout = NULL, *init = "random";
    const tac_opt opts[] = {
        {"--k", "-k", TAC_OPT_INT, &k, "number of clusters K (required, 1 <= K <= N)"},
        {"--out", "-o", TAC_OPT_STR, &out, "labels output .npy (int64, N) (required)"},
        {"--centroids", NULL, TAC_OPT_STR, &cout, "also write the centroids (float32, K x D) here"},
        {"--spherical", NULL, TAC_OPT_FLAG, &spherical, "inner-product assignment, unit-norm centroids (TAC uses this)"},
        {"--niter", NULL, TAC_OPT_INT, &niter, "iterations per restart (default 25; TAC uses 300)"},
        {"--nredo", NULL, TAC_OPT_INT, &nredo, "restarts, best kept (default 1; TAC uses 10 or 20)"},
        {"--seed", NULL, TAC_OPT_I64, &seed, "random seed, 0..4294967295 (default 1234, as faiss)"},
        {"--init", NULL, TAC_OPT_STR, &init, "random (faiss, default) or kmeans++"},
        {"--max-points-per-centroid", NULL, TAC_OPT_INT, &mppc, "subsample above this many rows per cluster (default 256)"},
        {"--double-sums", NULL, TAC_OPT_FLAG, &dsums, "centroid sums in double (default: float, bit-exact with faiss)"},
        {0},
    };
    char **pos = NULL;
    int npos = 0;
    int rc = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (rc == 1) return 0;
    if (rc) return 2;
    const char *in = npos == 1 ? pos[0] : NULL;
    free(pos);
    if (!in) { fprintf(stderr, "taclust kmeans: expected exactly one input X.npy (see --help)\n"); return 2; }
    if (!out) { fprintf(stderr, "taclust kmeans: --out labels.npy is required\n"); return 2; }
    if (k < 1) { fprintf(stderr, "taclust kmeans: -k K is required and must be >= 1\n"); return 2; }
    if (niter < 0 || nredo < 1 || mppc < 1) {
        fprintf(stderr, "taclust kmeans: need --niter >= 0, --nredo >= 1, --max-points-per-centroid >= 1\n");
        return 2;
    }
    if (seed < 0 || seed > 4294967295LL) { fprintf(stderr, "taclust kmeans: --seed must be in 0..4294967295\n"); return 2; }
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = k; p.niter = niter; p.nredo = nredo; p.spherical = spherical; p.max_points_per_centroid = mppc;
    p.seed = (uint32_t)seed; p.progress = 1; p.accumulate_double = dsums;
    if (strcmp(init, "random") == 0) p.init = TAC_KMEANS_INIT_RANDOM;
    else if (strcmp(init, "kmeans++") == 0) p.init = TAC_KMEANS_INIT_PLUSPLUS;
    else { fprintf(stderr, "taclust kmeans: --init must be random or kmeans++, not '%s'\n", init); return 2; }

    float *X = NULL;
    int64_t n, d;
    if (tac_npy_load_f32(in, &X, &n, &d) != TAC_OK) return tac_cli_error("kmeans");
    if (tac_check_finite(in, X, n, d) != TAC_OK) { free(X); return tac_cli_error("kmeans"); }
    if (k > n) {
        free(X);
        tac_fail("%s: K=%d is larger than the number of rows N=%lld", in, k, (long long)n);
        return tac_cli_error("kmeans");
    }
    if (d > 2147483647LL) { free(X); tac_fail("%s: too many columns", in); return tac_cli_error("kmeans"); }
    int32_t *lab = tac_xmalloc((size_t)n, sizeof(int32_t));                /* N */
    float *C = tac_xmalloc((size_t)k * (size_t)d, sizeof(float));          /* K x D */
    double obj = 0;
    double t0 = tac_now();
    if (tac_kmeans(X, n, (int)d, &p, C, lab, &obj) != TAC_OK) {
        free(X); free(lab); free(C);
        return tac_cli_error("kmeans");
    }
    double t = tac_now() - t0;
    int64_t *l64 = tac_xmalloc((size_t)n, sizeof(int64_t)); /* N */
    for (int64_t i = 0; i < n; i++) l64[i] = lab[i];
    int ok = tac_npy_save_i64(out, l64, 1, &n) == TAC_OK;
    if (ok && cout) {
        int64_t shape[2] = {k, d};
        ok = tac_npy_save_f32(cout, C, 2, shape) == TAC_OK;
    }
    free(X); free(lab); free(C); free(l64);
    if (!ok) return tac_cli_error("kmeans");
    printf("objective %.9g\n", obj);
    tac_info("k-means: N=%lld D=%lld K=%d niter=%d nredo=%d %s in %.2f s\n", (long long)n, (long long)d, k, niter,
             nredo, spherical ? "spherical" : "L2", t);
    return 0;
}
TAC_COMMAND("kmeans", "k-means with faiss 1.7 semantics (labels, centroids, objective)", cmd_kmeans)
