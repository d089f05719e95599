/* test_image.c - image decoding, Pillow bicubic resize and CLIP preprocessing against golden files.
 *
 * tests/fixtures/image/ is made by tools/gen_image_fixtures.py with Pillow 9.4 and torch: every decoded image,
 * resize and preprocessed tensor must match bit-exactly (checksums over all bytes / float32 bit patterns, see that
 * script). The shared references (../shared/reference/clip-vit-base-patch32) check the OpenAI preprocessing of
 * franz-kafka.jpg and the Hugging Face CLIPProcessor pixels of white.jpg (< 1e-5). Bad inputs must fail with a
 * clear reason and never crash; the CLI is run on a real photo.
 */
#include "tac_test.h"
#include "taclust/image.h"
#include "core/tac_cpu.h"

#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/image/"

static uint64_t checksum_u8(const uint8_t *v, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += (uint64_t)v[i] * (2 * (uint64_t)i + 1);
    return s;
}

static uint64_t checksum_f32(const float *v, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        s += (uint64_t)b * (2 * (uint64_t)i + 1);
    }
    return s;
}

/* expected.txt records, split into whitespace-separated fields */
typedef struct { char *f[800]; int n; } rec;
static rec *load_expected(int *nrec)
{
    char **lines;
    int64_t n;
    if (tac_read_lines(FIX "expected.txt", &lines, &n, 1) != TAC_OK) return NULL;
    rec *r = tac_xcalloc((size_t)n, sizeof(rec));
    for (int64_t i = 0; i < n; i++) {
        char *save = NULL;
        for (char *t = strtok_r(lines[i], " ", &save); t && r[i].n < 800; t = strtok_r(NULL, " ", &save))
            r[i].f[r[i].n++] = tac_xstrdup(t);
    }
    tac_free_strings(lines, n);
    *nrec = (int)n;
    return r;
}
static void free_expected(rec *r, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r[i].n; j++) free(r[i].f[j]);
    free(r);
}

TAC_TEST(image_decode_matches_pillow)
{
    int n, checked = 0;
    rec *r = load_expected(&n);
    TAC_REQUIRE(r);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].f[0], "decode") != 0) continue;
        tac_image img;
        const char *path = tac_test_path(FIX, r[i].f[1]);
        if (tac_image_load(path, &img) != TAC_OK) {
            tac_test_fail_at(__FILE__, __LINE__, "%s: %s", r[i].f[1], tac_last_error());
            continue;
        }
        uint64_t want = strtoull(r[i].f[4], NULL, 10), got = checksum_u8(img.rgb, (size_t)img.w * img.h * 3);
        if (img.w != atoi(r[i].f[2]) || img.h != atoi(r[i].f[3]) || got != want)
            tac_test_fail_at(__FILE__, __LINE__, "%s: decoded %dx%d checksum %llu, Pillow %sx%s %llu", r[i].f[1], img.w,
                             img.h, (unsigned long long)got, r[i].f[2], r[i].f[3], (unsigned long long)want);
        tac_image_free(&img);
        checked++;
    }
    TAC_CHECK(checked >= 25);
    free_expected(r, n);
}

TAC_TEST(image_resize_matches_pillow)
{
    int n, checked = 0;
    rec *r = load_expected(&n);
    TAC_REQUIRE(r);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].f[0], "resize") != 0) continue;
        tac_image img;
        TAC_CHECK_OK(tac_image_load(tac_test_path(FIX, r[i].f[1]), &img));
        int dw = atoi(r[i].f[2]), dh = atoi(r[i].f[3]);
        uint8_t *out = tac_xmalloc((size_t)dw * dh, 3);
        tac_resize_bicubic(img.rgb, img.w, img.h, out, dw, dh);
        uint64_t want = strtoull(r[i].f[4], NULL, 10), got = checksum_u8(out, (size_t)dw * dh * 3);
        if (got != want)
            tac_test_fail_at(__FILE__, __LINE__, "%s -> %dx%d: checksum %llu, Pillow %llu", r[i].f[1], dw, dh,
                             (unsigned long long)got, (unsigned long long)want);
        free(out);
        tac_image_free(&img);
        checked++;
    }
    TAC_CHECK(checked >= 25);
    free_expected(r, n);
}

