/* taclust/textspace.h - TAC's text side: the WordNet noun list, discriminative noun selection, and soft
 * retrieval of each image's text counterpart (tac-method.md sections 3.1, 4, 5).
 *
 * Errors and memory: TAC_OK / TAC_ERR with the reason in tac_last_error(), also when memory cannot be allocated
 * (never aborts). Arrays returned through pointers (*selected, *centre_of_selected) are released with tac_free;
 * the noun list with tac_free_strings.
 * Threads: pure functions of their inputs, safe to call from several threads at once. tac_select_nouns and
 * tac_retrieve use OpenMP teams (num_threads clauses) and OpenBLAS; their _ex forms take `threads` (0 = all the
 * library may use, as the plain forms; n = at most n threads: OpenBLAS's process-wide count is lowered to n for
 * the call when above it, then restored exactly). The selection does not depend on the thread count (barring float
 * near-ties); retrieved vectors can differ in their last bits (OpenBLAS's sgemm rounding depends on its threads).
 */
#ifndef TACLUST_TEXTSPACE_H
#define TACLUST_TEXTSPACE_H

#include "taclust/dist.h"
#include "taclust/version.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_WORDNET_DEFAULT_DIR "/usr/share/wordnet"

/* TAC's constants (tac-method.md section 10), the one definition every stage and job uses. */
#define TAC_TAU_VALUE 0.005     /* retrieval softmax temperature (section 5), as written in files */
#define TAC_TAU ((float)TAC_TAU_VALUE)  /* ... and as the float the stages take */
#define TAC_GAMMA 5             /* nouns kept per semantic centre (section 4) */
#define TAC_NUM_TEMPLATES 7     /* prompt templates of the noun ensemble (section 3.2) */

/* One string per lemma of every noun synset of DIR/data.noun, in file order (146,347 for WordNet 3.0),
 * underscores and case kept. *nouns: an array of strings released with tac_free_strings. */
TAC_API int tac_wordnet_nouns(const char *dir, char ***nouns, int64_t *n);

/* The 7 TAC prompt templates (section 3.2), each with one "{}". */
TAC_API extern const char *const tac_prompt_templates[TAC_NUM_TEMPLATES];

/* Number of semantic centres: round(n_train/300); 3K when that is below K (section 4). TAC_ERR (-1, reason set)
 * when n_train < 0, K < 1 or the count does not fit an int. */
TAC_API int tac_num_centres(int64_t n_train, int K);

/* Section 4. Xn: N x D L2-normalised train images; labels: N centre ids in [0,k); Tn: M x D L2-normalised
 * noun embeddings. Recomputes normalised centres from labels, softmax over centres (tau 1) per noun,
 * hard-assigns each noun, keeps the top gamma per centre by probability (ties: lower noun index).
 * *selected: ascending noun indices, *nsel of them (release with tac_free). centre_of_selected: optional
 * centre id for each selected noun (NULL to skip; release with tac_free). */
TAC_API int tac_select_nouns(const float *Xn, int64_t n, const int32_t *labels, int k,
                     const float *Tn, int64_t m, int d, int gamma,
                     int64_t **selected, int64_t *nsel, int32_t **centre_of_selected);
TAC_API int tac_select_nouns_ex(const float *Xn, int64_t n, const int32_t *labels, int k,
                        const float *Tn, int64_t m, int d, int gamma,
                        int64_t **selected, int64_t *nsel, int32_t **centre_of_selected, int threads);

/* Section 5. Xn: N x D normalised images; E: S x D normalised selected nouns. R: N x D out,
 * r_i = normalize(sum_m softmax_m(x_i.e_m / tau) e_m). W: optional N x S out, the softmax weights. */
TAC_API int tac_retrieve(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                 float *R, float *W);
TAC_API int tac_retrieve_ex(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                    float *R, float *W, int threads);
/* The same over comm's ranks (taclust/dist.h): each rank retrieves a contiguous run of the single-process call's
 * row blocks; R (and W) are exchanged so every rank holds all N rows, bit-identical to tac_retrieve_ex. */
TAC_API int tac_retrieve_dist(const float *Xn, int64_t n, const float *E, int64_t s, int d, float tau,
                              float *R, float *W, int threads, const tac_comm *comm);

#ifdef __cplusplus
}
#endif
#endif
