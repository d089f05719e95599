/* tac_cli.h - how subcommands plug into the `taclust` binary, and a small option parser they share.
 *
 * A subcommand lives in its own src/cli/cmd_<name>.c and registers itself:
 *     static int cmd_knn(int argc, char **argv) { ... }
 *     TAC_COMMAND("knn", "exact cosine nearest neighbours", cmd_knn)
 * argv[0] is the command name. Return the process exit code (0 success, 1 failure, 2 usage error).
 *
 * Options: describe them in a tac_opt array ending with {0}; tac_parse_opts fills the destinations,
 * collects positional arguments, prints `usage` plus the option list for --help, and reports unknown or
 * incomplete options in one line.
 */
#ifndef TAC_CLI_H
#define TAC_CLI_H

#include "app/tac_app.h"
#include "core/tac_internal.h"
#include "taclust/core.h"
#include "taclust/hub.h"

/* The --model help line every command that runs CLIP shows. */
#define TAC_HUB_MODEL_HELP "a CLIP model folder, or a Hugging Face id org/name[@revision] (fetched once into the " \
    "Hugging Face cache; taclust models lists it); default $TACLUST_MODEL, else " TAC_HUB_DEFAULT_MODEL

typedef int (*tac_cmd_fn)(int argc, char **argv);
void tac_cli_register(const char *name, const char *summary, tac_cmd_fn fn);
#define TAC_COMMAND(name, summary, fn) \
    static void __attribute__((constructor)) tac_register_##fn(void) { tac_cli_register(name, summary, fn); }

enum { TAC_OPT_FLAG, TAC_OPT_INT, TAC_OPT_DOUBLE, TAC_OPT_STR, TAC_OPT_I64 };
typedef struct {
    const char *name;    /* "--niter" */
    const char *alias;   /* "-k" or NULL */
    int type;            /* TAC_OPT_* */
    void *dst;           /* int* (FLAG, INT), double*, const char**, int64_t* */
    const char *help;    /* one line; mention the default */
} tac_opt;

/* Returns 0 when parsed, 1 when --help was printed (exit 0), 2 on a usage error (message printed).
 * Positional arguments are returned in *pos (pointers into argv; caller frees the array). */
int tac_parse_opts(int argc, char **argv, const tac_opt *opts, const char *usage, char ***pos, int *npos);

/* --precision VALUE (NULL: not given) of a command that runs CLIP: 0 when applied (tac_clip_set_default_precision),
 * 2 for a bad value, 1 when bf16 is asked for where it cannot run (the reason printed). */
#define TAC_PRECISION_HELP "CLIP arithmetic: auto|bf16|fp32 (default auto: bf16 where the CPU has AVX512-BF16 or " \
    "AMX-BF16, else fp32; $TACLUST_PRECISION sets the default)"
int tac_cli_precision(const char *cmd, const char *value);
/* --heads-precision fp32|bf16|auto (NULL: not given): sets the heads' precision (tac_heads_set_precision); 0, or 2
 * after a message on stderr. */
int tac_cli_heads_precision(const char *cmd, const char *value);

/* Print "taclust <cmd>: <last error>" to stderr and return 1. */
int tac_cli_error(const char *cmd);

/* tac_model_resolve(spec, NULL, dir) with a download's progress shown in megabytes. */
int tac_cli_model_resolve(const char *spec, char **dir);

#endif
