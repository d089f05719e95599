/* tac_bf16.c - bfloat16 for the library's matrix products (see tac_bf16.h): native-bf16 detection, fp32 -> bf16
 * rounding, and tac_bf16_gemm, a cblas_sgemm-shaped product over oneDNN matmul (bf16 operands, f32 accumulation
 * and output; transposed operands as oneDNN's "ba" layout, so nothing is transposed by hand; alpha as the
 * primitive's output scale, beta = 1 as a sum post-op); tac_bf16_gemm_rounded, the same product on operands
 * already rounded to bf16 and read in place (strided memory descriptors).
 */
#include "core/tac_bf16.h"
#include "core/tac_cpu.h"
#include "core/tac_internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>
#if TAC_X86
#include <cpuid.h>
#include <immintrin.h>
#endif

#define MM_CACHE 16              /* matmul primitives kept per context */

/* ---- detection ------------------------------------------------------------------------------------------ */
#if TAC_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* The CPU (and the OS) can run AVX512-BF16 or AMX-BF16 instructions. */
static int cpu_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;     /* OSXSAVE: xgetbv usable */
    uint64_t xcr0 = xgetbv0();
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    unsigned max_sub = a;
    int avx512f = (b >> 16) & 1, amx_bf16 = (d >> 22) & 1, avx512_bf16 = 0;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) avx512_bf16 = (a >> 5) & 1;
    int os_avx512 = (xcr0 & 0xe6) == 0xe6;            /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state */
    int os_amx = (xcr0 & 0x60000) == 0x60000;         /* XTILECFG, XTILEDATA */
    return (avx512f && avx512_bf16 && os_avx512) || (amx_bf16 && os_amx && os_avx512);
}
#else
static int cpu_bf16(void) { return 0; }
#endif

int tac_bf16_native(void)
{
    static int hw = -1;          /* the machine's answer, asked once */
    if (hw < 0) {
        int isa = (int)dnnl_get_effective_cpu_isa();
        hw = cpu_bf16() && (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    }
    const char *no = getenv("TACLUST_NO_BF16");
    return hw && !(no && *no && strcmp(no, "0") != 0);
}

/* ---- rounding ------------------------------------------------------------------------------------------- */
/* The scalar loop is the reference and the tail of the AVX2 form (16 at a time; picked from tac_cpu_level()). */
TAC_INLINE void to_bf16_tail(uint16_t *dst, const float *src, size_t i, size_t n)
{
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        u += 0x7fff + ((u >> 16) & 1);
        dst[i] = (uint16_t)(u >> 16);
    }
}
#if TAC_X86
TAC_TARGET_AVX2 static void to_bf16_avx2(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff);
    for (; i + 16 <= n; i += 16) {
        __m256i a = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        __m256i b = _mm256_castps_si256(_mm256_loadu_ps(src + i + 8));
        a = _mm256_add_epi32(a, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(a, 16), one)));
        b = _mm256_add_epi32(b, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(b, 16), one)));
        a = _mm256_srli_epi32(a, 16);
        b = _mm256_srli_epi32(b, 16);
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);   /* a0-7 b0-7 in order */
        _mm256_storeu_si256((__m256i *)(dst + i), p);
    }
    to_bf16_tail(dst, src, i, n);
}
#endif

void tac_bf16_from_f32(uint16_t *dst, const float *src, size_t n)
{
#if TAC_X86
    if (tac_cpu_level() >= TAC_ISA_AVX2) { to_bf16_avx2(dst, src, n); return; }
#endif
    to_bf16_tail(dst, src, 0, n);
}

/* ---- the product ---------------------------------------------------------------------------------------- */
/* A cached primitive: its shape, and lda = ldb = 0 for the converting form (contiguous operands) or the row strides
 * of the pre-rounded form's operands. */
typedef struct { int M, N, K, ta, tb, ldc, sum, lda, ldb; float alpha; dnnl_primitive_t p; } mm_entry;

struct tac_bf16_mm {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    uint16_t *a, *b;             /* bf16 operands, cap elements each */
    size_t cap;
    mm_entry e[MM_CACHE];
    int ne, next;
};

