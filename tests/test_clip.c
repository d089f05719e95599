/* test_clip.c - tests of the CLIP loader and towers.
 *
 * References: tests/fixtures/clip/tiny/ is a random-weight CLIP (real vocab 49408, 224/32 geometry, 2 layers per
 * tower, float16 weights, text gelu / vision quick_gelu) written by tools/gen_clip_fixtures.py with reference
 * features from an independent PyTorch implementation (float64). Pixels come from pixel_pattern() below, the same
 * integer hash as the script. The F32 and BF16 variants are made here by rewriting model.safetensors (the tiny
 * weights are exact in both). Optional: TACLUST_CLIP_B32_RANDOM (a ViT-B/32-shaped random model from the script)
 * and TACLUST_MODEL (real openai/clip-vit-base-patch32, compared with ../shared/reference/clip-vit-base-patch32/).
 */
#include "tac_test.h"

#include <cjson/cJSON.h>
#include <omp.h>
#include <stdint.h>

#include "taclust/clip.h"
#include "taclust/hub.h"
#include "taclust/image.h"
#include "clip/tac_clip_internal.h"   /* white-box: weights, config, the safetensors parser */


#define TINY "tests/fixtures/clip/tiny"

/* n x 3 x s x s pixels, exact values in [-1, 1): mirrors pixel_pattern() in tools/gen_clip_fixtures.py. */
static float *pixel_pattern(int n, int s)
{
    size_t per = 3 * (size_t)s * s;
    float *px = tac_xmalloc((size_t)n * per, sizeof(float));
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < per; i++) {
            uint64_t h = ((uint64_t)i * 2654435761ull + (uint64_t)(b * 97 + 13)) & 0xFFFFFFFFull;
            px[(size_t)b * per + i] = (float)((h >> 8) & 1023) / 512.0f - 1.0f;
        }
    return px;
}

/* Max |a-b| relative to max |ref| per row; fails above tol. */
static double rel_compare(const char *label, const float *got, const float *ref, int rows, int cols, double tol)
{
    double worst = tac_test_row_rel_err(got, ref, rows, cols);
    printf("    %s: max relative error %.3g (tol %.1g)\n", label, worst, tol);
    if (!(worst <= tol)) tac_test_fail_at(__FILE__, __LINE__, "%s: relative error %.3g > %.3g", label, worst, tol);
    return worst;
}

static int32_t *load_ids(const char *dir, int64_t *rows, int64_t *cols)
{
    int64_t *l;
    if (tac_npy_load_i64(tac_test_path(dir, "ref_ids.npy"), &l, rows, cols) != TAC_OK) return NULL;
    int32_t *ids = tac_xmalloc((size_t)(*rows * *cols), sizeof(int32_t));
    for (int64_t i = 0; i < *rows * *cols; i++) ids[i] = (int32_t)l[i];
    free(l);
    return ids;
}

/* Encodes the reference inputs of a generated folder and compares with its reference features. */
static void check_against_reference(const char *dir, const char *refdir, double tol)
{
    tac_clip *m;
    double t0 = tac_now();
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    printf("    loaded %s in %.2f s, hash %s\n", dir, tac_now() - t0, tac_clip_hash(m));
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m);
    float *ref_i, *ref_t;
    int64_t ni, ei, nt, et, r, c;
    TAC_REQUIRE(tac_npy_load_f32(tac_test_path(refdir, "ref_image_features.npy"), &ref_i, &ni, &ei) == TAC_OK);
    TAC_REQUIRE(tac_npy_load_f32(tac_test_path(refdir, "ref_text_features.npy"), &ref_t, &nt, &et) == TAC_OK);
    int32_t *ids = load_ids(refdir, &r, &c);
    TAC_REQUIRE(ids && r == nt && ei == e && et == e);
    float *px = pixel_pattern((int)ni, s), *out_i = tac_xmalloc((size_t)(ni * e), sizeof(float));
    float *out_t = tac_xmalloc((size_t)(nt * e), sizeof(float));
    TAC_CHECK_OK(tac_clip_encode_images(m, px, (int)ni, out_i));
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, (int)nt, (int)c, out_t));
    rel_compare("image features", out_i, ref_i, (int)ni, e, tol);
    rel_compare("text features", out_t, ref_t, (int)nt, e, tol);
    free(px); free(out_i); free(out_t); free(ids); free(ref_i); free(ref_t);
    tac_clip_free(m);
}

