/* cmd_fit.c - `taclust fit`: the whole TAC method on precomputed embeddings (tac_fit, taclust/pipeline.h),
 * writing predictions, the selected nouns, cluster names, metrics and the trained heads into a folder.
 *
 *   taclust fit --train Xtr.npy --test Xte.npy --nouns T.npy [--noun-names nouns.txt] -K K --out DIR
 *               [--labels Yte.npy] [--train-labels Ytr.npy] [--no-train] [--preset NAME] [--seed S]
 *               [--centres k] [--epochs E] [--batch B] [--heads-precision fp32|bf16|auto]
 * Outputs are staged in DIR/.fit-tmp.<pid>/ and renamed into DIR only when everything succeeded, so DIR
 * never holds a partial or mixed set from a failed run.
 *
 * Under mpirun (mpirun -np N taclust fit ...; src/mpi/tac_mpi.c): every rank maps the same inputs (they must be
 * readable on every machine), checks they are the same as rank 0's (shapes and a sample of rows), and runs tac_fit
 * with the MPI communicator, which shares the stages (taclust/dist.h); rank 0 alone stages and writes the outputs,
 * after every rank succeeded. A rank that fails ends every rank with the reason naming it.
 */
#include "tac_cli.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"
#include "taclust/dist.h"
#include "mpi/tac_mpi.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *USAGE =
    "usage: taclust fit --train Xtr.npy --test Xte.npy --nouns T.npy [--noun-names nouns.txt] -K K --out DIR\n"
    "                   [--labels Yte.npy] [--train-labels Ytr.npy] [--no-train] [--preset NAME] [--seed S]\n"
    "                   [--centres k] [--epochs E] [--batch B] [--heads-precision fp32|bf16|auto]\n\n"
    "Runs TAC (Li et al., ICML 2024) on precomputed CLIP embeddings (tac-method.md sections 4-10):\n"
    "  k-means of the train images into k semantic centres (k = round(N_train/300), 3K if that is below K),\n"
    "  selection of 5 nouns per centre, soft retrieval (tau 0.005) of a text counterpart for every image,\n"
    "  TAC (no train) = spherical k-means of [image; text] of the test split (niter 300, nredo 20), and\n"
    "  TAC = two cluster heads trained on train with cross-modal distillation over 50 nearest neighbours,\n"
    "  predicting the test split with the image head.\n"
    "Inputs: N x D .npy embeddings (float16/32/64, not necessarily normalised), the same D everywhere;\n"
    "  nouns.txt has one name per row of T.npy (e.g. the WordNet lemmas), or give a WordNet folder holding\n"
    "  data.noun (e.g. /usr/share/wordnet) to use its 146,347 noun lemmas; labels are integer .npy arrays or\n"
    "  text files with one label per line (TAC's savetxt files work). Progress goes to stderr (--quiet: none),\n"
    "  a summary with the metrics, cluster names and stage times to stdout.\n"
    "Writes into DIR (created if missing):\n"
    "  pred_notrain.npy   N_test int64, TAC (no train) clusters\n"
    "  pred_tac.npy       N_test int64, TAC clusters (not with --no-train)\n"
    "  selected.txt       selected noun indices (rows of T.npy), ascending\n"
    "  selected_nouns.tsv index, name, centre of each selected noun\n"
    "  cluster_names.tsv  cluster, size, the 5 nouns with the largest summed retrieval weight over the\n"
    "                     cluster's test members (distinct after case-folding and '_' -> ' ')\n"
    "  metrics.json       with --labels: ACC/NMI/ARI (fractions) of CLIP k-means on image features only,\n"
    "                     TAC (no train) and TAC; with --train-labels also TAC on the train split\n"
    "  heads.bin          the trained heads (not with --no-train)\n"
    "Presets (set K, epochs, batch, T of section 10): stl10 cifar10 cifar20 imagenet10 imagenet-dogs dtd\n"
    "  ucf101 imagenet1k. Options given explicitly override the preset. Same --seed, same outputs.";

