/* cmd_preprocess.c - `taclust preprocess`: decode images and write CLIP's input tensor as .npy.
 *
 *   taclust preprocess photo.jpg --out x.npy                 x.npy: float32 (1, 3, 224, 224)
 *   taclust preprocess a.jpg b.png --resize 256 --out x.npy  (2, 3, 224, 224), ImageNet-style shorter side 256
 *   taclust preprocess white.jpg --mode hf --out x.npy       Hugging Face CLIPImageProcessor's pixel_values
 * Used to check the C preprocessing against Python (np.load the result) and to feed other tools.
 */
#include "tac_cli.h"
#include "taclust/image.h"

#include <stdlib.h>
#include <string.h>

static int cmd_preprocess(int argc, char **argv)
{
    const char *out = NULL, *mode_s = "openai";
    int resize = 224, crop = 224;
    tac_opt opts[] = {
        {"--out", "-o", TAC_OPT_STR, &out, "output .npy: float32 (N, 3, CROP, CROP), CHW per image (required)"},
        {"--resize", NULL, TAC_OPT_INT, &resize, "shorter side before the crop: 224 (CIFAR/STL/DTD/UCF, default) or 256 (ImageNet sets)"},
        {"--crop", NULL, TAC_OPT_INT, &crop, "centre crop size (default 224, ViT-B/32's input)"},
        {"--mode", NULL, TAC_OPT_STR, &mode_s, "openai (torchvision/OpenAI CLIP, TAC's pipeline; default) or hf (transformers CLIPImageProcessor)"},
        {0},
    };
    const char *usage =
        "usage: taclust preprocess IMAGE... --out P.npy [--resize 224|256] [--crop N] [--mode openai|hf]\n\n"
        "Decodes each IMAGE (JPEG, PNG or WebP, recognised by content; converted to RGB as Pillow does; EXIF\n"
        "orientation is not applied, as in CLIP) and applies CLIP's preprocessing bit-exactly: resize the shorter\n"
        "side to --resize with Pillow's bicubic (longer side int(resize*long/short)), centre crop --crop (offset\n"
        "round-half-even; floor with --mode hf), scale to [0,1], normalise with CLIP's mean and std.\n"
        "Writes one float32 .npy of shape (N, 3, crop, crop), images in argument order.";
    char **pos;
    int npos;
    int rc = tac_parse_opts(argc, argv, opts, usage, &pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos < 1 || !out) {
        fprintf(stderr, "taclust preprocess: %s (taclust preprocess --help)\n", npos < 1 ? "no IMAGE given" : "--out is required");
        free(pos);
        return 2;
    }
    int mode = strcmp(mode_s, "openai") == 0 ? TAC_PREPROC_OPENAI : strcmp(mode_s, "hf") == 0 ? TAC_PREPROC_HF : -1;
    if (mode < 0 || (resize != 224 && resize != 256) || crop < 1 || crop > resize) {
        fprintf(stderr, "taclust preprocess: %s\n", mode < 0 ? "--mode must be openai or hf"
                : (resize != 224 && resize != 256) ? "--resize must be 224 or 256" : "--crop must be in 1..resize");
        free(pos);
        return 2;
    }
    size_t per = (size_t)3 * crop * crop;
    float *x = tac_xmalloc((size_t)npos * per, sizeof(float));   /* N x 3 x crop x crop */
    tac_progress p;
    tac_progress_begin(&p, "preprocess", npos);
    for (int i = 0; i < npos; i++) {
        tac_image img;
        if (tac_image_load(pos[i], &img) != TAC_OK || tac_clip_preprocess_mode(&img, resize, crop, mode, x + (size_t)i * per) != TAC_OK) {
            tac_image_free(&img);
            free(x);
            free(pos);
            return tac_cli_error("preprocess");
        }
        tac_image_free(&img);
        tac_progress_update(&p, i + 1);
    }
    tac_progress_end(&p);
    int64_t shape[4] = {npos, 3, crop, crop};
    rc = tac_npy_save_f32(out, x, 4, shape);
    free(x);
    free(pos);
    if (rc != TAC_OK) return tac_cli_error("preprocess");
    return 0;
}

TAC_COMMAND("preprocess", "decode images and write CLIP's preprocessed input tensor (.npy)", cmd_preprocess)
