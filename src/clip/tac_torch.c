/* tac_torch.c - reads PyTorch checkpoints (torch.save of a state_dict: `pytorch_model.bin`,
 * `open_clip_pytorch_model.bin`) without executing anything, into the same tac_st tensor table the safetensors
 * reader fills, so the CLIP loader treats both alike.
 *
 *   tac_st st; if (tac_torch_open("pytorch_model.bin", &st)) puts(tac_last_error()); ... tac_st_close(&st);
 *
 * The file is a zip archive (torch.save's format since PyTorch 1.6) of stored entries: PREFIX/data.pkl (the
 * pickle), PREFIX/data/<key> (one raw little-endian storage per key), PREFIX/version, ... The zip reader here is
 * our own: end-of-central-directory record (zip64 too), central directory, local headers; every offset and size is
 * checked against the file; stored entries are mapped in place, deflated ones (a re-zipped file; torch.save never
 * compresses) are inflated with zlib and CRC-checked, other methods and encrypted entries are refused naming the
 * entry. The pickle is parsed by the safe reader (core/tac_pickle.c) with persistent ids allowed, and
 * every global it names must be one of: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 * torch._utils._rebuild_parameter and the torch.<Type>Storage classes. The root is the state dict (or a dict whose
 * "state_dict" entry is one; a "module." prefix on every name is dropped). Each tensor is
 * _rebuild_tensor_v2(storage, offset, size, stride, ...) with storage = persistent id ('storage', torch.<Type>Storage,
 * key, location, numel): it is mapped in place when its view is contiguous (row-major strides; any stride on
 * a dimension of size 1) and inside its storage, else refused with an error naming the tensor. Values that are not
 * tensors (ints, strings in metadata) are skipped. A TorchScript archive (OpenAI's original ViT-B-32.pt: it holds
 * code/ and constants.pkl) is read the same way: data.pkl is the module tree (NEWOBJ of inert __torch__.* class
 * names with a BUILD dict of attributes), flattened into state_dict names; its code is never looked at. The legacy format (PyTorch before 1.6, or
 * _use_new_zipfile_serialization=False: pickles in a row, then the storages' raw bytes) is read too (legacy_form()).
 * In the tac_st: header/header_len = the pickle bytes, data/data_len = the whole file (what the model hash samples).
 */
#include "clip/tac_clip_internal.h"
#include "core/tac_pickle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- zip ------------------------------------------------------------------------------------------------ */
typedef struct {
    const char *name;      /* not NUL-terminated: nlen bytes inside the central directory */
    size_t nlen;
    const uint8_t *data;   /* the entry's bytes inside the file: csize of them (stored: csize == size) */
    uint64_t size, csize;  /* uncompressed, compressed */
    uint32_t crc;          /* CRC-32 of the uncompressed bytes */
    int method;            /* 0 stored, 8 deflate (inflated on first use into owned), others refused when used */
    int encrypted;
    uint8_t *owned;        /* deflate: the inflated bytes (handed to the tac_st, which frees them) */
} zentry;

typedef struct { zentry *e; int n; } zdir;

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k; n -= k;
    }
    return (uint32_t)c;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

