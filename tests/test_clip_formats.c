/* test_clip_formats.c - every checkpoint format the CLIP loader reads, on small random models that
 * tools/gen_format_fixtures.py saved (with Debian's python3-torch) into tests/fixtures/clip/formats/: HF safetensors
 * (the baseline), HF pytorch_model.bin, sharded .bin (one shard re-zipped with deflate, one in the legacy pre-1.6
 * format), OpenCLIP safetensors and OpenCLIP .bin, and OpenAI's TorchScript form (torchscript/ViT-micro.pt).
 * Checks: the five forms of one model give bit-identical image and text features; the OpenCLIP folder and the
 * TorchScript file match the script's independent PyTorch implementation of OpenAI's CLIP architecture to 1e-5;
 * broken checkpoints (unknown pickle globals, wrong dtypes, missing tensors, strided views, bzip2 or corrupt deflated
 * entries, truncated zips, a cut legacy file) each give one clear error naming the file and the tensor or entry; the
 * torch reader's views, dtypes and scalars; the OpenCLIP config rules (shapes of the OpenAI ViTs, the QuickGELU rule,
 * refused architectures, text.* names); and that a model's own mean/std (OpenCLIP preprocess_cfg, HF
 * preprocessor_config.json) is folded in correctly.
 */
#include "tac_test.h"

#include <stdint.h>

#include "taclust/clip.h"
#include "clip/tac_clip_internal.h"   /* white-box: config parsers, the torch reader */

#define FMT "tests/fixtures/clip/formats"

/* n x 3 x s x s pixels: tools/gen_clip_fixtures.py pixel_pattern (as tests/test_clip.c). */
static float *pattern(int n, int s)
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

typedef struct { float *img, *txt; int ni, nt, e; } feats;

/* Encodes ni pattern images and the rows of ids_npy with the model in dir. */
static int encode_inputs(const char *dir, const char *ids_npy, int ni, feats *f)
{
    memset(f, 0, sizeof *f);
    tac_clip *m;
    if (tac_clip_load(dir, &m) != TAC_OK) return TAC_ERR;
    int64_t *l, r, c;
    if (tac_npy_load_i64(ids_npy, &l, &r, &c) != TAC_OK) { tac_clip_free(m); return TAC_ERR; }
    int32_t *ids = tac_xmalloc((size_t)(r * c), sizeof *ids);
    for (int64_t i = 0; i < r * c; i++) ids[i] = (int32_t)l[i];
    f->e = tac_clip_embed_dim(m);
    f->ni = ni;
    f->nt = (int)r;
    float *px = pattern(f->ni, tac_clip_image_size(m));
    f->img = tac_xmalloc((size_t)f->ni * f->e, sizeof(float));
    f->txt = tac_xmalloc((size_t)f->nt * f->e, sizeof(float));
    int rc = tac_clip_encode_images(m, px, f->ni, f->img);
    if (rc == TAC_OK) rc = tac_clip_encode_tokens(m, ids, f->nt, (int)c, f->txt);
    free(px); free(ids); free(l);
    tac_clip_free(m);
    return rc;
}

/* The reference inputs of the small model: 3 pattern images, the 4 rows of ref_ids.npy. */
static int encode_refs(const char *dir, feats *f)
{
    return encode_inputs(dir, FMT "/openclip/ref_ids.npy", 3, f);
}

static void feats_free(feats *f) { free(f->img); free(f->txt); }

/* Compares f with DIR/ref_image_features.npy and ref_text_features.npy (max row-relative error <= tol). */
static void check_refs(const char *label, const feats *f, const char *refdir, double tol)
{
    float *ri, *rt;
    int64_t ni, ei, nt, et;
    TAC_REQUIRE(tac_npy_load_f32(tac_test_path(refdir, "ref_image_features.npy"), &ri, &ni, &ei) == TAC_OK);
    TAC_REQUIRE(tac_npy_load_f32(tac_test_path(refdir, "ref_text_features.npy"), &rt, &nt, &et) == TAC_OK);
    TAC_REQUIRE(ni == f->ni && nt == f->nt && ei == f->e && et == f->e);
    double ie = tac_test_row_rel_err(f->img, ri, f->ni, f->e), te = tac_test_row_rel_err(f->txt, rt, f->nt, f->e);
    printf("    %s vs the OpenAI-architecture PyTorch reference: image %.3g, text %.3g (max relative, tol %.0e)\n",
           label, ie, te, tol);
    TAC_CHECK(ie <= tol);
    TAC_CHECK(te <= tol);
    free(ri); free(rt);
}

