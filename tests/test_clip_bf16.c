/* test_clip_bf16.c - tests of the precision setting of the CLIP towers (src/clip/tac_clip_bf16.c):
 *   - bf16 against fp32 on the committed tiny model: per-row cosine of image features, prompt features and the
 *     7-template noun ensemble >= 0.999, and the best noun of every image the same; bf16 really ran (the features
 *     differ from fp32's). Only where the CPU has bf16 (and TACLUST_NO_BF16 is unset): "skipped" elsewhere.
 *   - fp32 is today's path bit for bit: fp32 after bf16 == a fresh fp32 model, and the torch fixture still holds.
 *   - the setting's parsing and errors (TACLUST_NO_BF16=1 acts as a CPU without bf16), cache keys by precision,
 *     and the CLI's --precision on the embedding commands.
 *   - optional, full size: TACLUST_CLIP_B32_RANDOM (tools/gen_clip_fixtures.py b32 DIR) with 250 ImageNet photos
 *     from ../shared/datasets/imagenet-sample-250.tar and 2,000 WordNet nouns x 7 templates: min and mean cosine,
 *     best-noun agreement >= 99%.
 */
#include "tac_test.h"

#include <stdint.h>
#include <sys/stat.h>

#include "app/tac_app.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/textspace.h"

#define TINY "tests/fixtures/clip/tiny"

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

/* The reason bf16 cannot be tested here, or NULL. */
static const char *no_bf16_reason(void)
{
    const char *no = getenv("TACLUST_NO_BF16");
    if (no && *no && strcmp(no, "0") != 0) return "bf16 checks skipped: TACLUST_NO_BF16 forces fp32";
    if (!tac_clip_bf16_available()) return "bf16 checks skipped: this CPU has no AVX512-BF16 or AMX-BF16";
    return NULL;
}

/* n x 3 x s x s pixels in [-1, 1) from an integer hash (as test_clip.c's pattern). */
static float *pixels(int n, int s)
{
    size_t per = 3 * (size_t)s * s;
    float *px = tac_xmalloc((size_t)n * per, sizeof(float));
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < per; i++) {
            uint64_t h = ((uint64_t)i * 2654435761ull + (uint64_t)(b * 131 + 7)) & 0xFFFFFFFFull;
            px[(size_t)b * per + i] = (float)((h >> 8) & 1023) / 512.0f - 1.0f;
        }
    return px;
}

/* Per-row cosine of a and b (rows x e): min and mean into *mn, *mean; fails below lim. */
static void cosines(const char *label, const float *a, const float *b, int64_t rows, int e, double lim, double *mn,
                    double *mean)
{
    double lo = 2, sum = 0;
    for (int64_t i = 0; i < rows; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < e; j++) {
            double x = a[i * e + j], y = b[i * e + j];
            ab += x * y; aa += x * x; bb += y * y;
        }
        double c = ab / sqrt(aa * bb + 1e-300);
        if (!(c >= lo)) lo = c;                    /* NaN counts as worst */
        sum += c;
    }
    *mn = lo; *mean = sum / (double)rows;
    printf("    %s: %lld rows, cosine bf16 vs fp32 min %.6f mean %.6f (need >= %.3f)\n", label, (long long)rows, lo,
           *mean, lim);
    if (!(lo >= lim)) tac_test_fail_at(__FILE__, __LINE__, "%s: min cosine %.6f < %.3f", label, lo, lim);
}

/* Row argmax of X (n x e) . T^T (m x e). */
static void best_noun(const float *X, int64_t n, const float *T, int64_t m, int e, int *best)
{
    for (int64_t i = 0; i < n; i++) {
        double bv = -1e300;
        for (int64_t k = 0; k < m; k++) {
            double d = 0;
            for (int j = 0; j < e; j++) d += (double)X[i * e + j] * T[k * e + j];
            if (d > bv) { bv = d; best[i] = (int)k; }
        }
    }
}

