/* taclust/clip.h - CLIP in C: the BPE tokenizer and both towers, loaded from a Hugging Face CLIP folder
 * (config.json, model.safetensors or pytorch_model.bin in float32/float16/bfloat16, or an OpenCLIP folder; tokenizer from vocab.json + merges.txt or
 * bpe_simple_vocab_16e6.txt.gz). Any CLIPModel configuration (ViT-B/32, B/16, L/14; quick_gelu or gelu).
 * Features are the unnormalised projected embeddings (image_embeds / text_embeds before normalisation).
 *
 * Threads: a loaded tac_clip is immutable (tac_clip_set_precision aside: not while the model encodes) and may be
 * used by any number of threads at once. The encoders' workspaces live in a tac_clip_state, one per calling thread
 * (tac_clip_state_new; a state is used by one thread at a time), or the plain tac_clip_encode_* calls make and free
 * one per call. A call uses the state's thread count (0: tac_num_threads()) and changes no setting for good: the
 * calling thread's OpenMP team size and OpenBLAS's process-wide thread count are restored when it returns.
 * Errors: every call returns TAC_OK or TAC_ERR with tac_last_error() set (failed allocations included); nothing
 * aborts on bad input or missing memory. Every buffer the library hands out is released with tac_free.
 */
#ifndef TACLUST_CLIP_H
#define TACLUST_CLIP_H

#include "taclust/version.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAC_CLIP_CONTEXT 77
#define TAC_CLIP_SOT 49406
#define TAC_CLIP_EOT 49407

/* ---- tokenizer -------------------------------------------------------------------------------------- */
typedef struct tac_bpe tac_bpe;
/* From a folder (vocab.json + merges.txt, else bpe_simple_vocab_16e6.txt.gz) or a .txt.gz / merges file.
 * tac_bpe_tokenize may run on one tac_bpe from several threads at once (each thread gets its own word cache). */
TAC_API int tac_bpe_load(const char *path, tac_bpe **out);
TAC_API void tac_bpe_free(tac_bpe *t);
/* clip.tokenize(text, truncate=True): ids[0..ctx) filled (SOT ... EOT, zero padded; truncated keeps EOT
 * last). Returns the number of non-padding tokens (position of EOT + 1), or TAC_ERR. */
TAC_API int tac_bpe_tokenize(tac_bpe *t, const char *text, int32_t *ids, int ctx);

/* ---- model ------------------------------------------------------------------------------------------ */
typedef struct tac_clip tac_clip;
/* Loads DIR/config.json and DIR/model.safetensors (memory-mapped, converted to float32). Also read (see
 * src/clip/tac_clip_load.c and README "Model formats"): pytorch_model.bin (torch.save zip, nothing executed), the
 * sharded *.index.json forms, OpenCLIP folders (open_clip_config.json + open_clip_model.safetensors or
 * open_clip_pytorch_model.bin, OpenAI tensor names) and OpenAI's weights alone (a state dict, or the TorchScript
 * ViT-B-32.pt, whose path may be given instead of a folder). Every tensor's name,
 * dtype and shape is checked; errors name the tensor, what was expected and what was found. Extra tensors (the
 * int64 position_ids buffers, ...) are ignored. Missing config keys take the transformers defaults.
 * The tokenizer is loaded here too, from DIR/vocab.json + DIR/merges.txt or DIR/bpe_simple_vocab_16e6.txt.gz
 * (tac_clip_load_ex: or from a path given); a model without one encodes images, and its text calls fail saying so.
 * Unreadable or broken tokenizer files fail the load. */
TAC_API int tac_clip_load(const char *dir, tac_clip **out);
typedef struct {
    const char *tokenizer;       /* a tokenizer folder or file (as tac_bpe_load); NULL: the model folder's own */
    int tokenizer_fallback;      /* 0: `tokenizer` wins over the model folder's files; 1: it is used only when the
                                  * folder has none (what the taclust program does with $TACLUST_BPE) */
} tac_clip_load_params;
TAC_API tac_clip_load_params tac_clip_load_default_params(void);   /* all zero: the folder's tokenizer */
/* tac_clip_load with options (p may be NULL: the defaults). */
TAC_API int tac_clip_load_ex(const char *dir, const tac_clip_load_params *p, tac_clip **out);
TAC_API void tac_clip_free(tac_clip *m);      /* not while another thread uses m */
TAC_API int tac_clip_embed_dim(const tac_clip *m);     /* projection_dim, E */
TAC_API int tac_clip_image_size(const tac_clip *m);    /* vision_config.image_size, S */
/* Token rows the text tower has run since the model was loaded (a shared prefix counts once): statistics (the one
 * value encoding changes in the model, atomically). */
TAC_API int64_t tac_clip_text_rows(const tac_clip *m);
/* The model's tokenizer (loaded with it; owned by m, usable from several threads); NULL with tac_last_error() set
 * (why there is none) when the model has none. */
TAC_API tac_bpe *tac_clip_tokenizer(const tac_clip *m);
/* A stable hex digest identifying the weights (for caches): 16 hex chars + NUL. */
TAC_API const char *tac_clip_hash(const tac_clip *m);
/* The hash reads every byte of the weights and tokenizer. A memo file can remember the hash of big files by path,
 * device, inode, size, mtime and ctime so that a later load skips reading them: off by default (the library writes
 * no file of its own accord); path names the memo file (created when needed; NULL turns the memo off), min_bytes
 * the smallest file remembered (the taclust program uses ~/.cache/taclust/file-hashes.tsv and 16 MiB).
 * Process-wide; thread-safe. */
