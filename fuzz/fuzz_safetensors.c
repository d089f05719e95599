/* fuzz_safetensors.c - libFuzzer target for the safetensors header parser (src/clip/tac_safetensors.c).
 *
 *   make fuzz && build-fuzz/fuzz_safetensors -max_total_time=90 fuzz/corpus/safetensors
 * Every tensor the parser accepts must lie inside the input: its first and last bytes are read (AddressSanitizer
 * flags any out-of-range view) and its size must equal numel * dtype size. Lookups of accepted names must succeed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip/tac_clip_internal.h"

static const int dsize[TAC_ST_NDTYPES] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy of exactly `size` bytes so ASan sees reads past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    tac_st st;
    tac_clear_error();
    if (tac_st_parse(buf, size, "fuzz", &st) == TAC_OK) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n; i++) {
            const tac_st_tensor *t = &st.t[i];
            uint64_t numel = 1;
            for (int k = 0; k < t->ndim; k++) numel *= (uint64_t)t->shape[k];
            if (t->nbytes != numel * (uint64_t)dsize[t->dtype]) abort();
            if (t->data < st.data || t->data + t->nbytes > st.data + st.data_len) abort();
            if (t->nbytes) sink ^= t->data[0] ^ t->data[t->nbytes - 1];
            if (tac_st_find(&st, t->name) != t) abort();
        }
        (void)sink;
        tac_st_close(&st);
    } else if (tac_last_error()[0] == 0) {
        abort();                               /* a failure must carry a reason */
    }
    free(buf);
    return 0;
}
