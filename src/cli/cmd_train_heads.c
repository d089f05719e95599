/* cmd_train_heads.c - `taclust train-heads`: train TAC's two cluster heads (tac-method.md section 7) from the
 * train-split image embeddings, their text counterparts and the two neighbour tables, and save them.
 *
 *   taclust train-heads --images X.npy --text R.npy --nn-images I.npy --nn-text J.npy -K 10 --out heads.bin
 *                       [--preset cifar10] [--epochs 20] [--batch 512] [--temperature 0.5] [--lr 1e-3] [--seed S]
 *                       [--heads-precision fp32|bf16|auto]
 * Rows of X and R are L2-normalised here. Explicit options override the preset's values.
 */
#include "tac_cli.h"

#include <stdlib.h>
#include <string.h>

#include "taclust/heads.h"

static const char *USAGE =
    "usage: taclust train-heads --images X.npy --text R.npy --nn-images I.npy --nn-text J.npy -K K --out heads.bin\n"
    "                           [--preset NAME] [--epochs E] [--batch B] [--temperature T] [--lr LR] [--seed S]\n"
    "                           [--heads-precision fp32|bf16|auto]\n\n"
    "Trains TAC's cluster heads (two MLPs D-H-BN-ReLU-K-softmax, image head and text head) by cross-modal\n"
    "neighbour distillation + consistency + balance entropy, with Adam (betas 0.9/0.99), and writes them to --out\n"
    "(a checksummed binary read by `taclust predict`).\n\n"
    "inputs (all with the same N rows, in the same order):\n"
    "  --images    N x D train image embeddings (float16/32/64 .npy; rows are L2-normalised here)\n"
    "  --text      N x D text counterparts of the same images (from retrieval; normalised here)\n"
    "  --nn-images N x k int neighbour indices in IMAGE space (self excluded), any k >= 1 (TAC uses 50)\n"
    "  --nn-text   N x k int neighbour indices in TEXT space\n"
    "Each epoch shuffles, drops the last partial batch, and draws one random neighbour per modality per sample.\n"
    "If the two neighbour files differ in width, the first min(k) columns of each are used.\n"
    "Presets (section 10): stl10 cifar10 cifar20 imagenet10 imagenet-dogs dtd = 20 epochs / batch 512 / T 0.5;\n"
    "ucf101 imagenet1k = 100 epochs / batch 8192 / T 5.0. Without a preset the defaults are 20 / 512 / 0.5.";

typedef struct { const char *name; int epochs, batch; double T; } preset;
static const preset PRESETS[] = {
    {"stl10", 20, 512, 0.5}, {"cifar10", 20, 512, 0.5}, {"cifar20", 20, 512, 0.5}, {"imagenet10", 20, 512, 0.5},
    {"imagenet-dogs", 20, 512, 0.5}, {"dtd", 20, 512, 0.5}, {"ucf101", 100, 8192, 5.0}, {"imagenet1k", 100, 8192, 5.0},
    {NULL, 0, 0, 0}};

static int load_nn(const char *path, int64_t n, int64_t **nn, int *kn)
{
    int64_t r, c;
    if (tac_npy_load_i64(path, nn, &r, &c) != TAC_OK) return TAC_ERR;
    if (r != n) { free(*nn); *nn = NULL; return tac_fail("%s: has %lld rows, but the features have %lld", path, (long long)r, (long long)n); }
    if (c < 1 || c > 1000000) { free(*nn); *nn = NULL; return tac_fail("%s: needs at least one neighbour column", path); }
    for (int64_t i = 0; i < r * c; i++)
        if ((*nn)[i] < 0 || (*nn)[i] >= n) {
            int64_t bad = (*nn)[i];
            free(*nn); *nn = NULL;
            return tac_fail("%s: row %lld has neighbour index %lld outside [0, %lld)", path, (long long)(i / c),
                            (long long)bad, (long long)n);
        }
    *kn = (int)c;
    return TAC_OK;
}

