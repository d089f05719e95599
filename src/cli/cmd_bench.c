/* cmd_bench.c - `taclust bench DATASET`: the paper's table row for a benchmark dataset. Under `mpirun -np N` the
 * embedding of the splits and the fit are spread over the ranks (tac_bench_run_dist); rank 0 prints the table. */
#include "tac_cli.h"
#include "app/tac_app.h"
#include "taclust/hub.h"
#include "mpi/tac_mpi.h"

#include <stdlib.h>

static const char *usage =
    "usage: taclust bench DATASET --data DIR [--model ID|DIR] [--out DIR] [--seed S] [--no-train-only] [--limit N]\n\n"
    "Reproduces the paper's numbers (Li et al., ICML 2024, Tables 2-3): embeds the train and test splits, runs\n"
    "CLIP k-means, TAC (no train) and TAC with the dataset's settings, and prints NMI / ACC / ARI beside the\n"
    "paper's. DATASET: stl10, cifar10, cifar20, imagenet10, imagenet-dogs, dtd, ucf101, imagenet1k.\n"
    "DIR holds the dataset as distributed: cifar-10-batches-bin/ or -py/, cifar-100-binary/ or cifar-100-python/\n"
    "(20 superclasses), stl10_binary/, ImageFolder train/ and val/ (ImageNet-10 and ImageNet-Dogs class lists built\n"
    "in), DTD's images/ + labels/ (split 1), or JPEG folders train/<class>/ and test/<class>/ for any of them.\n"
    "UCF-101: UCF-101/ videos + ucfTrainTestlist/ (split 1; the middle frames are decoded once into\n"
    "$TACLUST_FRAME_CACHE or ~/.cache/taclust; needs the FFmpeg build), or middle frames in train/ and val/.\n"
    "Embeddings are cached in the --out folder (default ./taclust-bench-DATASET).";

static int cmd_bench(int argc, char **argv)
{
    const char *data = NULL, *model = NULL, *out = NULL, *vocab = NULL;
    int seed = 1234, notrain = 0;
    int64_t limit = 0;
    const char *precision = NULL;
    tac_opt opts[] = {
        {"--data", NULL, TAC_OPT_STR, &data, "the dataset folder"},
        {"--model", "-m", TAC_OPT_STR, &model, TAC_HUB_MODEL_HELP},
        {"--out", "-o", TAC_OPT_STR, &out, "folder for the embedding caches and metrics.json"},
        {"--seed", NULL, TAC_OPT_INT, &seed, "random seed (default 1234)"},
        {"--no-train-only", NULL, TAC_OPT_FLAG, &notrain, "skip training the heads (CLIP k-means and TAC (no train) only)"},
        {"--limit", NULL, TAC_OPT_I64, &limit, "use only N images per split, spread over the classes (plumbing check)"},
        {"--vocabulary", NULL, TAC_OPT_STR, &vocab, "noun list FILE instead of WordNet's nouns"},
        {"--precision", NULL, TAC_OPT_STR, &precision, TAC_PRECISION_HELP},
        {0}};
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts, usage, &pos, &npos);
    if (r == 1) return 0;
    if (r) return 2;
    if ((r = tac_cli_precision("bench", precision))) { free(pos); return r; }
    if (npos != 1 || !data) { fprintf(stderr, "taclust bench: DATASET and --data are required\n"); free(pos); return 2; }
    char def[256];
    if (!out) { snprintf(def, sizeof def, "taclust-bench-%s", pos[0]); out = def; }
    char *model_dir = NULL;
    const tac_comm *comm = tac_mpi_comm();   /* mpirun -np N (N > 1): the embedding and fit spread over the ranks */
    if (comm) {
        if (tac_dist_resolve_model(comm, model, &model_dir) != TAC_OK) { free(pos); return tac_cli_error("bench"); }
    } else if (tac_cli_model_resolve(model, &model_dir) != TAC_OK) {
        free(pos);
        return tac_cli_error("bench");
    }
    int rc = comm ? tac_bench_run_dist(comm, pos[0], data, model_dir, out, (uint32_t)seed, notrain, limit, vocab)
                  : tac_bench_run(pos[0], data, model_dir, out, (uint32_t)seed, notrain, limit, vocab);
    free(pos);
    free(model_dir);
    return rc == TAC_OK ? 0 : tac_cli_error("bench");
}
TAC_COMMAND("bench", "reproduce the paper's numbers on a benchmark dataset", cmd_bench)
