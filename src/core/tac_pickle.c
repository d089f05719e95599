/* tac_pickle.c - a small, safe reader for Python pickles (protocols 0-5, the subset that plain data uses), enough
 * to read the CIFAR-10/100 "python version" batches: a dict holding a numpy uint8 array and lists of ints.
 *
 * Nothing is ever executed. GLOBAL/STACK_GLOBAL only record the "module name" pair; REDUCE, NEWOBJ and BUILD
 * build inert "object" values (callable, args, state) that the lookups below interpret structurally. Two
 * callables are understood because Python itself writes plain bytes through them: `_codecs.encode(str,
 * 'latin1')` (bytes in protocol 2 from Python 3) and `__builtin__/builtins.bytes()` (empty bytes); and
 * `collections.OrderedDict()` (how torch.save writes a state_dict) becomes a plain dict, whose later BUILD state
 * (a state_dict's `_metadata`) is recorded and ignored. Persistent ids (torch.save's storage references) are
 * kept as inert values when the caller asks for them (tac_pickle_parse_ex with TAC_PICKLE_PERSID, see
 * core/tac_pickle.h), an error otherwise. Everything else that is not plain data (extension codes, out-of-band
 * buffers, INST/OBJ) is an error. tac_pickle_check_globals lets a caller refuse any global it does not know.
 * Every read is bounds-checked; every value lives in the parse context and is freed by tac_pickle_free. Memory
 * is O(input size); there is no recursion while parsing.
 *
 *   tac_pickle *p; tac_pickle_parse(buf, len, "data_batch_1", &p);
 *   const tac_pyval *d = tac_py_dict_get(tac_pickle_root(p), "labels");  ... tac_pickle_free(p);
 * or, for CIFAR, tac_pickle_cifar_batch(buf, len, "data_batch_1", "labels", &labels, &pixels, &n).
 */
#include "core/tac_pickle.h"
#include "taclust/core.h"
#include "core/tac_internal.h"
#include "core/tac_mem.h"

#include <stdlib.h>
#include <string.h>


struct tac_pickle {
    const char *what;          /* name used in error messages */
    const uint8_t *buf;
    size_t len, pos;
    tac_pyval **chunks;        /* every value, allocated VCHUNK at a time and freed together */
    int64_t nall, capchunks;
    uint8_t **owned;           /* byte buffers owned by values (decoded strings, GLOBAL names) */
    int64_t nowned, capowned;
    tac_pyval **stack;         /* the pickle machine's stack */
    int64_t sp, capstack;
    int64_t *marks;            /* stack heights at each MARK */
    int64_t nmarks, capmarks;
    tac_pyval **memo;          /* memo[i] or NULL */
    int64_t capmemo, nmemo;     /* nmemo: entries stored (MEMOIZE stores at index nmemo, as len(memo)) */
    tac_pyval *root;
    int flags;                 /* TAC_PICKLE_* */
    int oom;                   /* an allocation failed (reason set): the parse stops at the next opcode */
    tac_pyval spare;           /* what new_val hands out after a failed allocation (never part of the result) */
};

/* Memory failures inside the machine's primitives: the first one sets the reason and the sticky flag, which the
 * main loop checks before every opcode (no primitive aborts; their callers stay simple). */
static void pickle_oom(tac_pickle *p)
{
    if (!p->oom) p->oom = 1;
}

#define VCHUNK 256
static tac_pyval *new_val(tac_pickle *p, int type)
{
    int64_t c = p->nall / VCHUNK;
    if (p->nall % VCHUNK == 0) {
        if (c == p->capchunks) {
            int64_t nc = p->capchunks ? 2 * p->capchunks : 16;
            tac_pyval **g = tac_try_realloc(p->chunks, (size_t)nc, sizeof *p->chunks, p->what);
            if (!g) goto oom;
            p->chunks = g;
            p->capchunks = nc;
        }
        if (!(p->chunks[c] = tac_try_calloc(VCHUNK, sizeof(tac_pyval), p->what))) goto oom;
    }
    tac_pyval *v = &p->chunks[c][p->nall++ % VCHUNK];
    v->type = type;
    return v;
oom:
    pickle_oom(p);
    free(p->spare.items);
    memset(&p->spare, 0, sizeof p->spare);
    p->spare.type = type;
    return &p->spare;
}

/* A byte buffer owned by the parse, or NULL (reason set) when it cannot be allocated. */
static uint8_t *own(tac_pickle *p, size_t n)
{
    if (p->nowned == p->capowned) {
        int64_t nc = p->capowned ? 2 * p->capowned : 16;
        uint8_t **g = tac_try_realloc(p->owned, (size_t)nc, sizeof *p->owned, p->what);
        if (!g) { pickle_oom(p); return NULL; }
        p->owned = g;
        p->capowned = nc;
    }
    uint8_t *b = tac_try_malloc(n ? n : 1, 1, p->what);
    if (!b) { pickle_oom(p); return NULL; }
    p->owned[p->nowned++] = b;
    return b;
}

