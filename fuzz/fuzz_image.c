/* fuzz_image.c - libFuzzer target for the image decoders (JPEG, PNG, WebP) and the preprocessing behind them.
 *
 *   make fuzz
 *   build-fuzz/fuzz_image -max_total_time=120 -max_len=65536 fuzz/corpus/image   (seed corpus: small fixtures)
 * Every input must either decode or fail with a reason that names the input; decoded images also go through
 * CLIP preprocessing (224) and a thumbnail so the resize paths see odd sizes. The pixel limit is lowered to
 * 4 Mpixel so that header-only bombs are refused instead of exhausting the fuzzer's memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"
#include "taclust/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tac_image_set_pixel_limit(4 << 20);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tac_image img;
    if (tac_image_decode(data, size, "fuzz", &img) != TAC_OK) {
        if (strncmp(tac_last_error(), "fuzz: ", 6) != 0) abort();   /* every reason names the input */
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || !img.rgb) abort();
    if ((int64_t)img.w * img.h <= 65536) {                           /* keep each run fast */
        static float x[3 * 224 * 224];
        if (tac_clip_preprocess(&img, 224, 224, x) != TAC_OK) abort();
        uint8_t *jpg;
        size_t len;
        if (tac_image_thumbnail_jpeg(&img, 32, 75, &jpg, &len) != TAC_OK) abort();
        free(jpg);
    }
    tac_image_free(&img);
    return 0;
}
