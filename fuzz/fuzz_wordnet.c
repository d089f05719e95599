/* fuzz_wordnet.c - libFuzzer target for the WordNet noun reader (tac_wordnet_nouns).
 *
 *   make fuzz
 *   build-fuzz/fuzz_wordnet -max_total_time=120 -max_len=4096 fuzz/corpus/wordnet
 * Each input is written as data.noun into a private temporary folder, which is then read. Every input must
 * either give at least one non-empty lemma or fail with a reason that names the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taclust/core.h"
#include "taclust/textspace.h"

static char dir[64], file[96];

static void cleanup(void)
{
    unlink(file);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz_wordnet.XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    snprintf(file, sizeof file, "%s/data.noun", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    char **nouns;
    int64_t m;
    if (tac_wordnet_nouns(dir, &nouns, &m) != TAC_OK) {
        if (strncmp(tac_last_error(), dir, strlen(dir)) != 0) abort();   /* every reason names the file */
        return 0;
    }
    if (m < 1) abort();
    for (int64_t i = 0; i < m; i++) if (!nouns[i][0]) abort();
    tac_free_strings(nouns, m);
    return 0;
}
