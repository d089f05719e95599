/* tac_npy.c - reading and writing NumPy .npy files (format 1.0/2.0/3.0, C order, 1-D or 2-D).
 *
 * Input dtypes: float16/32/64 as float32 (tac_npy_load_f32); any integer (or integral floats) as int64
 * (tac_npy_load_i64); tac_npy_parse_* do the same on a buffer in memory. Output: float32 / int64 ('<f4', '<i8'),
 * 1 to 8 dimensions, version 1.0, header padded with spaces and '\n' so that the data is 64-byte aligned,
 * written atomically. Files are memory-mapped while they are converted, so loading an array holds only its
 * float32 (or int64) copy in the process's own memory; tac_npy_map_f32 uses a float32 file's pages with no copy
 * at all. Every error names the file and what is wrong with it.
 */
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char kind;       /* 'f', 'i', 'u', 'b' */
    int size;        /* bytes per element */
    int big_endian;
    int ndim;
    int64_t shape[2];
    size_t data_off;
} npy_header;

static const char *skip_ws(const char *s) { while (*s && isspace((unsigned char)*s)) s++; return s; }

static int parse_header(const char *path, const void *data, size_t len, npy_header *h)
{
    const unsigned char *buf = data;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return tac_fail("%s: not a .npy file (missing \\x93NUMPY magic)", path);
    int major = buf[6];
    size_t hlen, pre;
    if (major == 1) { hlen = buf[8] | (buf[9] << 8); pre = 10; }
    else if (major == 2 || major == 3) {
        if (len < 12) return tac_fail("%s: truncated .npy header", path);
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) | ((size_t)buf[11] << 24);
        pre = 12;
    } else return tac_fail("%s: unsupported .npy version %d", path, major);
    if (pre + hlen > len) return tac_fail("%s: truncated .npy header", path);
    char *hdr = tac_try_malloc(hlen + 1, 1, path);             /* the header dict, NUL-terminated */
    if (!hdr) return TAC_ERR;
    memcpy(hdr, buf + pre, hlen);
    hdr[hlen] = 0;
    int rc = TAC_OK;
    /* descr */
    const char *p = strstr(hdr, "'descr'");
    if (!p) { rc = tac_fail("%s: .npy header has no 'descr'", path); goto out; }
    p = strchr(p + 7, ':');
    if (!p) { rc = tac_fail("%s: malformed .npy header", path); goto out; }
    p = skip_ws(p + 1);
    if (*p != '\'' && *p != '"') { rc = tac_fail("%s: unsupported structured dtype", path); goto out; }
    {
        char q = *p++;
        char d[16]; int n = 0;
        while (*p && *p != q && n < 15) d[n++] = *p++;
        d[n] = 0;
        if (n < 3) { rc = tac_fail("%s: unsupported dtype '%s'", path, d); goto out; }
        h->big_endian = d[0] == '>';
        if (d[0] == '>' && strcmp(d + 1, "u1") && strcmp(d + 1, "i1") && strcmp(d + 1, "b1")) {
            rc = tac_fail("%s: big-endian dtype '%s' is not supported; save it little-endian", path, d); goto out;
        }
        h->kind = d[1];
        h->size = atoi(d + 2);
        if (!strchr("fiub", h->kind) || h->size <= 0) {
            rc = tac_fail("%s: unsupported dtype '%s'", path, d); goto out;
        }
    }
    p = strstr(hdr, "'fortran_order'");
    if (!p) { rc = tac_fail("%s: .npy header has no 'fortran_order'", path); goto out; }
    p = strchr(p, ':');
    if (!p) { rc = tac_fail("%s: malformed .npy header", path); goto out; }
    p = skip_ws(p + 1);
    if (strncmp(p, "True", 4) == 0) { rc = tac_fail("%s: Fortran-order arrays are not supported; save with C order", path); goto out; }
    p = strstr(hdr, "'shape'");
    if (!p) { rc = tac_fail("%s: .npy header has no 'shape'", path); goto out; }
    p = strchr(p, '(');
    if (!p) { rc = tac_fail("%s: malformed shape in .npy header", path); goto out; }
    p++;
    h->ndim = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) { rc = tac_fail("%s: malformed shape in .npy header", path); goto out; }
        errno = 0;
        char *e;
        long long v = strtoll(p, &e, 10);
        if (errno || v < 0) { rc = tac_fail("%s: bad dimension in .npy header", path); goto out; }
        if (h->ndim >= 2) { rc = tac_fail("%s: arrays of more than 2 dimensions are not supported", path); goto out; }
        h->shape[h->ndim++] = v;
        p = skip_ws(e);
        if (*p == ',') p++;
        else if (*p != ')') { rc = tac_fail("%s: malformed shape in .npy header", path); goto out; }
    }
    if (h->ndim == 0) { rc = tac_fail("%s: 0-dimensional arrays are not supported", path); goto out; }
    if (h->ndim == 1) h->shape[1] = 1;
    h->data_off = pre + hlen;
    {
        uint64_t count = (uint64_t)h->shape[0] * (uint64_t)h->shape[1];
        if (h->shape[1] && count / (uint64_t)h->shape[1] != (uint64_t)h->shape[0]) { rc = tac_fail("%s: shape too large", path); goto out; }
        uint64_t avail = len - h->data_off;
        uint64_t need = count <= avail / (uint64_t)h->size ? count * (uint64_t)h->size : UINT64_MAX;
        if (avail < need)
            rc = tac_fail("%s: truncated: header says %lld x %lld of %d-byte values (%llu bytes) but only %zu bytes follow",
                          path, (long long)h->shape[0], (long long)h->shape[1], h->size,
                          (unsigned long long)(count * (uint64_t)h->size), len - h->data_off);
    }
