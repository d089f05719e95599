/* tac_datasets.c - the benchmark datasets of tac-method.md section 10, read in their usual distributed forms,
 * for `taclust bench`.
 *
 *   cifar10       cifar-10-batches-bin/ (data_batch_1..5.bin, test_batch.bin), the python version
 *                 cifar-10-batches-py/ (data_batch_1..5, test_batch: pickles, read by tac_pickle.c), or JPEG
 *                 folders train/ test/
 *   cifar20       cifar-100-binary/ (train.bin, test.bin) or cifar-100-python/ (train, test pickles); the coarse
 *                 label = the standard 20 superclasses
 *   stl10         stl10_binary/ (train_X.bin, train_y.bin, test_X.bin, test_y.bin; 96x96, column-major planes)
 *   imagenet10, imagenet-dogs, imagenet1k   ImageFolder train/ and val/ (class lists of section 10 built in;
 *                 folders of other classes are ignored)
 *   dtd           images/<class>/ with labels/train1.txt, val1.txt, test1.txt (split 1: trainval / test)
 *   ucf101        the videos UCF-101/<Class>/v_<Class>_gXX_cYY.avi with ucfTrainTestlist/ (classInd.txt,
 *                 trainlist01.txt / testlist01.txt = split 1): the middle frame of each clip is decoded once
 *                 (tac_video.c, needs the FFmpeg build) into a PNG cache, $TACLUST_FRAME_CACHE or
 *                 ~/.cache/taclust/ucf101-middle-frames/<Class>/<clip>.png; or frames already extracted as
 *                 ImageFolder train/ and val/
 * A JPEG-folder layout (DIR/train/CLASS/..., DIR/test or val/CLASS/...) is accepted for every dataset.
 * Items are either a file path or an in-memory RGB image (the binary formats).
 */
#include "app/tac_app.h"
#include "core/tac_pickle.h"
#include "taclust/pipeline.h"
#include "taclust/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const imagenet10_wnids[] = {
    "n02056570", "n02085936", "n02128757", "n02690373", "n02692877",
    "n03095699", "n04254680", "n04285008", "n04467665", "n07747607", NULL};
static const char *const imagenet_dogs_wnids[] = {
    "n02085936", "n02086646", "n02088238", "n02091467", "n02097130", "n02099601", "n02101388", "n02101556",
    "n02102177", "n02105056", "n02105412", "n02105855", "n02107142", "n02110958", "n02112137", NULL};

/* The program's side of each section 10 dataset: the resize and the paper's figures. The names and K come from
 * the library's preset table (tac_fit_preset_get), the one list of TAC's datasets. */
static const struct { const char *name; int resize; double kmeans[3], notrain[3], tac[3]; } dataset_table[] = {
    /* name, resize, paper: kmeans nmi/acc/ari, no-train, tac */
    {"stl10", 224, {91.7, 94.3, 89.1}, {92.3, 94.5, 89.5}, {95.5, 98.2, 96.1}},
    {"cifar10", 224, {70.3, 74.2, 61.6}, {80.8, 90.1, 79.8}, {84.1, 92.3, 83.9}},
    {"cifar20", 224, {49.9, 45.5, 28.3}, {60.7, 55.8, 42.7}, {61.1, 60.7, 44.8}},
    {"imagenet10", 256, {96.9, 98.2, 96.1}, {97.5, 98.6, 97.0}, {98.5, 99.2, 98.3}},
    {"imagenet-dogs", 256, {39.8, 38.1, 20.1}, {75.1, 75.1, 63.6}, {80.6, 83.0, 72.2}},
    {"dtd", 224, {57.3, 42.6, 27.4}, {60.1, 45.9, 29.0}, {62.1, 50.1, 34.4}},
    {"ucf101", 224, {79.5, 58.2, 47.6}, {81.6, 61.3, 52.4}, {82.3, 68.7, 60.1}},
    {"imagenet1k", 256, {72.3, 38.9, 27.1}, {77.8, 48.9, 36.4}, {79.9, 58.2, 43.5}},
};
#define NDATASETS ((int)(sizeof dataset_table / sizeof dataset_table[0]))