static void add_item(tac_pickle *p, tac_pyval *c, tac_pyval *x)
{
    if (c->n == c->cap) {
        int64_t nc = c->cap ? 2 * c->cap : 8;
        tac_pyval **g = tac_try_realloc(c->items, (size_t)nc, sizeof *c->items, p->what);
        if (!g) { pickle_oom(p); return; }
        c->items = g;
        c->cap = nc;
    }
    c->items[c->n++] = x;
}

void tac_pickle_free(tac_pickle *p)
{
    if (!p) return;
    for (int64_t i = 0; i < p->nall; i++) free(p->chunks[i / VCHUNK][i % VCHUNK].items);
    for (int64_t c = 0; c * VCHUNK < p->nall; c++) free(p->chunks[c]);
    for (int64_t i = 0; i < p->nowned; i++) free(p->owned[i]);
    free(p->chunks); free(p->owned); free(p->stack); free(p->marks); free(p->memo); free(p->spare.items);
    free(p);
}

/* ---- reading primitives -------------------------------------------------------------------------------- */
static int need(tac_pickle *p, size_t n, int op)
{
    if (p->len - p->pos < n)
        return tac_fail("%s: truncated pickle (opcode 0x%02x at byte %zu needs %zu more bytes)", p->what, op, p->pos, n);
    return TAC_OK;
}

static uint64_t rd_le(tac_pickle *p, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v |= (uint64_t)p->buf[p->pos + k] << (8 * k);
    p->pos += (size_t)n;
    return v;
}

/* A text line (protocol 0 operands), without its '\n'. */
static int rd_line(tac_pickle *p, int op, const uint8_t **s, size_t *n)
{
    const uint8_t *nl = memchr(p->buf + p->pos, '\n', p->len - p->pos);
    if (!nl) return tac_fail("%s: truncated pickle (opcode 0x%02x at byte %zu has no end of line)", p->what, op, p->pos);
    *s = p->buf + p->pos;
    *n = (size_t)(nl - *s);
    p->pos += *n + 1;
    return TAC_OK;
}

static void push(tac_pickle *p, tac_pyval *v)
{
    if (p->sp == p->capstack) {
        int64_t nc = p->capstack ? 2 * p->capstack : 64;
        tac_pyval **g = tac_try_realloc(p->stack, (size_t)nc, sizeof *p->stack, p->what);
        if (!g) { pickle_oom(p); return; }
        p->stack = g;
        p->capstack = nc;
    }
    p->stack[p->sp++] = v;
}

static int pop(tac_pickle *p, int op, tac_pyval **v)
{
    int64_t floor = p->nmarks ? p->marks[p->nmarks - 1] : 0;
    if (p->sp <= floor) return tac_fail("%s: bad pickle: stack underflow at opcode 0x%02x (byte %zu)", p->what, op, p->pos);
    *v = p->stack[--p->sp];
    return TAC_OK;
}

static int top(tac_pickle *p, int op, tac_pyval **v)
{
    int64_t floor = p->nmarks ? p->marks[p->nmarks - 1] : 0;
    if (p->sp <= floor) return tac_fail("%s: bad pickle: empty stack at opcode 0x%02x (byte %zu)", p->what, op, p->pos);
    *v = p->stack[p->sp - 1];
    return TAC_OK;
}

/* Pops back to the last MARK: *first is the index of the first item above it, the items stay in the array
 * until the caller sets p->sp = *first. */
static int pop_mark(tac_pickle *p, int op, int64_t *first)
{
    if (!p->nmarks) return tac_fail("%s: bad pickle: opcode 0x%02x at byte %zu without a MARK", p->what, op, p->pos);
    *first = p->marks[--p->nmarks];
    return TAC_OK;
}

/* The value just below a popped MARK (the list/dict that APPENDS/SETITEMS extend). */
static int below_mark(tac_pickle *p, int op, int64_t first, tac_pyval **v)
{
    int64_t floor = p->nmarks ? p->marks[p->nmarks - 1] : 0;
    if (first <= floor) return tac_fail("%s: bad pickle: opcode 0x%02x at byte %zu has nothing to extend", p->what, op, p->pos);
    *v = p->stack[first - 1];
    return TAC_OK;
}