TAC_TEST(image_clip_preprocess_matches_torch_and_hf)
{
    int n, checked = 0;
    rec *r = load_expected(&n);
    TAC_REQUIRE(r);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].f[0], "clip") != 0) continue;
        tac_image img;
        TAC_CHECK_OK(tac_image_load(tac_test_path(FIX, r[i].f[1]), &img));
        int hf = strcmp(r[i].f[2], "hf") == 0, resize = atoi(r[i].f[3]), crop = atoi(r[i].f[4]);
        /* the uint8 crop, with offsets computed here independently (rint = half to even) */
        int nw, nh;
        TAC_CHECK_OK(tac_clip_resized_size(img.w, img.h, resize, &nw, &nh));
        fesetround(FE_TONEAREST);
        int top = hf ? (nh - crop) / 2 : (int)rint((nh - crop) / 2.0);
        int left = hf ? (nw - crop) / 2 : (int)rint((nw - crop) / 2.0);
        uint8_t *win = tac_xmalloc((size_t)crop * crop, 3);
        tac_resize_bicubic_window(img.rgb, img.w, img.h, nw, nh, left, top, crop, crop, win);
        uint64_t want_u8 = strtoull(r[i].f[5], NULL, 10), want_f = strtoull(r[i].f[6], NULL, 10);
        uint64_t got_u8 = checksum_u8(win, (size_t)crop * crop * 3);
        float *x = tac_xmalloc((size_t)3 * crop * crop, sizeof(float));   /* 3 x crop x crop */
        TAC_CHECK_OK(tac_clip_preprocess_mode(&img, resize, crop, hf ? TAC_PREPROC_HF : TAC_PREPROC_OPENAI, x));
        uint64_t got_f = checksum_f32(x, (size_t)3 * crop * crop);
        double sum = 0;
        for (size_t j = 0; j < (size_t)3 * crop * crop; j++) sum += x[j];
        if (got_u8 != want_u8 || got_f != want_f)
            tac_test_fail_at(__FILE__, __LINE__, "%s %s resize %d: crop checksum %s, tensor checksum %s (sum %.6f vs %s)",
                             r[i].f[1], r[i].f[2], resize, got_u8 == want_u8 ? "ok" : "DIFFERS",
                             got_f == want_f ? "ok" : "DIFFERS", sum, r[i].f[7]);
        TAC_CHECK_NEAR(sum, atof(r[i].f[7]), 1e-6 * 3 * crop * crop);
        free(x);
        free(win);
        tac_image_free(&img);
        checked++;
    }
    TAC_CHECK(checked >= 30);
    free_expected(r, n);
}

/* Every uint8 value through the normalisation must give torch's (openai) or numpy's (hf) float32 exactly. */
TAC_TEST(image_normalisation_table_matches_torch)
{
    int n, checked = 0;
    rec *r = load_expected(&n);
    TAC_REQUIRE(r);
    tac_image img = {224, 224, tac_xmalloc(224 * 224, 3)};      /* value (y*224+x) % 256 in every channel */
    for (int i = 0; i < 224 * 224; i++) img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = (uint8_t)(i % 256);
    float *x = tac_xmalloc(3 * 224 * 224, sizeof(float));
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].f[0], "lut") != 0) continue;
        TAC_REQUIRE(r[i].n == 2 + 768);
        int hf = strcmp(r[i].f[1], "hf") == 0;
        TAC_CHECK_OK(tac_clip_preprocess_mode(&img, 224, 224, hf ? TAC_PREPROC_HF : TAC_PREPROC_OPENAI, x));
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++) {
                float want = strtof(r[i].f[2 + c * 256 + v], NULL), got = x[c * 224 * 224 + v];
                if (got != want && bad++ < 3)
                    tac_test_fail_at(__FILE__, __LINE__, "%s channel %d value %d: %.9g, reference %.9g", r[i].f[1], c, v, got, want);
            }
        checked++;
    }
    TAC_CHECK_INT(checked, 2);
    free(x);
    tac_image_free(&img);
    free_expected(r, n);
}