const tac_dataset_info *tac_dataset_find(const char *name)
{
    static tac_dataset_info info[NDATASETS];
    for (int i = 0; i < NDATASETS; i++) {
        if (strcmp(dataset_table[i].name, name) != 0) continue;
        const tac_fit_preset_info *q = tac_fit_preset_get(name);
        if (!q) return NULL;
        tac_dataset_info *d = &info[i];
        d->name = dataset_table[i].name;
        d->K = q->K;
        d->resize = dataset_table[i].resize;
        memcpy(d->paper_kmeans, dataset_table[i].kmeans, sizeof d->paper_kmeans);
        memcpy(d->paper_notrain, dataset_table[i].notrain, sizeof d->paper_notrain);
        memcpy(d->paper_tac, dataset_table[i].tac, sizeof d->paper_tac);
        return d;
    }
    return NULL;
}

const char *tac_dataset_names(void)
{
    return tac_fit_preset_names();
}

/* ---- split building ---------------------------------------------------------------------------------- */
static void split_push(tac_split *s, char *path, const uint8_t *rgb, int w, int h, int64_t label)
{
    int grow = s->n == s->cap;
    if (grow) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->paths = tac_xrealloc(s->paths, (size_t)s->cap, sizeof(char *));
        s->labels = tac_xrealloc(s->labels, (size_t)s->cap, sizeof(int64_t));
    }
    s->paths[s->n] = path;
    s->labels[s->n] = label;
    if (rgb) {
        size_t per = (size_t)w * h * 3;
        if (!s->pixels || grow) s->pixels = tac_xrealloc(s->pixels, (size_t)s->cap, per);   /* only when cap grows */
        if (s->n == 0) { s->w = w; s->h = h; }
        memcpy(s->pixels + (size_t)s->n * per, rgb, per);
    }
    s->n++;
}

void tac_split_free(tac_split *s)
{
    if (s->paths) for (int64_t i = 0; i < s->n; i++) free(s->paths[i]);
    free(s->paths); free(s->labels); free(s->pixels);
    tac_free_strings(s->class_names, s->nclasses);
    memset(s, 0, sizeof *s);
}

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir_sorted(const char *dir, int want_dirs, char ***out, int64_t *n)
{
    DIR *d = opendir(dir);
    if (!d) return tac_fail("%s: cannot open folder: %s", dir, strerror(errno));
    int64_t cap = 64, cnt = 0;
    char **names = tac_xmalloc((size_t)cap, sizeof(char *));
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (want_dirs ? !is_dir(p) : !is_file(p)) continue;
        if (cnt == cap) { cap *= 2; names = tac_xrealloc(names, (size_t)cap, sizeof(char *)); }
        names[cnt++] = tac_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)cnt, sizeof(char *), cmp_str);
    *out = names; *n = cnt;
    return TAC_OK;
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") || !strcasecmp(dot, ".webp");
}

/* ImageFolder: classes = sorted subfolders (restricted to `only` when given, in sorted order), label = index. */
static int read_image_folder(const char *dir, const char *const *only, tac_split *s)
{
    char **classes; int64_t nc;
    if (list_dir_sorted(dir, 1, &classes, &nc) != TAC_OK) return TAC_ERR;
    int64_t kept = 0;
    for (int64_t c = 0; c < nc; c++) {
        int keep = !only;
        for (int j = 0; only && only[j]; j++) if (strcmp(only[j], classes[c]) == 0) keep = 1;
        if (!keep) { free(classes[c]); continue; }
        classes[kept++] = classes[c];
    }
    if (kept == 0) { tac_free_strings(classes, kept); return tac_fail("%s: no class folders found", dir); }
    s->class_names = classes; s->nclasses = kept;
    for (int64_t c = 0; c < kept; c++) {
        char cdir[4096];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, classes[c]);
        char **files = NULL; int64_t nf = 0;
        if (list_dir_sorted(cdir, 0, &files, &nf) != TAC_OK) return TAC_ERR;
        for (int64_t f = 0; f < nf; f++) {
            if (has_image_ext(files[f])) {
                size_t L = strlen(cdir) + strlen(files[f]) + 2;
                char *p = tac_xmalloc(L, 1);
                snprintf(p, L, "%s/%s", cdir, files[f]);
                split_push(s, p, NULL, 0, 0, c);
            }
        }
        tac_free_strings(files, nf);
    }
    if (s->n == 0) return tac_fail("%s: no images found", dir);
    return TAC_OK;
}

