/* tac_safetensors.c - a validating reader for the safetensors format (memory-mapped, zero copy).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets":
 * [begin, end]}, "__metadata__": {...}}, then the data section; offsets are relative to the data section.
 * Every entry is checked: known dtype, shape of non-negative integers (at most TAC_ST_MAXDIM dims), offsets
 * integral, begin <= end <= data size, end - begin == numel * dtype size (overflow-checked). Tensors may be
 * unsorted or overlap (the format forbids it, readers in the wild accept it); out-of-range is an error.
 *   tac_st st; if (tac_st_open("model.safetensors", &st)) ...; t = tac_st_find(&st, "logit_scale"); tac_st_close(&st);
 */
#include "clip/tac_clip_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAC_ST_MAX_HEADER (100u << 20)    /* 100 MB, the limit the reference implementation uses */

static const struct { const char *name; int size; } st_dtypes[TAC_ST_NDTYPES] = {
    [TAC_ST_BOOL] = {"BOOL", 1}, [TAC_ST_U8] = {"U8", 1}, [TAC_ST_I8] = {"I8", 1},
    [TAC_ST_F8_E5M2] = {"F8_E5M2", 1}, [TAC_ST_F8_E4M3] = {"F8_E4M3", 1}, [TAC_ST_I16] = {"I16", 2},
    [TAC_ST_U16] = {"U16", 2}, [TAC_ST_F16] = {"F16", 2}, [TAC_ST_BF16] = {"BF16", 2}, [TAC_ST_I32] = {"I32", 4},
    [TAC_ST_U32] = {"U32", 4}, [TAC_ST_F32] = {"F32", 4}, [TAC_ST_F64] = {"F64", 8}, [TAC_ST_I64] = {"I64", 8},
    [TAC_ST_U64] = {"U64", 8},
};

const char *tac_st_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < TAC_ST_NDTYPES ? st_dtypes[dtype].name : "?";
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_u53(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(uint64_t)d) return 0;
    *v = (uint64_t)d;
    return 1;
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const tac_st_tensor *)a)->name, ((const tac_st_tensor *)b)->name);
}

static void st_free_tensors(tac_st *st)
{
    for (int i = 0; i < st->n; i++) free(st->t[i].name);
    free(st->t);
    st->t = NULL;
    st->n = 0;
}

static int parse_entry(const cJSON *e, const char *what, tac_st *st, tac_st_tensor *t)
{
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return tac_fail("%s: header entry '%s' is not an object", what, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return tac_fail("%s: tensor '%s' has no dtype string", what, nm);
    t->dtype = -1;
    for (int k = 0; k < TAC_ST_NDTYPES; k++)
        if (strcmp(dt->valuestring, st_dtypes[k].name) == 0) t->dtype = k;
    if (t->dtype < 0) return tac_fail("%s: tensor '%s' has unknown dtype '%.32s'", what, nm, dt->valuestring);
    if (!cJSON_IsArray(sh)) return tac_fail("%s: tensor '%s' has no shape array", what, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > TAC_ST_MAXDIM) return tac_fail("%s: tensor '%s' has %d dimensions (at most %d)", what, nm, nd, TAC_ST_MAXDIM);
    t->ndim = nd;
    uint64_t numel = 1;
    int k = 0, overflow = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_u53(d, &v)) return tac_fail("%s: tensor '%s' has a bad shape entry", what, nm);
        t->shape[k++] = (int64_t)v;
        if (v && numel > UINT64_MAX / v) overflow = 1;
        numel *= v;
    }
    uint64_t esz = (uint64_t)st_dtypes[t->dtype].size;
    if (overflow || numel > UINT64_MAX / esz) return tac_fail("%s: tensor '%s' shape is too large", what, nm);
    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_u53(cJSON_GetArrayItem(of, 0), &b) ||
        !json_u53(cJSON_GetArrayItem(of, 1), &en))
        return tac_fail("%s: tensor '%s' has no valid data_offsets [begin, end]", what, nm);
    if (b > en || en > st->data_len)
        return tac_fail("%s: tensor '%s' data_offsets [%llu, %llu] lie outside the %zu-byte data section "
                        "(truncated or corrupt file)", what, nm, (unsigned long long)b, (unsigned long long)en,
                        st->data_len);
    if (en - b != numel * esz)
        return tac_fail("%s: tensor '%s' spans %llu bytes, its shape and dtype need %llu", what, nm,
                        (unsigned long long)(en - b), (unsigned long long)(numel * esz));
    t->data = st->data + b;
    t->nbytes = (size_t)(en - b);
    return TAC_OK;
}

