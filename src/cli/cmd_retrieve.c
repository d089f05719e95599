/* cmd_retrieve.c - `taclust retrieve`: each image's text counterpart by soft retrieval over the selected
 * nouns (tac-method.md section 5).
 *
 *   taclust retrieve --images X.npy --nouns T.npy --selected selected.txt [--tau 0.005] --out R.npy
 */
#include "tac_cli.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <math.h>
#include <stdlib.h>

static const char *USAGE =
    "usage: taclust retrieve --images X.npy --nouns T.npy --selected selected.txt [--tau 0.005] --out R.npy\n\n"
    "Computes TAC's text counterpart of every image (tac-method.md section 5):\n"
    "  r_i = normalize(sum_m softmax_m(x_i . e_m / tau) e_m) over the selected nouns e_m.\n"
    "  X.npy         N x D image embeddings (rows are L2-normalised here)\n"
    "  T.npy         M x D noun embeddings (the selected rows are L2-normalised here)\n"
    "  selected.txt  noun indices (rows of T), one per line, as written by `taclust select-nouns`\n"
    "Writes R.npy, N x D float32, unit rows.";

static int cmd_retrieve(int argc, char **argv)
{
    const char *images = NULL, *nouns = NULL, *selected = NULL, *out = NULL;
    double tau = TAC_TAU;
    tac_opt opts[] = {
        {"--images", NULL, TAC_OPT_STR, &images, "N x D image embeddings .npy (required)"},
        {"--nouns", NULL, TAC_OPT_STR, &nouns, "M x D noun embeddings .npy (required)"},
        {"--selected", NULL, TAC_OPT_STR, &selected, "selected noun indices, one per line (required)"},
        {"--tau", NULL, TAC_OPT_DOUBLE, &tau, "softmax temperature (default 0.005)"},
        {"--out", "-o", TAC_OPT_STR, &out, "output N x D float32 .npy (required)"},
        {0},
    };
    char **pos; int npos;
    int rc = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust retrieve: unexpected argument (see --help)\n"); return 2; }
    if (!images || !nouns || !selected || !out) {
        fprintf(stderr, "taclust retrieve: --images, --nouns, --selected and --out are required (see --help)\n");
        return 2;
    }
    if (!(tau > 0) || !isfinite(tau)) { fprintf(stderr, "taclust retrieve: --tau must be positive\n"); return 2; }

    float *X = NULL, *T = NULL, *E = NULL, *R = NULL;
    int64_t *sel = NULL;
    int64_t n, d, m, dt, s;
    int ret = 1;
    if (tac_load_matrix(images, &X, &n, &d) != TAC_OK) goto done;
    if (tac_load_matrix(nouns, &T, &m, &dt) != TAC_OK) goto done;
    if (dt != d) {
        tac_fail("%s has %lld columns but %s has %lld: embeddings must have the same width", nouns, (long long)dt,
                 images, (long long)d);
        goto done;
    }
    if (tac_read_indices(selected, m, &sel, &s) != TAC_OK) goto done;
    E = tac_xmalloc((size_t)s * d, sizeof(float));   /* S x D */
    for (int64_t t = 0; t < s; t++)
        for (int64_t c = 0; c < d; c++) E[t * d + c] = T[sel[t] * d + c];
    free(T); T = NULL;
    tac_l2_normalize_rows(E, s, d);
    tac_l2_normalize_rows(X, n, d);
    R = tac_xmalloc((size_t)n * d, sizeof(float));   /* N x D */
    if (tac_retrieve(X, n, E, s, (int)d, (float)tau, R, NULL) != TAC_OK) goto done;
    int64_t shape[2] = {n, d};
    if (tac_npy_save_f32(out, R, 2, shape) != TAC_OK) goto done;
    printf("retrieved %lld text counterparts over %lld nouns (tau %g) -> %s\n", (long long)n, (long long)s, tau, out);
    ret = 0;
done:
    free(X); free(T); free(E); free(R); free(sel);
    return ret ? tac_cli_error("retrieve") : 0;
}

TAC_COMMAND("retrieve", "text counterpart of each image by soft retrieval (TAC section 5)", cmd_retrieve)
