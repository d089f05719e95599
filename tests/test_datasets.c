/* test_datasets.c - tests of the benchmark dataset readers (src/app/tac_datasets.c), the safe pickle reader
 * (tac_pickle.c) and the UCF-101 middle-frame decoder (tac_video.c), on the fake datasets that
 * tools/gen_datasets_fixtures.py writes into tests/fixtures/datasets/ (Python's own pickle + numpy, a hand-built
 * Python 2 cPickle stream, Pillow JPEGs, ffmpeg-encoded AVI clips). The pixel and label formulas below are the
 * generator's; the generator builds HWC images and lets numpy transpose them to CIFAR's planes, so a layout
 * mistake in C shows up as a pixel mismatch. */
#include "tac_test.h"
#include "app/tac_app.h"
#include "core/tac_pickle.h"

#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/datasets"

static int cifar_pixel(int f, int r, int y, int x, int c) { return (37 * r + 5 * y + 3 * x + 101 * c + 13 * f) % 256; }

/* Counts the pixels of rows [lo, lo+n) of s that differ from the formula for file f (row r = i - lo). */
static long cifar_mismatches(const tac_split *s, int64_t lo, int n, int f)
{
    long bad = 0;
    for (int r = 0; r < n; r++) {
        const uint8_t *img = s->pixels + (size_t)(lo + r) * 32 * 32 * 3;   /* 32 x 32 x 3 */
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++) bad += img[(y * 32 + x) * 3 + c] != cifar_pixel(f, r, y, x, c);
    }
    return bad;
}

TAC_TEST(datasets_cifar10_python_all_pickle_forms)
{
    /* data_batch_1: protocol 2, str keys; 2: protocol 2, bytes keys; 3: hand-built Python 2 (BINSTRING);
     * 4: protocol 4; 5: protocol 5 (_frombuffer + BYTEARRAY8); test_batch: protocol 3, bytes keys */
    const char *dirs[2] = {FIX "/cifar10py", FIX "/cifar10py/cifar-10-batches-py"};
    for (int d = 0; d < 2; d++) {
        tac_split tr, te;
        TAC_CHECK_OK(tac_dataset_load("cifar10", dirs[d], &tr, &te));
        TAC_CHECK_INT(tr.n, 15);
        TAC_CHECK_INT(te.n, 4);
        TAC_REQUIRE(tr.pixels && te.pixels && tr.w == 32 && tr.h == 32 && te.w == 32);
        for (int f = 1; f <= 5; f++) {
            TAC_CHECK_INT(cifar_mismatches(&tr, 3 * (f - 1), 3, f), 0);
            for (int r = 0; r < 3; r++) TAC_CHECK_INT(tr.labels[3 * (f - 1) + r], (3 * r + f) % 10);
        }
        TAC_CHECK_INT(cifar_mismatches(&te, 0, 4, 0), 0);
        for (int r = 0; r < 4; r++) TAC_CHECK_INT(te.labels[r], (3 * r) % 10);
        TAC_CHECK(strcmp(tr.paths[7], "data_batch_3#1") == 0);
        tac_split_free(&tr); tac_split_free(&te);
    }
}

TAC_TEST(datasets_cifar20_python_coarse_labels)
{
    tac_split tr, te;
    TAC_CHECK_OK(tac_dataset_load("cifar20", FIX "/cifar100py", &tr, &te));
    TAC_CHECK_INT(tr.n, 5);
    TAC_CHECK_INT(te.n, 4);
    TAC_CHECK_INT(cifar_mismatches(&tr, 0, 5, 1), 0);
    TAC_CHECK_INT(cifar_mismatches(&te, 0, 4, 0), 0);
    for (int r = 0; r < 5; r++) TAC_CHECK_INT(tr.labels[r], (3 * r + 1) % 20);   /* coarse, not fine (7r+1)%100 */
    for (int r = 0; r < 4; r++) TAC_CHECK_INT(te.labels[r], (3 * r) % 20);
    tac_split_free(&tr); tac_split_free(&te);
}

