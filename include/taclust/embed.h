/* taclust/embed.h - the embedding jobs shared by `taclust embed-images`, `taclust embed-text` and the `cluster`
 * job: list the image inputs a user names, embed a list of image paths in batches (a bad image is skipped with
 * its reason, the rest goes on; a callback sees every finished batch, e.g. to cache it), and embed prompts or
 * nouns with TAC's 7 templates (tac-method.md sections 2 and 3.2).
 *
 *   char **paths; int64_t n;
 *   tac_list_inputs((const char *[]){"photos/", "x.jpg"}, 2, NULL, &paths, &n);
 *   tac_embed_images_params p = tac_embed_images_default_params();
 *   float *X = malloc(n * E * 4); int8_t *ok = malloc(n);
 *   tac_embed_images(model, (const char *const *)paths, n, &p, X, ok);   // X: N x E unnormalised
 *
 *   tac_embed_nouns(model, nouns, m, tac_prompt_templates, 7, &tp, T);     // T: M x E, L2-normalised means
 *
 * Threads: these calls only read the model (see taclust/clip.h), so several threads may embed with one model at
 * once; each call makes its own tac_clip_state (workspaces) for its batches. A call uses at most `threads` threads
 * (the params' field; 0: tac_num_threads()) for decoding, tokenising and the towers, and leaves no thread setting
 * changed. Errors, failed allocations included, are TAC_ERR with tac_last_error() set, never an abort. Arrays the
 * library returns (tac_list_inputs*, tac_prompt_format) are released with tac_free / tac_free_strings.
 */
#ifndef TACLUST_EMBED_H
#define TACLUST_EMBED_H

#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/dist.h"
#include "taclust/version.h"
#include "taclust/clip.h"      /* tac_clip (a second typedef of it here is not C99) */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- inputs ----------------------------------------------------------------------------------------- */
/* 1 if the name ends in .jpg .jpeg .png or .webp (any case). */
TAC_API int tac_is_image_name(const char *name);

/* Expands INPUTs in the order given, then the lines of list_file (NULL: none), into image paths:
 *   - a file (or a symlink to one) is taken whatever its name;
 *   - a folder is walked recursively, entries in bytewise (strcmp) order, names starting with '.' skipped,
 *     only files with an image extension (tac_is_image_name) kept; symlinks are followed, but every folder is
 *     walked at most once (by device and inode), so links cannot loop; broken links are skipped;
 *   - list_file holds one path per line (empty lines skipped), each taken as an INPUT as above.
 * A path that does not exist, or an unreadable folder, is an error naming it. Zero images found is not an error.
 * *paths: array of *n strings (free with tac_free_strings). */
TAC_API int tac_list_inputs(const char *const *inputs, int ninputs, const char *list_file, char ***paths, int64_t *n);
/* The same, also saying what the walk did not take although a user could expect it (*skipped with a reason in
 * *why, both *nskipped malloc'd strings; nothing is skipped silently): hidden image files ("..jpg") and hidden
 * folders, paths longer than PATH_MAX, broken links, image names that are FIFOs, sockets or devices, sub folders
 * that cannot be read (the walk goes on), and folders that must not be inputs: out_dir (may be NULL) and every
 * folder taclust wrote (it holds TAC_OUTPUT_MARKER, or run.json beside cache/embeddings.bin). */
#define TAC_OUTPUT_MARKER ".taclust-output"
TAC_API int tac_list_inputs_ex(const char *const *inputs, int ninputs, const char *list_file, const char *out_dir,
                       char ***paths, int64_t *n, char ***skipped, char ***why, int64_t *nskipped);
/* 1 if dir is a folder taclust wrote (see above). */
TAC_API int tac_is_output_folder(const char *dir);

/* ---- images ----------------------------------------------------------------------------------------- */
/* Called after each finished batch of the list, in order: rows [first, first+count) of the list.
 * emb: count x E (rows of skipped images are zero); ok[i] 1 if row i was embedded, 0 if skipped; why[i] the
 * reason a row was skipped ("cannot open: No such file", "truncated JPEG", ...) or NULL. Return 0 to go on,
 * non-zero to stop (tac_embed_images then fails with the reason left by tac_fail, or "stopped by callback"). */
