/* cmd_tokenize.c - `taclust tokenize`: print CLIP token ids of texts (for debugging and for checking the
 * tokenizer against OpenAI's clip.tokenize(text, truncate=True)).
 *
 *   taclust tokenize --vocab ../shared/models/clip-vit-base-patch32 "a photo of a cat." "itap of a dog."
 *   -> one line per text: the ids from SOT to EOT (padding zeros omitted unless --pad), space separated.
 */
#include "tac_cli.h"
#include "taclust/clip.h"
#include "taclust/hub.h"

#include <stdio.h>
#include <stdlib.h>

static int cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL, *model = NULL;
    int ctx = TAC_CLIP_CONTEXT, pad = 0;
    const tac_opt opts[] = {
        {"--vocab", NULL, TAC_OPT_STR, &vocab, "tokenizer: a folder (vocab.json + merges.txt, else bpe_simple_vocab_16e6.txt.gz), a .txt.gz or a merges file"},
        {"--model", NULL, TAC_OPT_STR, &model, "a CLIP model (folder or Hugging Face id org/name[@revision]) whose tokenizer to use when --vocab is not given; default $TACLUST_MODEL, else " TAC_HUB_DEFAULT_MODEL},
        {"--context", NULL, TAC_OPT_INT, &ctx, "context length (default 77); longer texts are cut, keeping EOT last"},
        {"--pad", NULL, TAC_OPT_FLAG, &pad, "print all context ids, zero padding included"},
        {0},
    };
    char **pos = NULL;
    int npos = 0;
    int r = tac_parse_opts(argc, argv, opts,
        "usage: taclust tokenize [--vocab PATH | --model ID|DIR] [--context N] [--pad] TEXT...\n\n"
        "Prints, for each TEXT, the CLIP BPE token ids (OpenAI clip.tokenize with truncate=True; ftfy is not\n"
        "applied) on one line: 49406 (start) ... 49407 (end).", &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    if (npos == 0) { free(pos); fprintf(stderr, "taclust tokenize: no TEXT given\n"); return 2; }
    if (ctx < 1 || ctx > 100000) { free(pos); fprintf(stderr, "taclust tokenize: --context must be 1..100000\n"); return 2; }
    char *resolved = NULL;
    if (!vocab && tac_cli_model_resolve(model, &resolved) != TAC_OK) { free(pos); return tac_cli_error("tokenize"); }
    const char *path = vocab ? vocab : resolved;
    tac_bpe *t;
    int lrc = tac_bpe_load(path, &t);
    free(resolved);
    if (lrc != TAC_OK) { free(pos); return tac_cli_error("tokenize"); }
    int32_t *ids = tac_xmalloc((size_t)ctx, sizeof *ids);   /* ctx */
    int rc = 0;
    for (int i = 0; i < npos && !rc; i++) {
        int n = tac_bpe_tokenize(t, pos[i], ids, ctx);
        if (n < 0) { rc = tac_cli_error("tokenize"); break; }
        int m = pad ? ctx : n;
        for (int k = 0; k < m; k++) printf(k ? " %d" : "%d", (int)ids[k]);
        printf("\n");
    }
    free(ids);
    free(pos);
    tac_bpe_free(t);
    return rc;
}

TAC_COMMAND("tokenize", "print CLIP BPE token ids of texts", cmd_tokenize)