/* The window resize is what preprocessing uses: it must equal cropping the full resize, for up- and downscaling. */
TAC_TEST(image_resize_window_equals_full)
{
    tac_mt rng;
    tac_mt_seed(&rng, 7);
    int sizes[][4] = {{97, 61, 40, 25}, {13, 17, 64, 51}, {50, 50, 50, 31}, {40, 9, 40, 9}, {5, 300, 224, 13440}};
    for (int t = 0; t < 5; t++) {
        int sw = sizes[t][0], sh = sizes[t][1], dw = sizes[t][2], dh = sizes[t][3];
        uint8_t *src = tac_xmalloc((size_t)sw * sh, 3);
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++) src[i] = (uint8_t)(tac_mt_next(&rng) >> 24);
        uint8_t *full = tac_xmalloc((size_t)dw * dh, 3);
        tac_resize_bicubic(src, sw, sh, full, dw, dh);
        int x0 = dw / 3, y0 = dh / 4, cw = dw - x0 - dw / 5, ch = dh - y0 - dh / 7;
        uint8_t *win = tac_xmalloc((size_t)cw * ch, 3);
        tac_resize_bicubic_window(src, sw, sh, dw, dh, x0, y0, cw, ch, win);
        int diff = 0;
        for (int y = 0; y < ch; y++) diff += memcmp(win + (size_t)y * cw * 3, full + ((size_t)(y0 + y) * dw + x0) * 3, (size_t)cw * 3) != 0;
        TAC_CHECK_INT(diff, 0);
        if (sw == dw && sh == dh) TAC_CHECK(memcmp(src, full, (size_t)sw * sh * 3) == 0);   /* same size: a copy */
        free(src); free(full); free(win);
    }
}

/* The SIMD kernels must agree with the scalar reference kernels bit for bit, on up- and downscales of odd sizes. */
TAC_TEST(image_resize_simd_equals_scalar)
{
    tac_mt rng;
    tac_mt_seed(&rng, 9);
    for (int t = 0; t < 40; t++) {
        int sw = 1 + (int)tac_mt_below(&rng, 90), sh = 1 + (int)tac_mt_below(&rng, 90);
        int dw = 1 + (int)tac_mt_below(&rng, 120), dh = 1 + (int)tac_mt_below(&rng, 120);
        uint8_t *src = tac_xmalloc((size_t)sw * sh, 3);
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++) src[i] = (tac_mt_next(&rng) & 1) ? 255 : (uint8_t)(tac_mt_next(&rng) >> 24);
        uint8_t *a = tac_xmalloc((size_t)dw * dh, 3), *b = tac_xmalloc((size_t)dw * dh, 3);
        tac_resize_use_simd(1);
        tac_resize_bicubic(src, sw, sh, a, dw, dh);
        tac_resize_use_simd(0);
        tac_resize_bicubic(src, sw, sh, b, dw, dh);
        tac_resize_use_simd(1);
        if (memcmp(a, b, (size_t)dw * dh * 3) != 0) tac_test_fail_at(__FILE__, __LINE__, "%dx%d -> %dx%d: SIMD differs from scalar", sw, sh, dw, dh);
        free(src); free(a); free(b);
    }
}

