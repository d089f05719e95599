/* test_nouns.c - tests of tac_wordnet.c and `taclust nouns`: the WordNet 3.0 noun list against an independent
 * Python parse (tests/fixtures/metrics/wordnet_nouns.txt: count, FNV-1a 64 of the output bytes, sampled rows,
 * written by tools/gen_metrics_fixtures.py), hand-written data.noun files and their error messages, the prompt
 * templates and the centre-count rule against section 4's table. */
#include "tac_test.h"
#include "taclust/textspace.h"

#include <sys/stat.h>
#include <unistd.h>

#define WN_FIX "tests/fixtures/metrics/wordnet_nouns.txt"
#define WN_REAL TAC_WORDNET_DEFAULT_DIR "/data.noun"

static uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) { h ^= p[i]; h *= 0x100000001B3ull; }
    return h;
}
#define FNV_INIT 0xCBF29CE484222325ull

TAC_TEST(nouns_num_centres_table)
{
    /* tac-method.md section 4: the constants hard-coded in TAC */
    TAC_CHECK_INT(tac_num_centres(50000, 10), 167);     /* CIFAR-10 */
    TAC_CHECK_INT(tac_num_centres(50000, 20), 167);     /* CIFAR-20 */
    TAC_CHECK_INT(tac_num_centres(5000, 10), 17);       /* STL-10: 17 is kept though < 3K */
    TAC_CHECK_INT(tac_num_centres(13000, 10), 43);      /* ImageNet-10: rounding, not ceiling */
    TAC_CHECK_INT(tac_num_centres(19500, 15), 65);      /* ImageNet-Dogs */
    TAC_CHECK_INT(tac_num_centres(3760, 47), 141);      /* DTD: 13 < 47 -> 3K */
    TAC_CHECK_INT(tac_num_centres(1281167, 1000), 4271);/* ImageNet-1K: 4270.56 -> 4271 */
    TAC_CHECK_INT(tac_num_centres(9537, 101), 303);     /* UCF101: ~32 < 101 -> 3K */
    TAC_CHECK_INT(tac_num_centres(2999, 10), 10);       /* 9.997 rounds to 10, not below K */
    TAC_CHECK_INT(tac_num_centres(2849, 10), 30);       /* 9.497 rounds to 9 < 10 */
}

TAC_TEST(nouns_prompt_templates)
{
    const char *want[7] = {"itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                           "a {} in a video game.", "art of the {}.", "a photo of the small {}."};
    for (int i = 0; i < 7; i++) {
        TAC_CHECK(strcmp(tac_prompt_templates[i], want[i]) == 0);
        const char *b = strstr(tac_prompt_templates[i], "{}");
        TAC_CHECK(b && !strstr(b + 2, "{}"));
    }
}

/* A tiny data.noun in the real layout: licence lines, then 3 synsets (5 lemmas). */
static const char *tiny =
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n"
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | that which is perceived  \n"
    "00001930 03 n 02 physical_entity 0 French_leave 1 001 @ 00001740 n 0000 | an entity  \n"
    "00002137 03 n 0a a 0 b 1 null 2 d 3 e 4 f 5 g 6 h 7 i 8 j 9 000 | ten lemmas, hex w_cnt  \n";

static const char *write_dir(const char *name, const char *content, size_t len)
{
    const char *dir = tac_test_path(tac_test_tmpdir(), name);
    if (tac_mkdir_p(dir) != TAC_OK) return NULL;
    if (content && tac_write_file_atomic(tac_test_path(dir, "data.noun"), content, len) != TAC_OK) return NULL;
    return dir;
}

TAC_TEST(nouns_parse_handwritten)
{
    const char *dir = write_dir("wn", tiny, strlen(tiny));
    TAC_REQUIRE(dir);
    char **w; int64_t m;
    TAC_CHECK_OK(tac_wordnet_nouns(dir, &w, &m));
    TAC_CHECK_INT(m, 13);
    const char *want[13] = {"entity", "physical_entity", "French_leave", "a", "b", "null", "d", "e", "f", "g", "h", "i", "j"};
    for (int i = 0; i < 13 && i < m; i++) TAC_CHECK(strcmp(w[i], want[i]) == 0);
    tac_free_strings(w, m);
    /* the CLI writes the same list, one per line */
    const char *out = tac_test_path(dir, "n.txt");
    TAC_CHECK_INT(tac_test_sh("%s nouns --quiet --wordnet %s --out %s", tac_test_bin(), dir, out), 0);
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(out, &buf, &len));
    TAC_CHECK(strcmp(buf, "entity\nphysical_entity\nFrench_leave\na\nb\nnull\nd\ne\nf\ng\nh\ni\nj\n") == 0);
    free(buf);
}