/* CIFAR binary: records of `lab_bytes` label bytes (label taken from byte `lab_at`, below nclasses) + 3072 bytes
 * (R, G, B planes). */
static int read_cifar_bin(const char *path, int lab_bytes, int lab_at, int nclasses, tac_split *s)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return TAC_ERR;
    size_t rec = (size_t)lab_bytes + 3072;
    if (len == 0 || len % rec) { free(buf); return tac_fail("%s: size %zu is not a whole number of %zu-byte CIFAR records", path, len, rec); }
    uint8_t rgb[32 * 32 * 3];
    for (size_t r = 0; r < len / rec; r++) {
        const uint8_t *p = (const uint8_t *)buf + r * rec;
        int lab = p[lab_at];
        if (lab >= nclasses) {
            free(buf);
            return tac_fail("%s: label %d of record %zu is not below %d (not a CIFAR file of this dataset?)", path,
                            lab, r, nclasses);
        }
        for (int i = 0; i < 1024; i++)
            for (int ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = p[lab_bytes + ch * 1024 + i];
        char name[64];
        snprintf(name, sizeof name, "%.40s#%zu", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, r);
        split_push(s, tac_xstrdup(name), rgb, 32, 32, p[lab_at]);
    }
    free(buf);
    return TAC_OK;
}

/* STL-10 binary: X is N x 3 x 96 x 96 with each plane stored column-major; y holds labels 1..10. */
static int read_stl_bin(const char *xpath, const char *ypath, tac_split *s)
{
    char *xb, *yb; size_t xl, yl;
    if (tac_read_file(xpath, &xb, &xl) != TAC_OK) return TAC_ERR;
    if (tac_read_file(ypath, &yb, &yl) != TAC_OK) { free(xb); return TAC_ERR; }
    const size_t per = 3 * 96 * 96;
    if (xl % per || xl / per != yl) {
        free(xb); free(yb);
        return tac_fail("%s: %zu images but %s has %zu labels", xpath, xl / per, ypath, yl);
    }
    uint8_t *rgb = tac_xmalloc(per, 1);
    for (size_t r = 0; r < yl; r++) {
        const uint8_t *p = (const uint8_t *)xb + r * per;
        for (int ch = 0; ch < 3; ch++)
            for (int x = 0; x < 96; x++)
                for (int y = 0; y < 96; y++) rgb[(y * 96 + x) * 3 + ch] = p[ch * 9216 + x * 96 + y];
        uint8_t lab = (uint8_t)yb[r];
        if (lab < 1 || lab > 10) { free(rgb); free(xb); free(yb); return tac_fail("%s: label %d at row %zu is not in 1..10", ypath, lab, r); }
        char name[64];
        snprintf(name, sizeof name, "%s#%zu", strrchr(xpath, '/') ? strrchr(xpath, '/') + 1 : xpath, r);
        split_push(s, tac_xstrdup(name), rgb, 96, 96, lab - 1);
    }
    free(rgb); free(xb); free(yb);
    return TAC_OK;
}

static int read_list_file(const char *root, const char *list, tac_split *s, char ***classes, int64_t *nclasses)
{
    char **lines; int64_t n;
    if (tac_read_lines(list, &lines, &n, 1) != TAC_OK) return TAC_ERR;
    for (int64_t i = 0; i < n; i++) {
        const char *slash = strchr(lines[i], '/');
        if (!slash) { tac_free_strings(lines, n); return tac_fail("%s: line %lld is not <class>/<file>", list, (long long)i + 1); }
        int64_t c = -1;
        for (int64_t j = 0; j < *nclasses; j++)
            if (strlen((*classes)[j]) == (size_t)(slash - lines[i]) && !strncmp((*classes)[j], lines[i], (size_t)(slash - lines[i]))) c = j;
        if (c < 0) { tac_free_strings(lines, n); return tac_fail("%s: unknown class in line %lld", list, (long long)i + 1); }
        size_t L = strlen(root) + strlen(lines[i]) + 2;
        char *p = tac_xmalloc(L, 1);
        snprintf(p, L, "%s/%s", root, lines[i]);
        split_push(s, p, NULL, 0, 0, c);
    }
    tac_free_strings(lines, n);
    return TAC_OK;
}