/* The fraction of images whose best noun is the same in both precisions; fails below lim. */
static double agreement(const float *X32, const float *X16, int64_t n, const float *T32, const float *T16,
                        int64_t m, int e, double lim)
{
    int *b32 = tac_xmalloc((size_t)n, sizeof(int)), *b16 = tac_xmalloc((size_t)n, sizeof(int));
    best_noun(X32, n, T32, m, e, b32);
    best_noun(X16, n, T16, m, e, b16);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += b32[i] == b16[i];
    double f = (double)same / (double)n;
    printf("    best noun of %lld images over %lld nouns: the same for %.2f%% (need >= %.0f%%)\n", (long long)n,
           (long long)m, 100 * f, 100 * lim);
    if (!(f >= lim)) tac_test_fail_at(__FILE__, __LINE__, "best-noun agreement %.4f < %.2f", f, lim);
    free(b32); free(b16);
    return f;
}

/* Every k-th WordNet noun, n of them (the caller frees with tac_free_strings(.., n)); NULL without WordNet. */
static char **some_nouns(int64_t want, int64_t *n)
{
    char **all; int64_t m;
    if (tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &all, &m) != TAC_OK || m < want) return NULL;
    char **out = tac_xmalloc((size_t)want, sizeof(char *));
    for (int64_t i = 0; i < want; i++) out[i] = tac_xstrdup(all[i * (m / want)]);
    tac_free_strings(all, m);
    *n = want;
    return out;
}

/* ---- the setting ----------------------------------------------------------------------------------------- */
TAC_TEST(clip_precision_parse_and_errors)
{
    int p = -1, r = -1;
    TAC_CHECK_OK(tac_clip_parse_precision("auto", &p)); TAC_CHECK_INT(p, TAC_CLIP_AUTO);
    TAC_CHECK_OK(tac_clip_parse_precision("bf16", &p)); TAC_CHECK_INT(p, TAC_CLIP_BF16);
    TAC_CHECK_OK(tac_clip_parse_precision("fp32", &p)); TAC_CHECK_INT(p, TAC_CLIP_FP32);
    TAC_CHECK_ERR(tac_clip_parse_precision("fp16", &p), "expected auto, bf16 or fp32");
    TAC_CHECK_ERR(tac_clip_parse_precision("", &p), "expected auto, bf16 or fp32");
    TAC_CHECK(strcmp(tac_clip_precision_name(TAC_CLIP_BF16), "bf16") == 0);
    TAC_CHECK(strlen(tac_clip_dnnl_isa()) > 2 && strcmp(tac_clip_dnnl_isa(), "unknown") != 0);
    /* auto follows the machine */
    TAC_CHECK_OK(tac_clip_resolve_precision(TAC_CLIP_AUTO, &r));
    TAC_CHECK_INT(r, tac_clip_bf16_available() ? TAC_CLIP_BF16 : TAC_CLIP_FP32);
    /* a CPU without bf16 (simulated): auto is fp32, bf16 a clear error, for a loaded model too */
    const char *old = getenv("TACLUST_NO_BF16");
    char *keep = old ? tac_xstrdup(old) : NULL;
    setenv("TACLUST_NO_BF16", "1", 1);
    TAC_CHECK_INT(tac_clip_bf16_available(), 0);
    TAC_CHECK_OK(tac_clip_resolve_precision(TAC_CLIP_AUTO, &r)); TAC_CHECK_INT(r, TAC_CLIP_FP32);
    TAC_CHECK_ERR(tac_clip_resolve_precision(TAC_CLIP_BF16, &r), "precision bf16: disabled by TACLUST_NO_BF16");
    TAC_CHECK_ERR(tac_clip_set_default_precision(TAC_CLIP_BF16), "precision bf16");
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    TAC_CHECK_INT(tac_clip_precision(m), TAC_CLIP_FP32);
    TAC_CHECK_ERR(tac_clip_set_precision(m, TAC_CLIP_BF16), "precision bf16");
    TAC_CHECK_INT(tac_clip_precision(m), TAC_CLIP_FP32);
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_AUTO));
    TAC_CHECK_INT(tac_clip_precision(m), TAC_CLIP_FP32);
    /* a bad TACLUST_PRECISION fails the load with its name */
    const char *oldp = getenv("TACLUST_PRECISION");
    char *keepp = oldp ? tac_xstrdup(oldp) : NULL;
    setenv("TACLUST_PRECISION", "half", 1);
    tac_clip *m2 = NULL;
    TAC_CHECK_ERR(tac_clip_load(TINY, &m2), "TACLUST_PRECISION=half");
    TAC_CHECK(m2 == NULL);
    if (keepp) setenv("TACLUST_PRECISION", keepp, 1); else unsetenv("TACLUST_PRECISION");
    free(keepp);
    if (keep) setenv("TACLUST_NO_BF16", keep, 1); else unsetenv("TACLUST_NO_BF16");
    free(keep);
    /* cache keys: the fp32 key is the model hash, the bf16 key adds the precision */
    TAC_CHECK(strcmp(tac_clip_cache_tag(m), tac_clip_hash(m)) == 0);
    if (!no_bf16_reason()) {
        TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_BF16));
        TAC_CHECK_INT(tac_clip_precision(m), TAC_CLIP_BF16);
        char want[64];
        snprintf(want, sizeof want, "%s-bf16", tac_clip_hash(m));
        TAC_CHECK(strcmp(tac_clip_cache_tag(m), want) == 0);
    }
    tac_clip_free(m);
}

