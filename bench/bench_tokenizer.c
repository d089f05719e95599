/* bench_tokenizer.c - time the CLIP tokenizer on all WordNet noun lemmas x the 7 TAC templates (1,024,429
 * prompts for WordNet 3.0), single-threaded and with OpenMP threads.
 *
 *   make build/bench_tokenizer && build/bench_tokenizer [VOCAB] [REPEATS]
 *   (bench/bench_tokenizer.sh runs it beside the Python reference tools/ref_clip_tokenizer.py)
 * VOCAB defaults to ../shared/models/clip-vit-base-patch32. Each repeat uses a freshly loaded tokenizer, so the
 * first pass over the prompts runs with cold word caches, as the pipeline does; the medians are over REPEATS
 * (default 5). Prints lines "tac <threads> <median s> <prompts/s>" after a header with the machine.
 */
#include "taclust/clip.h"
#include "core/tac_internal.h"
#include "taclust/core.h"
#include "taclust/textspace.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *vocab = argc > 1 ? argv[1] : "../shared/models/clip-vit-base-patch32";
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > 100) { fprintf(stderr, "REPEATS must be 1..100\n"); return 2; }
    char **nouns; int64_t m;
    if (tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &nouns, &m) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
    int64_t np = 7 * m;
    char **prompts = tac_xmalloc((size_t)np, sizeof *prompts);   /* 7M prompts, lemma-major */
    for (int64_t i = 0; i < m; i++)
        for (int p = 0; p < 7; p++) {
            const char *t = tac_prompt_templates[p], *b = strstr(t, "{}");
            size_t n = strlen(t) + strlen(nouns[i]);
            prompts[7 * i + p] = tac_xmalloc(n, 1);
            snprintf(prompts[7 * i + p], n, "%.*s%s%s", (int)(b - t), t, nouns[i], b + 2);
        }
    int maxt = omp_get_max_threads();
    printf("# taclust tokenizer: %lld prompts (%lld lemmas x 7), %d repeats, fresh tokenizer each repeat; "
           "OpenMP threads up to %d; OpenBLAS core %s (unused here)\n", (long long)np, (long long)m, reps, maxt,
           openblas_get_corename());
    int tcounts[2] = {1, maxt};
    uint64_t check = 0, h = 0;
    for (int ti = 0; ti < (maxt > 1 ? 2 : 1); ti++) {
        int th = tcounts[ti];
        double *ts = tac_xmalloc((size_t)reps, sizeof *ts);
        for (int r = 0; r < reps; r++) {
            tac_bpe *tok;
            if (tac_bpe_load(vocab, &tok) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
            double t0 = tac_now();
            h = 0;   /* sum over prompts of FNV-1a of the ids: the same for every thread count */
            #pragma omp parallel for num_threads(th) schedule(dynamic, 4096) reduction(+:h)
            for (int64_t i = 0; i < np; i++) {
                int32_t ids[TAC_CLIP_CONTEXT];
                int n = tac_bpe_tokenize(tok, prompts[i], ids, TAC_CLIP_CONTEXT);
                uint64_t f = 0xcbf29ce484222325ull;
                for (int k = 0; k < n; k++) { f ^= (uint32_t)ids[k]; f *= 0x100000001b3ull; }
                h += f;
            }
            ts[r] = tac_now() - t0;
            tac_bpe_free(tok);
        }
        if (ti && h != check) { fprintf(stderr, "ids differ between 1 and %d threads\n", th); return 1; }
        check = h;
        qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
        double med = reps % 2 ? ts[reps / 2] : 0.5 * (ts[reps / 2 - 1] + ts[reps / 2]);
        printf("tac %d %.4f %.0f\n", th, med, (double)np / med);
        free(ts);
    }
    for (int64_t i = 0; i < np; i++) free(prompts[i]);
    free(prompts);
    tac_free_strings(nouns, m);
    return 0;
}