static int copy_classes(tac_split *dst, char **src, int64_t n)
{
    dst->class_names = tac_xmalloc((size_t)n, sizeof(char *));
    for (int64_t i = 0; i < n; i++) dst->class_names[i] = tac_xstrdup(src[i]);
    dst->nclasses = n;
    return TAC_OK;
}

/* CIFAR python version: a pickled dict, labels under label_key (< nclasses), data N x 3072 (R, G, B planes). */
static int read_cifar_py(const char *path, const char *label_key, int nclasses, tac_split *s)
{
    char *buf; size_t len;
    if (tac_read_file(path, &buf, &len) != TAC_OK) return TAC_ERR;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int64_t *labels, n;
    uint8_t *planes;   /* N x 3 x 32 x 32 */
    int rc = tac_pickle_cifar_batch(buf, len, base, label_key, &labels, &planes, &n);
    free(buf);
    if (rc != TAC_OK) return TAC_ERR;
    uint8_t rgb[32 * 32 * 3];   /* 32 x 32 x 3 */
    for (int64_t r = 0; r < n && rc == TAC_OK; r++) {
        if (labels[r] < 0 || labels[r] >= nclasses) { rc = tac_fail("%s: label %lld at row %lld is not below %d", base, (long long)labels[r], (long long)r, nclasses); break; }
        const uint8_t *p = planes + (size_t)r * 3072;
        for (int i = 0; i < 1024; i++)
            for (int ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = p[ch * 1024 + i];
        char name[300];
        snprintf(name, sizeof name, "%s#%lld", base, (long long)r);
        split_push(s, tac_xstrdup(name), rgb, 32, 32, labels[r]);
    }
    free(labels); free(planes);
    return rc;
}

/* ---- UCF-101 ---------------------------------------------------------------------------------------------- */
/* classInd.txt: "<index> <Class>" with indices 1..K, each once. */
static int read_ucf_classes(const char *path, char ***classes, int64_t *nc)
{
    char **lines; int64_t n;
    if (tac_read_lines(path, &lines, &n, 1) != TAC_OK) return TAC_ERR;
    char **c = tac_xcalloc((size_t)(n ? n : 1), sizeof(char *));
    int rc = TAC_OK;
    for (int64_t i = 0; i < n && rc == TAC_OK; i++) {
        char name[256];
        long idx;
        if (sscanf(lines[i], "%ld %255s", &idx, name) != 2 || idx < 1 || idx > n || c[idx - 1])
            rc = tac_fail("%s: line %lld is not \"<index> <Class>\" with a new index in 1..%lld", path, (long long)i + 1, (long long)n);
        else c[idx - 1] = tac_xstrdup(name);
    }
    tac_free_strings(lines, n);
    if (rc != TAC_OK) { for (int64_t i = 0; i < n; i++) free(c[i]); free(c); return TAC_ERR; }
    *classes = c; *nc = n;
    return TAC_OK;
}

/* trainlist01.txt ("<Class>/<clip>.avi <index>") or testlist01.txt ("<Class>/<clip>.avi"): pushes the middle-frame
 * path <frames>/<Class>/<clip>.png and records the video path in *videos (same order). */
static int read_ucf_list(const char *list, const char *vroot, const char *frames, char **classes, int64_t nc,
                         tac_split *s, char ***videos, int64_t *nv, int64_t *capv)
{
    char **lines; int64_t n;
    if (tac_read_lines(list, &lines, &n, 1) != TAC_OK) return TAC_ERR;
    int rc = TAC_OK;
    for (int64_t i = 0; i < n && rc == TAC_OK; i++) {
        char rel[1024], extra[64];
        int got = sscanf(lines[i], "%1023s %63s", rel, extra);
        const char *slash = got >= 1 ? strchr(rel, '/') : NULL;
        const char *dot = slash ? strrchr(slash, '.') : NULL;
        if (!slash || strchr(slash + 1, '/') || !dot || dot == slash + 1) { rc = tac_fail("%s: line %lld is not <Class>/<clip>.avi", list, (long long)i + 1); break; }
        int64_t c = -1;
        for (int64_t j = 0; j < nc; j++)
            if (strlen(classes[j]) == (size_t)(slash - rel) && !strncmp(classes[j], rel, (size_t)(slash - rel))) c = j;
        if (c < 0) { rc = tac_fail("%s: line %lld: class '%.*s' is not in classInd.txt", list, (long long)i + 1, (int)(slash - rel), rel); break; }
        if (got == 2 && strtol(extra, NULL, 10) != c + 1) {
            rc = tac_fail("%s: line %lld gives label %s but classInd.txt numbers %s as %lld", list, (long long)i + 1, extra, classes[c], (long long)c + 1);
            break;
        }
        size_t lv = strlen(vroot) + strlen(rel) + 2, lf = strlen(frames) + strlen(rel) + 6;
        char *v = tac_xmalloc(lv, 1), *f = tac_xmalloc(lf, 1);
        snprintf(v, lv, "%s/%s", vroot, rel);
        snprintf(f, lf, "%s/%.*s.png", frames, (int)(dot - rel), rel);
        if (*nv == *capv) { *capv = *capv ? 2 * *capv : 1024; *videos = tac_xrealloc(*videos, (size_t)*capv, sizeof(char *)); }
        (*videos)[(*nv)++] = v;
        split_push(s, f, NULL, 0, 0, c);
    }
    tac_free_strings(lines, n);
    return rc;
}

/* Decodes the middle frame of every clip whose PNG is missing or older than the video (2 threads). */
static int extract_middle_frames(char **videos, char **frames, int64_t n)
{
    int64_t bad = -1, done = 0;
    char why[512] = "";
    tac_progress pr;
    tac_progress_begin(&pr, "UCF-101 middle frames", n);
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; i++) {
        int64_t stop;
        #pragma omp atomic read
        stop = bad;
        if (stop >= 0) continue;
        int rc = tac_video_middle_frame_png(videos[i], frames[i]);
        #pragma omp critical(tac_ucf_frames)
        {
            if (rc != TAC_OK && bad < 0) {
                snprintf(why, sizeof why, "%s", tac_last_error());
                #pragma omp atomic write
                bad = i;
            }
            tac_progress_update(&pr, ++done);
        }
    }
    tac_progress_end(&pr);
    if (bad >= 0) return tac_fail("%s", why);
    return TAC_OK;
}