TAC_TEST(datasets_cifar_python_errors_name_the_file)
{
    const char *dir = tac_test_tmpdir();
    TAC_REQUIRE(tac_test_sh("cp -r %s/cifar10py/cifar-10-batches-py %s/ && cp %s/pickle/nolabels.pkl %s/cifar-10-batches-py/data_batch_3",
                            FIX, dir, FIX, dir) == 0);
    tac_split tr, te;
    TAC_CHECK_ERR(tac_dataset_load("cifar10", dir, &tr, &te), "data_batch_3: pickle has no 'labels'");
    TAC_CHECK(tr.n == 0 && tr.pixels == NULL);
    TAC_REQUIRE(tac_test_sh("cp %s/pickle/truncated.pkl %s/cifar-10-batches-py/data_batch_3", FIX, dir) == 0);
    TAC_CHECK_ERR(tac_dataset_load("cifar10", dir, &tr, &te), "data_batch_3: truncated pickle");
    /* fine labels (up to 99) where cifar10 expects < 10 */
    TAC_REQUIRE(tac_test_sh("cp %s/pickle/badcount.pkl %s/cifar-10-batches-py/data_batch_3", FIX, dir) == 0);
    TAC_CHECK_ERR(tac_dataset_load("cifar10", dir, &tr, &te), "data_batch_3: 'data' has 2 rows but 'labels' has 3 labels");
}

static int load_fixture(const char *name, char **buf, size_t *len)
{
    char p[512];
    snprintf(p, sizeof p, FIX "/pickle/%s", name);
    return tac_read_file(p, buf, len);
}

TAC_TEST(datasets_pickle_values_every_protocol)
{
    const int64_t want[9] = {1, -2, 255, 300, 65535, 70000, -(INT64_C(1) << 31), -(INT64_C(1) << 40), INT64_C(1) << 62};
    for (int proto = 1; proto <= 5; proto++) {   /* 1: text INT for True, MARK-built tuples */
        char name[32]; char *buf; size_t len;
        snprintf(name, sizeof name, "values_p%d.pkl", proto);
        TAC_CHECK_OK(load_fixture(name, &buf, &len));
        tac_pickle *p;
        TAC_CHECK_OK(tac_pickle_parse(buf, len, name, &p));
        const tac_pyval *root = tac_pickle_root(p);
        TAC_CHECK(tac_py_is_dict(root));
        int64_t *a = NULL, n = 0;
        TAC_CHECK_OK(tac_py_int_list(tac_py_dict_get(root, "a"), name, "a", &a, &n));
        TAC_CHECK_INT(n, 9);
        for (int i = 0; i < 9 && i < n; i++) TAC_CHECK_INT(a[i], want[i]);
        free(a);
        int64_t *d = NULL;
        TAC_CHECK_OK(tac_py_int_list(tac_py_dict_get(root, "d"), name, "d", &d, &n));   /* a bytes key */
        TAC_CHECK(n == 1 && d[0] == 7);
        free(d);
        TAC_CHECK(tac_py_dict_get(root, "zz") == NULL);
        TAC_CHECK_ERR(tac_py_int_list(tac_py_dict_get(root, "c"), name, "c", &a, &n), "'c' item 0 is not an integer");
        tac_pickle_free(p);
        free(buf);
    }
}

