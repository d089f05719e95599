/* test_tokenizer.c - tests of the CLIP BPE tokenizer (src/clip/tac_bpe.c) against the answers of the
 * independent Python reference tools/ref_clip_tokenizer.py, stored in tests/fixtures/tokenizer/clip_tokenizer.txt
 * by tools/gen_tokenizer_fixtures.py:
 *   - ~1,600 hard and random strings (accents, CJK, emoji, contractions, HTML entities, whitespace, long texts):
 *     every id compared, zero padding included;
 *   - all 146,347 WordNet noun lemmas (tac_wordnet_nouns, taken as-is: row 131919 stays "null", which TAC's
 *     pandas reading turns into "nan", tac-method.md 3.1) x 7 TAC templates: FNV-1a 64 digests per chunk of 1,000 lemmas (a subset
 *     of chunks under AddressSanitizer, which is ~10x slower);
 *   - a Hugging Face folder (vocab.json + merges.txt written here from the .gz) gives the same ids;
 *   - context lengths, threads, the CLI, and errors for missing, truncated and corrupt vocabulary files.
 * Needs ../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz and /usr/share/wordnet/data.noun
 * (the WordNet test is skipped without it).
 */
#include "tac_test.h"
#include "taclust/clip.h"
#include "taclust/textspace.h"

#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define TOK_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TOK_SAN 1
#endif
#endif
#ifndef TOK_SAN
#define TOK_SAN 0
#endif

#define FIXTURE "tests/fixtures/tokenizer/clip_tokenizer.txt"

static const char *gz_path(void)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz", tac_test_shared());
    return p;
}

static tac_bpe *load_gz(void)
{
    tac_bpe *t = NULL;
    if (tac_bpe_load(gz_path(), &t) != TAC_OK) return NULL;
    return t;
}

/* ---- fixture -------------------------------------------------------------------------------------------- */
typedef struct {
    char **text; int32_t **ids; int *nids; int n;   /* S lines */
    char *tmpl[7];                                   /* T lines */
    int64_t *wfirst, *wcount; uint64_t *wdigest; int nw;   /* W lines */
    int64_t all_n; uint64_t all_digest;              /* A line */
} fixture;

static int unhex(const char *h, char *out)
{
    size_t n = strlen(h);
    if (!strcmp(h, "-")) { out[0] = 0; return 0; }
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(h + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    out[n / 2] = 0;
    return 0;
}

static void fixture_free(fixture *f)
{
    for (int i = 0; i < f->n; i++) { free(f->text[i]); free(f->ids[i]); }
    for (int i = 0; i < 7; i++) free(f->tmpl[i]);
    free(f->text); free(f->ids); free(f->nids); free(f->wfirst); free(f->wcount); free(f->wdigest);
}

static int fixture_load(fixture *f)
{
    memset(f, 0, sizeof *f);
    char **lines; int64_t nl;
    if (tac_read_lines(FIXTURE, &lines, &nl, 1) != TAC_OK) return -1;
    f->text = tac_xcalloc((size_t)nl, sizeof *f->text);
    f->ids = tac_xcalloc((size_t)nl, sizeof *f->ids);
    f->nids = tac_xcalloc((size_t)nl, sizeof *f->nids);
    f->wfirst = tac_xcalloc((size_t)nl, sizeof *f->wfirst);
    f->wcount = tac_xcalloc((size_t)nl, sizeof *f->wcount);
    f->wdigest = tac_xcalloc((size_t)nl, sizeof *f->wdigest);
    int bad = 0;
    for (int64_t i = 0; i < nl && !bad; i++) {
        char *l = lines[i];
        if (l[0] == 'T') {
            int k; char *sp = strchr(l + 2, ' ');
            if (sscanf(l + 2, "%d", &k) != 1 || k < 0 || k > 6 || !sp) bad = 1;
            else f->tmpl[k] = strdup(sp + 1);
        } else if (l[0] == 'S') {
            char *h = strtok(l + 2, " "), *cnt = strtok(NULL, " ");
            if (!h || !cnt) { bad = 1; break; }
            char *txt = tac_xmalloc(strlen(h) / 2 + 2, 1);
            if (unhex(h, txt)) { free(txt); bad = 1; break; }
            if (strlen(txt) != strlen(h) / 2 && strcmp(h, "-")) { free(txt); continue; }   /* holds a NUL: not a C string */
            int n = atoi(cnt);
            int32_t *ids = tac_xcalloc(TAC_CLIP_CONTEXT, sizeof *ids);
            for (int k = 0; k < n; k++) { char *v = strtok(NULL, " "); if (!v || k >= TAC_CLIP_CONTEXT) { bad = 1; break; } ids[k] = atoi(v); }
            f->text[f->n] = txt; f->ids[f->n] = ids; f->nids[f->n] = n; f->n++;
        } else if (l[0] == 'W') {
            int c; long long first, count; unsigned long long d;
            if (sscanf(l + 2, "%d %lld %lld %llx", &c, &first, &count, &d) != 4 || c != f->nw) { bad = 1; break; }
            f->wfirst[f->nw] = first; f->wcount[f->nw] = count; f->wdigest[f->nw] = d; f->nw++;
        } else if (l[0] == 'A') {
            long long n; unsigned long long d;
            if (sscanf(l + 2, "%lld %llx", &n, &d) != 2) bad = 1;
            f->all_n = n; f->all_digest = d;
        }
    }
    tac_free_strings(lines, nl);
    for (int k = 0; k < 7; k++) if (!f->tmpl[k]) bad = 1;
    if (bad || f->n < 100 || f->nw == 0) { fixture_free(f); return -1; }
    return 0;
}

static void fill_template(char *dst, size_t cap, const char *tmpl, const char *word)
{
    const char *b = strstr(tmpl, "{}");
    snprintf(dst, cap, "%.*s%s%s", (int)(b - tmpl), tmpl, word, b + 2);
}

static uint64_t fnv_ids(uint64_t h, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int k = 0; k < 4; k++) { h ^= (v >> (8 * k)) & 0xFF; h *= 0x100000001b3ull; }
    }
    return h;
}

