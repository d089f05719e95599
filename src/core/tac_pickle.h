/* tac_pickle.h - the safe pickle reader (tac_pickle.c): the lookups the CIFAR reader of the taclust program uses
 * (tac_pickle_parse, tac_py_dict_get, ..., tac_pickle_cifar_batch), and for readers that walk the parsed tree
 * themselves (the torch checkpoint reader in src/clip/tac_torch.c) the value struct, persistent ids (opt-in) and a
 * check of every global the pickle names against an allow-list. Nothing here executes anything: globals are
 * "module name" strings. Internal to the library (not installed; no TAC_API).
 */
#ifndef TAC_PICKLE_H
#define TAC_PICKLE_H

#include <stddef.h>
#include <stdint.h>

/* Python pickles, read safely (nothing is executed): the plain-data subset of protocols 0-5 plus numpy uint8
 * arrays, enough for the CIFAR "python version" batches. `what` names the input in errors. */
typedef struct tac_pickle tac_pickle;
typedef struct tac_pyval tac_pyval;
int tac_pickle_parse(const void *buf, size_t len, const char *what, tac_pickle **out);
const tac_pyval *tac_pickle_root(const tac_pickle *p);
int tac_py_is_dict(const tac_pyval *v);
const tac_pyval *tac_py_dict_get(const tac_pyval *dict, const char *key);   /* str or bytes key; NULL if absent */
int tac_py_int_list(const tac_pyval *v, const char *what, const char *name, int64_t **out, int64_t *n);
/* numpy uint8 array (C order): *data points into the pickle's buffer; shape[0..ndim). */
int tac_py_ndarray_u8(const tac_pyval *v, const char *what, const char *name, const uint8_t **data,
                      int64_t shape[8], int *ndim);
void tac_pickle_free(tac_pickle *p);
/* A CIFAR python batch: labels under label_key ("labels", "fine_labels", "coarse_labels"), *pixels N x 3072
 * (R, G, B planes of 32x32, as stored), both malloc'd. */
int tac_pickle_cifar_batch(const void *buf, size_t len, const char *what, const char *label_key,
                           int64_t **labels, uint8_t **pixels, int64_t *n);

enum { PY_NONE, PY_BOOL, PY_INT, PY_FLOAT, PY_STR, PY_BYTES, PY_LIST, PY_TUPLE, PY_DICT, PY_SET, PY_GLOBAL, PY_OBJ,
       PY_PERSID };

struct tac_pyval {
    int type;
    int64_t i;                 /* PY_INT, PY_BOOL */
    double f;                  /* PY_FLOAT */
    const uint8_t *s;          /* PY_STR (UTF-8), PY_BYTES, PY_GLOBAL ("module name"), PY_PERSID (text form): len bytes */
    size_t len;
    tac_pyval **items;         /* PY_LIST/TUPLE/SET: n items; PY_DICT: n pairs as 2n items (key, value) */
    int64_t n, cap;
    tac_pyval *callable, *args, *state;   /* PY_OBJ: what REDUCE/NEWOBJ/BUILD recorded; PY_PERSID: args = the id
                                           * (BINPERSID), s/len = the id (PERSID); PY_DICT: state from BUILD */
};

#define TAC_PICKLE_PERSID 1    /* accept persistent ids (torch.save's storages), as inert PY_PERSID values */
int tac_pickle_parse_ex(const void *buf, size_t len, const char *what, int flags, tac_pickle **out);
/* The same for a pickle followed by other data (several pickles in a row): parses up to its STOP and sets *used
 * to the bytes it took (buf + *used is the next byte). */
int tac_pickle_parse_prefix(const void *buf, size_t len, const char *what, int flags, tac_pickle **out, size_t *used);

/* Every value the parse made, in creation order: i in [0, tac_pickle_nvals(p)). */
int64_t tac_pickle_nvals(const tac_pickle *p);
const tac_pyval *tac_pickle_val(const tac_pickle *p, int64_t i);
/* 1 when v is the global "mod name". */
int tac_py_is_global(const tac_pyval *v, const char *mod, const char *name);
/* 1 when v is a str or bytes equal to s. */
int tac_py_eq_text(const tac_pyval *v, const char *s);
/* Every global the pickle names must be in allowed ("module name" strings, NULL-terminated; one ending in '*'
 * matches every global that starts with the rest, e.g. "__torch__*"); otherwise fails
 * naming the first other one ("module.name"), e.g. "x.bin: the pickle references os.system, which is not ...". */
int tac_pickle_check_globals(const tac_pickle *p, const char *const *allowed);

#endif