TAC_TEST(datasets_pickle_errors)
{
    struct { const char *file, *err; } cases[] = {
        {"nolabels.pkl", "nolabels.pkl: pickle has no 'labels'"},
        {"truncated.pkl", "truncated.pkl: truncated pickle"},
        {"list.pkl", "list.pkl: pickle does not hold a dict"},
        {"float64.pkl", "float64.pkl: pickle entry 'data' has dtype f8, expected uint8 (u1)"},
        {"badcount.pkl", "'data' has 2 rows but 'labels' has 3 labels"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *buf; size_t len;
        TAC_CHECK_OK(load_fixture(cases[k].file, &buf, &len));
        int64_t *lab, n; uint8_t *px;
        TAC_CHECK_ERR(tac_pickle_cifar_batch(buf, len, cases[k].file, "labels", &lab, &px, &n), cases[k].err);
        free(buf);
    }
    tac_pickle *p;
#define PK(lit, what) tac_pickle_parse(lit, sizeof(lit) - 1, what, &p)
    TAC_CHECK_ERR(tac_pickle_parse("", 0, "empty", &p), "empty: truncated pickle");
    TAC_CHECK_ERR(PK("\x80\x02Qx.", "pid"), "pickle opcode 0x51 at byte 2 is not supported");
    TAC_CHECK_ERR(PK("\x80\x02h\x05.", "memo"), "reads memo 5 which was never stored");
    TAC_CHECK_ERR(PK("\x80\x02T\xff\xff\xff\x7f.", "big"), "big: truncated pickle");
    TAC_CHECK_ERR(PK("\x80\x02" "a.", "under"), "stack underflow");
    TAC_CHECK_ERR(PK("\x80\x02]K\x01", "nostop"), "nostop: truncated pickle (no STOP");
    TAC_CHECK_ERR(PK("\x80\x06N.", "proto"), "protocol 6 is not supported");
    /* os.system('ls') is recorded, never run: the result is an inert object, so not a CIFAR batch */
    static const char evil[] = "\x80\x02" "cos\nsystem\nU\x02ls\x85R.";
    TAC_CHECK_OK(tac_pickle_parse(evil, sizeof evil - 1, "evil", &p));
    TAC_CHECK(!tac_py_is_dict(tac_pickle_root(p)));
    tac_pickle_free(p);
    int64_t *lab, n; uint8_t *px;
    TAC_CHECK_ERR(tac_pickle_cifar_batch(evil, sizeof evil - 1, "evil", "labels", &lab, &px, &n), "evil: pickle does not hold a dict");
#undef PK
}

/* Every prefix and many single-byte corruptions of real pickles must give either a value or an error. */
TAC_TEST(datasets_pickle_survives_truncation_and_corruption)
{
    const char *files[] = {FIX "/cifar10py/cifar-10-batches-py/data_batch_3", FIX "/cifar10py/cifar-10-batches-py/data_batch_4",
                           FIX "/cifar10py/cifar-10-batches-py/data_batch_1", FIX "/pickle/values_p5.pkl"};
    long errors = 0, oks = 0;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char *buf; size_t len;
        TAC_CHECK_OK(tac_read_file(files[k], &buf, &len));
        for (size_t cut = 0; cut < len; cut += (len > 4000 ? 61 : 1)) {
            int64_t *lab, n; uint8_t *px;
            TAC_CHECK(tac_pickle_cifar_batch(buf, cut, "cut", "labels", &lab, &px, &n) == TAC_ERR);
            errors++;
        }
        uint8_t *m = tac_xmalloc(len, 1);
        const uint8_t flips[3] = {0x00, 0xff, 0x28};
        for (size_t pos = 0; pos < len; pos += (pos < 400 ? 1 : 397)) {   /* every byte of the structure, some pixels */
            for (int f = 0; f < 3; f++) {
                memcpy(m, buf, len);
                m[pos] = flips[f];
                int64_t *lab = NULL, n; uint8_t *px = NULL;
                if (tac_pickle_cifar_batch(m, len, "flip", "labels", &lab, &px, &n) == TAC_OK) { oks++; free(lab); free(px); }
            }
        }
        free(m);
        free(buf);
    }
    TAC_CHECK(errors > 500);
    TAC_CHECK(oks > 0);   /* flips inside the pixel bytes still parse */
}

