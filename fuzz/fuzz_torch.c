/* fuzz_torch.c - libFuzzer target for the torch.save checkpoint reader (src/clip/tac_torch.c: our zip reader, then
 * the safe pickle reader with persistent ids, then the state-dict walk).
 *
 *   make fuzz && build-fuzz/fuzz_torch -max_total_time=60 fuzz/corpus/torch
 * Seeds (tools/gen_format_fixtures.py): small state dicts saved by PyTorch 1.13 (float32/float16/bfloat16/int64,
 * a scalar, views at an offset into a shared storage, an nn.Parameter) and the refused kinds (unknown global,
 * strided view, compressed entries, TorchScript, legacy format). CI runs it for 20 s on that corpus (.ci/run).
 * Every accepted tensor must lie inside the input (or an inflated entry) with nbytes = numel * dtype size (its first
 * and last bytes are read, so AddressSanitizer flags any bad view), names must be sorted and unique, and a failure must carry a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip/tac_clip_internal.h"

static const int dsize[TAC_ST_NDTYPES] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);      /* exactly `size` bytes, so ASan sees reads past the end */
    if (size) memcpy(buf, data, size);
    tac_st st;
    tac_clear_error();
    if (tac_torch_parse(buf, size, "fuzz", &st) == TAC_OK) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n; i++) {
            const tac_st_tensor *t = &st.t[i];
            uint64_t numel = 1;
            for (int k = 0; k < t->ndim; k++) numel *= (uint64_t)t->shape[k];
            if (t->nbytes != numel * (uint64_t)dsize[t->dtype]) abort();
            /* inside the input, or inside an inflated entry (a malloc'd block: ASan checks the reads below) */
            if ((t->data < buf || t->data + t->nbytes > buf + size) && st.nowned == 0) abort();
            if (t->nbytes) sink ^= t->data[0] ^ t->data[t->nbytes - 1];
            if (i && strcmp(st.t[i - 1].name, t->name) >= 0) abort();
            if (tac_st_find(&st, t->name) != t) abort();
        }
        (void)sink;
        tac_st_close(&st);
    } else if (tac_last_error()[0] == 0) {
        abort();
    }
    free(buf);
    return 0;
}
