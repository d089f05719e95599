/* taclust/image.h - image decoding and CLIP preprocessing (tac-method.md section 2).
 *
 * Decoding uses Debian's libjpeg-turbo (bit-identical to Pillow), libpng and libwebp; every format is converted
 * to 8-bit RGB (grayscale expanded, CMYK/YCCK converted, alpha dropped as Pillow's convert("RGB") does,
 * 16-bit reduced to 8). Resize is a port of Pillow's fixed-point bicubic (a = -0.5, antialiased), center crop as
 * torchvision does (offset round-half-even), then ToTensor and CLIP's mean/std normalisation.
 */
#ifndef TACLUST_IMAGE_H
#define TACLUST_IMAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_IMAGE_MAX_PIXELS (178956970LL)   /* Pillow's decompression-bomb limit: larger images are refused */

typedef struct {
    int w, h;          /* width, height */
    uint8_t *rgb;      /* H x W x 3, row-major, malloc'd */
} tac_image;

/* Decode a JPEG, PNG or WebP file (detected by content, not by name). On failure the reason says why
 * ("not an image", "truncated JPEG", "20000x20000 exceeds the pixel limit", ...). */
int tac_image_load(const char *path, tac_image *img);
int tac_image_decode(const uint8_t *data, size_t len, const char *name_for_errors, tac_image *img);
void tac_image_free(tac_image *img);

/* Pillow Image.resize((dw, dh), BICUBIC) on RGB uint8, bit-exact. dst: dh x dw x 3. */
void tac_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* CLIP preprocessing: resize the shorter side to `resize` (224 or 256; long side int(resize*long/short)),
 * center-crop `crop` (224), scale to [0,1], normalise with CLIP mean/std. out: 3 x crop x crop (CHW). */
int tac_clip_preprocess(const tac_image *img, int resize, int crop, float *out);

/* Write a JPEG thumbnail (RGB, quality q) into a malloc'd buffer, the longer side at most max_side. */
int tac_image_thumbnail_jpeg(const tac_image *img, int max_side, int quality, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
