/* taclust/clip.h - CLIP in C: the BPE tokenizer and both towers, loaded from a Hugging Face CLIP folder
 * (config.json, model.safetensors or pytorch_model.bin in float32/float16/bfloat16, or an OpenCLIP folder; tokenizer from vocab.json + merges.txt or
 * bpe_simple_vocab_16e6.txt.gz). Any CLIPModel configuration (ViT-B/32, B/16, L/14; quick_gelu or gelu).
 * Features are the unnormalised projected embeddings (image_embeds / text_embeds before normalisation).
 */
#ifndef TACLUST_CLIP_H
#define TACLUST_CLIP_H

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
int tac_bpe_load(const char *path, tac_bpe **out);
void tac_bpe_free(tac_bpe *t);
/* clip.tokenize(text, truncate=True): ids[0..ctx) filled (SOT ... EOT, zero padded; truncated keeps EOT
 * last). Returns the number of non-padding tokens (position of EOT + 1). */
int tac_bpe_tokenize(tac_bpe *t, const char *text, int32_t *ids, int ctx);

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
int tac_clip_load(const char *dir, tac_clip **out);
void tac_clip_free(tac_clip *m);
int tac_clip_embed_dim(const tac_clip *m);     /* projection_dim, E */
int tac_clip_image_size(const tac_clip *m);    /* vision_config.image_size, S */
/* Token rows the text tower has run since the model was loaded (a shared prefix counts once): statistics. */
int64_t tac_clip_text_rows(const tac_clip *m);
/* The model's tokenizer, loaded on the first call (not thread-safe: call it once before sharing m between
 * threads); NULL with tac_last_error() set when there is none. */
tac_bpe *tac_clip_tokenizer(tac_clip *m);
/* A stable hex digest identifying the weights (for caches): 16 hex chars + NUL. */
const char *tac_clip_hash(const tac_clip *m);

/* The encoders process any B. With T OpenMP threads (tac_num_threads) the batch is cut into a multiple of T chunks
 * (at most 32 images or about 4096 token rows each) that T workers run side by side, each with single-threaded BLAS
 * and its own workspace; with one thread, or when called from inside a parallel region, the chunks run in turn.
 * One model may not encode from two threads at once (the workspaces are the model's).
 * pixels: B x 3 x S x S preprocessed; out: B x E. */
int tac_clip_encode_images(tac_clip *m, const float *pixels, int b, float *out);
/* ids: B x ctx token ids (zero padded after EOT), ctx <= max_position_embeddings; out: B x E, read at each row's
 * argmax-id position (the first, as torch.argmax). Each row is cut after that position (exact: the mask is causal),
 * so short prompts cost little. Ids outside [0, vocab_size) are an error. */
int tac_clip_encode_tokens(tac_clip *m, const int32_t *ids, int b, int ctx, float *out);
/* Tokenise and encode B strings. out: B x E. */
int tac_clip_encode_texts(tac_clip *m, const char *const *texts, int b, float *out);

#ifdef __cplusplus
}
#endif
#endif