static int frame_cache_dir(char *buf, size_t n)
{
    const char *t = getenv("TACLUST_FRAME_CACHE"), *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (t && *t) snprintf(buf, n, "%s", t);
    else if (x && *x) snprintf(buf, n, "%s/taclust/ucf101-middle-frames", x);
    else if (home && *home) snprintf(buf, n, "%s/.cache/taclust/ucf101-middle-frames", home);
    else return tac_fail("neither TACLUST_FRAME_CACHE, XDG_CACHE_HOME nor HOME is set: cannot place the UCF-101 frames");
    return TAC_OK;
}

/* buf = dir/name for the fixed names below: tac_dataset_load refuses a folder path within DATASET_NAME_ROOM
 * bytes of the buffers first, so these joins fit (a join that did not would leave "" and find nothing). */
#define DATASET_NAME_ROOM 64
static const char *join_in(char *buf, size_t cap, const char *dir, const char *name)
{
    if (tac_path_join(buf, cap, dir, name) != TAC_OK) buf[0] = 0;
    return buf;
}

/* data_batch_<i><ext> in dir */
static void batch_name(char *buf, size_t cap, const char *dir, int i, const char *ext)
{
    char nm[32];
    snprintf(nm, sizeof nm, "data_batch_%d%s", i, ext);
    join_in(buf, cap, dir, nm);
}

