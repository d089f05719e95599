/* taclust/app.h - the folder-of-images job: `taclust cluster`, `taclust assign`, `taclust bench`.
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
#ifndef TACLUST_APP_H
#define TACLUST_APP_H

#include "taclust/version.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embedding cache -------------------------------------------------------------------------------- */
typedef struct tac_embcache tac_embcache;
/* Opens (creating) the cache file for E-dimensional vectors; existing valid records are loaded, a torn or
 * corrupt tail is cut off. Fails if the file holds vectors of another dimension or model tag. */
TAC_API int tac_embcache_open(const char *path, int e, const char *model_tag, tac_embcache **out);
/* Looks up a file by path + size + mtime (as stat() reports now). Returns a pointer to E floats or NULL. */
TAC_API const float *tac_embcache_get(const tac_embcache *c, const char *path, int64_t size, int64_t mtime_ns);
/* Appends records and makes them durable (fflush + fsync) before returning. vecs: n x E. */
TAC_API int tac_embcache_put(tac_embcache *c, int n, const char *const *paths, const int64_t *sizes,
                     const int64_t *mtimes, const float *vecs);
TAC_API int64_t tac_embcache_count(const tac_embcache *c);
TAC_API void tac_embcache_close(tac_embcache *c);
/* stat() helper: size and mtime in nanoseconds. */
TAC_API int tac_file_key(const char *path, int64_t *size, int64_t *mtime_ns);

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
TAC_API char **tac_image_nouns(const float *W, int64_t n, int64_t s, const int64_t *sel, char *const *nouns);
TAC_API int tac_write_clusters_csv(const char *path, const tac_clustering_view *v);
/* The rows of clusters.csv (no header line) for v's images, written to f (what assign appends). */
TAC_API void tac_write_clusters_csv_rows(FILE *f, const tac_clustering_view *v);
TAC_API int tac_write_clusters_json(const char *path, const tac_clustering_view *v, const char *extra_json);
/* Rebuilds OUT/by-cluster atomically (built beside, then swapped in). */
TAC_API int tac_write_cluster_links(const char *out_dir, const tac_clustering_view *v);
/* One self-contained HTML page: every cluster a row of thumbnails (base64 JPEG) under its name and size. */
TAC_API int tac_write_report_html(const char *path, const tac_clustering_view *v, const char *title);
/* "tabby, tiger cat" -> "tabby-tiger-cat" (lower case, [a-z0-9-], at most maxlen chars). */
TAC_API void tac_slugify(const char *name, char *out, int maxlen);

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
TAC_API int tac_outdir_open(tac_outdir *o, const char *out, int create);
/* Removes temporaries and run folders of dead processes; fails, naming it, if what a run would replace holds a
 * file taclust did not write. */
TAC_API int tac_outdir_prepare(tac_outdir *o);
TAC_API int tac_outdir_stage(tac_outdir *o);    /* creates o->stage, where every output of the run is written */
TAC_API int tac_outdir_commit(tac_outdir *o);   /* one atomic switch to o->stage; then the earlier run is removed */
TAC_API void tac_outdir_close(tac_outdir *o);   /* removes an uncommitted stage, unlocks */
/* by-cluster/ of a run folder: copies src_run's NN-name folders of links into dst_run (never following a
 * link; anything but a folder of links is refused), leaving out links whose target is one of skip[0..nskip)
 * (sorted in place), for assign. */
TAC_API int tac_copy_cluster_links(const char *src_run, const char *dst_run, char **skip, int64_t nskip);
/* Adds a link to `target` named after base in dst_run/by-cluster/<the folder of cluster c> (created as
 * NN-cluster when missing), with a -2, -3, ... suffix when the name is taken. Never follows a link. */
TAC_API int tac_add_cluster_link(const char *run_dir, int c, int k, const char *target, const char *base);
/* The text of one clusters.csv cell as written: control characters escaped, a leading = + - @ (or tab/CR)
 * neutralised with a single quote, quoted when it holds a comma or quote (malloc'd). */
TAC_API char *tac_csv_cell(const char *s);