static int memo_put(tac_pickle *p, uint64_t idx, int op)
{
    tac_pyval *v = NULL;
    if (top(p, op, &v) != TAC_OK) return TAC_ERR;
    /* Pickles number memo entries 0, 1, 2...: each entry needs at least one input byte, so no valid index
     * exceeds the input length. */
    if (idx > p->len) return tac_fail("%s: bad pickle: memo index %llu out of range (byte %zu)", p->what, (unsigned long long)idx, p->pos);
    if ((int64_t)idx >= p->capmemo) {
        int64_t nc = p->capmemo ? p->capmemo : 64;
        while (nc <= (int64_t)idx) nc *= 2;
        tac_pyval **g = tac_try_realloc(p->memo, (size_t)nc, sizeof *p->memo, p->what);
        if (!g) return TAC_ERR;
        p->memo = g;
        memset(p->memo + p->capmemo, 0, (size_t)(nc - p->capmemo) * sizeof *p->memo);
        p->capmemo = nc;
    }
    if (!p->memo[idx]) p->nmemo++;
    p->memo[idx] = v;
    return TAC_OK;
}

static int memo_get(tac_pickle *p, uint64_t idx, int op)
{
    if ((int64_t)idx >= p->capmemo || idx >= (uint64_t)p->capmemo || !p->memo[idx])
        return tac_fail("%s: bad pickle: opcode 0x%02x reads memo %llu which was never stored", p->what, op, (unsigned long long)idx);
    push(p, p->memo[idx]);
    return TAC_OK;
}

