/* taclust/image.h - image decoding and CLIP preprocessing (tac-method.md section 2).
 *
 * Decoding uses Debian's libjpeg-turbo (bit-identical to Pillow), libpng and libwebp; every format is converted
 * to 8-bit RGB exactly as Pillow 9.4's Image.open(f).convert("RGB") does (grayscale expanded, Adobe-inverted
 * CMYK/YCCK converted with Pillow's formula, alpha and tRNS dropped without compositing, 16-bit reduced to the high
 * byte, 16-bit gray clipped at 255 as Pillow's mode "I" conversion does). EXIF orientation is NOT applied (Pillow
 * and CLIP preprocessing don't either). Resize is a port of Pillow's fixed-point bicubic (a = -0.5, antialiased),
 * center crop as torchvision does (offset round-half-even), then ToTensor and CLIP's mean/std normalisation.
 * Everything here is thread-safe (decode different images from different threads); errors via tac_last_error(),
 * also when memory cannot be allocated (never aborts). Everything runs on the calling thread (no OpenMP, no BLAS).
 * The decode budget and the pixel limit are process-wide settings (set them before decoding).
 * Buffers handed to the caller (tac_image.rgb: release with tac_image_free; a thumbnail: release with tac_free).
 */
#ifndef TACLUST_IMAGE_H
#define TACLUST_IMAGE_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_IMAGE_MAX_PIXELS (178956970LL)   /* Pillow's decompression-bomb limit: larger images are refused */
#define TAC_IMAGE_MAX_FILE_BYTES ((size_t)512 << 20)   /* an image file larger than 512 MiB is refused unread */
#define TAC_IMAGE_DECODE_BUDGET ((int64_t)1 << 30)    /* decoded bytes in flight across all threads (1 GiB) */

typedef struct {
    int w, h;          /* width, height */
    uint8_t *rgb;      /* H x W x 3, row-major (released by tac_image_free) */
} tac_image;

/* Decode a JPEG, PNG or WebP file (detected by content, not by name). On failure the reason says why
 * ("not an image", "truncated JPEG", "20000x20000 exceeds the pixel limit", ...). */
TAC_API int tac_image_load(const char *path, tac_image *img);
TAC_API int tac_image_decode(const uint8_t *data, size_t len, const char *name_for_errors, tac_image *img);
TAC_API void tac_image_free(tac_image *img);

/* Refuse images with more than max_pixels pixels (checked from the header before allocating); <= 0 restores
 * TAC_IMAGE_MAX_PIXELS. Process-wide; set it before decoding (the fuzz target lowers it). */
TAC_API void tac_image_set_pixel_limit(int64_t max_pixels);
/* Decoded bytes in flight across all threads (<= 0 restores TAC_IMAGE_DECODE_BUDGET; the environment variable
 * the taclust program sets it from TACLUST_DECODE_BUDGET_MB). A decode waits until its bytes fit, unless it would run alone. */
TAC_API void tac_image_set_decode_budget(int64_t bytes);
/* The most bytes the budget has seen in flight (reset: start again from what is in flight now). */
TAC_API int64_t tac_image_decode_peak(int reset);

/* Pillow Image.resize((dw, dh), BICUBIC) on RGB uint8, bit-exact. src: sh x sw x 3, dst: dh x dw x 3.
 * TAC_ERR (reason set) on a size that is not positive or when its workspace cannot be allocated. */
TAC_API int tac_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* The same resize, computing only the output window [y0, y0+ch) x [x0, x0+cw) (bit-identical to cropping the full
 * result, without building it). dst: ch x cw x 3. TAC_ERR also when the window is not inside the result. */
TAC_API int tac_resize_bicubic_window(const uint8_t *src, int sw, int sh, int dw, int dh,
                              int x0, int y0, int cw, int ch, uint8_t *dst);

/* CLIP preprocessing: resize the shorter side to `resize` (224 or 256; long side int(resize*long/short)),
 * center-crop `crop` (224), scale to [0,1], normalise with CLIP mean/std. out: 3 x crop x crop (CHW). */
TAC_API int tac_clip_preprocess(const tac_image *img, int resize, int crop, float *out);

/* Preprocessing flavours: OPENAI = torchvision on PIL (OpenAI clip.load's preprocess, TAC's pipeline; crop offset
 * round-half-even, v/255 in float32); HF = Hugging Face CLIPImageProcessor (crop offset floor, v*(1/255) in float64
 * cast to float32). Both resize identically. tac_clip_preprocess uses OPENAI. */
enum { TAC_PREPROC_OPENAI = 0, TAC_PREPROC_HF = 1 };
TAC_API int tac_clip_preprocess_mode(const tac_image *img, int resize, int crop, int mode, float *out);
/* Size after Resize(resize): shorter side = resize, longer int(resize * long / short). */
TAC_API int tac_clip_resized_size(int w, int h, int resize, int *nw, int *nh);

/* Write a JPEG thumbnail (RGB, quality 1..100) into a buffer (*out, release with tac_free): the longer side is
 * brought down to max_side with the bicubic resize (the other side rounded, at least 1); never enlarged. */
TAC_API int tac_image_thumbnail_jpeg(const tac_image *img, int max_side, int quality, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
