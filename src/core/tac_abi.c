/* tac_abi.c - tac_struct_size (taclust/abi.h): sizeof each public struct by name, for bindings that mirror the
 * structs (python/taclust checks its ctypes mirrors against these at import).
 */
#include "taclust/abi.h"
#include "taclust/cluster.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"

#include <string.h>

size_t tac_struct_size(const char *name)
{
    static const struct { const char *name; size_t size; } sizes[] = {
        {"tac_fit_params", sizeof(tac_fit_params)},
        {"tac_fit_result", sizeof(tac_fit_result)},
        {"tac_heads_params", sizeof(tac_heads_params)},
        {"tac_kmeans_params", sizeof(tac_kmeans_params)},
        {"tac_embed_images_params", sizeof(tac_embed_images_params)},
        {"tac_embed_text_params", sizeof(tac_embed_text_params)},
        {"tac_metrics", sizeof(tac_metrics)},
        {"tac_npy_map", sizeof(tac_npy_map)},
    };
    if (!name) return 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, name) == 0) return sizes[i].size;
    return 0;
}