/* ---- tests -------------------------------------------------------------------------------------------- */
static int check_strings(tac_bpe *t, const fixture *f, const char *label)
{
    int bad = 0;
    for (int i = 0; i < f->n; i++) {
        int32_t ids[TAC_CLIP_CONTEXT];
        int n = tac_bpe_tokenize(t, f->text[i], ids, TAC_CLIP_CONTEXT);
        if (n != f->nids[i] || memcmp(ids, f->ids[i], sizeof ids)) {
            if (bad++ < 5) {
                int k = 0;
                while (k < TAC_CLIP_CONTEXT && ids[k] == f->ids[i][k]) k++;
                tac_test_fail_at(__FILE__, __LINE__, "%s: string %d '%.60s': %d tokens (expected %d), first difference at %d: %d vs %d",
                                 label, i, f->text[i], n, f->nids[i], k, k < TAC_CLIP_CONTEXT ? ids[k] : -1,
                                 k < TAC_CLIP_CONTEXT ? f->ids[i][k] : -1);
            }
        }
    }
    return bad;
}

TAC_TEST(tokenizer_fixture_strings)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    fixture f;
    TAC_REQUIRE(fixture_load(&f) == 0);
    tac_bpe *t = load_gz();
    if (!t) { fixture_free(&f); TAC_REQUIRE(!"vocabulary loads"); }
    int bad = check_strings(t, &f, "gz");
    TAC_CHECK_INT(bad, 0);
    /* a second pass is served from the word cache and must agree */
    TAC_CHECK_INT(check_strings(t, &f, "gz cached"), 0);
    /* sanity on known ids (OpenAI's tokenizer on "a photo of a cat.") */
    int32_t ids[TAC_CLIP_CONTEXT];
    TAC_CHECK_INT(tac_bpe_tokenize(t, "a photo of a cat.", ids, TAC_CLIP_CONTEXT), 8);
    const int32_t want[8] = {49406, 320, 1125, 539, 320, 2368, 269, 49407};
    TAC_CHECK(memcmp(ids, want, sizeof want) == 0);
    tac_bpe_free(t);
    fixture_free(&f);
}