static int parse_dec(tac_pickle *p, const uint8_t *s, size_t n, int64_t *out)
{
    /* "123", "-5", "123L" (LONG), "00"/"01" (protocol 0 False/True) */
    size_t k = 0; int neg = 0; uint64_t v = 0;
    if (k < n && (s[k] == '-' || s[k] == '+')) { neg = s[k] == '-'; k++; }
    if (n && s[n - 1] == 'L') n--;
    if (k >= n) return tac_fail("%s: bad pickle: empty integer at byte %zu", p->what, p->pos);
    for (; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return tac_fail("%s: bad pickle: bad integer text at byte %zu", p->what, p->pos);
        if (v > (UINT64_C(1) << 62)) return tac_fail("%s: integer too large at byte %zu", p->what, p->pos);
        v = v * 10 + (uint64_t)(s[k] - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return TAC_OK;
}

static tac_pyval *mk_int(tac_pickle *p, int64_t v) { tac_pyval *x = new_val(p, PY_INT); x->i = v; return x; }
static tac_pyval *mk_buf(tac_pickle *p, int type, const uint8_t *s, size_t n)
{
    tac_pyval *x = new_val(p, type); x->s = s; x->len = n; return x;
}

static int eq_text(const tac_pyval *v, const char *s)
{
    return v && (v->type == PY_STR || v->type == PY_BYTES) && v->len == strlen(s) && !memcmp(v->s, s, v->len);
}

static int is_global(const tac_pyval *v, const char *mod, const char *name)
{
    if (!v || v->type != PY_GLOBAL) return 0;
    size_t lm = strlen(mod), ln = strlen(name);
    return v->len == lm + 1 + ln && !memcmp(v->s, mod, lm) && v->s[lm] == ' ' && !memcmp(v->s + lm + 1, name, ln);
}

/* UTF-8 text whose code points are all < 256 -> those bytes (what `_codecs.encode(s, 'latin1')` returns). */
static int latin1_from_utf8(tac_pickle *p, const tac_pyval *s, tac_pyval **out)
{
    uint8_t *b = own(p, s->len);
    if (!b) return TAC_ERR;
    size_t n = 0;
    for (size_t k = 0; k < s->len;) {
        uint8_t c = s->s[k];
        if (c < 0x80) { b[n++] = c; k++; }
        else if ((c & 0xE0) == 0xC0 && k + 1 < s->len && (s->s[k + 1] & 0xC0) == 0x80) {
            unsigned cp = ((unsigned)(c & 0x1F) << 6) | (s->s[k + 1] & 0x3F);
            if (cp > 0xFF) return tac_fail("%s: bad pickle: latin1 text with code point U+%04X", p->what, cp);
            b[n++] = (uint8_t)cp; k += 2;
        } else return tac_fail("%s: bad pickle: latin1 text is not valid UTF-8 below U+0100", p->what);
    }
    *out = mk_buf(p, PY_BYTES, b, n);
    return TAC_OK;
}

/* REDUCE: inert object, except the two ways Python spells plain bytes. */
static int reduce(tac_pickle *p, tac_pyval *fn, tac_pyval *args, tac_pyval **out)
{
    if (args->type != PY_TUPLE) return tac_fail("%s: bad pickle: REDUCE arguments are not a tuple (byte %zu)", p->what, p->pos);
    if (is_global(fn, "_codecs", "encode") && args->n == 2 && args->items[0]->type == PY_STR && eq_text(args->items[1], "latin1"))
        return latin1_from_utf8(p, args->items[0], out);
    if ((is_global(fn, "__builtin__", "bytes") || is_global(fn, "builtins", "bytes")) && args->n == 0) {
        *out = mk_buf(p, PY_BYTES, (const uint8_t *)"", 0);
        return TAC_OK;
    }
    if (is_global(fn, "collections", "OrderedDict") && args->n == 0) {   /* then SETITEMS fill it */
        *out = new_val(p, PY_DICT);
        return TAC_OK;
    }
    tac_pyval *o = new_val(p, PY_OBJ);
    o->callable = fn; o->args = args;
    *out = o;
    return TAC_OK;
}

/* ---- the machine ----------------------------------------------------------------------------------------- */
int tac_pickle_parse(const void *data, size_t len, const char *what, tac_pickle **out)
{
    return tac_pickle_parse_ex(data, len, what, 0, out);
}

int tac_pickle_parse_ex(const void *data, size_t len, const char *what, int flags, tac_pickle **out)
{
    return tac_pickle_parse_prefix(data, len, what, flags, out, NULL);
}

int tac_pickle_parse_prefix(const void *data, size_t len, const char *what, int flags, tac_pickle **out, size_t *used)
{
    *out = NULL;
    tac_pickle *p = tac_try_calloc(1, sizeof *p, what ? what : "pickle");
    if (!p) return TAC_ERR;
    p->what = what ? what : "pickle";
    p->flags = flags;
    p->buf = data; p->len = len;
    tac_pyval *a = NULL, *b = NULL, *c = NULL;
    int64_t first = 0;
    for (;;) {
        if (p->oom) goto fail;   /* the reason was set where the allocation failed */
        if (p->pos >= p->len) { tac_fail("%s: truncated pickle (no STOP opcode after %zu bytes)", p->what, p->len); goto fail; }
        int op = p->buf[p->pos++];
        const uint8_t *s = NULL; size_t n = 0; uint64_t u; int64_t iv = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (need(p, 1, op)) goto fail;
            if (p->buf[p->pos] > 5) { tac_fail("%s: pickle protocol %d is not supported (0..5)", p->what, p->buf[p->pos]); goto fail; }
            p->pos++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if (need(p, 8, op)) goto fail;
            p->pos += 8;
            break;
        case 0x98: /* READONLY_BUFFER: no-op in band */
            break;
        case '.': /* STOP */
            if (pop(p, op, &a)) goto fail;
            p->root = a;
            if (used) *used = p->pos;
            *out = p;
            return TAC_OK;
        case '(': /* MARK */
            if (p->nmarks == p->capmarks) {
                int64_t nc = p->capmarks ? 2 * p->capmarks : 16;
                int64_t *g = tac_try_realloc(p->marks, (size_t)nc, sizeof *p->marks, p->what);
                if (!g) goto fail;
                p->marks = g;
                p->capmarks = nc;
            }
            p->marks[p->nmarks++] = p->sp;
            break;
        case '0': /* POP */
            if (p->nmarks && p->marks[p->nmarks - 1] == p->sp) p->nmarks--;   /* popping a bare MARK */
            else if (pop(p, op, &a)) goto fail;
            break;
        case '1': /* POP_MARK */
            if (pop_mark(p, op, &first)) goto fail;
            p->sp = first;
            break;
        case '2': /* DUP */
            if (top(p, op, &a)) goto fail;
            push(p, a);
            break;
        case 'N': push(p, new_val(p, PY_NONE)); break;
        case 0x88: case 0x89: a = new_val(p, PY_BOOL); a->i = op == 0x88; push(p, a); break;
        case 'J': if (need(p, 4, op)) goto fail; push(p, mk_int(p, (int32_t)(uint32_t)rd_le(p, 4))); break;
        case 'K': if (need(p, 1, op)) goto fail; push(p, mk_int(p, (int64_t)rd_le(p, 1))); break;
        case 'M': if (need(p, 2, op)) goto fail; push(p, mk_int(p, (int64_t)rd_le(p, 2))); break;
        case 0x8a: case 0x8b: { /* LONG1, LONG4: little-endian two's complement */
            int w = op == 0x8a ? 1 : 4;
            if (need(p, (size_t)w, op)) goto fail;
            u = rd_le(p, w);
            if (u > 8) { tac_fail("%s: integer of %llu bytes is too large (byte %zu)", p->what, (unsigned long long)u, p->pos); goto fail; }
            if (need(p, (size_t)u, op)) goto fail;
            uint64_t v = rd_le(p, (int)u);
            if (u > 0 && u < 8 && (v >> (8 * u - 1)) & 1) v |= ~UINT64_C(0) << (8 * u);   /* sign-extend */
            push(p, mk_int(p, (int64_t)v));
            break;
        }
        case 'I': case 'L': /* INT, LONG (text) */
            if (rd_line(p, op, &s, &n)) goto fail;
            if (op == 'I' && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
                a = new_val(p, PY_BOOL); a->i = s[1] == '1'; push(p, a); break;
            }
            if (parse_dec(p, s, n, &iv)) goto fail;
            push(p, mk_int(p, iv));
            break;
        case 'G': { /* BINFLOAT: big-endian double */
            if (need(p, 8, op)) goto fail;
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++) bits = (bits << 8) | p->buf[p->pos + k];
            p->pos += 8;
            a = new_val(p, PY_FLOAT);
            memcpy(&a->f, &bits, sizeof bits);
            push(p, a);
            break;
        }
        case 'T': case 'U': case 'X': case 0x8c: case 0x8d: case 'B': case 'C': case 0x8e: case 0x96: {
            /* BINSTRING, SHORT_BINSTRING (py2 str = bytes), BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINBYTES,
             * SHORT_BINBYTES, BINBYTES8, BYTEARRAY8 */
            int w = (op == 'U' || op == 0x8c || op == 'C') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
            if (need(p, (size_t)w, op)) goto fail;
            u = rd_le(p, w);
            if (op == 'T' && u >= 0x80000000u) { tac_fail("%s: bad pickle: negative BINSTRING length (byte %zu)", p->what, p->pos); goto fail; }
            if (u > p->len - p->pos) { tac_fail("%s: truncated pickle (opcode 0x%02x at byte %zu needs %llu more bytes)", p->what, op, p->pos, (unsigned long long)u); goto fail; }
            int type = (op == 'X' || op == 0x8c || op == 0x8d) ? PY_STR : PY_BYTES;
            push(p, mk_buf(p, type, p->buf + p->pos, (size_t)u));
            p->pos += (size_t)u;
            break;
        }
        case ']': push(p, new_val(p, PY_LIST)); break;
        case ')': push(p, new_val(p, PY_TUPLE)); break;
        case '}': push(p, new_val(p, PY_DICT)); break;
        case 0x8f: push(p, new_val(p, PY_SET)); break;
        case 'l': case 't': case 0x91: /* LIST, TUPLE, FROZENSET from the items above MARK */
            if (pop_mark(p, op, &first)) goto fail;
            a = new_val(p, op == 'l' ? PY_LIST : op == 't' ? PY_TUPLE : PY_SET);
            for (int64_t k = first; k < p->sp; k++) add_item(p, a, p->stack[k]);
            p->sp = first;
            push(p, a);
            break;
        case 'd': /* DICT */
            if (pop_mark(p, op, &first)) goto fail;
            if ((p->sp - first) % 2) { tac_fail("%s: bad pickle: DICT with an odd number of items (byte %zu)", p->what, p->pos); goto fail; }
            a = new_val(p, PY_DICT);
            for (int64_t k = first; k < p->sp; k++) add_item(p, a, p->stack[k]);
            p->sp = first;
            push(p, a);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int k = op - 0x84;
            tac_pyval *it[3];
            for (int j = k - 1; j >= 0; j--) if (pop(p, op, &it[j])) goto fail;
            a = new_val(p, PY_TUPLE);
            for (int j = 0; j < k; j++) add_item(p, a, it[j]);
            push(p, a);
            break;
        }
        case 'a': /* APPEND */
            if (pop(p, op, &b) || top(p, op, &a)) goto fail;
            if (a->type != PY_LIST) { tac_fail("%s: bad pickle: APPEND to a non-list (byte %zu)", p->what, p->pos); goto fail; }
            add_item(p, a, b);
            break;
        case 'e': case 0x90: /* APPENDS, ADDITEMS */
            if (pop_mark(p, op, &first) || below_mark(p, op, first, &a)) goto fail;
            if (a->type != (op == 'e' ? PY_LIST : PY_SET)) { tac_fail("%s: bad pickle: opcode 0x%02x on the wrong type (byte %zu)", p->what, op, p->pos); goto fail; }
            for (int64_t k = first; k < p->sp; k++) add_item(p, a, p->stack[k]);
            p->sp = first;
            break;
        case 's': /* SETITEM */
            if (pop(p, op, &c) || pop(p, op, &b) || top(p, op, &a)) goto fail;
            if (a->type != PY_DICT) { tac_fail("%s: bad pickle: SETITEM on a non-dict (byte %zu)", p->what, p->pos); goto fail; }
            add_item(p, a, b); add_item(p, a, c);
            break;
        case 'u': /* SETITEMS */
            if (pop_mark(p, op, &first) || below_mark(p, op, first, &a)) goto fail;
            if (a->type != PY_DICT || (p->sp - first) % 2) { tac_fail("%s: bad pickle: bad SETITEMS (byte %zu)", p->what, p->pos); goto fail; }
            for (int64_t k = first; k < p->sp; k++) add_item(p, a, p->stack[k]);
            p->sp = first;
            break;
        case 'c': { /* GLOBAL "module\nname\n" -> "module name" */
            const uint8_t *m = NULL, *nm = NULL; size_t lm = 0, ln = 0;
            if (rd_line(p, op, &m, &lm) || rd_line(p, op, &nm, &ln)) goto fail;
            uint8_t *g = own(p, lm + ln + 1);
            if (!g) goto fail;
            memcpy(g, m, lm); g[lm] = ' '; memcpy(g + lm + 1, nm, ln);
            push(p, mk_buf(p, PY_GLOBAL, g, lm + ln + 1));
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            if (pop(p, op, &b) || pop(p, op, &a)) goto fail;
            if (a->type != PY_STR || b->type != PY_STR) { tac_fail("%s: bad pickle: STACK_GLOBAL needs two strings (byte %zu)", p->what, p->pos); goto fail; }
            uint8_t *g = own(p, a->len + b->len + 1);
            if (!g) goto fail;
            memcpy(g, a->s, a->len); g[a->len] = ' '; memcpy(g + a->len + 1, b->s, b->len);
            push(p, mk_buf(p, PY_GLOBAL, g, a->len + b->len + 1));
            break;
        }
        case 'R': /* REDUCE */
            if (pop(p, op, &b) || pop(p, op, &a)) goto fail;
            if (reduce(p, a, b, &c)) goto fail;
            push(p, c);
            break;
        case 0x81: /* NEWOBJ cls args */
            if (pop(p, op, &b) || pop(p, op, &a)) goto fail;
            if (b->type != PY_TUPLE) { tac_fail("%s: bad pickle: NEWOBJ arguments are not a tuple (byte %zu)", p->what, p->pos); goto fail; }
            c = new_val(p, PY_OBJ); c->callable = a; c->args = b;
            push(p, c);
            break;
        case 0x92: /* NEWOBJ_EX cls args kwargs */
            if (pop(p, op, &c) || pop(p, op, &b) || pop(p, op, &a)) goto fail;
            if (b->type != PY_TUPLE) { tac_fail("%s: bad pickle: NEWOBJ_EX arguments are not a tuple (byte %zu)", p->what, p->pos); goto fail; }
            { tac_pyval *o = new_val(p, PY_OBJ); o->callable = a; o->args = b; push(p, o); }
            break;
        case 'b': /* BUILD: record the state on the object (or on an OrderedDict made plain) */
            if (pop(p, op, &b) || top(p, op, &a)) goto fail;
            if (a->type != PY_OBJ && a->type != PY_DICT) { tac_fail("%s: bad pickle: BUILD on a value that is not an object (byte %zu)", p->what, p->pos); goto fail; }
            a->state = b;
            break;
        case 'q': if (need(p, 1, op)) goto fail; if (memo_put(p, rd_le(p, 1), op)) goto fail; break;
        case 'r': if (need(p, 4, op)) goto fail; if (memo_put(p, rd_le(p, 4), op)) goto fail; break;
        case 0x94: if (memo_put(p, (uint64_t)p->nmemo, op)) goto fail; break;   /* MEMOIZE */
        case 'h': if (need(p, 1, op)) goto fail; if (memo_get(p, rd_le(p, 1), op)) goto fail; break;
        case 'j': if (need(p, 4, op)) goto fail; if (memo_get(p, rd_le(p, 4), op)) goto fail; break;
        case 'p': case 'g': /* PUT, GET (text index) */
            if (rd_line(p, op, &s, &n)) goto fail;
            if (parse_dec(p, s, n, &iv)) goto fail;
            if (iv < 0) { tac_fail("%s: bad pickle: negative memo index (byte %zu)", p->what, p->pos); goto fail; }
            if (op == 'p' ? memo_put(p, (uint64_t)iv, op) : memo_get(p, (uint64_t)iv, op)) goto fail;
            break;
        case 'Q': /* BINPERSID: the id is the popped value */
            if (!(p->flags & TAC_PICKLE_PERSID)) goto unsupported;
            if (pop(p, op, &b)) goto fail;
            a = new_val(p, PY_PERSID); a->args = b;
            push(p, a);
            break;
        case 'P': /* PERSID: the id is a text line */
            if (!(p->flags & TAC_PICKLE_PERSID)) goto unsupported;
            if (rd_line(p, op, &s, &n)) goto fail;
            push(p, mk_buf(p, PY_PERSID, s, n));
            break;
        default:
        unsupported:
            tac_fail("%s: pickle opcode 0x%02x at byte %zu is not supported (persistent ids, extensions, "
                     "out-of-band buffers and text strings are not read)", p->what, op, p->pos - 1);
            goto fail;
        }
    }
