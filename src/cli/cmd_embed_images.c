/* cmd_embed_images.c - `taclust embed-images`: CLIP image features of files, folders and path lists.
 *
 *   taclust embed-images [--model ID|DIR] --out X.npy [--resize 224|256] [--batch 32] [--list FILE] INPUT...
 * Writes X.npy (float32, N x E, unnormalised), X.paths.txt (the path of each row, in row order) and
 * X.skipped.txt (PATH<TAB>REASON for every image that could not be read), each atomically.
 * Under `mpirun -np N` (N > 1) the images are shared out in whole batches and the outputs are the same bytes as one
 * process writes (embed_images_ranks below); each rank caches its batches in X.cache/rank-R.bin until the end.
 */
#include "tac_cli.h"
#include "taclust/clip.h"
#include "taclust/embed.h"
#include "taclust/hub.h"
#include "app/tac_app.h"
#include "mpi/tac_mpi.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const USAGE =
    "usage: taclust embed-images [--model ID|DIR] --out X.npy [options] INPUT...\n"
    "\n"
    "CLIP image features (the unnormalised projected image embedding, as TAC saves it) of every image named by\n"
    "the INPUTs, in order:\n"
    "  a file          taken whatever its name (JPEG, PNG or WebP, detected by content);\n"
    "  a folder        walked recursively, entries in bytewise order, hidden names (.*) skipped, only files\n"
    "                  ending in .jpg .jpeg .png .webp (any case); symlinks followed, each folder walked once;\n"
    "  --list FILE     one path per line (files or folders as above), after the INPUTs.\n"
    "Preprocessing is CLIP's: bicubic resize of the shorter side to --resize, center crop to the model's image\n"
    "size, CLIP mean/std. Use --resize 256 for ImageNet-style datasets, as TAC does (tac-method.md section 2).\n"
    "\n"
    "Outputs (each written atomically):\n"
    "  X.npy           float32 N x E, one row per readable image, NOT L2-normalised\n"
    "  X.paths.txt     the path of each row of X.npy, one per line, in row order\n"
    "  X.skipped.txt   PATH<TAB>REASON of each image that could not be read or decoded (empty if none)\n"
    "In both lists a path's control characters are escaped (\\t \\n \\r \\xHH, a backslash as \\\\), one line each.\n"
    "An unreadable or corrupt image is reported on stderr and skipped; the others go on. Exit status: 0 when at\n"
    "least one image was embedded, 1 on errors (model, no image found, none readable), 2 on usage errors.\n"
    "Under `mpirun -np N` the images are shared out over the ranks in whole batches and rank 0 writes the same\n"
    "bytes as one process; each rank keeps its finished batches in X.cache/rank-R.bin until the outputs are\n"
    "written, so a job that failed or was killed resumes when run again.";

typedef struct {
    const char *const *paths;
    int tty;
    char **skipped;      /* "PATH\tREASON" lines */
    int64_t nskipped, cap;
} skip_log;

static int on_batch(void *ctx, int64_t first, int64_t count, const float *emb, const int8_t *ok,
                    const char *const *why)
{
    (void)emb;
    skip_log *s = ctx;
    for (int64_t i = 0; i < count; i++) {
        if (ok[i]) continue;
        const char *path = s->paths[first + i];
        fprintf(stderr, "%staclust embed-images: skipped %s: %s\n", s->tty ? "\r\033[K" : "", path, why[i]);
        char *ep = tac_escape_line(path), *ew = tac_escape_line(why[i]);   /* one line per image, two fields */
        if (!ep || !ew) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
        size_t len = strlen(ep) + strlen(ew) + 2;
        char *line = tac_xmalloc(len, 1);
        snprintf(line, len, "%s\t%s", ep, ew);
        free(ep); free(ew);
        if (s->nskipped == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->skipped = tac_xrealloc(s->skipped, (size_t)s->cap, sizeof(char *));
        }
        s->skipped[s->nskipped++] = line;
    }
    return 0;
}