/* fp32 stays today's path: a model switched to bf16 and back gives the very bits of a model never switched, and
 * those still match the torch fixture (as clip_tiny_f16_matches_torch_reference). */
TAC_TEST(clip_precision_fp32_is_unchanged)
{
    tac_clip *a, *b;
    TAC_CHECK_OK(tac_clip_load(TINY, &a));
    TAC_CHECK_OK(tac_clip_load(TINY, &b));
    TAC_CHECK_OK(tac_clip_set_precision(a, TAC_CLIP_FP32));
    int e = tac_clip_embed_dim(a), s = tac_clip_image_size(a), n = 5;
    float *px = pixels(n, s), *ya = tac_xmalloc((size_t)n * e, sizeof(float)), *yb = tac_xmalloc((size_t)n * e, sizeof(float));
    if (!no_bf16_reason()) {
        TAC_CHECK_OK(tac_clip_set_precision(b, TAC_CLIP_BF16));
        TAC_CHECK_OK(tac_clip_encode_images(b, px, n, yb));
        TAC_CHECK_OK(tac_clip_set_precision(b, TAC_CLIP_FP32));
    }
    TAC_CHECK_OK(tac_clip_encode_images(a, px, n, ya));
    TAC_CHECK_OK(tac_clip_encode_images(b, px, n, yb));
    TAC_CHECK(memcmp(ya, yb, (size_t)n * e * sizeof(float)) == 0);
    /* and the fixture: reference features of the pattern images */
    float *ref; int64_t ni, ei;
    TAC_REQUIRE(tac_npy_load_f32(TINY "/ref_image_features.npy", &ref, &ni, &ei) == TAC_OK);
    float *px2 = tac_xmalloc((size_t)ni * 3 * s * s, sizeof(float)), *y2 = tac_xmalloc((size_t)ni * e, sizeof(float));
    for (int64_t bb = 0; bb < ni; bb++)                 /* test_clip.c's pixel_pattern */
        for (size_t i = 0; i < 3 * (size_t)s * s; i++) {
            uint64_t h = ((uint64_t)i * 2654435761ull + (uint64_t)(bb * 97 + 13)) & 0xFFFFFFFFull;
            px2[(size_t)bb * 3 * s * s + i] = (float)((h >> 8) & 1023) / 512.0f - 1.0f;
        }
    TAC_CHECK_OK(tac_clip_encode_images(b, px2, (int)ni, y2));
    double err = tac_test_row_rel_err(y2, ref, (int)ni, e);
    printf("    fp32 after bf16 vs torch fixture: max relative error %.3g\n", err);
    TAC_CHECK(err <= 1e-4);
    free(px); free(ya); free(yb); free(ref); free(px2); free(y2);
    tac_clip_free(a); tac_clip_free(b);
}