static int cmd_train_heads(int argc, char **argv)
{
    const char *images = NULL, *text = NULL, *nn_images = NULL, *nn_text = NULL, *out = NULL, *preset_name = NULL,
               *heads_prec = NULL;
    int K = 0, epochs = -1, batch = -1, hidden = 512;
    double T = -1, lr = 1e-3, alpha = 5.0;
    int64_t seed = 0;
    tac_opt opts[] = {
        {"--images", NULL, TAC_OPT_STR, &images, "N x D train image embeddings .npy (required)"},
        {"--text", NULL, TAC_OPT_STR, &text, "N x D text counterparts .npy (required)"},
        {"--nn-images", NULL, TAC_OPT_STR, &nn_images, "N x k image-space neighbour indices .npy (required)"},
        {"--nn-text", NULL, TAC_OPT_STR, &nn_text, "N x k text-space neighbour indices .npy (required)"},
        {"--clusters", "-K", TAC_OPT_INT, &K, "number of clusters K (required)"},
        {"--out", "-o", TAC_OPT_STR, &out, "output heads file (required; written atomically)"},
        {"--preset", NULL, TAC_OPT_STR, &preset_name, "dataset preset for epochs/batch/T (see above)"},
        {"--epochs", NULL, TAC_OPT_INT, &epochs, "epochs (default 20, or the preset's)"},
        {"--batch", NULL, TAC_OPT_INT, &batch, "batch size, drop_last (default 512, or the preset's)"},
        {"--temperature", "-T", TAC_OPT_DOUBLE, &T, "distillation temperature (default 0.5, or the preset's)"},
        {"--lr", NULL, TAC_OPT_DOUBLE, &lr, "Adam learning rate (default 1e-3)"},
        {"--hidden", NULL, TAC_OPT_INT, &hidden, "hidden width H (default 512)"},
        {"--entropy-weight", NULL, TAC_OPT_DOUBLE, &alpha, "balance entropy weight alpha (default 5)"},
        {"--seed", NULL, TAC_OPT_I64, &seed, "seed for init, shuffling and neighbour draws (default 0)"},
        {"--heads-precision", NULL, TAC_OPT_STR, &heads_prec, "heads' training products: fp32 (default), bf16 (AVX512-BF16/AMX; ~2x faster at K=1000), auto"},
        {0}};
    char **pos; int npos;
    int pr = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (pr == 1) return 0;
    if (pr == 2) return 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust train-heads: unexpected argument (all inputs are options; see --help)\n"); return 2; }
    if (!images || !text || !nn_images || !nn_text || !out || K == 0) {
        fprintf(stderr, "taclust train-heads: --images, --text, --nn-images, --nn-text, -K and --out are required\n");
        return 2;
    }
    if (seed < 0 || seed > 0xffffffffLL) { fprintf(stderr, "taclust train-heads: --seed must be in [0, 4294967295]\n"); return 2; }
    if ((pr = tac_cli_heads_precision("train-heads", heads_prec))) return pr;
    tac_heads_params p;
    tac_heads_default_params(&p);
    if (preset_name) {
        const preset *ps = NULL;
        for (const preset *q = PRESETS; q->name; q++) if (strcmp(q->name, preset_name) == 0) ps = q;
        if (!ps) {
            fprintf(stderr, "taclust train-heads: unknown preset '%s' (stl10 cifar10 cifar20 imagenet10 imagenet-dogs "
                    "dtd ucf101 imagenet1k)\n", preset_name);
            return 2;
        }
        p.epochs = ps->epochs; p.batch = ps->batch; p.temperature = (float)ps->T;
    }
    if (epochs >= 0) p.epochs = epochs;
    if (batch >= 0) p.batch = batch;
    if (T >= 0) p.temperature = (float)T;
    p.K = K; p.hidden = hidden; p.lr = (float)lr; p.entropy_weight = (float)alpha; p.seed = (uint32_t)seed;
    p.progress = 1;

    float *X = NULL, *R = NULL;
    int64_t *nni = NULL, *nnt = NULL;
    int64_t n, d, rn, rd;
    int kni, knt, rc = 1;
    tac_heads *h = NULL;
    if (tac_npy_load_f32(images, &X, &n, &d) != TAC_OK) goto fail;
    if (tac_npy_load_f32(text, &R, &rn, &rd) != TAC_OK) goto fail;
    if (rn != n || rd != d) {
        tac_fail("%s: shape %lld x %lld does not match %s (%lld x %lld)", text, (long long)rn, (long long)rd, images,
                 (long long)n, (long long)d);
        goto fail;
    }
    if (d > 1000000) { tac_fail("%s: %lld columns is too many", images, (long long)d); goto fail; }
    if (tac_check_finite(images, X, n, d) != TAC_OK || tac_check_finite(text, R, n, d) != TAC_OK) goto fail;
    if (load_nn(nn_images, n, &nni, &kni) != TAC_OK) goto fail;
    if (load_nn(nn_text, n, &nnt, &knt) != TAC_OK) goto fail;
    if (n < p.batch) {
        tac_fail("%s: %lld rows are fewer than one batch of %d (lower --batch)", images, (long long)n, p.batch);
        goto fail;
    }
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(R, n, d);
    /* the library takes one neighbour-table width: when the two files differ, use the first (nearest) columns
     * of the wider one, and say so */
    if (kni != knt) {
        int kn = kni < knt ? kni : knt;
        int64_t *a = tac_xmalloc((size_t)n * kn, sizeof(int64_t)), *b = tac_xmalloc((size_t)n * kn, sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) {
            memcpy(a + i * kn, nni + i * kni, (size_t)kn * sizeof(int64_t));
            memcpy(b + i * kn, nnt + i * knt, (size_t)kn * sizeof(int64_t));
        }
        tac_info("train-heads: neighbour tables have %d and %d columns; using the first %d of each", kni, knt, kn);
        free(nni); free(nnt); nni = a; nnt = b; kni = knt = kn;
    }
    tac_info("train-heads: N=%lld D=%lld K=%d H=%d, %d epochs x %lld batches of %d, T=%g, %d neighbours",
             (long long)n, (long long)d, K, hidden, p.epochs, (long long)(n / p.batch), p.batch,
             (double)p.temperature, kni);
    double t0 = tac_now();
    if (tac_heads_train(X, R, n, (int)d, nni, nnt, kni, &p, NULL, NULL, &h) != TAC_OK) goto fail;
    if (tac_heads_save(h, out) != TAC_OK) goto fail;
    tac_info("train-heads: trained in %.1f s, wrote %s", tac_now() - t0, out);
    rc = 0;
fail:
    if (rc) rc = tac_cli_error("train-heads");
    tac_heads_free(h);
    free(X); free(R); free(nni); free(nnt);
    return rc;
}

TAC_COMMAND("train-heads", "train TAC's cluster heads (image + text MLPs) and save them", cmd_train_heads)
