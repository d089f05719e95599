/* tac_labels.c - read a vector of labels or cluster predictions from disk (tac_labels_load, taclust/metrics.h).
 *
 *   int64_t *y; int64_t n;
 *   if (tac_labels_load("labels.txt", &y, &n) != TAC_OK) puts(tac_last_error());
 *
 * A file that starts with the .npy magic is parsed with tac_npy_parse_i64 (integer dtypes, or floats holding
 * integers; 1-D or N x 1). Anything else is text with one number per line, as TAC writes its label files with
 * numpy.savetxt ("3.000000000000000000e+00"); blank lines are skipped; each value must be a finite integer.
 */
#include "taclust/metrics.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int load_text(const char *path, char *buf, size_t len, int64_t **labels, int64_t *n)
{
    int64_t cap = 1024, cnt = 0, line = 0;
    int64_t *out = tac_try_malloc((size_t)cap, sizeof(int64_t), "labels");   /* n labels, grown */
    if (!out) return TAC_ERR;
    char *s = buf, *end = buf + len;
    while (s < end) {
        char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        line++;
        char *p = s;
        while (p < e && isspace((unsigned char)*p)) p++;
        if (p < e) {
            if (memchr(p, 0, (size_t)(e - p))) { free(out); return tac_fail("%s: line %lld: NUL byte (not a text file?)", path, (long long)line); }
            char *q;
            errno = 0;
            double v = strtod(p, &q);
            char *r = q;
            while (r < e && isspace((unsigned char)*r)) r++;
            if (q == p || r != e) {
                int w = (int)(e - p) > 40 ? 40 : (int)(e - p);
                free(out);
                return tac_fail("%s: line %lld: '%.*s' is not a number (expected one label per line)", path,
                                (long long)line, w, p);
            }
            if (!isfinite(v) || v != floor(v) || fabs(v) > 9007199254740992.0) {
                free(out);
                return tac_fail("%s: line %lld: value %g is not an integer label", path, (long long)line, v);
            }
            if (cnt == cap) {
                int64_t *grown = tac_try_realloc(out, (size_t)cap * 2, sizeof(int64_t), path);
                if (!grown) { free(out); return TAC_ERR; }
                out = grown;
                cap *= 2;
            }
            out[cnt++] = (int64_t)v;
        }
        s = e + 1;
    }
    if (cnt == 0) { free(out); return tac_fail("%s: no labels in the file", path); }
    *labels = out; *n = cnt;
    return TAC_OK;
}

int tac_labels_load(const char *path, int64_t **labels, int64_t *n)
{
    TAC_ASSERT(path && labels && n);
    char *buf; size_t len;
    if (tac_read_file_max(path, &buf, &len, TAC_LINES_MAX) != TAC_OK) return TAC_ERR;
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) {
        int64_t r, c, *y;
        int rc = tac_npy_parse_i64(buf, len, path, &y, &r, &c);
        free(buf);
        if (rc != TAC_OK) return TAC_ERR;
        if (c != 1) { free(y); return tac_fail("%s: expected a 1-D array of labels, got %lld x %lld", path, (long long)r, (long long)c); }
        if (r == 0) { free(y); return tac_fail("%s: no labels in the file", path); }
        *labels = y; *n = r;
        return TAC_OK;
    }
    int rc = load_text(path, buf, len, labels, n);
    free(buf);
    return rc;
}
