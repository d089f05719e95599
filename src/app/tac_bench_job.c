/* tac_bench_job.c - `taclust bench DATASET`: reproduce a row of the paper's tables (tac-method.md section 14).
 *
 * Reads the dataset (tac_datasets.c), embeds both splits with the CLIP model (cached in OUT as
 * <split>.npy + <split>.labels.npy, chunk by chunk so an interrupted run resumes), embeds the WordNet nouns
 * (per-user cache), runs CLIP k-means, TAC (no train) and TAC with the dataset's preset, and prints NMI / ACC /
 * ARI beside the paper's numbers; writes OUT/metrics.json.
 * Under mpirun (tac_bench_run_dist) the splits are embedded in shares of whole batches over the ranks, tac_fit runs
 * with the communicator, and rank 0 alone prints and writes.
 */
#include "app/tac_app.h"
#include "core/tac_dist.h"
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/image.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAC_BENCH_CHUNK 2048

/* Embeds rows [lo, lo+cnt) of a split. In-memory pixels are preprocessed here; files go through
 * tac_embed_images. ok: cnt flags. out: cnt x E. */
static int embed_chunk(tac_clip *m, const tac_split *s, int64_t lo, int64_t cnt, int resize, int batch,
                       float *out, int8_t *ok)
{
    int e = tac_clip_embed_dim(m), S = tac_clip_image_size(m);
    if (!s->pixels) {
        tac_embed_images_params ep = tac_embed_images_default_params();
        ep.resize = resize; ep.batch = batch; ep.label = NULL;
        return tac_embed_images(m, (const char *const *)s->paths + lo, cnt, &ep, out, ok, NULL);
    }
    size_t per = (size_t)s->w * s->h * 3, px = (size_t)3 * S * S;
    float *pix = tac_xmalloc((size_t)batch * px, sizeof(float));
    int rc = TAC_OK;
    for (int64_t b0 = 0; b0 < cnt && rc == TAC_OK; b0 += batch) {
        int nb = (int)(cnt - b0 < batch ? cnt - b0 : batch);
        int bad = 0;
        #pragma omp parallel for schedule(dynamic, 1) reduction(+:bad)
        for (int i = 0; i < nb; i++) {
            tac_image img = {s->w, s->h, s->pixels + (size_t)(lo + b0 + i) * per};
            if (tac_clip_preprocess(&img, resize, S, pix + (size_t)i * px) != TAC_OK) bad++;
        }
        if (bad) { rc = tac_fail("preprocessing failed: %s", tac_last_error()); break; }
        rc = tac_clip_encode_images(m, pix, nb, out + (size_t)b0 * e);
        for (int i = 0; i < nb; i++) ok[b0 + i] = 1;
    }
    free(pix);
    return rc;
}