/* ---- output staging ------------------------------------------------------------------------------------ */
static const char *const OUTPUTS[] = {"pred_notrain.npy", "pred_tac.npy", "selected.txt", "selected_nouns.tsv",
                                      "cluster_names.tsv", "metrics.json", "heads.bin"};
#define NOUT ((int)(sizeof OUTPUTS / sizeof OUTPUTS[0]))

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = tac_xmalloc(n, 1);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static void remove_stage(const char *stage)
{
    for (int i = 0; i < NOUT; i++) { char *f = join(stage, OUTPUTS[i]); unlink(f); free(f); }
    rmdir(stage);
}

static int save_pred(const char *dir, const char *name, const int32_t *pred, int64_t n)
{
    int64_t *v = tac_xmalloc((size_t)n, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) v[i] = pred[i];
    char *path = join(dir, name);
    int rc = tac_npy_save_i64(path, v, 1, &n);
    free(path); free(v);
    return rc;
}

static const char *noun_name(char **names, int64_t i, char *buf, size_t cap)
{
    if (names) return names[i];
    snprintf(buf, cap, "#%lld", (long long)i);
    return buf;
}

static void json_num(FILE *f, const char *key, double v, const char *after)
{
    if (isfinite(v)) fprintf(f, "\"%s\": %.6f%s", key, v, after);
    else fprintf(f, "\"%s\": null%s", key, after);   /* JSON has no NaN */
}

static void json_metrics(FILE *f, const char *key, const tac_metrics *m, int last)
{
    fprintf(f, "  \"%s\": {", key);
    json_num(f, "acc", m->acc, ", ");
    json_num(f, "nmi", m->nmi, ", ");
    json_num(f, "ari", m->ari, "}");
    fprintf(f, "%s\n", last ? "" : ",");
}

static int write_outputs(const char *stage, const tac_fit_result *r, char **names, int with_heads)
{
    char buf[32];
    if (save_pred(stage, "pred_notrain.npy", r->pred_notrain, r->n_test) != TAC_OK) return TAC_ERR;
    if (r->pred_tac && save_pred(stage, "pred_tac.npy", r->pred_tac, r->n_test) != TAC_OK) return TAC_ERR;
    tac_atomic a;
    char *path = join(stage, "selected.txt");
    int rc = tac_atomic_open(&a, path);
    free(path);
    if (rc != TAC_OK) return TAC_ERR;
    for (int64_t t = 0; t < r->nsel; t++) fprintf(a.f, "%lld\n", (long long)r->selected[t]);
    if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;

    path = join(stage, "selected_nouns.tsv");
    rc = tac_atomic_open(&a, path);
    free(path);
    if (rc != TAC_OK) return TAC_ERR;
    fprintf(a.f, "index\tname\tcentre\n");
    for (int64_t t = 0; t < r->nsel; t++) {
        char *en = tac_escape_line(noun_name(names, r->selected[t], buf, sizeof buf));   /* one row, three fields */
        if (!en) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
        fprintf(a.f, "%lld\t%s\t%d\n", (long long)r->selected[t], en, r->selected_centre[t]);
        free(en);
    }
    if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;

    path = join(stage, "cluster_names.tsv");
    rc = tac_atomic_open(&a, path);
    free(path);
    if (rc != TAC_OK) return TAC_ERR;
    fprintf(a.f, "cluster\tsize\tnames\n");
    for (int c = 0; c < r->K; c++) {
        fprintf(a.f, "%d\t%lld\t", c, (long long)r->cluster_size[c]);
        for (int q = 0, first = 1; q < r->n_names; q++) {
            int64_t t = r->cluster_names[(size_t)c * r->n_names + q];
            if (t < 0) continue;
            char *en = tac_escape_line(noun_name(names, t, buf, sizeof buf));
            if (!en) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
            fprintf(a.f, "%s%s", first ? "" : ", ", en);
            free(en);
            first = 0;
        }
        fprintf(a.f, "\n");
    }
    if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;

    if (r->has_metrics || r->has_train_metrics) {
        path = join(stage, "metrics.json");
        rc = tac_atomic_open(&a, path);
        free(path);
        if (rc != TAC_OK) return TAC_ERR;
        fprintf(a.f, "{\n  \"n_train\": %lld,\n  \"n_test\": %lld,\n  \"K\": %d,\n  \"centres\": %d,\n"
                     "  \"selected_nouns\": %lld,\n", (long long)r->n_train, (long long)r->n_test, r->K, r->k,
                (long long)r->nsel);
        int left = (r->has_metrics ? (r->pred_kmeans != NULL) + 1 + (r->pred_tac != NULL) : 0) + r->has_train_metrics;
        if (r->has_metrics) {
            if (r->pred_kmeans) json_metrics(a.f, "clip_kmeans", &r->m_kmeans, --left == 0);
            json_metrics(a.f, "tac_notrain", &r->m_notrain, --left == 0);
            if (r->pred_tac) json_metrics(a.f, "tac", &r->m_tac, --left == 0);
        }
        if (r->has_train_metrics) json_metrics(a.f, "tac_train_split", &r->m_tac_train, --left == 0);
        fprintf(a.f, "}\n");
        if (tac_atomic_commit(&a) != TAC_OK) return TAC_ERR;
    }
    if (with_heads && r->heads) {
        path = join(stage, "heads.bin");
        rc = tac_heads_save(r->heads, path);
        free(path);
        if (rc != TAC_OK) return TAC_ERR;
    }
    return TAC_OK;
}