TAC_TEST(datasets_dtd_split1)
{
    tac_split tr, te;
    TAC_CHECK_OK(tac_dataset_load("dtd", FIX "/dtd", &tr, &te));
    TAC_CHECK_INT(tr.n, 6);   /* train1 + val1 */
    TAC_CHECK_INT(te.n, 3);
    TAC_REQUIRE(tr.nclasses == 3 && te.nclasses == 3);
    TAC_CHECK(!strcmp(tr.class_names[0], "banded") && !strcmp(tr.class_names[2], "zigzagged"));
    const int64_t want[6] = {2, 1, 0, 2, 1, 0};   /* the lists are in reverse class order */
    for (int i = 0; i < 6; i++) TAC_CHECK_INT(tr.labels[i], want[i]);
    TAC_CHECK(!strcmp(tr.paths[0], FIX "/dtd/images/zigzagged/zigzagged_0001.jpg"));
    TAC_CHECK(!strcmp(tr.paths[4], FIX "/dtd/images/dotted/dotted_0002.jpg"));
    TAC_CHECK(!strcmp(te.paths[2], FIX "/dtd/images/banded/banded_0003.jpg"));
    for (int i = 0; i < 6; i++) TAC_CHECK(access(tr.paths[i], R_OK) == 0);
    TAC_CHECK(tr.pixels == NULL);
    tac_split_free(&tr); tac_split_free(&te);
}

TAC_TEST(datasets_imagenet10_wnid_filter)
{
    tac_split tr, te;
    TAC_CHECK_OK(tac_dataset_load("imagenet10", FIX "/imagenet", &tr, &te));
    TAC_REQUIRE(tr.nclasses == 3 && te.nclasses == 3);   /* n01440764 (tench) is not an ImageNet-10 class */
    TAC_CHECK(!strcmp(tr.class_names[0], "n02056570") && !strcmp(tr.class_names[1], "n03095699") &&
              !strcmp(tr.class_names[2], "n07747607"));
    TAC_CHECK_INT(tr.n, 6);   /* README.txt is skipped */
    TAC_CHECK_INT(te.n, 3);
    for (int i = 0; i < 6; i++) TAC_CHECK_INT(tr.labels[i], i / 2);
    TAC_CHECK(!strcmp(te.paths[1], FIX "/imagenet/val/n03095699/ILSVRC2012_val_00000021.JPEG"));
    tac_split_free(&tr); tac_split_free(&te);
    TAC_CHECK_OK(tac_dataset_load("imagenet1k", FIX "/imagenet", &tr, &te));
    TAC_CHECK_INT(tr.nclasses, 4);
    TAC_CHECK_INT(tr.n, 8);
    tac_split_free(&tr); tac_split_free(&te);
    TAC_CHECK_ERR(tac_dataset_load("imagenet-dogs", FIX "/imagenet", &tr, &te), "no class folders found");
}

/* ---- UCF-101 --------------------------------------------------------------------------------------------- */
static void ucf_colour(int k, int rgb[3]) { rgb[0] = k * 28 % 256; rgb[1] = ((255 - k * 45) % 256 + 256) % 256; rgb[2] = k * 90 % 256; }

static int max_diff_to(const uint8_t *img, int npix, const int rgb[3])
{
    int m = 0;
    for (int i = 0; i < npix; i++)
        for (int c = 0; c < 3; c++) { int d = abs(img[3 * i + c] - rgb[c]); if (d > m) m = d; }
    return m;
}

