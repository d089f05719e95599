/* tac_preprocess.c - CLIP image preprocessing (tac-method.md section 2) and JPEG thumbnails for reports.
 *
 *   float x[3 * 224 * 224];                                   // CHW
 *   tac_clip_preprocess(&img, 224, 224, x);                   // OpenAI CLIP / torchvision on a PIL image
 *   tac_clip_preprocess_mode(&img, 224, 224, TAC_PREPROC_HF, x);   // Hugging Face CLIPImageProcessor
 *   tac_image_thumbnail_jpeg(&img, 160, 85, &buf, &len);      // JPEG bytes for an HTML report
 *
 * TAC_PREPROC_OPENAI reproduces torchvision 0.14+ on a PIL RGB image:
 *   Resize(r, BICUBIC): shorter side -> r, longer side int(r * long / short) (truncation, computed in double as
 *     Python does), Pillow bicubic (tac_resize.c);
 *   CenterCrop(c): top = int(round((H - c) / 2)), left likewise, Python's round-half-to-even (666x448 -> 54, not 55);
 *   ToTensor: v / 255 in float32; Normalize: (x - mean) / std in float32 with CLIP's mean and std.
 * TAC_PREPROC_HF reproduces transformers' CLIPImageProcessor (slow, PIL based): the same resize sizes and Pillow
 * bicubic, but CenterCrop offsets (H - c) // 2 (floor), rescale as float32(v * (1/255) in float64), then the same
 * float32 normalisation. The two differ only when a crop offset is an odd half (e.g. a side of 335 with c=224:
 * openai 56, hf 55); the two rescales happen to give the same float32 for all 256 values (checked by the tests).
 * Both are computed as a 256-entry table per channel, so the tensor is bit-exact with the Python pipelines.
 * The image is expected to be RGB already (tac_image is always RGB): TAC's ImageFolder loader converts to RGB
 * before resizing.
 */
#include "taclust/image.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* Python's round() for a value that is an integer or an integer + 0.5: half to even. */
static int round_half_even_half(int twice)    /* returns round(twice / 2) */
{
    int q = twice / 2;                        /* twice >= 0 here */
    if (twice % 2 == 0) return q;
    return (q % 2 == 0) ? q : q + 1;
}

int tac_clip_resized_size(int w, int h, int resize, int *nw, int *nh)
{
    if (w <= 0 || h <= 0 || resize <= 0) return tac_fail("invalid image size %dx%d or resize %d", w, h, resize);
    int s = w <= h ? w : h, l = w <= h ? h : w;
    double nl = (double)((int64_t)resize * l) / (double)s;
    if (nl >= 2147483647.0) return tac_fail("%dx%d image is too elongated to resize", w, h);
    int newl = (int)nl;
    if (w <= h) { *nw = resize; *nh = newl; }
    else { *nw = newl; *nh = resize; }
    return TAC_OK;
}

int tac_clip_preprocess_mode(const tac_image *img, int resize, int crop, int mode, float *out /* 3 x crop x crop */)
{
    TAC_ASSERT(img && out);
    if (!img->rgb || img->w <= 0 || img->h <= 0) return tac_fail("preprocess: empty image");
    if (crop <= 0 || resize < crop) return tac_fail("preprocess: resize %d must be >= crop %d > 0", resize, crop);
    if (mode != TAC_PREPROC_OPENAI && mode != TAC_PREPROC_HF) return tac_fail("preprocess: unknown mode %d", mode);
    int nw = 0, nh = 0;
    if (tac_clip_resized_size(img->w, img->h, resize, &nw, &nh) != TAC_OK) return TAC_ERR;
    int top, left;
    if (mode == TAC_PREPROC_OPENAI) {
        top = round_half_even_half(nh - crop);
        left = round_half_even_half(nw - crop);
    } else {
        top = (nh - crop) / 2;
        left = (nw - crop) / 2;
    }
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = mode == TAC_PREPROC_OPENAI ? (float)v / 255.0f : (float)((double)v * (1.0 / 255.0));
            lut[c][v] = (x - clip_mean[c]) / clip_std[c];
        }
    uint8_t *win = tac_try_malloc((size_t)crop * (size_t)crop, 3, "preprocess: crop window");   /* crop x crop x 3 */
    if (!win) return TAC_ERR;
    if (tac_resize_bicubic_window(img->rgb, img->w, img->h, nw, nh, left, top, crop, crop, win) != TAC_OK) {
        free(win);
        return TAC_ERR;
    }
    size_t plane = (size_t)crop * crop;
    for (size_t i = 0; i < plane; i++) {
        out[i] = lut[0][win[3 * i]];
        out[plane + i] = lut[1][win[3 * i + 1]];
        out[2 * plane + i] = lut[2][win[3 * i + 2]];
    }
    free(win);
    return TAC_OK;
}

int tac_clip_preprocess(const tac_image *img, int resize, int crop, float *out)
{
    return tac_clip_preprocess_mode(img, resize, crop, TAC_PREPROC_OPENAI, out);
}

/* ---- JPEG thumbnails ---------------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} thumb_err;

static void thumb_error_exit(j_common_ptr cinfo)
{
    thumb_err *e = (thumb_err *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}
static void thumb_output_message(j_common_ptr cinfo) { (void)cinfo; }

int tac_image_thumbnail_jpeg(const tac_image *img, int max_side, int quality, uint8_t **out, size_t *len)
{
    TAC_ASSERT(img && out && len);
    *out = NULL;
    *len = 0;
    if (!img->rgb || img->w <= 0 || img->h <= 0) return tac_fail("thumbnail: empty image");
    if (max_side <= 0) return tac_fail("thumbnail: max side %d must be positive", max_side);
    if (quality < 1 || quality > 100) return tac_fail("thumbnail: JPEG quality %d outside 1..100", quality);
    int tw = img->w, th = img->h;
    const uint8_t *pix = img->rgb;
    uint8_t *small = NULL;
    if (tw > max_side || th > max_side) {
        /* longer side -> max_side, the other rounded, at least 1 (like Pillow's thumbnail) */
        if (tw >= th) { th = (int)floor((double)th * max_side / tw + 0.5); tw = max_side; }
        else { tw = (int)floor((double)tw * max_side / th + 0.5); th = max_side; }
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
        small = tac_try_malloc((size_t)tw * th, 3, "thumbnail");      /* th x tw x 3 */
        if (!small) return TAC_ERR;
        if (tac_resize_bicubic(img->rgb, img->w, img->h, small, tw, th) != TAC_OK) { free(small); return TAC_ERR; }
        pix = small;
    }
    struct jpeg_compress_struct cinfo;
    thumb_err err;
    unsigned char *b = NULL;          /* filled by jpeg_mem_dest (malloc'd by libjpeg) */
    unsigned long blen = 0;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = thumb_error_exit;
    err.pub.output_message = thumb_output_message;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&cinfo);   /* only OOM can fail here; a partial buffer may leak */
        free(small);
        return tac_fail("thumbnail: JPEG encoder failed (%s)", err.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &b, &blen);
    cinfo.image_width = (JDIMENSION)tw;
    cinfo.image_height = (JDIMENSION)th;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)cinfo.next_scanline * tw * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(small);
    *out = b;                         /* jpeg_mem_dest's buffer comes from malloc: the caller frees it */
    *len = blen;
    return TAC_OK;
}
