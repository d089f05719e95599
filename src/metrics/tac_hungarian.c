/* tac_hungarian.c - the Hungarian method (Kuhn-Munkres) for rectangular assignment, maximising.
 *
 *   double total = tac_hungarian_max(weight, r, c, assign);   (declared in taclust/metrics.h)
 *
 * weight is an r x c row-major matrix; every row is matched to a distinct column when r <= c, every column to a
 * distinct row when r > c (the other rows get assign[i] = -1). The total of the matched weights is maximal.
 *
 * Algorithm: the Hungarian method in its shortest-augmenting-path form (Kuhn-Munkres with row/column
 * potentials, as in Jonker-Volgenant and Crouse 2016), O(n^2 m): it minimises cost = -weight on an n x m matrix
 * with n = min(r,c) <= m = max(r,c), transposing when r > c. A warm start (row minima as potentials, greedy
 * matching on tight cells) settles most rows; each remaining row runs a Dijkstra search over the columns with
 * reduced costs, preferring a free column among equally short ones (this ends searches early on confusion
 * matrices, which are full of ties), then updates the potentials and flips the path. With integral weights
 * below 2^53 (confusion counts) every step is exact in double precision. Weights must be finite (checked: a NaN or
 * infinite weight, a negative size or memory that cannot be allocated gives NaN with the reason set).
 */
#include "taclust/metrics.h"
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Minimise sum cost[i*m + j] over assignments of the n rows to distinct columns (n <= m).
 * cost: n x m, finite. rowcol: n out, the column of each row. TAC_ERR when its workspace cannot be allocated. */
static int hungarian_min(const double *cost, int n, int m, int *rowcol)
{
    const char *what = "Hungarian method: workspace";
    double *u = tac_try_calloc((size_t)n, sizeof(double), what);          /* n row potentials */
    double *v = tac_try_calloc((size_t)m, sizeof(double), what);          /* m column potentials */
    double *dist = tac_try_malloc((size_t)m, sizeof(double), what);       /* m shortest reduced path length to column j */
    int *colrow = tac_try_malloc((size_t)m, sizeof(int), what);           /* m row matched to column j, -1 = free */
    int *pred = tac_try_malloc((size_t)m, sizeof(int), what);             /* m row before column j on the shortest path */
    int *todo = tac_try_malloc((size_t)m, sizeof(int), what);             /* m columns not yet reached for good */
    char *row_seen = tac_try_malloc((size_t)n, 1, what);                  /* n rows scanned in this search */
    char *col_seen = tac_try_malloc((size_t)m, 1, what);                  /* m columns settled in this search */
    if (!u || !v || !dist || !colrow || !pred || !todo || !row_seen || !col_seen) {
        free(u); free(v); free(dist); free(colrow); free(pred); free(todo); free(row_seen); free(col_seen);
        return TAC_ERR;
    }
    for (int j = 0; j < m; j++) colrow[j] = -1;
    for (int i = 0; i < n; i++) rowcol[i] = -1;

    /* Warm start: row reduction (u_i = min_j cost_ij keeps u_i + v_j <= cost_ij) and a greedy matching on the
     * zero reduced-cost cells. Matched cells are tight, so the invariants of the search phase hold and only the
     * rows left unmatched need a search. */
    for (int i = 0; i < n; i++) {
        const double *row = cost + (size_t)i * (size_t)m;
        double mn = row[0];
        for (int j = 1; j < m; j++) if (row[j] < mn) mn = row[j];
        u[i] = mn;
        for (int j = 0; j < m; j++)
            if (colrow[j] < 0 && row[j] == mn) { colrow[j] = i; rowcol[i] = j; break; }
    }

    for (int start = 0; start < n; start++) {
        if (rowcol[start] >= 0) continue;
        /* Dijkstra over columns with reduced costs cost_ij - u_i - v_j >= 0, from row `start` to a free column. */
        int ntodo = m;
        for (int j = 0; j < m; j++) { todo[j] = j; dist[j] = INFINITY; col_seen[j] = 0; }
        memset(row_seen, 0, (size_t)n);
        double reach = 0.0;   /* length of the path to the row being scanned */
        int i = start, sink = -1;
        while (sink < 0) {
            row_seen[i] = 1;
            const double *row = cost + (size_t)i * (size_t)m;
            double best = INFINITY, ui = u[i];
            int bt = -1;
            for (int t = 0; t < ntodo; t++) {
                int j = todo[t];
                double d = reach + row[j] - ui - v[j];
                if (d < dist[j]) { dist[j] = d; pred[j] = i; }
                /* among equally short columns prefer a free one: it ends the search now */
                if (dist[j] < best || (dist[j] == best && colrow[j] < 0)) { best = dist[j]; bt = t; }
            }
            TAC_ASSERT(bt >= 0 && best < INFINITY);   /* only fails with NaN or infinite weights (refused earlier) */
            int j = todo[bt];
            todo[bt] = todo[--ntodo];
            col_seen[j] = 1;
            reach = best;
            if (colrow[j] < 0) sink = j; else i = colrow[j];
        }
        /* Update the potentials so that every matched cell and the new path are tight. */
        u[start] += reach;
        for (int r = 0; r < n; r++)
            if (row_seen[r] && r != start) u[r] += reach - dist[rowcol[r]];
        for (int j = 0; j < m; j++)
            if (col_seen[j]) v[j] -= reach - dist[j];
        /* Augment along the path back to `start`. */
        for (int j = sink;;) {
            int r = pred[j];
            colrow[j] = r;
            int prev = rowcol[r];
            rowcol[r] = j;
            if (r == start) break;
            j = prev;
        }
    }
    free(u); free(v); free(dist); free(colrow); free(pred); free(todo); free(row_seen); free(col_seen);
    return TAC_OK;
}

