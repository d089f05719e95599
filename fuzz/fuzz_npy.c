/* fuzz_npy.c - libFuzzer target for the .npy reader (tac_npy_parse_f32 and tac_npy_parse_i64, the in-memory
 * forms of tac_npy_load_f32/_i64).
 *
 *   make fuzz
 *   build-fuzz/fuzz_npy -max_total_time=120 -max_len=4096 fuzz/corpus/npy   (seed corpus: small numpy files)
 * Every input must either parse, giving an array whose size the input can hold, or fail with a reason that
 * names the input. Parsed arrays are read in full so that AddressSanitizer sees any bad extent.
 * The seeds were written with numpy 1.24's np.save (f2/f4/f8/i4/i8/u1/bool; shapes (3, 0), (0, 5), (5,);
 * one format 2.0 file).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"

static volatile float sink_f;     /* every parsed value is read into these */
static volatile int64_t sink_i;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t rows, cols;
    float *x;
    if (tac_npy_parse_f32(data, size, "fuzz", &x, &rows, &cols) == TAC_OK) {
        if (rows < 0 || cols < 0 || (uint64_t)rows * (uint64_t)cols * 2 > size) abort();   /* >= 2 bytes a value */
        for (int64_t i = 0; i < rows * cols; i++) sink_f = x[i];
        free(x);
    } else if (strncmp(tac_last_error(), "fuzz: ", 6) != 0) abort();   /* every reason names the input */

    int64_t *y;
    if (tac_npy_parse_i64(data, size, "fuzz", &y, &rows, &cols) == TAC_OK) {
        if (rows < 0 || cols < 0 || (uint64_t)rows * (uint64_t)cols > size) abort();       /* >= 1 byte a value */
        for (int64_t i = 0; i < rows * cols; i++) sink_i = y[i];
        free(y);
    } else if (strncmp(tac_last_error(), "fuzz: ", 6) != 0) abort();
    return 0;
}