/* ---- bf16 accuracy on the tiny model ----------------------------------------------------------------------- */
TAC_TEST(clip_bf16_tiny_close_to_fp32)
{
    const char *why = no_bf16_reason();
    if (why) TAC_SKIP(why);
    int64_t nn;
    char **nouns = some_nouns(300, &nn);
    if (!nouns) TAC_SKIP("bf16 noun checks skipped: no WordNet at " TAC_WORDNET_DEFAULT_DIR);
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    TAC_REQUIRE(tac_clip_precision(m) == TAC_CLIP_FP32);
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m), n = 40;   /* 40 images: two chunks per worker */
    float *px = pixels(n, s);
    float *x32 = tac_xmalloc((size_t)n * e, sizeof(float)), *x16 = tac_xmalloc((size_t)n * e, sizeof(float));
    int64_t np = nn * 7;
    char **prompts = tac_xmalloc((size_t)np, sizeof(char *));
    for (int64_t i = 0; i < nn; i++)
        for (int k = 0; k < 7; k++) prompts[i * 7 + k] = tac_prompt_format(tac_prompt_templates[k], nouns[i]);
    float *p32 = tac_xmalloc((size_t)np * e, sizeof(float)), *p16 = tac_xmalloc((size_t)np * e, sizeof(float));
    float *t32 = tac_xmalloc((size_t)nn * e, sizeof(float)), *t16 = tac_xmalloc((size_t)nn * e, sizeof(float));
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_BF16));
        TAC_CHECK_OK(tac_clip_encode_images(m, px, n, pass ? x16 : x32));
        TAC_CHECK_OK(tac_embed_prompts(m, (const char *const *)prompts, np, &tp, pass ? p16 : p32));
        TAC_CHECK_OK(tac_embed_nouns(m, (const char *const *)nouns, nn, tac_prompt_templates, 7, &tp, pass ? t16 : t32));
    }
    double mn, mean;
    cosines("images", x16, x32, n, e, 0.999, &mn, &mean);
    cosines("prompts (nouns x 7 templates)", p16, p32, np, e, 0.999, &mn, &mean);
    cosines("noun ensembles", t16, t32, nn, e, 0.999, &mn, &mean);
    agreement(x32, x16, n, t32, t16, nn, e, 0.99);
    /* bf16 really ran: not the fp32 bits */
    TAC_CHECK(memcmp(x16, x32, (size_t)n * e * sizeof(float)) != 0);
    TAC_CHECK(memcmp(p16, p32, (size_t)np * e * sizeof(float)) != 0);
    for (int64_t i = 0; i < np; i++) free(prompts[i]);
    free(prompts);
    tac_free_strings(nouns, nn);
    free(px); free(x32); free(x16); free(p32); free(p16); free(t32); free(t16);
    tac_clip_free(m);
}

/* The bf16 vectors of one model never come from its fp32 cache: the noun cache lives in a folder per precision. */
TAC_TEST(clip_bf16_noun_cache_is_keyed_by_precision)
{
    const char *why = no_bf16_reason();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    const char *old = getenv("XDG_CACHE_HOME");
    char *keep = old ? tac_xstrdup(old) : NULL;
    setenv("XDG_CACHE_HOME", dir, 1);
    const char *nouns[] = {"cat", "dog", "violin", "bridge", "tulip"};
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    float *T32 = NULL, *T16 = NULL, *T32b = NULL; int e;
    int q = tac_progress_quiet;
    tac_progress_quiet = 1;
    TAC_CHECK_OK(tac_noun_embeddings_cached(m, nouns, 5, &T32, &e));
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_BF16));
    TAC_CHECK_OK(tac_noun_embeddings_cached(m, nouns, 5, &T16, &e));
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_FP32));
    TAC_CHECK_OK(tac_noun_embeddings_cached(m, nouns, 5, &T32b, &e));
    tac_progress_quiet = q;
    TAC_REQUIRE(T32 && T16 && T32b);
    TAC_CHECK(memcmp(T32, T16, 5 * (size_t)e * sizeof(float)) != 0);     /* bf16 computed, not read from fp32 */
    TAC_CHECK(memcmp(T32, T32b, 5 * (size_t)e * sizeof(float)) == 0);    /* fp32 read back unchanged */
    double mn, mean;
    cosines("cached noun ensembles", T16, T32, 5, e, 0.999, &mn, &mean);
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/taclust/%s", dir, tac_clip_hash(m));
    snprintf(p2, sizeof p2, "%s/taclust/%s-bf16", dir, tac_clip_hash(m));
    TAC_CHECK(is_dir(p1) && is_dir(p2));
    if (keep) setenv("XDG_CACHE_HOME", keep, 1); else unsetenv("XDG_CACHE_HOME");
    free(keep); free(T32); free(T16); free(T32b);
    tac_clip_free(m);
}

