/* tac_resize.c - Pillow-exact bicubic resampling (Image.resize(size, Image.BICUBIC)) of 8-bit RGB images.
 *
 *   tac_resize_bicubic(src, sw, sh, dst, dw, dh);                         // whole output, dh x dw x 3
 *   tac_resize_bicubic_window(src, sw, sh, dw, dh, x0, y0, cw, ch, dst);  // only output pixels [y0,y0+ch)x[x0,x0+cw)
 *
 * An independent C port of the algorithm of Pillow's libImaging/Resample.c (written from its description, no code
 * copied), bit-exact with Pillow 9.4:
 *   - separable filter, bicubic kernel with a = -0.5 and support 2, widened by the downscale factor
 *     (filterscale = max(1, in/out)) so that downscaling antialiases;
 *   - Image.resize without a box means the source region (0, 0, sw, sh) in float; output pixel i is centred at
 *     in0 + (i + 0.5) * scale and uses source pixels [round(center - support), round(center + support));
 *   - weights normalised to sum 1 in double, then converted to fixed point with PRECISION_BITS = 32 - 8 - 2 = 22
 *     (rounded half away from zero);
 *   - horizontal pass first (only over the source rows the vertical pass will read) into uint8 with rounding
 *     (+2^21) and clipping to 0..255, then the vertical pass the same way; a pass whose size does not change is
 *     skipped (Pillow's need_horizontal / need_vertical).
 * Each output pixel depends only on its own coefficients, so computing a window (the centre crop) gives exactly
 * the pixels the full resize would give there: tac_clip_preprocess uses this and never builds the full image.
 *
 * Two kernels for each pass: a plain scalar one (the reference) and an SSE4.1 (horizontal) / AVX2 (vertical) one,
 * compiled with TAC_TARGET_AVX2 and used when tac_cpu_level() says the CPU has AVX2 (src/core/tac_cpu.c;
 * TACLUST_ISA=scalar forces the scalar ones). Both do the same exact integer arithmetic (32-bit products and sums,
 * which cannot overflow for 8-bit input), so they agree bit for bit; tests/test_image.c checks that through
 * tac_resize_use_simd(0) and the forced scalar level.
 */