/* Parses the central directory of the zip image buf[0..len). */
static int zip_parse(const uint8_t *buf, size_t len, const char *what, zdir *z)
{
    memset(z, 0, sizeof *z);
    if (len < 22) return tac_fail("%s: not a zip archive (%zu bytes; truncated, or not a torch.save file)", what, len);
    /* the end-of-central-directory record: the last "PK\5\6" within the final 22 + 65535 bytes */
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, eocd = (size_t)-1;
    for (size_t i = len - 22 + 1; i-- > lo;)
        if (buf[i] == 'P' && buf[i + 1] == 'K' && buf[i + 2] == 5 && buf[i + 3] == 6 && i + 22 + le(buf + i + 20, 2) <= len) { eocd = i; break; }
    if (eocd == (size_t)-1)
        return tac_fail("%s: no zip end-of-central-directory record (truncated, or not a torch.save zip file)", what);
    uint64_t count = le(buf + eocd + 10, 2), cdsize = le(buf + eocd + 12, 4), cdoff = le(buf + eocd + 16, 4);
    if (count == 0xFFFF || cdsize == 0xFFFFFFFFu || cdoff == 0xFFFFFFFFu) {      /* zip64 */
        if (eocd < 20 || le(buf + eocd - 20, 4) != 0x07064b50u)
            return tac_fail("%s: zip64 archive without its locator (corrupt)", what);
        uint64_t z64 = le(buf + eocd - 20 + 8, 8);
        if (z64 > len || len - z64 < 56 || le(buf + z64, 4) != 0x06064b50u)
            return tac_fail("%s: zip64 end-of-central-directory record out of range (truncated or corrupt)", what);
        count = le(buf + z64 + 32, 8); cdsize = le(buf + z64 + 40, 8); cdoff = le(buf + z64 + 48, 8);
    }
    if (cdoff > len || cdsize > len - cdoff)
        return tac_fail("%s: zip central directory [%llu, +%llu) lies outside the %zu-byte file (truncated)", what,
                        (unsigned long long)cdoff, (unsigned long long)cdsize, len);
    if (count > cdsize / 46) return tac_fail("%s: zip central directory claims %llu entries in %llu bytes (corrupt)", what,
                                             (unsigned long long)count, (unsigned long long)cdsize);
    z->e = tac_try_calloc(count ? (size_t)count : 1, sizeof *z->e, what);
    if (!z->e) return TAC_ERR;
    const uint8_t *p = buf + cdoff, *end = p + cdsize;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || le(p, 4) != 0x02014b50u)
            return tac_fail("%s: zip central directory entry %llu is corrupt", what, (unsigned long long)i);
        zentry *e = &z->e[z->n];
        int flags = (int)le(p + 8, 2);
        e->method = (int)le(p + 10, 2);
        e->encrypted = flags & 1;
        uint64_t csize = le(p + 20, 4), usize = le(p + 24, 4), off = le(p + 42, 4);
        size_t nlen = (size_t)le(p + 28, 2), xlen = (size_t)le(p + 30, 2), clen = (size_t)le(p + 32, 2);
        if ((size_t)(end - p) - 46 < nlen + xlen + clen)
            return tac_fail("%s: zip central directory entry %llu overruns the directory (corrupt)", what, (unsigned long long)i);
        e->name = (const char *)p + 46;
        e->nlen = nlen;
        /* zip64 extra field: the 8-byte values for the fields saturated above, in this order */
        const uint8_t *x = p + 46 + nlen, *xe = x + xlen;
        while (xe - x >= 4) {
            uint64_t id = le(x, 2), sz = le(x + 2, 2);
            if ((uint64_t)(xe - x - 4) < sz) break;
            if (id == 1) {
                const uint8_t *q = x + 4, *qe = q + sz;
                if (usize == 0xFFFFFFFFu) { if (qe - q < 8) break; usize = le(q, 8); q += 8; }
                if (csize == 0xFFFFFFFFu) { if (qe - q < 8) break; csize = le(q, 8); q += 8; }
                if (off == 0xFFFFFFFFu) { if (qe - q < 8) break; off = le(q, 8); q += 8; }
            }
            x += 4 + sz;
        }
        if (usize == 0xFFFFFFFFu || csize == 0xFFFFFFFFu || off == 0xFFFFFFFFu)
            return tac_fail("%s: zip entry '%.*s' needs a zip64 size or offset that is missing (corrupt)", what, (int)nlen, e->name);
        p += 46 + nlen + xlen + clen;
        z->n++;
        e->size = usize;
        e->csize = csize;
        e->crc = (uint32_t)le(p - clen - xlen - nlen - 46 + 16, 4);
        if ((e->method != 0 && e->method != 8) || e->encrypted) continue;   /* refused when used, with its name */
        if (e->method == 0 && csize != usize)
            return tac_fail("%s: zip entry '%.*s' is stored with %llu bytes but says %llu uncompressed (corrupt)", what,
                            (int)nlen, e->name, (unsigned long long)csize, (unsigned long long)usize);
        if (off > len || len - off < 30 || le(buf + off, 4) != 0x04034b50u)
            return tac_fail("%s: zip entry '%.*s' has no local header at byte %llu (truncated or corrupt)", what,
                            (int)nlen, e->name, (unsigned long long)off);
        uint64_t start = off + 30 + le(buf + off + 26, 2) + le(buf + off + 28, 2);
        if (start > len || csize > len - start)
            return tac_fail("%s: zip entry '%.*s' (%llu bytes at byte %llu) runs past the end of the %zu-byte file "
                            "(truncated)", what, (int)nlen, e->name, (unsigned long long)csize,
                            (unsigned long long)start, len);
        e->data = buf + start;
    }
    return TAC_OK;
}

