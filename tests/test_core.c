/* test_core.c - tests of the core layer: .npy round trips and error messages, mt19937 against the C++ standard's
 * known 10000th value, faiss-style rand_perm, atomic writes, line reading, row normalisation. */
#include "tac_test.h"
#include "app/tac_app.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
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
    /* faiss 1.7.3: p = np.zeros(10, 'int32'); faiss.rand_perm(faiss.swig_ptr(p), 10, 1234) */
    int64_t f[10], want[10] = {5, 4, 8, 2, 6, 9, 1, 7, 0, 3};
    tac_rand_perm(f, 10, 1234);
    TAC_CHECK(memcmp(f, want, sizeof f) == 0);
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
    /* no temporary left behind (they are named <path>.tmp.<pid>) */
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, "x.npy.tmp.%ld", (long)getpid());
    TAC_CHECK(access(tac_test_path(dir, tmpname), F_OK) != 0);
    DIR *dd = opendir(dir);
    TAC_REQUIRE(dd);
    for (struct dirent *de; (de = readdir(dd));) TAC_CHECK(!strstr(de->d_name, ".tmp."));
    closedir(dd);
}

TAC_TEST(core_npy_reads_float16_file)
{
    const char *dir = tac_test_tmpdir();
    /* float16 [1.0, -2.0, 0.5, 65504] hand-encoded (float64 and float16 specials: core_npy_parse_descrs_and_rejections) */
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

TAC_TEST(core_mkdir_p)
{
    const char *dir = tac_test_tmpdir();
    const char *p = tac_test_path(dir, "a/b/c");
    TAC_CHECK_OK(tac_mkdir_p(p));
    TAC_CHECK_OK(tac_mkdir_p(p));                   /* already there: fine */
    struct stat st;
    TAC_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    const char *f = tac_test_path(dir, "file");
    TAC_CHECK_OK(tac_write_file_atomic(f, "x", 1));
    TAC_CHECK_ERR(tac_mkdir_p(f), "exists and is not a folder");
    TAC_CHECK_ERR(tac_mkdir_p(tac_test_path(f, "sub")), "cannot create folder");
    TAC_CHECK_ERR(tac_mkdir_p(""), "empty name");   /* used to read past the end of the copy */
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

/* The header numpy 1.24 writes for a small array: 10 prefix bytes, the dict, spaces, '\n' = 128 bytes. */
static void expect_numpy_header(const char *path, const char *dict)
{
    char *buf; size_t len;
    TAC_CHECK_OK(tac_read_file(path, &buf, &len));
    char want[128];
    memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
    size_t dl = strlen(dict);
    memcpy(want + 10, dict, dl);
    memset(want + 10 + dl, ' ', 117 - dl);
    want[127] = '\n';
    TAC_CHECK(len >= 128 && memcmp(buf, want, 128) == 0);
    if (len < 128 || memcmp(buf, want, 128) != 0) fprintf(stderr, "  %s header: %.*s\n", path, (int)(len < 128 ? len : 128), buf);
    free(buf);
}

TAC_TEST(core_npy_save_header_as_numpy)
{
    const char *dir = tac_test_tmpdir();
    float f[5] = {1, 2, 3, 4, 5};
    int64_t s05[2] = {0, 5}, s5[1] = {5}, s30[2] = {3, 0}, s234[3] = {2, 3, 4};
    const char *p = tac_test_path(dir, "a.npy");
    TAC_CHECK_OK(tac_npy_save_f32(p, f, 2, s05));
    expect_numpy_header(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }");
    float *y; int64_t r, c;
    TAC_CHECK_OK(tac_npy_load_f32(p, &y, &r, &c));
    TAC_CHECK_INT(r, 0); TAC_CHECK_INT(c, 5);
    free(y);
    TAC_CHECK_OK(tac_npy_save_f32(p, f, 1, s5));
    expect_numpy_header(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }");
    TAC_CHECK_OK(tac_npy_load_f32(p, &y, &r, &c));
    TAC_CHECK_INT(r, 5); TAC_CHECK_INT(c, 1);
    TAC_CHECK(memcmp(y, f, sizeof f) == 0);
    free(y);
    int64_t *l;
    TAC_CHECK_OK(tac_npy_save_i64(p, NULL, 2, s30));
    expect_numpy_header(p, "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 0), }");
    TAC_CHECK_OK(tac_npy_load_i64(p, &l, &r, &c));
    TAC_CHECK_INT(r, 3); TAC_CHECK_INT(c, 0);
    free(l);
    float g[24];
    for (int i = 0; i < 24; i++) g[i] = (float)i;
    TAC_CHECK_OK(tac_npy_save_f32(p, g, 3, s234));
    expect_numpy_header(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }");
    TAC_CHECK_ERR(tac_npy_load_f32(p, &y, &r, &c), "more than 2 dimensions");
    TAC_CHECK_ERR(tac_npy_save_f32(p, g, 9, s234), "1 to 8 dimensions");
}

/* A version 1.0 .npy image in memory: prefix, the dict padded to 64 bytes, then `dlen` data bytes. */
static size_t make_npy(unsigned char *out /* >= 128 + dlen */, const char *dict, const void *data, size_t dlen)
{
    size_t n = strlen(dict), hl = ((10 + n + 1 + 63) / 64) * 64 - 10;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hl & 255); out[9] = (unsigned char)(hl >> 8);
    memcpy(out + 10, dict, n);
    memset(out + 10 + n, ' ', hl - n - 1);
    out[10 + hl - 1] = '\n';
    if (dlen) memcpy(out + 10 + hl, data, dlen);
    return 10 + hl + dlen;
}

TAC_TEST(core_npy_parse_descrs_and_rejections)
{
    unsigned char b[256];
    int64_t *l, r, c;
    float *y;
    unsigned char u[3] = {0, 7, 255};
    size_t n = make_npy(b, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u, 3);
    TAC_CHECK_OK(tac_npy_parse_i64(b, n, "u.npy", &l, &r, &c));
    TAC_CHECK_INT(r, 3); TAC_CHECK_INT(c, 1);
    TAC_CHECK(l[0] == 0 && l[1] == 7 && l[2] == 255);
    free(l);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "u.npy", &y, &r, &c), "u.npy: dtype must be float16, float32 or float64 (found uint8)");
    float f[2] = {1, 2};
    n = make_npy(b, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "be.npy", &y, &r, &c), "be.npy: big-endian dtype '>f4' is not supported; save it little-endian");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "fo.npy", &y, &r, &c), "fo.npy: Fortran-order");
    /* 'fortran_order' without a ':' used to dereference NULL (found in review) */
    n = make_npy(b, "{'descr': '<f4', 'fortran_order'}", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "m.npy", &y, &r, &c), "m.npy: malformed .npy header");
    /* a shape whose byte count wraps around 2^64 (2^61 x 8 bytes) must be refused, not allocated */
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "big.npy", &y, &r, &c), "big.npy: truncated");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967297), }", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "big.npy", &y, &r, &c), "big.npy: ");
    uint64_t big = UINT64_MAX;
    n = make_npy(b, "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", &big, 8);
    TAC_CHECK_ERR(tac_npy_parse_i64(b, n, "u8.npy", &l, &r, &c), "u8.npy: value at position 0 does not fit in int64");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", f, 8);
    TAC_CHECK_ERR(tac_npy_parse_f32(b, n, "sp.npy", &y, &r, &c), "sp.npy: malformed shape");
    /* float64, float16 specials (smallest subnormal, -0, inf) and integer dtypes as labels */
    double d[2] = {0.25, 3};
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", d, 16);
    TAC_CHECK_OK(tac_npy_parse_f32(b, n, "d.npy", &y, &r, &c));
    TAC_CHECK(r == 2 && y[0] == 0.25f && y[1] == 3.0f);
    free(y);
    uint16_t h[4] = {0x0001, 0x8000, 0x7c00, 0x03ff};
    n = make_npy(b, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", h, 8);
    TAC_CHECK_OK(tac_npy_parse_f32(b, n, "h.npy", &y, &r, &c));
    TAC_CHECK(y[0] == ldexpf(1, -24) && y[1] == 0 && signbit(y[1]) && isinf(y[2]) && y[3] == ldexpf(1023, -24));
    free(y);
    int8_t i8[3] = {-128, -1, 127};
    n = make_npy(b, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", i8, 3);
    TAC_CHECK_OK(tac_npy_parse_i64(b, n, "i8.npy", &l, &r, &c));
    TAC_CHECK(l[0] == -128 && l[1] == -1 && l[2] == 127);
    free(l);
    d[0] = 2.5;
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", d, 16);
    TAC_CHECK_ERR(tac_npy_parse_i64(b, n, "f.npy", &l, &r, &c), "f.npy: value 2.5 at position 0 is not an integer label");
    /* the buffer's length bounds the header too */
    TAC_CHECK_ERR(tac_npy_parse_f32(b, 40, "cut.npy", &y, &r, &c), "cut.npy: truncated .npy header");
}

/* The program's progress printer (src/app/tac_console.c) on a non-terminal, driven with its own clock: nothing
 * before 5 s, then a line at most every 5 s, and a closing "took" line. */
TAC_TEST(core_progress_non_tty_every_5s)
{
    const char *log = tac_test_path(tac_test_tmpdir(), "progress.log");
    FILE *f = fopen(log, "w");
    TAC_REQUIRE(f);
    tac_console_bar b;
    memset(&b, 0, sizeof b);                          /* tty = 0 */
    double t = 1000;
    tac_console_bar_feed(&b, f, "steps", 0, 10, t);   /* begin */
    tac_console_bar_feed(&b, f, "steps", 1, 10, t + 2);     /* 2 s in: nothing yet on a non-terminal */
    tac_console_bar_feed(&b, f, "steps", 3, 10, t + 6);     /* 6 s in: the first line */
    tac_console_bar_feed(&b, f, "steps", 4, 10, t + 6.1);   /* right after: nothing */
    tac_console_bar_feed(&b, f, "steps", 6, 10, t + 11.5);  /* 5 s after the last line: a second line */
    tac_console_bar_feed(&b, f, "steps", 10, 10, t + 12);   /* end: the closing line */
    tac_console_bar_feed(&b, f, "quick", 0, 5, t + 20);     /* a task that ends within 5 s shows nothing */
    tac_console_bar_feed(&b, f, "quick", 5, 5, t + 24);
    fclose(f);
    char **lines; int64_t n;
    TAC_CHECK_OK(tac_read_lines(log, &lines, &n, 1));
    TAC_CHECK_INT(n, 3);
    if (n == 3) {
        TAC_CHECK(strncmp(lines[0], "taclust: steps: 3/10 (30%), 0.5/s, ETA 14s", 42) == 0);
        TAC_CHECK(strncmp(lines[1], "taclust: steps: 6/10 (60%), ", 28) == 0);
        TAC_CHECK(strcmp(lines[2], "taclust: steps: 10/10 (100%), 0.8/s, took 12s") == 0);
    }
    tac_free_strings(lines, n);
}

/* On a terminal: a bar from 1 s on; a message in between ends the bar's line and the bar is drawn again after
 * it; a download resumed at 40 MB counts its rate from there. */
TAC_TEST(core_progress_tty_bar)
{
    const char *log = tac_test_path(tac_test_tmpdir(), "bar.log");
    FILE *f = fopen(log, "w");
    TAC_REQUIRE(f);
    tac_console_bar b;
    memset(&b, 0, sizeof b);
    b.tty = 1;
    tac_console_bar_feed(&b, f, "k-means", 0, 100, 0);
    tac_console_bar_feed(&b, f, "k-means", 10, 100, 0.5);    /* before 1 s: nothing */
    tac_console_bar_feed(&b, f, "k-means", 50, 100, 2);      /* drawn */
    TAC_CHECK(b.open && b.shown);
    tac_console_bar_feed(&b, f, "k-means", 100, 100, 4);     /* closing bar and newline */
    TAC_CHECK(!b.open && !b.active);
    b.bytes = 1;
    tac_console_bar_feed(&b, f, "downloading org/m", 40000000, 100000000, 10);
    tac_console_bar_feed(&b, f, "downloading org/m", 60000000, 100000000, 12);   /* 20 MB in 2 s: 10 MB/s */
    fclose(f);
    char *text; size_t len;
    TAC_CHECK_OK(tac_read_file(log, &text, &len));
    TAC_CHECK(strstr(text, "\rk-means                [###############...............]  50% 50/100 25.0/s ETA 2s\033[K") != NULL);
    TAC_CHECK(strstr(text, "] 100% 100/100 25.0/s in 4s\033[K\n") != NULL);
    TAC_CHECK(strstr(text, "10%") == NULL);
    TAC_CHECK(strstr(text, "\rdownloading org/m [##################............]  60% 60.0/100.0 MB 10.0 MB/s ETA 4s") != NULL);
    free(text);
}