/* Read a little-endian float32 .npy of any shape; returns the element count or -1. */
static long load_npy_any(const char *path, float **out)
{
    char *d;
    size_t len;
    if (tac_read_file(path, &d, &len) != TAC_OK || len < 10 || memcmp(d, "\x93NUMPY", 6) != 0) return -1;
    size_t hl = d[6] == 1 ? (size_t)(uint8_t)d[8] | (size_t)(uint8_t)d[9] << 8 : 0, off = 10 + hl;
    if (!hl || off > len || !strstr(d + 10, "'<f4'")) { free(d); return -1; }
    long n = (long)((len - off) / 4);
    *out = tac_xmalloc((size_t)n, sizeof(float));
    memcpy(*out, d + off, (size_t)n * 4);
    free(d);
    return n;
}

TAC_TEST(image_reference_openai_preprocess_kafka)
{
    char jpg[512], npy[512];
    snprintf(jpg, sizeof jpg, "%s/reference/clip-vit-base-patch32/franz-kafka.jpg", tac_test_shared());
    snprintf(npy, sizeof npy, "%s/reference/clip-vit-base-patch32/franz-kafka.openai-preprocessed.npy", tac_test_shared());
    float *ref;
    long n = load_npy_any(npy, &ref);
    if (n < 0) TAC_SKIP("no ../shared/reference/clip-vit-base-patch32/franz-kafka.openai-preprocessed.npy");
    TAC_REQUIRE(n == 3 * 224 * 224);
    tac_image img;
    TAC_CHECK_OK(tac_image_load(jpg, &img));
    TAC_CHECK(img.w == 450 && img.h == 655);
    float *x = tac_xmalloc(3 * 224 * 224, sizeof(float));
    TAC_CHECK_OK(tac_clip_preprocess(&img, 224, 224, x));
    tac_test_compare("kafka openai preprocess", x, ref, (size_t)n, 1e-5);
    free(x); free(ref);
    tac_image_free(&img);
}

TAC_TEST(image_reference_hf_pixel_values_white)
{
    char jpg[512], raw[512];
    snprintf(jpg, sizeof jpg, "%s/reference/clip-vit-base-patch32/white.jpg", tac_test_shared());
    snprintf(raw, sizeof raw, "%s/reference/clip-vit-base-patch32/white.hf-pixel-values.f32", tac_test_shared());
    char *d;
    size_t len;
    if (tac_read_file(raw, &d, &len) != TAC_OK) TAC_SKIP("no ../shared/reference/clip-vit-base-patch32/white.hf-pixel-values.f32");
    TAC_REQUIRE(len == 3 * 224 * 224 * 4);
    tac_image img;
    TAC_CHECK_OK(tac_image_load(jpg, &img));
    float *x = tac_xmalloc(3 * 224 * 224, sizeof(float));
    TAC_CHECK_OK(tac_clip_preprocess_mode(&img, 224, 224, TAC_PREPROC_HF, x));
    tac_test_compare("white hf preprocess", x, (const float *)(const void *)d, 3 * 224 * 224, 1e-5);
    TAC_CHECK_OK(tac_clip_preprocess_mode(&img, 224, 224, TAC_PREPROC_OPENAI, x));
    tac_test_compare("white openai preprocess vs hf", x, (const float *)(const void *)d, 3 * 224 * 224, 1e-5);
    free(x); free(d);
    tac_image_free(&img);
}

TAC_TEST(image_bad_inputs_give_clear_errors)
{
    tac_image img;
    TAC_CHECK_ERR(tac_image_load(FIX "bad_truncated.jpg", &img), "bad_truncated.jpg: truncated JPEG data");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_empty.jpg", &img), "bad_empty.jpg: empty file");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_notes.jpg", &img), "bad_notes.jpg: not an image (unknown format)");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_huge_20000x20000.png", &img), "20000x20000 image exceeds the pixel limit");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_crc.png", &img), "bad_crc.png: corrupt PNG (IHDR: CRC error)");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_truncated.png", &img), "bad_truncated.png: truncated PNG data");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_random.bin", &img), "bad_random.bin: not an image");
    TAC_CHECK_ERR(tac_image_load(FIX "bad_truncated.webp", &img), "bad_truncated.webp: truncated WebP data");
    TAC_CHECK_ERR(tac_image_load(FIX "does_not_exist.jpg", &img), "cannot open");
    TAC_CHECK(img.rgb == NULL);
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
    TAC_CHECK_ERR(tac_image_decode(gif, sizeof gif - 1, "anim.gif", &img), "anim.gif: unsupported image format GIF");
}

