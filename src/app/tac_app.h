/* tac_app.h - the taclust program's own pieces (private: not installed, not part of libtaclust): the
 * folder-of-images job (`taclust cluster`, `taclust assign`), `taclust bench` with its dataset readers, and the
 * console (how the program prints the library's messages and progress, --quiet, its test hooks).
 *
 * Pieces, each usable on its own:
 *   embedding cache   OUT/cache/embeddings.bin, append-only records keyed by (path, size, mtime), each with a
 *                     checksum; a torn tail (killed run) is dropped on load, so --resume continues safely.
 *   outputs           clusters.csv, clusters.json, by-cluster/<NN>-<name>/ symlinks, report.html (thumbnails
 *                     embedded), skipped.txt; every file written to a temporary name and renamed.
 *   K auto            silhouette over a range of K on the joint [image ; text] space.
 *   output folder     OUT/.runs/<id>/ per run, switched by one rename of the link OUT/current; OUT/.taclust.lock
 *                     (flock) lets one process write OUT at a time (tac_outdir.c).
 */
#ifndef TAC_APP_H
#define TAC_APP_H

#include "core/tac_internal.h"
#include "taclust/core.h"
#include "taclust/dist.h"
#include "taclust/embed.h"   /* tac_embed_text_params */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- embedding cache -------------------------------------------------------------------------------- */
typedef struct tac_embcache tac_embcache;
/* Opens (creating) the cache file for E-dimensional vectors; existing valid records are loaded, a torn or
 * corrupt tail is cut off. Fails if the file holds vectors of another dimension or model tag. */
int tac_embcache_open(const char *path, int e, const char *model_tag, tac_embcache **out);
/* The same for reading only: the valid records up to the first torn or corrupt one, the file left as it is (another
 * process may be appending to it); puts fail. Fails when the file is missing or of another dimension or tag. */
int tac_embcache_open_readonly(const char *path, int e, const char *model_tag, tac_embcache **out);
/* Looks up a file by path + size + mtime (as stat() reports now). Returns a pointer to E floats or NULL. */
const float *tac_embcache_get(const tac_embcache *c, const char *path, int64_t size, int64_t mtime_ns);
/* Appends records and makes them durable (fflush + fsync) before returning. vecs: n x E. */
int tac_embcache_put(tac_embcache *c, int n, const char *const *paths, const int64_t *sizes,
                     const int64_t *mtimes, const float *vecs);
int64_t tac_embcache_count(const tac_embcache *c);
void tac_embcache_close(tac_embcache *c);
/* stat() helper: size and mtime in nanoseconds. */
int tac_file_key(const char *path, int64_t *size, int64_t *mtime_ns);

/* ---- outputs ---------------------------------------------------------------------------------------- */
typedef struct {
    int64_t n;               /* images */
    int k;                   /* clusters */
    const char *const *paths;/* N image paths */
    const int32_t *cluster;  /* N cluster ids in [0,k) */
    const float *confidence; /* N, in [0,1] */
    char **image_nouns;      /* N strings: the image's best nouns, "a; b; c" */
    char **cluster_name;     /* K strings: "tabby, kitten, ..." (the nouns that name it best) */
    char **cluster_slug;     /* K strings: file-system safe short name, e.g. "tabby-kitten" */
    const int64_t *typical;  /* K x n_typical image indices, most typical first (-1 padding) */
    int n_typical;
} tac_clustering_view;

/* The nouns column of clusters.csv: each image's TAC_IMAGE_NOUNS (3) most weighted distinct nouns, "a; b; c"
 * (W: N x S retrieval weights, sel: S indices into nouns). Distinct = whole names differ after case-folding and
 * '_' -> ' '. Returns N malloc'd strings (tac_free_strings). */
char **tac_image_nouns(const float *W, int64_t n, int64_t s, const int64_t *sel, char *const *nouns);
int tac_write_clusters_csv(const char *path, const tac_clustering_view *v);
/* The rows of clusters.csv (no header line) for v's images, written to f (what assign appends). */
void tac_write_clusters_csv_rows(FILE *f, const tac_clustering_view *v);
int tac_write_clusters_json(const char *path, const tac_clustering_view *v, const char *extra_json);
/* Rebuilds OUT/by-cluster atomically (built beside, then swapped in). */
int tac_write_cluster_links(const char *out_dir, const tac_clustering_view *v);
/* One self-contained HTML page: every cluster a row of thumbnails (base64 JPEG) under its name and size. */
int tac_write_report_html(const char *path, const tac_clustering_view *v, const char *title);
/* "tabby, tiger cat" -> "tabby-tiger-cat" (lower case, [a-z0-9-], at most maxlen chars). */
void tac_slugify(const char *name, char *out, int maxlen);

