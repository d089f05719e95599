/* fuzz_tokenizer.c - libFuzzer target for CLIP's BPE tokenizer (tac_bpe_tokenize) on arbitrary bytes.
 *
 *   make fuzz
 *   TACLUST_BPE=../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz \
 *   build-fuzz/fuzz_tokenizer -max_total_time=120 -max_len=2048 fuzz/corpus/tokenizer
 * The vocabulary is loaded once (TACLUST_BPE, default the path above relative to the repo root). The first
 * input byte picks the context length (1..256); the rest, cut at its first NUL, is the text. Every result must
 * be well formed: EOT at position n-1 <= ctx-1, SOT first when ctx >= 2, ids below 49408, zero padding after.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/clip.h"
#include "taclust/core.h"

static tac_bpe *bpe;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("TACLUST_BPE");
    if (!path) path = "../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz";
    if (tac_bpe_load(path, &bpe) != TAC_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s (set TACLUST_BPE)\n", tac_last_error());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int ctx = 1 + data[0];
    char *text = malloc(size);                 /* the text: data[1..size), NUL-terminated */
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    int32_t ids[256];                          /* T = ctx <= 256 */
    int n = tac_bpe_tokenize(bpe, text, ids, ctx);
    free(text);
    if (n < 1 || n > ctx || ids[n - 1] != 49407) abort();
    if (ctx >= 2 && (n < 2 || ids[0] != 49406)) abort();
    for (int i = 1; i < n - 1; i++) if (ids[i] < 0 || ids[i] >= 49408) abort();   /* text may spell SOT/EOT */
    for (int i = n; i < ctx; i++) if (ids[i] != 0) abort();
    return 0;
}
