/* tac_cpu.h - private: which instruction set the hand-written kernels use, decided once per process (tac_cpu.c).
 *
 * The library is compiled for baseline x86-64 (SSE2). Kernels that have faster forms carry them as functions
 * compiled with TAC_TARGET_AVX2 (the x86-64-v3 set: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE) and pick one at the call:
 *     if (tac_cpu_level() >= TAC_ISA_AVX2) kernel_avx2(...); else kernel_scalar(...);
 * tac_cpu_level() reads cpuid (and XCR0, so that the OS is known to save the
 * AVX/AVX-512 registers) once; TACLUST_ISA=scalar|avx2|avx512 in the environment lowers it (never above what the
 * CPU has). TAC_ISA_AVX512 means the CPU has x86-64-v4 (AVX-512 F/BW/CD/DQ/VL); the kernels have no AVX-512 forms
 * of their own and run their AVX2 forms there (OpenBLAS and oneDNN choose their AVX-512 kernels themselves).
 */
#ifndef TAC_CPU_H
#define TAC_CPU_H

enum { TAC_ISA_SCALAR = 0, TAC_ISA_AVX2 = 1, TAC_ISA_AVX512 = 2 };

#if defined(__x86_64__) || defined(__i386__)
#define TAC_X86 1
/* The kernels' AVX2 forms: the instruction sets of the x86-64-v3 level (what the whole build targeted before run-time
 * dispatch, so these forms compute what that build did, fused multiply-adds included). Named one by one rather than
 * arch=x86-64-v3 so that TAC_INLINE helpers without the attribute can be inlined into them (GCC refuses to inline
 * across a change of arch). */
#define TAC_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))
#else
#define TAC_X86 0
#define TAC_TARGET_AVX2
#endif
/* A kernel body written once and compiled into each form: `TAC_TARGET_AVX2 static void k_avx2(..) { k_body(..); }`
 * gets the body vectorised for AVX2 + FMA, the plain caller the baseline code. */
#define TAC_INLINE static inline __attribute__((always_inline))

/* The level the kernels use: the CPU's, lowered by TACLUST_ISA (read at the first call) or tac_cpu_set_level. */
int tac_cpu_level(void);
/* What the CPU itself has (cpuid), before any override. */
int tac_cpu_detected_level(void);
/* Sets the level for the rest of the process (capped at tac_cpu_detected_level(); a negative value goes back to
 * the CPU's level and TACLUST_ISA). Returns the level now in use. For tests and benchmarks that compare paths;
 * not to be called while other threads run kernels. */
int tac_cpu_set_level(int level);
const char *tac_cpu_level_name(int level);

/* The bicubic resize's kernels (src/imageio/tac_resize.c): 0 forces the plain scalar ones (the reference the tests
 * compare with), 1 (default) lets tac_cpu_level choose. Process-wide; not part of the public API. */
void tac_resize_use_simd(int on);

#endif