/* Embeds a split into OUT/<name>.npy, resumable by chunk files in OUT/<name>.parts/. */
static int embed_split(tac_clip *m, const tac_split *s, const char *out, const char *name, int resize, int batch,
                       float **X_out)
{
    int e = tac_clip_embed_dim(m);
    char final[PATH_MAX + 64], parts[PATH_MAX + 64], part[PATH_MAX + 96];
    snprintf(final, sizeof final, "%s/%s.npy", out, name);
    snprintf(parts, sizeof parts, "%s/%s.parts", out, name);
    float *X; int64_t r, c;
    struct stat st;
    if (stat(final, &st) == 0 && tac_npy_load_f32(final, &X, &r, &c) == TAC_OK) {
        if (r == s->n && c == e) { tac_info("%s: %lld embeddings from %s", name, (long long)r, final); *X_out = X; return TAC_OK; }
        free(X);
    }
    if (tac_mkdir_p(parts) != TAC_OK) return TAC_ERR;
    X = tac_xmalloc((size_t)s->n * e, sizeof(float));
    int8_t *ok = tac_xmalloc(TAC_BENCH_CHUNK, 1);
    char label[64];
    snprintf(label, sizeof label, "embedding %s", name);
    tac_progress pr;
    tac_progress_begin(&pr, label, s->n);
    int rc = TAC_OK;
    for (int64_t lo = 0; lo < s->n && rc == TAC_OK; lo += TAC_BENCH_CHUNK) {
        int64_t cnt = s->n - lo < TAC_BENCH_CHUNK ? s->n - lo : TAC_BENCH_CHUNK;
        snprintf(part, sizeof part, "%s/part-%06lld.npy", parts, (long long)(lo / TAC_BENCH_CHUNK));
        float *P;
        if (stat(part, &st) == 0 && tac_npy_load_f32(part, &P, &r, &c) == TAC_OK && r == cnt && c == e) {
            memcpy(X + lo * e, P, (size_t)cnt * e * sizeof(float));
            free(P);
        } else {
            if (embed_chunk(m, s, lo, cnt, resize, batch, X + lo * e, ok) != TAC_OK) { rc = TAC_ERR; break; }
            for (int64_t i = 0; i < cnt; i++)
                if (!ok[i]) { rc = tac_fail("%s: could not be read; a benchmark needs every image", s->paths[lo + i]); break; }
            int64_t sh[2] = {cnt, e};
            if (rc == TAC_OK) rc = tac_npy_save_f32(part, X + lo * e, 2, sh);
        }
        tac_progress_update(&pr, lo + cnt);
    }
    tac_progress_end(&pr);
    free(ok);
    if (rc == TAC_OK) {
        int64_t sh[2] = {s->n, e};
        rc = tac_npy_save_f32(final, X, 2, sh);
        if (rc == TAC_OK) {
            for (int64_t lo = 0; lo < s->n; lo += TAC_BENCH_CHUNK) {
                snprintf(part, sizeof part, "%s/part-%06lld.npy", parts, (long long)(lo / TAC_BENCH_CHUNK));
                unlink(part);
            }
            rmdir(parts);
        }
    }
    if (rc != TAC_OK) { free(X); return rc; }
    *X_out = X;
    return TAC_OK;
}

/* The part files in OUT/<name>.parts: rows-LO-HI.npy (a run over ranks) and part-K.npy (the single process: rows
 * [K*CHUNK, K*CHUNK+CHUNK) cut at n). Each holds rows of whole batches of the same global batching, so its rows are
 * the bytes any run computes for them. *A, *B: rows [A, B); 0 when the name is none of these. */
static int part_rows(const char *fname, int64_t n, int64_t *A, int64_t *B)
{
    long long a, b;
    int len = 0;
    if (sscanf(fname, "rows-%lld-%lld.npy%n", &a, &b, &len) == 2 && len > 0 && fname[len] == 0) {
        *A = a; *B = b;
    } else if (len = 0, sscanf(fname, "part-%lld.npy%n", &a, &len) == 1 && len > 0 && fname[len] == 0) {
        *A = a * TAC_BENCH_CHUNK;
        *B = *A + TAC_BENCH_CHUNK < n ? *A + TAC_BENCH_CHUNK : n;
    } else {
        return 0;
    }
    return *A >= 0 && *A < *B && *B <= n;
}

/* Rows [a, a+cnt) of X (N x E) from the part files of earlier runs in `parts`, whatever their number of ranks:
 * 1 when every row was found, else 0 (X may then hold some of them; the caller embeds the rows again). */