typedef int (*tac_embed_batch_fn)(void *ctx, int64_t first, int64_t count, const float *emb, const int8_t *ok,
                                  const char *const *why);

typedef struct {
    int resize;                  /* shorter side before the center crop: 224 (CLIP, CIFAR/STL) or 256 (ImageNet) */
    int batch;                   /* images per forward pass of the image tower (default 32) */
    const char *label;           /* progress label (images done of N), NULL for no progress (default "embedding
                                    images") */
    tac_embed_batch_fn on_batch; /* optional */
    void *ctx;                   /* passed to on_batch */
    tac_progress_fn progress;    /* progress callback; NULL (default): the process-wide one (tac_set_progress) */
    void *progress_user;         /* passed to progress */
    int threads;                 /* threads the call may use; 0 (default): tac_num_threads() */
} tac_embed_images_params;

TAC_API tac_embed_images_params tac_embed_images_default_params(void);

/* Decodes and preprocesses each batch in parallel (OpenMP over images), then encodes it with
 * tac_clip_encode_images. out: N x E unnormalised features or NULL (callback only); rows of skipped images are
 * zero. ok: N flags or NULL. *nok (may be NULL): images embedded. Fails only if the model fails, the parameters
 * are invalid, or the callback stops it; a bad image never fails the call. */
TAC_API int tac_embed_images(const tac_clip *m, const char *const *paths, int64_t n, const tac_embed_images_params *p,
                     float *out, int8_t *ok, int64_t *nok);

/* ---- text ------------------------------------------------------------------------------------------- */
typedef struct {
    int batch;                   /* prompts per forward pass of the text tower (default 512) */
    const char *label;           /* progress label (prompts done), NULL for no progress (default "embedding text") */
    const char *tokenizer_path;  /* ignored (kept for the layout): prompts are always tokenised in parallel with the
                                    model's own tokenizer, which several threads may use at once */
    tac_progress_fn progress;    /* progress callback; NULL (default): the process-wide one (tac_set_progress) */
    void *progress_user;         /* passed to progress */
    int threads;                 /* threads the call may use; 0 (default): tac_num_threads() */
} tac_embed_text_params;

TAC_API tac_embed_text_params tac_embed_text_default_params(void);

/* "{}" in tmpl replaced by noun (the first "{}" only, as Python's str.format with one field). Release with tac_free;
 * NULL with tac_last_error() set when memory is short. */
TAC_API char *tac_prompt_format(const char *tmpl, const char *noun);

/* One unnormalised row per prompt. Prompts are tokenised (clip.tokenize, truncate=True), identical token
 * sequences encoded once, sorted by token length into batches cut right after the longest EOT (the text tower
 * is causal and reads the EOT position, so this equals the full 77-token context), and put back in order.
 * out: N x E. */
TAC_API int tac_embed_prompts(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                      float *out);

/* TAC's noun embedding (section 3.2): for each noun the ntemplates prompts, their UNNORMALISED embeddings
 * averaged in double, then L2-normalised (what every TAC consumer uses). Nouns whose prompts all tokenise
 * identically (e.g. differing only in case) are encoded once. Every template must hold "{}" (fails otherwise:
 * all nouns would embed alike). out: M x E, rows of unit norm. */
TAC_API int tac_embed_nouns(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                    int ntemplates, const tac_embed_text_params *p, float *out);

/* The same two calls spread over the ranks of comm (taclust/dist.h; every rank passes the same arguments): the
 * batches of the single-process call are shared out as contiguous runs (each rank runs some of the very batches
 * the single process runs, so the rows are bit-identical to it) and gathered, so on return every rank holds the
 * whole out. A failure on any rank is TAC_ERR on every rank ("rank R of N: ..."). comm NULL: the calls above. */
TAC_API int tac_embed_prompts_dist(const tac_clip *m, const char *const *prompts, int64_t n, const tac_embed_text_params *p,
                           const tac_comm *comm, float *out);
TAC_API int tac_embed_nouns_dist(const tac_clip *m, const char *const *nouns, int64_t n, const char *const *templates,
                         int ntemplates, const tac_embed_text_params *p, const tac_comm *comm, float *out);

#ifdef __cplusplus
}
#endif
#endif