out:
    free(hdr);
    return rc;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {                                      /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 1024));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 1023) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int tac_npy_parse_f32(const void *buf, size_t len, const char *path, float **out, int64_t *rows, int64_t *cols)
{
    npy_header h;
    if (parse_header(path, buf, len, &h) != TAC_OK) return TAC_ERR;
    if (h.kind != 'f' || (h.size != 2 && h.size != 4 && h.size != 8)) {
        return tac_fail("%s: dtype must be float16, float32 or float64 (found %s%d)", path,
                        h.kind == 'i' ? "int" : h.kind == 'u' ? "uint" : h.kind == 'b' ? "bool" : "float", h.size * 8);
    }
    size_t n = (size_t)h.shape[0] * (size_t)h.shape[1];
    float *x = tac_try_malloc(n, sizeof(float), path);         /* rows x cols (N x D), row-major */
    if (!x) return TAC_ERR;
    const unsigned char *d = (const unsigned char *)buf + h.data_off;
    for (size_t i = 0; i < n; i++) {
        if (h.size == 4) memcpy(&x[i], d + 4 * i, 4);
        else if (h.size == 8) { double v; memcpy(&v, d + 8 * i, 8); x[i] = (float)v; }
        else { uint16_t v; memcpy(&v, d + 2 * i, 2); x[i] = half_to_float(v); }
    }
    *out = x; *rows = h.shape[0]; *cols = h.shape[1];
    return TAC_OK;
}