static zentry *zip_find(const zdir *z, const char *prefix, const char *name)
{
    size_t lp = strlen(prefix), ln = strlen(name);
    for (int i = 0; i < z->n; i++)
        if (z->e[i].nlen == lp + ln && !memcmp(z->e[i].name, prefix, lp) && !memcmp(z->e[i].name + lp, name, ln))
            return &z->e[i];
    return NULL;
}

/* An entry's bytes (size of them): stored ones in place, deflated ones inflated once (CRC-checked), or an error
 * naming the entry. */
static int zip_data(zentry *e, const char *what, const uint8_t **data)
{
    if (e->encrypted) return tac_fail("%s: zip entry '%.*s' is encrypted", what, (int)e->nlen, e->name);
    if (e->method == 0) { *data = e->data; return TAC_OK; }
    if (e->method != 8)
        return tac_fail("%s: zip entry '%.*s' is compressed with method %d; only stored and deflated entries are read "
                        "(torch.save stores them): re-save the state dict with torch.save", what, (int)e->nlen, e->name,
                        e->method);
    if (e->owned) { *data = e->owned; return TAC_OK; }
    /* deflate expands at most 1032:1: a larger claimed size is corrupt (and would be a large allocation) */
    if (e->size > e->csize * 1032 + 64 || e->size > (uint64_t)SIZE_MAX / 2)
        return tac_fail("%s: zip entry '%.*s' claims %llu bytes from %llu compressed (corrupt)", what, (int)e->nlen,
                        e->name, (unsigned long long)e->size, (unsigned long long)e->csize);
    uint8_t *out = malloc(e->size ? (size_t)e->size : 1);
    if (!out) return tac_fail("%s: out of memory inflating zip entry '%.*s' (%llu bytes)", what, (int)e->nlen, e->name,
                              (unsigned long long)e->size);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int zr = inflateInit2(&zs, -15);                          /* raw deflate, as zip stores it */
    int ok = zr == Z_OK;
    uint64_t in_off = 0, out_off = 0;
    uint8_t scratch[1];
    while (ok) {                                              /* in chunks: avail_in/out are 32-bit */
        if (!zs.avail_in && in_off < e->csize) {
            uint64_t k = e->csize - in_off > (1u << 30) ? (1u << 30) : e->csize - in_off;
            zs.next_in = (Bytef *)(e->data + in_off);
            zs.avail_in = (uInt)k;
            in_off += k;
        }
        if (!zs.avail_out) {
            if (out_off < e->size) {
                uint64_t k = e->size - out_off > (1u << 30) ? (1u << 30) : e->size - out_off;
                zs.next_out = out + out_off;
                zs.avail_out = (uInt)k;
                out_off += k;
            } else {                                          /* full: any more output is an error, seen below */
                zs.next_out = scratch;
                zs.avail_out = 1;
            }
        }
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK) break;                                /* Z_STREAM_END, or an error (Z_BUF_ERROR: input ended) */
    }
    uint64_t produced = ok ? (uint64_t)zs.total_out : 0;
    if (ok) inflateEnd(&zs);
    if (!ok || zr != Z_STREAM_END || produced != e->size || crc_of(out, e->size) != e->crc) {
        free(out);
        return tac_fail("%s: zip entry '%.*s' does not inflate to its %llu bytes with its CRC-32 (corrupt)", what,
                        (int)e->nlen, e->name, (unsigned long long)e->size);
    }
    e->owned = out;
    *data = out;
    return TAC_OK;
}