#include "taclust/image.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if TAC_X86
#include <immintrin.h>
#endif

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic_kernel(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Coefficients for output indices [o0, o0 + n) of a resize of `insize` source pixels (region [0, insize)) to
 * `outsize`. Fills bounds (n x 2: first source index, count) and kk (n x ksize, fixed point); returns ksize, or
 * TAC_ERR (reason set, nothing allocated) when the memory cannot be had. */
static int coeffs(int insize, int outsize, int o0, int n, int **bounds_out, int32_t **kk_out)
{
    double in0 = 0.0, in1 = (double)(float)insize;     /* Pillow keeps the box in float */
    double scale = (in1 - in0) / outsize, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = tac_try_malloc((size_t)n * 2, sizeof(int), "resize: coefficients");                /* n x 2 */
    int32_t *kk = tac_try_calloc((size_t)n * (size_t)ksize, sizeof(int32_t), "resize: coefficients"); /* n x ksize */
    double *w = tac_try_malloc((size_t)ksize, sizeof(double), "resize: coefficients");               /* ksize */
    if (!bounds || !kk || !w) { free(bounds); free(kk); free(w); return TAC_ERR; }
    for (int i = 0; i < n; i++) {
        int xx = o0 + i;
        double center = in0 + (xx + 0.5) * scale, ss = 1.0 / filterscale, sum = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > insize) xmax = insize;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize;   /* cannot happen (support bound); keeps the buffer safe */
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic_kernel((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            kk[(size_t)i * ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * i] = xmin;
        bounds[2 * i + 1] = xmax < 0 ? 0 : xmax;
    }
    free(w);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (255 << PRECISION_BITS)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

static int use_simd = 1;
void tac_resize_use_simd(int on) { use_simd = on; }

/* One row, horizontal taps: in is a source row padded with at least one readable byte after its last pixel;
 * out gets cw pixels and may be written one byte past its end. */
static void hpass_row_scalar(const uint8_t *in, uint8_t *out, int cw, const int *hb, const int32_t *hk, int hks)
{
    for (int xx = 0; xx < cw; xx++) {
        const int32_t *k = hk + (size_t)xx * hks;
        const uint8_t *p = in + (size_t)hb[2 * xx] * 3;
        int n = hb[2 * xx + 1];
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < n; x++) {
            s0 += p[3 * x] * k[x];
            s1 += p[3 * x + 1] * k[x];
            s2 += p[3 * x + 2] * k[x];
        }
        out[3 * xx] = clip8(s0);
        out[3 * xx + 1] = clip8(s1);
        out[3 * xx + 2] = clip8(s2);
    }
}

#if TAC_X86
TAC_TARGET_AVX2 static inline __m128i px4(const uint8_t *p)      /* bytes p[0..3] -> 4 x int32 (the 4th is the next pixel's R) */
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
}
TAC_TARGET_AVX2 static void hpass_row_sse(const uint8_t *in, uint8_t *out, int cw, const int *hb, const int32_t *hk, int hks)
{
    for (int xx = 0; xx < cw; xx++) {
        const int32_t *k = hk + (size_t)xx * hks;
        const uint8_t *p = in + (size_t)hb[2 * xx] * 3;
        int n = hb[2 * xx + 1], x = 0;
        __m128i a0 = _mm_set1_epi32(1 << (PRECISION_BITS - 1)), a1 = _mm_setzero_si128();
        for (; x + 1 < n; x += 2) {
            a0 = _mm_add_epi32(a0, _mm_mullo_epi32(px4(p + 3 * x), _mm_set1_epi32(k[x])));
            a1 = _mm_add_epi32(a1, _mm_mullo_epi32(px4(p + 3 * x + 3), _mm_set1_epi32(k[x + 1])));
        }
        if (x < n) a0 = _mm_add_epi32(a0, _mm_mullo_epi32(px4(p + 3 * x), _mm_set1_epi32(k[x])));
        a0 = _mm_srai_epi32(_mm_add_epi32(a0, a1), PRECISION_BITS);     /* then saturating packs = clip8 */
        __m128i b = _mm_packus_epi16(_mm_packus_epi32(a0, a0), a0);
        int32_t v = _mm_cvtsi128_si32(b);
        memcpy(out + 3 * xx, &v, 4);                                    /* 4th byte overwritten next */
    }
}
#endif

/* One output row, vertical taps over rows tmp[ymin .. ymin+n) of n3 bytes each. */
static void vpass_row_scalar(const uint8_t *tmp, int n3, int ymin, int n, const int32_t *k, int32_t *acc, uint8_t *o)
{
    for (int i = 0; i < n3; i++) acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < n; y++) {
        const uint8_t *row = tmp + (size_t)(ymin + y) * n3;
        int32_t kv = k[y];
        for (int i = 0; i < n3; i++) acc[i] += row[i] * kv;
    }
    for (int i = 0; i < n3; i++) o[i] = clip8(acc[i]);
}

#if TAC_X86
TAC_TARGET_AVX2 static void vpass_row_avx2(const uint8_t *tmp, int n3, int ymin, int n, const int32_t *k, int32_t *acc, uint8_t *o)
{
    int i = 0;
    const uint8_t *base = tmp + (size_t)ymin * n3;
    for (; i + 8 <= n3; i += 8) {
        __m256i a = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
        const uint8_t *p = base + i;
        for (int y = 0; y < n; y++, p += n3)
            a = _mm256_add_epi32(a, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)),
                                                       _mm256_set1_epi32(k[y])));
        a = _mm256_srai_epi32(a, PRECISION_BITS);
        __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        _mm_storel_epi64((__m128i *)(void *)(o + i), _mm_packus_epi16(w, w));
    }
    for (; i < n3; i++) {
        int32_t s = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) s += base[(size_t)y * n3 + i] * k[y];
        o[i] = clip8(s);
    }
    (void)acc;
}
#endif

