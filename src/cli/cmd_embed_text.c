/* cmd_embed_text.c - `taclust embed-text`: CLIP text features of prompts, or of nouns with TAC's templates.
 *
 *   taclust embed-text [--model ID|DIR] --out T.npy --prompts FILE        one unnormalised row per line
 *   taclust embed-text [--model ID|DIR] --out T.npy --nouns FILE [--templates tac7|none]
 *                                                                     one L2-normalised row per noun
 * Under `mpirun -np N` (N > 1) the batches are shared out over the ranks and rank 0 writes the same bytes as one
 * process (embed_text_ranks below).
 */
#include "tac_cli.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/hub.h"
#include "taclust/textspace.h"
#include "mpi/tac_mpi.h"

#include <stdlib.h>
#include <string.h>

static const char *const USAGE =
    "usage: taclust embed-text [--model ID|DIR] --out T.npy (--prompts FILE | --nouns FILE [--templates tac7|none])\n"
    "\n"
    "CLIP text features. Row i of T.npy belongs to line i of the input file (every line counts, empty ones too).\n"
    "  --prompts FILE   one prompt per line -> one row each: the UNNORMALISED projected text embedding.\n"
    "  --nouns FILE     one noun per line -> one row each (TAC's 146,347 WordNet lemmas: taclust nouns --out FILE):\n"
    "      --templates tac7 (default): the noun in TAC's 7 templates (tac-method.md section 3.2:\n"
    "         'itap of a {}.', 'a bad photo of the {}.', 'a origami {}.', 'a photo of the large {}.',\n"
    "         'a {} in a video game.', 'art of the {}.', 'a photo of the small {}.'); the 7 UNNORMALISED\n"
    "         embeddings are averaged (in double) and the mean is then L2-NORMALISED. TAC itself saves the\n"
    "         unnormalised mean and every consumer normalises it; this writes the normalised mean, which is\n"
    "         what those consumers use.\n"
    "      --templates none: the noun itself as the prompt, L2-normalised.\n"
    "Prompts are tokenised as clip.tokenize(truncate=True); identical token sequences are encoded once, and\n"
    "batches group prompts of similar token length, cut after the end token (same result as the full context).\n"
    "Under `mpirun -np N` the batches are shared out over the ranks and rank 0 writes the same bytes as one\n"
    "process; each rank keeps its finished batches in T.cache/rank-R.bin until T.npy is written, so a job that\n"
    "failed or was killed resumes when run again.";

/* Under mpirun with several ranks: rank 0 reads the lines and sends them, the model is loaded on every rank, the
 * batches of the single-process run are shared out (tac_embed_prompts_dist / tac_embed_nouns_dist: the rows are the
 * same bytes as one process computes), each rank caching its finished batches in T.cache/rank-R.bin (a rerun takes
 * them from there), and rank 0 writes T.npy once every rank has succeeded; then the caches go. Exit status. */
static int embed_text_ranks(const tac_comm *c, const char *spec, const char *out, const char *prompts,
                            const char *text_input, int tac7, int batch)
{
    char **lines = NULL, *dir = NULL;
    int64_t n = 0;
    size_t ol = strlen(out) > 4 && strcmp(out + strlen(out) - 4, ".npy") == 0 ? strlen(out) - 4 : strlen(out);
    char *cache = tac_xmalloc(ol + 7, 1);   /* T.npy -> T.cache: rank-R.bin of each rank until T.npy is written */
    memcpy(cache, out, ol);
    strcpy(cache + ol, ".cache");
    tac_clip *m = NULL;
    float *T = NULL;
    int rc = TAC_OK, status = 1;
    if (c->rank == 0) {
        rc = tac_read_lines(text_input, &lines, &n, 0);
        if (rc == TAC_OK && n == 0) rc = tac_fail("%s has no lines", text_input);
    }
    if (tac_comm_check(c, rc) != TAC_OK || tac_dist_bcast_strings(c, &lines, &n) != TAC_OK ||
        tac_dist_load_model(c, spec, &dir, &m) != TAC_OK) {
        tac_cli_error("embed-text");
        goto done;
    }
    const int E = tac_clip_embed_dim(m);
    static const char *const none_template[1] = {"{}"};
    const int G = prompts ? 1 : tac7 ? TAC_NUM_TEMPLATES : 1;
    tac_info("%lld %s x %d prompt%s over %d ranks, model %s (E=%d), batch %d", (long long)n,
             prompts ? "prompts" : "nouns", G, G > 1 ? "s" : "", c->size, dir, E, batch);
    T = tac_xmalloc((size_t)n * E, sizeof(float));   /* N x E */
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = batch;
    p.tokenizer_path = dir;
    double t0 = tac_now();
    int64_t hits = 0;
    rc = tac_dist_embed_text(c, m, (const char *const *)lines, n,
                             prompts ? NULL : tac7 ? tac_prompt_templates : none_template, G, &p, cache, T, &hits);
    double dt = tac_now() - t0;
    if (rc != TAC_OK) { tac_cli_error("embed-text"); goto done; }   /* agreed by every rank */
    if (hits) tac_info("%lld batches taken from the ranks' embedding caches (%s)", (long long)hits, cache);
    if (c->rank == 0) {
        int64_t shape[2] = {n, E};
        rc = tac_check_finite("text embeddings", T, n, E);
        if (rc == TAC_OK) rc = tac_npy_save_f32(out, T, 2, shape);
    }
    if (tac_comm_check(c, rc) != TAC_OK) { tac_cli_error("embed-text"); goto done; }
    tac_dist_remove_caches(c, cache);
    tac_info("embedded %lld prompts over %d ranks in %.1f s (%.1f prompts/s) into %s (%s)", (long long)(n * G),
             c->size, dt, dt > 0 ? (double)(n * G) / dt : 0.0, out, prompts ? "unnormalised" : "L2-normalised");
    status = 0;
done:
    free(T);
    free(cache);
    tac_clip_free(m);
    free(dir);
    tac_free_strings(lines, n);
    return status;
}