TAC_TEST(clip_tiny_f16_matches_torch_reference)
{
    check_against_reference(TINY, TINY, 1e-4);
}

/* One at a time == in a batch; a shorter context (cut after EOT) == the full 77. */
TAC_TEST(clip_tiny_batching_and_cut_are_exact)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m);
    float *px = pixel_pattern(3, s), all[3 * 64], one[64];
    TAC_REQUIRE(e <= 64);
    TAC_CHECK_OK(tac_clip_encode_images(m, px, 3, all));
    for (int i = 0; i < 3; i++) {
        TAC_CHECK_OK(tac_clip_encode_images(m, px + (size_t)i * 3 * s * s, 1, one));
        tac_test_compare("image alone vs batch", one, all + i * e, (size_t)e, 1e-5);
    }
    int64_t r, c;
    int32_t *ids = load_ids(TINY, &r, &c);
    TAC_REQUIRE(ids && r >= 3);
    float *tall = tac_xmalloc((size_t)(r * e), sizeof(float));
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, (int)r, (int)c, tall));
    /* row 1 ends early: encode it with a 20-token context, and with junk after EOT (ignored by the cut). */
    int32_t short_ids[20];
    memcpy(short_ids, ids + c, sizeof short_ids);
    TAC_REQUIRE(short_ids[19] == 0);
    TAC_CHECK_OK(tac_clip_encode_tokens(m, short_ids, 1, 20, one));
    tac_test_compare("20-token context vs 77", one, tall + e, (size_t)e, 1e-5);
    int32_t junk[77];
    memcpy(junk, ids + c, sizeof junk);
    for (int i = 0; i < 77; i++) if (junk[i] == 0) junk[i] = 1000 + i;
    TAC_CHECK_OK(tac_clip_encode_tokens(m, junk, 1, 77, one));
    tac_test_compare("tokens after EOT ignored", one, tall + e, (size_t)e, 1e-5);
    /* different inputs give different features (the test would catch a constant output) */
    double d = 0;
    for (int j = 0; j < e; j++) d += fabs(tall[j] - tall[e + j]) + fabs(all[j] - all[e + j]);
    TAC_CHECK(d > 1e-2);
    /* bad ids and contexts */
    int32_t bad[3] = {TAC_CLIP_SOT, 49408, TAC_CLIP_EOT};
    TAC_CHECK_ERR(tac_clip_encode_tokens(m, bad, 1, 3, one), "outside the vocabulary");
    bad[1] = -5;
    TAC_CHECK_ERR(tac_clip_encode_tokens(m, bad, 1, 3, one), "outside the vocabulary");
    TAC_CHECK_ERR(tac_clip_encode_tokens(m, ids, 1, 78, one), "context length 78");
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, 0, 77, one));
    const char *h = tac_clip_hash(m);
    TAC_CHECK(strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16);
    free(px); free(ids); free(tall);
    tac_clip_free(m);
}

/* Batches bigger than the internal chunks (32 images, 4096 packed token rows) give the same rows. */
TAC_TEST(clip_tiny_chunked_batches)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    int e = tac_clip_embed_dim(m), s = tac_clip_image_size(m), nb = 35;
    size_t per = 3 * (size_t)s * s;
    float *px = pixel_pattern(nb, s), *all = tac_xmalloc((size_t)nb * e, sizeof(float)), one[64];
    TAC_REQUIRE(e <= 64);
    TAC_CHECK_OK(tac_clip_encode_images(m, px, nb, all));
    for (int i = 30; i < nb; i++) {
        TAC_CHECK_OK(tac_clip_encode_images(m, px + (size_t)i * per, 1, one));
        tac_test_compare("image in a 35-batch vs alone", all + (size_t)i * e, one, (size_t)e, 1e-5);
    }
    /* one worker (chunks in turn) and three workers (chunks of 11-12 images side by side) give the same rows */
    float *alt = tac_xmalloc((size_t)nb * e, sizeof(float));
    int threads = omp_get_max_threads();
    for (int w = 1; w <= 3; w += 2) {
        omp_set_num_threads(w);
        TAC_CHECK_OK(tac_clip_encode_images(m, px, nb, alt));
        tac_test_compare(w == 1 ? "35 images, one worker" : "35 images, three workers", alt, all, (size_t)nb * e,
                         1e-5);
    }
    omp_set_num_threads(threads);
    free(alt);
    int64_t r, c;
    int32_t *ids = load_ids(TINY, &r, &c);
    TAC_REQUIRE(ids && r == 4 && c == 77);
    int nt = 4 * 30;                                    /* 30 x (2 + 5 + 13 + 77 tokens) = 2910 rows ... */
    int32_t *many = tac_xmalloc((size_t)nt * 2 * 77, sizeof(int32_t));
    for (int i = 0; i < 2 * nt; i++) memcpy(many + (size_t)i * 77, ids + (size_t)(i % 4) * 77, 77 * sizeof(int32_t));
    nt *= 2;                                            /* ... twice: 5820 rows, two chunks */
    float *tall = tac_xmalloc((size_t)nt * e, sizeof(float)), ref4[4 * 64];
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, 4, 77, ref4));
    TAC_CHECK_OK(tac_clip_encode_tokens(m, many, nt, 77, tall));
    double worst = 0;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < e; j++) worst = fmax(worst, fabs(tall[(size_t)i * e + j] - ref4[(i % 4) * e + j]));
    printf("    %d sequences (%d packed rows, two chunks): max abs error %.3g\n", nt, nt / 4 * 97, worst);
    TAC_CHECK(worst < 1e-5);
    free(px); free(all); free(ids); free(many); free(tall);
    tac_clip_free(m);
}

