/* test_core.c - tests of the core layer: .npy round trips and error messages, mt19937 against the C++ standard's
 * known 10000th value, faiss-style rand_perm, atomic writes, line reading, row normalisation. */
#include "tac_test.h"

#include <unistd.h>

TAC_TEST(core_mt19937_matches_std)
{
    tac_mt r;
    tac_mt_seed(&r, 5489u);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = tac_mt_next(&r);
    TAC_CHECK(v == 4123659995u);   /* the C++ standard's required 10000th output of default-seeded mt19937 */
}

TAC_TEST(core_rand_perm_is_permutation)
{
    int64_t p[1000];
    int seen[1000] = {0};
    tac_rand_perm(p, 1000, 1234);
    int moved = 0;
    for (int i = 0; i < 1000; i++) { TAC_REQUIRE(p[i] >= 0 && p[i] < 1000); seen[p[i]]++; moved += p[i] != i; }
    for (int i = 0; i < 1000; i++) TAC_CHECK(seen[i] == 1);
    TAC_CHECK(moved > 900);
    int64_t q[1000];
    tac_rand_perm(q, 1000, 1234);
    TAC_CHECK(memcmp(p, q, sizeof p) == 0);
}

TAC_TEST(core_npy_roundtrip_and_errors)
{
    const char *dir = tac_test_tmpdir();
    float x[6] = {1, -2, 3.5f, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    const char *p = tac_test_path(dir, "x.npy");
    TAC_CHECK_OK(tac_npy_save_f32(p, x, 2, shape));
    float *y; int64_t r, c;
    TAC_CHECK_OK(tac_npy_load_f32(p, &y, &r, &c));
    TAC_CHECK_INT(r, 2); TAC_CHECK_INT(c, 3);
    TAC_CHECK(memcmp(x, y, sizeof x) == 0);
    free(y);
    int64_t lab[4] = {3, 1, 0, 2}, s1 = 4;
    const char *pl = tac_test_path(dir, "l.npy");
    TAC_CHECK_OK(tac_npy_save_i64(pl, lab, 1, &s1));
    int64_t *l2;
    TAC_CHECK_OK(tac_npy_load_i64(pl, &l2, &r, &c));
    TAC_CHECK_INT(r, 4); TAC_CHECK_INT(c, 1);
    TAC_CHECK(memcmp(lab, l2, sizeof lab) == 0);
    free(l2);
    /* int64 is not a float array */
    TAC_CHECK_ERR(tac_npy_load_f32(pl, &y, &r, &c), "dtype must be float16, float32 or float64");
    /* truncated file */
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(p, &buf, &len));
    const char *pt = tac_test_path(dir, "t.npy");
    TAC_CHECK_OK(tac_write_file_atomic(pt, buf, len - 5));
    free(buf);
    TAC_CHECK_ERR(tac_npy_load_f32(pt, &y, &r, &c), "truncated");
    const char *pn = tac_test_path(dir, "n.npy");
    TAC_CHECK_OK(tac_write_file_atomic(pn, "hello", 5));
    TAC_CHECK_ERR(tac_npy_load_f32(pn, &y, &r, &c), "not a .npy file");
    TAC_CHECK_ERR(tac_npy_load_f32(tac_test_path(dir, "missing.npy"), &y, &r, &c), "cannot open");
    /* no temporary left behind */
    TAC_CHECK(access(tac_test_path(dir, "x.npy.tmp"), F_OK) != 0);
}

TAC_TEST(core_npy_reads_float16_and_float64)
{
    const char *dir = tac_test_tmpdir();
    /* float16 [1.0, -2.0, 0.5, 65504] hand-encoded; float64 [0.25, 3] */
    unsigned char h16[128] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }";
    size_t hl = 10 + 0x76;
    memset(h16 + 10 + strlen((char *)h16 + 10), ' ', hl - 10 - strlen((char *)h16 + 10));
    h16[hl - 1] = '\n';
    unsigned char data[8] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b};
    unsigned char file[256];
    memcpy(file, h16, hl); memcpy(file + hl, data, 8);
    const char *p = tac_test_path(dir, "h.npy");
    TAC_CHECK_OK(tac_write_file_atomic(p, file, hl + 8));
    float *y; int64_t r, c;
    TAC_CHECK_OK(tac_npy_load_f32(p, &y, &r, &c));
    TAC_CHECK_INT(r, 4);
    TAC_CHECK(y[0] == 1.0f && y[1] == -2.0f && y[2] == 0.5f && y[3] == 65504.0f);
    free(y);
}

TAC_TEST(core_check_finite_names_row)
{
    float x[6] = {0, 1, 2, 3, NAN, 5};
    TAC_CHECK_ERR(tac_check_finite("X.npy", x, 3, 2), "row 2 has a NaN");
    x[4] = 0;
    TAC_CHECK_OK(tac_check_finite("X.npy", x, 3, 2));
}

TAC_TEST(core_read_lines_and_normalize)
{
    const char *dir = tac_test_tmpdir();
    const char *p = tac_test_path(dir, "l.txt");
    TAC_CHECK_OK(tac_write_file_atomic(p, "a\r\n\nbc\nd", 8));
    char **lines; int64_t n;
    TAC_CHECK_OK(tac_read_lines(p, &lines, &n, 1));
    TAC_CHECK_INT(n, 3);
    TAC_CHECK(strcmp(lines[0], "a") == 0 && strcmp(lines[1], "bc") == 0 && strcmp(lines[2], "d") == 0);
    tac_free_strings(lines, n);
    float x[4] = {3, 4, 0, 0};
    tac_l2_normalize_rows(x, 2, 2);
    TAC_CHECK_NEAR(x[0], 0.6, 1e-7); TAC_CHECK_NEAR(x[1], 0.8, 1e-7);
    TAC_CHECK(x[2] == 0 && x[3] == 0);
}