int tac_npy_parse_i64(const void *buf, size_t len, const char *path, int64_t **out, int64_t *rows, int64_t *cols)
{
    npy_header h;
    if (parse_header(path, buf, len, &h) != TAC_OK) return TAC_ERR;
    size_t n = (size_t)h.shape[0] * (size_t)h.shape[1];
    int64_t *x = tac_try_malloc(n, sizeof(int64_t), path);     /* rows x cols, row-major */
    if (!x) return TAC_ERR;
    const unsigned char *d = (const unsigned char *)buf + h.data_off;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        const unsigned char *e = d + (size_t)h.size * i;
        if (h.kind == 'i' || h.kind == 'b' || h.kind == 'u') {
            if (h.size == 1) x[i] = h.kind == 'i' ? (int64_t)(int8_t)e[0] : (int64_t)e[0];
            else if (h.size == 2) { uint16_t v; memcpy(&v, e, 2); x[i] = h.kind == 'i' ? (int64_t)(int16_t)v : (int64_t)v; }
            else if (h.size == 4) { uint32_t v; memcpy(&v, e, 4); x[i] = h.kind == 'i' ? (int64_t)(int32_t)v : (int64_t)v; }
            else if (h.size == 8) {
                memcpy(&x[i], e, 8);
                if (h.kind == 'u' && x[i] < 0) {
                    free(x);
                    return tac_fail("%s: value at position %zu does not fit in int64", path, i);
                }
            }
            else ok = 0;
        } else {
            double v;
            if (h.size == 8) memcpy(&v, e, 8);
            else if (h.size == 4) { float f; memcpy(&f, e, 4); v = f; }
            else if (h.size == 2) { uint16_t s; memcpy(&s, e, 2); v = half_to_float(s); }
            else { ok = 0; break; }
            if (!isfinite(v) || v != floor(v) || fabs(v) > 9e15) {
                free(x);
                return tac_fail("%s: value %g at position %zu is not an integer label", path, v, i);
            }
            x[i] = (int64_t)v;
        }
    }
    if (!ok) { free(x); return tac_fail("%s: unsupported integer dtype (%c%d)", path, h.kind, h.size); }
    *out = x; *rows = h.shape[0]; *cols = h.shape[1];
    return TAC_OK;
}

/* The file's bytes: memory-mapped when it is a non-empty regular file (so that a large array is not held
 * twice, once read and once converted), else read. Release with unmap_file. */
static int map_file(const char *path, const void **data, size_t *len, int *mapped)
{
    int fd = tac_open_regular(path, NULL);   /* a FIFO, device or folder is refused here, never read */
    if (fd < 0) return TAC_ERR;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m != MAP_FAILED) { *data = m; *len = (size_t)st.st_size; *mapped = 1; return TAC_OK; }
    } else close(fd);
    char *buf;
    if (tac_read_file(path, &buf, len) != TAC_OK) return TAC_ERR;   /* also words the error */
    *data = buf; *mapped = 0;
    return TAC_OK;
}

static void unmap_file(const void *data, size_t len, int mapped)
{
    if (mapped) munmap((void *)data, len);
    else free((void *)data);
}

int tac_npy_load_f32(const char *path, float **out, int64_t *rows, int64_t *cols)
{
    const void *buf; size_t len; int mapped;
    if (map_file(path, &buf, &len, &mapped) != TAC_OK) return TAC_ERR;
    int rc = tac_npy_parse_f32(buf, len, path, out, rows, cols);
    unmap_file(buf, len, mapped);
    return rc;
}

int tac_npy_load_i64(const char *path, int64_t **out, int64_t *rows, int64_t *cols)
{
    const void *buf; size_t len; int mapped;
    if (map_file(path, &buf, &len, &mapped) != TAC_OK) return TAC_ERR;
    int rc = tac_npy_parse_i64(buf, len, path, out, rows, cols);
    unmap_file(buf, len, mapped);
    return rc;
}

/* ---- zero-copy reader ----------------------------------------------------------------------------------
 * A little-endian float32 C-order array is used straight from the file's pages (mmap, read-only, private):
 * no copy of the matrix in the process's own memory, and the pages can be dropped from it once read
 * (tac_npy_map_release). Any other float dtype, or data not 4-byte aligned in the file, is converted into an
 * allocated float32 copy as tac_npy_load_f32 does. */
