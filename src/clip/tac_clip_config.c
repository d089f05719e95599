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
 *
 * OpenCLIP (tac_clip_openclip_config_parse): open_clip_config.json {"model_cfg": {embed_dim, quick_gelu,
 * vision_cfg {image_size, layers, width, head_width, mlp_ratio, patch_size}, text_cfg {context_length, vocab_size,
 * width, heads, layers, mlp_ratio}}, "preprocess_cfg": {mean, std}}, absent keys taking OpenCLIP's defaults
 * (CLIPVisionCfg: layers 12, width 768, head_width 64, mlp_ratio 4, patch_size 16, image_size 224; CLIPTextCfg:
 * context_length 77, vocab_size 49408, width 512, heads 8, layers 12, mlp_ratio 4; MLP width int(width * mlp_ratio);
 * LayerNorm eps 1e-5). Activation rule (OpenAI trained with QuickGELU, OpenCLIP's default is nn.GELU): QuickGELU
 * when model_cfg.quick_gelu is true; when the key is absent, QuickGELU if the model's name ("model_name" in the
 * config, else the folder path given) contains "-quickgelu" (OpenCLIP's naming for those models); otherwise exact
 * GELU (what OpenCLIP's create_model('hf-hub:...') does with the same file, plus the name rule it applies to its
 * built-in model names). A folder with OpenAI-named weights and no config at all is OpenAI's own (see
 * tac_clip_load.c): QuickGELU.
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

const float tac_clip_openai_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float tac_clip_openai_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static void default_norm(tac_clip_config *cfg)
{
    memcpy(cfg->mean, tac_clip_openai_mean, sizeof cfg->mean);
    memcpy(cfg->std, tac_clip_openai_std, sizeof cfg->std);
}

int tac_clip_config_parse(const char *json, size_t len, const char *what, tac_clip_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    default_norm(cfg);
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

/* ---- OpenCLIP ------------------------------------------------------------------------------------------- */
static int is_set(const cJSON *sec, const char *key)   /* present and not null / false / "" / {} / [] */
{
    const cJSON *j = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (!j || cJSON_IsNull(j) || cJSON_IsFalse(j)) return 0;
    if (cJSON_IsString(j)) return j->valuestring[0] != 0;
    if (cJSON_IsObject(j) || cJSON_IsArray(j)) return cJSON_GetArraySize(j) > 0;
    return 1;
}

static int get_ratio(const cJSON *sec, const char *key, const char *what, const char *sn, double *out)
{
    const cJSON *j = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    *out = 4.0;
    if (!j || cJSON_IsNull(j)) return TAC_OK;
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0 && j->valuedouble <= 64))
        return tac_fail("%s: %s.%s must be a number in (0, 64]", what, sn, key);
    *out = j->valuedouble;
    return TAC_OK;
}

/* An option that changes the architecture away from OpenAI's ViT: refused, naming it. */
static int refuse(const cJSON *sec, const char *key, const char *sn, const char *what, const char *why)
{
    if (!is_set(sec, key)) return TAC_OK;
    return tac_fail("%s: %s.%s is set: %s, which taclust does not implement (only the OpenAI-architecture ViT CLIP)",
                    what, sn, key, why);
}

static int str_is(const cJSON *sec, const char *key, const char *a, const char *b)   /* absent counts as a */
{
    const cJSON *j = sec ? cJSON_GetObjectItemCaseSensitive(sec, key) : NULL;
    if (!j || cJSON_IsNull(j)) return 1;
    return cJSON_IsString(j) && (strcmp(j->valuestring, a) == 0 || (b && strcmp(j->valuestring, b) == 0));
}

int tac_clip_norm_from_json(const void *obj, const char *mkey, const char *skey, const char *what, tac_clip_config *cfg)
{
    const char *keys[2] = {mkey, skey};
    for (int k = 0; k < 2; k++) {
        const cJSON *a = obj ? cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, keys[k]) : NULL;
        if (!a || cJSON_IsNull(a)) continue;
        float v[3];
        int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
        if (n != 3) return tac_fail("%s: %s must be a list of 3 numbers (R, G, B)", what, keys[k]);
        for (int c = 0; c < 3; c++) {
            const cJSON *x = cJSON_GetArrayItem(a, c);
            if (!cJSON_IsNumber(x) || !(fabs(x->valuedouble) < 1e3) || (k == 1 && !(x->valuedouble > 1e-6)))
                return tac_fail("%s: %s[%d] is not a usable number", what, keys[k], c);
            v[c] = (float)x->valuedouble;
        }
        memcpy(k ? cfg->std : cfg->mean, v, sizeof v);
    }
    return TAC_OK;
}

