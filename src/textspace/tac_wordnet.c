/* tac_wordnet.c - TAC's noun vocabulary and its small constants (tac-method.md sections 3.1, 3.2, 4).
 *
 *   char **nouns; int64_t m;
 *   tac_wordnet_nouns("/usr/share/wordnet", &nouns, &m);   // m = 146,347 for WordNet 3.0
 *   ... tac_free_strings(nouns, m);
 *   tac_prompt_templates[0..6]                              // "itap of a {}." ...
 *   int k = tac_num_centres(50000, 10);                     // 167
 *
 * tac_wordnet_nouns reads DIR/data.noun (format: man 5 wndb) and returns one string per lemma of every noun
 * synset, in file order and in each synset's lemma order: exactly the `word` column of TAC's shipped
 * data/WordNetNouns.csv (underscores and case kept, lex_id dropped). Licence lines (starting with two spaces) are
 * skipped. Each synset line is checked field by field:
 *     offset(8 digits) lex_filenum(2 digits) ss_type(n) w_cnt(2 hex) [word lex_id(1 hex)]*w_cnt
 *     p_cnt(3 digits) [symbol offset pos source/target(4 hex)]*p_cnt | gloss
 * and any deviation is reported with the file name and line number (a truncated file ends without '\n').
 * Note (section 3.1): rows 72126, 92810, 94909 are the lemma "nan" and row 131919 is "null"; they are returned
 * as they are. TAC's pandas reading turns "null" into NaN, i.e. the prompt text "nan"; that quirk belongs to
 * whoever builds the prompts, not to this list.
 */
#include "taclust/textspace.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const tac_prompt_templates[TAC_NUM_TEMPLATES] = {
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",            /* sic: "a", not "an", as in CLIP's notebook and TAC */
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
};

int tac_num_centres(int64_t n_train, int K)
{
    if (n_train < 0 || K < 1)
        return tac_fail("number of centres: needs n_train >= 0 and K >= 1 (got %lld, %d)", (long long)n_train, K);
    int64_t k = n_train / 300 + (n_train % 300 >= 150);   /* round(n/300), halves up ((n+150)/300 overflowed) */
    if (k < K) k = 3 * (int64_t)K;
    if (k > 2147483647) return tac_fail("number of centres: %lld training rows give too many centres", (long long)n_train);
    return (int)k;
}

/* A whitespace-separated token of a line: [s, s+len). */
typedef struct { const char *s; int len; } tok;

static int next_tok(const char **p, const char *end, tok *t)
{
    const char *s = *p;
    while (s < end && *s == ' ') s++;
    if (s >= end) return 0;
    const char *e = s;
    while (e < end && *e != ' ') e++;
    t->s = s; t->len = (int)(e - s);
    *p = e;
    return 1;
}

static int all_of(const tok *t, int len, int (*cls)(int))
{
    if (len && t->len != len) return 0;
    for (int i = 0; i < t->len; i++) if (!cls((unsigned char)t->s[i])) return 0;
    return t->len > 0;
}