void tac_bf16_mm_free(tac_bf16_mm *mm)
{
    if (!mm) return;
    for (int i = 0; i < mm->ne; i++) dnnl_primitive_destroy(mm->e[i].p);
    if (mm->st) dnnl_stream_destroy(mm->st);
    if (mm->eng) dnnl_engine_destroy(mm->eng);
    free(mm->a);
    free(mm->b);
    free(mm);
}

static int reserve(tac_bf16_mm *mm, size_t elems)
{
    if (elems <= mm->cap) return TAC_OK;
    uint16_t *a = tac_try_malloc(elems, sizeof(uint16_t), "bf16 operands");
    uint16_t *b = a ? tac_try_malloc(elems, sizeof(uint16_t), "bf16 operands") : NULL;
    if (!b) { free(a); return TAC_ERR; }
    free(mm->a);
    free(mm->b);
    mm->a = a; mm->b = b; mm->cap = elems;
    return TAC_OK;
}

tac_bf16_mm *tac_bf16_mm_new(size_t elems)
{
    if (!tac_bf16_native()) {
        tac_fail("bf16 is not native on this CPU (AVX512-BF16 or AMX-BF16 needed; or TACLUST_NO_BF16 is set)");
        return NULL;
    }
    tac_bf16_mm *mm = tac_try_calloc(1, sizeof *mm, "bf16 matmul context");
    if (!mm) return NULL;
    if (dnnl_engine_create(&mm->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&mm->st, mm->eng, dnnl_stream_default_flags) != dnnl_success) {
        tac_bf16_mm_free(mm);
        tac_fail("oneDNN: cannot create a CPU engine and stream");
        return NULL;
    }
    if (reserve(mm, elems) != TAC_OK) { tac_bf16_mm_free(mm); return NULL; }
    return mm;
}

/* Memory descriptors of op(A) (M x K) stored contiguously as converted: ab when !t, ba when t. */
static int md_op(dnnl_memory_desc_t *md, int rows, int cols, int t)
{
    dnnl_dims_t d = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, d, dnnl_bf16, t ? dnnl_ba : dnnl_ab) == dnnl_success;
}

/* The same with the stored matrix's row stride ld (op(A) M x K: A[m*ld + k] when !t, A[k*ld + m] when t). */
static int md_op_ld(dnnl_memory_desc_t *md, int rows, int cols, int t, int ld)
{
    dnnl_dims_t d = {rows, cols}, s = {t ? 1 : ld, t ? ld : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_bf16, s) == dnnl_success;
}

/* op(A)'s descriptor: by tag when ld is 0 (the converting form), else by strides. */
static int md_any(dnnl_memory_desc_t *md, int rows, int cols, int t, int ld)
{
    return ld ? md_op_ld(md, rows, cols, t, ld) : md_op(md, rows, cols, t);
}

static int md_dst(dnnl_memory_desc_t *md, int M, int N, int ldc)
{
    dnnl_dims_t d = {M, N}, s = {ldc, 1};
    return dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_f32, s) == dnnl_success;
}

static dnnl_primitive_t get_prim(tac_bf16_mm *mm, int M, int N, int K, int ta, int tb, int ldc, int sum,
                                 float alpha, int lda, int ldb)
{
    for (int i = 0; i < mm->ne; i++) {
        mm_entry *e = &mm->e[i];
        if (e->M == M && e->N == N && e->K == K && e->ta == ta && e->tb == tb && e->ldc == ldc && e->sum == sum &&
            e->alpha == alpha && e->lda == lda && e->ldb == ldb)
            return e->p;
    }
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    int ok = md_any(&a, M, K, ta, lda) && md_any(&b, K, N, tb, ldb) && md_dst(&c, M, N, ldc) &&
             dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && alpha != 1.0f) ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success;
    if (ok && sum)
        ok = dnnl_post_ops_create(&po) == dnnl_success && dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, mm->eng, NULL) == dnnl_success &&
         dnnl_primitive_create(&p, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    if (!ok) {
        tac_fail("oneDNN: cannot create a bf16 matmul of %d x %d x %d", M, N, K);
        return NULL;
    }
    int i;
    if (mm->ne < MM_CACHE) {
        i = mm->ne++;
    } else {
        i = mm->next;
        mm->next = (mm->next + 1) % MM_CACHE;
        dnnl_primitive_destroy(mm->e[i].p);
    }
    mm->e[i] = (mm_entry){M, N, K, ta, tb, ldc, sum, lda, ldb, alpha, p};
    return p;
}

