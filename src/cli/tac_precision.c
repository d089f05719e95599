/* tac_precision.c - the --precision option shared by the commands that run CLIP (cluster, assign, bench,
 * embed-images, embed-text): checks the value and makes it the precision of the models they load.
 */
#include "tac_cli.h"
#include "taclust/clip.h"

int tac_cli_precision(const char *cmd, const char *value)
{
    if (!value) return 0;                       /* tac_clip_load: $TACLUST_PRECISION, else auto */
    int p;
    if (tac_clip_parse_precision(value, &p) != TAC_OK) {
        fprintf(stderr, "taclust %s: --precision: %s\n", cmd, tac_last_error());
        return 2;
    }
    return tac_clip_set_default_precision(p) == TAC_OK ? 0 : tac_cli_error(cmd);
}
