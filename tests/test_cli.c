/* test_cli.c - the `taclust` front end: --help texts, --version, and usage errors (exit 2, one line on stderr)
 * for the top level and for each merged command. Runs the built binary (tac_test_bin()). */
#include "tac_test.h"

/* Runs `taclust ARGS` with stdout and stderr captured; returns the exit code. */
static int run(const char *args, const char *out, const char *err)
{
    return tac_test_sh("%s %s > '%s' 2> '%s'", tac_test_bin(), args, out, err);
}

static int64_t count_lines(const char *path, char ***lines)
{
    int64_t n = -1;
    if (tac_read_lines(path, lines, &n, 1) != TAC_OK) { *lines = NULL; return -1; }
    return n;
}

/* The command exits 2 and says one line on stderr that starts with `prefix`. */
static void expect_usage_error(const char *args, const char *prefix)
{
    const char *dir = tac_test_tmpdir();
    const char *out = tac_test_path(dir, "out"), *err = tac_test_path(dir, "err");
    int rc = run(args, out, err);
    char **l;
    int64_t n = count_lines(err, &l);
    if (rc != 2 || n != 1 || strncmp(l[0], prefix, strlen(prefix)) != 0)
        tac_test_fail_at(__FILE__, __LINE__, "taclust %s: exit %d, %lld stderr lines (first: %s); expected exit 2 and one line '%s...'",
                         args, rc, (long long)n, n > 0 ? l[0] : "-", prefix);
    tac_free_strings(l, n);
}

static const char *const commands[] = {"assign", "bench", "cluster", "embed-images", "embed-text", "fit", "kmeans", "knn",
                                       "metrics", "nouns", "predict", "preprocess", "retrieve", "select-nouns",
                                       "tokenize", "train-heads"};

TAC_TEST(cli_top_level_help_and_errors)
{
    const char *dir = tac_test_tmpdir();
    const char *out = tac_test_path(dir, "out"), *err = tac_test_path(dir, "err");
    TAC_CHECK_INT(run("--help", out, err), 0);
    char *text; size_t len;
    TAC_CHECK_OK(tac_read_file(out, &text, &len));
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s ", commands[i]);
        if (!strstr(text, want)) tac_test_fail_at(__FILE__, __LINE__, "taclust --help does not list %s", commands[i]);
    }
    free(text);
    TAC_CHECK_INT(run("--version", out, err), 0);
    TAC_CHECK_OK(tac_read_file(out, &text, &len));
    TAC_CHECK(strncmp(text, "taclust " TACLUST_VERSION " (OpenBLAS core ", strlen("taclust " TACLUST_VERSION " (OpenBLAS core ")) == 0);
    TAC_CHECK(len > 0 && text[len - 1] == '\n' && strchr(text, '\n') == text + len - 1);   /* one line */
    free(text);
    TAC_CHECK_INT(run("", out, err), 2);                        /* no command: the usage on stderr */
    expect_usage_error("bogus", "taclust: unknown command 'bogus'");
    expect_usage_error("help bogus", "taclust: unknown command 'bogus'");
    expect_usage_error("--quiet bogus", "taclust: unknown command 'bogus'");
}

TAC_TEST(cli_each_command_help_and_bad_usage)
{
    const char *dir = tac_test_tmpdir();
    const char *out = tac_test_path(dir, "out"), *err = tac_test_path(dir, "err");
    char args[128], prefix[128];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *c = commands[i];
        for (int form = 0; form < 2; form++) {
            snprintf(args, sizeof args, form ? "help %s" : "%s --help", c);
            TAC_CHECK_INT(run(args, out, err), 0);
            char **l;
            int64_t n = count_lines(out, &l);
            snprintf(prefix, sizeof prefix, "usage: taclust %s ", c);
            if (n < 3 || strncmp(l[0], prefix, strlen(prefix)) != 0)
                tac_test_fail_at(__FILE__, __LINE__, "taclust %s: %lld lines, first '%s'", args, (long long)n, n > 0 ? l[0] : "-");
            for (int64_t k = 0; k < n; k++) {
                size_t w = strlen(l[k]);
                if (w > 110) tac_test_fail_at(__FILE__, __LINE__, "taclust %s: line %lld is %zu columns wide", args, (long long)k + 1, w);
                if (w && l[k][w - 1] == ' ') tac_test_fail_at(__FILE__, __LINE__, "taclust %s: line %lld ends with a space", args, (long long)k + 1);
            }
            tac_free_strings(l, n);
        }
        snprintf(args, sizeof args, "%s --no-such-option", c);
        snprintf(prefix, sizeof prefix, "taclust %s: unknown option '--no-such-option'", c);
        expect_usage_error(args, prefix);
        snprintf(args, sizeof args, "%s", c);                   /* required options missing */
        snprintf(prefix, sizeof prefix, "taclust %s: ", c);
        expect_usage_error(args, prefix);
    }
    expect_usage_error("preprocess a.jpg --out x.npy --resize abc", "taclust preprocess: --resize: 'abc' is not a valid number");
    expect_usage_error("preprocess a.jpg --out x.npy --resize 300", "taclust preprocess: --resize must be 224 or 256");
    expect_usage_error("preprocess a.jpg --out", "taclust preprocess: --out needs a value");
    expect_usage_error("metrics --labels a --pred b extra", "taclust metrics: unexpected argument");
    expect_usage_error("tokenize --vocab x --context 0 hi", "taclust tokenize: --context must be");
    expect_usage_error("nouns --out x --wordnet=", "taclust nouns: --wordnet needs a value (got an empty one)");
    expect_usage_error("nouns --out ''", "taclust nouns: --out needs a value (got an empty one)");
}