TAC_TEST(clip_formats_all_give_identical_features)
{
    feats base;
    TAC_CHECK_OK(encode_refs(FMT "/hf", &base));
    double spread = 0;
    for (int j = 0; j < base.e; j++) spread += fabs(base.img[j] - base.img[base.e + j]) + fabs(base.txt[j] - base.txt[base.e + j]);
    TAC_CHECK(spread > 1e-3);                               /* the features depend on the input */
    const char *dirs[] = {"hf_bin", "hf_bin_sharded", "openclip", "openclip_bin"};
    for (int k = 0; k < 4; k++) {
        char d[256];
        snprintf(d, sizeof d, FMT "/%s", dirs[k]);
        feats f;
        if (encode_refs(d, &f) != TAC_OK) {                 /* reported, and the next form still checked */
            tac_test_fail_at(__FILE__, __LINE__, "%s: %s", dirs[k], tac_last_error());
            feats_free(&f);
            continue;
        }
        TAC_CHECK(f.e == base.e);
        int same = !memcmp(f.img, base.img, (size_t)base.ni * base.e * sizeof(float)) &&
                   !memcmp(f.txt, base.txt, (size_t)base.nt * base.e * sizeof(float));
        TAC_CHECK(same);
        printf("    %-15s image and text features %s the HF safetensors folder's\n", dirs[k], same ? "bit-identical to" : "DIFFER from");
        feats_free(&f);
    }
    feats_free(&base);
}

TAC_TEST(clip_formats_openclip_matches_openai_reference)
{
    feats f;
    TAC_CHECK_OK(encode_refs(FMT "/openclip", &f));
    check_refs("OpenCLIP folder", &f, FMT "/openclip", 1e-5);
    feats_free(&f);
}

TAC_TEST(clip_formats_openai_torchscript_checkpoint)
{
    /* OpenAI's original form (a TorchScript module tree, float16 weights, float32 LayerNorms, no config): given as
     * the file, or as a folder holding it, against the OpenAI-architecture reference */
    feats f;
    TAC_CHECK_OK(encode_inputs(FMT "/torchscript/ViT-micro.pt", FMT "/torchscript/ref_ids.npy", 3, &f));
    check_refs("TorchScript ViT-micro.pt", &f, FMT "/torchscript", 1e-5);
    char d[1024];
    snprintf(d, sizeof d, "%s/ts-folder", tac_test_tmpdir());
    TAC_REQUIRE(tac_test_sh("rm -rf '%s' && mkdir -p '%s' && cp " FMT "/torchscript/ViT-micro.pt '%s/'", d, d, d) == 0);
    feats g;
    TAC_CHECK_OK(encode_inputs(d, FMT "/torchscript/ref_ids.npy", 3, &g));
    TAC_CHECK(!memcmp(f.img, g.img, (size_t)f.ni * f.e * sizeof(float)) && !memcmp(f.txt, g.txt, (size_t)f.nt * f.e * sizeof(float)));
    tac_clip *m;
    TAC_CHECK_OK(tac_clip_load(d, &m));
    TAC_CHECK(m->cfg.vision.heads == 1 && m->cfg.text.heads == 1 && m->cfg.vision.image_size == 16 &&
              m->cfg.vision.act == TAC_ACT_QUICK_GELU && m->cfg.text.vocab == 100 && m->cfg.proj_dim == 16);
    tac_clip_free(m);
    TAC_REQUIRE(tac_test_sh("cp " FMT "/torchscript/ViT-micro.pt '%s/other.pt'", d) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "2 .pt files and no config");
    feats_free(&f);
    feats_free(&g);
}