/* dir holds ucfTrainTestlist/ and the videos in UCF-101/ (or UCF101/, or dir itself). */
static int read_ucf101(const char *dir, const char *lists, tac_split *train, tac_split *test)
{
    char p[4096], vroot[4096], frames[4096];
    if (frame_cache_dir(frames, sizeof frames) != TAC_OK) return TAC_ERR;
    if (is_dir(join_in(vroot, sizeof vroot, dir, "UCF-101"))) {}
    else if (is_dir(join_in(vroot, sizeof vroot, dir, "UCF101"))) {}
    else snprintf(vroot, sizeof vroot, "%s", dir);
    char **classes; int64_t nc;
    if (read_ucf_classes(join_in(p, sizeof p, lists, "classInd.txt"), &classes, &nc) != TAC_OK) return TAC_ERR;
    char **videos = NULL;
    int64_t nv = 0, capv = 0;
    int rc = read_ucf_list(join_in(p, sizeof p, lists, "trainlist01.txt"), vroot, frames, classes, nc, train, &videos, &nv, &capv);
    if (rc == TAC_OK)
        rc = read_ucf_list(join_in(p, sizeof p, lists, "testlist01.txt"), vroot, frames, classes, nc, test, &videos, &nv, &capv);
    if (rc == TAC_OK) {
        char **fr = tac_xmalloc((size_t)(nv ? nv : 1), sizeof(char *));   /* train frames then test frames */
        for (int64_t i = 0; i < train->n; i++) fr[i] = train->paths[i];
        for (int64_t i = 0; i < test->n; i++) fr[train->n + i] = test->paths[i];
        rc = extract_middle_frames(videos, fr, nv);
        free(fr);
    }
    copy_classes(train, classes, nc);
    copy_classes(test, classes, nc);
    tac_free_strings(classes, nc);
    tac_free_strings(videos, nv);
    return rc;
}