/* Every prefix (step 37) and a few bit flips of good files: an error or an image, never a crash or a leak. */
TAC_TEST(image_truncations_and_flips_never_crash)
{
    const char *files[] = {"progressive.jpg", "cmyk.jpg", "interlaced.png", "rgb16.png", "lossy.webp", "lossless_alpha.webp"};
    tac_mt rng;
    tac_mt_seed(&rng, 11);
    for (int f = 0; f < 6; f++) {
        char *d;
        size_t len;
        TAC_CHECK_OK(tac_read_file(tac_test_path(FIX, files[f]), &d, &len));
        int errs = 0, oks = 0;
        for (size_t cut = 0; cut < len; cut += 37) {
            tac_image img;
            if (tac_image_decode((const uint8_t *)d, cut, files[f], &img) == TAC_OK) { oks++; tac_image_free(&img); }
            else { errs++; TAC_CHECK(strstr(tac_last_error(), files[f]) != NULL); }
        }
        TAC_CHECK(errs > 0);
        uint8_t *m = tac_xmalloc(len, 1);
        for (int t = 0; t < 40; t++) {
            memcpy(m, d, len);
            for (int k = 0; k < 3; k++) m[16 + tac_mt_below(&rng, len - 16)] ^= (uint8_t)(1u << tac_mt_below(&rng, 8));
            tac_image img;
            if (tac_image_decode(m, len, files[f], &img) == TAC_OK) tac_image_free(&img);
        }
        free(m);
        free(d);
    }
}

TAC_TEST(image_pixel_limit_checked_before_decoding)
{
    tac_image img;
    tac_image_set_pixel_limit(700);
    TAC_CHECK_ERR(tac_image_load(FIX "rgb420.jpg", &img), "67x45 image exceeds the pixel limit");
    TAC_CHECK_ERR(tac_image_load(FIX "rgb8.png", &img), "31x23 image exceeds the pixel limit");
    TAC_CHECK_ERR(tac_image_load(FIX "lossy.webp", &img), "44x33 image exceeds the pixel limit");
    tac_image_set_pixel_limit(0);
    TAC_CHECK_OK(tac_image_load(FIX "rgb420.jpg", &img));
    tac_image_free(&img);
}

TAC_TEST(image_thumbnail_roundtrip)
{
    tac_image img, back;
    TAC_CHECK_OK(tac_image_load(FIX "odd_666x448.jpg", &img));
    uint8_t *jpg;
    size_t len;
    TAC_CHECK_OK(tac_image_thumbnail_jpeg(&img, 128, 90, &jpg, &len));
    TAC_CHECK_OK(tac_image_decode(jpg, len, "thumb", &back));
    TAC_CHECK_INT(back.w, 128);
    TAC_CHECK_INT(back.h, 86);            /* 448 * 128 / 666 = 86.1 */
    uint8_t *small = tac_xmalloc(128 * 86, 3);
    tac_resize_bicubic(img.rgb, img.w, img.h, small, 128, 86);
    /* the picture is noisy by design, so compare 8x8 block means (JPEG keeps low frequencies) */
    double mad = 0;
    int nb = 0;
    for (int by = 0; by + 8 <= 86; by += 8)
        for (int bx = 0; bx + 8 <= 128; bx += 8)
            for (int c = 0; c < 3; c++) {
                double d = 0;
                for (int y = by; y < by + 8; y++)
                    for (int x = bx; x < bx + 8; x++) d += (int)small[(y * 128 + x) * 3 + c] - (int)back.rgb[(y * 128 + x) * 3 + c];
                mad += fabs(d / 64);
                nb++;
            }
    mad /= nb;
    if (!(mad < 2.0)) tac_test_fail_at(__FILE__, __LINE__, "thumbnail block means differ by %.2f levels on average", mad);
    free(jpg); free(small);
    tac_image_free(&back);
    /* a small image is not enlarged */
    tac_image tiny;
    TAC_CHECK_OK(tac_image_load(FIX "tiny_1x1.png", &tiny));
    TAC_CHECK_OK(tac_image_thumbnail_jpeg(&tiny, 128, 90, &jpg, &len));
    TAC_CHECK_OK(tac_image_decode(jpg, len, "thumb", &back));
    TAC_CHECK(back.w == 1 && back.h == 1);
    free(jpg);
    TAC_CHECK_ERR(tac_image_thumbnail_jpeg(&tiny, 128, 0, &jpg, &len), "quality");
    TAC_CHECK(jpg == NULL);
    tac_image_free(&back);
    tac_image_free(&tiny);
    tac_image_free(&img);
}