TAC_API int tac_clip_set_hash_memo(const char *path, int64_t min_bytes);

/* ---- precision ---------------------------------------------------------------------------------------
 * TAC_CLIP_FP32: float32 everywhere over OpenBLAS (the exact mode: the fixtures and tests are made in it).
 * TAC_CLIP_BF16: the linear maps (patch embedding, q/k/v, out, fc1, fc2, projections) run as oneDNN matmuls
 *   on bfloat16 operands with float32 accumulation and float32 outputs; weights are converted once, when the
 *   precision is set, into the blocked layout oneDNN picks; activations are rounded to bf16 on entry to each
 *   matmul. LayerNorm, softmax, attention products, activations, residual adds and the outputs stay float32.
 *   Only where the CPU has native bf16 (AVX512-BF16 or AMX-BF16, found with cpuid at run time, and oneDNN
 *   agrees); elsewhere setting it is an error.
 * TAC_CLIP_AUTO: bf16 where the CPU has it, fp32 elsewhere.
 * tac_clip_load applies the process default: tac_clip_set_default_precision if called, else $TACLUST_PRECISION
 * (auto|bf16|fp32), else auto. TACLUST_NO_BF16=1 makes the library behave as on a CPU without bf16. */
enum { TAC_CLIP_AUTO = 0, TAC_CLIP_FP32 = 1, TAC_CLIP_BF16 = 2 };
/* "auto" | "bf16" | "fp32" -> TAC_CLIP_*; anything else is an error naming the accepted values. */
TAC_API int tac_clip_parse_precision(const char *s, int *prec);
TAC_API const char *tac_clip_precision_name(int prec);
/* 1 when bf16 can run here (CPU bf16 + oneDNN ISA with bf16, TACLUST_NO_BF16 unset), else 0. */
TAC_API int tac_clip_bf16_available(void);
/* oneDNN's effective ISA on this machine, e.g. "avx512_core_bf16" (static string). */
TAC_API const char *tac_clip_dnnl_isa(void);
/* Resolves auto; an explicit bf16 where it is not available is an error (with the reason). */
TAC_API int tac_clip_resolve_precision(int prec, int *resolved);
/* The default for models loaded after this call (checked: bf16 where unavailable is an error). */
TAC_API int tac_clip_set_default_precision(int prec);
TAC_API int tac_clip_default_precision(void);
/* Switches a loaded model (bf16: converts and packs the weights here, the first time; the fp32 weights are kept).
 * Not concurrent with any other call on m (encoding included): the one call that changes a loaded model. States
 * made before stay valid. */
TAC_API int tac_clip_set_precision(tac_clip *m, int prec);
TAC_API int tac_clip_precision(const tac_clip *m);     /* TAC_CLIP_FP32 or TAC_CLIP_BF16 */
/* Key of the embedding caches: tac_clip_hash for fp32, the hash + "-bf16" for bf16 (precision is a separate
 * component: bf16 vectors never mix with fp32 ones). 32 chars at most + NUL. */
TAC_API const char *tac_clip_cache_tag(const tac_clip *m);

/* ---- encoding ---------------------------------------------------------------------------------------
 * The encoders process any B. With T threads the batch is cut into a multiple of T chunks (at most 32 images or
 * about 4096 token rows each) that T workers run side by side, each with single-threaded BLAS and its own
 * workspace; with one thread, or when called from inside a parallel region, the chunks run in turn with T BLAS /
 * OpenMP threads. T = the state's threads, else tac_num_threads(). $TACLUST_CLIP_WORKERS=N caps the workers (a
 * measurement knob: N = 1 gives BLAS / oneDNN the threads over whole chunks instead). The results do not depend
 * on T (bit for bit), nor on other threads encoding with the same model at the same time.
 *
 * A state holds one caller's workspaces (tens of MB for ViT-B/32 at batch 32, kept between calls so that they are
 * not page-faulted again for every batch) and its thread count: make one per thread that encodes, reuse it for
 * every batch. threads: 0 = tac_num_threads() at each call, else at most that many threads. */
typedef struct tac_clip_state tac_clip_state;
TAC_API int tac_clip_state_new(const tac_clip *m, int threads, tac_clip_state **out);
TAC_API void tac_clip_state_free(tac_clip_state *st);    /* before the model's tac_clip_free */
/* pixels: B x 3 x S x S preprocessed; out: B x E. */
TAC_API int tac_clip_encode_images_st(tac_clip_state *st, const float *pixels, int b, float *out);
/* ids: B x ctx token ids (zero padded after EOT), ctx <= max_position_embeddings; out: B x E, read at each row's
 * argmax-id position (the first, as torch.argmax). Each row is cut after that position (exact: the mask is causal),
 * so short prompts cost little. Ids outside [0, vocab_size) are an error. */
TAC_API int tac_clip_encode_tokens_st(tac_clip_state *st, const int32_t *ids, int b, int ctx, float *out);
/* Tokenise (the model's tokenizer; none: an error) and encode B strings. out: B x E. */
TAC_API int tac_clip_encode_texts_st(tac_clip_state *st, const char *const *texts, int b, float *out);
/* The same with a state made and freed inside the call (default threads): simple, but every call allocates and
 * faults in its workspaces again; batch loops should keep a state. */
TAC_API int tac_clip_encode_images(const tac_clip *m, const float *pixels, int b, float *out);
TAC_API int tac_clip_encode_tokens(const tac_clip *m, const int32_t *ids, int b, int ctx, float *out);
TAC_API int tac_clip_encode_texts(const tac_clip *m, const char *const *texts, int b, float *out);

#ifdef __cplusplus
}
#endif
#endif