TAC_TEST(tokenizer_wordnet_prompt_digests)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    fixture f;
    TAC_REQUIRE(fixture_load(&f) == 0);
    char **lem; int64_t nlem;
    if (tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &lem, &nlem) != TAC_OK) {
        fixture_free(&f);
        TAC_SKIP("no /usr/share/wordnet/data.noun (apt wordnet-base)");
    }
    TAC_CHECK_INT(nlem, f.all_n);
    /* the reference's templates are the library's (tac-method.md 3.2) */
    for (int p = 0; p < 7; p++) TAC_CHECK(strcmp(f.tmpl[p], tac_prompt_templates[p]) == 0);
    tac_bpe *t = load_gz();
    TAC_REQUIRE(t);
    int step = TOK_SAN ? 13 : 1;   /* under ASan every 13th chunk (12 chunks, incl. the first and the last) */
    int checked = 0, bad = 0;
    uint64_t all = 0xcbf29ce484222325ull;
    char prompt[512];
    for (int c = 0; c < f.nw; c++) {
        if (c % step && c != f.nw - 1) continue;
        uint64_t h = 0xcbf29ce484222325ull;
        for (int64_t i = f.wfirst[c]; i < f.wfirst[c] + f.wcount[c] && i < nlem; i++)
            for (int p = 0; p < 7; p++) {
                int32_t ids[TAC_CLIP_CONTEXT];
                fill_template(prompt, sizeof prompt, f.tmpl[p], lem[i]);
                tac_bpe_tokenize(t, prompt, ids, TAC_CLIP_CONTEXT);
                h = fnv_ids(h, ids, TAC_CLIP_CONTEXT);
                if (step == 1) all = fnv_ids(all, ids, TAC_CLIP_CONTEXT);
            }
        checked++;
        if (h != f.wdigest[c] && bad++ < 5)
            tac_test_fail_at(__FILE__, __LINE__, "WordNet chunk %d (lemmas %lld..%lld, first '%s'): digest %016llx, expected %016llx",
                             c, (long long)f.wfirst[c], (long long)(f.wfirst[c] + f.wcount[c] - 1), lem[f.wfirst[c]],
                             (unsigned long long)h, (unsigned long long)f.wdigest[c]);
    }
    TAC_CHECK_INT(bad, 0);
    if (step == 1) { TAC_CHECK_INT(checked, 147); TAC_CHECK(all == f.all_digest); }
    printf("  checked %d of %d chunks of 1000 lemmas x 7 prompts\n", checked, f.nw);
    tac_free_strings(lem, nlem);
    tac_bpe_free(t);
    fixture_free(&f);
}

/* JSON string literal of s */
static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', o);
        fputc(*s, o);
    }
    fputc('"', o);
}

static size_t put_utf8(unsigned v, char *o)
{
    if (v < 0x80) { o[0] = (char)v; return 1; }
    o[0] = (char)(0xC0 | v >> 6); o[1] = (char)(0x80 | (v & 0x3F));
    return 2;
}

/* Writes DIR/vocab.json (keys in reverse id order) and DIR/merges.txt from the OpenAI .gz */
static int write_hf_folder(const char *dir)
{
    gzFile g = gzopen(gz_path(), "rb");
    if (!g) return -1;
    char *lines = tac_xmalloc(1 << 21, 1);
    size_t n = (size_t)gzread(g, lines, (1 << 21) - 1);
    gzclose(g);
    lines[n] = 0;
    enum { NM = 48894 };
    char **m = tac_xmalloc(NM, sizeof *m);
    char *p = strchr(lines, '\n') + 1;
    for (int i = 0; i < NM; i++) { m[i] = p; p = strchr(p, '\n'); *p++ = 0; }
    /* the byte alphabet: printable bytes stand for themselves, the rest 256.. in byte order */
    char (*tok)[256] = tac_xmalloc(512 + NM + 2, sizeof *tok);   /* vocabulary strings by id */
    int k = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) { size_t l = put_utf8((unsigned)b, tok[k]); tok[k++][l] = 0; }
    for (int b = 0, e = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) { size_t l = put_utf8(256u + (unsigned)e++, tok[k]); tok[k++][l] = 0; }
    for (int i = 0; i < 256; i++) { size_t l = strlen(tok[i]); memcpy(tok[256 + i], tok[i], l); memcpy(tok[256 + i] + l, "</w>", 5); }
    k = 512;
    for (int i = 0; i < NM; i++) {
        char *sp = strchr(m[i], ' ');
        snprintf(tok[k++], 256, "%.*s%s", (int)(sp - m[i]), m[i], sp + 1);
    }
    snprintf(tok[k++], 256, "<|startoftext|>");
    snprintf(tok[k++], 256, "<|endoftext|>");
    FILE *o = fopen(tac_test_path(dir, "vocab.json"), "w");
    fputc('{', o);
    for (int i = k - 1; i >= 0; i--) { json_str(o, tok[i]); fprintf(o, ": %d%s", i, i ? ", " : "}"); }
    fclose(o);
    o = fopen(tac_test_path(dir, "merges.txt"), "w");
    fprintf(o, "#version: 0.2\n");
    for (int i = 0; i < NM; i++) fprintf(o, "%s\n", m[i]);
    fclose(o);
    free(tok); free(m); free(lines);
    return 0;
}