TAC_TEST(image_cli_preprocess)
{
    const char *dir = tac_test_tmpdir(), *out = tac_test_path(dir, "k.npy");
    char jpg[512], npy[512];
    snprintf(jpg, sizeof jpg, "%s/reference/clip-vit-base-patch32/franz-kafka.jpg", tac_test_shared());
    snprintf(npy, sizeof npy, "%s/reference/clip-vit-base-patch32/franz-kafka.openai-preprocessed.npy", tac_test_shared());
    float *ref, *x;
    if (load_npy_any(npy, &ref) < 0) TAC_SKIP("no shared reference");
    TAC_CHECK_INT(tac_test_sh("%s preprocess %s --out %s --quiet", tac_test_bin(), jpg, out), 0);
    long n = load_npy_any(out, &x);
    TAC_REQUIRE(n == 3 * 224 * 224);
    tac_test_compare("cli preprocess vs openai", x, ref, (size_t)n, 1e-5);
    char *d;
    size_t len;
    TAC_CHECK_OK(tac_read_file(out, &d, &len));
    TAC_CHECK(len > 10 && strstr(d + 10, "'shape': (1, 3, 224, 224)") != NULL);
    free(d); free(x); free(ref);
    /* --resize 256 on the 666x448 fixture: compare with the library directly */
    const char *out2 = tac_test_path(dir, "o.npy");
    TAC_CHECK_INT(tac_test_sh("%s preprocess " FIX "odd_666x448.jpg --resize 256 --out %s", tac_test_bin(), out2), 0);
    TAC_REQUIRE(load_npy_any(out2, &x) == 3 * 224 * 224);
    tac_image img;
    TAC_CHECK_OK(tac_image_load(FIX "odd_666x448.jpg", &img));
    float *y = tac_xmalloc(3 * 224 * 224, sizeof(float));
    TAC_CHECK_OK(tac_clip_preprocess(&img, 256, 224, y));
    TAC_CHECK(memcmp(x, y, 3 * 224 * 224 * sizeof(float)) == 0);
    free(x); free(y);
    tac_image_free(&img);
    /* errors: bad image -> 1 with the file named; usage -> 2 */
    const char *err = tac_test_path(dir, "err.txt");
    TAC_CHECK_INT(tac_test_sh("%s preprocess " FIX "bad_notes.jpg --out %s 2>%s", tac_test_bin(), out2, err), 1);
    TAC_CHECK_OK(tac_read_file(err, &d, &len));
    TAC_CHECK(strstr(d, "taclust preprocess: " FIX "bad_notes.jpg: not an image (unknown format)") != NULL);
    free(d);
    TAC_CHECK_INT(tac_test_sh("%s preprocess %s --out %s --resize 300 2>/dev/null", tac_test_bin(), jpg, out2), 2);
    TAC_CHECK_INT(tac_test_sh("%s preprocess %s 2>/dev/null", tac_test_bin(), jpg), 2);
}