fail:
    tac_pickle_free(p);
    return TAC_ERR;
}

/* ---- lookups ----------------------------------------------------------------------------------------------- */
const tac_pyval *tac_pickle_root(const tac_pickle *p) { return p->root; }
int tac_py_is_global(const tac_pyval *v, const char *mod, const char *name) { return is_global(v, mod, name); }
int tac_py_eq_text(const tac_pyval *v, const char *s) { return eq_text(v, s); }
int64_t tac_pickle_nvals(const tac_pickle *p) { return p->nall; }
const tac_pyval *tac_pickle_val(const tac_pickle *p, int64_t i) { return &p->chunks[i / VCHUNK][i % VCHUNK]; }

int tac_pickle_check_globals(const tac_pickle *p, const char *const *allowed)
{
    for (int64_t i = 0; i < p->nall; i++) {
        const tac_pyval *v = &p->chunks[i / VCHUNK][i % VCHUNK];
        if (v->type != PY_GLOBAL) continue;
        int ok = 0;
        for (int k = 0; allowed[k] && !ok; k++) {
            size_t n = strlen(allowed[k]);
            if (n && allowed[k][n - 1] == '*') ok = v->len >= n - 1 && !memcmp(allowed[k], v->s, n - 1);   /* prefix */
            else ok = n == v->len && !memcmp(allowed[k], v->s, v->len);
        }
        if (ok) continue;
        char name[200];
        size_t n = v->len < sizeof name - 1 ? v->len : sizeof name - 1;
        for (size_t k = 0; k < n; k++) {
            uint8_t c = v->s[k];
            name[k] = c == ' ' ? '.' : (c < 0x20 || c > 0x7e) ? '?' : (char)c;
        }
        name[n] = 0;
        return tac_fail("%s: the pickle references %s, which this reader does not accept (nothing is executed; only "
                        "tensors, storages and plain data are read)", p->what, name);
    }
    return TAC_OK;
}