/* Rounds the stored matrix (rows x cols with row stride ld) into dst, contiguous. */
static void convert(uint16_t *dst, const float *src, int rows, int cols, int ld)
{
    if (ld == cols) { tac_bf16_from_f32(dst, src, (size_t)rows * cols); return; }
    for (int r = 0; r < rows; r++) tac_bf16_from_f32(dst + (size_t)r * cols, src + (size_t)r * ld, (size_t)cols);
}

static int run(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const uint16_t *A, int lda,
               const uint16_t *B, int ldb, float beta, float *C, int ldc);

int tac_bf16_gemm(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    TAC_ASSERT(beta == 0.0f || beta == 1.0f);
    if (M <= 0 || N <= 0) return TAC_OK;
    if (K <= 0) {   /* an empty sum: C = beta C */
        if (beta == 0.0f) for (int r = 0; r < M; r++) memset(C + (size_t)r * ldc, 0, (size_t)N * sizeof(float));
        return TAC_OK;
    }
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    if (reserve(mm, na > nb ? na : nb) != TAC_OK) return TAC_ERR;
    /* stored A: M x K (lda) or K x M (lda); stored B: K x N (ldb) or N x K (ldb) */
    if (ta) convert(mm->a, A, K, M, lda); else convert(mm->a, A, M, K, lda);
    if (tb) convert(mm->b, B, N, K, ldb); else convert(mm->b, B, K, N, ldb);
    return run(mm, ta, tb, M, N, K, alpha, mm->a, 0, mm->b, 0, beta, C, ldc);
}

int tac_bf16_gemm_rounded(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const uint16_t *A,
                          int lda, const uint16_t *B, int ldb, float beta, float *C, int ldc)
{
    TAC_ASSERT(beta == 0.0f || beta == 1.0f);
    if (M <= 0 || N <= 0) return TAC_OK;
    if (K <= 0) {   /* an empty sum: C = beta C */
        if (beta == 0.0f) for (int r = 0; r < M; r++) memset(C + (size_t)r * ldc, 0, (size_t)N * sizeof(float));
        return TAC_OK;
    }
    TAC_ASSERT(lda >= (ta ? M : K) && ldb >= (tb ? K : N));
    return run(mm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The product on bf16 operands A, B (row strides lda, ldb; 0: contiguous, as converted into mm->a, mm->b). */
static int run(tac_bf16_mm *mm, int ta, int tb, int M, int N, int K, float alpha, const uint16_t *A, int lda,
               const uint16_t *B, int ldb, float beta, float *C, int ldc)
{
    dnnl_primitive_t p = get_prim(mm, M, N, K, ta, tb, ldc, beta != 0.0f, alpha, lda, ldb);
    if (!p) return TAC_ERR;
    dnnl_memory_desc_t a, b, c;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    int ok = md_any(&a, M, K, ta, lda) && md_any(&b, K, N, tb, ldb) && md_dst(&c, M, N, ldc) &&
             dnnl_memory_create(&ma, &a, mm->eng, (void *)A) == dnnl_success &&
             dnnl_memory_create(&mb, &b, mm->eng, (void *)B) == dnnl_success &&
             dnnl_memory_create(&mc, &c, mm->eng, C) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        ok = dnnl_primitive_execute(p, mm->st, 3, args) == dnnl_success && dnnl_stream_wait(mm->st) == dnnl_success;
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    return ok ? TAC_OK : tac_fail("oneDNN: a bf16 matmul of %d x %d x %d failed", M, N, K);
}
