/* test_isa.c - the run-time choice of instruction set (src/core/tac_cpu.c): the baseline x86-64 kernels, forced
 * once with tac_cpu_set_level(TAC_ISA_SCALAR) (and through TACLUST_ISA=scalar for the program), compute what the
 * dispatched AVX2 forms compute on this machine:
 *   k-means (spherical and L2 fixtures): the same labels, objective within 1e-5 relative;
 *   kNN: the same neighbour lists;
 *   the tiny CLIP (tests/fixtures/clip/tiny): both forms within 1e-5 of each other, and the scalar form within the
 *     PyTorch reference's tolerance (1e-4), image and text towers;
 *   bicubic resize: bit for bit (integer arithmetic).
 * On a CPU without AVX2 both runs take the scalar path (the test then says so and still checks the results).
 * Plus: the level is capped at the CPU's, TACLUST_ISA reaches the program, `taclust --version` names the level.
 */
#include "tac_test.h"
#include "core/tac_cpu.h"
#include "taclust/cluster.h"
#include "taclust/clip.h"
#include "taclust/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CFIX "tests/fixtures/cluster/"
#define TINY "tests/fixtures/clip/tiny"

/* Runs fn(ctx, out) once with the kernels forced to the baseline form and once at the CPU's level. */
static void both_levels(void (*fn)(void *ctx, int scalar), void *ctx)
{
    int cpu = tac_cpu_detected_level();
    if (cpu == TAC_ISA_SCALAR) printf("    this CPU has no AVX2: both runs take the scalar path\n");
    TAC_CHECK_INT(tac_cpu_set_level(TAC_ISA_SCALAR), TAC_ISA_SCALAR);
    TAC_CHECK(strcmp(tac_cpu_isa_name(), "scalar") == 0);
    fn(ctx, 1);
    TAC_CHECK_INT(tac_cpu_set_level(cpu), cpu);
    fn(ctx, 0);
    tac_cpu_set_level(-1);                      /* back to the CPU's level and TACLUST_ISA */
}

TAC_TEST(isa_level_capped_and_named)
{
    int cpu = tac_cpu_detected_level();
    printf("    CPU level %s, in use %s\n", tac_cpu_level_name(cpu), tac_cpu_isa_name());
    TAC_CHECK_INT(tac_cpu_set_level(TAC_ISA_AVX512), cpu);       /* never above the CPU */
    TAC_CHECK_INT(tac_cpu_level(), cpu);
    TAC_CHECK_INT(tac_cpu_set_level(TAC_ISA_SCALAR), TAC_ISA_SCALAR);
    TAC_CHECK(strcmp(tac_cpu_isa_name(), "scalar") == 0);
    tac_cpu_set_level(-1);
    TAC_CHECK(tac_cpu_level() <= cpu);
    const char *env = getenv("TACLUST_ISA");
    if (!env || !*env) TAC_CHECK_INT(tac_cpu_level(), cpu);
}

/* ---- k-means ---- */
typedef struct { const float *X; int64_t n; int d, k, spherical; int32_t *lab[2]; double obj[2]; } km_ctx;
static void km_run(void *vc, int scalar)
{
    km_ctx *c = vc;
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = c->k; p.niter = 20; p.nredo = 2; p.spherical = c->spherical; p.seed = 1234;
    TAC_CHECK_OK(tac_kmeans(c->X, c->n, c->d, &p, NULL, c->lab[scalar], &c->obj[scalar]));
}

TAC_TEST(isa_scalar_kmeans_equals_dispatched)
{
    const char *files[2] = {CFIX "sph_X.npy", CFIX "l2_X.npy"};
    for (int sph = 1; sph >= 0; sph--) {
        float *X;
        int64_t n, d;
        TAC_CHECK_OK(tac_npy_load_f32(files[1 - sph], &X, &n, &d));
        km_ctx c = {X, n, (int)d, 8, sph, {malloc((size_t)n * 4), malloc((size_t)n * 4)}, {0, 0}};
        both_levels(km_run, &c);
        int64_t diff = 0;
        for (int64_t i = 0; i < n; i++) diff += c.lab[0][i] != c.lab[1][i];
        printf("    %s k-means, N=%lld D=%lld K=8: objective %.9g (dispatched) vs %.9g (scalar), %lld labels differ\n",
               sph ? "spherical" : "L2", (long long)n, (long long)d, c.obj[0], c.obj[1], (long long)diff);
        TAC_CHECK_INT(diff, 0);
        TAC_CHECK(fabs(c.obj[0] - c.obj[1]) <= 1e-5 * fabs(c.obj[0]));
        free(c.lab[0]); free(c.lab[1]); free(X);
    }
}