static int hexval(const tok *t)
{
    int v = 0;
    for (int i = 0; i < t->len; i++) {
        int c = (unsigned char)t->s[i];
        v = v * 16 + (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return v;
}

#define BAD(...) do { tac_fail(__VA_ARGS__); goto fail; } while (0)

int tac_wordnet_nouns(const char *dir, char ***nouns, int64_t *n)
{
    TAC_ASSERT(nouns && n);
    if (!dir) dir = TAC_WORDNET_DEFAULT_DIR;
    struct stat st;
    if (stat(dir, &st) != 0)
        return tac_fail("%s: WordNet directory not found (%s; install WordNet 3.0: apt-get install wordnet-base, "
                        "or pass the folder holding data.noun)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return tac_fail("%s: not a directory (expected the WordNet folder holding data.noun)", dir);
    size_t dl = strlen(dir);
    char *path = tac_try_malloc(dl + 16, 1, "WordNet path");
    if (!path) return TAC_ERR;
    snprintf(path, dl + 16, "%s%sdata.noun", dir, dl && dir[dl - 1] == '/' ? "" : "/");
    if (stat(path, &st) != 0) {
        tac_fail("%s: no data.noun in this WordNet directory (WordNet 3.0 database files, e.g. %s from wordnet-base)",
                 dir, TAC_WORDNET_DEFAULT_DIR);
        free(path);
        return TAC_ERR;
    }
    char *buf = NULL; size_t len;
    if (tac_read_file_max(path, &buf, &len, TAC_LINES_MAX) != TAC_OK) { free(path); return TAC_ERR; }

    int64_t cap = 1024, cnt = 0, line = 0, nsyn = 0;
    char **out = tac_try_malloc((size_t)cap, sizeof(char *), "WordNet nouns");   /* M lemma strings, grown */
    if (!out) { free(buf); free(path); return TAC_ERR; }
    const char *s = buf, *end = buf + len;
    while (s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        line++;
        if (!e) BAD("%s: line %lld: truncated (the file does not end with a newline)", path, (long long)line);
        if (e - s >= 2 && s[0] == ' ' && s[1] == ' ') { s = e + 1; continue; }   /* licence header */
        if (memchr(s, 0, (size_t)(e - s))) BAD("%s: line %lld: NUL byte (not a WordNet data file?)", path, (long long)line);
        const char *p = s;
        tok t;
        if (!next_tok(&p, e, &t)) BAD("%s: line %lld: empty line", path, (long long)line);
        if (!all_of(&t, 8, isdigit)) BAD("%s: line %lld: synset offset '%.*s' is not 8 digits", path, (long long)line, t.len > 20 ? 20 : t.len, t.s);
        if (!next_tok(&p, e, &t) || !all_of(&t, 2, isdigit)) BAD("%s: line %lld: missing or bad lex_filenum", path, (long long)line);
        if (!next_tok(&p, e, &t) || t.len != 1 || t.s[0] != 'n')
            BAD("%s: line %lld: ss_type is not 'n' (not a noun data file?)", path, (long long)line);
        if (!next_tok(&p, e, &t) || !all_of(&t, 2, isxdigit)) BAD("%s: line %lld: missing or bad w_cnt (2 hex digits)", path, (long long)line);
        int w = hexval(&t);
        if (w == 0) BAD("%s: line %lld: synset with no words (w_cnt 00)", path, (long long)line);
        int64_t first = cnt;
        for (int i = 0; i < w; i++) {
            tok word, lex;
            if (!next_tok(&p, e, &word) || !next_tok(&p, e, &lex) || !all_of(&lex, 1, isxdigit)) {
                for (int64_t q = first; q < cnt; q++) free(out[q]);
                cnt = first;
                BAD("%s: line %lld: expected %d word/lex_id pairs, pair %d is missing or bad", path, (long long)line, w, i + 1);
            }
            if (cnt == cap) {
                char **grown = tac_try_realloc(out, (size_t)cap * 2, sizeof(char *), "WordNet nouns");
                if (!grown) goto fail;
                out = grown;
                cap *= 2;
            }
            char *str = tac_try_malloc((size_t)word.len + 1, 1, "WordNet noun");
            if (!str) goto fail;
            memcpy(str, word.s, (size_t)word.len);
            str[word.len] = 0;
            out[cnt++] = str;
        }
        if (!next_tok(&p, e, &t) || !all_of(&t, 3, isdigit)) BAD("%s: line %lld: missing or bad pointer count", path, (long long)line);
        int pc = atoi(t.s);
        for (int i = 0; i < pc; i++) {
            tok sym, off, pos, st4;
            if (!next_tok(&p, e, &sym) || !next_tok(&p, e, &off) || !next_tok(&p, e, &pos) || !next_tok(&p, e, &st4) ||
                !all_of(&off, 8, isdigit) || pos.len != 1 || !all_of(&st4, 4, isxdigit))
                BAD("%s: line %lld: expected %d pointers, pointer %d is missing or bad", path, (long long)line, pc, i + 1);
        }
        if (!next_tok(&p, e, &t) || t.len != 1 || t.s[0] != '|') BAD("%s: line %lld: missing '|' before the gloss", path, (long long)line);
        nsyn++;
        s = e + 1;
    }
    if (nsyn == 0) BAD("%s: no noun synsets (empty or header-only file)", path);
    free(buf); free(path);
    *nouns = out; *n = cnt;
    return TAC_OK;
fail:
    tac_free_strings(out, cnt);
    free(buf); free(path);
    return TAC_ERR;
}
