/* tac_io.c - file helpers the text-space and fit commands share (see taclust/pipeline.h): loading an
 * embedding matrix with a finiteness check, loading labels, reading a list of noun indices. Every error
 * names the file. (Labels are read with tac_labels_load, taclust/metrics.h.)
 */
#include "taclust/pipeline.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tac_load_matrix(const char *path, float **X, int64_t *n, int64_t *d)
{
    *X = NULL;
    float *x; int64_t r, c;
    if (tac_npy_load_f32(path, &x, &r, &c) != TAC_OK) return TAC_ERR;
    if (r < 1 || c < 1) { free(x); return tac_fail("%s: empty array", path); }
    if (c == 1) { free(x); return tac_fail("%s: expected a 2-D array of embeddings (N x D), got a 1-D array", path); }
    if (c > 1 << 20) { free(x); return tac_fail("%s: %lld columns is not a plausible embedding width", path, (long long)c); }
    if (tac_check_finite(path, x, r, c) != TAC_OK) { free(x); return TAC_ERR; }
    *X = x; *n = r; *d = c;
    return TAC_OK;
}

int tac_read_indices(const char *path, int64_t limit, int64_t **idx, int64_t *n)
{
    *idx = NULL; *n = 0;
    char **lines; int64_t nl;
    if (tac_read_lines(path, &lines, &nl, 1) != TAC_OK) return TAC_ERR;
    int64_t *v = tac_try_malloc((size_t)(nl ? nl : 1), sizeof(int64_t), path);   /* nl indices at most */
    if (!v) { tac_free_strings(lines, nl); return TAC_ERR; }
    int64_t cnt = 0;
    for (int64_t i = 0; i < nl; i++) {
        const char *s = lines[i];
        while (*s == ' ' || *s == '\t') s++;
        if (*s == 0 || *s == '#') continue;
        char *end; errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || (*end && !isspace((unsigned char)*end))) {
            tac_fail("%s: line %lld: '%s' is not a noun index", path, (long long)i + 1, lines[i]);
            goto bad;
        }
        if (x < 0 || x >= limit) {
            tac_fail("%s: line %lld: noun index %lld is outside [0, %lld)", path, (long long)i + 1, x, (long long)limit);
            goto bad;
        }
        v[cnt++] = x;
    }
    tac_free_strings(lines, nl);
    if (!cnt) { free(v); return tac_fail("%s: no noun indices", path); }
    *idx = v; *n = cnt;
    return TAC_OK;
bad:
    tac_free_strings(lines, nl);
    free(v);
    return TAC_ERR;
}
