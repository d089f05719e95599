/* taclust.h - the public API of libtaclust: image clustering with external guidance (TAC, Li et al.,
 * ICML 2024) in C. Including it includes every public header; one per stage, all with the tac_ prefix:
 *   version    the library's version (tac_version) and the TAC_API export macro
 *   core       errors (tac_last_error), .npy load/save/map, mt19937 random numbers, atomic files and whole-file
 *              reads, the log and progress callbacks (the library prints nothing itself), tac_free
 *   image      decoding (JPEG, PNG, WebP as Pillow does) and CLIP preprocessing
 *   clip       CLIP: loading a model folder, the BPE tokenizer, the image and text towers
 *   embed      listing image inputs, embedding images in batches, prompts and TAC's 7-template nouns
 *   hub        Hugging Face ids: the hub cache, downloads, the --model resolver, SHA-256
 *   textspace  WordNet nouns, noun selection, text-counterpart retrieval
 *   cluster    k-means (faiss semantics) and exact cosine kNN
 *   heads      the two cluster heads: training, prediction, save/load
 *   metrics    ACC (Hungarian), NMI, ARI and label files
 *   dist       the communicator of the distributed entry points (the caller brings the transport, e.g. MPI)
 *   pipeline   the whole method on embeddings (tac_fit), the per-dataset presets, matrix and index readers
 * The taclust program (the folder-of-images job, dataset readers, caches, reports) is not part of the library.
 * Compiles as plain C99 and C++.
 */
#ifndef TACLUST_H
#define TACLUST_H

#include "taclust/version.h"
#include "taclust/core.h"
#include "taclust/image.h"
#include "taclust/clip.h"
#include "taclust/textspace.h"
#include "taclust/cluster.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"
#include "taclust/embed.h"
#include "taclust/hub.h"
#include "taclust/dist.h"    /* tac_comm: one call spread over several processes (MPI in the program) */
#include "taclust/abi.h"     /* tac_struct_size: struct sizes for bindings (python/taclust) */

#endif