/* ---- the output folder as one switchable set (tac_outdir.c; layout described there and in README) ------ */
typedef struct {
    char *out;        /* OUT */
    char *committed;  /* folder holding the committed run (OUT/.runs/<id>, or OUT itself for an old layout), or NULL */
    char *pending;    /* folder of a run killed before its commit (has its run.json), or NULL; until prepare */
    char *stage;      /* OUT/.runs/<id> being written by this process, or NULL */
    int legacy;       /* OUT holds a run written before this layout (real files at the top) */
    int lock_fd;
} tac_outdir;
/* Opens OUT (created when `create`), taking its lock (a second process says so and waits). */
int tac_outdir_open(tac_outdir *o, const char *out, int create);
/* Removes temporaries and run folders of dead processes; fails, naming it, if what a run would replace holds a
 * file taclust did not write. */
int tac_outdir_prepare(tac_outdir *o);
int tac_outdir_stage(tac_outdir *o);    /* creates o->stage, where every output of the run is written */
int tac_outdir_commit(tac_outdir *o);   /* one atomic switch to o->stage; then the earlier run is removed */
void tac_outdir_close(tac_outdir *o);   /* removes an uncommitted stage, unlocks */
/* by-cluster/ of a run folder: copies src_run's NN-name folders of links into dst_run (never following a
 * link; anything but a folder of links is refused), leaving out links whose target is one of skip[0..nskip)
 * (sorted in place), for assign. */
int tac_copy_cluster_links(const char *src_run, const char *dst_run, char **skip, int64_t nskip);
/* Adds a link to `target` named after base in dst_run/by-cluster/<the folder of cluster c> (created as
 * NN-cluster when missing), with a -2, -3, ... suffix when the name is taken. Never follows a link. */
int tac_add_cluster_link(const char *run_dir, int c, int k, const char *target, const char *base);
/* The text of one clusters.csv cell as written: control characters escaped, a leading = + - @ (or tab/CR)
 * neutralised with a single quote, quoted when it holds a comma or quote (malloc'd). */
char *tac_csv_cell(const char *s);

/* ---- noun embeddings, cached per user ------------------------------------------------------------- */
struct tac_clip;
/* $XDG_CACHE_HOME/taclust (or ~/.cache/taclust). */
int tac_user_cache_dir(char *buf, size_t n);
/* TAC noun embeddings (7 templates, averaged, normalised) of the given nouns for this model, from the per-user
 * cache or computed (chunk by chunk, resumable) and cached. *T: M x E malloc'd, rows L2-normalised. */
int tac_noun_embeddings_cached(struct tac_clip *model, const char *const *nouns, int64_t m, float **T, int *e);
/* The same over the ranks of c (every rank calls it, with the same nouns): rank 0 holds the cache (lock, files);
 * the chunks it lacks are embedded with tac_embed_nouns_dist (batches shared out: the same bytes) and saved by rank
 * 0; every rank gets *T. A failure anywhere is TAC_ERR on every rank. c NULL: tac_noun_embeddings_cached. */
int tac_noun_embeddings_cached_dist(const tac_comm *c, struct tac_clip *model, const char *const *nouns, int64_t m,
                                    float **T, int *e);

/* ---- the cluster job -------------------------------------------------------------------------------- */
typedef struct {
    const char *model_dir;   /* Hugging Face CLIP folder (required) */
    const char *out_dir;     /* OUT (required) */
    const char *list_file;   /* extra inputs, one path per line (optional) */
    int K;                   /* clusters; 0 = estimate (K auto) */
    int kmax;                /* K auto tries 2..kmax (default 30) */
    int no_train;            /* TAC (no train) instead of the heads */
    int resume;              /* continue an interrupted run in OUT (inputs and options from OUT/run.json) */
    uint32_t seed;           /* default 1234 */
    int resize;              /* 224 (default) or 256 */
    int batch;               /* images per forward pass, default 32 */
    const char *vocabulary;  /* noun list file (one per line); NULL = WordNet nouns */
    const char *wordnet_dir; /* default /usr/share/wordnet */
    int n_names;             /* nouns naming each cluster, default 3 */
    int epochs;              /* heads epochs; 0 = automatic for the collection size */
} tac_cluster_params;

