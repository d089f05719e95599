/* cmd_assign.c - `taclust assign`: put new images into the clusters of an earlier `taclust cluster` run. */
#include "tac_cli.h"
#include "app/tac_app.h"
#include "taclust/hub.h"

#include <stdlib.h>

static const char *usage =
    "usage: taclust assign --from OUT NEW... [--model ID|DIR]\n\n"
    "Puts new images into the existing clusters of the run in OUT without re-clustering: each image is embedded,\n"
    "given its text counterpart over the run's selected nouns, and assigned by the run's image head (or, for a\n"
    "--no-train run, to the nearest cluster centre). Appends to OUT/clusters.csv (a path already there is\n"
    "re-assigned), links the images into OUT/by-cluster/, and prints each assignment.";

static int cmd_assign(int argc, char **argv)
{
    const char *from = NULL, *model = NULL, *list = NULL;
    int batch = 0;
    const char *precision = NULL;
    tac_opt opts[] = {
        {"--from", NULL, TAC_OPT_STR, &from, "the OUT folder of a finished `taclust cluster` run"},
        {"--model", "-m", TAC_OPT_STR, &model, "CLIP model folder or Hugging Face id org/name[@revision] (default: the one the run used)"},
        {"--list", NULL, TAC_OPT_STR, &list, "also read image paths from FILE, one per line"},
        {"--batch", NULL, TAC_OPT_INT, &batch, "images per forward pass (default: the run's)"},
        {"--precision", NULL, TAC_OPT_STR, &precision, TAC_PRECISION_HELP},
        {0}};
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts, usage, &pos, &npos);
    if (r == 1) return 0;
    if (r) return 2;
    if ((r = tac_cli_precision("assign", precision))) { free(pos); return r; }
    if (!from) { fprintf(stderr, "taclust assign: --from OUT is required\n"); free(pos); return 2; }
    if (npos == 0 && !list) { fprintf(stderr, "taclust assign: no images given\n"); free(pos); return 2; }
    char *model_dir = NULL;
    if (model && tac_cli_model_resolve(model, &model_dir) != TAC_OK) { free(pos); return tac_cli_error("assign"); }
    int rc = tac_assign_run(from, model_dir, (const char *const *)pos, npos, list, batch);
    free(pos);
    free(model_dir);
    return rc == TAC_OK ? 0 : tac_cli_error("assign");
}
TAC_COMMAND("assign", "put new images into the clusters of an earlier run", cmd_assign)
