/* fuzz_pickle.c - libFuzzer target for the safe pickle reader (src/core/tac_pickle.c): parses the input, then runs
 * every lookup the CIFAR reader uses on the result. Build with `make fuzz`, run e.g.
 *   build-fuzz/fuzz_pickle -max_total_time=60 -max_len=4096 fuzz/corpus/pickle
 * The seed corpus in fuzz/corpus/pickle/ holds small pickles of every protocol (tools/gen_datasets_fixtures.py
 * forms, 2-record CIFAR batches) and a hand-built Python 2 stream. */
#include "core/tac_pickle.h"
#include "taclust/core.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tac_pickle *p;
    if (tac_pickle_parse(data, size, "fuzz", &p) == TAC_OK) {
        const tac_pyval *root = tac_pickle_root(p);
        const char *keys[] = {"labels", "data", "coarse_labels", "a"};
        for (int k = 0; k < 4; k++) {
            const tac_pyval *v = tac_py_dict_get(root, keys[k]);
            int64_t *ints, n, shape[8];
            int ndim;
            const uint8_t *bytes;
            if (tac_py_int_list(v, "fuzz", keys[k], &ints, &n) == TAC_OK) free(ints);
            if (tac_py_ndarray_u8(v, "fuzz", keys[k], &bytes, shape, &ndim) == TAC_OK) {
                int64_t total = 1;
                for (int d = 0; d < ndim; d++) total *= shape[d];
                volatile uint8_t sink = 0;
                for (int64_t i = 0; i < total; i++) sink ^= bytes[i];   /* must stay inside the input */
                (void)sink;
            }
        }
        tac_pickle_free(p);
    }
    int64_t *labels, n;
    uint8_t *pixels;
    if (tac_pickle_cifar_batch(data, size, "fuzz", "labels", &labels, &pixels, &n) == TAC_OK) { free(labels); free(pixels); }
    return 0;
}
