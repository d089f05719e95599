/* bench_image.c - throughput of image decoding + CLIP preprocessing (decode, Pillow-exact bicubic resize, centre
 * crop, normalise) over a set of files, OpenMP over images.
 *
 *   build/bench_image [--threads T] [--repeats R] [--resize 224|256] [--sums OUT.tsv] FILE...
 * bench/image.sh runs it on the 250 ImageNet photos next to Pillow + NumPy (bench/image_pillow.py) and compares
 * the tensors. Prints the machine, the OpenBLAS core (unused here, logged for comparability), the thread count,
 * the median over repeats of the whole-set time (files are read into memory first, so disk is not timed), images/s,
 * and one thread's per-stage times (decode vs preprocess, median over repeats). --sums writes one line per file:
 * name, checksum of the float32 tensor (sum of bits_i * (2i+1) mod 2^64, as tools/gen_image_fixtures.py).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taclust/core.h"
#include "taclust/image.h"
#include "bench_common.h"

int main(int argc, char **argv)
{
    int threads = 2, repeats = 5, resize = 224;
    const char *sums = NULL;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first += 2) {
        if (first + 1 >= argc) { fprintf(stderr, "bench_image: %s needs a value\n", argv[first]); return 2; }
        if (!strcmp(argv[first], "--threads")) threads = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--repeats")) repeats = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--resize")) resize = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--sums")) sums = argv[first + 1];
        else { fprintf(stderr, "bench_image: unknown option %s\n", argv[first]); return 2; }
    }
    int n = argc - first;
    if (n < 1 || threads < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_image [--threads T] [--repeats R] [--resize 224|256] [--sums OUT.tsv] FILE...\n");
        return 2;
    }
    char **data = tac_xmalloc((size_t)n, sizeof(char *));
    size_t *len = tac_xmalloc((size_t)n, sizeof(size_t));
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        if (tac_read_file(argv[first + i], &data[i], &len[i]) != TAC_OK) { fprintf(stderr, "%s\n", tac_last_error()); return 1; }
        bytes += len[i];
    }
    print_machine();
    printf("images: %d files, %.1f MB; resize %d, crop 224; threads %d (OpenMP over images); %d repeats\n", n,
           bytes / 1e6, resize, threads, repeats);
    const size_t per = 3 * 224 * 224;
    float *x = tac_xmalloc((size_t)threads * per, sizeof(float));        /* threads x 3 x 224 x 224 scratch */
    uint64_t *sum = tac_xcalloc((size_t)n, sizeof(uint64_t));             /* per image tensor checksum */
    double *t = tac_xmalloc((size_t)repeats, sizeof(double));
    int failed = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = tac_now();
        #pragma omp parallel for num_threads(threads) schedule(dynamic, 4) reduction(+ : failed)
        for (int i = 0; i < n; i++) {
            float *xi = x + (size_t)omp_get_thread_num() * per;
            tac_image img;
            if (tac_image_decode((const uint8_t *)data[i], len[i], argv[first + i], &img) != TAC_OK ||
                tac_clip_preprocess(&img, resize, 224, xi) != TAC_OK) {
                if (r == 0) fprintf(stderr, "%s\n", tac_last_error());
                failed++;
                tac_image_free(&img);
                continue;
            }
            tac_image_free(&img);
            uint64_t s = 0;
            for (size_t j = 0; j < per; j++) {
                uint32_t b;
                memcpy(&b, &xi[j], 4);
                s += (uint64_t)b * (2 * (uint64_t)j + 1);
            }
            sum[i] = s;
        }
        t[r] = tac_now() - t0;
    }
    double med = median(t, repeats);
    printf("taclust C: median %.3f s for %d images = %.1f images/s (%d threads; min %.3f s, max %.3f s)\n", med, n,
           n / med, threads, t[0], t[repeats - 1]);
    /* per-stage split, one thread: median over repeats of the per-image average, and the sum over images of each
     * image's best time (a low-noise figure on a shared machine: what the work costs when it gets a core) */
    double *td = tac_xmalloc((size_t)repeats, sizeof(double)), *tp = tac_xmalloc((size_t)repeats, sizeof(double));
    double *bd = tac_xmalloc((size_t)n, sizeof(double)), *bp = tac_xmalloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) bd[i] = bp[i] = 1e30;
    for (int r = 0; r < repeats; r++) {
        td[r] = tp[r] = 0;
        for (int i = 0; i < n; i++) {
            tac_image img;
            double a = tac_now();
            if (tac_image_decode((const uint8_t *)data[i], len[i], argv[first + i], &img) != TAC_OK) continue;
            double b = tac_now();
            tac_clip_preprocess(&img, resize, 224, x);
            double e = tac_now();
            tp[r] += e - b;
            td[r] += b - a;
            if (b - a < bd[i]) bd[i] = b - a;
            if (e - b < bp[i]) bp[i] = e - b;
            tac_image_free(&img);
        }
    }
    double sbd = 0, sbp = 0;
    for (int i = 0; i < n; i++) { sbd += bd[i]; sbp += bp[i]; }
    printf("taclust C, 1 thread split (median of %d): decode %.2f ms/image, resize+crop+normalise %.2f ms/image\n", repeats,
           1e3 * median(td, repeats) / n, 1e3 * median(tp, repeats) / n);
    printf("taclust C, 1 thread, each image's best of %d: decode %.2f + preprocess %.2f ms/image = %.0f images/s per core\n",
           repeats, 1e3 * sbd / n, 1e3 * sbp / n, n / (sbd + sbp));
    free(td); free(tp); free(bd); free(bp);
    if (sums) {
        FILE *f = fopen(sums, "w");
        if (!f) { fprintf(stderr, "bench_image: cannot write %s\n", sums); return 1; }
        for (int i = 0; i < n; i++) {
            const char *b = strrchr(argv[first + i], '/');
            fprintf(f, "%s\t%llu\n", b ? b + 1 : argv[first + i], (unsigned long long)sum[i]);
        }
        fclose(f);
    }
    for (int i = 0; i < n; i++) free(data[i]);
    free(data); free(len); free(x); free(sum); free(t);
    if (failed) fprintf(stderr, "bench_image: %d decode failures\n", failed / repeats);
    return failed ? 1 : 0;
}