/* Writes the lines of list[0..n) (each followed by '\n') atomically, escaped (tac_escape_line) when `escape`. */
static int write_lines(const char *path, char *const *list, int64_t n, int escape)
{
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    for (int64_t i = 0; i < n; i++) {
        char *e = escape ? tac_escape_line(list[i]) : NULL;
        if (escape && !e) { tac_atomic_abort(&a); return TAC_ERR; }
        int bad = fputs(e ? e : list[i], a.f) < 0 || fputc('\n', a.f) < 0;
        free(e);
        if (bad) { tac_atomic_abort(&a); return tac_fail("%s: write failed", path); }
    }
    return tac_atomic_commit(&a);
}

/* Creates the folder of an output path if it is missing. */
static int make_parent(const char *out)
{
    const char *slash = strrchr(out, '/');
    if (!slash || slash == out) return TAC_OK;
    char *dir = tac_xstrdup(out);
    dir[slash - out] = 0;
    int rc = tac_mkdir_p(dir);
    free(dir);
    return rc;
}

/* "X.npy" -> "X<suffix>"; any other name -> "NAME<suffix>". */
static char *side_file(const char *out, const char *suffix)
{
    size_t l = strlen(out);
    if (l > 4 && strcmp(out + l - 4, ".npy") == 0) l -= 4;
    char *p = tac_xmalloc(l + strlen(suffix) + 1, 1);
    memcpy(p, out, l);
    strcpy(p + l, suffix);
    return p;
}

/* Under mpirun with several ranks (src/app/tac_dist_jobs.c): rank 0 lists the inputs and sends the list, every
 * rank embeds its share of whole batches (cached in X.cache/rank-R.bin, so a rerun resumes), rank 0 gathers the
 * rows and the skipped images in list order and writes the same outputs as one process would, once every rank has
 * succeeded; then the caches are removed. Returns the exit status. */
static int embed_images_ranks(const tac_comm *c, const char *spec, const char *out, const char *list, char **pos,
                              int npos, int resize, int batch)
{
    const int me = c->rank;
    char **paths = NULL, **lskip = NULL, **lwhy = NULL, *dir = NULL, *cache = side_file(out, ".cache");
    char *paths_file = side_file(out, ".paths.txt"), *skipped_file = side_file(out, ".skipped.txt");
    int64_t n = 0, nlskip = 0;
    tac_clip *m = NULL;
    tac_dist_images o;
    memset(&o, 0, sizeof o);
    int rc = TAC_OK, status = 1;
    if (me == 0) {
        rc = make_parent(out);
        if (rc == TAC_OK) rc = tac_list_inputs_ex((const char *const *)pos, npos, list, NULL, &paths, &n, &lskip, &lwhy, &nlskip);
        if (rc == TAC_OK && n == 0) rc = tac_fail("no images found in the inputs (folders keep only .jpg .jpeg .png .webp)");
    }
    if (tac_comm_check(c, rc) != TAC_OK || tac_dist_bcast_strings(c, &paths, &n) != TAC_OK ||
        tac_dist_load_model(c, spec, &dir, &m) != TAC_OK) {
        tac_cli_error("embed-images");
        goto done;
    }
    const int E = tac_clip_embed_dim(m);
    tac_info("%lld images over %d ranks, model %s (E=%d, image size %d), batch %d, resize %d", (long long)n, c->size,
             dir, E, tac_clip_image_size(m), batch, resize);
    double t0 = tac_now();
    if (tac_dist_embed_images(c, m, (const char *const *)paths, n, resize, batch, cache, &o) != TAC_OK) {
        tac_cli_error("embed-images");
        goto done;
    }
    double dt = tac_now() - t0;
    skip_log log = {NULL, isatty(2), NULL, 0, 0};
    if (me == 0) {
        if (o.cached_batches)
            tac_info("%lld of %lld batches taken from the ranks' embedding caches (%s)", (long long)o.cached_batches,
                     (long long)o.nbatches, cache);
        int8_t no = 0;
        for (int64_t i = 0; i < o.nskipped; i++) {   /* the unreadable images in list order, then what the walk left */
            const char *pp[1] = {paths[o.skipped[i]]}, *ww[1] = {o.why[i]};
            log.paths = pp;
            on_batch(&log, 0, 1, NULL, &no, ww);
        }
        for (int64_t i = 0; i < nlskip; i++) {
            const char *pp[1] = {lskip[i]}, *ww[1] = {lwhy[i]};
            log.paths = pp;
            on_batch(&log, 0, 1, NULL, &no, ww);
        }
        rc = write_lines(skipped_file, log.skipped, log.nskipped, 0);
        if (rc == TAC_OK && o.nok == 0)
            rc = tac_fail("none of the %lld images could be read (reasons in %s)", (long long)n, skipped_file);
        if (rc == TAC_OK) {
            char **kept = tac_xmalloc((size_t)o.nok, sizeof(char *));   /* nok */
            for (int64_t k = 0; k < o.nok; k++) kept[k] = paths[o.kept[k]];
            int64_t shape[2] = {o.nok, E};
            rc = write_lines(paths_file, kept, o.nok, 1);
            if (rc == TAC_OK) rc = tac_npy_save_f32(out, o.X, 2, shape);
            free(kept);
        }
    }
    if (tac_comm_check(c, rc) != TAC_OK) {
        tac_cli_error("embed-images");
    } else {
        tac_dist_remove_caches(c, cache);
        tac_info("embedded %lld images over %d ranks in %.1f s (%.1f images/s) into %s; skipped %lld%s%s",
                 (long long)o.nok, c->size, dt, dt > 0 ? (double)n / dt : 0.0, out, (long long)log.nskipped,
                 log.nskipped ? ", listed in " : "", log.nskipped ? skipped_file : "");
        status = 0;
    }
    tac_free_strings(log.skipped, log.nskipped);
done:
    tac_dist_images_free(&o);
    tac_clip_free(m);
    free(dir); free(cache); free(paths_file); free(skipped_file);
    tac_free_strings(paths, n);
    tac_free_strings(lskip, nlskip);
    tac_free_strings(lwhy, nlskip);
    return status;
}