/* encode_texts == tokenize + encode_tokens, through the model's own tokenizer (the tiny model's vocab.json +
 * merges.txt, made by tools/gen_clip_fixtures.py: its start and end tokens are its last two ids). */
TAC_TEST(clip_tiny_encode_texts_uses_the_tokenizer)
{
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(TINY, &m));
    tac_bpe *bpe = tac_clip_tokenizer(m);
    TAC_REQUIRE(bpe != NULL);
    const char *texts[3] = {"a red apple", "itap of a hot_dog.", ""};
    int e = tac_clip_embed_dim(m);
    int32_t ids[3 * 77];
    for (int i = 0; i < 3; i++) TAC_CHECK(tac_bpe_tokenize(bpe, texts[i], ids + 77 * i, 77) >= 2);
    TAC_CHECK_INT(ids[0], ids[2 * 77]);                /* every text starts with SOT */
    TAC_CHECK_INT(ids[2 * 77 + 1], ids[0] + 1);        /* the empty text: SOT EOT (EOT = SOT + 1, the largest id) */
    for (int k = 1; k < 77 && ids[k]; k++) TAC_CHECK(ids[k] <= ids[0] + 1);
    float *a = tac_xmalloc((size_t)3 * e, sizeof(float)), *b = tac_xmalloc((size_t)3 * e, sizeof(float));
    TAC_CHECK_OK(tac_clip_encode_texts(m, texts, 3, a));
    TAC_CHECK_OK(tac_clip_encode_tokens(m, ids, 3, 77, b));
    tac_test_compare("encode_texts vs tokenize + encode_tokens", a, b, (size_t)3 * e, 0);
    free(a); free(b);
    tac_clip_free(m);
}

