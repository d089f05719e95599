/* taclust/clip.h - CLIP in C: the BPE tokenizer and both towers, loaded from a Hugging Face CLIP folder
 * (config.json, model.safetensors or pytorch_model.bin in float32/float16/bfloat16, or an OpenCLIP folder; tokenizer from vocab.json + merges.txt or
 * bpe_simple_vocab_16e6.txt.gz). Any CLIPModel configuration (ViT-B/32, B/16, L/14; quick_gelu or gelu).
 * Features are the unnormalised projected embeddings (image_embeds / text_embeds before normalisation).
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
/* From a folder (vocab.json + merges.txt, else bpe_simple_vocab_16e6.txt.gz) or a .txt.gz / merges file. */
TAC_API int tac_bpe_load(const char *path, tac_bpe **out);
TAC_API void tac_bpe_free(tac_bpe *t);
/* clip.tokenize(text, truncate=True): ids[0..ctx) filled (SOT ... EOT, zero padded; truncated keeps EOT
 * last). Returns the number of non-padding tokens (position of EOT + 1). */
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
 * The tokenizer is found here and loaded on first use: DIR/vocab.json + DIR/merges.txt or
 * DIR/bpe_simple_vocab_16e6.txt.gz; otherwise the file or folder in $TACLUST_BPE; otherwise
 * ../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz (relative to the working folder). */
TAC_API int tac_clip_load(const char *dir, tac_clip **out);
TAC_API void tac_clip_free(tac_clip *m);
TAC_API int tac_clip_embed_dim(const tac_clip *m);     /* projection_dim, E */
TAC_API int tac_clip_image_size(const tac_clip *m);    /* vision_config.image_size, S */
/* Token rows the text tower has run since the model was loaded (a shared prefix counts once): statistics. */
TAC_API int64_t tac_clip_text_rows(const tac_clip *m);
/* The model's tokenizer, loaded on the first call (not thread-safe: call it once before sharing m between
 * threads); NULL with tac_last_error() set when there is none. */
TAC_API tac_bpe *tac_clip_tokenizer(tac_clip *m);
/* A stable hex digest identifying the weights (for caches): 16 hex chars + NUL. */
TAC_API const char *tac_clip_hash(const tac_clip *m);

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
/* Switches a loaded model (bf16: converts and packs the weights the first time; the fp32 weights are kept). */
TAC_API int tac_clip_set_precision(tac_clip *m, int prec);
TAC_API int tac_clip_precision(const tac_clip *m);     /* TAC_CLIP_FP32 or TAC_CLIP_BF16 */
/* Key of the embedding caches: tac_clip_hash for fp32, the hash + "-bf16" for bf16 (precision is a separate
 * component: bf16 vectors never mix with fp32 ones). 32 chars at most + NUL. */
TAC_API const char *tac_clip_cache_tag(const tac_clip *m);

/* The encoders process any B. With T OpenMP threads (tac_num_threads) the batch is cut into a multiple of T chunks
 * (at most 32 images or about 4096 token rows each) that T workers run side by side, each with single-threaded BLAS
 * and its own workspace; with one thread, or when called from inside a parallel region, the chunks run in turn.
 * One model may not encode from two threads at once (the workspaces are the model's). $TACLUST_CLIP_WORKERS=N caps
 * the workers (a measurement knob: N = 1 gives BLAS / oneDNN the threads over whole chunks instead).
 * pixels: B x 3 x S x S preprocessed; out: B x E. */
TAC_API int tac_clip_encode_images(tac_clip *m, const float *pixels, int b, float *out);
/* ids: B x ctx token ids (zero padded after EOT), ctx <= max_position_embeddings; out: B x E, read at each row's
 * argmax-id position (the first, as torch.argmax). Each row is cut after that position (exact: the mask is causal),
 * so short prompts cost little. Ids outside [0, vocab_size) are an error. */
TAC_API int tac_clip_encode_tokens(tac_clip *m, const int32_t *ids, int b, int ctx, float *out);
/* Tokenise and encode B strings. out: B x E. */
TAC_API int tac_clip_encode_texts(tac_clip *m, const char *const *texts, int b, float *out);

#ifdef __cplusplus
}
#endif
#endif
