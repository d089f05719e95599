/* cmd_models.c - `taclust models`: the CLIP models in the Hugging Face cache, and `taclust models pull ID...`
 * to fetch models into it without running anything else (both through src/hub/). */
#include "tac_cli.h"
#include "taclust/hub.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: taclust models [list]\n"
    "       taclust models pull ID...\n\n"
    "Lists the CLIP models in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else\n"
    "~/.cache/huggingface/hub; the cache Python's huggingface_hub and transformers use): id, revision, commit,\n"
    "size and weight format of each. `pull` fetches each ID (org/name[@revision], default revision main) into that\n"
    "cache from $HF_ENDPOINT (default https://huggingface.co), with $HF_TOKEN for gated repos, and prints its\n"
    "folder; a model already there is not fetched again. Every command's --model takes the same ids.";

static int list_models(void)
{
    tac_hub_model *m;
    int n;
    if (tac_hub_list(NULL, &m, &n) != TAC_OK) return tac_cli_error("models");
    char *cache = tac_hub_cache_dir(NULL);
    if (n == 0) {
        printf("no CLIP models in %s (taclust models pull %s fetches the default one)\n", cache, TAC_HUB_DEFAULT_MODEL);
    } else {
        printf("%-44s %-12s %-12s %10s  %s\n", "ID", "REVISION", "COMMIT", "SIZE", "FORMAT");
        for (int i = 0; i < n; i++)
            printf("%-44s %-12s %-12.12s %7.1f MB  %s\n", m[i].id, m[i].revisions[0] ? m[i].revisions : "-", m[i].commit,
                   (double)m[i].bytes / 1e6, m[i].format);
        printf("(%d model%s in %s)\n", n, n == 1 ? "" : "s", cache);
    }
    free(cache);
    tac_hub_list_free(m, n);
    return 0;
}

static int cmd_models(int argc, char **argv)
{
    tac_opt opts[] = {{0}};
    char **pos;
    int npos;
    int r = tac_parse_opts(argc, argv, opts, usage, &pos, &npos);
    if (r == 1) return 0;
    if (r) return 2;
    int rc = 0;
    if (npos == 0 || (npos == 1 && strcmp(pos[0], "list") == 0)) {
        rc = list_models();
    } else if (strcmp(pos[0], "pull") == 0) {
        if (npos < 2) { fprintf(stderr, "taclust models: pull needs a model id (org/name[@revision])\n"); free(pos); return 2; }
        for (int i = 1; i < npos && rc == 0; i++) {
            char repo[256], rev[256], *dir = NULL;
            if (tac_hub_parse_id(pos[i], repo, sizeof repo, rev, sizeof rev) != TAC_OK ||
                (tac_hub_lookup(repo, rev, NULL, &dir) != TAC_OK && tac_cli_model_resolve(pos[i], &dir) != TAC_OK)) {
                rc = tac_cli_error("models");
                break;
            }
            printf("%s\n", dir);
            free(dir);
        }
    } else {
        fprintf(stderr, "taclust models: unknown action '%s' (list or pull)\n", pos[0]);
        rc = 2;
    }
    free(pos);
    return rc;
}
TAC_COMMAND("models", "list the CLIP models in the Hugging Face cache; pull one by id", cmd_models)