/* ---- the state dict ------------------------------------------------------------------------------------- */
static const char *const allowed_globals_ts[] = {     /* TorchScript: also the modules' classes (inert names) */
    "collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter",
    "torch FloatStorage", "torch HalfStorage", "torch BFloat16Storage", "torch DoubleStorage", "torch LongStorage",
    "torch IntStorage", "torch ShortStorage", "torch CharStorage", "torch ByteStorage", "torch BoolStorage",
    "__torch__*", NULL,
};
static const char *const allowed_globals[] = {
    "collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter",
    "torch FloatStorage", "torch HalfStorage", "torch BFloat16Storage", "torch DoubleStorage", "torch LongStorage",
    "torch IntStorage", "torch ShortStorage", "torch CharStorage", "torch ByteStorage", "torch BoolStorage", NULL,
};

static const struct { const char *cls; int dtype, size; } storages[] = {
    {"FloatStorage", TAC_ST_F32, 4}, {"HalfStorage", TAC_ST_F16, 2}, {"BFloat16Storage", TAC_ST_BF16, 2},
    {"DoubleStorage", TAC_ST_F64, 8}, {"LongStorage", TAC_ST_I64, 8}, {"IntStorage", TAC_ST_I32, 4},
    {"ShortStorage", TAC_ST_I16, 2}, {"CharStorage", TAC_ST_I8, 1}, {"ByteStorage", TAC_ST_U8, 1},
    {"BoolStorage", TAC_ST_BOOL, 1},
};

static int int_tuple(const tac_pyval *t, int64_t *out, int max)
{
    if (!t || t->type != PY_TUPLE || t->n > max) return -1;
    for (int64_t k = 0; k < t->n; k++) {
        if (t->items[k]->type != PY_INT || t->items[k]->i < 0 || t->items[k]->i > (INT64_C(1) << 48)) return -1;
        out[k] = t->items[k]->i;
    }
    return (int)t->n;
}

/* Where storages live: zip entries PREFIX/data/<key>, or (legacy format) a table of keys read after the pickle. */
typedef struct { const tac_pyval *key; const uint8_t *data; uint64_t size; } lstorage;
typedef struct {
    zdir *z;
    const char *prefix;
    const lstorage *ls;    /* legacy: nls storages */
    int64_t nls;
} stores;

/* The bytes of storage `key` (*size of them), or an error naming the tensor. */
static int find_storage(const stores *S, const tac_pyval *key, const char *what, const char *name,
                        const uint8_t **data, uint64_t *size)
{
    if (S->ls) {
        for (int64_t i = 0; i < S->nls; i++)
            if (S->ls[i].key->len == key->len && !memcmp(S->ls[i].key->s, key->s, key->len)) {
                *data = S->ls[i].data;
                *size = S->ls[i].size;
                return TAC_OK;
            }
        return tac_fail("%s: tensor '%s': storage %.*s is not in the file's storage list (corrupt)", what, name,
                        (int)key->len, (const char *)key->s);
    }
    char kname[96];
    snprintf(kname, sizeof kname, "data/%.*s", (int)key->len, (const char *)key->s);
    zentry *e = zip_find(S->z, S->prefix, kname);
    if (!e) return tac_fail("%s: tensor '%s': storage %s%s is not in the archive (truncated or corrupt)", what, name, S->prefix, kname);
    if (zip_data(e, what, data) != TAC_OK) return TAC_ERR;
    *size = e->size;
    return TAC_OK;
}

static int storage_type(const tac_pyval *g)
{
    for (size_t k = 0; k < sizeof storages / sizeof storages[0]; k++)
        if (tac_py_is_global(g, "torch", storages[k].cls)) return (int)k;
    return -1;
}

