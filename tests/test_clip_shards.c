/* test_clip_shards.c - sharded checkpoints (DIR/model.safetensors.index.json + shard files, as transformers saves
 * big models) against the single-file committed tiny model (tests/fixtures/clip/tiny): the test splits the tiny
 * model's tensors over two shard files with its own safetensors writer, and checks that the sharded folder encodes
 * images and texts bit-identically, and that a missing shard, a tensor in the wrong shard, a tensor missing from
 * the weight_map, a shard name with a path and an empty weight_map each give one clear error naming the file.
 */
#include "tac_test.h"

#include <stdint.h>

#include "taclust/clip.h"
#include "clip/tac_clip_internal.h"   /* white-box: tac_st_open, the tensors' raw bytes */

#define TINY "tests/fixtures/clip/tiny"

/* Writes the tensors t[i] with i % nshard == which (all when nshard == 1) as a safetensors file. */
static void write_shard(const char *path, const tac_st *st, int which, int nshard)
{
    size_t cap = 1 << 16, len = 0, off = 0;
    char *h = tac_xmalloc(cap, 1);
    len += (size_t)snprintf(h + len, cap - len, "{");
    for (int i = 0; i < st->n; i++) {
        if (i % nshard != which) continue;
        const tac_st_tensor *t = &st->t[i];
        if (cap - len < 512) { cap *= 2; h = tac_xrealloc(h, cap, 1); }
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", len > 1 ? "," : "",
                                t->name, tac_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    FILE *f = fopen(path, "wb");
    TAC_ASSERT(f);
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f);                                   /* little-endian on x86-64 */
    fwrite(h, 1, len, f);
    for (int i = 0; i < st->n; i++)
        if (i % nshard == which) fwrite(st->t[i].data, 1, st->t[i].nbytes, f);
    fclose(f);
    free(h);
}

/* Writes DIR/model.safetensors.index.json mapping tensor i to file names[i % nshard]; `edit` (may be NULL) is
 * given the chance to change one entry: called with the tensor name, returns the file name to use instead. */
static void write_index(const char *dir, const tac_st *st, const char *const *names, int nshard,
                        const char *(*edit)(const char *name, const char *file))
{
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    TAC_ASSERT(f);
    fprintf(f, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    int first = 1;
    for (int i = 0; i < st->n; i++) {
        const char *file = names[i % nshard];
        if (edit) file = edit(st->t[i].name, file);
        if (!file) continue;
        fprintf(f, "%s\n  \"%s\": \"%s\"", first ? "" : ",", st->t[i].name, file);
        first = 0;
    }
    fprintf(f, "\n}}\n");
    fclose(f);
}

static const char *edit_wrong_shard(const char *name, const char *file)
{
    if (strcmp(name, "text_projection.weight") == 0) return strcmp(file, "s1.safetensors") ? "s1.safetensors" : "s2.safetensors";
    return file;
}
static const char *edit_drop(const char *name, const char *file)
{
    return strcmp(name, "text_projection.weight") == 0 ? NULL : file;
}
static const char *edit_path(const char *name, const char *file)
{
    return strcmp(name, "text_projection.weight") == 0 ? "../s1.safetensors" : file;
}
static const char *edit_missing(const char *name, const char *file)
{
    return strcmp(name, "text_projection.weight") == 0 ? "s3.safetensors" : file;
}

/* Encodes 3 random images and 3 prompts. img: 3 x E, txt: 3 x E. */
static int encode_some(tac_clip *m, float *img, float *txt)
{
    int S = tac_clip_image_size(m);
    size_t per = 3 * (size_t)S * S;
    float *pix = tac_xmalloc(3 * per, sizeof(float));
    tac_mt r;
    tac_mt_seed(&r, 7);
    for (size_t i = 0; i < 3 * per; i++) pix[i] = 2.0f * tac_mt_float(&r) - 1.0f;
    const char *texts[3] = {"a photo of a dog.", "itap of a red apple.", "art of the franz kafka."};
    int rc = tac_clip_encode_images(m, pix, 3, img);
    if (rc == TAC_OK) rc = tac_clip_encode_texts(m, texts, 3, txt);
    free(pix);
    return rc;
}

TAC_TEST(clip_sharded_checkpoint_equals_single_file)
{
    tac_clip *m1, *m2;
    TAC_CHECK_OK(tac_clip_load(TINY, &m1));
    int E = tac_clip_embed_dim(m1);
    tac_st st;
    TAC_CHECK_OK(tac_st_open(TINY "/model.safetensors", &st));
    char dir[1024], p[1200];
    snprintf(dir, sizeof dir, "%s/sharded", tac_test_tmpdir());
    TAC_CHECK(tac_test_sh("mkdir -p '%s' && cp " TINY "/config.json " TINY "/vocab.json " TINY "/merges.txt '%s/'", dir, dir) == 0);
    const char *names[2] = {"s1.safetensors", "s2.safetensors"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        write_shard(p, &st, k, 2);
    }
    write_index(dir, &st, names, 2, NULL);
    TAC_CHECK_OK(tac_clip_load(dir, &m2));
    float *a = tac_xmalloc(6 * (size_t)E, sizeof(float)), *b = tac_xmalloc(6 * (size_t)E, sizeof(float));
    TAC_CHECK_OK(encode_some(m1, a, a + 3 * E));
    TAC_CHECK_OK(encode_some(m2, b, b + 3 * E));
    TAC_CHECK(memcmp(a, b, 6 * (size_t)E * sizeof(float)) == 0);    /* the same weights: the same bits */
    double d = 0;
    for (int j = 0; j < E; j++) d += fabs(a[j] - a[E + j]);
    TAC_CHECK(d > 1e-4);                                            /* and not a constant output */
    TAC_CHECK(strcmp(tac_clip_hash(m1), tac_clip_hash(m2)) != 0);   /* other files, another cache key */
    printf("    %d tensors over 2 shards: image and text features bit-identical to the single file\n", st.n);
    tac_clip_free(m2);

    /* broken indexes: each load fails with a message naming what is wrong */
    struct { const char *(*edit)(const char *, const char *); const char *want, *label; } bad[] = {
        {edit_wrong_shard, "text_projection.weight is missing", "a tensor in the wrong shard"},
        {edit_drop, "missing from weight_map", "a tensor missing from the weight_map"},
        {edit_path, "plain file names", "a shard name with a path"},
        {edit_missing, "s3.safetensors: missing", "a shard that is not there"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_index(dir, &st, names, 2, bad[i].edit);
        TAC_CHECK_ERR(tac_clip_load(dir, &m2), bad[i].want);
        printf("    %s: %s\n", bad[i].label, tac_last_error());
    }
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"weight_map\": {}}", f);
    fclose(f);
    TAC_CHECK_ERR(tac_clip_load(dir, &m2), "weight_map is empty");
    TAC_CHECK(tac_test_sh("rm '%s'", p) == 0);
    TAC_CHECK_ERR(tac_clip_load(dir, &m2), "model.safetensors.index.json");   /* neither file: says both */
    tac_st_close(&st);
    free(a); free(b);
    tac_clip_free(m1);
}