int tac_clip_openclip_config_parse(const char *json, size_t len, const char *what, const char *name,
                                   tac_clip_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    default_norm(cfg);
    cfg->openclip = 1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return tac_fail("%s: not valid JSON", what);
    int rc = TAC_ERR;
    if (!cJSON_IsObject(root)) { tac_fail("%s: not a JSON object", what); goto done; }
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
    if (!mc || cJSON_IsNull(mc)) mc = root;
    if (!cJSON_IsObject(mc)) { tac_fail("%s: model_cfg is not an object", what); goto done; }
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(mc, "vision_cfg"), *ts = cJSON_GetObjectItemCaseSensitive(mc, "text_cfg");
    if (!cJSON_GetObjectItemCaseSensitive(mc, "embed_dim") || !cJSON_IsObject(vs) || !cJSON_IsObject(ts)) {
        tac_fail("%s: no model_cfg with embed_dim, vision_cfg and text_cfg (not an OpenCLIP config)", what);
        goto done;
    }
    if (get_int(mc, "embed_dim", 512, 1, 65536, what, "model_cfg", &cfg->proj_dim)) goto done;
    if (refuse(mc, "init_logit_bias", "model_cfg", what, "a SigLIP model (sigmoid loss, attention-pooling head)") ||
        refuse(vs, "timm_model_name", "vision_cfg", what, "a timm image tower") ||
        refuse(vs, "ls_init_value", "vision_cfg", what, "layer scale") ||
        refuse(vs, "attentional_pool", "vision_cfg", what, "an attention-pooling head") ||
        refuse(vs, "global_average_pool", "vision_cfg", what, "average pooling") ||
        refuse(vs, "no_ln_pre", "vision_cfg", what, "no pre-LayerNorm") ||
        refuse(vs, "input_patchnorm", "vision_cfg", what, "a patch LayerNorm") ||
        refuse(vs, "proj_bias", "vision_cfg", what, "a projection bias") ||
        refuse(vs, "act_kwargs", "vision_cfg", what, "another activation") ||
        refuse(vs, "norm_kwargs", "vision_cfg", what, "another normalisation") ||
        refuse(ts, "hf_model_name", "text_cfg", what, "a Hugging Face text tower") ||
        refuse(ts, "hf_tokenizer_name", "text_cfg", what, "another tokenizer than CLIP's BPE") ||
        refuse(ts, "ls_init_value", "text_cfg", what, "layer scale") ||
        refuse(ts, "embed_cls", "text_cfg", what, "a class token in the text tower") ||
        refuse(ts, "proj_bias", "text_cfg", what, "a projection bias") ||
        refuse(ts, "no_causal_mask", "text_cfg", what, "a text tower without the causal mask") ||
        refuse(ts, "act_kwargs", "text_cfg", what, "another activation") ||
        refuse(ts, "norm_kwargs", "text_cfg", what, "another normalisation"))
        goto done;
    if (!str_is(vs, "pool_type", "tok", NULL) || !str_is(vs, "pos_embed_type", "learnable", NULL) ||
        !str_is(ts, "pool_type", "argmax", NULL) || !str_is(ts, "proj_type", "linear", NULL)) {
        tac_fail("%s: a pool_type, pos_embed_type or proj_type other than OpenAI CLIP's (tok, learnable, argmax, "
                 "linear) is not implemented", what);
        goto done;
    }
    const cJSON *vl = cJSON_GetObjectItemCaseSensitive(vs, "layers");
    if (vl && !cJSON_IsNumber(vl)) {
        tac_fail("%s: vision_cfg.layers is not a number: a ModifiedResNet image tower (RN50, ...), which taclust "
                 "does not implement (only ViTs)", what);
        goto done;
    }
    const cJSON *isz = cJSON_GetObjectItemCaseSensitive(vs, "image_size");
    cJSON *isz_copy = NULL;
    if (cJSON_IsArray(isz)) {                  /* [S, S] */
        const cJSON *h = cJSON_GetArrayItem(isz, 0), *w = cJSON_GetArrayItem(isz, 1);
        if (cJSON_GetArraySize(isz) != 2 || !cJSON_IsNumber(h) || !cJSON_IsNumber(w) || h->valuedouble != w->valuedouble ||
            !(h->valuedouble >= 1 && h->valuedouble <= 8192) || h->valuedouble != floor(h->valuedouble)) {
            tac_fail("%s: vision_cfg.image_size must be one number or a square [S, S]", what);
            goto done;
        }
        isz_copy = cJSON_CreateNumber(h->valuedouble);
    }
    tac_clip_tower_cfg *v = &cfg->vision, *t = &cfg->text;
    int head_width = 64;
    double vr, tr;
    const cJSON *isz_sec = isz_copy ? NULL : vs;
    int bad = get_int(vs, "layers", 12, 1, 1024, what, "vision_cfg", &v->layers) ||
              get_int(vs, "width", 768, 1, 65536, what, "vision_cfg", &v->hidden) ||
              get_int(vs, "head_width", 64, 1, 65536, what, "vision_cfg", &head_width) ||
              get_int(vs, "patch_size", 16, 1, 8192, what, "vision_cfg", &v->patch_size) ||
              get_ratio(vs, "mlp_ratio", what, "vision_cfg", &vr) ||
              get_int(isz_sec, "image_size", isz_copy ? (int)isz_copy->valuedouble : 224, 1, 8192, what, "vision_cfg", &v->image_size) ||
              get_int(ts, "layers", 12, 1, 1024, what, "text_cfg", &t->layers) ||
              get_int(ts, "width", 512, 1, 65536, what, "text_cfg", &t->hidden) ||
              get_int(ts, "heads", 8, 1, 4096, what, "text_cfg", &t->heads) ||
              get_int(ts, "context_length", 77, 1, 1 << 16, what, "text_cfg", &t->max_pos) ||
              get_int(ts, "vocab_size", 49408, 1, 1 << 24, what, "text_cfg", &t->vocab) ||
              get_ratio(ts, "mlp_ratio", what, "text_cfg", &tr);
    cJSON_Delete(isz_copy);
    if (bad) goto done;
    if (v->hidden % head_width) { tac_fail("%s: vision_cfg.width %d is not a multiple of head_width %d", what, v->hidden, head_width); goto done; }
    if (t->hidden % t->heads) { tac_fail("%s: text_cfg.width %d is not divisible by heads %d", what, t->hidden, t->heads); goto done; }
    if (v->patch_size > v->image_size) { tac_fail("%s: vision_cfg.patch_size %d exceeds image_size %d", what, v->patch_size, v->image_size); goto done; }
    v->heads = v->hidden / head_width;
    v->inter = (int)(v->hidden * vr);
    t->inter = (int)(t->hidden * tr);
    if (v->inter < 1 || t->inter < 1) { tac_fail("%s: mlp_ratio gives an empty MLP", what); goto done; }
    v->channels = 3;
    v->eps = t->eps = 1e-5;
    const cJSON *qg = cJSON_GetObjectItemCaseSensitive(mc, "quick_gelu");
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(root, "model_name");
    if (!cJSON_IsString(mn)) mn = cJSON_GetObjectItemCaseSensitive(mc, "model_name");
    const char *nm = cJSON_IsString(mn) ? mn->valuestring : name;
    int quick;
    if (qg && !cJSON_IsNull(qg)) {
        if (!cJSON_IsBool(qg)) { tac_fail("%s: model_cfg.quick_gelu must be true or false", what); goto done; }
        quick = cJSON_IsTrue(qg);
    } else {
        quick = nm && strstr(nm, "-quickgelu") != NULL;
    }
    v->act = t->act = quick ? TAC_ACT_QUICK_GELU : TAC_ACT_GELU;
    cfg->custom_text = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mc, "custom_text"));
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess_cfg");
    if (!pre || cJSON_IsNull(pre)) pre = cJSON_GetObjectItemCaseSensitive(mc, "preprocess_cfg");
    if (pre && !cJSON_IsNull(pre)) {
        if (!cJSON_IsObject(pre)) { tac_fail("%s: preprocess_cfg is not an object", what); goto done; }
        if (tac_clip_norm_from_json(pre, "mean", "std", what, cfg) != TAC_OK) goto done;
    }
    rc = TAC_OK;
done:
    cJSON_Delete(root);
    return rc;
}
