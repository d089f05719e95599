/* test_clip_prefix.c - the text tower's shared-prefix path (tac_clip_forward.c: the rows of a chunk are merged
 * into their token trie, so a token prefix shared by several rows runs once) against the plain path that runs
 * every row in full (m->text_no_prefix = 1), on the committed tiny model (tests/fixtures/clip/tiny, 2 causal
 * layers, real vocab); the rows run are checked against a brute-force count of distinct prefixes.
 * Batches: shared prefixes of several lengths, rows of different lengths, no shared prefix, a row that is the
 * prefix plus EOT only, identical rows, tokens after EOT that differ, and a batch big enough for two chunks.
 * Each batch also runs with two workers (chunks side by side, each with its own copy of their shared prefix).
 * m->text_rows (token rows run) proves which path ran. tac_embed_nouns (batches grouped by template, prefixes
 * shared) == each prompt encoded alone on the plain path, averaged and normalised. Optional: TACLUST_CLIP_B32_RANDOM (a ViT-B/32-shaped
 * random model from tools/gen_clip_fixtures.py b32) runs the 7 TAC-like template prefixes on the real shapes.
 */
#include "tac_test.h"

#include <omp.h>
#include <stdint.h>

#include "taclust/clip.h"
#include "taclust/embed.h"
#include "clip/tac_clip_internal.h"   /* white-box: text_no_prefix, text_rows */

#define TINY "tests/fixtures/clip/tiny"

/* The number of distinct token prefixes of the rows (each cut after its largest id, as the tower does), by brute
 * force: the token rows a trie of the rows has. */
static int64_t distinct_prefixes(const int32_t *ids, int b, int ctx)
{
    int *len = tac_xmalloc((size_t)b, sizeof(int));
    for (int s = 0; s < b; s++) {
        int am = 0;
        for (int i = 0; i < ctx; i++) if (ids[(size_t)s * ctx + i] > ids[(size_t)s * ctx + am]) am = i;
        len[s] = am + 1;
    }
    int64_t cnt = 0;
    for (int s = 0; s < b; s++)
        for (int l = 1; l <= len[s]; l++) {
            int seen = 0;
            for (int u = 0; u < s && !seen; u++)
                seen = len[u] >= l && memcmp(ids + (size_t)u * ctx, ids + (size_t)s * ctx, (size_t)l * 4) == 0;
            cnt += !seen;
        }
    free(len);
    return cnt;
}

/* Encodes ids (b x ctx) with and without prefix sharing; checks equality to 1e-5 and that the shared path ran
 * one token row per distinct prefix (when the batch is one chunk) and want_rows (unless -1). Returns the rows the shared path ran. */
static int64_t check_batch(tac_clip *m, const char *label, const int32_t *ids, int b, int ctx, int64_t want_rows)
{
    int e = tac_clip_embed_dim(m);
    float *plain = tac_xmalloc((size_t)b * e, sizeof(float)), *shared = tac_xmalloc((size_t)b * e, sizeof(float));
    m->text_no_prefix = 1;
    m->text_rows = 0;
    TAC_CHECK(tac_clip_encode_tokens(m, ids, b, ctx, plain) == TAC_OK);
    int64_t plain_rows = m->text_rows;
    m->text_no_prefix = 0;
    m->text_rows = 0;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);                               /* one worker: the batch is one trie per chunk */
    TAC_CHECK(tac_clip_encode_tokens(m, ids, b, ctx, shared) == TAC_OK);
    int64_t rows = m->text_rows;
    double err = tac_test_row_rel_err(shared, plain, b, e);
    /* two workers (whatever the machine has): the rows are cut into chunks that run side by side, each chunk
     * running its own copy of the prefix its rows share */
    float *par = tac_xmalloc((size_t)b * e, sizeof(float));
    omp_set_num_threads(2);
    m->text_rows = 0;
    TAC_CHECK(tac_clip_encode_tokens(m, ids, b, ctx, par) == TAC_OK);
    int64_t par_rows = m->text_rows;
    omp_set_num_threads(threads);
    double perr = tac_test_row_rel_err(par, plain, b, e);
    printf("    %s: %d rows, %lld token rows plain, %lld shared, %lld in two workers; max relative error %.3g, "
           "two workers %.3g\n", label, b, (long long)plain_rows, (long long)rows, (long long)par_rows, err, perr);
    TAC_CHECK(err < 1e-5);
    TAC_CHECK(perr < 1e-5);
    TAC_CHECK(par_rows >= rows && par_rows < plain_rows + (plain_rows == rows));
    if (b >= 16 && rows < plain_rows && plain_rows <= 4096) TAC_CHECK(par_rows > rows);   /* one chunk vs two */
    free(par);
    if (plain_rows <= 4096) TAC_CHECK(rows == distinct_prefixes(ids, b, ctx));   /* one chunk: one trie */
    if (want_rows >= 0) TAC_CHECK(rows == want_rows);
    /* rows with different tokens get different features (a constant output would pass the comparison) */
    const int32_t *first = ids, *lastr = ids + (size_t)(b - 1) * ctx;
    int differ = 0;
    for (int i = 0; i < ctx && !differ; i++) {
        differ = first[i] != lastr[i];
        if (first[i] == TAC_CLIP_EOT) break;
    }
    double d = 0;
    for (int j = 0; j < e; j++) d += fabs(plain[j] - plain[(size_t)(b - 1) * e + j]);
    if (differ) TAC_CHECK(d > 1e-4);
    free(plain); free(shared);
    return rows;
}

