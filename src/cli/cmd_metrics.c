/* cmd_metrics.c - `taclust metrics`: ACC / NMI / ARI of predicted clusters against ground-truth labels.
 *
 *   taclust metrics --labels Y.npy --pred P.npy [--json OUT.json]
 * Prints "ACC 85.23  NMI 80.12  ARI 75.00" (x100, 2 decimals, as the TAC paper reports them) plus the counts;
 * --json writes the full-precision values atomically.
 */
#include "tac_cli.h"
#include "taclust/metrics.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
    return (p > q) - (p < q);
}

static int count_distinct(const int64_t *x /* n */, int64_t n)
{
    int64_t *u = tac_xmalloc((size_t)n, sizeof(int64_t));   /* n: sorted copy */
    memcpy(u, x, (size_t)n * sizeof(int64_t));
    qsort(u, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += i == 0 || u[i] != u[i - 1];
    free(u);
    return (int)k;
}

static int write_json(const char *path, const char *lpath, const char *ppath, int64_t n, int kl, int kp,
                      const tac_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    char *lt = tac_utf8_text(lpath), *pt = tac_utf8_text(ppath);   /* JSON holds valid UTF-8 only */
    if (!lt || !pt) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
    cJSON_AddStringToObject(o, "labels", lt);
    cJSON_AddStringToObject(o, "pred", pt);
    free(lt); free(pt);
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON_AddNumberToObject(o, "num_classes", kl);
    cJSON_AddNumberToObject(o, "num_clusters", kp);
    cJSON_AddNumberToObject(o, "acc", m->acc);
    cJSON_AddNumberToObject(o, "nmi", m->nmi);
    cJSON_AddNumberToObject(o, "ari", m->ari);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    TAC_ASSERT(s);
    size_t len = strlen(s);
    s[len] = '\n';   /* overwrite the NUL: the buffer is written by length */
    int rc = tac_write_file_atomic(path, s, len + 1);
    free(s);
    return rc;
}

static int cmd_metrics(int argc, char **argv)
{
    const char *lpath = NULL, *ppath = NULL, *jpath = NULL;
    tac_opt opts[] = {
        {"--labels", "-y", TAC_OPT_STR, &lpath, "ground-truth labels: .npy (int or integral float) or text, one per line (required)"},
        {"--pred", "-p", TAC_OPT_STR, &ppath, "predicted cluster ids, same formats and length as --labels (required)"},
        {"--json", NULL, TAC_OPT_STR, &jpath, "also write {n, num_classes, num_clusters, acc, nmi, ari} at full precision (fractions) to this file"},
        {0},
    };
    char **pos; int npos;
    int r = tac_parse_opts(argc, argv, opts,
        "usage: taclust metrics --labels Y.npy --pred P.npy [--json OUT.json]\n\n"
        "Scores a clustering as TAC does (tac-method.md section 8) and prints ACC, NMI and ARI x100 with 2 decimals.\n"
        "  ACC  best one-to-one map of clusters to classes (Hungarian method); surplus clusters count as wrong\n"
        "  NMI  sklearn normalized_mutual_info_score, arithmetic mean normalisation\n"
        "  ARI  sklearn adjusted_rand_score\n"
        "Label and cluster ids can be any integers (they need not start at 0 or be contiguous); text files may hold\n"
        "numpy.savetxt floats such as 3.000000000000000000e+00, as TAC writes its label files.\n"
        "ACC equals TAC's eval_utils.py except when cluster id 0 is never predicted: there TAC's code has a bug\n"
        "(tac-method.md section 8) that this port does not reproduce.",
        &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust metrics: unexpected argument (use --labels and --pred)\n"); return 2; }
    if (!lpath || !ppath) { fprintf(stderr, "taclust metrics: --labels and --pred are required (taclust metrics --help)\n"); return 2; }
    int64_t *y = NULL, *p = NULL, ny, np;
    if (tac_labels_load(lpath, &y, &ny) != TAC_OK) return tac_cli_error("metrics");
    if (tac_labels_load(ppath, &p, &np) != TAC_OK) { free(y); return tac_cli_error("metrics"); }
    if (ny != np) {
        tac_fail("length mismatch: %s has %lld labels but %s has %lld predictions", lpath, (long long)ny, ppath, (long long)np);
        free(y); free(p);
        return tac_cli_error("metrics");
    }
    tac_metrics m;
    if (tac_metrics_compute(y, p, ny, &m) != TAC_OK) { free(y); free(p); return tac_cli_error("metrics"); }
    int kl = count_distinct(y, ny), kp = count_distinct(p, np);
    printf("ACC %.2f  NMI %.2f  ARI %.2f   (n=%lld, %d classes, %d clusters)\n",
           100.0 * m.acc, 100.0 * m.nmi, 100.0 * m.ari, (long long)ny, kl, kp);
    int rc = 0;
    if (jpath && write_json(jpath, lpath, ppath, ny, kl, kp, &m) != TAC_OK) rc = tac_cli_error("metrics");
    free(y); free(p);
    return rc;
}

TAC_COMMAND("metrics", "ACC / NMI / ARI of predicted clusters against labels", cmd_metrics)