TAC_TEST(clip_formats_b32_openclip_and_openai_state_dict)
{
    const char *dir = getenv("TACLUST_CLIP_B32_OPENCLIP");
    if (!dir || !*dir)
        TAC_SKIP("ViT-B/32-shaped OpenCLIP check skipped: TACLUST_CLIP_B32_OPENCLIP not set (make one with "
                 "/usr/bin/python3 tools/gen_format_fixtures.py b32 /tmp/clip-b32-openclip)");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/openclip", dir);
    snprintf(b, sizeof b, "%s/openai", dir);          /* the same .bin without a config: shapes inferred */
    feats fa, fb;
    TAC_CHECK_OK(encode_inputs(a, tac_test_path(dir, "ref_ids.npy"), 2, &fa));
    check_refs("ViT-B/32 open_clip_config.json + .bin", &fa, dir, 1e-4);
    TAC_CHECK_OK(encode_inputs(b, tac_test_path(dir, "ref_ids.npy"), 2, &fb));
    TAC_CHECK(!memcmp(fa.img, fb.img, (size_t)fa.ni * fa.e * sizeof(float)) &&
              !memcmp(fa.txt, fb.txt, (size_t)fa.nt * fa.e * sizeof(float)));
    printf("    the same .bin alone (config inferred from the shapes): bit-identical features\n");
    feats_free(&fa);
    feats_free(&fb);
}

/* Copies the HF config and `file` (as `as`) into a fresh folder and returns its path. */
static const char *bad_dir(const char *name, const char *file, const char *as)
{
    static char d[1024];
    snprintf(d, sizeof d, "%s/bad-%s", tac_test_tmpdir(), name);
    if (tac_test_sh("rm -rf '%s' && mkdir -p '%s' && cp " FMT "/hf/config.json '%s/' && cp '%s' '%s/%s'", d, d, d, file, d, as) != 0)
        return NULL;
    return d;
}

TAC_TEST(clip_formats_bad_checkpoints_give_clear_errors)
{
    static const struct { const char *file, *want; } cases[] = {
        {"unknown_global.bin", "pytorch_model.bin: the pickle references posix.getcwd, which this reader does not accept"},
        {"wrong_dtype.bin", "text_model.embeddings.token_embedding.weight: expected dtype F32, F16 or BF16, found I64"},
        {"missing.bin", "tensor text_model.embeddings.token_embedding.weight is missing"},
        {"strided.bin", "tensor 'text_model.embeddings.token_embedding.weight' is a strided view (strides [1, 3])"},
        {"compressed.bin", "text_model.embeddings.token_embedding.weight: expected shape [800, 16], found [4, 4]"},   /* inflated */
        {"bzip2.bin", "data.pkl' is compressed with method 12; only stored and deflated entries are read"},
        {"deflate_corrupt.bin", "data.pkl' does not inflate to its 212 bytes with its CRC-32 (corrupt)"},
        {"torchscript.pt", "tensor text_model.embeddings.token_embedding.weight is missing"},   /* read: not CLIP */
        {"legacy.bin", "text_model.embeddings.token_embedding.weight: expected shape [800, 16], found [2]"},   /* read */
    };
    tac_clip *m = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, FMT "/bad/%s", cases[i].file);
        const char *d = bad_dir(cases[i].file, src, "pytorch_model.bin");
        TAC_REQUIRE(d);
        TAC_CHECK_ERR(tac_clip_load(d, &m), cases[i].want);
        TAC_CHECK(m == NULL);
        TAC_CHECK(strstr(tac_last_error(), "pytorch_model.bin") != NULL);     /* names the file */
        TAC_CHECK(strchr(tac_last_error(), '\n') == NULL);                    /* one line */
        printf("    %-18s %s\n", cases[i].file, tac_last_error());
    }
    /* a checkpoint file given directly must be OpenAI's CLIP */
    TAC_CHECK_ERR(tac_clip_load(FMT "/bad/torchscript.pt", &m), "torchscript.pt: no config beside it, and the weights are not an OpenAI CLIP ViT state dict");
    /* truncated zips: the end record gone; a central directory pointing past the end */
    const char *d = bad_dir("truncated", FMT "/hf_bin/pytorch_model.bin", "pytorch_model.bin");
    TAC_REQUIRE(d);
    TAC_REQUIRE(tac_test_sh("truncate -s 150000 '%s/pytorch_model.bin'", d) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "pytorch_model.bin: no zip end-of-central-directory record (truncated");
    printf("    cut at 150000 B    %s\n", tac_last_error());
    TAC_REQUIRE(tac_test_sh("f='%s/pytorch_model.bin'; cp " FMT "/hf_bin/pytorch_model.bin \"$f\" && n=$(stat -c %%s \"$f\") && "
                            "tail -c 4096 \"$f\" > \"$f.tail\" && head -c 100000 \"$f\" > \"$f.head\" && cat \"$f.head\" \"$f.tail\" > \"$f\" && rm \"$f.head\" \"$f.tail\"", d) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "pytorch_model.bin: zip central directory");
    printf("    middle cut out     %s\n", tac_last_error());
    /* a sharded .bin index naming a shard that is not there */
    d = bad_dir("shard", FMT "/hf_bin_sharded/pytorch_model-00001-of-00002.bin", "pytorch_model-00001-of-00002.bin");
    TAC_REQUIRE(d);
    TAC_REQUIRE(tac_test_sh("cp " FMT "/hf_bin_sharded/pytorch_model.bin.index.json '%s/'", d) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "pytorch_model-00002-of-00002.bin: missing (named by");
    /* the legacy-format shard cut short: its last storage runs past the end */
    TAC_REQUIRE(tac_test_sh("head -c 60000 " FMT "/hf_bin_sharded/pytorch_model-00002-of-00002.bin > '%s/pytorch_model-00002-of-00002.bin'", d) == 0);
    TAC_CHECK_ERR(tac_clip_load(d, &m), "runs past the end of the 60000-byte file (truncated)");
    printf("    legacy shard cut   %s\n", tac_last_error());
}