/* One state-dict value -> a tensor. Returns 1 (made), 0 (not a tensor: skipped) or TAC_ERR (-1). */
static int read_tensor(const tac_pyval *v, const stores *S, const char *what, const char *name, tac_st_tensor *t)
{
    if (v->type == PY_OBJ && tac_py_is_global(v->callable, "torch._utils", "_rebuild_parameter") && v->args &&
        v->args->type == PY_TUPLE && v->args->n >= 1)
        v = v->args->items[0];
    if (v->type != PY_OBJ || !tac_py_is_global(v->callable, "torch._utils", "_rebuild_tensor_v2")) return 0;
    const tac_pyval *a = v->args;
    if (!a || a->type != PY_TUPLE || a->n < 4)
        return tac_fail("%s: tensor '%s': _rebuild_tensor_v2 without (storage, offset, size, stride)", what, name);
    const tac_pyval *pid = a->items[0];
    const tac_pyval *s = pid->type == PY_PERSID ? pid->args : NULL;
    if (!s || s->type != PY_TUPLE || s->n < 5 || !tac_py_eq_text(s->items[0], "storage") || s->items[1]->type != PY_GLOBAL ||
        s->items[2]->type != PY_STR || s->items[4]->type != PY_INT || s->items[4]->i < 0)
        return tac_fail("%s: tensor '%s' does not reference a storage ('storage', type, key, location, numel)", what, name);
    int st = storage_type(s->items[1]);
    if (st < 0) return tac_fail("%s: tensor '%s' has a storage type this reader does not know", what, name);
    if (s->n > 5 && s->items[5]->type != PY_NONE)
        return tac_fail("%s: tensor '%s' uses a legacy storage view, which is not read", what, name);
    const tac_pyval *key = s->items[2];
    if (key->len == 0 || key->len > 64 || memchr(key->s, '/', key->len))
        return tac_fail("%s: tensor '%s' has a bad storage key", what, name);
    const uint8_t *data = NULL;
    uint64_t ssize = 0;
    if (find_storage(S, key, what, name, &data, &ssize) != TAC_OK) return TAC_ERR;
    uint64_t numel = (uint64_t)s->items[4]->i, esz = (uint64_t)storages[st].size;
    if (numel > ssize / esz)
        return tac_fail("%s: tensor '%s': its storage %.*s holds %llu bytes, %llu elements of %llu bytes need more", what,
                        name, (int)key->len, (const char *)key->s, (unsigned long long)ssize, (unsigned long long)numel,
                        (unsigned long long)esz);
    int64_t size[TAC_ST_MAXDIM], stride[TAC_ST_MAXDIM];
    int nd = int_tuple(a->items[2], size, TAC_ST_MAXDIM), ns = int_tuple(a->items[3], stride, TAC_ST_MAXDIM);
    if (a->items[1]->type != PY_INT || a->items[1]->i < 0 || nd < 0 || ns != nd)
        return tac_fail("%s: tensor '%s' has a bad offset, size or stride", what, name);
    uint64_t off = (uint64_t)a->items[1]->i, n = 1, want = 1;
    int contiguous = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (size[d] != 1 && (uint64_t)stride[d] != want) contiguous = 0;
        if (size[d] && want > (UINT64_C(1) << 50) / (uint64_t)size[d])   /* checked before it could overflow */
            return tac_fail("%s: tensor '%s' is too large", what, name);
        want *= (uint64_t)size[d];
    }
    n = want;
    if (n && !contiguous) {
        char sh[128];
        size_t k = 0;
        for (int d = 0; d < nd && k < sizeof sh; d++) k += (size_t)snprintf(sh + k, sizeof sh - k, "%s%lld", d ? ", " : "", (long long)stride[d]);
        if (!nd) sh[0] = 0;
        return tac_fail("%s: tensor '%s' is a strided view (strides [%s]) that cannot be mapped; save it contiguous "
                        "(state_dict values .contiguous()) and try again", what, name, sh);
    }
    if (off > numel || n > numel - off)
        return tac_fail("%s: tensor '%s' (offset %llu, %llu elements) lies outside its %llu-element storage", what, name,
                        (unsigned long long)off, (unsigned long long)n, (unsigned long long)numel);
    t->dtype = storages[st].dtype;
    t->ndim = nd;
    for (int d = 0; d < nd; d++) t->shape[d] = size[d];
    t->data = data + off * esz;
    t->nbytes = (size_t)(n * esz);
    return 1;
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const tac_st_tensor *)a)->name, ((const tac_st_tensor *)b)->name);
}

typedef struct { tac_st *st; int64_t cap; } tlist;

/* A TorchScript module: NEWOBJ(__torch__.Class) + BUILD({attribute: value}); its tensors are named as its
 * state_dict names them (submodule attributes joined with '.'). depth bounds memo cycles. */
