/* taclust.h - the public API of libtaclust: image clustering with external guidance (TAC, Li et al.,
 * ICML 2024) in C. One header per stage, all with the tac_ prefix:
 *   core       errors, .npy I/O, random numbers, atomic files, progress
 *   image      decoding and CLIP preprocessing
 *   clip       BPE tokenizer and the CLIP image and text towers
 *   textspace  WordNet nouns, noun selection, text-counterpart retrieval
 *   cluster    k-means (faiss semantics) and exact cosine kNN
 *   heads      the two cluster heads and their training
 *   metrics    ACC (Hungarian), NMI, ARI
 *   pipeline   the whole method (fit) and the folder-of-images job (cluster)
 * Compiles as plain C99 and C++.
 */
#ifndef TACLUST_H
#define TACLUST_H

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
#include "taclust/abi.h"     /* tac_struct_size: struct sizes for bindings (python/taclust) */

#endif