/* ---- CLI ---------------------------------------------------------------------------------------------------- */
TAC_TEST(clip_precision_cli)
{
    const char *bin = tac_test_bin(), *dir = tac_test_tmpdir();
    const char *cmds[] = {"cluster", "embed-images", "embed-text", "bench", "assign"};
    for (int i = 0; i < 5; i++)
        TAC_CHECK_INT(tac_test_sh("%s %s --help | grep -A1 -- '--precision' | grep -q 'auto|bf16|fp32'", bin, cmds[i]), 0);
    TAC_CHECK_INT(tac_test_sh("%s --version | grep -q 'oneDNN ISA'", bin), 0);
    TAC_CHECK_INT(tac_test_sh("printf 'cat\\ndog\\n' > %s/n.txt", dir), 0);
    /* a bad value is a usage error naming the accepted ones */
    TAC_CHECK_INT(tac_test_sh("%s embed-text --model %s --nouns %s/n.txt --precision half --out %s/x.npy 2>%s/err",
                              bin, TINY, dir, dir, dir), 2);
    TAC_CHECK_INT(tac_test_sh("grep -q 'expected auto, bf16 or fp32' %s/err", dir), 0);
    /* bf16 where there is none: one clear line, exit 1, nothing written */
    TAC_CHECK_INT(tac_test_sh("TACLUST_NO_BF16=1 %s embed-text --model %s --nouns %s/n.txt --precision bf16 --out %s/x.npy "
                              "2>%s/err", bin, TINY, dir, dir, dir), 1);
    TAC_CHECK_INT(tac_test_sh("grep -q 'precision bf16: disabled by TACLUST_NO_BF16' %s/err && test ! -e %s/x.npy", dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("TACLUST_NO_BF16=1 %s --quiet embed-text --model %s --nouns %s/n.txt --precision auto "
                              "--out %s/auto.npy", bin, TINY, dir, dir), 0);
    TAC_CHECK_INT(tac_test_sh("%s --quiet embed-text --model %s --nouns %s/n.txt --precision fp32 --out %s/f.npy", bin,
                              TINY, dir, dir), 0);
    float *A, *F; int64_t r, c, r2, c2;
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "auto.npy"), &A, &r, &c));
    TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "f.npy"), &F, &r2, &c2));
    TAC_CHECK(r == 2 && r2 == 2 && c == c2 && memcmp(A, F, (size_t)(r * c) * sizeof(float)) == 0);  /* auto = fp32 */
    if (!no_bf16_reason()) {
        float *B;
        TAC_CHECK_INT(tac_test_sh("%s --quiet embed-text --model %s --nouns %s/n.txt --precision bf16 --out %s/b.npy",
                                  bin, TINY, dir, dir), 0);
        TAC_CHECK_OK(tac_npy_load_f32(tac_test_path(dir, "b.npy"), &B, &r, &c));
        TAC_CHECK(r == 2 && memcmp(B, F, (size_t)(r * c) * sizeof(float)) != 0);
        double mn, mean;
        cosines("embed-text --precision bf16", B, F, 2, (int)c, 0.999, &mn, &mean);
        free(B);
    }
    free(A); free(F);
}

/* ---- optional, full size ------------------------------------------------------------------------------------ */
/* The ViT-B/32-shaped random model of tools/gen_clip_fixtures.py (TACLUST_CLIP_B32_RANDOM): 250 ImageNet photos
 * (../shared/datasets/imagenet-sample-250.tar, resize 256 + crop as for ImageNet) and 2,000 WordNet nouns (every
 * k-th) x 7 templates, bf16 against fp32: per-row cosine of images, prompts and 7-template ensembles >= 0.999 (min
 * and mean printed), and the best noun of each image the same for >= 99% of the images. */
