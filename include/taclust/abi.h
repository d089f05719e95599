/* taclust/abi.h - the sizes of the public structs, for bindings that mirror them (the Python package's ctypes
 * structs): a binding compares its own size of each struct with the library's and refuses to run when they
 * differ, so a stale mirror can never make the library read or write past a caller's buffer.
 *
 * Struct rule: fields of public structs are never reordered or removed; new fields are only appended.
 */
#ifndef TACLUST_ABI_H
#define TACLUST_ABI_H

#include "taclust/version.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sizeof the public struct named `name` ("tac_fit_params", "tac_fit_result", "tac_heads_params",
 * "tac_kmeans_params", "tac_embed_images_params", "tac_embed_text_params", "tac_metrics", "tac_npy_map"),
 * 0 when the name is unknown or NULL. */
TAC_API size_t tac_struct_size(const char *name);

#ifdef __cplusplus
}
#endif
#endif
