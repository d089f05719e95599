/* test_hash.c - FNV-1a 64 (tac_fnv1a64) against the published test vectors, and the heads file's checksum:
 * version 2 files are written with FNV's offset basis, version 1 files (the mistyped basis 1469598103934665603
 * of older builds) still load, and each version's checksum is verified with its own basis. */
#include "tac_test.h"
#include "taclust/heads.h"

#include <stdlib.h>

TAC_TEST(fnv1a64_test_vectors)
{
    /* from the FNV reference (isthe.com/chongo/tech/comp/fnv): "" -> the basis, "a", "foobar" */
    TAC_CHECK(tac_fnv1a64(TAC_FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ull);
    TAC_CHECK(tac_fnv1a64(TAC_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
    TAC_CHECK(tac_fnv1a64(TAC_FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ull);
    /* continued over pieces = one pass */
    TAC_CHECK(tac_fnv1a64(tac_fnv1a64(TAC_FNV1A64_INIT, "foo", 3), "bar", 3) == 0x85944171f73967e8ull);
}

TAC_TEST(heads_file_v2_written_v1_still_read)
{
    enum { N = 64, D = 6, KN = 4 };
    float X[N * D], R[N * D];
    int64_t nn[N * KN];
    tac_mt r;
    tac_mt_seed(&r, 3);
    for (int i = 0; i < N * D; i++) { X[i] = (float)tac_mt_normal(&r); R[i] = X[i] + (float)(0.3 * tac_mt_normal(&r)); }
    tac_l2_normalize_rows(X, N, D);
    tac_l2_normalize_rows(R, N, D);
    for (int i = 0; i < N; i++) for (int j = 0; j < KN; j++) nn[i * KN + j] = (i + j + 1) % N;
    tac_heads_params p;
    tac_heads_default_params(&p);
    p.K = 3; p.hidden = 8; p.batch = 16; p.epochs = 2; p.seed = 1;
    tac_heads *h = NULL, *hl = NULL;
    TAC_CHECK_OK(tac_heads_train(X, R, N, D, nn, nn, KN, &p, NULL, NULL, &h));
    const char *path = tac_test_path(tac_test_tmpdir(), "heads.bin");
    TAC_CHECK_OK(tac_heads_save(h, path));
    char *b; size_t len;
    TAC_REQUIRE(tac_read_file(path, &b, &len) == TAC_OK);
    uint32_t version; uint64_t cs;
    memcpy(&version, b + 8, 4);
    memcpy(&cs, b + len - 8, 8);
    TAC_CHECK_INT(version, 2);
    TAC_CHECK(cs == tac_fnv1a64(TAC_FNV1A64_INIT, b, len - 8));
    /* the same heads as a version 1 file (old basis): loads, predicts the same */
    const char *v1 = tac_test_path(tac_test_tmpdir(), "heads-v1.bin");
    version = 1;
    memcpy(b + 8, &version, 4);
    cs = tac_fnv1a64(1469598103934665603ull, b, len - 8);
    memcpy(b + len - 8, &cs, 8);
    TAC_CHECK_OK(tac_write_file_atomic(v1, b, len));
    TAC_CHECK_OK(tac_heads_load(v1, &hl));
    int32_t pa[N], pb[N];
    TAC_CHECK_OK(tac_heads_predict(h, X, N, pa, NULL));
    TAC_CHECK_OK(tac_heads_predict(hl, X, N, pb, NULL));
    TAC_CHECK(memcmp(pa, pb, sizeof pa) == 0);
    tac_heads_free(hl); hl = NULL;
    /* version 1 with a version 2 checksum (or the reverse): corrupt */
    cs = tac_fnv1a64(TAC_FNV1A64_INIT, b, len - 8);
    memcpy(b + len - 8, &cs, 8);
    TAC_CHECK_OK(tac_write_file_atomic(v1, b, len));
    TAC_CHECK_ERR(tac_heads_load(v1, &hl), "checksum mismatch");
    version = 2;
    memcpy(b + 8, &version, 4);
    cs = tac_fnv1a64(1469598103934665603ull, b, len - 8);
    memcpy(b + len - 8, &cs, 8);
    TAC_CHECK_OK(tac_write_file_atomic(v1, b, len));
    TAC_CHECK_ERR(tac_heads_load(v1, &hl), "checksum mismatch");
    version = 3;
    memcpy(b + 8, &version, 4);
    TAC_CHECK_OK(tac_write_file_atomic(v1, b, len));
    TAC_CHECK_ERR(tac_heads_load(v1, &hl), "unsupported heads file version 3");
    free(b);
    tac_heads_free(h);
}