/* Row r: SOT, the np-1 prefix tokens pre[], then suffix tokens (count depends on r), EOT, zeros to ctx. */
static int fill_rows(int32_t *ids, int b, int ctx, const int32_t *pre, int np1, int r0, int64_t *tokens)
{
    int64_t tot = 0;
    for (int r = 0; r < b; r++) {
        int32_t *row = ids + (size_t)r * ctx;
        memset(row, 0, (size_t)ctx * sizeof(int32_t));
        int k = 0;
        row[k++] = TAC_CLIP_SOT;
        for (int i = 0; i < np1; i++) row[k++] = pre[i];
        int ns = 1 + (r * 7 + r0) % 5;                              /* 1..5 suffix tokens: different lengths */
        for (int i = 0; i < ns && k < ctx - 1; i++) row[k++] = 300 + (r * 131 + i * 17 + r0) % 40000;
        row[k++] = TAC_CLIP_EOT;
        tot += k;
    }
    *tokens = tot;
    return 0;
}

TAC_TEST(clip_prefix_equals_plain_path_tiny)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    const int ctx = 16, b = 24;
    int32_t *ids = tac_xcalloc((size_t)b * ctx, sizeof(int32_t));
    const int32_t pre[6] = {320, 1125, 539, 518, 2442, 3940};
    int64_t tok;
    /* shared prefixes of 1 (SOT only) .. 6 tokens, suffixes of 1..5 tokens (rows of different lengths) */
    for (int np = 1; np <= 6; np++) {
        fill_rows(ids, b, ctx, pre, np - 1, np, &tok);
        char label[64];
        snprintf(label, sizeof label, "prefix of %d tokens", np);
        check_batch(m, label, ids, b, ctx, tok - (int64_t)(b - 1) * np);
    }
    /* no prefix common to all rows: the first token differs in one row (the others still share theirs) */
    fill_rows(ids, b, ctx, pre, 4, 0, &tok);
    ids[(size_t)5 * ctx] = 1234;
    check_batch(m, "no prefix common to all rows", ids, b, ctx, tok - (int64_t)(b - 2) * 5);
    /* nothing shared at all: every row starts with its own token */
    fill_rows(ids, b, ctx, pre, 4, 0, &tok);
    for (int r = 0; r < b; r++) ids[(size_t)r * ctx] = 2000 + r;
    check_batch(m, "no shared prefix", ids, b, ctx, tok);
    /* the prefix diverges in the middle for one row: that row shares 3 tokens, the others 6 */
    fill_rows(ids, b, ctx, pre, 5, 0, &tok);
    ids[(size_t)7 * ctx + 3] = 4321;
    check_batch(m, "prefix cut by one row at 3 tokens", ids, b, ctx, tok - (int64_t)(b - 2) * 6 - 3);
    /* two groups of rows with different prefixes (two templates in one batch): each group shares its own */
    fill_rows(ids, b, ctx, pre, 5, 0, &tok);
    for (int r = 0; r < b; r += 2) ids[(size_t)r * ctx + 1] = 777;
    check_batch(m, "two prefix groups", ids, b, ctx, tok - (int64_t)(b - 1) * 1 - (int64_t)(b / 2 - 1) * 5 * 2);
    /* one row is the prefix + EOT only: the shared part stops one token before that row's EOT */
    fill_rows(ids, b, ctx, pre, 4, 0, &tok);
    int32_t *r3 = ids + (size_t)3 * ctx;
    for (int i = 0; i < ctx; i++) if (r3[i] == TAC_CLIP_EOT) { tok -= i - 5; break; }
    memset(r3 + 5, 0, (size_t)(ctx - 5) * sizeof(int32_t));
    r3[5] = TAC_CLIP_EOT;                                           /* SOT + 4 prefix tokens + EOT */
    check_batch(m, "a row equal to the prefix + EOT", ids, b, ctx, tok - (int64_t)(b - 1) * 5);
    /* all rows identical: everything but the EOT row is shared; different junk after EOT is ignored */
    fill_rows(ids, b, ctx, pre, 3, 0, &tok);
    for (int r = 1; r < b; r++) memcpy(ids + (size_t)r * ctx, ids, (size_t)ctx * sizeof(int32_t));
    int len0 = 0;
    while (ids[len0] != TAC_CLIP_EOT) len0++;
    len0++;
    for (int r = 0; r < b; r++)
        for (int i = len0; i < ctx; i++) ids[(size_t)r * ctx + i] = (int32_t)(r * 3 + i);   /* below EOT */
    check_batch(m, "identical rows, junk after EOT", ids, b, ctx, len0);
    /* two rows, SOT only in common */
    fill_rows(ids, 2, ctx, pre, 0, 0, &tok);
    check_batch(m, "two rows, SOT only in common", ids, 2, ctx, tok - 1);
    /* one row is a prefix of another (its largest id is not the other's) */
    fill_rows(ids, b, ctx, pre, 3, 0, &tok);
    int32_t *r9 = ids + (size_t)9 * ctx, *r10 = ids + (size_t)10 * ctx;
    memcpy(r10, r9, (size_t)ctx * sizeof(int32_t));
    int l9 = 0;
    while (r9[l9] != TAC_CLIP_EOT) l9++;
    r9[l9] = 5;                                                     /* row 9 now ends at its largest id < EOT */
    r10[l9] = 6000;                                                 /* row 10 continues row 9's tokens */
    r10[l9 + 1] = TAC_CLIP_EOT;
    check_batch(m, "a row that is a prefix of another", ids, b, ctx, -1);
    /* a shared row-for-row result must not depend on the batch: row 0 alone == row 0 in the shared batch */
    fill_rows(ids, b, ctx, pre, 5, 2, &tok);
    int e = tac_clip_embed_dim(m);
    float *all = tac_xmalloc((size_t)b * e, sizeof(float)), one[64];
    TAC_REQUIRE(e <= 64);
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, b, ctx, all));
    for (int r = 0; r < b; r += 7) {
        TAC_CHECK_OK(tac_clip_encode_tokens(m, ids + (size_t)r * ctx, 1, ctx, one));
        tac_test_compare("row alone vs in a shared batch", one, all + (size_t)r * e, (size_t)e, 1e-5);
    }
    free(all); free(ids);
    tac_clip_free(m);
}