static int cmd_embed_images(int argc, char **argv)
{
    const char *model_dir = NULL, *out = NULL, *list = NULL;
    char *resolved = NULL;
    int resize = 224, batch = 32;
    const char *precision = NULL;
    const tac_opt opts[] = {
        {"--model", "-m", TAC_OPT_STR, &model_dir, TAC_HUB_MODEL_HELP},
        {"--out", "-o", TAC_OPT_STR, &out, "output X.npy (also writes X.paths.txt and X.skipped.txt)"},
        {"--resize", NULL, TAC_OPT_INT, &resize, "shorter side before the center crop: 224 (default) or 256"},
        {"--batch", "-b", TAC_OPT_INT, &batch, "images per forward pass (default 32)"},
        {"--list", NULL, TAC_OPT_STR, &list, "a file of input paths, one per line"},
        {"--precision", NULL, TAC_OPT_STR, &precision, TAC_PRECISION_HELP},
        {0},
    };
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (r == 1) return 0;
    if (r == 2) return 2;
    int rc = 2;
    if ((r = tac_cli_precision("embed-images", precision))) { free(pos); return r; }
    if (!out) {
        fprintf(stderr, "taclust embed-images: --out is required (taclust embed-images --help)\n");
        goto done_pos;
    }
    if (npos == 0 && !list) {
        fprintf(stderr, "taclust embed-images: no INPUT given (files, folders or --list FILE)\n");
        goto done_pos;
    }
    if (resize != 224 && resize != 256) {
        fprintf(stderr, "taclust embed-images: --resize must be 224 or 256 (got %d)\n", resize);
        goto done_pos;
    }
    if (batch < 1 || batch > 4096) {
        fprintf(stderr, "taclust embed-images: --batch must be between 1 and 4096 (got %d)\n", batch);
        goto done_pos;
    }
    if (tac_mpi_comm()) {   /* mpirun -np N with N > 1 */
        rc = embed_images_ranks(tac_mpi_comm(), model_dir, out, list, pos, npos, resize, batch);
        goto done_pos;
    }
    rc = 1;
    if (make_parent(out) != TAC_OK) { tac_cli_error("embed-images"); goto done_pos; }
    char **paths = NULL, **lskip = NULL, **lwhy = NULL; int64_t n = 0, nlskip = 0;
    if (tac_list_inputs_ex((const char *const *)pos, npos, list, NULL, &paths, &n, &lskip, &lwhy, &nlskip) != TAC_OK) {
        tac_cli_error("embed-images");
        goto done_pos;
    }
    skip_log log = {(const char *const *)paths, isatty(2), NULL, 0, 0};
    if (n == 0) {
        fprintf(stderr, "taclust embed-images: no images found in the inputs (folders keep only .jpg .jpeg .png .webp)\n");
        tac_free_strings(paths, n);
        tac_free_strings(lskip, nlskip);
        tac_free_strings(lwhy, nlskip);
        goto done_pos;
    }
    if (tac_cli_model_resolve(model_dir, &resolved) != TAC_OK) {
        tac_cli_error("embed-images");
        tac_free_strings(paths, n);
        tac_free_strings(lskip, nlskip);
        tac_free_strings(lwhy, nlskip);
        goto done_pos;
    }
    model_dir = resolved;
    tac_clip *m;
    if (tac_clip_load_ex(model_dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &m) != TAC_OK) {
        tac_cli_error("embed-images");
        tac_free_strings(paths, n);
        tac_free_strings(lskip, nlskip);
        tac_free_strings(lwhy, nlskip);
        goto done_pos;
    }
    const int E = tac_clip_embed_dim(m);
    tac_info("%lld images, model %s (E=%d, image size %d), batch %d, resize %d", (long long)n, model_dir, E,
             tac_clip_image_size(m), batch, resize);
    float *X = tac_xmalloc((size_t)n * E, sizeof(float));   /* N x E */
    int8_t *ok = tac_xmalloc((size_t)n, 1);                  /* N */
    tac_embed_images_params p = tac_embed_images_default_params();
    p.resize = resize; p.batch = batch; p.on_batch = on_batch; p.ctx = &log;
    int64_t nok = 0;
    double t0 = tac_now();
    char *paths_file = side_file(out, ".paths.txt"), *skipped_file = side_file(out, ".skipped.txt");
    if (tac_embed_images(m, (const char *const *)paths, n, &p, X, ok, &nok) != TAC_OK) {
        tac_cli_error("embed-images");
        goto done_all;
    }
    double dt = tac_now() - t0;
    for (int64_t i = 0; i < nlskip; i++) {   /* what the walk did not take goes to X.skipped.txt too */
        int8_t no = 0;
        const char *pp[1] = {lskip[i]}, *ww[1] = {lwhy[i]};
        log.paths = pp;
        on_batch(&log, 0, 1, NULL, &no, ww);
    }
    log.paths = (const char *const *)paths;
    if (write_lines(skipped_file, log.skipped, log.nskipped, 0) != TAC_OK) { tac_cli_error("embed-images"); goto done_all; }
    if (nok == 0) {
        fprintf(stderr, "taclust embed-images: none of the %lld images could be read (reasons in %s)\n",
                (long long)n, skipped_file);
        goto done_all;
    }
    char **kept = tac_xmalloc((size_t)nok, sizeof(char *));   /* compact the embedded rows */
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (ok[i]) {
            if (k != i) memcpy(X + (size_t)k * E, X + (size_t)i * E, (size_t)E * sizeof(float));
            kept[k++] = paths[i];
        }
    int64_t shape[2] = {nok, E};
    int wrc = write_lines(paths_file, kept, nok, 1);
    if (wrc == TAC_OK) wrc = tac_npy_save_f32(out, X, 2, shape);
    free(kept);
    if (wrc != TAC_OK) { tac_cli_error("embed-images"); goto done_all; }
    tac_info("embedded %lld images in %.1f s (%.1f images/s) into %s; skipped %lld%s%s", (long long)nok, dt,
             dt > 0 ? (double)n / dt : 0.0, out, (long long)log.nskipped, log.nskipped ? ", listed in " : "",
             log.nskipped ? skipped_file : "");
    rc = 0;
done_all:
    free(paths_file); free(skipped_file);
    tac_free_strings(lskip, nlskip);
    tac_free_strings(lwhy, nlskip);
    tac_free_strings(log.skipped, log.nskipped);
    free(X); free(ok);
    tac_clip_free(m);
    tac_free_strings(paths, n);
done_pos:
    free(pos);
    free(resolved);
    return rc;
}

TAC_COMMAND("embed-images", "CLIP image features of files and folders (.npy + row paths)", cmd_embed_images)