static int flatten_module(const tac_pyval *obj, const char *prefix, const stores *S, const char *what, tlist *L, int depth)
{
    if (depth > 32) return tac_fail("%s: TorchScript modules nested too deep (or cyclic)", what);
    const tac_pyval *d = obj->state;
    if (!d || d->type != PY_DICT) return TAC_OK;
    for (int64_t k = 0; k + 1 < d->n; k += 2) {
        const tac_pyval *key = d->items[k], *v = d->items[k + 1];
        if (key->type != PY_STR || key->len > 256 || strlen(prefix) > 1024) continue;
        char *name = tac_try_malloc(strlen(prefix) + key->len + 2, 1, what);
        if (!name) return TAC_ERR;
        sprintf(name, "%s%.*s", prefix, (int)key->len, (const char *)key->s);
        if (v->type == PY_OBJ && v->callable && v->callable->type == PY_GLOBAL && v->callable->len > 9 &&
            !memcmp(v->callable->s, "__torch__", 9)) {
            strcat(name, ".");
            int r = flatten_module(v, name, S, what, L, depth + 1);
            free(name);
            if (r != TAC_OK) return TAC_ERR;
            continue;
        }
        if (L->st->n == L->cap) {
            int cap = L->cap ? 2 * L->cap : 64;
            tac_st_tensor *nt = realloc(L->st->t, (size_t)cap * sizeof *L->st->t);
            if (!nt) { free(name); return tac_fail("%s: out of memory (tensor table)", what); }
            L->st->t = nt; L->cap = cap;
        }
        tac_st_tensor *t = &L->st->t[L->st->n];
        memset(t, 0, sizeof *t);
        int r = read_tensor(v, S, what, name, t);
        if (r <= 0) { free(name); if (r < 0) return TAC_ERR; continue; }
        t->name = name;
        L->st->n++;
    }
    return TAC_OK;
}

/* The zip form: finds PREFIX/data.pkl, refuses TorchScript, parses the pickle. */
static int zip_form(const uint8_t *buf, size_t len, const char *what, zdir *z, char *prefix, size_t prefix_cap,
                    tac_pickle **p, const uint8_t **pb, size_t *pl, int *torchscript)
{
    if (zip_parse(buf, len, what, z) != TAC_OK) return TAC_ERR;
    zentry *pkl = NULL;                       /* PREFIX/data.pkl: exactly one, PREFIX a single folder name */
    for (int i = 0; i < z->n; i++) {
        zentry *e = &z->e[i];
        const char *slash = memchr(e->name, '/', e->nlen);
        if (!slash || slash == e->name || (size_t)(slash - e->name) >= prefix_cap - 1) continue;
        size_t lp = (size_t)(slash - e->name) + 1;
        if (e->nlen != lp + 8 || memcmp(e->name + lp, "data.pkl", 8) != 0) continue;
        if (pkl) return tac_fail("%s: the zip holds more than one data.pkl (not a torch.save file)", what);
        pkl = e;
        memcpy(prefix, e->name, lp);
        prefix[lp] = 0;
    }
    if (!pkl) return tac_fail("%s: a zip archive without PREFIX/data.pkl (not a torch.save file)", what);
    *torchscript = zip_find(z, prefix, "constants.pkl") || zip_find(z, prefix, "code/__torch__.py");
    if (zip_data(pkl, what, pb) != TAC_OK) return TAC_ERR;
    *pl = (size_t)pkl->size;
    return tac_pickle_parse_ex(*pb, *pl, what, TAC_PICKLE_PERSID, p);
}

/* The legacy form (PyTorch before 1.6, or _use_new_zipfile_serialization=False): pickles of the magic number,
 * the format version (1001), sys_info, the object (persistent ids ('storage', type, key, location, numel, view)),
 * the sorted list of storage keys; then each storage in that order as an int64 element count and its raw bytes. */