TAC_TEST(tokenizer_hf_folder_gives_same_ids)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    fixture f;
    TAC_REQUIRE(fixture_load(&f) == 0);
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(write_hf_folder(dir) == 0);
    tac_bpe *t = NULL;
    TAC_CHECK_OK(tac_bpe_load(dir, &t));
    TAC_CHECK_INT(check_strings(t, &f, "vocab.json+merges.txt"), 0);
    tac_bpe_free(t);
    /* the merges.txt alone (OpenAI layout: header line, then merges) */
    TAC_CHECK_OK(tac_bpe_load(tac_test_path(dir, "merges.txt"), &t));
    TAC_CHECK_INT(check_strings(t, &f, "merges.txt"), 0);
    tac_bpe_free(t);
    /* a folder with only the .gz is found too: covered by the shared model folder */
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/models/clip-vit-base-patch32", tac_test_shared());
    TAC_CHECK_OK(tac_bpe_load(mdir, &t));
    int32_t ids[TAC_CLIP_CONTEXT];
    TAC_CHECK_INT(tac_bpe_tokenize(t, "itap of a dog.", ids, TAC_CLIP_CONTEXT), 8);
    const int32_t want[8] = {49406, 529, 2728, 539, 320, 1929, 269, 49407};   /* the Python reference's ids */
    TAC_CHECK(memcmp(ids, want, sizeof want) == 0);
    tac_bpe_free(t);
    fixture_free(&f);
}

TAC_TEST(tokenizer_context_and_truncation)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    tac_bpe *t = load_gz();
    TAC_REQUIRE(t);
    int32_t ids[100];
    /* "a photo of a cat." is SOT + 6 + EOT */
    TAC_CHECK_INT(tac_bpe_tokenize(t, "a photo of a cat.", ids, 8), 8);
    TAC_CHECK_INT(ids[7], TAC_CLIP_EOT);
    TAC_CHECK_INT(ids[6], 269);
    TAC_CHECK_INT(tac_bpe_tokenize(t, "a photo of a cat.", ids, 7), 7);   /* cut: the '.' goes, EOT stays */
    TAC_CHECK_INT(ids[5], 2368); TAC_CHECK_INT(ids[6], TAC_CLIP_EOT);
    TAC_CHECK_INT(tac_bpe_tokenize(t, "a photo of a cat.", ids, 1), 1);
    TAC_CHECK_INT(ids[0], TAC_CLIP_EOT);
    TAC_CHECK_INT(tac_bpe_tokenize(t, "", ids, 2), 2);
    TAC_CHECK_INT(ids[0], TAC_CLIP_SOT); TAC_CHECK_INT(ids[1], TAC_CLIP_EOT);
    for (int i = 0; i < 100; i++) ids[i] = -5;
    TAC_CHECK_INT(tac_bpe_tokenize(t, "cat", ids, 100), 3);
    for (int i = 3; i < 100; i++) TAC_CHECK(ids[i] == 0);
    TAC_CHECK_ERR(tac_bpe_tokenize(t, "cat", ids, 0), "context length");
    TAC_CHECK_ERR(tac_bpe_tokenize(t, NULL, ids, 77), "NULL");
    /* invalid UTF-8 does not crash; each bad byte acts as U+FFFD */
    int32_t a[77], b[77];
    TAC_CHECK(tac_bpe_tokenize(t, "x\xff\xfe y \xc3", a, 77) > 0);
    TAC_CHECK(tac_bpe_tokenize(t, "x\xef\xbf\xbd\xef\xbf\xbd y \xef\xbf\xbd", b, 77) > 0);
    TAC_CHECK(memcmp(a, b, sizeof a) == 0);
    /* a very long word runs (BPE is quadratic in a piece's length, like the original) */
    char *longw = tac_xmalloc(3001, 1);
    for (int i = 0; i < 3000; i++) longw[i] = (char)('a' + (i * 7) % 26);
    longw[3000] = 0;
    TAC_CHECK_INT(tac_bpe_tokenize(t, longw, a, 77), 77);
    TAC_CHECK_INT(a[76], TAC_CLIP_EOT);
    free(longw);
    tac_bpe_free(t);
}