static int rows_from_parts(const char *parts, int64_t n, int64_t a, int64_t cnt, int e, float *X)
{
    DIR *d = opendir(parts);
    if (!d) return 0;
    int64_t (*ref)[2] = NULL;   /* nref x {A, B} */
    char **name = NULL;         /* nref */
    int nref = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t A, B;
        if (!part_rows(de->d_name, n, &A, &B) || B <= a || A >= a + cnt) continue;
        if (nref == cap) {
            cap = cap ? 2 * cap : 16;
            ref = tac_xrealloc(ref, (size_t)cap, sizeof *ref);
            name = tac_xrealloc(name, (size_t)cap, sizeof *name);
        }
        ref[nref][0] = A; ref[nref][1] = B;
        name[nref++] = tac_xstrdup(de->d_name);
    }
    closedir(d);
    int found = 1;
    for (int64_t i = a; i < a + cnt && found;) {
        int j = 0;
        while (j < nref && !(ref[j][0] <= i && i < ref[j][1])) j++;
        float *P = NULL;
        int64_t r = 0, c = 0;
        char path[PATH_MAX + 300];
        if (j < nref) snprintf(path, sizeof path, "%s/%s", parts, name[j]);
        found = j < nref && tac_npy_load_f32(path, &P, &r, &c) == TAC_OK && r == ref[j][1] - ref[j][0] && c == e;
        if (found) {
            int64_t z = ref[j][1] < a + cnt ? ref[j][1] : a + cnt;
            memcpy(X + (size_t)i * e, P + (size_t)(i - ref[j][0]) * e, (size_t)(z - i) * e * sizeof(float));
            i = z;
        }
        free(P);
    }
    tac_free_strings(name, nref);
    free(ref);
    tac_clear_error();
    return found;
}