/* ---- kNN ---- */
typedef struct { const float *X; int64_t n; int d; int64_t *idx[2]; } knn_ctx;
static void knn_run(void *vc, int scalar)
{
    knn_ctx *c = vc;
    TAC_CHECK_OK(tac_knn_cosine(c->X, c->n, c->d, 10, c->idx[scalar], NULL));
}

TAC_TEST(isa_scalar_knn_equals_dispatched)
{
    /* 2,100 random rows: more than two 1024-row blocks, so the row and the column scans both run */
    int64_t n = 2100;
    int d = 24;
    float *X = malloc((size_t)n * d * sizeof(float));
    tac_mt rng;
    tac_mt_seed(&rng, 5);
    for (int64_t i = 0; i < n * d; i++) X[i] = (float)tac_mt_normal(&rng);
    knn_ctx c = {X, n, d, {malloc((size_t)n * 10 * 8), malloc((size_t)n * 10 * 8)}};
    both_levels(knn_run, &c);
    TAC_CHECK(memcmp(c.idx[0], c.idx[1], (size_t)n * 10 * 8) == 0);
    free(c.idx[0]); free(c.idx[1]); free(X);
}

/* ---- the tiny CLIP ---- */
typedef struct { tac_clip *m; const float *px; int ni; const int32_t *ids; int nt, ctx; float *fi[2], *ft[2]; } clip_ctx;
static void clip_run(void *vc, int scalar)
{
    clip_ctx *c = vc;
    TAC_CHECK_OK(tac_clip_encode_images(c->m, c->px, c->ni, c->fi[scalar]));
    TAC_CHECK_OK(tac_clip_encode_tokens(c->m, c->ids, c->nt, c->ctx, c->ft[scalar]));
}

TAC_TEST(isa_scalar_clip_equals_dispatched)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    TAC_CHECK_OK(tac_clip_set_precision(m, TAC_CLIP_FP32));
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m);
    float *ref_i, *ref_t;
    int64_t ni, ei, nt, et, r, cc;
    int64_t *l;
    TAC_REQUIRE(tac_npy_load_f32(TINY "/ref_image_features.npy", &ref_i, &ni, &ei) == TAC_OK);
    TAC_REQUIRE(tac_npy_load_f32(TINY "/ref_text_features.npy", &ref_t, &nt, &et) == TAC_OK);
    TAC_REQUIRE(tac_npy_load_i64(TINY "/ref_ids.npy", &l, &r, &cc) == TAC_OK);
    TAC_REQUIRE(r == nt && ei == e && et == e);
    int32_t *ids = malloc((size_t)(r * cc) * sizeof(int32_t));
    for (int64_t i = 0; i < r * cc; i++) ids[i] = (int32_t)l[i];
    /* the pixels of the reference: pixel_pattern() of tests/test_clip.c and tools/gen_clip_fixtures.py */
    size_t per = 3 * (size_t)s * s;
    float *px = malloc((size_t)ni * per * sizeof(float));
    for (int b = 0; b < (int)ni; b++)
        for (size_t i = 0; i < per; i++) {
            uint64_t h = ((uint64_t)i * 2654435761ull + (uint64_t)(b * 97 + 13)) & 0xFFFFFFFFull;
            px[(size_t)b * per + i] = (float)((h >> 8) & 1023) / 512.0f - 1.0f;
        }
    clip_ctx c = {m, px, (int)ni, ids, (int)nt, (int)cc,
                  {malloc((size_t)(ni * e) * 4), malloc((size_t)(ni * e) * 4)},
                  {malloc((size_t)(nt * e) * 4), malloc((size_t)(nt * e) * 4)}};
    both_levels(clip_run, &c);
    double di = tac_test_row_rel_err(c.fi[1], c.fi[0], (int)ni, e), dt = tac_test_row_rel_err(c.ft[1], c.ft[0], (int)nt, e);
    double ri = tac_test_row_rel_err(c.fi[1], ref_i, (int)ni, e), rt = tac_test_row_rel_err(c.ft[1], ref_t, (int)nt, e);
    printf("    scalar vs dispatched: images %.3g, text %.3g; scalar vs PyTorch: images %.3g, text %.3g (relative)\n",
           di, dt, ri, rt);
    TAC_CHECK(di <= 1e-5 && dt <= 1e-5);
    TAC_CHECK(ri <= 1e-4 && rt <= 1e-4);
    for (int k = 0; k < 2; k++) { free(c.fi[k]); free(c.ft[k]); }
    free(px); free(ids); free(l); free(ref_i); free(ref_t);
    tac_clip_free(m);
}