TAC_TEST(datasets_ucf101_middle_frames)
{
    const char *clip = FIX "/ucf101/UCF-101/Basketball/v_Basketball_g09_c01.avi";
    if (!tac_video_available()) {
        tac_split tr, te;
        TAC_CHECK_ERR(tac_dataset_load("ucf101", FIX "/ucf101", &tr, &te), "built without FFmpeg");
        TAC_SKIP("built without FFmpeg (WITH_FFMPEG=0 or libavformat-dev missing): only the error was checked");
    }
    /* direct decode: 10 frames, class 1, group 9 -> frame 5 has colour 5 + 3 + 4 */
    uint8_t *rgb; int w, h, col[3];
    TAC_CHECK_OK(tac_video_middle_frame(clip, &rgb, &w, &h));
    TAC_REQUIRE(w == 32 && h == 24);
    ucf_colour(5 + 3 + 4, col);
    TAC_CHECK(max_diff_to(rgb, w * h, col) <= 12);
    int nb[3];
    ucf_colour(4 + 3 + 4, nb);
    TAC_CHECK(max_diff_to(rgb, w * h, nb) > 20);   /* not the frame before */
    free(rgb);
    TAC_CHECK_ERR(tac_video_middle_frame(FIX "/dtd/labels/test1.txt", &rgb, &w, &h), "test1.txt: ");

    const char *cache = tac_test_tmpdir();
    setenv("TACLUST_FRAME_CACHE", cache, 1);
    tac_split tr, te;
    int rc = tac_dataset_load("ucf101", FIX "/ucf101", &tr, &te);
    TAC_CHECK(rc == TAC_OK);
    if (rc != TAC_OK) { fprintf(stderr, "  %s\n", tac_last_error()); unsetenv("TACLUST_FRAME_CACHE"); return; }
    TAC_CHECK_INT(tr.n, 4);
    TAC_CHECK_INT(te.n, 2);
    TAC_REQUIRE(tr.nclasses == 2);
    TAC_CHECK(!strcmp(tr.class_names[1], "Basketball"));
    const int64_t wl[4] = {0, 0, 1, 1}, wt[2] = {0, 1};
    for (int i = 0; i < 4; i++) TAC_CHECK_INT(tr.labels[i], wl[i]);
    for (int i = 0; i < 2; i++) TAC_CHECK_INT(te.labels[i], wt[i]);
    char want[1024];
    snprintf(want, sizeof want, "%s/Basketball/v_Basketball_g01_c01.png", cache);
    TAC_CHECK(!strcmp(te.paths[1], want));
    /* each cached PNG holds its clip's middle frame: groups 8, 9 (train) and 1 (test) have 9, 10, 9 frames */
    const int groups[3] = {8, 9, 1}, frames[3] = {9, 10, 9};
    struct stat st0;
    TAC_REQUIRE(stat(te.paths[1], &st0) == 0);
    for (int i = 0; i < 6; i++) {
        const char *path = i < 4 ? tr.paths[i] : te.paths[i - 4];
        int ci = i < 4 ? i / 2 : i - 4, g = i < 4 ? i % 2 : 2;
        png_image im;
        memset(&im, 0, sizeof im);
        im.version = PNG_IMAGE_VERSION;
        TAC_REQUIRE(png_image_begin_read_from_file(&im, path));
        im.format = PNG_FORMAT_RGB;
        uint8_t px[32 * 24 * 3];
        TAC_REQUIRE(im.width == 32 && im.height == 24 && png_image_finish_read(&im, NULL, px, 0, NULL));
        ucf_colour(frames[g] / 2 + 3 * ci + groups[g] % 5, col);
        TAC_CHECK(max_diff_to(px, 32 * 24, col) <= 12);
    }
    tac_split_free(&tr); tac_split_free(&te);
    /* a second load reuses the cached frames */
    usleep(20000);
    TAC_CHECK_OK(tac_dataset_load("ucf101", FIX "/ucf101", &tr, &te));
    struct stat st1;
    TAC_CHECK(stat(want, &st1) == 0 && st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec && st1.st_mtim.tv_sec == st0.st_mtim.tv_sec);
    tac_split_free(&tr); tac_split_free(&te);

    /* a list that names a class classInd.txt does not have, and a missing clip */
    const char *d2 = tac_test_path(cache, "ucf2");
    TAC_REQUIRE(tac_test_sh("mkdir -p %s && cp -r %s/ucf101/ucfTrainTestlist %s/ && ln -s $(pwd)/%s/ucf101/UCF-101 %s/UCF-101 && "
                            "printf 'Juggling/v_Juggling_g01_c01.avi\\n' >> %s/ucfTrainTestlist/testlist01.txt",
                            d2, FIX, d2, FIX, d2, d2) == 0);
    TAC_CHECK_ERR(tac_dataset_load("ucf101", d2, &tr, &te), "testlist01.txt: line 3: class 'Juggling' is not in classInd.txt");
    TAC_REQUIRE(tac_test_sh("printf '1 ApplyEyeMakeup\\n2 Basketball\\n3 Juggling\\n' > %s/ucfTrainTestlist/classInd.txt", d2) == 0);
    TAC_CHECK_ERR(tac_dataset_load("ucf101", d2, &tr, &te), "v_Juggling_g01_c01.avi");
    unsetenv("TACLUST_FRAME_CACHE");
}
