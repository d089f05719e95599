/* test_npy_map.c - tac_npy_map_f32: a float32 .npy is used from its memory map with no copy and gives the same
 * values as tac_npy_load_f32; other dtypes come back converted; released pages read back the same; bad files
 * fail with a reason.
 */
#include "tac_test.h"

#include <stdio.h>

TAC_TEST(npy_map_f32_zero_copy_and_fallbacks)
{
    char p[512], q[512], bad[512];
    snprintf(p, sizeof p, "%s/a.npy", tac_test_tmpdir());
    snprintf(q, sizeof q, "%s/h.npy", tac_test_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.npy", tac_test_tmpdir());
    int64_t shape[2] = {300, 7};
    float *x = tac_xmalloc(300 * 7, sizeof(float)); /* 300 x 7 */
    for (int i = 0; i < 300 * 7; i++) x[i] = (float)(i * 0.37 - 50);
    TAC_CHECK_OK(tac_npy_save_f32(p, x, 2, shape));
    tac_npy_map m;
    TAC_CHECK_OK(tac_npy_map_f32(p, &m));
    TAC_CHECK(m.map != NULL && m.own == NULL);          /* used in place */
    TAC_CHECK_INT(m.rows, 300);
    TAC_CHECK_INT(m.cols, 7);
    TAC_CHECK(memcmp(m.data, x, sizeof(float) * 300 * 7) == 0);
    tac_npy_map_release(&m);                            /* pages dropped: read again from the file */
    TAC_CHECK(memcmp(m.data, x, sizeof(float) * 300 * 7) == 0);
    tac_npy_unmap(&m);
    TAC_CHECK(m.data == NULL);

    /* float16 file (header by hand): converted into a copy */
    FILE *f = fopen(q, "wb");
    TAC_REQUIRE(f);
    const char hdr[] = "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }";
    char head[64];
    memset(head, ' ', sizeof head);
    memcpy(head, hdr, sizeof hdr - 1);
    head[63] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 64, 0};
    uint16_t h[4] = {0x3c00, 0xc000, 0x3800, 0x0000}; /* 1, -2, 0.5, 0 */
    fwrite(pre, 1, 10, f); fwrite(head, 1, 64, f); fwrite(h, 2, 4, f);
    fclose(f);
    TAC_CHECK_OK(tac_npy_map_f32(q, &m));
    TAC_CHECK(m.map == NULL && m.own != NULL);
    TAC_CHECK(m.data[0] == 1.0f && m.data[1] == -2.0f && m.data[2] == 0.5f && m.data[3] == 0.0f);
    tac_npy_unmap(&m);

    /* truncated and missing files */
    f = fopen(bad, "wb");
    TAC_REQUIRE(f);
    fwrite(pre, 1, 10, f); fwrite(head, 1, 64, f); fwrite(h, 2, 1, f);
    fclose(f);
    TAC_CHECK_ERR(tac_npy_map_f32(bad, &m), "truncated");
    snprintf(bad, sizeof bad, "%s/none.npy", tac_test_tmpdir());
    TAC_CHECK_ERR(tac_npy_map_f32(bad, &m), "cannot open");
    free(x);
}