int tac_npy_map_f32(const char *path, tac_npy_map *m)
{
    memset(m, 0, sizeof *m);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below, by the loader) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return tac_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return tac_npy_load_f32(path, &m->own, &m->rows, &m->cols) == TAC_OK ? (m->data = m->own, TAC_OK) : TAC_ERR;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return tac_fail("%s: cannot memory-map: %s", path, strerror(errno));
    npy_header h;
    if (parse_header(path, base, (size_t)st.st_size, &h) != TAC_OK) { munmap(base, (size_t)st.st_size); return TAC_ERR; }
    if (h.kind == 'f' && h.size == 4 && !h.big_endian && h.data_off % sizeof(float) == 0) {
        m->map = base;
        m->map_len = (size_t)st.st_size;
        m->data = (const float *)((const unsigned char *)base + h.data_off);
        m->rows = h.shape[0];
        m->cols = h.shape[1];
        return TAC_OK;
    }
    int rc = tac_npy_parse_f32(base, (size_t)st.st_size, path, &m->own, &m->rows, &m->cols);
    munmap(base, (size_t)st.st_size);
    if (rc == TAC_OK) m->data = m->own;
    return rc;
}

void tac_npy_map_release(const tac_npy_map *m)
{
    if (m->map) madvise(m->map, m->map_len, MADV_DONTNEED); /* clean file pages: read again if touched */
}

void tac_npy_unmap(tac_npy_map *m)
{
    if (m->map) munmap(m->map, m->map_len);
    free(m->own);
    memset(m, 0, sizeof *m);
}

static int npy_save(const char *path, const void *data, size_t elem, const char *descr, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > TAC_NPY_MAX_SAVE_DIMS)
        return tac_fail("%s: can only save arrays of 1 to %d dimensions", path, TAC_NPY_MAX_SAVE_DIMS);
    /* the shape as Python prints a tuple: (5,) (3, 0) (2, 3, 4) */
    char dims[TAC_NPY_MAX_SAVE_DIMS * 22 + 4];
    size_t dl = 0, count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return tac_fail("%s: negative dimension %lld in the shape to save", path, (long long)shape[i]);
        dl += (size_t)snprintf(dims + dl, sizeof dims - dl, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (shape[i] && count > (size_t)PTRDIFF_MAX / elem / (size_t)shape[i])   /* it would wrap: a header that lies */
            return tac_fail("%s: shape to save is too large (%lld in dimension %d)", path, (long long)shape[i], i);
        count *= (size_t)shape[i];
    }
    if (ndim == 1) dims[dl++] = ',', dims[dl] = 0;
    char dict[sizeof dims + 64];   /* header dict, then spaces and '\n' so that the data starts 64-byte aligned */
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 255), (unsigned char)(hlen >> 8)};
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    fwrite(pre, 1, 10, a.f);
    fwrite(dict, 1, (size_t)n, a.f);
    for (size_t i = 0; i < pad; i++) fputc(' ', a.f);
    fputc('\n', a.f);
    if (count && fwrite(data, elem, count, a.f) != count) { tac_atomic_abort(&a); return tac_fail("%s: write failed", path); }
    return tac_atomic_commit(&a);
}

int tac_npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape)
{
    return npy_save(path, data, 4, "<f4", ndim, shape);
}

int tac_npy_save_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape)
{
    return npy_save(path, data, 8, "<i8", ndim, shape);
}

int tac_check_finite(const char *what, const float *X, int64_t n, int64_t d)
{
    /* a shape whose element count overflows (or no real array could have) is refused before X is read */
    if (n < 0 || d < 0) return tac_fail("%s: negative shape %lld x %lld", what, (long long)n, (long long)d);
    if (d > 0 && n > (int64_t)(PTRDIFF_MAX / sizeof(float)) / d)
        return tac_fail("%s: shape %lld x %lld is too large to be an array", what, (long long)n, (long long)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(X[i * d + j]))
                return tac_fail("%s: row %lld has %s value (column %lld)", what, (long long)i,
                                isnan(X[i * d + j]) ? "a NaN" : "an infinite", (long long)j);
    return TAC_OK;
}
