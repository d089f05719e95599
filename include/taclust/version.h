/* taclust/version.h - the library's version and the export macro every public declaration carries.
 *
 * TAC_API marks a function or object of libtaclust's public interface: with the shared library built with
 * -fvisibility=hidden (the Makefile's default), only what carries TAC_API is exported, so libtaclust.so shows
 * exactly the tac_ symbols the headers in include/ declare. tools/api_annotate.py adds it to new declarations.
 * The Makefile reads the version from TAC_VERSION_STRING below (the one place it is written).
 */
#ifndef TACLUST_VERSION_H
#define TACLUST_VERSION_H

#define TAC_VERSION_MAJOR 0
#define TAC_VERSION_MINOR 2
#define TAC_VERSION_PATCH 0
#define TAC_VERSION_STRING "0.2.0"

#if defined(_WIN32)
#define TAC_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TAC_API __attribute__((visibility("default")))
#else
#define TAC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif
/* The version of the library actually loaded (may differ from TAC_VERSION_STRING of the headers compiled). */
TAC_API const char *tac_version(void);
/* The instruction set the library's own kernels run with in this process: "scalar" (baseline x86-64), "avx2"
 * (x86-64-v3: AVX2 + FMA) or "avx512" (x86-64-v4). Chosen at the first call from cpuid; TACLUST_ISA=scalar|avx2|
 * avx512 in the environment lowers it (never above what the CPU has). OpenBLAS and oneDNN choose their own. */
TAC_API const char *tac_cpu_isa_name(void);
#ifdef __cplusplus
}
#endif
#endif
