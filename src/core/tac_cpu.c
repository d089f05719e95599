/* tac_cpu.c - the one place that decides which instruction set the hand-written kernels use (see tac_cpu.h).
 *
 *   level = min(what cpuid reports, TACLUST_ISA if set)     scalar < avx2 (x86-64-v3) < avx512 (x86-64-v4)
 *
 * Decided at the first call and kept (an atomic int, so threads racing on the first call agree: the value is the
 * same whoever computes it). tac_cpu_isa_name() is public (taclust --version and the benchmarks print it).
 */
#include "core/tac_cpu.h"

#include "taclust/core.h"
#include "taclust/version.h"

#include <stdlib.h>
#include <string.h>

static int g_level = -1;        /* -1: not decided yet */

int tac_cpu_detected_level(void)
{
#if TAC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return TAC_ISA_AVX512;
    if (__builtin_cpu_supports("x86-64-v3")) return TAC_ISA_AVX2;
#endif
    return TAC_ISA_SCALAR;
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
        tac_info("TACLUST_ISA=%s is not one of scalar, avx2, avx512: ignored (using %s)", getenv("TACLUST_ISA"),
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