/* Rename each staged file into dir, then remove the stage. Outputs a previous run left that this run does
 * not produce (e.g. pred_tac.npy after --no-train) are removed so the folder stays consistent. */
static int publish(const char *stage, const char *dir)
{
    for (int i = 0; i < NOUT; i++) {
        char *src = join(stage, OUTPUTS[i]), *dst = join(dir, OUTPUTS[i]);
        struct stat st;
        if (stat(src, &st) == 0) {
            if (rename(src, dst) != 0) {
                tac_fail("%s: cannot rename into place: %s", dst, strerror(errno));
                free(src); free(dst); return TAC_ERR;
            }
        } else {
            unlink(dst);
        }
        free(src); free(dst);
    }
    rmdir(stage);
    return TAC_OK;
}

static int load_names(const char *path, int64_t m, char ***names)
{
    struct stat st;
    char **v; int64_t n;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (tac_wordnet_nouns(path, &v, &n) != TAC_OK) return TAC_ERR;
    } else if (tac_read_lines(path, &v, &n, 0) != TAC_OK) {
        return TAC_ERR;
    }
    if (n != m) {
        tac_free_strings(v, n);
        return tac_fail("%s has %lld noun names but the noun embeddings have %lld rows", path, (long long)n,
                        (long long)m);
    }
    *names = v;
    return TAC_OK;
}

/* The train matrix memory-mapped (no copy of a float32 file; tac_fit copies it normalised, then drops the
 * pages through release_map), with tac_load_matrix's checks. */
static int map_matrix(const char *path, tac_npy_map *m)
{
    if (tac_npy_map_f32(path, m) != TAC_OK) return TAC_ERR;
    const char *why = NULL;
    if (m->rows < 1 || m->cols < 1) why = "empty array";
    else if (m->cols == 1) why = "expected a 2-D array of embeddings (N x D), got a 1-D array";
    if (why) { tac_npy_unmap(m); return tac_fail("%s: %s", path, why); }
    if (m->cols > 1 << 20) {
        int64_t c = m->cols;
        tac_npy_unmap(m);
        return tac_fail("%s: %lld columns is not a plausible embedding width", path, (long long)c);
    }
    if (tac_check_finite(path, m->data, m->rows, m->cols) != TAC_OK) { tac_npy_unmap(m); return TAC_ERR; }
    return TAC_OK;
}