TAC_TEST(tokenizer_threads_agree)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    fixture f;
    TAC_REQUIRE(fixture_load(&f) == 0);
    tac_bpe *t = load_gz();
    if (!t) { fixture_free(&f); TAC_REQUIRE(!"vocabulary loads"); }
    int bad = 0;
    #pragma omp parallel for num_threads(2) schedule(dynamic, 7) reduction(+:bad)
    for (int i = 0; i < 4 * f.n; i++) {
        int32_t ids[TAC_CLIP_CONTEXT];
        int s = (i * 37) % f.n;
        int n = tac_bpe_tokenize(t, f.text[s], ids, TAC_CLIP_CONTEXT);
        bad += n != f.nids[s] || memcmp(ids, f.ids[s], sizeof ids) != 0;
    }
    TAC_CHECK_INT(bad, 0);
    tac_bpe_free(t);
    fixture_free(&f);
}

TAC_TEST(tokenizer_load_errors)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    const char *dir = tac_test_tmpdir();
    tac_bpe *t = NULL;
    TAC_CHECK_ERR(tac_bpe_load(tac_test_path(dir, "nope.txt.gz"), &t), "cannot open");
    TAC_CHECK(t == NULL);
    TAC_CHECK_ERR(tac_bpe_load(dir, &t), "no tokenizer files");
    /* truncated and corrupted gzip */
    char *gz; size_t len;
    TAC_CHECK_OK(tac_read_file(gz_path(), &gz, &len));
    const char *tr = tac_test_path(dir, "trunc.txt.gz");
    TAC_CHECK_OK(tac_write_file_atomic(tr, gz, len / 2));
    TAC_CHECK_ERR(tac_bpe_load(tr, &t), "trunc.txt.gz: corrupt or truncated gzip data");
    TAC_CHECK(strstr(tac_last_error(), "trunc.txt.gz") == strrchr(tac_last_error(), '/') + 1);   /* named once */
    for (size_t i = 1000; i < 1100; i++) gz[i] ^= 0x5A;
    const char *co = tac_test_path(dir, "corrupt.txt.gz");
    TAC_CHECK_OK(tac_write_file_atomic(co, gz, len));
    TAC_CHECK_ERR(tac_bpe_load(co, &t), "corrupt.txt.gz: corrupt");
    free(gz);
    /* too few merges */
    const char *few = tac_test_path(dir, "few.txt");
    TAC_CHECK_OK(tac_write_file_atomic(few, "#version\ni n\nt h\n", 17));
    TAC_CHECK_ERR(tac_bpe_load(few, &t), "truncated: 2 merges, CLIP needs 48894");
    const char *badl = tac_test_path(dir, "badline.txt");
    TAC_CHECK_OK(tac_write_file_atomic(badl, "#version\ni n\nt h x\n", 19));
    TAC_CHECK_ERR(tac_bpe_load(badl, &t), "line 3 is not a merge");
    /* Hugging Face folder with broken files */
    const char *hf = tac_test_path(dir, "hf");
    TAC_REQUIRE(tac_mkdir_p(hf) == TAC_OK);
    char vj[4096], mt[4096];
    snprintf(vj, sizeof vj, "%s/vocab.json", hf);
    snprintf(mt, sizeof mt, "%s/merges.txt", hf);
    TAC_CHECK_OK(tac_write_file_atomic(vj, "{\"a\": 0,", 8));
    TAC_CHECK_OK(tac_write_file_atomic(mt, "#version: 0.2\na b\n", 18));
    TAC_CHECK_ERR(tac_bpe_load(hf, &t), "vocab.json: not a JSON object");
    TAC_CHECK_ERR(tac_bpe_load(vj, &t), "give the folder");
    TAC_REQUIRE(write_hf_folder(hf) == 0);
    /* a merge whose result is missing from vocab.json */
    FILE *o = fopen(mt, "a");
    fprintf(o, "Ā ĉ\n");
    fclose(o);
    TAC_CHECK_ERR(tac_bpe_load(hf, &t), "gives 'Āĉ', which is not in the vocabulary");
    TAC_CHECK(t == NULL);
}