/* Minimal in-memory torch.save images are covered by the fuzzer; here, the parser's view of a valid file. */
TAC_TEST(clip_formats_torch_reader_tensors)
{
    tac_st st;
    TAC_CHECK_OK(tac_torch_open(FMT "/hf_bin/pytorch_model.bin", &st));
    tac_st ref;
    TAC_CHECK_OK(tac_st_open(FMT "/hf/model.safetensors", &ref));
    TAC_CHECK_INT(st.n, ref.n);                             /* every tensor, the int64 buffers included */
    int same = 1;
    for (int i = 0; i < ref.n && i < st.n; i++) {
        const tac_st_tensor *a = &st.t[i], *b = &ref.t[i];
        same &= !strcmp(a->name, b->name) && a->ndim == b->ndim;
        for (int d = 0; d < a->ndim && same; d++) same &= a->shape[d] == b->shape[d];
        if (b->dtype == TAC_ST_I64) same &= a->dtype == TAC_ST_I64 && a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
        else same &= a->dtype == TAC_ST_F32 && a->nbytes == 2 * b->nbytes;
    }
    TAC_CHECK(same);
    tac_st_close(&st);
    tac_st_close(&ref);
}

TAC_TEST(clip_formats_torch_reader_views_and_dtypes)
{
    /* views.bin (torch.save): view1 = arange(24.)[4:10], view2 = arange(24.)[12:24].reshape(3, 4) share one storage */
    tac_st st;
    TAC_CHECK_OK(tac_torch_open(FMT "/views.bin", &st));
    TAC_CHECK_INT(st.n, 8);
    const tac_st_tensor *v1 = tac_st_find(&st, "view1"), *v2 = tac_st_find(&st, "view2"), *b = tac_st_find(&st, "b");
    const tac_st_tensor *h = tac_st_find(&st, "a.bias"), *sc = tac_st_find(&st, "scale"), *em = tac_st_find(&st, "empty");
    const tac_st_tensor *ids = tac_st_find(&st, "ids");
    TAC_REQUIRE(v1 && v2 && b && h && sc && em && ids);
    TAC_CHECK(v1->dtype == TAC_ST_F32 && v1->ndim == 1 && v1->shape[0] == 6 && v1->nbytes == 24);
    TAC_CHECK(v2->ndim == 2 && v2->shape[0] == 3 && v2->shape[1] == 4 && v2->nbytes == 48);
    int ok = 1;
    for (int i = 0; i < 6; i++) { float x; memcpy(&x, v1->data + 4 * i, 4); ok &= x == (float)(4 + i); }
    for (int i = 0; i < 12; i++) { float x; memcpy(&x, v2->data + 4 * i, 4); ok &= x == (float)(12 + i); }
    TAC_CHECK(ok);
    TAC_CHECK(v2->data - v1->data == 8 * 4);                 /* the same storage, mapped in place */
    TAC_CHECK(b->dtype == TAC_ST_BF16 && b->nbytes == 10 && b->data[2] == 0x80 && b->data[3] == 0x3f);   /* 1.0 */
    TAC_CHECK(h->dtype == TAC_ST_F16 && h->nbytes == 6 && h->data[0] == 0x00 && h->data[1] == 0x3c);    /* 1.0 */
    TAC_CHECK(sc->ndim == 0 && sc->nbytes == 4 && em->ndim == 2 && em->shape[0] == 0 && em->nbytes == 0);
    TAC_CHECK(ids->dtype == TAC_ST_I64 && ids->ndim == 2 && ids->shape[1] == 7);
    tac_st_close(&st);
}