/* ---- safetensors rewriting (for dtype variants and corrupt files) ------------------------------------ */
static float h2f(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, mnt = h & 1023u, bits;
    if (e == 0) { float f = ldexpf((float)mnt, -24); return s ? -f : f; }
    bits = s | ((e + 112) << 23) | (mnt << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef void (*hdr_edit)(cJSON *root);

/* Copies folder src to dst (config.json, optionally replaced by cfg_text) and rewrites model.safetensors:
 * F16 tensors become to_dtype ("F16", "F32" or "BF16"), then edit() may change the header. */
static int rewrite(const char *src, const char *dst, const char *to_dtype, hdr_edit edit, const char *cfg_text)
{
    char *buf, *cfg;
    size_t len, clen;
    if (tac_read_file(tac_test_path(src, "model.safetensors"), &buf, &len) != TAC_OK) return -1;
    if (tac_read_file(tac_test_path(src, "config.json"), &cfg, &clen) != TAC_OK) return -1;
    tac_mkdir_p(dst);
    tac_write_file_atomic(tac_test_path(dst, "config.json"), cfg_text ? cfg_text : cfg, cfg_text ? strlen(cfg_text) : clen);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (uint8_t)buf[i];
    cJSON *root = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    const uint8_t *data = (const uint8_t *)buf + 8 + hl;
    uint8_t *nd = tac_xmalloc(len * 2 + 16, 1);
    size_t off = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        const char *dt = cJSON_GetObjectItem(e, "dtype")->valuestring;
        cJSON *of = cJSON_GetObjectItem(e, "data_offsets");
        size_t b = (size_t)cJSON_GetArrayItem(of, 0)->valuedouble, en = (size_t)cJSON_GetArrayItem(of, 1)->valuedouble;
        size_t start = off;
        if (strcmp(dt, "F16") == 0 && strcmp(to_dtype, "F16") != 0) {
            for (size_t i = b; i < en; i += 2) {
                float f = h2f((uint16_t)(data[i] | data[i + 1] << 8));
                uint32_t bits;
                memcpy(&bits, &f, 4);
                if (strcmp(to_dtype, "F32") == 0) { memcpy(nd + off, &bits, 4); off += 4; }
                else { nd[off] = (uint8_t)(bits >> 16); nd[off + 1] = (uint8_t)(bits >> 24); off += 2; }
            }
            cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString(to_dtype));
        } else {
            memcpy(nd + off, data + b, en - b);
            off += en - b;
        }
        cJSON_ReplaceItemInArray(of, 0, cJSON_CreateNumber((double)start));
        cJSON_ReplaceItemInArray(of, 1, cJSON_CreateNumber((double)off));
    }
    if (edit) edit(root);
    char *h = cJSON_PrintUnformatted(root);
    uint64_t nhl = strlen(h);
    size_t total = 8 + nhl + off;
    uint8_t *outb = tac_xmalloc(total, 1);
    for (int i = 0; i < 8; i++) outb[i] = (uint8_t)(nhl >> (8 * i));
    memcpy(outb + 8, h, nhl);
    memcpy(outb + 8 + nhl, nd, off);
    int rc = tac_write_file_atomic(tac_test_path(dst, "model.safetensors"), outb, total);
    free(outb); free(h); free(nd); cJSON_Delete(root); free(buf); free(cfg);
    return rc;
}

TAC_TEST(clip_tiny_f32_and_bf16_files_give_the_same_features)
{
    const char *tmp = tac_test_tmpdir();
    char f32[512], bf16[512];
    snprintf(f32, sizeof f32, "%s/f32", tmp);
    snprintf(bf16, sizeof bf16, "%s/bf16", tmp);
    TAC_REQUIRE(rewrite(TINY, f32, "F32", NULL, NULL) == 0);
    TAC_REQUIRE(rewrite(TINY, bf16, "BF16", NULL, NULL) == 0);
    tac_clip *m0, *m1, *m2;
    TAC_CHECK_OK(tac_clip_load(TINY, &m0));
    TAC_CHECK_OK(tac_clip_load(f32, &m1));
    TAC_CHECK_OK(tac_clip_load(bf16, &m2));
    /* the float32 weights are bit-identical whatever the file dtype */
    TAC_CHECK(m0->nfloats == m1->nfloats && m0->nfloats == m2->nfloats);
    TAC_CHECK(memcmp(m0->mem, m1->mem, m0->nfloats * sizeof(float)) == 0);
    TAC_CHECK(memcmp(m0->mem, m2->mem, m0->nfloats * sizeof(float)) == 0);
    TAC_CHECK(strcmp(tac_clip_hash(m0), tac_clip_hash(m1)) != 0);
    TAC_CHECK(strcmp(tac_clip_hash(m1), tac_clip_hash(m2)) != 0);
    tac_clip_free(m0); tac_clip_free(m1); tac_clip_free(m2);
    check_against_reference(f32, TINY, 1e-4);
    check_against_reference(bf16, TINY, 1e-4);   /* reference files are in the fixture folder, not the copies */
}