TAC_TEST(tokenizer_cli_prints_ids)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    const char *dir = tac_test_tmpdir();
    const char *out = tac_test_path(dir, "out.txt");
    int rc = tac_test_sh("%s tokenize --vocab %s 'a photo of a cat.' 'don'\"'\"'t &amp; stop' > %s 2>&1", tac_test_bin(), gz_path(), out);
    TAC_CHECK_INT(rc, 0);
    char *s; size_t n;
    TAC_REQUIRE(tac_read_file(out, &s, &n) == TAC_OK);
    /* second line from the Python reference: tools/ref_clip_tokenizer.py "don't &amp; stop" */
    TAC_CHECK(strcmp(s, "49406 320 1125 539 320 2368 269 49407\n49406 847 713 261 1691 49407\n") == 0);
    if (tac_test_failed_now()) printf("  got: %s", s);
    free(s);
    TAC_CHECK(tac_test_sh("%s tokenize --vocab %s/missing 'x' > %s 2>&1", tac_test_bin(), dir, out) == 1);
    TAC_REQUIRE(tac_read_file(out, &s, &n) == TAC_OK);
    TAC_CHECK(strstr(s, "taclust tokenize:") && strstr(s, "missing"));
    free(s);
    /* no --vocab nor --model: the default model's tokenizer; not cached and offline (the suite never downloads) */
    TAC_CHECK(tac_test_sh("HF_HUB_OFFLINE=1 HF_HUB_CACHE=%s/nohub TACLUST_MODEL= %s tokenize 'x' > %s 2>&1", dir, tac_test_bin(), out) == 1);
    TAC_REQUIRE(tac_read_file(out, &s, &n) == TAC_OK);
    TAC_CHECK(strstr(s, "taclust tokenize: openai/clip-vit-base-patch32@main is not in the cache") && strstr(s, "HF_HUB_OFFLINE=1"));
    free(s);
}

extern int tac_bpe_heap_min_len;   /* tac_bpe.c: pieces this long use the heap BPE */

TAC_TEST(tokenizer_heap_bpe_matches_rescan)
{
    if (access(gz_path(), R_OK) != 0) TAC_SKIP("../shared/models/clip-vit-base-patch32/bpe_simple_vocab_16e6.txt.gz not found");
    fixture f;
    TAC_REQUIRE(fixture_load(&f) == 0);
    int saved = tac_bpe_heap_min_len;
    /* every piece through the heap version: the reference's answers still hold */
    tac_bpe_heap_min_len = 2;
    tac_bpe *t = load_gz();
    if (!t) { tac_bpe_heap_min_len = saved; fixture_free(&f); TAC_REQUIRE(!"vocabulary loads"); }
    TAC_CHECK_INT(check_strings(t, &f, "heap BPE"), 0);
    /* long pieces (letters, digits-free symbol runs, repeated patterns): heap vs rescan, ctx 1024 */
    enum { CTX = 1024, LEN = 700 };
    int32_t *a = tac_xmalloc(CTX, sizeof *a), *b = tac_xmalloc(CTX, sizeof *b);
    char *txt = tac_xmalloc(LEN + 1, 1);
    tac_mt rng;
    tac_mt_seed(&rng, 7);
    const char *alpha[4] = {"ab", "etaoinshrdlu", "aaaaaaaab", "!?.-_~"};
    int bad = 0;
    tac_bpe *h, *r;   /* separate word caches, so each call below runs its own algorithm */
    TAC_REQUIRE(tac_bpe_load(gz_path(), &h) == TAC_OK);
    TAC_REQUIRE(tac_bpe_load(gz_path(), &r) == TAC_OK);
    for (int trial = 0; trial < 40; trial++) {
        const char *al = alpha[trial % 4];
        int len = 70 + (int)tac_mt_below(&rng, LEN - 70);
        for (int i = 0; i < len; i++) txt[i] = al[tac_mt_below(&rng, strlen(al))];
        txt[len] = 0;
        tac_bpe_heap_min_len = 2;
        int nh = tac_bpe_tokenize(h, txt, a, CTX);
        tac_bpe_heap_min_len = 1 << 30;
        int nr = tac_bpe_tokenize(r, txt, b, CTX);
        bad += nh != nr || memcmp(a, b, CTX * sizeof *a) != 0;
    }
    tac_bpe_free(h); tac_bpe_free(r);
    tac_bpe_heap_min_len = saved;
    TAC_CHECK_INT(bad, 0);
    /* a 200,000-letter word finishes quickly with the heap (the rescan would take minutes) */
    char *big = tac_xmalloc(200001, 1);
    for (int i = 0; i < 200000; i++) big[i] = "abcdefghijklmnopqrstuvwxyz"[tac_mt_below(&rng, 26)];
    big[200000] = 0;
    double t0 = tac_now();
    TAC_CHECK_INT(tac_bpe_tokenize(t, big, a, 77), 77);
    TAC_CHECK(tac_now() - t0 < 20.0);
    free(big); free(txt); free(a); free(b);
    tac_bpe_free(t);
    fixture_free(&f);
}