const tac_pyval *tac_py_dict_get(const tac_pyval *d, const char *key)
{
    if (!d || d->type != PY_DICT) return NULL;
    const tac_pyval *found = NULL;   /* the last assignment wins, as in Python */
    for (int64_t k = 0; k + 1 < d->n; k += 2)
        if (eq_text(d->items[k], key)) found = d->items[k + 1];
    return found;
}

int tac_py_is_dict(const tac_pyval *v) { return v && v->type == PY_DICT; }

int tac_py_int_list(const tac_pyval *v, const char *what, const char *name, int64_t **out, int64_t *n)
{
    *out = NULL; *n = 0;
    if (!v || (v->type != PY_LIST && v->type != PY_TUPLE))
        return tac_fail("%s: pickle entry '%s' is not a list of integers", what, name);
    int64_t *r = tac_try_malloc((size_t)(v->n ? v->n : 1), sizeof *r, what);
    if (!r) return TAC_ERR;
    for (int64_t k = 0; k < v->n; k++) {
        if (v->items[k]->type != PY_INT) { free(r); return tac_fail("%s: pickle entry '%s' item %lld is not an integer", what, name, (long long)k); }
        r[k] = v->items[k]->i;
    }
    *out = r; *n = v->n;
    return TAC_OK;
}

