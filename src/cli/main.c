/* main.c - the `taclust` command-line tool: dispatches to the subcommands registered by src/cli/cmd_*.c.
 *
 *   taclust COMMAND [options]      run a command (taclust COMMAND --help for its options)
 *   taclust --help | --version     list the commands / print the version (and the CLIP precision, oneDNN ISA)
 * Global: --quiet anywhere silences progress output.
 */
#include "tac_cli.h"
#include "taclust/clip.h"
#include "taclust/hub.h"
#include "mpi/tac_mpi.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);   /* OpenBLAS extensions (declared here: cblas.h need not be included) */
int openblas_get_num_threads(void);

#define TAC_MAX_COMMANDS 64
static struct { const char *name, *summary; tac_cmd_fn fn; } tac_commands[TAC_MAX_COMMANDS];
static int tac_ncommands;

void tac_cli_register(const char *name, const char *summary, tac_cmd_fn fn)
{
    TAC_ASSERT(tac_ncommands < TAC_MAX_COMMANDS);
    tac_commands[tac_ncommands].name = name;
    tac_commands[tac_ncommands].summary = summary;
    tac_commands[tac_ncommands].fn = fn;
    tac_ncommands++;
}

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp(((const typeof(tac_commands[0]) *)a)->name, ((const typeof(tac_commands[0]) *)b)->name);
}

int tac_cli_error(const char *cmd)
{
    tac_console_break();
    const char *e = tac_last_error();
    if (tac_mpi_size() > 1) {
        /* a failure all ranks agreed on ("rank R of N: ...", tac_comm_check) is printed once, by rank 0; a failure
         * of this rank alone by this rank, with its number */
        if (strncmp(e, "rank ", 5) == 0) {
            if (tac_mpi_rank() == 0) fprintf(stderr, "taclust %s: %s\n", cmd, e);
        } else {
            fprintf(stderr, "taclust %s (rank %d of %d): %s\n", cmd, tac_mpi_rank(), tac_mpi_size(), e);
        }
        return 1;
    }
    fprintf(stderr, "taclust %s: %s\n", cmd, e);
    return 1;
}

int tac_cli_model_resolve(const char *spec, char **dir)
{
    tac_set_progress(tac_console_progress_bytes, NULL);
    int rc = tac_model_resolve(spec, NULL, dir);
    tac_set_progress(tac_console_progress, NULL);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
        "taclust %s - image clustering with external guidance (TAC, Li et al., ICML 2024)\n\n"
        "usage: taclust COMMAND [options]     (taclust COMMAND --help, or taclust help COMMAND, for details)\n\n"
        "commands:\n", TACLUST_VERSION);
    for (int i = 0; i < tac_ncommands; i++) fprintf(f, "  %-14s %s\n", tac_commands[i].name, tac_commands[i].summary);
    fprintf(f, "\nglobal options: -q, --quiet (no progress output); --version\n"
               "exit codes: 0 success, 1 failure (the reason on stderr), 2 usage error\n");
}

int main(int argc, char **argv)
{
    /* OpenMP worker threads that spin between parallel regions steal the cores OpenBLAS's threads need (measured:
     * 10-20% slower CLIP towers, heads several times slower under load). libgomp reads OMP_WAIT_POLICY when it
     * is loaded, before main, so the process re-executes itself once with the passive policy unless the user
     * chose a policy. */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("TACLUST_NO_REEXEC")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        setenv("TACLUST_NO_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
        /* not fatal if it fails: go on with the default policy */
    }
    /* under mpirun: MPI starts here (src/mpi/tac_mpi.c); ranks other than 0 print no progress or notes */
    if (tac_mpi_start(&argc, &argv) != 0) return 1;
    tac_console_init();   /* the library's messages and progress printed on stderr (src/app/tac_console.c) */
    if (tac_mpi_rank() > 0) tac_progress_quiet = 1;
    qsort(tac_commands, (size_t)tac_ncommands, sizeof tac_commands[0], cmp_cmd);
    /* strip global --quiet */
    int k = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) tac_progress_quiet = 1;
        else argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            char *hv[3] = {argv[2], "--help", NULL};
            for (int i = 0; i < tac_ncommands; i++)
                if (strcmp(tac_commands[i].name, argv[2]) == 0) return tac_commands[i].fn(2, hv);
            fprintf(stderr, "taclust: unknown command '%s' (taclust --help lists them)\n", argv[2]);
            return 2;
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        int dp = tac_clip_default_precision(), rp;     /* the CLIP precision the commands use by default */
        int ok = tac_clip_resolve_precision(dp, &rp) == TAC_OK;
        printf("taclust %s (OpenBLAS core %s, %d threads; OpenMP %d threads; CLIP precision %s -> %s, CPU bf16: %s, "
               "oneDNN ISA %s; kernels %s; MPI %s)\n", TACLUST_VERSION, openblas_get_corename(), openblas_get_num_threads(),
               tac_num_threads(), tac_clip_precision_name(dp), ok ? tac_clip_precision_name(rp) : "unavailable",
               tac_clip_bf16_available() ? "yes" : "no", tac_clip_dnnl_isa(), tac_cpu_isa_name(),
               tac_mpi_built() ? "yes (mpirun -np N: embed-images, embed-text, fit, bench)" : "no");
        return 0;
    }
    for (int i = 0; i < tac_ncommands; i++)
        if (strcmp(tac_commands[i].name, argv[1]) == 0) {
            /* the commands that run on several ranks (mpirun -np N taclust ...); the others refuse to */
            static const char *const spread[] = {"embed-images", "embed-text", "fit", "bench"};
            int ok = 0;
            for (size_t j = 0; j < sizeof spread / sizeof spread[0]; j++) ok |= strcmp(spread[j], argv[1]) == 0;
            int rc = ok ? 0 : tac_mpi_single_only(argv[1]);
            if (rc == 0) rc = tac_commands[i].fn(argc - 1, argv + 1);
            return tac_mpi_finish(rc);
        }
    if (tac_mpi_rank() == 0) fprintf(stderr, "taclust: unknown command '%s' (taclust --help lists them)\n", argv[1]);
    return tac_mpi_finish(2);
}
