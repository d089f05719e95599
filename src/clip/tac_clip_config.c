/* tac_clip_config.c - reads a Hugging Face CLIPModel config.json into tac_clip_config.
 *
 * Sections: "text_config" and "vision_config" (older files: "text_config_dict" / "vision_config_dict"), and the
 * top-level "projection_dim". Absent keys take the transformers defaults:
 *   CLIPTextConfig:   vocab_size 49408, hidden_size 512, intermediate_size 2048, num_hidden_layers 12,
 *                     num_attention_heads 8, max_position_embeddings 77, hidden_act quick_gelu, layer_norm_eps 1e-5
 *   CLIPVisionConfig: hidden_size 768, intermediate_size 3072, num_hidden_layers 12, num_attention_heads 12,
 *                     num_channels 3, image_size 224, patch_size 32, hidden_act quick_gelu, layer_norm_eps 1e-5
 *   CLIPConfig:       projection_dim 512
 * Values are range-checked (positive, heads divide the width, patch fits the image) so the forward pass can trust
 * them; hidden_act must be quick_gelu or gelu (exact erf form).
 */
#include "clip/tac_clip_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static int get_int(const cJSON *sec, const char *key, int def, int lo, int hi, const char *what, const char *secname,
                   int *out)
{
    const cJSON *j = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (!j || cJSON_IsNull(j)) { *out = def; return TAC_OK; }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble))
        return tac_fail("%s: %s.%s must be an integer", what, secname, key);
    if (!(j->valuedouble >= lo && j->valuedouble <= hi))
        return tac_fail("%s: %s.%s = %g is outside [%d, %d]", what, secname, key, j->valuedouble, lo, hi);
    *out = (int)j->valuedouble;
    return TAC_OK;
}

static int parse_tower(const cJSON *sec, int vision, const char *what, tac_clip_tower_cfg *t)
{
    const char *sn = vision ? "vision_config" : "text_config";
    memset(t, 0, sizeof *t);
    if (get_int(sec, "hidden_size", vision ? 768 : 512, 1, 65536, what, sn, &t->hidden) ||
        get_int(sec, "intermediate_size", vision ? 3072 : 2048, 1, 1 << 20, what, sn, &t->inter) ||
        get_int(sec, "num_hidden_layers", 12, 1, 1024, what, sn, &t->layers) ||
        get_int(sec, "num_attention_heads", vision ? 12 : 8, 1, 4096, what, sn, &t->heads))
        return TAC_ERR;
    if (t->hidden % t->heads != 0)
        return tac_fail("%s: %s.hidden_size %d is not divisible by num_attention_heads %d", what, sn, t->hidden, t->heads);
    if (vision) {
        if (get_int(sec, "image_size", 224, 1, 8192, what, sn, &t->image_size) ||
            get_int(sec, "patch_size", 32, 1, 8192, what, sn, &t->patch_size) ||
            get_int(sec, "num_channels", 3, 1, 64, what, sn, &t->channels))
            return TAC_ERR;
        if (t->patch_size > t->image_size)
            return tac_fail("%s: %s.patch_size %d exceeds image_size %d", what, sn, t->patch_size, t->image_size);
        if (t->channels != 3) return tac_fail("%s: %s.num_channels is %d, only RGB (3) is supported", what, sn, t->channels);
    } else {
        if (get_int(sec, "vocab_size", 49408, 1, 1 << 24, what, sn, &t->vocab) ||
            get_int(sec, "max_position_embeddings", 77, 1, 1 << 16, what, sn, &t->max_pos))
            return TAC_ERR;
    }
    const cJSON *act = sec ? cJSON_GetObjectItemCaseSensitive(sec, "hidden_act") : NULL;
    t->act = TAC_ACT_QUICK_GELU;
    if (act && !cJSON_IsNull(act)) {
        if (!cJSON_IsString(act)) return tac_fail("%s: %s.hidden_act must be a string", what, sn);
        if (strcmp(act->valuestring, "quick_gelu") == 0) t->act = TAC_ACT_QUICK_GELU;
        else if (strcmp(act->valuestring, "gelu") == 0) t->act = TAC_ACT_GELU;
        else return tac_fail("%s: %s.hidden_act '%.40s' is not supported (quick_gelu or gelu)", what, sn, act->valuestring);
    }
    const cJSON *eps = sec ? cJSON_GetObjectItemCaseSensitive(sec, "layer_norm_eps") : NULL;
    t->eps = 1e-5;
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
            return tac_fail("%s: %s.layer_norm_eps must be a number in (0, 1)", what, sn);
        t->eps = eps->valuedouble;
    }
    return TAC_OK;
}

static const cJSON *section(const cJSON *root, const char *key, const char *legacy, const char *what, int *bad)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!s || cJSON_IsNull(s)) s = cJSON_GetObjectItemCaseSensitive(root, legacy);
    if (s && cJSON_IsNull(s)) s = NULL;
    if (s && !cJSON_IsObject(s)) { tac_fail("%s: %s is not an object", what, key); *bad = 1; }
    return s;
}

int tac_clip_config_parse(const char *json, size_t len, const char *what, tac_clip_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return tac_fail("%s: not valid JSON", what);
    int rc = TAC_ERR, bad = 0;
    if (!cJSON_IsObject(root)) { tac_fail("%s: not a JSON object", what); goto done; }
    const cJSON *ts = section(root, "text_config", "text_config_dict", what, &bad);
    const cJSON *vs = section(root, "vision_config", "vision_config_dict", what, &bad);
    if (bad) goto done;
    if (!ts && !vs) {
        tac_fail("%s: has neither text_config nor vision_config (not a CLIPModel config)", what);
        goto done;
    }
    if (parse_tower(ts, 0, what, &cfg->text) || parse_tower(vs, 1, what, &cfg->vision)) goto done;
    if (get_int(root, "projection_dim", 512, 1, 65536, what, "config", &cfg->proj_dim)) goto done;
    rc = TAC_OK;
done:
    cJSON_Delete(root);
    return rc;
}
