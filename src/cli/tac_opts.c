/* tac_opts.c - the option parser shared by every subcommand (see tac_cli.h).
 *
 * Accepts `--name VALUE`, `--name=VALUE`, the short alias, `--` to end options; numbers must parse in full
 * (doubles finite), strings must not be empty. --help prints the usage text and the option table, with help
 * lines wrapped to 100 columns.
 */
#include "tac_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One option line: "  LHS  help", the help wrapped at spaces to fit 100 columns, continued under itself. */
static void print_opt(const char *lhs, const char *help)
{
    enum { COL = 27, WIDTH = 100 };
    if (strlen(lhs) > 24) printf("  %s\n%*s", lhs, COL, "");   /* a long option name: help on the next line */
    else printf("  %-24s ", lhs);
    const char *s = help;
    while (*s) {
        const char *end = s + strlen(s);
        if (end - s > WIDTH - COL) {                  /* break at the last space that fits, else the first one */
            const char *b = s + (WIDTH - COL);
            while (b > s && *b != ' ') b--;
            if (b == s) { b = strchr(s, ' '); if (!b) b = end; }
            end = b;
        }
        printf("%.*s\n", (int)(end - s), s);
        s = end;
        while (*s == ' ') s++;
        if (*s) printf("%*s", COL, "");
    }
    if (!*help) printf("\n");
}

static void print_help(const char *usage, const tac_opt *opts)
{
    printf("%s\n", usage);
    if (opts[0].name) printf("\noptions:\n");
    for (const tac_opt *o = opts; o->name; o++) {
        char lhs[64];
        const char *arg = o->type == TAC_OPT_FLAG ? "" : o->type == TAC_OPT_STR ? " ARG" : " N";
        if (o->alias) snprintf(lhs, sizeof lhs, "%s, %s%s", o->alias, o->name, arg);
        else snprintf(lhs, sizeof lhs, "%s%s", o->name, arg);
        print_opt(lhs, o->help ? o->help : "");
    }
    print_opt("-q, --quiet", "no progress output (accepted by every command)");
}

int tac_parse_opts(int argc, char **argv, const tac_opt *opts, const char *usage, char ***pos, int *npos)
{
    const char *cmd = argv[0];
    char **p = tac_xmalloc((size_t)argc + 1, sizeof(char *));   /* positional arguments, NULL-terminated */
    int np = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) { p[np++] = a; continue; }
        if (strcmp(a, "--") == 0) { only_pos = 1; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { print_help(usage, opts); free(p); return 1; }
        char *val = NULL;
        char namebuf[128];
        const char *eq = strchr(a, '=');
        if (eq && a[1] == '-' && (size_t)(eq - a) < sizeof namebuf) {
            memcpy(namebuf, a, (size_t)(eq - a)); namebuf[eq - a] = 0; val = (char *)eq + 1; a = namebuf;
        }
        const tac_opt *o = NULL;
        for (const tac_opt *q = opts; q->name; q++)
            if (strcmp(q->name, a) == 0 || (q->alias && strcmp(q->alias, a) == 0)) { o = q; break; }
        if (!o) {
            fprintf(stderr, "taclust %s: unknown option '%s' (taclust %s --help lists them)\n", cmd, a, cmd);
            free(p); return 2;
        }
        if (o->type == TAC_OPT_FLAG) {
            if (val) { fprintf(stderr, "taclust %s: %s takes no value\n", cmd, o->name); free(p); return 2; }
            *(int *)o->dst = 1; continue;
        }
        if (!val) {
            if (i + 1 >= argc) { fprintf(stderr, "taclust %s: %s needs a value\n", cmd, o->name); free(p); return 2; }
            val = argv[++i];
        }
        char *end; errno = 0;
        switch (o->type) {
        case TAC_OPT_STR:
            if (!*val) { fprintf(stderr, "taclust %s: %s needs a value (got an empty one)\n", cmd, o->name); free(p); return 2; }
            *(const char **)o->dst = val; break;
        case TAC_OPT_INT: {
            long v = strtol(val, &end, 10);
            if (errno || *end || end == val || v < -2147483647L || v > 2147483647L) goto bad;
            *(int *)o->dst = (int)v; break;
        }
        case TAC_OPT_I64: {
            long long v = strtoll(val, &end, 10);
            if (errno || *end || end == val) goto bad;
            *(int64_t *)o->dst = v; break;
        }
        case TAC_OPT_DOUBLE: {
            double v = strtod(val, &end);
            if (errno || *end || end == val || !isfinite(v)) goto bad;
            *(double *)o->dst = v; break;
        }
        }
        continue;
    bad:
        fprintf(stderr, "taclust %s: %s: '%s' is not a valid number\n", cmd, o->name, val);
        free(p); return 2;
    }
    p[np] = NULL;
    *pos = p; *npos = np;
    return 0;
}
