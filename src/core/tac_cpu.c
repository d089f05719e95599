/* tac_cpu.c - the one place that decides which instruction set the hand-written kernels use (see tac_cpu.h).
 *
 *   level = min(what cpuid reports, TACLUST_ISA if set)     scalar < avx2 (x86-64-v3) < avx512 (x86-64-v4)
 *
 * Decided at the first call and kept (an atomic int, so threads racing on the first call agree: the value is the
 * same whoever computes it). tac_cpu_isa_name() is public (taclust --version and the benchmarks print it).
 */
#include "core/tac_cpu.h"
#include "core/tac_internal.h"

#include "taclust/core.h"
#include "taclust/version.h"

#include <stdlib.h>
#include <string.h>
#if TAC_X86
#include <cpuid.h>
#endif

static int g_level = -1;        /* -1: not decided yet */

#if TAC_X86
/* cpuid read directly (GCC's and clang's __builtin_cpu_supports know different feature names): x86-64-v3 needs
 * AVX, AVX2, FMA, BMI1, BMI2, F16C, LZCNT, MOVBE (+ the v2 set: SSE4.2, POPCNT...), x86-64-v4 adds AVX-512 F, BW,
 * CD, DQ, VL; and the OS must save the registers (OSXSAVE, then XCR0: SSE+AVX state, + opmask/ZMM for AVX-512). */
static int detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return TAC_ISA_SCALAR;
    unsigned c1 = c;
    int v2 = (c1 >> 19 & 1) && (c1 >> 20 & 1) && (c1 >> 23 & 1) && (c1 >> 9 & 1) && (c1 >> 13 & 1);  /* sse4.1/4.2 popcnt ssse3 cx16 */
    int osxsave = c1 >> 27 & 1, avx = c1 >> 28 & 1, fma = c1 >> 12 & 1, movbe = c1 >> 22 & 1, f16c = c1 >> 29 & 1;
    if (!v2 || !osxsave || !avx) return TAC_ISA_SCALAR;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0x6) != 0x6) return TAC_ISA_SCALAR;                      /* the OS does not save YMM */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return TAC_ISA_SCALAR;
    unsigned b7 = b;
    int avx2 = b7 >> 5 & 1, bmi1 = b7 >> 3 & 1, bmi2 = b7 >> 8 & 1;
    int lzcnt = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c >> 5 & 1);
    if (!(avx2 && fma && bmi1 && bmi2 && f16c && lzcnt && movbe)) return TAC_ISA_SCALAR;
    int avx512 = (b7 >> 16 & 1) && (b7 >> 17 & 1) && (b7 >> 28 & 1) && (b7 >> 30 & 1) && (b7 >> 31 & 1);
    if (avx512 && (xlo & 0xe6) == 0xe6) return TAC_ISA_AVX512;        /* + opmask, ZMM0-15 high, ZMM16-31 */
    return TAC_ISA_AVX2;
}
#endif

int tac_cpu_detected_level(void)
{
#if TAC_X86
    static int cached = -1;
    int l = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (l < 0) {
        l = detect();
        __atomic_store_n(&cached, l, __ATOMIC_RELAXED);
    }
    return l;
#else
    return TAC_ISA_SCALAR;
#endif
}

const char *tac_cpu_level_name(int level)
{
    switch (level) {
    case TAC_ISA_AVX512: return "avx512";
    case TAC_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

/* The level TACLUST_ISA asks for: -1 when unset or empty, -2 when not a known name. */
static int env_level(void)
{
    const char *e = getenv("TACLUST_ISA");
    if (!e || !*e) return -1;
    for (int l = TAC_ISA_SCALAR; l <= TAC_ISA_AVX512; l++)
        if (strcmp(e, tac_cpu_level_name(l)) == 0) return l;
    return -2;
}

static int decide(void)
{
    int cpu = tac_cpu_detected_level(), want = env_level();
    if (want == -2) {
        tac_log(TAC_LOG_WARN, "TACLUST_ISA=%s is not one of scalar, avx2, avx512: ignored (using %s)", getenv("TACLUST_ISA"),
                 tac_cpu_level_name(cpu));
        return cpu;
    }
    return want >= 0 && want < cpu ? want : cpu;
}

int tac_cpu_level(void)
{
    int l = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (l >= 0) return l;
    l = decide();
    __atomic_store_n(&g_level, l, __ATOMIC_RELAXED);
    return l;
}

int tac_cpu_set_level(int level)
{
    int cpu = tac_cpu_detected_level();
    int l = level < 0 ? decide() : level < cpu ? level : cpu;
    __atomic_store_n(&g_level, l, __ATOMIC_RELAXED);
    return l;
}

const char *tac_cpu_isa_name(void) { return tac_cpu_level_name(tac_cpu_level()); }
