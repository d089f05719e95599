/* fuzz_config.c - libFuzzer target for the CLIP config parsers (src/clip/tac_clip_config.c): Hugging Face config.json
 * and OpenCLIP open_clip_config.json (each input goes through both; seeds in fuzz/corpus/config include OpenCLIP
 * configs).
 *
 *   make fuzz && build-fuzz/fuzz_config -max_total_time=90 fuzz/corpus/config
 * An accepted config must satisfy the invariants the forward pass relies on (positive sizes, heads dividing the
 * width, patch within the image, 3 channels, a known activation, eps in (0, 1)); a rejection must carry a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip/tac_clip_internal.h"

static void check_tower(const tac_clip_tower_cfg *t, int vision)
{
    if (t->hidden < 1 || t->inter < 1 || t->layers < 1 || t->heads < 1 || t->hidden % t->heads) abort();
    if (t->act != TAC_ACT_QUICK_GELU && t->act != TAC_ACT_GELU) abort();
    if (!(t->eps > 0 && t->eps < 1)) abort();
    if (vision && (t->patch_size < 1 || t->patch_size > t->image_size || t->channels != 3)) abort();
    if (!vision && (t->vocab < 1 || t->max_pos < 1)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    tac_clip_config c;
    tac_clear_error();
    if (tac_clip_config_parse(buf, size, "fuzz", &c) == TAC_OK) {
        check_tower(&c.text, 0);
        check_tower(&c.vision, 1);
        if (c.proj_dim < 1) abort();
    } else if (tac_last_error()[0] == 0) {
        abort();
    }
    tac_clear_error();
    if (tac_clip_openclip_config_parse(buf, size, "fuzz", "name-quickgelu", &c) == TAC_OK) {
        check_tower(&c.text, 0);
        check_tower(&c.vision, 1);
        if (c.proj_dim < 1 || c.vision.image_size > 8192) abort();
        for (int k = 0; k < 3; k++) if (!(c.std[k] > 0)) abort();
    } else if (tac_last_error()[0] == 0) {
        abort();
    }
    free(buf);
    return 0;
}