/* numpy dtype object -> its type string ("u1"), or NULL. */
static const tac_pyval *dtype_code(const tac_pyval *dt)
{
    if (!dt || dt->type != PY_OBJ || !dt->args || dt->args->type != PY_TUPLE || dt->args->n < 1) return NULL;
    if (dt->callable && dt->callable->type == PY_GLOBAL) {
        const tac_pyval *g = dt->callable;
        if (g->len < 6 || memcmp(g->s + g->len - 6, " dtype", 6)) return NULL;
    }
    const tac_pyval *c = dt->args->items[0];
    return (c->type == PY_STR || c->type == PY_BYTES) ? c : NULL;
}

static int read_shape(const tac_pyval *t, int64_t *shape, int *ndim)
{
    if (!t || t->type != PY_TUPLE || t->n > 8) return 0;
    for (int64_t k = 0; k < t->n; k++) {
        if (t->items[k]->type != PY_INT || t->items[k]->i < 0 || t->items[k]->i > (INT64_C(1) << 40)) return 0;
        shape[k] = t->items[k]->i;
    }
    *ndim = (int)t->n;
    return 1;
}

int tac_py_ndarray_u8(const tac_pyval *v, const char *what, const char *name, const uint8_t **data,
                      int64_t shape[8], int *ndim)
{
    const tac_pyval *dt = NULL, *bytes = NULL, *shp = NULL;
    int fortran = 0;
    if (v && v->type == PY_OBJ && v->state && v->state->type == PY_TUPLE && (v->state->n == 5 || v->state->n == 4)) {
        /* ndarray.__reduce__: _reconstruct(ndarray, (0,), b'b') + BUILD (version, shape, dtype, is_fortran, raw) */
        const tac_pyval *st = v->state;
        int o = st->n == 5 ? 1 : 0;
        shp = st->items[o]; dt = st->items[o + 1]; bytes = st->items[o + 3];
        const tac_pyval *fo = st->items[o + 2];
        if (fo->type != PY_BOOL && fo->type != PY_INT) return tac_fail("%s: pickle entry '%s' is not a numpy array I can read", what, name);
        fortran = fo->i != 0;
    } else if (v && v->type == PY_OBJ && v->args && v->args->type == PY_TUPLE && v->args->n == 4 &&
               v->callable && v->callable->type == PY_GLOBAL && v->callable->len >= 12 &&
               !memcmp(v->callable->s + v->callable->len - 12, " _frombuffer", 12)) {
        /* protocol 5: _frombuffer(buffer, dtype, shape, order) */
        bytes = v->args->items[0]; dt = v->args->items[1]; shp = v->args->items[2];
        fortran = eq_text(v->args->items[3], "F");
    } else {
        return tac_fail("%s: pickle entry '%s' is not a numpy array", what, name);
    }
    const tac_pyval *code = dtype_code(dt);
    if (!code) return tac_fail("%s: pickle entry '%s' has no readable numpy dtype", what, name);
    if (!eq_text(code, "u1") && !eq_text(code, "|u1"))
        return tac_fail("%s: pickle entry '%s' has dtype %.*s, expected uint8 (u1)", what, name, (int)(code->len > 16 ? 16 : code->len), code->s);
    if (!bytes || bytes->type != PY_BYTES) return tac_fail("%s: pickle entry '%s' holds no raw bytes", what, name);
    if (!read_shape(shp, shape, ndim)) return tac_fail("%s: pickle entry '%s' has a bad shape", what, name);
    if (fortran && *ndim > 1) return tac_fail("%s: pickle entry '%s' is in Fortran order (not supported)", what, name);
    uint64_t total = 1;
    for (int k = 0; k < *ndim; k++) {
        total *= (uint64_t)shape[k];
        if (total > bytes->len) break;
    }
    if (total != bytes->len)
        return tac_fail("%s: pickle entry '%s' has %zu bytes, its shape needs %llu", what, name, bytes->len, (unsigned long long)total);
    *data = bytes->s;
    return TAC_OK;
}

