/* cmd_select_nouns.c - `taclust select-nouns`: TAC's discriminative noun selection (tac-method.md section 4)
 * from image embeddings, their centre labels and noun embeddings; writes the selected noun indices.
 *
 *   taclust select-nouns --images X.npy --labels labels.npy --nouns T.npy [--gamma 5] --out selected.txt
 *     [--centres-out centres.txt]
 */
#include "tac_cli.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"
#include "taclust/textspace.h"

#include <stdlib.h>

static const char *USAGE =
    "usage: taclust select-nouns --images X.npy --labels labels.npy --nouns T.npy [--gamma 5] --out selected.txt\n\n"
    "Selects discriminative nouns as TAC does (tac-method.md section 4): the centre of each label group of\n"
    "images (normalised mean), a softmax over centres of every noun's cosine to them, each noun assigned to its\n"
    "best centre, and the gamma most confident nouns kept per centre (ties: lower noun index).\n"
    "  X.npy       N x D image embeddings (float16/32/64; rows are L2-normalised here)\n"
    "  labels.npy  N integer centre ids, .npy or text one per line (e.g. k-means labels of X); k = max + 1\n"
    "  T.npy       M x D noun embeddings (rows are L2-normalised here)\n"
    "Writes the selected noun indices (0-based rows of T), ascending, one per line; with --centres-out also\n"
    "\"index<TAB>centre\" lines. The count is printed on stdout.";

static int write_lines(const char *path, const int64_t *sel, const int32_t *cen, int64_t n)
{
    tac_atomic a;
    if (tac_atomic_open(&a, path) != TAC_OK) return TAC_ERR;
    for (int64_t i = 0; i < n; i++) {
        if (cen) fprintf(a.f, "%lld\t%d\n", (long long)sel[i], cen[i]);
        else fprintf(a.f, "%lld\n", (long long)sel[i]);
    }
    return tac_atomic_commit(&a);
}

static int cmd_select_nouns(int argc, char **argv)
{
    const char *images = NULL, *labels = NULL, *nouns = NULL, *out = NULL, *cout = NULL;
    int gamma = TAC_GAMMA;
    tac_opt opts[] = {
        {"--images", NULL, TAC_OPT_STR, &images, "N x D image embeddings .npy (required)"},
        {"--labels", NULL, TAC_OPT_STR, &labels, "N centre ids .npy, integers in [0, k) (required)"},
        {"--nouns", NULL, TAC_OPT_STR, &nouns, "M x D noun embeddings .npy (required)"},
        {"--gamma", NULL, TAC_OPT_INT, &gamma, "nouns kept per centre (default 5)"},
        {"--out", "-o", TAC_OPT_STR, &out, "output: selected noun indices, one per line (required)"},
        {"--centres-out", NULL, TAC_OPT_STR, &cout, "optional output: \"index<TAB>centre\" per selected noun"},
        {0},
    };
    char **pos; int npos;
    int rc = tac_parse_opts(argc, argv, opts, USAGE, &pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    free(pos);
    if (npos) { fprintf(stderr, "taclust select-nouns: unexpected argument (see --help)\n"); return 2; }
    if (!images || !labels || !nouns || !out) {
        fprintf(stderr, "taclust select-nouns: --images, --labels, --nouns and --out are required (see --help)\n");
        return 2;
    }
    if (gamma < 1) { fprintf(stderr, "taclust select-nouns: --gamma must be >= 1\n"); return 2; }

    float *X = NULL, *T = NULL;
    int64_t *y = NULL, *sel = NULL;
    int32_t *lab = NULL, *cen = NULL;
    int64_t n, d, m, dt, ny, nsel;
    int ret = 1;
    if (tac_load_matrix(images, &X, &n, &d) != TAC_OK) goto done;
    if (tac_labels_load(labels, &y, &ny) != TAC_OK) goto done;
    if (ny != n) {
        tac_fail("%s has %lld labels but %s has %lld rows", labels, (long long)ny, images, (long long)n);
        goto done;
    }
    if (tac_load_matrix(nouns, &T, &m, &dt) != TAC_OK) goto done;
    if (dt != d) {
        tac_fail("%s has %lld columns but %s has %lld: embeddings must have the same width", nouns, (long long)dt,
                 images, (long long)d);
        goto done;
    }
    int64_t kmax = -1;
    lab = tac_xmalloc((size_t)n, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] > 10000000) {
            tac_fail("%s: label %lld of row %lld is out of range (centre ids are 0..k-1)", labels, (long long)y[i],
                     (long long)i);
            goto done;
        }
        lab[i] = (int32_t)y[i];
        if (y[i] > kmax) kmax = y[i];
    }
    tac_l2_normalize_rows(X, n, d);
    tac_l2_normalize_rows(T, m, d);
    if (tac_select_nouns(X, n, lab, (int)kmax + 1, T, m, (int)d, gamma, &sel, &nsel, &cen) != TAC_OK) goto done;
    if (write_lines(out, sel, NULL, nsel) != TAC_OK) goto done;
    if (cout && write_lines(cout, sel, cen, nsel) != TAC_OK) goto done;
    printf("selected %lld nouns of %lld (k = %lld centres, gamma = %d) -> %s\n", (long long)nsel, (long long)m,
           (long long)kmax + 1, gamma, out);
    ret = 0;
done:
    free(X); free(T); free(y); free(lab); free(sel); free(cen);
    return ret ? tac_cli_error("select-nouns") : 0;
}

TAC_COMMAND("select-nouns", "select discriminative nouns per image centre (TAC section 4)", cmd_select_nouns)
