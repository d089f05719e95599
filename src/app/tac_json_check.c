/* tac_json_check.c - typed, range-checked reads of the JSON files taclust reads back (OUT/run.json,
 * OUT/model/params.json): every field has one expected JSON type and, for numbers, a range; anything else fails
 * with one line naming the file, the field, what was expected and what was found. Absent optional fields keep the
 * caller's value. Used by tac_cluster_job.c (cluster --resume, assign).
 */
#include "app/tac_json_check.h"
#include "core/tac_internal.h"
#include "taclust/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(const cJSON *it)
{
    return cJSON_IsString(it) ? "a string" : cJSON_IsNumber(it) ? "a number" : cJSON_IsBool(it) ? "true/false" :
           cJSON_IsNull(it) ? "null" : cJSON_IsArray(it) ? "an array" : cJSON_IsObject(it) ? "an object" : "something else";
}

int tac_json_str(const cJSON *o, const char *key, const char *file, int required, char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return tac_fail("%s: \"%s\" is missing", file, key);
        return TAC_OK;
    }
    if (!cJSON_IsString(it) || !it->valuestring) return tac_fail("%s: \"%s\" must be a string, found %s", file, key, type_name(it));
    if (!it->valuestring[0]) return tac_fail("%s: \"%s\" is an empty string", file, key);
    if (strlen(it->valuestring) >= 4096) return tac_fail("%s: \"%s\" is longer than a path can be", file, key);
    free(*out);
    *out = tac_xstrdup(it->valuestring);
    return TAC_OK;
}

int tac_json_int(const cJSON *o, const char *key, const char *file, int64_t lo, int64_t hi, int required, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return tac_fail("%s: \"%s\" is missing", file, key);
        return TAC_OK;
    }
    if (!cJSON_IsNumber(it)) return tac_fail("%s: \"%s\" must be a whole number, found %s", file, key, type_name(it));
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return tac_fail("%s: \"%s\" must be a whole number from %lld to %lld, found %g", file, key, (long long)lo,
                        (long long)hi, v);
    *out = (int64_t)v;
    return TAC_OK;
}

int tac_json_int32(const cJSON *o, const char *key, const char *file, int lo, int hi, int required, int *out)
{
    int64_t v = *out;
    if (tac_json_int(o, key, file, lo, hi, required, &v) != TAC_OK) return TAC_ERR;
    *out = (int)v;
    return TAC_OK;
}

int tac_json_bool(const cJSON *o, const char *key, const char *file, int required, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return tac_fail("%s: \"%s\" is missing", file, key);
        return TAC_OK;
    }
    if (!cJSON_IsBool(it)) return tac_fail("%s: \"%s\" must be true or false, found %s", file, key, type_name(it));
    *out = cJSON_IsTrue(it);
    return TAC_OK;
}

int tac_json_str_array(const cJSON *o, const char *key, const char *file, int64_t max_n, char ***out, int *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL; *n = 0;
    if (!arr) return tac_fail("%s: \"%s\" is missing", file, key);
    if (!cJSON_IsArray(arr)) return tac_fail("%s: \"%s\" must be an array of strings, found %s", file, key, type_name(arr));
    int cnt = cJSON_GetArraySize(arr);
    if (cnt < 0 || cnt > max_n) return tac_fail("%s: \"%s\" has %d entries (at most %lld)", file, key, cnt, (long long)max_n);
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++)
        if (!cJSON_IsString(it) || !it->valuestring)
            return tac_fail("%s: \"%s\"[%d] must be a string, found %s", file, key, i, type_name(it));
    char **s = tac_xmalloc((size_t)cnt + 1, sizeof(char *));
    i = 0;
    for (const cJSON *it = arr->child; it; it = it->next) s[i++] = tac_xstrdup(it->valuestring);
    *out = s; *n = cnt;
    return TAC_OK;
}
