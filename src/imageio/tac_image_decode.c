/* tac_image_decode.c - decode JPEG, PNG and WebP files to 8-bit RGB, the way Pillow's convert("RGB") sees them.
 *
 *   tac_image img;
 *   if (tac_image_load("photo.jpg", &img) != TAC_OK) puts(tac_last_error());   // "photo.jpg: truncated JPEG data"
 *   ... img.rgb is H x W x 3 ...
 *   tac_image_free(&img);
 *
 * The format is chosen from the first bytes (magic numbers), never from the file name. Every decoder runs with an
 * error handler that turns library errors into a returned reason (setjmp/longjmp for libjpeg and libpng), and
 * library warnings are silenced, so corrupt input never crashes and never prints. Image dimensions are read from the
 * header and checked against the pixel limit BEFORE the pixel buffers are allocated, and the bytes are taken from a
 * decoded-pixel budget shared by all threads (TAC_IMAGE_DECODE_BUDGET), so many threads decoding huge images at
 * once wait for each other instead of multiplying the memory. Files over TAC_IMAGE_MAX_FILE_BYTES are not read.
 *
 * Conversions follow Pillow 9.4 (Image.open(f).convert("RGB")), checked by tests/test_image.c against fixtures made by
 * Pillow itself (tools/gen_image_fixtures.py):
 *   JPEG  libjpeg-turbo with its defaults (islow IDCT, fancy upsampling) - Pillow links the same library.
 *         Grayscale is replicated. 4-component files (CMYK, or YCCK which libjpeg turns into CMYK) are read as Adobe
 *         inverted CMYK, as Pillow always assumes ("CMYK;I"), then converted with Pillow's cmyk2rgb:
 *         nk = 255 - K, R = nk - nk*C/255 (rounded as Pillow's MULDIV255), same for G, B.
 *         Truncated data is an error (Pillow raises "image file is truncated"); libjpeg warnings are ignored.
 *   PNG   libpng. 16-bit RGB, RGBA and gray+alpha keep the high byte (Pillow's "RGB;16B" unpackers); 16-bit gray
 *         opens in Pillow as mode "I" whose conversion to RGB CLIPS at 255 (so min(v, 255)), reproduced here;
 *         1/2/4-bit gray scaled to 0..255; palette expanded, indices beyond a short PLTE giving Pillow's gray ramp
 *         (i, i, i); alpha and tRNS dropped without compositing.
 *   WebP  libwebp (lossy and lossless), alpha dropped. Animated WebP is refused.
 * EXIF orientation is NOT applied: Pillow's Image.open does not apply it, and neither does CLIP preprocessing.
 */
#include "taclust/image.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

static int64_t tac_pixel_limit = TAC_IMAGE_MAX_PIXELS;

void tac_image_set_pixel_limit(int64_t max_pixels)
{
    tac_pixel_limit = max_pixels > 0 ? max_pixels : TAC_IMAGE_MAX_PIXELS;
}

/* ---- the decoded-pixel budget, shared by all threads -------------------------------------------------------
 * A decoder takes its bytes (an upper bound: 3 per pixel for the RGB result, plus PNG's row buffer) from the
 * budget right after reading the image size, before allocating; the result's 3 bytes per pixel stay taken until
 * tac_image_free. A thread waits while others hold the budget, but never while it holds decoded pixels itself
 * (so it cannot wait on itself), and an image larger than the whole budget is decoded alone. */
static pthread_mutex_t bud_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bud_cv = PTHREAD_COND_INITIALIZER;
static int64_t bud_limit = -1, bud_used, bud_peak;
typedef struct held { const void *p; int64_t bytes; struct held *next; } held;
static held *bud_held;                           /* result buffers holding budget */
static _Thread_local int64_t tl_pending;         /* taken by this thread's decode in progress */
static _Thread_local int64_t tl_held;            /* held by results this thread decoded and has not freed */

static int64_t budget_limit(void)
{
    if (bud_limit < 0) bud_limit = TAC_IMAGE_DECODE_BUDGET;   /* tac_image_set_decode_budget changes it */
    return bud_limit;
}

