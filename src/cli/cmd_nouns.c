/* cmd_nouns.c - `taclust nouns`: write TAC's noun vocabulary (every lemma of every WordNet noun synset).
 *
 *   taclust nouns [--wordnet DIR] --out nouns.txt
 * One lemma per line, in data.noun order (146,347 lines for WordNet 3.0), written atomically. Line i (0-based)
 * is row i of TAC's data/WordNetNouns.csv `word` column (tac-method.md section 3.1).
 */
#include "tac_cli.h"
#include "taclust/textspace.h"

#include <stdlib.h>

static int cmd_nouns(int argc, char **argv)
{
    const char *dir = TAC_WORDNET_DEFAULT_DIR, *outp = NULL;
    tac_opt opts[] = {
        {"--wordnet", NULL, TAC_OPT_STR, &dir, "WordNet 3.0 database folder holding data.noun (default " TAC_WORDNET_DEFAULT_DIR ", Debian wordnet-base)"},
        {"--out", "-o", TAC_OPT_STR, &outp, "output text file, one lemma per line (required)"},
        {0},
    };
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts,
        "usage: taclust nouns [--wordnet DIR] --out nouns.txt\n\n"
        "Writes TAC's noun list: one line per lemma of every noun synset of DIR/data.noun, in file order, with\n"
        "underscores and case kept (146,347 lines for WordNet 3.0: entity, physical_entity, abstraction, ...).\n"
        "Line i is row i of TAC's data/WordNetNouns.csv. Duplicate lemmas (one per sense) are kept, as TAC does.",
        &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust nouns: unexpected argument (use --wordnet DIR --out FILE)\n"); return 2; }
    if (!outp) { fprintf(stderr, "taclust nouns: --out is required (taclust nouns --help)\n"); return 2; }
    char **nouns; int64_t m;
    if (tac_wordnet_nouns(dir, &nouns, &m) != TAC_OK) return tac_cli_error("nouns");
    tac_atomic a;
    if (tac_atomic_open(&a, outp) != TAC_OK) { tac_free_strings(nouns, m); return tac_cli_error("nouns"); }
    for (int64_t i = 0; i < m; i++) { fputs(nouns[i], a.f); fputc('\n', a.f); }
    tac_free_strings(nouns, m);
    if (tac_atomic_commit(&a) != TAC_OK) return tac_cli_error("nouns");
    tac_info("wrote %lld nouns to %s", (long long)m, outp);
    return 0;
}

TAC_COMMAND("nouns", "write the WordNet noun list TAC uses (one lemma per line)", cmd_nouns)