/* More than one chunk (4096 packed rows after the shared prefix): every chunk shares its prefix, rows stay in
 * order. */
TAC_TEST(clip_prefix_chunked_batch_tiny)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    const int ctx = 16, b = 1200;
    int32_t *ids = tac_xcalloc((size_t)b * ctx, sizeof(int32_t));
    const int32_t pre[4] = {320, 1125, 539, 518};
    int64_t tok;
    fill_rows(ids, b, ctx, pre, 4, 1, &tok);
    TAC_REQUIRE(tok - (int64_t)b * 5 > 4096 && tok - (int64_t)b * 5 <= 2 * 4096);
    int64_t rows = check_batch(m, "1200 rows, two chunks", ids, b, ctx, -1);
    TAC_CHECK(rows == tok - (int64_t)(b - 2) * 5);   /* each of the two chunks ran its 5-token prefix once */
    free(ids);
    tac_clip_free(m);
}

/* The real shapes (12 layers, width 512, 8 heads) on the 7 prefix lengths of TAC's templates. */
TAC_TEST(clip_prefix_b32_random)
{
    const char *dir = getenv("TACLUST_CLIP_B32_RANDOM");
    if (!dir || !*dir)
        TAC_SKIP("ViT-B/32-shaped prefix check skipped: TACLUST_CLIP_B32_RANDOM not set "
                 "(make one with /usr/bin/python3 tools/gen_clip_fixtures.py b32 /tmp/clip-b32-random)");
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    const int ctx = 16, b = 20;
    const int32_t pre[5] = {320, 1125, 539, 518, 2442};
    int32_t *ids = tac_xcalloc((size_t)b * ctx, sizeof(int32_t));
    int64_t tok;
    const int lens[7] = {5, 6, 3, 6, 2, 4, 6};
    for (int k = 0; k < 7; k++) {
        fill_rows(ids, b, ctx, pre, lens[k] - 1, k, &tok);
        char label[64];
        snprintf(label, sizeof label, "B/32, prefix of %d tokens", lens[k]);
        check_batch(m, label, ids, b, ctx, tok - (int64_t)(b - 1) * lens[k]);
    }
    free(ids);
    tac_clip_free(m);
}