TAC_TEST(clip_bf16_b32_random_close_to_fp32)
{
    const char *dir = getenv("TACLUST_CLIP_B32_RANDOM");
    if (!dir || !*dir)
        TAC_SKIP("full-size bf16 check skipped: TACLUST_CLIP_B32_RANDOM not set "
                 "(make one with /usr/bin/python3 tools/gen_clip_fixtures.py b32 /tmp/clip-b32-random)");
    const char *why = no_bf16_reason();
    if (why) TAC_SKIP(why);
    char tar[600];
    snprintf(tar, sizeof tar, "%s/datasets/imagenet-sample-250.tar", tac_test_shared());
    struct stat st;
    if (stat(tar, &st) != 0) TAC_SKIP("full-size bf16 check skipped: no ../shared/datasets/imagenet-sample-250.tar");
    int64_t nn;
    char **nouns = some_nouns(2000, &nn);
    if (!nouns) TAC_SKIP("full-size bf16 check skipped: no WordNet at " TAC_WORDNET_DEFAULT_DIR);
    const char *tmp = tac_test_tmpdir();
    TAC_REQUIRE(tac_test_sh("tar xf '%s' -C '%s'", tar, tmp) == 0);
    char **paths; int64_t n;
    TAC_REQUIRE(tac_list_inputs(&tmp, 1, NULL, &paths, &n) == TAC_OK && n >= 200);
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    int e = tac_clip_embed_dim(m);
    int64_t np = nn * 7;
    char **prompts = tac_xmalloc((size_t)np, sizeof(char *));
    for (int64_t i = 0; i < nn; i++)
        for (int k = 0; k < 7; k++) prompts[i * 7 + k] = tac_prompt_format(tac_prompt_templates[k], nouns[i]);
    float *x[2], *p[2], *t[2];                                  /* [fp32, bf16]: N x E, NP x E, NN x E */
    int8_t *ok = tac_xmalloc((size_t)n, 1);
    tac_embed_images_params ip = tac_embed_images_default_params();
    ip.resize = 256; ip.label = NULL;
    tac_embed_text_params tp = tac_embed_text_default_params();
    tp.label = NULL;
    for (int pass = 0; pass < 2; pass++) {
        TAC_CHECK_OK(tac_clip_set_precision(m, pass ? TAC_CLIP_BF16 : TAC_CLIP_FP32));
        x[pass] = tac_xmalloc((size_t)n * e, sizeof(float));
        p[pass] = tac_xmalloc((size_t)np * e, sizeof(float));
        t[pass] = tac_xcalloc((size_t)nn * e, sizeof(float));
        double t0 = tac_now();
        TAC_CHECK_OK(tac_embed_images(m, (const char *const *)paths, n, &ip, x[pass], ok, NULL));
        TAC_CHECK_OK(tac_embed_prompts(m, (const char *const *)prompts, np, &tp, p[pass]));
        printf("    %s: %lld images and %lld prompts in %.1f s\n", pass ? "bf16" : "fp32", (long long)n, (long long)np,
               tac_now() - t0);
        for (int64_t i = 0; i < nn; i++) {                      /* TAC's ensemble: mean of the 7, normalised */
            double acc[1024] = {0}, ss = 0;
            TAC_REQUIRE(e <= 1024);
            for (int k = 0; k < 7; k++)
                for (int j = 0; j < e; j++) acc[j] += p[pass][(i * 7 + k) * e + j];
            for (int j = 0; j < e; j++) ss += acc[j] * acc[j];
            for (int j = 0; j < e; j++) t[pass][i * e + j] = (float)(acc[j] / sqrt(ss));
        }
    }
    int64_t good = 0;                                           /* drop unreadable photos (rows of zeros) */
    for (int64_t i = 0; i < n; i++)
        if (ok[i]) {
            memmove(x[0] + good * e, x[0] + i * e, (size_t)e * sizeof(float));
            memmove(x[1] + good * e, x[1] + i * e, (size_t)e * sizeof(float));
            good++;
        }
    double mn, mean;
    cosines("ImageNet photos", x[1], x[0], good, e, 0.999, &mn, &mean);
    cosines("prompts (2,000 nouns x 7 templates)", p[1], p[0], np, e, 0.999, &mn, &mean);
    cosines("7-template noun ensembles", t[1], t[0], nn, e, 0.999, &mn, &mean);
    agreement(x[0], x[1], good, t[0], t[1], nn, e, 0.99);
    for (int k = 0; k < 2; k++) { free(x[k]); free(p[k]); free(t[k]); }
    for (int64_t i = 0; i < np; i++) free(prompts[i]);
    free(prompts); free(ok);
    tac_free_strings(paths, n);
    tac_free_strings(nouns, nn);
    tac_clip_free(m);
}