static void release_map(void *arg) { tac_npy_map_release(arg); }

/* Fingerprint of a matrix: its shape and every value (64-bit words mixed in 4 lanes, FNV-style multiply; about a
 * second for ImageNet-1K's 2.6 GB train matrix), so a rank that read another file, or a file another machine
 * holds in another version, is told apart. */
static uint64_t matrix_print(const float *X, int64_t n, int64_t d, uint64_t h)
{
    const uint64_t P = 1099511628211ull;
    h = tac_fnv1a64(h, &n, sizeof n);
    h = tac_fnv1a64(h, &d, sizeof d);
    size_t bytes = (size_t)n * (size_t)d * sizeof(float), words = bytes / 8;
    const unsigned char *b = (const unsigned char *)X;
    uint64_t l[4] = {h, h ^ 1, h ^ 2, h ^ 3}, w;
    size_t i = 0;
    for (; i + 4 <= words; i += 4)
        for (int q = 0; q < 4; q++) { memcpy(&w, b + (i + q) * 8, 8); l[q] = (l[q] ^ w) * P; }
    for (; i < words; i++) { memcpy(&w, b + i * 8, 8); l[0] = (l[0] ^ w) * P; }
    h = tac_fnv1a64(h, l, sizeof l);
    return tac_fnv1a64(h, b + words * 8, bytes - words * 8);
}

/* Over several ranks: every rank read the same inputs as rank 0 (else the shared stages would mix data). */
static int same_inputs(const tac_comm *c, uint64_t mine)
{
    uint64_t root = mine;
    if (c->bcast(c, &root, sizeof root, 0) != TAC_OK) return TAC_ERR;
    if (root != mine)
        return tac_fail("its input embeddings (--train, --test or --nouns: shapes or values) differ from rank 0's: "
                        "every rank must read the same files");
    return TAC_OK;
}

/* Over several ranks: the payload bytes this rank has sent when each stage ends (tac_fit's stage progress),
 * forwarded to the console's progress printer. */
typedef struct { unsigned long long at[9]; double t[9]; } stage_bytes;
static void on_stage(const char *label, int64_t done, int64_t total, void *user)
{
    stage_bytes *sb = user;
    if (strcmp(label, "fit") == 0 && done >= 1 && done <= 8) { sb->at[done] = tac_mpi_bytes_sent(); sb->t[done] = tac_now(); }
    if (!tac_progress_quiet) tac_console_progress(label, done, total, NULL);
}

static int check_labels(const char *path, int64_t n, int64_t want, const char *what, const char *wpath)
{
    if (n != want)
        return tac_fail("%s has %lld labels but %s %s has %lld rows", path, (long long)n, what, wpath, (long long)want);
    return TAC_OK;
}