/* tac_embed_nouns groups its batches by template so each shares the template's prefix: same features as every
 * prompt encoded alone on the plain path (mean over the 7 templates in double, L2-normalised), and fewer rows. */
TAC_TEST(clip_prefix_embed_nouns_equal_plain_prompts)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    static const char *const T7[7] = {"itap of a {}.", "a bad photo of the {}.", "a origami {}.",
                                      "a photo of the large {}.", "a {}.", "art of the {}.", "a photo of the small {}."};
    static const char *const words[] = {"dog", "hot_dog", "cat", "physical_entity", "French_leave", "a", "zebra",
                                        "water_lily", "water_buffalo", "x", "origami", "photo"};
    const int nw = (int)(sizeof words / sizeof words[0]), n = 36, E = tac_clip_embed_dim(m);
    char *nouns[36];
    for (int i = 0; i < n; i++) {                                    /* 36 distinct nouns of 1..3 words */
        char buf[96];
        if (i < nw) snprintf(buf, sizeof buf, "%s", words[i]);
        else snprintf(buf, sizeof buf, "%s_%s", words[i % nw], words[(i * 5 + 1) % nw]);
        nouns[i] = tac_xstrdup(buf);
    }
    float *X = tac_xmalloc((size_t)n * E, sizeof(float));           /* M x E */
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = 16; p.label = NULL;
    m->text_rows = 0;
    if (tac_embed_nouns(m, (const char *const *)nouns, n, T7, 7, &p, X) != TAC_OK) {
        tac_test_fail_at(__FILE__, __LINE__, "tac_embed_nouns: %s", tac_last_error());
        return;
    }
    int64_t shared_rows = m->text_rows;
    m->text_no_prefix = 1;
    m->text_rows = 0;
    float t[64], want[64];
    double acc[64];
    TAC_REQUIRE(E <= 64);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        for (int e = 0; e < E; e++) acc[e] = 0;
        for (int k = 0; k < 7; k++) {
            char *pr = tac_prompt_format(T7[k], nouns[i]);
            TAC_CHECK_OK(tac_clip_encode_texts(m, (const char *const *)&pr, 1, t));
            free(pr);
            for (int e = 0; e < E; e++) acc[e] += t[e];
        }
        double ss = 0;
        for (int e = 0; e < E; e++) ss += (acc[e] / 7) * (acc[e] / 7);
        for (int e = 0; e < E; e++) {
            want[e] = (float)(acc[e] / 7 / sqrt(ss));
            worst = fmax(worst, fabs(X[(size_t)i * E + e] - want[e]));
        }
    }
    printf("    %d nouns x 7 templates, batch 16: %lld token rows shared vs %lld plain; max abs error %.3g\n", n,
           (long long)shared_rows, (long long)m->text_rows, worst);
    TAC_CHECK(worst < 1e-5);
    /* 7 templates x 36 nouns in batches of <= 16 of one template: each batch saves at least its template prefix */
    TAC_CHECK(shared_rows < m->text_rows * 3 / 4);
    for (int i = 0; i < n; i++) free(nouns[i]);
    free(X);
    tac_clip_free(m);
}