double tac_hungarian_max(const double *weight /* r x c */, int r, int c, int *assign /* r */)
{
    if (r < 0 || c < 0) { tac_fail("Hungarian method: negative size %d x %d", r, c); return NAN; }
    TAC_ASSERT((weight || r == 0 || c == 0) && (assign || r == 0));
    for (int i = 0; i < r; i++) assign[i] = -1;
    if (r == 0 || c == 0) return 0.0;
    for (size_t t = 0; t < (size_t)r * (size_t)c; t++)
        if (!isfinite(weight[t])) {
            tac_fail("Hungarian method: weight (%zu, %zu) is not finite", t / (size_t)c, t % (size_t)c);
            return NAN;
        }
    int n = r <= c ? r : c, m = r <= c ? c : r;
    double *cost = tac_try_malloc((size_t)n * (size_t)m, sizeof(double), "Hungarian method: cost matrix"); /* n x m */
    int *rowcol = cost ? tac_try_malloc((size_t)n, sizeof(int), "Hungarian method: matching") : NULL;       /* n */
    if (!rowcol) { free(cost); return NAN; }
    /* cost = -weight (transposed if r > c) */
    if (r <= c) {
        for (size_t t = 0; t < (size_t)r * (size_t)c; t++) cost[t] = -weight[t];
    } else {
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) cost[(size_t)j * (size_t)r + (size_t)i] = -weight[(size_t)i * (size_t)c + (size_t)j];
    }
    if (hungarian_min(cost, n, m, rowcol) != TAC_OK) { free(rowcol); free(cost); return NAN; }
    if (r <= c) {
        for (int i = 0; i < r; i++) assign[i] = rowcol[i];
    } else {
        for (int j = 0; j < c; j++) if (rowcol[j] >= 0) assign[rowcol[j]] = j;
    }
    double total = 0.0;
    for (int i = 0; i < r; i++)
        if (assign[i] >= 0) total += weight[(size_t)i * (size_t)c + (size_t)assign[i]];
    free(rowcol); free(cost);
    return total;
}