TAC_TEST(clip_config_defaults_and_errors)
{
    tac_clip_config c;
    const char *j = "{\"text_config\": {}, \"vision_config\": {\"patch_size\": 16}}";
    TAC_CHECK_OK(tac_clip_config_parse(j, strlen(j), "cfg", &c));
    TAC_CHECK_INT(c.text.hidden, 512); TAC_CHECK_INT(c.text.inter, 2048); TAC_CHECK_INT(c.text.layers, 12);
    TAC_CHECK_INT(c.text.heads, 8); TAC_CHECK_INT(c.text.vocab, 49408); TAC_CHECK_INT(c.text.max_pos, 77);
    TAC_CHECK_INT(c.vision.hidden, 768); TAC_CHECK_INT(c.vision.inter, 3072); TAC_CHECK_INT(c.vision.layers, 12);
    TAC_CHECK_INT(c.vision.heads, 12); TAC_CHECK_INT(c.vision.image_size, 224); TAC_CHECK_INT(c.vision.patch_size, 16);
    TAC_CHECK_INT(c.proj_dim, 512); TAC_CHECK_INT(c.text.act, TAC_ACT_QUICK_GELU); TAC_CHECK_NEAR(c.vision.eps, 1e-5, 0);
    const char *l14 = "{\"text_config_dict\": {\"hidden_size\": 768, \"num_attention_heads\": 12}, \"projection_dim\": 768,"
                      "\"vision_config\": {\"hidden_size\": 1024, \"num_hidden_layers\": 24, \"num_attention_heads\": 16,"
                      "\"patch_size\": 14, \"intermediate_size\": 4096, \"hidden_act\": \"gelu\"}}";
    TAC_CHECK_OK(tac_clip_config_parse(l14, strlen(l14), "cfg", &c));
    TAC_CHECK_INT(c.text.hidden, 768); TAC_CHECK_INT(c.vision.layers, 24); TAC_CHECK_INT(c.proj_dim, 768);
    TAC_CHECK_INT(c.vision.act, TAC_ACT_GELU);
    TAC_CHECK_ERR(tac_clip_config_parse("{", 1, "c.json", &c), "c.json: not valid JSON");
    TAC_CHECK_ERR(tac_clip_config_parse("[]", 2, "c.json", &c), "not a JSON object");
    TAC_CHECK_ERR(tac_clip_config_parse("{}", 2, "c.json", &c), "neither text_config nor vision_config");
    const char *b1 = "{\"text_config\": {\"hidden_size\": 500}}";
    TAC_CHECK_ERR(tac_clip_config_parse(b1, strlen(b1), "c.json", &c), "not divisible by num_attention_heads");
    const char *b2 = "{\"vision_config\": {\"hidden_act\": \"relu\"}}";
    TAC_CHECK_ERR(tac_clip_config_parse(b2, strlen(b2), "c.json", &c), "hidden_act 'relu' is not supported");
    const char *b3 = "{\"vision_config\": {\"num_hidden_layers\": -1}}";
    TAC_CHECK_ERR(tac_clip_config_parse(b3, strlen(b3), "c.json", &c), "num_hidden_layers = -1 is outside");
    const char *b4 = "{\"vision_config\": {\"image_size\": \"224\"}}";
    TAC_CHECK_ERR(tac_clip_config_parse(b4, strlen(b4), "c.json", &c), "image_size must be an integer");
}

/* ---- bad files ---------------------------------------------------------------------------------------- */
static void set_offsets_huge(cJSON *root)
{
    cJSON *of = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "logit_scale"), "data_offsets");
    cJSON_ReplaceItemInArray(of, 1, cJSON_CreateNumber(1e12));
}
static void set_dtype_i16(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "vision_model.encoder.layers.1.mlp.fc1.bias"), "dtype",
                              cJSON_CreateString("I16"));
}
static void drop_k_bias(cJSON *root)
{
    cJSON_DeleteItemFromObject(root, "text_model.encoder.layers.1.self_attn.k_proj.bias");
}
static void add_extra(cJSON *root)
{
    cJSON *e = cJSON_Duplicate(cJSON_GetObjectItem(root, "logit_scale"), 1);
    cJSON_AddItemToObject(root, "some.unknown.tensor", e);
}