int tac_st_parse(const uint8_t *buf, size_t len, const char *what, tac_st *st)
{
    memset(st, 0, sizeof *st);
    if (len < 8) return tac_fail("%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)", what, len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    if (hl > len - 8)
        return tac_fail("%s: header length %llu exceeds the file size %zu (truncated or not safetensors)", what,
                        (unsigned long long)hl, len);
    if (hl < 2 || hl > TAC_ST_MAX_HEADER)
        return tac_fail("%s: implausible header length %llu (not safetensors)", what, (unsigned long long)hl);
    st->header = buf + 8;
    st->header_len = (size_t)hl;
    st->data = buf + 8 + hl;
    st->data_len = len - 8 - (size_t)hl;
    cJSON *root = cJSON_ParseWithLength((const char *)st->header, st->header_len);
    if (!root) return tac_fail("%s: the header is not valid JSON (not safetensors, or corrupt)", what);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return tac_fail("%s: the header is not a JSON object", what); }
    int cap = cJSON_GetArraySize(root);
    st->t = tac_try_calloc(cap > 0 ? (size_t)cap : 1, sizeof *st->t, what);
    if (!st->t) { cJSON_Delete(root); return TAC_ERR; }
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (!e->string) continue;
        if (strcmp(e->string, "__metadata__") == 0) continue;
        tac_st_tensor *t = &st->t[st->n];
        if (parse_entry(e, what, st, t) != TAC_OK) { cJSON_Delete(root); st_free_tensors(st); return TAC_ERR; }
        t->name = tac_clip_strdup(e->string);
        if (!t->name) { cJSON_Delete(root); st_free_tensors(st); return TAC_ERR; }
        st->n++;
    }
    cJSON_Delete(root);
    qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_tensor);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->t[i - 1].name, st->t[i].name) == 0) {
            int r = tac_fail("%s: tensor '%s' appears twice in the header", what, st->t[i].name);
            st_free_tensors(st);
            return r;
        }
    return TAC_OK;
}

int tac_st_open(const char *path, tac_st *st)
{
    memset(st, 0, sizeof *st);
    int fd = tac_open_regular(path, NULL);   /* never waits on a FIFO */
    if (fd < 0) return TAC_ERR;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return tac_fail("%s: not a regular file", path); }
    size_t len = (size_t)sb.st_size;
    if (len < 8) { close(fd); return tac_fail("%s: not a safetensors file (%zu bytes)", path, len); }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return tac_fail("%s: cannot map: %s", path, strerror(errno));
    madvise(map, len, MADV_WILLNEED);              /* read ahead: every tensor is converted once at load */
    if (tac_st_parse(map, len, path, st) != TAC_OK) { munmap(map, len); return TAC_ERR; }
    st->map = map;
    st->map_len = len;
    return TAC_OK;
}

void tac_st_close(tac_st *st)
{
    st_free_tensors(st);
    if (st->map) munmap(st->map, st->map_len);
    for (int i = 0; i < st->nowned; i++) free(st->owned[i]);
    free(st->owned);
    memset(st, 0, sizeof *st);
}

const tac_st_tensor *tac_st_find(const tac_st *st, const char *name)
{
    tac_st_tensor key = {.name = (char *)name};
    if (st->n == 0) return NULL;
    return bsearch(&key, st->t, (size_t)st->n, sizeof *st->t, cmp_tensor);
}
