/* cmd_predict.c - `taclust predict`: cluster images with trained TAC heads (tac-method.md section 7.6): the image
 * head with BatchNorm in eval mode, prediction = argmax.
 *
 *   taclust predict --heads heads.bin --images X.npy --out pred.npy [--probs P.npy]
 * Rows of X are L2-normalised here. pred.npy: int64, N; P.npy: float32, N x K.
 */
#include "tac_cli.h"

#include <stdlib.h>

#include "taclust/heads.h"

static const char *USAGE =
    "usage: taclust predict --heads heads.bin --images X.npy --out pred.npy [--probs P.npy]\n\n"
    "Assigns every image (row of X, an N x D embedding .npy, L2-normalised here) to a cluster with the image head\n"
    "of heads trained by `taclust train-heads` (BatchNorm in eval mode). Writes the argmax cluster ids (int64, N)\n"
    "and optionally the softmax probabilities (float32, N x K).";

static int cmd_predict(int argc, char **argv)
{
    const char *heads = NULL, *images = NULL, *out = NULL, *probs = NULL;
    tac_opt opts[] = {
        {"--heads", NULL, TAC_OPT_STR, &heads, "heads file from train-heads (required)"},
        {"--images", NULL, TAC_OPT_STR, &images, "N x D image embeddings .npy (required)"},
        {"--out", "-o", TAC_OPT_STR, &out, "output cluster ids .npy, int64 N (required)"},
        {"--probs", NULL, TAC_OPT_STR, &probs, "also write probabilities .npy, float32 N x K"},
        {0}};
    char **pos; int npos;
    int pr = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (pr == 1) return 0;
    if (pr == 2) return 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust predict: unexpected argument (all inputs are options; see --help)\n"); return 2; }
    if (!heads || !images || !out) { fprintf(stderr, "taclust predict: --heads, --images and --out are required\n"); return 2; }
    tac_heads *h = NULL;
    float *X = NULL, *P = NULL;
    int32_t *pred = NULL;
    int64_t *p64 = NULL, n, d;
    int rc = 1;
    if (tac_heads_load(heads, &h) != TAC_OK) goto fail;
    if (tac_npy_load_f32(images, &X, &n, &d) != TAC_OK) goto fail;
    if (d != tac_heads_input_dim(h)) {
        tac_fail("%s: %lld columns, but %s was trained on %d-dimensional features", images, (long long)d, heads,
                 tac_heads_input_dim(h));
        goto fail;
    }
    if (tac_check_finite(images, X, n, d) != TAC_OK) goto fail;
    tac_l2_normalize_rows(X, n, d);
    int K = tac_heads_num_clusters(h);
    pred = tac_xmalloc((size_t)(n ? n : 1), sizeof(int32_t));
    if (probs) P = tac_xmalloc((size_t)(n ? n : 1) * K, sizeof(float));
    if (tac_heads_predict(h, X, n, pred, P) != TAC_OK) goto fail;
    p64 = tac_xmalloc((size_t)(n ? n : 1), sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) p64[i] = pred[i];
    int64_t s1 = n, s2[2] = {n, K};
    if (tac_npy_save_i64(out, p64, 1, &s1) != TAC_OK) goto fail;
    if (probs && tac_npy_save_f32(probs, P, 2, s2) != TAC_OK) goto fail;
    tac_info("predict: %lld images into %d clusters, wrote %s", (long long)n, K, out);
    rc = 0;
fail:
    if (rc) rc = tac_cli_error("predict");
    tac_heads_free(h);
    free(X); free(P); free(pred); free(p64);
    return rc;
}

TAC_COMMAND("predict", "cluster images with trained heads (image head, argmax)", cmd_predict)