static int oc_parse(const char *json, const char *name, tac_clip_config *c)
{
    return tac_clip_openclip_config_parse(json, strlen(json), "cfg.json", name, c);
}

TAC_TEST(clip_formats_openclip_config_rules)
{
    tac_clip_config c;
    /* OpenCLIP's own model configs (open_clip/model_configs/NAME.json) for the OpenAI-architecture ViTs */
    static const struct { const char *json; int vw, vl, vh, vi, ps, s, tw, tl, th, e; } vits[] = {
        {"{\"embed_dim\":512,\"vision_cfg\":{\"image_size\":224,\"layers\":12,\"width\":768,\"patch_size\":32},"
         "\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,\"width\":512,\"heads\":8,\"layers\":12}}",
         768, 12, 12, 3072, 32, 224, 512, 12, 8, 512},                                   /* ViT-B-32 */
        {"{\"embed_dim\":512,\"vision_cfg\":{\"image_size\":224,\"layers\":12,\"width\":768,\"patch_size\":16},"
         "\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,\"width\":512,\"heads\":8,\"layers\":12}}",
         768, 12, 12, 3072, 16, 224, 512, 12, 8, 512},                                   /* ViT-B-16 */
        {"{\"embed_dim\":768,\"vision_cfg\":{\"image_size\":336,\"layers\":24,\"width\":1024,\"patch_size\":14},"
         "\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,\"width\":768,\"heads\":12,\"layers\":12}}",
         1024, 24, 16, 4096, 14, 336, 768, 12, 12, 768},                                 /* ViT-L-14-336 */
        {"{\"embed_dim\":1024,\"vision_cfg\":{\"image_size\":224,\"layers\":32,\"width\":1280,\"head_width\":80,"
         "\"patch_size\":14},\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,\"width\":1024,\"heads\":16,"
         "\"layers\":24}}", 1280, 32, 16, 5120, 14, 224, 1024, 24, 16, 1024},           /* ViT-H-14 */
        {"{\"embed_dim\":1280,\"vision_cfg\":{\"image_size\":224,\"layers\":48,\"width\":1664,\"head_width\":104,"
         "\"mlp_ratio\":4.9231,\"patch_size\":14},\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,"
         "\"width\":1280,\"heads\":20,\"layers\":32}}", 1664, 48, 16, 8192, 14, 224, 1280, 32, 20, 1280},   /* bigG */
    };
    for (size_t i = 0; i < sizeof vits / sizeof vits[0]; i++) {
        TAC_CHECK_OK(oc_parse(vits[i].json, NULL, &c));
        TAC_CHECK_INT(c.vision.hidden, vits[i].vw); TAC_CHECK_INT(c.vision.layers, vits[i].vl);
        TAC_CHECK_INT(c.vision.heads, vits[i].vh); TAC_CHECK_INT(c.vision.inter, vits[i].vi);
        TAC_CHECK_INT(c.vision.patch_size, vits[i].ps); TAC_CHECK_INT(c.vision.image_size, vits[i].s);
        TAC_CHECK_INT(c.text.hidden, vits[i].tw); TAC_CHECK_INT(c.text.layers, vits[i].tl);
        TAC_CHECK_INT(c.text.heads, vits[i].th); TAC_CHECK_INT(c.text.inter, 4 * vits[i].tw);
        TAC_CHECK_INT(c.proj_dim, vits[i].e); TAC_CHECK_INT(c.text.max_pos, 77); TAC_CHECK_INT(c.text.vocab, 49408);
        TAC_CHECK(c.openclip == 1 && c.vision.act == TAC_ACT_GELU && c.text.act == TAC_ACT_GELU);
    }
    /* the QuickGELU rule */
    const char *plain = "{\"model_cfg\":{\"embed_dim\":512,\"vision_cfg\":{},\"text_cfg\":{}}}";
    const char *qg_true = "{\"model_cfg\":{\"embed_dim\":512,\"quick_gelu\":true,\"vision_cfg\":{},\"text_cfg\":{}}}";
    const char *qg_false = "{\"model_cfg\":{\"embed_dim\":512,\"quick_gelu\":false,\"vision_cfg\":{},\"text_cfg\":{}}}";
    const char *named = "{\"model_name\":\"ViT-B-32-quickgelu\",\"model_cfg\":{\"embed_dim\":512,\"vision_cfg\":{},\"text_cfg\":{}}}";
    TAC_CHECK_OK(oc_parse(plain, "models/vit-b-32", &c)); TAC_CHECK(c.vision.act == TAC_ACT_GELU && c.text.act == TAC_ACT_GELU);
    TAC_CHECK_OK(oc_parse(qg_true, NULL, &c)); TAC_CHECK(c.vision.act == TAC_ACT_QUICK_GELU && c.text.act == TAC_ACT_QUICK_GELU);
    TAC_CHECK_OK(oc_parse(plain, "hub/models--timm--ViT-B-16-quickgelu.metaclip_400m/snapshots/abc", &c));
    TAC_CHECK(c.vision.act == TAC_ACT_QUICK_GELU);
    TAC_CHECK_OK(oc_parse(named, NULL, &c)); TAC_CHECK(c.text.act == TAC_ACT_QUICK_GELU);
    TAC_CHECK_OK(oc_parse(qg_false, "x/ViT-B-16-quickgelu", &c)); TAC_CHECK(c.vision.act == TAC_ACT_GELU);   /* the key wins */
    /* defaults: OpenCLIP's CLIPVisionCfg / CLIPTextCfg, OpenAI's mean/std */
    TAC_CHECK_OK(oc_parse(plain, NULL, &c));
    TAC_CHECK(c.vision.patch_size == 16 && c.vision.image_size == 224 && c.vision.heads == 12 && c.text.heads == 8);
    TAC_CHECK(!memcmp(c.mean, tac_clip_openai_mean, sizeof c.mean) && !memcmp(c.std, tac_clip_openai_std, sizeof c.std));
    TAC_CHECK_OK(oc_parse("{\"model_cfg\":{\"embed_dim\":8,\"vision_cfg\":{\"image_size\":[64,64]},\"text_cfg\":{},"
                          "\"custom_text\":true},\"preprocess_cfg\":{\"mean\":[0.5,0.5,0.5],\"std\":[0.25,0.5,0.5]}}", NULL, &c));
    TAC_CHECK(c.vision.image_size == 64 && c.custom_text == 1 && c.mean[1] == 0.5f && c.std[0] == 0.25f);
    /* refused architectures, naming the option */
    static const struct { const char *json, *want; } bad[] = {
        {"{\"embed_dim\":512,\"vision_cfg\":{\"layers\":[3,4,6,3],\"width\":64},\"text_cfg\":{}}", "ModifiedResNet"},
        {"{\"embed_dim\":512,\"vision_cfg\":{\"timm_model_name\":\"convnext_base\"},\"text_cfg\":{}}", "vision_cfg.timm_model_name is set"},
        {"{\"embed_dim\":512,\"vision_cfg\":{},\"text_cfg\":{\"hf_model_name\":\"xlm-roberta-base\"}}", "text_cfg.hf_model_name is set"},
        {"{\"embed_dim\":768,\"init_logit_bias\":-10,\"vision_cfg\":{},\"text_cfg\":{}}", "SigLIP"},
        {"{\"embed_dim\":512,\"vision_cfg\":{\"ls_init_value\":1e-5},\"text_cfg\":{}}", "layer scale"},
        {"{\"embed_dim\":512,\"vision_cfg\":{\"attentional_pool\":true},\"text_cfg\":{}}", "attention-pooling"},
        {"{\"embed_dim\":512,\"vision_cfg\":{},\"text_cfg\":{\"pool_type\":\"last\"}}", "pool_type"},
        {"{\"embed_dim\":512,\"vision_cfg\":{\"width\":100},\"text_cfg\":{}}", "not a multiple of head_width"},
        {"{\"vision_cfg\":{},\"text_cfg\":{}}", "not an OpenCLIP config"},
        {"{\"model_cfg\":{\"embed_dim\":512,\"vision_cfg\":{},\"text_cfg\":{}},\"preprocess_cfg\":{\"std\":[0,1,1]}}", "std[0] is not a usable number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TAC_CHECK_ERR(oc_parse(bad[i].json, NULL, &c), bad[i].want);
        TAC_CHECK(strncmp(tac_last_error(), "cfg.json: ", 10) == 0);
    }
}

TAC_TEST(clip_formats_model_mean_std_folded_into_patch_embedding)
{
    /* the OpenCLIP folder with other mean/std (0.5, 0.4, 0.3 / 0.5, 0.25, 0.2): its features on OpenAI-normalised
     * pixels x must equal the unchanged model's on x' = (x * std_oai + mean_oai - mean) / std */
    char d[1024];
    snprintf(d, sizeof d, "%s/oc-norm", tac_test_tmpdir());
    TAC_REQUIRE(tac_test_sh("rm -rf '%s' && cp -r " FMT "/openclip '%s' && sed -i "
                            "'s/\"mean\": \\[/\"mean\": [0.5, 0.4, 0.3], \"old_mean\": [/; s/\"std\": \\[/\"std\": [0.5, 0.25, 0.2], \"old_std\": [/' "
                            "'%s/open_clip_config.json'", d, d, d) == 0);
    tac_clip *m0, *m1;
    TAC_CHECK_OK(tac_clip_load(FMT "/openclip", &m0));
    TAC_CHECK_OK(tac_clip_load(d, &m1));
    TAC_CHECK(m1->cfg.mean[1] == 0.4f && m1->cfg.std[2] == 0.2f);
    const double mean[3] = {0.5, 0.4, 0.3}, sd[3] = {0.5, 0.25, 0.2};
    int S = tac_clip_image_size(m0), E = tac_clip_embed_dim(m0), n = 3;
    size_t plane = (size_t)S * S;
    float *x = pattern(n, S), *x2 = tac_xmalloc((size_t)n * 3 * plane, sizeof(float));
    for (int b = 0; b < n; b++)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) {
                size_t k = ((size_t)b * 3 + (size_t)c) * plane + i;
                x2[k] = (float)((x[k] * (double)tac_clip_openai_std[c] + tac_clip_openai_mean[c] - mean[c]) / sd[c]);
            }
    float *a = tac_xmalloc((size_t)n * E, sizeof(float)), *b = tac_xmalloc((size_t)n * E, sizeof(float));
    TAC_CHECK_OK(tac_clip_encode_images(m1, x, n, a));
    TAC_CHECK_OK(tac_clip_encode_images(m0, x2, n, b));
    double err = tac_test_row_rel_err(a, b, n, E);
    printf("    folded mean/std vs renormalised pixels: max relative error %.3g (tol 1e-5)\n", err);
    TAC_CHECK(err <= 1e-5);
    TAC_CHECK_OK(tac_clip_encode_images(m0, x, n, b));
    TAC_CHECK(tac_test_row_rel_err(a, b, n, E) > 1e-2);    /* and the constants do matter */
    /* a Hugging Face folder says the same through preprocessor_config.json: the same bits as the OpenCLIP one */
    char h[1024];
    snprintf(h, sizeof h, "%s/hf-norm", tac_test_tmpdir());
    TAC_REQUIRE(tac_test_sh("rm -rf '%s' && cp -r " FMT "/hf '%s' && printf '{\"image_mean\": [0.5, 0.4, 0.3], "
                            "\"image_std\": [0.5, 0.25, 0.2], \"crop_size\": 32}' > '%s/preprocessor_config.json'", h, h, h) == 0);
    tac_clip *m2;
    TAC_CHECK_OK(tac_clip_load(h, &m2));
    TAC_CHECK_OK(tac_clip_encode_images(m2, x, n, b));
    TAC_CHECK(memcmp(a, b, (size_t)n * E * sizeof(float)) == 0);
    tac_clip_free(m2);
    free(x); free(x2); free(a); free(b);
    tac_clip_free(m0);
    tac_clip_free(m1);
}

