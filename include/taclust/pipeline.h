/* taclust/pipeline.h - the whole TAC method on embeddings (tac-method.md sections 4-10): centres, noun
 * selection, retrieval, TAC (no train) and TAC, with per-dataset presets and cluster names.
 */
#ifndef TACLUST_PIPELINE_H
#define TACLUST_PIPELINE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