static int cmd_fit(int argc, char **argv)
{
    const char *train = NULL, *test = NULL, *nouns = NULL, *names_path = NULL, *out = NULL, *yte_path = NULL,
               *ytr_path = NULL, *preset = NULL, *heads_prec = NULL;
    int K = 0, no_train = 0, centres = 0, epochs = 0, batch = 0;
    int64_t seed = 1234;
    tac_opt opts[] = {
        {"--train", NULL, TAC_OPT_STR, &train, "N_train x D train image embeddings .npy (required)"},
        {"--test", NULL, TAC_OPT_STR, &test, "N_test x D test image embeddings .npy (required)"},
        {"--nouns", NULL, TAC_OPT_STR, &nouns, "M x D noun embeddings .npy (required)"},
        {"--noun-names", NULL, TAC_OPT_STR, &names_path, "M noun names, one per line, or a WordNet folder"},
        {"--clusters", "-K", TAC_OPT_INT, &K, "number of clusters K (required unless --preset)"},
        {"--out", "-o", TAC_OPT_STR, &out, "output folder (required)"},
        {"--labels", NULL, TAC_OPT_STR, &yte_path, "N_test test labels (.npy, or text one per line): metrics.json"},
        {"--train-labels", NULL, TAC_OPT_STR, &ytr_path, "N_train train labels (.npy or text): TAC on the train split"},
        {"--no-train", NULL, TAC_OPT_FLAG, &no_train, "TAC (no train) only: no heads"},
        {"--preset", NULL, TAC_OPT_STR, &preset, "dataset settings: K, epochs, batch, T (see above)"},
        {"--seed", NULL, TAC_OPT_I64, &seed, "seed of k-means and the heads (default 1234, faiss's)"},
        {"--centres", NULL, TAC_OPT_INT, &centres, "number of semantic centres k (default: the rule)"},
        {"--epochs", NULL, TAC_OPT_INT, &epochs, "head training epochs (default 20, preset)"},
        {"--batch", NULL, TAC_OPT_INT, &batch, "head training batch (default 512, preset)"},
        {"--heads-precision", NULL, TAC_OPT_STR, &heads_prec, "heads' training products: fp32 (default), bf16 (AVX512-BF16/AMX; ~2x faster at K=1000), auto"},
        {0},
    };
    char **pos; int npos;
    int rc = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust fit: unexpected argument (see --help)\n"); return 2; }
    if (!train || !test || !nouns || !out) {
        fprintf(stderr, "taclust fit: --train, --test, --nouns and --out are required (see --help)\n");
        return 2;
    }
    if (seed < 0 || seed > 4294967295LL) { fprintf(stderr, "taclust fit: --seed must be in 0..4294967295\n"); return 2; }
    if ((rc = tac_cli_heads_precision("fit", heads_prec))) return rc;
    tac_fit_params p;
    tac_fit_default_params(&p);
    if (preset && tac_fit_preset(preset, &p) != TAC_OK) {
        fprintf(stderr, "taclust fit: %s\n", tac_last_error());
        return 2;
    }
    if (K) p.K = K;
    if (!p.K) { fprintf(stderr, "taclust fit: -K is required (or --preset)\n"); return 2; }
    if (p.K < 2) { fprintf(stderr, "taclust fit: -K must be >= 2\n"); return 2; }
    if (centres < 0 || epochs < 0 || batch < 0) {
        fprintf(stderr, "taclust fit: --centres, --epochs and --batch must be positive\n");
        return 2;
    }
    if (centres) p.centres = centres;
    if (epochs) p.heads.epochs = epochs;
    if (batch) p.heads.batch = batch;
    p.train = !no_train;
    p.seed = (uint32_t)seed;
    p.progress = !tac_progress_quiet;
    const tac_comm *comm = tac_mpi_comm();   /* NULL: one process */
    int rank = tac_comm_rank(comm);
    p.comm = comm;
    stage_bytes sb;
    memset(&sb, 0, sizeof sb);
    if (comm) {
        p.progress_fn = on_stage;
        p.progress_user = &sb;
        sb.at[0] = tac_mpi_bytes_sent();
    }

    float *Xte = NULL, *T = NULL;
    tac_npy_map xtr_map;
    memset(&xtr_map, 0, sizeof xtr_map);
    int64_t *yte = NULL, *ytr = NULL;
    char **names = NULL;
    int64_t ntr, nte, m, d1, d2, d3, ny;
    char *stage = NULL;
    tac_fit_result r;
    memset(&r, 0, sizeof r);
    int ret = 1, agreed = 0;
    if (map_matrix(train, &xtr_map) != TAC_OK) goto done;
    ntr = xtr_map.rows;
    d1 = xtr_map.cols;
    p.inputs_read = release_map;
    p.inputs_read_arg = &xtr_map;
    if (tac_load_matrix(test, &Xte, &nte, &d2) != TAC_OK) goto done;
    if (d2 != d1) {
        tac_fail("%s has %lld columns but %s has %lld: embeddings must have the same width", test, (long long)d2,
                 train, (long long)d1);
        goto done;
    }
    if (tac_load_matrix(nouns, &T, &m, &d3) != TAC_OK) goto done;
    if (d3 != d1) {
        tac_fail("%s has %lld columns but %s has %lld: embeddings must have the same width", nouns, (long long)d3,
                 train, (long long)d1);
        goto done;
    }
    if (names_path && load_names(names_path, m, &names) != TAC_OK) goto done;
    if (yte_path) {
        if (tac_labels_load(yte_path, &yte, &ny) != TAC_OK) goto done;
        if (check_labels(yte_path, ny, nte, "test embeddings", test) != TAC_OK) goto done;
    }
    if (ytr_path) {
        if (tac_labels_load(ytr_path, &ytr, &ny) != TAC_OK) goto done;
        if (check_labels(ytr_path, ny, ntr, "train embeddings", train) != TAC_OK) goto done;
    }
    if (p.K > nte) { tac_fail("-K %d is larger than the %lld rows of %s", p.K, (long long)nte, test); goto done; }
    if (p.K > ntr) { tac_fail("-K %d is larger than the %lld rows of %s", p.K, (long long)ntr, train); goto done; }
    if (rank == 0) {   /* the output folder (rank 0 writes it), checked now; the staging folder is made only when
                        * the results exist, so a run killed while computing leaves nothing behind */
        if (tac_mkdir_p(out) != TAC_OK) goto done;
        if (access(out, W_OK) != 0) { tac_fail("%s: cannot write into it: %s", out, strerror(errno)); goto done; }
        size_t n = strlen(out) + 64;
        stage = tac_xmalloc(n, 1);
        snprintf(stage, n, "%s/.fit-tmp.%ld", out, (long)getpid());
    }
    if (comm) {        /* every rank read its inputs and rank 0 has its folder; all read the same inputs */
        agreed = 1;
        if (tac_comm_check(comm, TAC_OK) != TAC_OK) goto done;
        uint64_t h = matrix_print(xtr_map.data, ntr, d1, TAC_FNV1A64_INIT);
        h = matrix_print(Xte, nte, d2, h);
        h = matrix_print(T, m, d3, h);
        if (tac_comm_check(comm, same_inputs(comm, h)) != TAC_OK) goto done;
        if (rank == 0)
            tac_info("fit: %d ranks (MPI), each with %d threads", comm->size, tac_num_threads());
    }
    if (tac_fit(xtr_map.data, ntr, Xte, nte, (int)d1, T, m, (const char *const *)names, yte, ytr, &p, &r) != TAC_OK)
        goto done;   /* over several ranks every rank knows (tac_fit agrees on failures) */
    free(T); T = NULL;
    if (rank == 0 && mkdir(stage, 0755) != 0 && errno != EEXIST) {
        tac_fail("%s: cannot create: %s", stage, strerror(errno));
        if (!comm) goto done;
        free(stage);      /* nothing to remove; the failure is agreed below */
        stage = NULL;
    }
    if (comm) {
        /* rank 0 writes; the others wait for its result so every rank's exit status says whether the outputs exist */
        int wrc = rank == 0 && (!stage || write_outputs(stage, &r, names, p.train) != TAC_OK ||
                                publish(stage, out) != TAC_OK)
                      ? TAC_ERR : TAC_OK;
        if (tac_comm_check(comm, wrc) != TAC_OK) goto done;
        if (rank != 0) { ret = 0; goto done; }
    } else {
        if (write_outputs(stage, &r, names, p.train) != TAC_OK) goto done;
        if (publish(stage, out) != TAC_OK) goto done;
    }

    printf("TAC fit: %lld train, %lld test, D %lld, %lld nouns; K %d, k %d centres, %lld nouns selected\n",
           (long long)ntr, (long long)nte, (long long)d1, (long long)m, r.K, r.k, (long long)r.nsel);
    if (r.has_metrics) {
        printf("  %-16s %6s %6s %6s\n", "test split", "ACC", "NMI", "ARI");
        if (r.pred_kmeans) printf("  %-16s %6.2f %6.2f %6.2f\n", "CLIP k-means", 100 * r.m_kmeans.acc, 100 * r.m_kmeans.nmi, 100 * r.m_kmeans.ari);
        printf("  %-16s %6.2f %6.2f %6.2f\n", "TAC (no train)", 100 * r.m_notrain.acc, 100 * r.m_notrain.nmi, 100 * r.m_notrain.ari);
        if (r.pred_tac) printf("  %-16s %6.2f %6.2f %6.2f\n", "TAC", 100 * r.m_tac.acc, 100 * r.m_tac.nmi, 100 * r.m_tac.ari);
    }
    if (r.has_train_metrics)
        printf("  %-16s %6.2f %6.2f %6.2f\n", "TAC, train split", 100 * r.m_tac_train.acc, 100 * r.m_tac_train.nmi, 100 * r.m_tac_train.ari);
    printf("clusters (%s):\n", r.pred_tac ? "TAC" : "TAC no train");
    for (int c = 0; c < r.K && c < 20; c++) {
        char buf[32];
        printf("  %3d %7lld  ", c, (long long)r.cluster_size[c]);
        for (int q = 0, first = 1; q < r.n_names; q++) {
            int64_t t = r.cluster_names[(size_t)c * r.n_names + q];
            if (t < 0) continue;
            printf("%s%s", first ? "" : ", ", noun_name(names, t, buf, sizeof buf));
            first = 0;
        }
        printf("\n");
    }
    if (r.K > 20) printf("  ... (%d more in cluster_names.tsv)\n", r.K - 20);
    printf("time %.1f s (centres %.1f, select %.1f, retrieve %.1f, no-train %.1f, baseline %.1f, knn %.1f, heads %.1f)\n",
           r.t_total, r.t_centres, r.t_select, r.t_retrieve, r.t_notrain, r.t_baseline, r.t_knn, r.t_heads);
    printf("peak RSS %.2f GB (after: normalise %.2f, centres %.2f, select %.2f, retrieve %.2f, no-train %.2f, knn %.2f, "
           "heads %.2f)\n", r.rss_total, r.rss_normalise, r.rss_centres, r.rss_select, r.rss_retrieve, r.rss_notrain,
           r.rss_knn, r.rss_heads);
    if (comm) {
        static const char *const st[9] = {"", "normalise", "centres", "select", "retrieve", "no-train", "baseline+knn",
                                           "heads", "rest"};
        printf("MPI: %d ranks x %d threads; payload sent by rank 0 per stage (MB):", comm->size, tac_num_threads());
        unsigned long long prev = sb.at[0];
        for (int s = 1; s <= 8; s++) {
            if (!sb.at[s]) continue;
            printf(" %s %.2f", st[s], (double)(sb.at[s] - prev) / 1e6);
            prev = sb.at[s];
        }
        printf("\n");
    }
    printf("wrote %s/\n", out);
    ret = 0;
done:
    /* over several ranks, a failure of this rank before the agreements above (its inputs, say) is made every
     * rank's at the next agreement; afterwards every failure is already agreed */
    if (ret && comm && !agreed) tac_comm_check(comm, TAC_ERR);
    if (ret && stage) remove_stage(stage);
    free(stage);
    tac_fit_result_free(&r);
    tac_npy_unmap(&xtr_map); free(Xte); free(T); free(yte); free(ytr);
    if (names) tac_free_strings(names, m);
    return ret ? tac_cli_error("fit") : 0;
}

TAC_COMMAND("fit", "the whole TAC method on embeddings: nouns, retrieval, TAC (no train) and TAC", cmd_fit)