static int legacy_form(const uint8_t *buf, size_t len, const char *what, tac_pickle **p, tac_pickle **aux,
                       lstorage **ls, int64_t *nls, const uint8_t **pb, size_t *pl)
{
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};   /* 0x1950a86a20f9469cfc6c */
    size_t pos = 0, used = 0;
    if (len - pos >= 2 && buf[pos] == 0x80) pos += 2;                                  /* PROTO */
    if (len - pos >= 9 && buf[pos] == 0x95) pos += 9;                                  /* FRAME */
    if (len - pos < 13 || buf[pos] != 0x8a || buf[pos + 1] != 10 || memcmp(buf + pos + 2, magic, 10) || buf[pos + 12] != '.')
        return tac_fail("%s: neither a zip archive nor a legacy torch.save file (no magic number)", what);
    pos += 13;
    tac_pickle *q = NULL;
    if (tac_pickle_parse_prefix(buf + pos, len - pos, what, 0, &q, &used) != TAC_OK) return TAC_ERR;
    const tac_pyval *ver = tac_pickle_root(q);
    int ok = ver->type == PY_INT && ver->i == 1001;
    tac_pickle_free(q);
    if (!ok) return tac_fail("%s: legacy torch.save format version is not 1001", what);
    pos += used;
    if (tac_pickle_parse_prefix(buf + pos, len - pos, what, 0, &q, &used) != TAC_OK) return TAC_ERR;
    const tac_pyval *le_ = tac_py_dict_get(tac_pickle_root(q), "little_endian");
    ok = !le_ || ((le_->type == PY_BOOL || le_->type == PY_INT) && le_->i);
    tac_pickle_free(q);
    if (!ok) return tac_fail("%s: a big-endian legacy torch.save file, which is not read", what);
    pos += used;
    *pb = buf + pos;
    if (tac_pickle_parse_prefix(buf + pos, len - pos, what, TAC_PICKLE_PERSID, p, &used) != TAC_OK) return TAC_ERR;
    *pl = used;
    pos += used;
    if (tac_pickle_parse_prefix(buf + pos, len - pos, what, 0, aux, &used) != TAC_OK) return TAC_ERR;
    pos += used;
    const tac_pyval *keys = tac_pickle_root(*aux);
    if (keys->type != PY_LIST) return tac_fail("%s: legacy torch.save file without its storage key list", what);
    *ls = tac_try_calloc(keys->n ? (size_t)keys->n : 1, sizeof **ls, what);
    if (!*ls) return TAC_ERR;
    for (int64_t k = 0; k < keys->n; k++) {
        const tac_pyval *key = keys->items[k];
        if (key->type != PY_STR) return tac_fail("%s: legacy storage key %lld is not a string", what, (long long)k);
        int esz = 0;                             /* the element size, from a persistent id naming this key */
        for (int64_t i = 0; i < tac_pickle_nvals(*p) && !esz; i++) {
            const tac_pyval *v = tac_pickle_val(*p, i), *t = v->type == PY_PERSID ? v->args : NULL;
            if (!t || t->type != PY_TUPLE || t->n < 5 || !tac_py_eq_text(t->items[0], "storage") ||
                t->items[2]->type != PY_STR || t->items[2]->len != key->len || memcmp(t->items[2]->s, key->s, key->len))
                continue;
            int st = storage_type(t->items[1]);
            if (st >= 0) esz = storages[st].size;
        }
        if (!esz) return tac_fail("%s: legacy storage %.*s has no known element type", what, (int)(key->len > 64 ? 64 : key->len), (const char *)key->s);
        if (len - pos < 8) return tac_fail("%s: legacy torch.save file truncated before storage %lld of %lld", what, (long long)k, (long long)keys->n);
        uint64_t n = le(buf + pos, 8);
        pos += 8;
        if (n > (len - pos) / (uint64_t)esz)
            return tac_fail("%s: legacy storage %lld (%llu elements of %d bytes) runs past the end of the %zu-byte file "
                            "(truncated)", what, (long long)k, (unsigned long long)n, esz, len);
        (*ls)[k].key = key;
        (*ls)[k].data = buf + pos;
        (*ls)[k].size = n * (uint64_t)esz;
        pos += (size_t)(n * (uint64_t)esz);
        *nls = k + 1;
    }
    return TAC_OK;
}