int tac_pickle_cifar_batch(const void *buf, size_t len, const char *what, const char *label_key,
                           int64_t **labels, uint8_t **pixels, int64_t *n)
{
    *labels = NULL; *pixels = NULL; *n = 0;
    tac_pickle *p;
    if (tac_pickle_parse(buf, len, what, &p) != TAC_OK) return TAC_ERR;
    int rc = TAC_ERR;
    const tac_pyval *root = tac_pickle_root(p);
    const tac_pyval *lab = tac_py_dict_get(root, label_key), *dat = tac_py_dict_get(root, "data");
    int64_t *L = NULL, nl = 0, shape[8];
    int ndim = 0;
    const uint8_t *d;
    if (!tac_py_is_dict(root)) { tac_fail("%s: pickle does not hold a dict (not a CIFAR python batch)", what); goto out; }
    if (!lab) { tac_fail("%s: pickle has no '%s'", what, label_key); goto out; }
    if (!dat) { tac_fail("%s: pickle has no 'data'", what); goto out; }
    if (tac_py_int_list(lab, what, label_key, &L, &nl) != TAC_OK) goto out;
    if (tac_py_ndarray_u8(dat, what, "data", &d, shape, &ndim) != TAC_OK) goto out;
    if (ndim != 2 || shape[1] != 3072) { tac_fail("%s: 'data' is not N x 3072 (32x32 RGB planes)", what); goto out; }
    if (shape[0] != nl) { tac_fail("%s: 'data' has %lld rows but '%s' has %lld labels", what, (long long)shape[0], label_key, (long long)nl); goto out; }
    for (int64_t k = 0; k < nl; k++)
        if (L[k] < 0 || L[k] > 255) { tac_fail("%s: label %lld at row %lld is out of range", what, (long long)L[k], (long long)k); goto out; }
    if (!(*pixels = tac_try_malloc((size_t)(nl ? nl : 1), 3072, what))) goto out;
    if (nl) memcpy(*pixels, d, (size_t)nl * 3072);
    *labels = L; L = NULL;
    *n = nl;
    rc = TAC_OK;
out:
    free(L);
    tac_pickle_free(p);
    return rc;
}