void tac_image_set_decode_budget(int64_t bytes)
{
    pthread_mutex_lock(&bud_mu);
    bud_limit = bytes > 0 ? bytes : TAC_IMAGE_DECODE_BUDGET;
    pthread_cond_broadcast(&bud_cv);
    pthread_mutex_unlock(&bud_mu);
}

int64_t tac_image_decode_peak(int reset)
{
    pthread_mutex_lock(&bud_mu);
    int64_t p = bud_peak;
    if (reset) bud_peak = bud_used;
    pthread_mutex_unlock(&bud_mu);
    return p;
}

static void budget_take(int64_t bytes)
{
    pthread_mutex_lock(&bud_mu);
    int64_t lim = budget_limit();
    while (bud_used > 0 && bud_used + bytes > lim && tl_held == 0 && tl_pending == 0)
        pthread_cond_wait(&bud_cv, &bud_mu);
    bud_used += bytes;
    if (bud_used > bud_peak) bud_peak = bud_used;
    pthread_mutex_unlock(&bud_mu);
    tl_pending += bytes;
}

static void budget_give(int64_t bytes)
{
    if (bytes <= 0) return;
    pthread_mutex_lock(&bud_mu);
    bud_used -= bytes;
    pthread_cond_broadcast(&bud_cv);
    pthread_mutex_unlock(&bud_mu);
}

/* After a decode: everything pending goes back, except the result's bytes, which stay held with its buffer. */
static void budget_settle(const tac_image *img, int ok)
{
    int64_t keep = ok && img->rgb ? (int64_t)img->w * img->h * 3 : 0;
    if (keep > tl_pending) keep = tl_pending;
    budget_give(tl_pending - keep);
    tl_pending = 0;
    if (keep > 0) {
        held *h = malloc(sizeof *h);
        if (!h) { budget_give(keep); return; }   /* no memory to track it: the bytes are not held */
        h->p = img->rgb; h->bytes = keep;
        pthread_mutex_lock(&bud_mu);
        h->next = bud_held; bud_held = h;
        pthread_mutex_unlock(&bud_mu);
        tl_held += keep;
    }
}

static void budget_release_image(const void *p)
{
    if (!p) return;
    pthread_mutex_lock(&bud_mu);
    held **pp = &bud_held, *h = NULL;
    while (*pp && (*pp)->p != p) pp = &(*pp)->next;
    if (*pp) { h = *pp; *pp = h->next; bud_used -= h->bytes; pthread_cond_broadcast(&bud_cv); }
    pthread_mutex_unlock(&bud_mu);
    if (h) {
        tl_held = tl_held > h->bytes ? tl_held - h->bytes : 0;
        free(h);
    }
}