TAC_TEST(clip_bad_files_give_clear_errors)
{
    const char *tmp = tac_test_tmpdir();
    char d[512];
    tac_clip *m = (tac_clip *)1;
#define SUB(name) (snprintf(d, sizeof d, "%s/%s", tmp, name), d)
    TAC_CHECK_ERR(tac_clip_load(SUB("nothing"), &m), "not a folder");
    TAC_CHECK(m == NULL);
    tac_mkdir_p(SUB("empty"));
    TAC_CHECK_ERR(tac_clip_load(d, &m), "not a CLIP model folder: it needs config.json");
    /* header length beyond the file */
    TAC_REQUIRE(rewrite(TINY, SUB("hlen"), "F16", NULL, NULL) == 0);
    const char *p = tac_test_path(d, "model.safetensors");
    char *buf; size_t len;
    TAC_REQUIRE(tac_read_file(p, &buf, &len) == TAC_OK);
    char orig[8];
    memcpy(orig, buf, 8);
    uint64_t big = (uint64_t)len;
    for (int i = 0; i < 8; i++) buf[i] = (char)(big >> (8 * i));
    TAC_REQUIRE(tac_write_file_atomic(p, buf, len) == TAC_OK);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "exceeds the file size");
    /* truncated data: offsets beyond the end */
    TAC_REQUIRE(rewrite(TINY, SUB("trunc"), "F16", NULL, NULL) == 0);
    memcpy(buf, orig, 8);
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(d, "model.safetensors"), buf, len - 1000) == TAC_OK);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "outside the");
    /* non-JSON header */
    memcpy(buf + 8, "#nojson#", 8);
    for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)4000 >> (8 * i));
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(d, "model.safetensors"), buf, len) == TAC_OK);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "header is not valid JSON");
    TAC_REQUIRE(tac_write_file_atomic(tac_test_path(d, "model.safetensors"), buf, 5) == TAC_OK);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "not a safetensors file");
    free(buf);
    /* a header lying about offsets */
    TAC_REQUIRE(rewrite(TINY, SUB("offs"), "F16", set_offsets_huge, NULL) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "logit_scale' data_offsets");
    /* wrong dtype (size-consistent) */
    TAC_REQUIRE(rewrite(TINY, SUB("dtype"), "F16", set_dtype_i16, NULL) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "vision_model.encoder.layers.1.mlp.fc1.bias: expected dtype F32, F16 or BF16, found I16");
    /* missing key bias (cancels in the outputs, so checked by name) */
    TAC_REQUIRE(rewrite(TINY, SUB("kbias"), "F16", drop_k_bias, NULL) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "text_model.encoder.layers.1.self_attn.k_proj.bias is missing");
    /* config not matching the tensors */
    const char *cfg = "{\"projection_dim\": 16, \"text_config\": {\"hidden_size\": 12, \"intermediate_size\": 40,"
        "\"num_hidden_layers\": 2, \"num_attention_heads\": 2}, \"vision_config\": {\"hidden_size\": 24,"
        "\"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}}";
    TAC_REQUIRE(rewrite(TINY, SUB("cfg"), "F16", NULL, cfg) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "vision_model.encoder.layers.0.mlp.fc1.weight: expected shape [64, 24], found [56, 24]");
    const char *cfg3 = "{\"projection_dim\": 16, \"text_config\": {\"hidden_size\": 12, \"intermediate_size\": 40,"
        "\"num_hidden_layers\": 3, \"num_attention_heads\": 2}, \"vision_config\": {\"hidden_size\": 24,"
        "\"intermediate_size\": 56, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}}";
    TAC_REQUIRE(rewrite(TINY, SUB("cfg3"), "F16", NULL, cfg3) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "text_model.encoder.layers.2.self_attn.q_proj.weight is missing");
    /* a config asking for huge tensors fails on the shape check before allocating anything */
    const char *cfgbig = "{\"projection_dim\": 16, \"text_config\": {\"hidden_size\": 65536, \"vocab_size\": 16000000,"
        "\"intermediate_size\": 1000000, \"num_attention_heads\": 2}, \"vision_config\": {}}";
    TAC_REQUIRE(rewrite(TINY, SUB("big"), "F16", NULL, cfgbig) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "text_model.embeddings.token_embedding.weight: expected shape [16000000, 65536], found [49408, 12]");
    /* no weights file */
    TAC_REQUIRE(rewrite(TINY, SUB("now"), "F16", NULL, NULL) == 0);
    remove(tac_test_path(d, "model.safetensors"));
    TAC_CHECK_ERR(tac_clip_load(d, &m), "no weights: none of model.safetensors");
    /* a NaN in the weights is named */
    TAC_REQUIRE(rewrite(TINY, SUB("nan"), "F16", NULL, NULL) == 0);
    p = tac_test_path(d, "model.safetensors");
    TAC_REQUIRE(tac_read_file(p, &buf, &len) == TAC_OK);
    tac_st st;
    TAC_REQUIRE(tac_st_parse((const uint8_t *)buf, len, p, &st) == TAC_OK);
    const tac_st_tensor *ls = tac_st_find(&st, "vision_model.post_layernorm.bias");
    TAC_REQUIRE(ls && ls->dtype == TAC_ST_F16);
    size_t at = (size_t)(ls->data - (const uint8_t *)buf) + 6;
    tac_st_close(&st);
    buf[at] = 0x00; buf[at + 1] = 0x7e;                 /* float16 NaN */
    TAC_REQUIRE(tac_write_file_atomic(p, buf, len) == TAC_OK);
    free(buf);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "vision_model.post_layernorm.bias has 1 NaN or Inf values");
    /* unknown extra tensors are ignored */
    TAC_REQUIRE(rewrite(TINY, SUB("extra"), "F16", add_extra, NULL) == 0);
    TAC_CHECK_OK(tac_clip_load(d, &m));
    tac_clip_free(m);