static int cmd_embed_text(int argc, char **argv)
{
    const char *model_dir = NULL, *out = NULL, *prompts = NULL, *nouns = NULL, *templates = "tac7";
    int batch = 512;
    const char *precision = NULL;
    const tac_opt opts[] = {
        {"--model", "-m", TAC_OPT_STR, &model_dir, TAC_HUB_MODEL_HELP},
        {"--out", "-o", TAC_OPT_STR, &out, "output T.npy (float32, one row per input line)"},
        {"--prompts", NULL, TAC_OPT_STR, &prompts, "file of prompts, one per line (rows unnormalised)"},
        {"--nouns", NULL, TAC_OPT_STR, &nouns, "file of nouns, one per line (rows: normalised template means)"},
        {"--templates", NULL, TAC_OPT_STR, &templates, "with --nouns: tac7 (default) or none"},
        {"--batch", "-b", TAC_OPT_INT, &batch, "prompts per forward pass (default 512)"},
        {"--precision", NULL, TAC_OPT_STR, &precision, TAC_PRECISION_HELP},
        {0},
    };
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (r == 1) return 0;
    if (r == 2) return 2;
    if ((r = tac_cli_precision("embed-text", precision))) { free(pos); return r; }
    if (npos > 0) { fprintf(stderr, "taclust embed-text: unexpected argument '%s'\n", pos[0]); free(pos); return 2; }
    free(pos);
    if (!out) {
        fprintf(stderr, "taclust embed-text: --out is required (taclust embed-text --help)\n");
        return 2;
    }
    if (!prompts == !nouns) {
        fprintf(stderr, "taclust embed-text: give exactly one of --prompts FILE or --nouns FILE\n");
        return 2;
    }
    int tac7 = strcmp(templates, "tac7") == 0;
    if (!tac7 && strcmp(templates, "none") != 0) {
        fprintf(stderr, "taclust embed-text: --templates must be tac7 or none (got '%s')\n", templates);
        return 2;
    }
    if (batch < 1 || batch > 65536) {
        fprintf(stderr, "taclust embed-text: --batch must be between 1 and 65536 (got %d)\n", batch);
        return 2;
    }
    const char *in = prompts ? prompts : nouns;
    if (tac_mpi_comm()) return embed_text_ranks(tac_mpi_comm(), model_dir, out, prompts, in, tac7, batch);
    char **lines; int64_t n;
    if (tac_read_lines(in, &lines, &n, 0) != TAC_OK) return tac_cli_error("embed-text");
    if (n == 0) {
        fprintf(stderr, "taclust embed-text: %s has no lines\n", in);
        tac_free_strings(lines, n);
        return 1;
    }
    char *resolved = NULL;
    if (tac_cli_model_resolve(model_dir, &resolved) != TAC_OK) { tac_free_strings(lines, n); return tac_cli_error("embed-text"); }
    model_dir = resolved;
    tac_clip *m;
    if (tac_clip_load_ex(model_dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &m) != TAC_OK) { tac_free_strings(lines, n); free(resolved); return tac_cli_error("embed-text"); }
    const int E = tac_clip_embed_dim(m);
    static const char *const none_template[1] = {"{}"};
    const int G = prompts ? 1 : tac7 ? TAC_NUM_TEMPLATES : 1;
    tac_info("%lld %s x %d prompt%s, model %s (E=%d), batch %d", (long long)n, prompts ? "prompts" : "nouns", G,
             G > 1 ? "s" : "", model_dir, E, batch);
    float *T = tac_xmalloc((size_t)n * E, sizeof(float));   /* N x E */
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = batch;
    p.tokenizer_path = model_dir;
    double t0 = tac_now();
    int rc = prompts ? tac_embed_prompts(m, (const char *const *)lines, n, &p, T)
                     : tac_embed_nouns(m, (const char *const *)lines, n, tac7 ? tac_prompt_templates : none_template,
                                       G, &p, T);
    double dt = tac_now() - t0;
    int64_t shape[2] = {n, E};
    if (rc == TAC_OK) rc = tac_check_finite("text embeddings", T, n, E);
    if (rc == TAC_OK) rc = tac_npy_save_f32(out, T, 2, shape);
    if (rc == TAC_OK)
        tac_info("embedded %lld prompts in %.1f s (%.1f prompts/s; %lld token rows run, %.2f per prompt) into %s (%s)",
                 (long long)(n * G), dt, dt > 0 ? (double)(n * G) / dt : 0.0, (long long)tac_clip_text_rows(m),
                 n ? (double)tac_clip_text_rows(m) / (double)(n * G) : 0.0, out,
                 prompts ? "unnormalised" : "L2-normalised");
    free(T);
    tac_clip_free(m);
    tac_free_strings(lines, n);
    rc = rc == TAC_OK ? 0 : tac_cli_error("embed-text");
    free(resolved);
    return rc;
}

TAC_COMMAND("embed-text", "CLIP text features of prompts, or of nouns with TAC's 7 templates", cmd_embed_text)