int tac_dataset_load(const char *name, const char *dir, tac_split *train, tac_split *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    const tac_dataset_info *info = tac_dataset_find(name);
    if (!info) return tac_fail("unknown dataset '%s' (known: %s)", name, tac_dataset_names());
    if (!is_dir(dir)) return tac_fail("%s: not a folder", dir);
    char a[4096], b[4096];
    if (strlen(dir) + 2 * DATASET_NAME_ROOM > sizeof a) return tac_fail("%.200s...: path too long", dir);
    int rc = TAC_ERR;
    const char *const *only = !strcmp(name, "imagenet10") ? imagenet10_wnids : !strcmp(name, "imagenet-dogs") ? imagenet_dogs_wnids : NULL;
    /* binary forms first */
    if (!strcmp(name, "cifar10")) {
        const char *sub = is_dir(join_in(a, sizeof a, dir, "cifar-10-batches-bin")) ? a : dir;
        join_in(b, sizeof b, sub, "data_batch_1.bin");
        if (is_file(b)) {
            char base[4096];
            snprintf(base, sizeof base, "%s", sub);
            rc = TAC_OK;
            for (int i = 1; i <= 5 && rc == TAC_OK; i++) { batch_name(b, sizeof b, base, i, ".bin"); rc = read_cifar_bin(b, 1, 0, 10, train); }
            join_in(b, sizeof b, base, "test_batch.bin");
            if (rc == TAC_OK) rc = read_cifar_bin(b, 1, 0, 10, test);
            goto done;
        }
    }
    if (!strcmp(name, "cifar10")) {   /* python version */
        const char *sub = is_dir(join_in(a, sizeof a, dir, "cifar-10-batches-py")) ? a : dir;
        char base[4096];
        snprintf(base, sizeof base, "%s", sub);
        join_in(b, sizeof b, base, "data_batch_1");
        if (is_file(b)) {
            rc = TAC_OK;
            for (int i = 1; i <= 5 && rc == TAC_OK; i++) { batch_name(b, sizeof b, base, i, ""); rc = read_cifar_py(b, "labels", 10, train); }
            join_in(b, sizeof b, base, "test_batch");
            if (rc == TAC_OK) rc = read_cifar_py(b, "labels", 10, test);
            goto done;
        }
    }
    if (!strcmp(name, "cifar20")) {
        const char *sub = is_dir(join_in(a, sizeof a, dir, "cifar-100-binary")) ? a : dir;
        char base[4096];
        snprintf(base, sizeof base, "%s", sub);
        join_in(b, sizeof b, base, "train.bin");
        if (is_file(b)) {
            rc = read_cifar_bin(b, 2, 0, 20, train);
            join_in(b, sizeof b, base, "test.bin");
            if (rc == TAC_OK) rc = read_cifar_bin(b, 2, 0, 20, test);
            goto done;
        }
        /* python version: the coarse_labels of cifar-100-python/train and test */
        sub = is_dir(join_in(a, sizeof a, dir, "cifar-100-python")) ? a : dir;
        snprintf(base, sizeof base, "%s", sub);
        join_in(b, sizeof b, base, "train");
        if (is_file(b)) {
            rc = read_cifar_py(b, "coarse_labels", 20, train);
            join_in(b, sizeof b, base, "test");
            if (rc == TAC_OK) rc = read_cifar_py(b, "coarse_labels", 20, test);
            goto done;
        }
    }
    if (!strcmp(name, "ucf101")) {
        join_in(a, sizeof a, dir, "ucfTrainTestlist");
        if (is_file(join_in(b, sizeof b, a, "classInd.txt"))) {
            rc = read_ucf101(dir, a, train, test);
            goto done;
        }
    }
    if (!strcmp(name, "stl10")) {
        const char *sub = is_dir(join_in(a, sizeof a, dir, "stl10_binary")) ? a : dir;
        char base[4096];
        snprintf(base, sizeof base, "%s", sub);
        join_in(b, sizeof b, base, "train_X.bin");
        if (is_file(b)) {
            join_in(a, sizeof a, base, "train_y.bin");
            rc = read_stl_bin(b, a, train);
            join_in(b, sizeof b, base, "test_X.bin");
            join_in(a, sizeof a, base, "test_y.bin");
            if (rc == TAC_OK) rc = read_stl_bin(b, a, test);
            goto done;
        }
    }
    if (!strcmp(name, "dtd")) {
        join_in(a, sizeof a, dir, "images");
        join_in(b, sizeof b, dir, "labels/train1.txt");
        if (is_dir(a) && is_file(b)) {
            char **classes; int64_t nc;
            if (list_dir_sorted(a, 1, &classes, &nc) != TAC_OK) return TAC_ERR;
            rc = read_list_file(a, b, train, &classes, &nc);
            join_in(b, sizeof b, dir, "labels/val1.txt");
            if (rc == TAC_OK) rc = read_list_file(a, b, train, &classes, &nc);
            join_in(b, sizeof b, dir, "labels/test1.txt");
            if (rc == TAC_OK) rc = read_list_file(a, b, test, &classes, &nc);
            copy_classes(train, classes, nc);
            copy_classes(test, classes, nc);
            tac_free_strings(classes, nc);
            goto done;
        }
    }
    /* ImageFolder forms: train/ with test/ or val/ (DTD: trainval/ with test/) */
    {
        const char *trn = is_dir(join_in(a, sizeof a, dir, "train")) ? "train" :
                          is_dir(join_in(a, sizeof a, dir, "trainval")) ? "trainval" : NULL;
        const char *tst = is_dir(join_in(b, sizeof b, dir, "test")) ? "test" :
                          is_dir(join_in(b, sizeof b, dir, "val")) ? "val" : NULL;
        if (!trn || !tst) {
            return tac_fail("%s: no %s data found (expected the binary distribution, or train/ and test/ or val/ "
                            "folders of class subfolders)", dir, name);
        }
        join_in(a, sizeof a, dir, trn);
        join_in(b, sizeof b, dir, tst);
        rc = read_image_folder(a, only, train);
        if (rc == TAC_OK) rc = read_image_folder(b, only, test);
        if (rc == TAC_OK && train->nclasses != test->nclasses)
            rc = tac_fail("%s: train has %lld classes but %s has %lld", dir, (long long)train->nclasses, tst, (long long)test->nclasses);
    }
done:
    if (rc == TAC_OK && (train->n == 0 || test->n == 0)) rc = tac_fail("%s: empty split", dir);
    /* every reader: labels must name one of the dataset's K classes (and of the split's own class list) */
    for (int sp = 0; sp < 2 && rc == TAC_OK; sp++) {
        const tac_split *s = sp ? test : train;
        int64_t k = s->class_names && s->nclasses < info->K ? s->nclasses : info->K;
        for (int64_t i = 0; i < s->n && rc == TAC_OK; i++)
            if (s->labels[i] < 0 || s->labels[i] >= k)
                rc = tac_fail("%s: %s image %s has label %lld, outside the %lld classes of %s", dir, sp ? "test" : "train",
                              s->paths[i], (long long)s->labels[i], (long long)k, name);
    }
    if (rc != TAC_OK) { tac_split_free(train); tac_split_free(test); }
    return rc;
}