int tac_torch_parse(const uint8_t *buf, size_t len, const char *what, tac_st *st)
{
    memset(st, 0, sizeof *st);
    zdir z = {0};
    tac_pickle *p = NULL, *aux = NULL;
    lstorage *ls = NULL;
    int64_t nls = 0;
    int rc = TAC_ERR;
    char prefix[256] = "";
    const uint8_t *pb = NULL;
    size_t pl = 0;
    stores S = {0};
    int torchscript = 0;
    if (len >= 2 && buf[0] == 0x80 && buf[1] <= 5) {
        if (legacy_form(buf, len, what, &p, &aux, &ls, &nls, &pb, &pl) != TAC_OK) goto out;
        S.ls = ls;
        S.nls = nls;
    } else {
        if (zip_form(buf, len, what, &z, prefix, sizeof prefix, &p, &pb, &pl, &torchscript) != TAC_OK) goto out;
        S.z = &z;
        S.prefix = prefix;
    }
    if (tac_pickle_check_globals(p, torchscript ? allowed_globals_ts : allowed_globals) != TAC_OK) goto out;
    const tac_pyval *root = tac_pickle_root(p), *sd = tac_py_dict_get(root, "state_dict");
    if (torchscript) {
        if (root->type != PY_OBJ || !root->callable || root->callable->type != PY_GLOBAL) {
            tac_fail("%s: a TorchScript archive whose data.pkl is not a module", what);
            goto out;
        }
        tlist L = {st, 0};
        if (flatten_module(root, "", &S, what, &L, 0) != TAC_OK) goto out;
        goto sorted;
    }
    if (sd && sd->type == PY_DICT) root = sd;
    if (!root || root->type != PY_DICT) { tac_fail("%s: the pickle does not hold a state dict (a dict of tensors)", what); goto out; }
    int module = root->n > 0;          /* every key starts with "module." (a DataParallel training checkpoint) */
    for (int64_t k = 0; k + 1 < root->n; k += 2)
        if (root->items[k]->type != PY_STR || root->items[k]->len < 7 || memcmp(root->items[k]->s, "module.", 7)) module = 0;
    st->t = tac_try_calloc(root->n ? (size_t)root->n / 2 + 1 : 1, sizeof *st->t, what);
    if (!st->t) goto out;
    for (int64_t k = 0; k + 1 < root->n; k += 2) {
        const tac_pyval *key = root->items[k];
        if (key->type != PY_STR || key->len > 4096) continue;
        size_t skip = module ? 7 : 0;
        char *name = tac_try_malloc(key->len - skip + 1, 1, what);
        if (!name) goto out;
        memcpy(name, key->s + skip, key->len - skip);
        name[key->len - skip] = 0;
        tac_st_tensor *t = &st->t[st->n];
        int r = read_tensor(root->items[k + 1], &S, what, name, t);
        if (r <= 0) { free(name); if (r < 0) goto out; continue; }
        t->name = name;
        st->n++;
    }
sorted:
    qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_tensor);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->t[i - 1].name, st->t[i].name) == 0) { tac_fail("%s: tensor '%s' appears twice", what, st->t[i].name); goto out; }
    int nowned = 0;
    for (int i = 0; i < z.n; i++) nowned += z.e[i].owned != NULL;
    if (nowned && !(st->owned = tac_try_calloc((size_t)nowned, sizeof *st->owned, what))) goto out;
    st->header = pb;
    st->header_len = pl;
    st->data = buf;
    st->data_len = len;
    rc = TAC_OK;
out:
    if (rc != TAC_OK) {
        for (int i = 0; i < st->n; i++) free(st->t[i].name);
        free(st->t);
        memset(st, 0, sizeof *st);
    }
    for (int i = 0; i < z.n; i++) {           /* inflated entries: kept by the table they back, or freed */
        if (!z.e[i].owned) continue;
        if (rc == TAC_OK) {
            st->owned[st->nowned++] = z.e[i].owned;           /* room made above */
        } else {
            free(z.e[i].owned);
        }
    }
    tac_pickle_free(p);
    tac_pickle_free(aux);
    free(ls);
    free(z.e);
    return rc;
}

int tac_torch_open(const char *path, tac_st *st)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tac_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return tac_fail("%s: not a regular file", path); }
    size_t len = (size_t)sb.st_size;
    if (len < 22) { close(fd); return tac_fail("%s: not a torch.save zip file (%zu bytes)", path, len); }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return tac_fail("%s: cannot map: %s", path, strerror(errno));
    madvise(map, len, MADV_WILLNEED);
    if (tac_torch_parse(map, len, path, st) != TAC_OK) { munmap(map, len); return TAC_ERR; }
    st->map = map;
    st->map_len = len;
    return TAC_OK;
}