/* Writes st's tensors as a safetensors file, each renamed by rename() (the data copied as is). */
static void write_renamed(const char *path, const tac_st *st, const char *(*rename)(const char *name, char *buf, size_t n))
{
    size_t cap = 1 << 16, len = 0, off = 0;
    char *h = tac_xmalloc(cap, 1), nm[256];
    len += (size_t)snprintf(h + len, cap - len, "{");
    for (int i = 0; i < st->n; i++) {
        const tac_st_tensor *t = &st->t[i];
        if (cap - len < 1024) { cap *= 2; h = tac_xrealloc(h, cap, 1); }
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                                rename(t->name, nm, sizeof nm), tac_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    FILE *f = fopen(path, "wb");
    TAC_ASSERT(f);
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f);                                    /* little-endian on x86-64 */
    fwrite(h, 1, len, f);
    for (int i = 0; i < st->n; i++) fwrite(st->t[i].data, 1, st->t[i].nbytes, f);
    fclose(f);
    free(h);
}

static const char *text_prefixed(const char *name, char *buf, size_t n)
{
    if (!strncmp(name, "visual.", 7) || !strcmp(name, "logit_scale")) snprintf(buf, n, "%s", name);
    else snprintf(buf, n, "text.%s", name);
    return buf;
}

TAC_TEST(clip_formats_openclip_custom_text_names)
{
    /* OpenCLIP's CustomTextCLIP keeps the text tower under "text.": the same weights renamed so, with
     * "custom_text": true in the config, give the same features; the names decide, so without the flag too */
    char d[1024], p[1200];
    snprintf(d, sizeof d, "%s/oc-custom", tac_test_tmpdir());
    TAC_REQUIRE(tac_test_sh("rm -rf '%s' && mkdir -p '%s' && sed 's/\"embed_dim\": 16,/\"embed_dim\": 16, \"custom_text\": true,/' "
                            FMT "/openclip/open_clip_config.json > '%s/open_clip_config.json' && grep -q custom_text '%s/open_clip_config.json'",
                            d, d, d, d) == 0);
    tac_st st;
    TAC_CHECK_OK(tac_st_open(FMT "/openclip/open_clip_model.safetensors", &st));
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", d);
    write_renamed(p, &st, text_prefixed);
    tac_st_close(&st);
    feats a, b;
    TAC_CHECK_OK(encode_refs(FMT "/openclip", &a));
    TAC_CHECK_OK(encode_refs(d, &b));
    TAC_CHECK(!memcmp(a.img, b.img, (size_t)a.ni * a.e * sizeof(float)) && !memcmp(a.txt, b.txt, (size_t)a.nt * a.e * sizeof(float)));
    feats_free(&a);
    feats_free(&b);
    tac_clip *m;
    TAC_REQUIRE(tac_test_sh("sed -i 's/\"custom_text\": true,//' '%s/open_clip_config.json'", d) == 0);
    TAC_CHECK_OK(tac_clip_load(d, &m));
    TAC_CHECK(m->cfg.custom_text == 1);
    tac_clip_free(m);
    TAC_CHECK_OK(tac_clip_load(FMT "/openclip", &m));
    TAC_CHECK(m->cfg.custom_text == 0);
    tac_clip_free(m);
}