/* Limits on the options (checked by tac_cluster_run, also on values read back from OUT/run.json). */
#define TAC_CLUSTER_MAX_K 100000
#define TAC_CLUSTER_MAX_BATCH 1024     /* images per forward pass: 1024 x 3 x 224 x 224 floats is 0.6 GB */
#define TAC_CLUSTER_MAX_NAMES 20
#define TAC_CLUSTER_MAX_EPOCHS 100000
void tac_cluster_default_params(tac_cluster_params *p);
/* The options in range? Fails with one line naming the option. */
int tac_cluster_check_params(const tac_cluster_params *p);
int tac_cluster_run(const char *const *inputs, int ninputs, const tac_cluster_params *p);
/* Put new images into the clusters of a finished run in out_dir; appends to clusters.csv and by-cluster/. */
int tac_assign_run(const char *out_dir, const char *model_dir, const char *const *inputs, int ninputs,
                   const char *list_file, int batch);

/* ---- benchmark datasets (tac-method.md section 10) ------------------------------------------------ */
typedef struct {
    const char *name;
    int K;                    /* classes */
    int resize;               /* 224 or 256 (ImageNet family) */
    double paper_kmeans[3], paper_notrain[3], paper_tac[3];   /* NMI, ACC, ARI (%) from the paper */
} tac_dataset_info;

typedef struct {
    int64_t n, cap;
    char **paths;             /* N: file paths, or "<file>#<row>" names for in-memory images */
    int64_t *labels;          /* N */
    uint8_t *pixels;          /* N x h x w x 3 for binary datasets (all the same size), else NULL */
    int w, h;
    char **class_names;       /* nclasses, or NULL for binary datasets */
    int64_t nclasses;
} tac_split;

const tac_dataset_info *tac_dataset_find(const char *name);
const char *tac_dataset_names(void);
int tac_dataset_load(const char *name, const char *dir, tac_split *train, tac_split *test);
void tac_split_free(tac_split *s);

/* Videos (tac_video.c; needs the FFmpeg build, else these fail saying so): frame floor(F/2) of an F-frame clip as
 * RGB (*rgb: h x w x 3, malloc'd), or written as a PNG (skipped when png_path is newer than the video). */
int tac_video_available(void);
int tac_video_middle_frame(const char *path, uint8_t **rgb, int *w, int *h);
int tac_video_middle_frame_png(const char *video, const char *png_path);
/* `taclust bench`: embeds both splits (cached in out), runs CLIP k-means, TAC (no train) and TAC (unless
 * no_train_only) and prints NMI/ACC/ARI beside the paper's. limit > 0 keeps that many images per split (a quick
 * plumbing check, not comparable with the paper). vocabulary: noun list file or NULL for WordNet. */
int tac_bench_run(const char *dataset, const char *data_dir, const char *model_dir, const char *out,
                  uint32_t seed, int no_train_only, int64_t limit, const char *vocabulary);
/* The same over the ranks of comm (mpirun -np N taclust bench; NULL: tac_bench_run): every rank reads the dataset
 * and loads the model; the splits are embedded in shares of whole batches (each rank's chunks cached in
 * OUT/<split>.parts/rows-<lo>-<hi>.npy until the split's file is written) and gathered on every rank; the nouns
 * from rank 0's per-user cache or embedded by all ranks (tac_noun_embeddings_cached_dist); tac_fit runs with
 * params.comm; rank 0 prints the table
 * and writes metrics.json. A failure on any rank is TAC_ERR on every rank. */
int tac_bench_run_dist(const tac_comm *comm, const char *dataset, const char *data_dir, const char *model_dir,
                       const char *out, uint32_t seed, int no_train_only, int64_t limit, const char *vocabulary);

/* ---- embedding jobs over the ranks of a communicator (tac_dist_jobs.c; mpirun -np N taclust ...) ----------
 * Each is collective (every rank calls it with the same arguments) and ends with tac_comm_check: a failure on any
 * rank is TAC_ERR "rank R of N: ..." on every rank. A NULL communicator is one process. */

