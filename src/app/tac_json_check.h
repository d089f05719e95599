/* tac_json_check.h - typed, range-checked field reads for the JSON files taclust reads back (tac_json_check.c).
 * Each returns TAC_OK, or TAC_ERR with a reason naming `file` and the field. An absent field is an error when
 * `required`, else the output is left as it was. Strings are malloc'd (the old *out is freed). */
#ifndef TAC_JSON_CHECK_H
#define TAC_JSON_CHECK_H

#include <cjson/cJSON.h>
#include <stdint.h>

int tac_json_str(const cJSON *o, const char *key, const char *file, int required, char **out);
int tac_json_int(const cJSON *o, const char *key, const char *file, int64_t lo, int64_t hi, int required, int64_t *out);
int tac_json_int32(const cJSON *o, const char *key, const char *file, int lo, int hi, int required, int *out);
int tac_json_bool(const cJSON *o, const char *key, const char *file, int required, int *out);
/* An array of at most max_n strings: *out has *n entries (free with tac_free_strings). */
int tac_json_str_array(const cJSON *o, const char *key, const char *file, int64_t max_n, char ***out, int *n);

#endif