#undef SUB
}

/* The safetensors parser on hand-made images. */
TAC_TEST(clip_safetensors_parser_edge_cases)
{
    tac_st st;
    uint8_t img[256];
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";   /* overlapping is accepted */
    size_t hl = strlen(h);
    memset(img, 0, sizeof img);
    img[0] = (uint8_t)hl;
    memcpy(img + 8, h, hl);
    TAC_CHECK_OK(tac_st_parse(img, 8 + hl + 8, "x", &st));
    TAC_CHECK_INT(st.n, 2);
    TAC_CHECK(tac_st_find(&st, "b") && tac_st_find(&st, "b")->nbytes == 4 && !tac_st_find(&st, "c"));
    tac_st_close(&st);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 7, "x", &st), "'a' data_offsets [0, 8] lie outside the 7-byte");
    const char *h2 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
    hl = strlen(h2); img[0] = (uint8_t)hl; memcpy(img + 8, h2, hl);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 8, "x", &st), "spans 8 bytes, its shape and dtype need 12");
    const char *h3 = "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    hl = strlen(h3); img[0] = (uint8_t)hl; memcpy(img + 8, h3, hl);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 8, "x", &st), "unknown dtype 'Q4'");
    const char *h4 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}";
    hl = strlen(h4); img[0] = (uint8_t)hl; memcpy(img + 8, h4, hl);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 8, "x", &st), "bad shape entry");
    const char *h5 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}";
    hl = strlen(h5); img[0] = (uint8_t)hl; memcpy(img + 8, h5, hl);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 8, "x", &st), "lie outside");
    const char *h6 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    hl = strlen(h6); img[0] = (uint8_t)hl; memcpy(img + 8, h6, hl);
    TAC_CHECK_ERR(tac_st_parse(img, 8 + hl + 8, "x", &st), "appears twice");
}

/* ---- optional: big random model, real weights ---------------------------------------------------------- */
TAC_TEST(clip_b32_random_matches_torch_reference)
{
    const char *dir = getenv("TACLUST_CLIP_B32_RANDOM");
    if (!dir || !*dir)
        TAC_SKIP("ViT-B/32-shaped random model check skipped: TACLUST_CLIP_B32_RANDOM not set "
                 "(make one with /usr/bin/python3 tools/gen_clip_fixtures.py b32 /tmp/clip-b32-random)");
    check_against_reference(dir, dir, 1e-4);
}

static float *read_floats_txt(const char *path, int n)
{
    char **lines;
    int64_t cnt;
    if (tac_read_lines(path, &lines, &cnt, 1) != TAC_OK) return NULL;
    if (cnt != n) { tac_free_strings(lines, cnt); return NULL; }
    float *v = tac_xmalloc((size_t)n, sizeof(float));
    for (int i = 0; i < n; i++) v[i] = strtof(lines[i], NULL);
    tac_free_strings(lines, cnt);
    return v;
}

/* A float32 little-endian .npy of any shape holding exactly n values (the 1x3x224x224 reference image). */
static float *read_npy_f32_4d(const char *path, size_t n)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return NULL;
    float *v = NULL;
    if (len > 10 && memcmp(buf, "\x93NUMPY", 6) == 0 && buf[6] == 1) {
        size_t hl = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8;
        if (10 + hl + n * 4 == len && strstr(buf + 10, "'<f4'") && strstr(buf + 10, "'fortran_order': False")) {
            v = tac_xmalloc(n, sizeof(float));
            memcpy(v, buf + 10 + hl, n * 4);
        }
    }
    free(buf);
    return v;
}