TAC_TEST(nouns_errors)
{
    char **w; int64_t m;
    const char *base = tac_test_tmpdir();
    TAC_CHECK_ERR(tac_wordnet_nouns(tac_test_path(base, "nowhere"), &w, &m), "WordNet directory not found");
    const char *empty = write_dir("empty", NULL, 0);
    TAC_REQUIRE(empty);
    TAC_CHECK_ERR(tac_wordnet_nouns(empty, &w, &m), "no data.noun");
    const char *afile = tac_test_path(base, "plain");
    TAC_CHECK_OK(tac_write_file_atomic(afile, "x", 1));
    TAC_CHECK_ERR(tac_wordnet_nouns(afile, &w, &m), "not a directory");
    /* truncated in the middle of the last line */
    size_t tl = strlen(tiny);
    const char *d = write_dir("trunc", tiny, tl - 30);
    TAC_REQUIRE(d);
    TAC_CHECK_ERR(tac_wordnet_nouns(d, &w, &m), "line 5: truncated");
    /* header only, and a zero-byte file */
    d = write_dir("hdr", tiny, (size_t)(strstr(tiny, "00001740") - tiny));
    TAC_REQUIRE(d);
    TAC_CHECK_ERR(tac_wordnet_nouns(d, &w, &m), "no noun synsets");
    d = write_dir("zero", "", 0);
    TAC_REQUIRE(d);
    TAC_CHECK_ERR(tac_wordnet_nouns(d, &w, &m), "no noun synsets");
    /* malformed synset lines: each names the line */
    const struct { const char *line, *err; } bad[] = {
        {"00001740 03 n 02 entity 0 000 | too few words\n", "line 1: expected 2 word/lex_id pairs, pair 2"},
        {"00001740 03 n zz entity 0 000 | bad count\n", "line 1: missing or bad w_cnt"},
        {"00001740 03 v 01 run 0 000 | a verb\n", "line 1: ss_type is not 'n'"},
        {"1740 03 n 01 entity 0 000 | short offset\n", "line 1: synset offset '1740' is not 8 digits"},
        {"00001740 03 n 01 entity 0 002 @ 00001930 n 0000 | one pointer short\n", "line 1: expected 2 pointers, pointer 2"},
        {"00001740 03 n 01 entity 0 000 no bar\n", "line 1: missing '|'"},
        {"\n", "line 1: empty line"},
        {"00001740 03 n 01 entity x 000 | bad lex_id\n", "line 1: expected 1 word/lex_id pairs, pair 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "bad%zu", i);
        d = write_dir(name, bad[i].line, strlen(bad[i].line));
        TAC_REQUIRE(d);
        TAC_CHECK_ERR(tac_wordnet_nouns(d, &w, &m), bad[i].err);
        TAC_CHECK(strstr(tac_last_error(), "data.noun") != NULL);
    }
    /* the CLI reports the reason and exits 1; a missing --out is a usage error */
    TAC_CHECK_INT(tac_test_sh("%s nouns --wordnet %s --out %s/x.txt 2>/dev/null", tac_test_bin(), empty, base), 1);
    TAC_CHECK_INT(tac_test_sh("%s nouns --wordnet %s 2>/dev/null", tac_test_bin(), empty), 2);
    TAC_CHECK(access(tac_test_path(base, "x.txt"), F_OK) != 0);
}

TAC_TEST(nouns_wordnet30_matches_reference)
{
    if (access(WN_REAL, R_OK) != 0) TAC_SKIP(WN_REAL " absent (apt-get install wordnet-base)");
    char **lines; int64_t nl;
    TAC_CHECK_OK(tac_read_lines(WN_FIX, &lines, &nl, 1));
    long long want_count = -1;
    unsigned long long want_fnv = 0;
    for (int64_t i = 0; i < nl; i++) {
        sscanf(lines[i], "count %lld", &want_count);
        sscanf(lines[i], "fnv1a64 %llx", &want_fnv);
    }
    TAC_CHECK_INT(want_count, 146347);
    char **w; int64_t m;
    double t0 = tac_now();
    TAC_CHECK_OK(tac_wordnet_nouns(NULL, &w, &m));
    printf("  WordNet 3.0: %lld nouns in %.2fs\n", (long long)m, tac_now() - t0);
    TAC_CHECK_INT(m, want_count);
    uint64_t h = FNV_INIT;
    for (int64_t i = 0; i < m; i++) { h = fnv1a64_update(h, w[i], strlen(w[i])); h = fnv1a64_update(h, "\n", 1); }
    TAC_CHECK(h == (uint64_t)want_fnv);
    int rows = 0;
    for (int64_t i = 0; i < nl; i++) {
        long long r; char word[128];
        if (sscanf(lines[i], "row %lld %127s", &r, word) != 2) continue;
        TAC_REQUIRE(r >= 0 && r < m);
        if (strcmp(w[r], word) != 0) tac_test_fail_at(__FILE__, __LINE__, "row %lld: '%s', expected '%s'", r, w[r], word);
        rows++;
    }
    TAC_CHECK(rows >= 20);
    /* section 3.1 facts, independent of the fixture */
    TAC_CHECK(strcmp(w[0], "entity") == 0 && strcmp(w[1], "physical_entity") == 0);
    TAC_CHECK(strcmp(w[2], "abstraction") == 0 && strcmp(w[3], "abstract_entity") == 0);
    TAC_CHECK(strcmp(w[72126], "nan") == 0 && strcmp(w[92810], "nan") == 0 && strcmp(w[94909], "nan") == 0);
    TAC_CHECK(strcmp(w[131919], "null") == 0);
    size_t longest = 0;
    for (int64_t i = 0; i < m; i++) if (strlen(w[i]) > longest) longest = strlen(w[i]);
    TAC_CHECK_INT(longest, 71);
    tac_free_strings(w, m);
    tac_free_strings(lines, nl);
    /* the CLI output file has the same bytes */
    const char *out = tac_test_path(tac_test_tmpdir(), "nouns.txt");
    TAC_CHECK_INT(tac_test_sh("%s nouns --quiet --out %s", tac_test_bin(), out), 0);
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(out, &buf, &len));
    TAC_CHECK(fnv1a64_update(FNV_INIT, buf, len) == (uint64_t)want_fnv);
    free(buf);
}