/* ---- bicubic resize ---- */
typedef struct { const uint8_t *src; int sw, sh, dw, dh; uint8_t *out[2]; } rs_ctx;
static void rs_run(void *vc, int scalar)
{
    rs_ctx *c = vc;
    tac_resize_bicubic(c->src, c->sw, c->sh, c->out[scalar], c->dw, c->dh);
}

TAC_TEST(isa_scalar_resize_equals_dispatched)
{
    tac_mt rng;
    tac_mt_seed(&rng, 11);
    const int sizes[3][4] = {{333, 217, 224, 146}, {50, 70, 224, 313}, {641, 480, 224, 168}};
    for (int t = 0; t < 3; t++) {
        rs_ctx c = {NULL, sizes[t][0], sizes[t][1], sizes[t][2], sizes[t][3], {NULL, NULL}};
        size_t ns = (size_t)c.sw * c.sh * 3, nd = (size_t)c.dw * c.dh * 3;
        uint8_t *src = malloc(ns);
        for (size_t i = 0; i < ns; i++) src[i] = (uint8_t)(tac_mt_next(&rng) >> 24);
        c.src = src;
        c.out[0] = malloc(nd);
        c.out[1] = malloc(nd);
        both_levels(rs_run, &c);
        if (memcmp(c.out[0], c.out[1], nd) != 0)
            tac_test_fail_at(__FILE__, __LINE__, "%dx%d -> %dx%d: scalar differs", c.sw, c.sh, c.dw, c.dh);
        free(src); free(c.out[0]); free(c.out[1]);
    }
}

/* ---- the program: TACLUST_ISA, --version ---- */
TAC_TEST(isa_program_env_and_version)
{
    const char *bin = tac_test_bin(), *dir = tac_test_tmpdir();
    const char *v1 = tac_test_path(dir, "v1.txt"), *v2 = tac_test_path(dir, "v2.txt");
    TAC_CHECK_INT(tac_test_sh("TACLUST_ISA=scalar %s --version > %s", bin, v1), 0);
    TAC_CHECK_INT(tac_test_sh("env -u TACLUST_ISA %s --version > %s", bin, v2), 0);
    char *a, *b;
    size_t la, lb;
    TAC_CHECK_OK(tac_read_file(v1, &a, &la));
    TAC_CHECK_OK(tac_read_file(v2, &b, &lb));
    char want[64];
    snprintf(want, sizeof want, "kernels %s;", tac_cpu_level_name(tac_cpu_detected_level()));
    printf("    %s", b);
    TAC_CHECK(strstr(a, "kernels scalar;") != NULL);
    TAC_CHECK(strstr(b, want) != NULL);
    free(a); free(b);
    /* the same k-means labels from the program forced to scalar and at the CPU's level */
    const char *l1 = tac_test_path(dir, "l1.npy"), *l2 = tac_test_path(dir, "l2.npy");
    TAC_CHECK_INT(tac_test_sh("TACLUST_ISA=scalar %s kmeans " CFIX "l2_X.npy -k 8 --out %s >/dev/null 2>&1", bin, l1), 0);
    TAC_CHECK_INT(tac_test_sh("env -u TACLUST_ISA %s kmeans " CFIX "l2_X.npy -k 8 --out %s >/dev/null 2>&1", bin, l2), 0);
    TAC_CHECK_INT(tac_test_sh("cmp -s %s %s", l1, l2), 0);
    /* an unknown name is ignored with a message, not an error */
    TAC_CHECK_INT(tac_test_sh("TACLUST_ISA=sse9 %s --version 2>%s >/dev/null", bin, v1), 0);
    TAC_CHECK_OK(tac_read_file(v1, &a, &la));
    TAC_CHECK(strstr(a, "TACLUST_ISA=sse9 is not one of scalar, avx2, avx512") != NULL);
    free(a);
}