/* Rank 0's *n strings *list to every other rank (which get a malloc'd copy in *list, *n). */
int tac_dist_bcast_strings(const tac_comm *c, char ***list, int64_t *n);
/* The model spec resolved on every rank (rank 0 first: it may download). */
int tac_dist_resolve_model(const tac_comm *c, const char *spec, char **dir);
/* The model spec resolved (as above) and loaded on every rank. */
int tac_dist_load_model(const tac_comm *c, const char *spec, char **dir, struct tac_clip **m);
/* Rank 0's result of tac_dist_embed_images (other ranks: zeros). */
typedef struct {
    float *X;                 /* nok x E, the embedded images in list order */
    int64_t *kept, nok;       /* nok list indices of the rows of X */
    int64_t *skipped, nskipped; /* list indices of the images that could not be read, in order */
    char **why;               /* nskipped reasons (the path not repeated) */
    int64_t cached_batches, nbatches;   /* batches taken from the caches, of all */
} tac_dist_images;
/* paths[0..n) embedded in shares of whole batches (rank r: tac_dist_rows(n, batch, r, N)), each rank's share
 * resumable through its cache cache_dir/rank-R.bin (see tac_dist_jobs.c), gathered on rank 0 into *o. The rows
 * are bit-identical to tac_embed_images over the whole list with the same batch and threads. */
int tac_dist_embed_images(const tac_comm *c, const struct tac_clip *m, const char *const *paths, int64_t n,
                          int resize, int batch, const char *cache_dir, tac_dist_images *o);
void tac_dist_images_free(tac_dist_images *o);
/* tac_embed_prompts_dist (templates NULL) or tac_embed_nouns_dist over the ranks of c, each rank's finished batches
 * cached in cache_dir/rank-R.bin (keyed by the batch's token ids: a rerun, with any N, takes them from there).
 * out: n x E on every rank. *hits (may be NULL): batches taken from the caches, summed over the ranks. */
int tac_dist_embed_text(const tac_comm *c, const struct tac_clip *m, const char *const *lines, int64_t n,
                        const char *const *templates, int ntemplates, const tac_embed_text_params *p,
                        const char *cache_dir, float *out, int64_t *hits);
/* After the outputs are written: each rank removes its cache file, then rank 0 the others' and the folder. */
void tac_dist_remove_caches(const tac_comm *c, const char *cache_dir);

/* ---- the console (tac_console.c): the program prints, the library reports -------------------------------
 * tac_console_init installs the log printer ("taclust: <msg>" on stderr; INFO and DEBUG silenced by --quiet)
 * and the progress printer (below) as the library's process-wide callbacks, and the write-failure hook when
 * $TACLUST_DEBUG_FAIL_WRITE is set. main() calls it first; tests that run program code in-process may too. */
extern int tac_progress_quiet;                     /* set by --quiet: no messages below WARN, no progress */
void tac_console_init(void);
/* A message of the program itself, printed as the library's INFO messages are. */
void tac_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends a progress bar left half drawn on a terminal (a failed task) before other output; no-op otherwise. */
void tac_console_break(void);
/* The log and progress printers themselves (what tac_console_init installs; user is unused). */
void tac_console_log(int level, const char *msg, void *user);
void tac_console_progress(const char *label, int64_t done, int64_t total, void *user);
/* Download progress in megabytes, as `taclust` shows a model download (tac_model_resolve around it). */
void tac_console_progress_bytes(const char *label, int64_t done, int64_t total, void *user);

/* The printer's state for one stream, exposed so tests can drive it with their own clock. On a terminal (tty):
 * a bar with rate and ETA, redrawn at most 10 times a second from `delay` s on (1 s; 0.5 s for bytes); otherwise
 * one line every 5 s, the first after 5 s, and a closing "took" line if any was shown. Nothing is shown for work
 * that ends sooner. A call whose label differs from the running task's (or whose done goes back, or after the
 * task ended) starts a new task; its first done is the base of the rate (a resumed download). */
typedef struct {
    char label[128];
    int64_t base, done, total;
    double t0, last;
    int active;        /* a task is running */
    int shown;         /* the task has been drawn (so it gets a closing line) */
    int open;          /* a terminal line holds the bar (no newline yet) */
    int tty, bytes;    /* the stream is a terminal; done and total are bytes */
} tac_console_bar;
void tac_console_bar_feed(tac_console_bar *b, FILE *f, const char *label, int64_t done, int64_t total, double now);

/* $TACLUST_DEBUG_FAIL_WRITE=SUBSTRING (tests): 1 (errno ENOSPC) when SUBSTRING is in `what`. The program's outputs
 * ask it before a write they make themselves; tac_console_init installs it into the library's atomic writer. */
int tac_debug_write_fails(const char *what);
#endif