/* Removes the part files of OUT/<name>.parts and the folder (a model change, or the split's file written). */
static void remove_parts(const char *out, const char *name)
{
    char parts[PATH_MAX + 64], path[PATH_MAX + 400];
    snprintf(parts, sizeof parts, "%s/%s.parts", out, name);
    DIR *d = opendir(parts);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        int64_t A, B;
        if (!part_rows(de->d_name, INT64_MAX, &A, &B)) continue;
        snprintf(path, sizeof path, "%s/%s", parts, de->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(parts);
}

/* embed_split over the ranks of c: rank 0's OUT/<name>.npy sent to every rank when it is there; else every rank
 * embeds its share of whole batches (tac_dist_rows with the batch as the tile: the batches of the single process) in
 * chunks of at most TAC_BENCH_CHUNK rows, each saved as OUT/<name>.parts/rows-<lo>-<hi>.npy (a rerun with the same
 * ranks finds them), the rows are gathered on every rank, rank 0 writes OUT/<name>.npy and the parts are removed.
 * Every step agreed (tac_comm_check). */
static int embed_split_ranks(const tac_comm *c, tac_clip *m, const tac_split *s, const char *out, const char *name,
                             int resize, int batch, float **X_out)
{
    int e = tac_clip_embed_dim(m), me = c->rank;
    char final[PATH_MAX + 64], parts[PATH_MAX + 64], part[PATH_MAX + 160];
    snprintf(final, sizeof final, "%s/%s.npy", out, name);
    snprintf(parts, sizeof parts, "%s/%s.parts", out, name);
    float *X = NULL;
    int64_t r, cc, have = 0;
    struct stat st;
    if (me == 0 && stat(final, &st) == 0 && tac_npy_load_f32(final, &X, &r, &cc) == TAC_OK) {
        if (r == s->n && cc == e) have = 1;
        else { free(X); X = NULL; }
    }
    tac_clear_error();
    if (tac_comm_check(c, c->bcast(c, &have, sizeof have, 0)) != TAC_OK) { free(X); return TAC_ERR; }
    if (have) {
        if (me == 0) tac_info("%s: %lld embeddings from %s", name, (long long)s->n, final);
        if (!X) X = tac_try_malloc((size_t)s->n * e, sizeof(float), "the split's embeddings");   /* N x E */
        int rc = tac_comm_check(c, X ? TAC_OK : TAC_ERR);
        if (rc == TAC_OK) rc = tac_comm_check(c, c->bcast(c, X, s->n * e * (int64_t)sizeof(float), 0));
        if (rc != TAC_OK) { free(X); return TAC_ERR; }
        *X_out = X;
        return TAC_OK;
    }
    int64_t lo, hi;
    tac_dist_rows(s->n, batch, me, c->size, &lo, &hi);
    X = tac_try_malloc((size_t)s->n * e + 1, sizeof(float), "the split's embeddings");   /* N x E */
    int8_t *ok = tac_xmalloc(TAC_BENCH_CHUNK, 1);
    int rc = X ? tac_mkdir_p(parts) : TAC_ERR;
    char label[64];
    snprintf(label, sizeof label, "embedding %s", name);
    tac_progress pr;
    tac_progress_begin(&pr, label, hi - lo);
    for (int64_t a = lo; a < hi && rc == TAC_OK; a += TAC_BENCH_CHUNK) {
        int64_t cnt = hi - a < TAC_BENCH_CHUNK ? hi - a : TAC_BENCH_CHUNK;
        snprintf(part, sizeof part, "%s/rows-%012lld-%012lld.npy", parts, (long long)a, (long long)(a + cnt));
        if (!rows_from_parts(parts, s->n, a, cnt, e, X)) {
            tac_clear_error();
            if (embed_chunk(m, s, a, cnt, resize, batch, X + a * e, ok) != TAC_OK) { rc = TAC_ERR; break; }
            for (int64_t i = 0; i < cnt; i++)
                if (!ok[i]) { rc = tac_fail("%s: could not be read; a benchmark needs every image", s->paths[a + i]); break; }
            int64_t sh[2] = {cnt, e};
            if (rc == TAC_OK) rc = tac_npy_save_f32(part, X + a * e, 2, sh);
        }
        tac_progress_update(&pr, a + cnt - lo);
    }
    tac_progress_end(&pr);
    free(ok);
    if ((rc = tac_comm_check(c, rc)) == TAC_OK) rc = tac_comm_check(c, tac_dist_allgather_rows(c, X, s->n, batch, e * (int64_t)sizeof(float)));
    if (rc == TAC_OK && me == 0) {
        int64_t sh[2] = {s->n, e};
        rc = tac_npy_save_f32(final, X, 2, sh);
    }
    if ((rc = tac_comm_check(c, rc)) == TAC_OK) {
        for (int64_t a = lo; a < hi; a += TAC_BENCH_CHUNK) {   /* this rank's own (its folder may be its own disk) */
            int64_t cnt = hi - a < TAC_BENCH_CHUNK ? hi - a : TAC_BENCH_CHUNK;
            snprintf(part, sizeof part, "%s/rows-%012lld-%012lld.npy", parts, (long long)a, (long long)(a + cnt));
            unlink(part);
        }
        if (tac_comm_check(c, TAC_OK) == TAC_OK && me == 0) remove_parts(out, name);   /* then those of earlier runs */
    }
    if (rc != TAC_OK) { free(X); return TAC_ERR; }
    *X_out = X;
    return TAC_OK;
}

static void metrics_json(cJSON *o, const char *key, const tac_metrics *m, const double paper[3])
{
    cJSON *x = cJSON_AddObjectToObject(o, key);
    cJSON_AddNumberToObject(x, "nmi", 100 * m->nmi);
    cJSON_AddNumberToObject(x, "acc", 100 * m->acc);
    cJSON_AddNumberToObject(x, "ari", 100 * m->ari);
    cJSON *pp = cJSON_AddObjectToObject(x, "paper");
    cJSON_AddNumberToObject(pp, "nmi", paper[0]);
    cJSON_AddNumberToObject(pp, "acc", paper[1]);
    cJSON_AddNumberToObject(pp, "ari", paper[2]);
}

int tac_bench_run(const char *dataset, const char *data_dir, const char *model_dir, const char *out,
                  uint32_t seed, int no_train_only, int64_t limit, const char *vocabulary)
{
    return tac_bench_run_dist(NULL, dataset, data_dir, model_dir, out, seed, no_train_only, limit, vocabulary);
}

/* With c NULL (one process) the checks below (tac_comm_check) return their rc unchanged. */
int tac_bench_run_dist(const tac_comm *c, const char *dataset, const char *data_dir, const char *model_dir,
                       const char *out, uint32_t seed, int no_train_only, int64_t limit, const char *vocabulary)
{
    const int dist = tac_dist_active(c), me = tac_comm_rank(c);
    const tac_dataset_info *info = tac_dataset_find(dataset);
    if (!info) return tac_comm_check(c, tac_fail("unknown dataset '%s' (known: %s)", dataset, tac_dataset_names()));
    tac_split tr, te;
    tac_info("reading %s from %s", dataset, data_dir);
    int lrc = tac_dataset_load(dataset, data_dir, &tr, &te);
    if (tac_comm_check(c, lrc) != TAC_OK) {
        if (lrc == TAC_OK) { tac_split_free(&tr); tac_split_free(&te); }   /* another rank failed */
        return TAC_ERR;
    }
    if (limit > 0) {   /* a quick look: the first `limit` images of each split, evenly over the classes */
        tac_split *sp[2] = {&tr, &te};
        for (int s = 0; s < 2; s++) {
            tac_split *x = sp[s];
            if (x->n <= limit) continue;
            int64_t stride = x->n / limit, k = 0;
            size_t per = (size_t)x->w * x->h * 3;
            for (int64_t i = 0; i < x->n; i++) {
                if (i % stride == 0 && k < limit) {
                    char *pth = x->paths[i]; x->paths[i] = x->paths[k]; x->paths[k] = pth;
                    x->labels[k] = x->labels[i];
                    if (x->pixels) memmove(x->pixels + (size_t)k * per, x->pixels + (size_t)i * per, per);
                    k++;
                }
            }
            for (int64_t i = k; i < x->n; i++) free(x->paths[i]);
            x->n = k;
        }
    }
    tac_info("%s: %lld train and %lld test images, K=%d", dataset, (long long)tr.n, (long long)te.n, info->K);
    tac_clip *model = NULL;
    float *Xtr = NULL, *Xte = NULL, *T = NULL;
    char **nouns = NULL;
    int64_t m = 0;
    int e = 0, rc = TAC_ERR;
    tac_fit_result r;
    memset(&r, 0, sizeof r);
    if (tac_comm_check(c, tac_mkdir_p(out)) != TAC_OK) goto done;
    if (tac_comm_check(c, tac_clip_load_ex(model_dir, &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &model)) != TAC_OK)
        goto done;
    if (!dist || me == 0) {   /* a model change invalidates the split caches (rank 0's OUT) */
        int hrc = TAC_ERR;
        char tag[PATH_MAX + 32], *old = NULL; size_t ol;
        snprintf(tag, sizeof tag, "%s/model.hash", out);
        const char *h = tac_clip_cache_tag(model);   /* hash, and precision: bf16 never mixes with fp32 */
        char want[128];
        snprintf(want, sizeof want, "%s %s %lld\n", h, dataset, (long long)limit);
        if (tac_read_file(tag, &old, &ol) != TAC_OK || strcmp(old, want) != 0) {
            char p2[PATH_MAX + 32];
            snprintf(p2, sizeof p2, "%s/train.npy", out); unlink(p2);
            snprintf(p2, sizeof p2, "%s/test.npy", out); unlink(p2);
            remove_parts(out, "train");   /* parts embedded with the other model */
            remove_parts(out, "test");
            if (tac_write_file_atomic(tag, want, strlen(want)) != TAC_OK) { free(old); goto hash_done; }
        }
        free(old);
        hrc = TAC_OK;
    hash_done:
        if (!dist && hrc != TAC_OK) goto done;
        if (dist && tac_comm_check(c, hrc) != TAC_OK) goto done;
    } else if (tac_comm_check(c, TAC_OK) != TAC_OK) {
        goto done;
    }
    if (!dist) {
        if (embed_split(model, &tr, out, "train", info->resize, 32, &Xtr) != TAC_OK) goto done;
        if (embed_split(model, &te, out, "test", info->resize, 32, &Xte) != TAC_OK) goto done;
        if (vocabulary) { if (tac_read_lines(vocabulary, &nouns, &m, 1) != TAC_OK) goto done; }
        else if (tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &nouns, &m) != TAC_OK) goto done;
        if (tac_noun_embeddings_cached(model, (const char *const *)nouns, m, &T, &e) != TAC_OK) goto done;
    } else {
        if (embed_split_ranks(c, model, &tr, out, "train", info->resize, 32, &Xtr) != TAC_OK) goto done;
        if (embed_split_ranks(c, model, &te, out, "test", info->resize, 32, &Xte) != TAC_OK) goto done;
        /* the nouns: rank 0 reads them and sends them; their embeddings from rank 0's per-user cache, the chunks it
         * lacks embedded by all ranks together */
        int nrc = TAC_OK;
        if (me == 0)
            nrc = vocabulary ? tac_read_lines(vocabulary, &nouns, &m, 1) : tac_wordnet_nouns(TAC_WORDNET_DEFAULT_DIR, &nouns, &m);
        if (tac_comm_check(c, nrc) != TAC_OK || tac_dist_bcast_strings(c, &nouns, &m) != TAC_OK) goto done;
        if (tac_noun_embeddings_cached_dist(c, model, (const char *const *)nouns, m, &T, &e) != TAC_OK) goto done;
    }
    tac_fit_params fp;
    tac_fit_default_params(&fp);
    if (tac_comm_check(c, tac_fit_preset(dataset, &fp)) != TAC_OK) goto done;
    fp.comm = dist ? c : NULL;
    fp.seed = seed;
    fp.train = !no_train_only;
    fp.baseline = 1;
    fp.progress = !tac_progress_quiet;
    if (fp.heads.batch > tr.n) fp.heads.batch = (int)tr.n;
    if (fp.knn >= tr.n) fp.knn = (int)tr.n - 1;
    if (tac_comm_check(c, tac_fit(Xtr, tr.n, Xte, te.n, e, T, m, (const char *const *)nouns, te.labels, tr.labels, &fp,
                                  &r)) != TAC_OK)
        goto done;
    if (me != 0) { rc = tac_comm_check(c, TAC_OK); goto done; }   /* rank 0 prints and writes */
    printf("\n%s, test split (%lld images), K=%d, CLIP model %s%s\n", dataset, (long long)te.n, info->K, model_dir,
           limit > 0 ? " [subset: not comparable with the paper]" : "");
    printf("%-18s %7s %7s %7s   | paper %5s %5s %5s\n", "method", "NMI", "ACC", "ARI", "NMI", "ACC", "ARI");
    const struct { const char *name; const tac_metrics *m; const double *paper; int have; } rows[3] = {
        {"CLIP (k-means)", &r.m_kmeans, info->paper_kmeans, r.pred_kmeans != NULL},
        {"TAC (no train)", &r.m_notrain, info->paper_notrain, 1},
        {"TAC", &r.m_tac, info->paper_tac, r.pred_tac != NULL}};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", dataset);
    cJSON_AddNumberToObject(o, "n_train", (double)tr.n);
    cJSON_AddNumberToObject(o, "n_test", (double)te.n);
    cJSON_AddNumberToObject(o, "K", info->K);
    cJSON_AddNumberToObject(o, "semantic_centres", r.k);
    cJSON_AddNumberToObject(o, "selected_nouns", (double)r.nsel);
    cJSON_AddNumberToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "clip_hash", tac_clip_hash(model));
    cJSON_AddStringToObject(o, "clip_precision", tac_clip_precision_name(tac_clip_precision(model)));
    for (int i = 0; i < 3; i++) {
        if (!rows[i].have) continue;
        printf("%-18s %7.2f %7.2f %7.2f   |       %5.1f %5.1f %5.1f\n", rows[i].name, 100 * rows[i].m->nmi,
               100 * rows[i].m->acc, 100 * rows[i].m->ari, rows[i].paper[0], rows[i].paper[1], rows[i].paper[2]);
        metrics_json(o, i == 0 ? "clip_kmeans" : i == 1 ? "tac_no_train" : "tac", rows[i].m, rows[i].paper);
    }
    {
        char *s = cJSON_Print(o);
        cJSON_Delete(o);
        char p2[PATH_MAX + 32];
        snprintf(p2, sizeof p2, "%s/metrics.json", out);
        rc = tac_write_file_atomic(p2, s, strlen(s));
        free(s);
        if (rc == TAC_OK) printf("written %s\n", p2);
        rc = tac_comm_check(c, rc);
    }
done:
    tac_clip_free(model);
    free(Xtr); free(Xte); free(T);
    tac_free_strings(nouns, m);
    tac_fit_result_free(&r);
    tac_split_free(&tr);
    tac_split_free(&te);
    return rc;
}
