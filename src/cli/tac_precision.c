/* tac_precision.c - the --precision option shared by the commands that run CLIP (cluster, assign, bench,
 * embed-images, embed-text): checks the value and makes it the precision of the models they load; and the
 * --heads-precision option of the commands that train the heads (fit, train-heads).
 */
#include "tac_cli.h"
#include "taclust/clip.h"
#include "taclust/heads.h"

#include <string.h>

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

int tac_cli_heads_precision(const char *cmd, const char *value)
{
    if (!value) return 0;                       /* the library's default: fp32 */
    int p;
    if (strcmp(value, "fp32") == 0) p = TAC_HEADS_FP32;
    else if (strcmp(value, "bf16") == 0) p = TAC_HEADS_BF16;
    else if (strcmp(value, "auto") == 0) p = TAC_HEADS_AUTO;
    else {
        fprintf(stderr, "taclust %s: --heads-precision: '%s' is none of fp32, bf16, auto\n", cmd, value);
        return 2;
    }
    if (tac_heads_set_precision(p) != TAC_OK) {
        fprintf(stderr, "taclust %s: --heads-precision: %s\n", cmd, tac_last_error());
        return 2;
    }
    return 0;
}