void tac_image_free(tac_image *img)
{
    if (!img) return;
    budget_release_image(img->rgb);
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

static int check_dims(const char *name, const char *fmt, int64_t w, int64_t h)
{
    if (w <= 0 || h <= 0) return tac_fail("%s: corrupt %s (image size %lldx%lld)", name, fmt, (long long)w, (long long)h);
    if (w * h > tac_pixel_limit)
        return tac_fail("%s: %lldx%lld image exceeds the pixel limit (%lld pixels)", name, (long long)w, (long long)h,
                        (long long)tac_pixel_limit);
    /* bytes per pixel while decoding: the RGB result, plus for PNG its row buffer (at most 8: 16-bit RGBA) */
    budget_take(w * h * (strcmp(fmt, "PNG") == 0 ? 3 + 8 : 3));
    return TAC_OK;
}

/* ---- JPEG --------------------------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_err;

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}
static void jpeg_output_message_cb(j_common_ptr cinfo) { (void)cinfo; }          /* never print */
static void jpeg_emit_message_cb(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }   /* ignore warnings */

/* Source manager over a memory buffer that treats running out of data as an error (no fake EOI). */
static void src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static boolean src_fill(j_decompress_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->truncated = 1;
    longjmp(e->jb, 1);
    return FALSE;
}
static void src_skip(j_decompress_ptr cinfo, long n)
{
    struct jpeg_source_mgr *s = cinfo->src;
    if (n <= 0) return;
    if ((size_t)n > s->bytes_in_buffer) src_fill(cinfo);
    s->next_input_byte += n;
    s->bytes_in_buffer -= (size_t)n;
}
static void src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static inline uint8_t muldiv255(int a, int b)
{
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static int decode_jpeg(const uint8_t *data, size_t len, const char *name, tac_image *img)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    struct jpeg_source_mgr src;
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile row = NULL;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_cb;
    err.pub.output_message = jpeg_output_message_cb;
    err.pub.emit_message = jpeg_emit_message_cb;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        if (err.truncated) return tac_fail("%s: truncated JPEG data", name);
        return tac_fail("%s: corrupt JPEG (%s)", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    src.init_source = src_init;
    src.fill_input_buffer = src_fill;
    src.skip_input_data = src_skip;
    src.resync_to_restart = jpeg_resync_to_restart;
    src.term_source = src_term;
    src.next_input_byte = data;
    src.bytes_in_buffer = len;
    cinfo.src = &src;
    jpeg_read_header(&cinfo, TRUE);
    if (check_dims(name, "JPEG", cinfo.image_width, cinfo.image_height) != TAC_OK) {
        jpeg_destroy_decompress(&cinfo);
        return TAC_ERR;
    }
    int nc = cinfo.num_components;
    if (nc == 1) cinfo.out_color_space = JCS_GRAYSCALE;
    else if (nc == 3) cinfo.out_color_space = JCS_RGB;
    else if (nc == 4) cinfo.out_color_space = JCS_CMYK;
    else {
        jpeg_destroy_decompress(&cinfo);
        return tac_fail("%s: unsupported JPEG with %d colour components", name, nc);
    }
    /* libjpeg's own buffers (progressive coefficient arrays) are bounded by the pixel check above. */
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, oc = cinfo.output_components;
    rgb = tac_try_malloc((size_t)w * (size_t)h, 3, name);                   /* H x W x 3 */
    if (rgb && oc != 3) row = tac_try_malloc((size_t)w, (size_t)oc, name);  /* W x oc (1 or 4) */
    if (!rgb || (oc != 3 && !row)) {   /* the reason is set */
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        return TAC_ERR;
    }
    while ((int)cinfo.output_scanline < h) {
        int y = (int)cinfo.output_scanline;
        uint8_t *o = rgb + (size_t)y * (size_t)w * 3;
        if (oc == 3) {                                           /* RGB: straight into the image, several rows */
            JSAMPROW rp[4];
            int k = 0;
            for (; k < 4 && y + k < h; k++) rp[k] = (JSAMPROW)(o + (size_t)k * w * 3);
            if (jpeg_read_scanlines(&cinfo, rp, (JDIMENSION)k) < 1) longjmp(err.jb, 1);
            continue;
        }
        JSAMPROW rp = (JSAMPROW)row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) longjmp(err.jb, 1);
        if (oc == 1) {
            for (int x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
        } else {
            for (int x = 0; x < w; x++) {
                /* Pillow reads Adobe-inverted CMYK ("CMYK;I"), then cmyk2rgb */
                int c = 255 - row[4 * x], m = 255 - row[4 * x + 1], ye = 255 - row[4 * x + 2], k = 255 - row[4 * x + 3];
                int nk = 255 - k;
                o[3 * x + 0] = (uint8_t)(nk - muldiv255(c, nk));
                o[3 * x + 1] = (uint8_t)(nk - muldiv255(m, nk));
                o[3 * x + 2] = (uint8_t)(nk - muldiv255(ye, nk));
            }
        }
    }
    /* Like Pillow, stop once every scanline is out: a missing EOI after complete data is not an error. */
    jpeg_destroy_decompress(&cinfo);
    free(row);
    img->w = w;
    img->h = h;
    img->rgb = rgb;
    return TAC_OK;
}

/* ---- PNG ---------------------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char msg[200];
    int truncated;
} png_src;

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        s->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}
static void png_error_cb(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void png_warning_cb(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int decode_png(const uint8_t *data, size_t len, const char *name, tac_image *img)
{
    png_src s = {data, len, 0, "", 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_error_cb, png_warning_cb);
    if (!png) return tac_fail("%s: cannot initialise libpng", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return tac_fail("%s: cannot initialise libpng", name);
    }
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    volatile int limit_hit = 0;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        free(buf);
        free(rows);
        if (limit_hit) return TAC_ERR;   /* reason already set */
        if (s.truncated) return tac_fail("%s: truncated PNG data", name);
        return tac_fail("%s: corrupt PNG (%s)", name, s.msg);
    }
    png_set_read_fn(png, &s, png_read_cb);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);      /* our own pixel limit applies instead */
    png_set_chunk_malloc_max(png, 64u << 20);                 /* bound ancillary chunk buffers */
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (check_dims(name, "PNG", (int64_t)w, (int64_t)h) != TAC_OK) {
        limit_hit = 1;
        png_longjmp(png, 1);
    }
    int bit_depth = png_get_bit_depth(png, info), color_type = png_get_color_type(png, info);
    int gray16 = (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16);
    /* Palette: expanded here, not by libpng, because Pillow fills entries missing from a short PLTE with the gray
     * ramp (i, i, i) while libpng uses black. */
    uint8_t pal[256][3];
    int palette = color_type == PNG_COLOR_TYPE_PALETTE;
    if (palette) {
        for (int i = 0; i < 256; i++) pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
        png_colorp plte = NULL;
        int np = 0;
        if (png_get_PLTE(png, info, &plte, &np) & PNG_INFO_PLTE)
            for (int i = 0; i < np && i < 256; i++) { pal[i][0] = plte[i].red; pal[i][1] = plte[i].green; pal[i][2] = plte[i].blue; }
        png_set_packing(png);                                  /* 1/2/4-bit indices -> one byte each */
    }
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16 && !gray16) png_set_strip_16(png);    /* high byte, as Pillow's ";16B" unpackers */
    if (gray16) png_set_swap(png);                             /* 16-bit gray: read native-endian values */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int ch = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    if (ch < 1 || ch > 4 || rowbytes < (size_t)w * (size_t)ch * (size_t)(out_depth / 8)) {
        snprintf(s.msg, sizeof s.msg, "unexpected row layout");
        png_longjmp(png, 1);
    }
    buf = tac_try_malloc((size_t)h, rowbytes, name);             /* H x rowbytes (interlaced images need all rows) */
    if (buf) rows = tac_try_malloc((size_t)h, sizeof(png_bytep), name);
    if (rows) rgb = tac_try_malloc((size_t)w * (size_t)h, 3, name);   /* H x W x 3 */
    if (!rgb) {   /* the reason is set */
        limit_hit = 1;
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + (size_t)y * rowbytes;
    png_read_image(png, rows);
    /* libpng reads chunks after IDAT lazily; we have all pixels, so png_read_end is not needed */
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *r = rows[y];
        uint8_t *o = rgb + (size_t)y * w * 3;
        if (gray16) {
            const uint16_t *r16 = (const uint16_t *)(const void *)r;
            for (png_uint_32 x = 0; x < w; x++) {
                unsigned v = r16[x];
                o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);   /* Pillow "I" -> RGB clips */
            }
        } else if (palette) {
            for (png_uint_32 x = 0; x < w; x++) memcpy(o + 3 * x, pal[r[x]], 3);
        } else if (ch >= 3) {
            for (png_uint_32 x = 0; x < w; x++) {
                o[3 * x] = r[ch * x];
                o[3 * x + 1] = r[ch * x + 1];
                o[3 * x + 2] = r[ch * x + 2];
            }
        } else {
            for (png_uint_32 x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = r[ch * x];
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(buf);
    free(rows);
    img->w = (int)w;
    img->h = (int)h;
    img->rgb = rgb;
    return TAC_OK;
}

/* ---- WebP --------------------------------------------------------------------------------------------------- */

static int decode_webp(const uint8_t *data, size_t len, const char *name, tac_image *img)
{
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(data, len, &f);
    if (st == VP8_STATUS_NOT_ENOUGH_DATA) return tac_fail("%s: truncated WebP data", name);
    if (st != VP8_STATUS_OK) return tac_fail("%s: corrupt WebP (header status %d)", name, (int)st);
    if (f.has_animation) return tac_fail("%s: animated WebP is not supported", name);
    if (check_dims(name, "WebP", f.width, f.height) != TAC_OK) return TAC_ERR;
    size_t stride = (size_t)f.width * 3;
    uint8_t *rgb = tac_try_malloc((size_t)f.height, stride, name);   /* H x W x 3 */
    if (!rgb) return TAC_ERR;
    if (!WebPDecodeRGBInto(data, len, rgb, stride * (size_t)f.height, (int)stride)) {
        free(rgb);
        /* tell truncation apart from other corruption */
        WebPDecoderConfig cfg;
        if (WebPInitDecoderConfig(&cfg)) {
            cfg.options.use_threads = 0;
            VP8StatusCode s2 = VP8_STATUS_OK;
            WebPIDecoder *idec = WebPINewDecoder(NULL);
            if (idec) {
                s2 = WebPIAppend(idec, data, len);
                WebPIDelete(idec);
            }
            if (s2 == VP8_STATUS_SUSPENDED) return tac_fail("%s: truncated WebP data", name);
        }
        return tac_fail("%s: corrupt WebP data", name);
    }
    img->w = f.width;
    img->h = f.height;
    img->rgb = rgb;
    return TAC_OK;
}

/* ---- dispatch ----------------------------------------------------------------------------------------------- */

static int image_decode(const uint8_t *data, size_t len, const char *name, tac_image *img);

int tac_image_decode(const uint8_t *data, size_t len, const char *name, tac_image *img)
{
    tl_pending = 0;
    int rc = image_decode(data, len, name, img);
    budget_settle(img, rc == TAC_OK);
    return rc;
}

static int image_decode(const uint8_t *data, size_t len, const char *name, tac_image *img)
{
    TAC_ASSERT(img);
    img->w = img->h = 0;
    img->rgb = NULL;
    if (!name) name = "image";
    if (len == 0) return tac_fail("%s: empty file", name);
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return decode_jpeg(data, len, name, img);
    if (len >= 8 && memcmp(data, png_magic, 8) == 0) return decode_png(data, len, name, img);
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return decode_webp(data, len, name, img);
    const char *other = NULL;
    if (len >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0)) other = "GIF";
    else if (len >= 2 && memcmp(data, "BM", 2) == 0) other = "BMP";
    else if (len >= 4 && (memcmp(data, "II*\0", 4) == 0 || memcmp(data, "MM\0*", 4) == 0)) other = "TIFF";
    else if (len >= 2 && data[0] == 0xff && data[1] == 0xd8) return tac_fail("%s: truncated JPEG data", name);
    else if (len < 8 && memcmp(data, png_magic, len) == 0) return tac_fail("%s: truncated PNG data", name);
    if (other) return tac_fail("%s: unsupported image format %s (JPEG, PNG and WebP are supported)", name, other);
    return tac_fail("%s: not an image (unknown format)", name);
}

int tac_image_load(const char *path, tac_image *img)
{
    TAC_ASSERT(path && img);
    img->w = img->h = 0;
    img->rgb = NULL;
    char *data = NULL;
    size_t len = 0;
    /* a FIFO, device or folder is refused unread; a file over the limit is refused before it is read */
    if (tac_read_file_max(path, &data, &len, TAC_IMAGE_MAX_FILE_BYTES) != TAC_OK) return TAC_ERR;
    int rc = tac_image_decode((const uint8_t *)data, len, path, img);
    free(data);
    return rc;
}
