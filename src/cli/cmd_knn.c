/* cmd_knn.c - `taclust knn X.npy -k 50 --out idx.npy [--sim S.npy]`: exact cosine k-nearest neighbours of
 * every row of a .npy matrix among all rows, self excluded. See `taclust knn --help`.
 */
#include "tac_cli.h"
#include "taclust/cluster.h"

#include <stdlib.h>

static const char *USAGE =
    "usage: taclust knn X.npy -k K --out idx.npy [--sim S.npy]\n"
    "\n"
    "Exact cosine k-nearest neighbours of every row of X.npy (N x D, float16/32/64; rows are L2-normalised\n"
    "internally) among all rows, the row itself excluded. Writes int64 indices (N x K) to --out, most similar\n"
    "first, equal similarities by lower index; --sim writes the cosine similarities (float32, N x K).";

static int cmd_knn(int argc, char **argv)
{
    int k = 50;
    const char *out = NULL, *sout = NULL;
    const tac_opt opts[] = {
        {"--k", "-k", TAC_OPT_INT, &k, "neighbours per row (default 50; 1 <= K < N)"},
        {"--out", "-o", TAC_OPT_STR, &out, "indices output .npy (int64, N x K) (required)"},
        {"--sim", NULL, TAC_OPT_STR, &sout, "also write the similarities (float32, N x K) here"},
        {0},
    };
    char **pos = NULL;
    int npos = 0;
    int rc = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (rc == 1) return 0;
    if (rc) return 2;
    const char *in = npos == 1 ? pos[0] : NULL;
    free(pos);
    if (!in) { fprintf(stderr, "taclust knn: expected exactly one input X.npy (see --help)\n"); return 2; }
    if (!out) { fprintf(stderr, "taclust knn: --out idx.npy is required\n"); return 2; }
    if (k < 1) { fprintf(stderr, "taclust knn: -k must be >= 1\n"); return 2; }

    float *X = NULL;
    int64_t n, d;
    if (tac_npy_load_f32(in, &X, &n, &d) != TAC_OK) return tac_cli_error("knn");
    if (tac_check_finite(in, X, n, d) != TAC_OK) { free(X); return tac_cli_error("knn"); }
    if (k >= n) {
        free(X);
        tac_fail("%s: k=%d must be smaller than the number of rows N=%lld (self is excluded)", in, k, (long long)n);
        return tac_cli_error("knn");
    }
    if (d > 2147483647LL) { free(X); tac_fail("%s: too many columns", in); return tac_cli_error("knn"); }
    int64_t *idx = tac_xmalloc((size_t)n * (size_t)k, sizeof(int64_t));      /* N x K */
    float *sim = sout ? tac_xmalloc((size_t)n * (size_t)k, sizeof(float)) : NULL; /* N x K */
    double t0 = tac_now();
    if (tac_knn_cosine(X, n, (int)d, k, idx, sim) != TAC_OK) {
        free(X); free(idx); free(sim);
        return tac_cli_error("knn");
    }
    double t = tac_now() - t0;
    int64_t shape[2] = {n, k};
    int ok = tac_npy_save_i64(out, idx, 2, shape) == TAC_OK;
    if (ok && sout) ok = tac_npy_save_f32(sout, sim, 2, shape) == TAC_OK;
    free(X); free(idx); free(sim);
    if (!ok) return tac_cli_error("knn");
    tac_info("knn: N=%lld D=%lld k=%d in %.2f s\n", (long long)n, (long long)d, k, t);
    return 0;
}
TAC_COMMAND("knn", "exact cosine k-nearest neighbours (self excluded)", cmd_knn)