/* ---- noun embeddings, cached per user ------------------------------------------------------------- */
TAC_API struct tac_clip;
/* $XDG_CACHE_HOME/taclust (or ~/.cache/taclust). */
TAC_API int tac_user_cache_dir(char *buf, size_t n);
/* TAC noun embeddings (7 templates, averaged, normalised) of the given nouns for this model, from the per-user
 * cache or computed (chunk by chunk, resumable) and cached. *T: M x E malloc'd, rows L2-normalised. */
TAC_API int tac_noun_embeddings_cached(struct tac_clip *model, const char *const *nouns, int64_t m, float **T, int *e);

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
TAC_API void tac_cluster_default_params(tac_cluster_params *p);
/* The options in range? Fails with one line naming the option. */
TAC_API int tac_cluster_check_params(const tac_cluster_params *p);
TAC_API int tac_cluster_run(const char *const *inputs, int ninputs, const tac_cluster_params *p);
/* Put new images into the clusters of a finished run in out_dir; appends to clusters.csv and by-cluster/. */
TAC_API int tac_assign_run(const char *out_dir, const char *model_dir, const char *const *inputs, int ninputs,
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

TAC_API const tac_dataset_info *tac_dataset_find(const char *name);
TAC_API const char *tac_dataset_names(void);
TAC_API int tac_dataset_load(const char *name, const char *dir, tac_split *train, tac_split *test);
TAC_API void tac_split_free(tac_split *s);

/* Python pickles, read safely (tac_pickle.c; nothing is executed): the plain-data subset of protocols 0-5 plus
 * numpy uint8 arrays, enough for the CIFAR "python version" batches. `what` names the input in errors. */
typedef struct tac_pickle tac_pickle;
typedef struct tac_pyval tac_pyval;
TAC_API int tac_pickle_parse(const void *buf, size_t len, const char *what, tac_pickle **out);
TAC_API const tac_pyval *tac_pickle_root(const tac_pickle *p);
TAC_API int tac_py_is_dict(const tac_pyval *v);
TAC_API const tac_pyval *tac_py_dict_get(const tac_pyval *dict, const char *key);   /* str or bytes key; NULL if absent */
TAC_API int tac_py_int_list(const tac_pyval *v, const char *what, const char *name, int64_t **out, int64_t *n);
/* numpy uint8 array (C order): *data points into the pickle's buffer; shape[0..ndim). */
TAC_API int tac_py_ndarray_u8(const tac_pyval *v, const char *what, const char *name, const uint8_t **data,
                      int64_t shape[8], int *ndim);
TAC_API void tac_pickle_free(tac_pickle *p);
/* A CIFAR python batch: labels under label_key ("labels", "fine_labels", "coarse_labels"), *pixels N x 3072
 * (R, G, B planes of 32x32, as stored), both malloc'd. */
/* Videos (tac_video.c; needs the FFmpeg build, else these fail saying so): frame floor(F/2) of an F-frame clip as
 * RGB (*rgb: h x w x 3, malloc'd), or written as a PNG (skipped when png_path is newer than the video). */
TAC_API int tac_video_available(void);
TAC_API int tac_video_middle_frame(const char *path, uint8_t **rgb, int *w, int *h);
TAC_API int tac_video_middle_frame_png(const char *video, const char *png_path);
TAC_API int tac_pickle_cifar_batch(const void *buf, size_t len, const char *what, const char *label_key,
                           int64_t **labels, uint8_t **pixels, int64_t *n);
/* `taclust bench`: embeds both splits (cached in out), runs CLIP k-means, TAC (no train) and TAC (unless
 * no_train_only) and prints NMI/ACC/ARI beside the paper's. limit > 0 keeps that many images per split (a quick
 * plumbing check, not comparable with the paper). vocabulary: noun list file or NULL for WordNet. */
TAC_API int tac_bench_run(const char *dataset, const char *data_dir, const char *model_dir, const char *out,
                  uint32_t seed, int no_train_only, int64_t limit, const char *vocabulary);

#ifdef __cplusplus
}
#endif
#endif