int tac_resize_bicubic_window(const uint8_t *src /* sh x sw x 3 */, int sw, int sh, int dw, int dh,
                              int x0, int y0, int cw, int ch, uint8_t *dst /* ch x cw x 3 */)
{
    TAC_ASSERT(src && dst);
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return tac_fail("resize: sizes must be positive (%dx%d to %dx%d)", sw, sh, dw, dh);
    if (x0 < 0 || y0 < 0 || cw <= 0 || ch <= 0 || x0 > dw - cw || y0 > dh - ch)
        return tac_fail("resize: window %dx%d at (%d, %d) is not inside the %dx%d result", cw, ch, x0, y0, dw, dh);
    int need_h = dw != sw, need_v = dh != sh;
    int simd = use_simd && tac_cpu_level() >= TAC_ISA_AVX2;
    /* vertical coefficients of the window rows, and the source rows they read */
    int *vb = NULL;
    int32_t *vk = NULL;
    int vks = 0, r0, r1;                                   /* source rows [r0, r1) */
    if (need_v) {
        vks = coeffs(sh, dh, y0, ch, &vb, &vk);
        if (vks == TAC_ERR) return TAC_ERR;
        r0 = vb[0];
        r1 = vb[2 * (ch - 1)] + vb[2 * (ch - 1) + 1];
        for (int i = 0; i < ch; i++) if (vb[2 * i] < r0) r0 = vb[2 * i];
        for (int i = 0; i < ch; i++) if (vb[2 * i] + vb[2 * i + 1] > r1) r1 = vb[2 * i] + vb[2 * i + 1];
        if (r1 <= r0) r1 = r0 + 1;
    } else {
        r0 = y0;
        r1 = y0 + ch;
    }
    int nr = r1 - r0;
    /* horizontal pass: rows [r0, r1) of the source, window columns only -> tmp (nr x cw x 3) */
    uint8_t *tmp = tac_try_malloc((size_t)nr * (size_t)cw * 3 + 4, 1, "resize: rows");   /* +4: the SIMD row kernel's last store */
    int32_t *acc = NULL;                                                                  /* cw*3 (vertical pass) */
    if (tmp && need_v) acc = tac_try_malloc((size_t)cw * 3, sizeof(int32_t), "resize: row sums");
    if (!tmp || (need_v && !acc)) { free(tmp); free(vb); free(vk); return TAC_ERR; }
    if (need_h) {
        int *hb = NULL;
        int32_t *hk = NULL;
        int hks = coeffs(sw, dw, x0, cw, &hb, &hk);
        uint8_t *pad = hks == TAC_ERR ? NULL : tac_try_malloc((size_t)sw * 3 + 4, 1, "resize: source row"); /* one source row + slack for 4-byte loads */
        if (!pad) { free(hb); free(hk); free(tmp); free(acc); free(vb); free(vk); return TAC_ERR; }
        for (int y = 0; y < nr; y++) {
            memcpy(pad, src + (size_t)(r0 + y) * sw * 3, (size_t)sw * 3);
            pad[(size_t)sw * 3] = 0;
            uint8_t *out = tmp + (size_t)y * cw * 3;
#if TAC_X86
            if (simd) { hpass_row_sse(pad, out, cw, hb, hk, hks); continue; }
#endif
            hpass_row_scalar(pad, out, cw, hb, hk, hks);
        }
        free(pad);
        free(hb);
        free(hk);
    } else {
        for (int y = 0; y < nr; y++) memcpy(tmp + (size_t)y * cw * 3, src + ((size_t)(r0 + y) * sw + x0) * 3, (size_t)cw * 3);
    }
    /* vertical pass: tmp -> dst */
    if (need_v) {
        int n3 = cw * 3;
        for (int yy = 0; yy < ch; yy++) {
            const int32_t *k = vk + (size_t)yy * vks;
            uint8_t *o = dst + (size_t)yy * n3;
#if TAC_X86
            if (simd) { vpass_row_avx2(tmp, n3, vb[2 * yy] - r0, vb[2 * yy + 1], k, acc, o); continue; }
#endif
            vpass_row_scalar(tmp, n3, vb[2 * yy] - r0, vb[2 * yy + 1], k, acc, o);
        }
        free(acc);
        free(vb);
        free(vk);
    } else {
        memcpy(dst, tmp, (size_t)ch * cw * 3);
    }
    free(tmp);
    return TAC_OK;
}

int tac_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    return tac_resize_bicubic_window(src, sw, sh, dw, dh, 0, 0, dw, dh, dst);
}
