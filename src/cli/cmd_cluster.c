/* cmd_cluster.c - `taclust cluster`: the main job. A folder of images in, named groups out. */
#include "tac_cli.h"
#include "app/tac_app.h"
#include "taclust/hub.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: taclust cluster PHOTOS... [--model ID|DIR] [-K N | -K auto] [--no-train] --out OUT\n"
    "       taclust cluster --resume --out OUT\n\n"
    "Clusters a collection of images with TAC (Li et al., ICML 2024): CLIP embeds the images and the WordNet nouns,\n"
    "TAC picks the nouns that discriminate this collection, gives every image a text counterpart and clusters\n"
    "images and words together. PHOTOS are image files or folders (walked recursively; .jpg .jpeg .png .webp).\n\n"
    "Writes into OUT:\n"
    "  clusters.csv      path, cluster, cluster name, confidence, the image's best nouns\n"
    "  clusters.json     every cluster's size, name and most typical images\n"
    "  by-cluster/       NN-name/ folders of symbolic links to the images\n"
    "  report.html       one self-contained page of thumbnails, a row per cluster (opens offline)\n"
    "  skipped.txt       images that could not be read, with the reason\n"
    "  model/            what `taclust assign` needs to place new images\n"
    "  cache/            image embeddings (a second run embeds only new or changed images)\n"
    "The names above (but cache/) are links through OUT/current to OUT/.runs/<run>/: a run writes a new folder and\n"
    "switches OUT/current at the end, so a run that fails leaves the earlier result whole. One process at a time\n"
    "writes OUT (a second waits); files taclust did not write are never deleted (it refuses and names them).\n"
    "In clusters.csv and skipped.txt control characters are escaped (\\t \\n \\r \\xHH, backslash \\\\) and a cell\n"
    "starting with = + - @ gets a leading '; JSON and report.html show a byte that is not UTF-8 as U+00XX.\n"
    "Noun embeddings are cached per model in $XDG_CACHE_HOME/taclust (default ~/.cache/taclust).\n"
    "Interrupted? `taclust cluster --resume --out OUT` continues with the same inputs and options.";

static int cmd_cluster(int argc, char **argv)
{
    tac_cluster_params p;
    tac_cluster_default_params(&p);
    const char *k = NULL;
    int seed = (int)p.seed;
    const char *precision = NULL;
    tac_opt opts[] = {
        {"--model", "-m", TAC_OPT_STR, &p.model_dir, TAC_HUB_MODEL_HELP},
        {"--out", "-o", TAC_OPT_STR, &p.out_dir, "output folder OUT (created)"},
        {"-K", "--clusters", TAC_OPT_STR, &k, "number of clusters, or 'auto' to estimate it (default auto)"},
        {"--kmax", NULL, TAC_OPT_INT, &p.kmax, "largest K that -K auto considers (default 30)"},
        {"--no-train", NULL, TAC_OPT_FLAG, &p.no_train, "TAC (no train): k-means on [image; text] instead of training the heads"},
        {"--resume", NULL, TAC_OPT_FLAG, &p.resume, "continue the run in OUT (inputs and options from OUT/run.json)"},
        {"--list", NULL, TAC_OPT_STR, &p.list_file, "also read image paths from FILE, one per line"},
        {"--seed", NULL, TAC_OPT_INT, &seed, "random seed (default 1234): same seed, same result"},
        {"--resize", NULL, TAC_OPT_INT, &p.resize, "shorter side before the 224 crop: 224 (default) or 256"},
        {"--batch", NULL, TAC_OPT_INT, &p.batch, "images per forward pass (default 32)"},
        {"--vocabulary", NULL, TAC_OPT_STR, &p.vocabulary, "noun list FILE (one per line) instead of WordNet's nouns"},
        {"--wordnet", NULL, TAC_OPT_STR, &p.wordnet_dir, "WordNet dict folder (default /usr/share/wordnet)"},
        {"--names", NULL, TAC_OPT_INT, &p.n_names, "nouns naming each cluster (default 3)"},
        {"--precision", NULL, TAC_OPT_STR, &precision, TAC_PRECISION_HELP},
        {"--epochs", NULL, TAC_OPT_INT, &p.epochs, "heads training epochs (default: chosen for the collection size)"},
        {0}};
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts, usage, &pos, &npos);
    if (r == 1) return 0;
    if (r) return 2;
    if ((r = tac_cli_precision("cluster", precision))) { free(pos); return r; }
    p.seed = (uint32_t)seed;
    if (k && strcmp(k, "auto") != 0) {
        char *end;
        long v = strtol(k, &end, 10);
        if (*end || v < 2 || v > 100000) { fprintf(stderr, "taclust cluster: -K takes a number >= 2 or 'auto'\n"); free(pos); return 2; }
        p.K = (int)v;
    }
    if (!p.out_dir) { fprintf(stderr, "taclust cluster: --out OUT is required (taclust cluster --help)\n"); free(pos); return 2; }
    if (!p.resume && npos == 0 && !p.list_file) { fprintf(stderr, "taclust cluster: no images given (taclust cluster --help)\n"); free(pos); return 2; }
    if (p.resize != 224 && p.resize != 256) { fprintf(stderr, "taclust cluster: --resize must be 224 or 256\n"); free(pos); return 2; }
    char *model_dir = NULL;   /* a --resume without --model takes the run's */
    if ((!p.resume || p.model_dir) && tac_cli_model_resolve(p.model_dir, &model_dir) != TAC_OK) { free(pos); return tac_cli_error("cluster"); }
    if (model_dir) p.model_dir = model_dir;
    int rc = tac_cluster_run((const char *const *)pos, npos, &p);
    free(pos);
    free(model_dir);
    return rc == TAC_OK ? 0 : tac_cli_error("cluster");
}
TAC_COMMAND("cluster", "cluster a folder of images into named groups (the main job)", cmd_cluster)