TAC_TEST(clip_real_weights_match_reference_features)
{
    const char *env = getenv("TACLUST_MODEL");
    if (!env || !*env) TAC_SKIP("real-weight checks skipped: TACLUST_MODEL not set");
    static char dir[4096];   /* a folder, or a model id found in the Hugging Face cache (the suite runs offline) */
    char *resolved = NULL;
    TAC_CHECK_OK(tac_model_resolve(env, NULL, &resolved));
    snprintf(dir, sizeof dir, "%s", resolved);
    free(resolved);
    char ref[512];
    snprintf(ref, sizeof ref, "%s/reference/clip-vit-base-patch32", tac_test_shared());
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    TAC_REQUIRE(tac_clip_embed_dim(m) == 512 && tac_clip_image_size(m) == 224 && m->cfg.vision.hidden == 768);
    float *cls = read_floats_txt(tac_test_path(ref, "vision-class-embedding.txt"), 768);
    TAC_REQUIRE(cls);
    if (tac_test_compare("class embedding", m->w.cls_emb, cls, 768, 1e-6) > 1e-6) {
        printf("    TACLUST_MODEL=%s does not hold the real openai/clip-vit-base-patch32 weights\n", dir);
        free(cls);
        tac_clip_free(m);
        return;
    }
    /* white.jpg as Hugging Face's CLIPProcessor saw it */
    char *raw; size_t len;
    TAC_REQUIRE(tac_read_file(tac_test_path(ref, "white.hf-pixel-values.f32"), &raw, &len) == TAC_OK && len == 3 * 224 * 224 * 4);
    float feat[512];
    float *wref = read_floats_txt(tac_test_path(ref, "white.image-features.txt"), 512);
    TAC_REQUIRE(wref);
    TAC_CHECK_OK(tac_clip_encode_images(m, (const float *)raw, 1, feat));
    tac_test_compare("white.jpg (HF pixels) image features", feat, wref, 512, 1e-3);
    {                                              /* the same through our own decoder and preprocessing */
        tac_image img;
        float *px = tac_xmalloc(3 * 224 * 224, sizeof(float));
        TAC_CHECK_OK(tac_image_load(tac_test_path(ref, "white.jpg"), &img));
        TAC_CHECK_OK(tac_clip_preprocess(&img, 224, 224, px));
        TAC_CHECK_OK(tac_clip_encode_images(m, px, 1, feat));
        tac_test_compare("white.jpg (tac_image) image features", feat, wref, 512, 1e-3);
        tac_image_free(&img);
        free(px);
    }
    /* franz-kafka.jpg through OpenAI's preprocess: sum and first values of encode_image */
    float *kp = read_npy_f32_4d(tac_test_path(ref, "franz-kafka.openai-preprocessed.npy"), 3 * 224 * 224);
    TAC_REQUIRE(kp);
    TAC_CHECK_OK(tac_clip_encode_images(m, kp, 1, feat));
    double sum = 0;
    for (int i = 0; i < 512; i++) sum += feat[i];
    const float first5[5] = {-0.07944782078266144f, 0.22216692566871643f, -0.04425959661602974f,
                             -0.1021476462483406f, 0.04593294858932495f};   /* franz-kafka.expected-values.json */
    tac_test_compare("franz-kafka first 5", feat, first5, 5, 1e-3);
    TAC_CHECK_NEAR(sum, 7.557152271270752, 1e-2);
    {
        const char *texts[3] = {"a red apple", "a photo of a man", "a photo of a woman"};
        float tf[3 * 512];
        TAC_CHECK_OK(tac_clip_encode_texts(m, texts, 3, tf));
        float *aref = read_floats_txt(tac_test_path(ref, "a-red-apple.text-features.txt"), 512);
        TAC_REQUIRE(aref);
        tac_test_compare("'a red apple' text features", tf, aref, 512, 1e-3);
        const float t5[5] = {-0.26425981521606445f, 0.3245568573474884f, -0.022752312943339348f,
                             0.20319020748138428f, -0.00989810936152935f};
        tac_test_compare("'a photo of a man' first 5", tf + 512, t5, 5, 1e-3);
        double s1 = 0, s2 = 0;
        for (int i = 0; i < 512; i++) { s1 += tf[512 + i]; s2 += tf[1024 + i]; }
        TAC_CHECK_NEAR(s1, 9.667448043823242, 1e-2);
        TAC_CHECK_NEAR(s2, 10.100772857666016, 1e-2);
        /* logits_per_image = 100 * cosine */
        double li[2];
        for (int k = 0; k < 2; k++) {
            double d = 0, na = 0, nb = 0;
            for (int i = 0; i < 512; i++) { d += feat[i] * tf[512 * (k + 1) + i]; na += feat[i] * feat[i]; nb += tf[512 * (k + 1) + i] * tf[512 * (k + 1) + i]; }
            li[k] = 100 * d / sqrt(na * nb);
        }
        TAC_CHECK_NEAR(li[0], 27.878917694091797, 2e-2);
        TAC_CHECK_NEAR(li[1], 23.396446228027344, 2e-2);
        free(aref);
    }
    free(kp); free(raw); free(wref); free(cls);
    tac_clip_free(m);
}
