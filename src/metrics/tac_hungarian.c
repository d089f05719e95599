/* tac_hungarian.c - the Hungarian method (Kuhn-Munkres) for rectangular assignment, maximising.
 *
 *   double total = tac_hungarian_max(weight, r, c, assign);   (declared in taclust/metrics.h)
 *
 * weight is an r x c row-major matrix; every row is matched to a distinct column when r <= c, every column to a
 * distinct row when r > c (the other rows get assign[i] = -1). The total of the matched weights is maximal.
 *
 * Algorithm: the O(n^2 m) shortest-augmenting-path form with row/column potentials (n = min(r,c) rows are
 * added one at a time; each addition runs a Dijkstra-like scan over the m = max(r,c) columns with reduced
 * costs). It minimises cost = -weight on an n x m matrix with n <= m, transposing when r > c. With integral
 * weights below 2^53 (confusion counts) every step is exact in double precision. Weights must be finite.
 */
#include "taclust/metrics.h"
#include "taclust/core.h"

#include <math.h>
#include <stdlib.h>

/* Minimise sum cost[i*m + j] over assignments of the n rows to distinct columns (n <= m).
 * cost: n x m. rowcol: n out, the column of each row. */
static void hungarian_min(const double *cost, int n, int m, int *rowcol)
{
    /* 1-based: row 0 and column 0 are the virtual start of each augmenting search. */
    double *u = tac_xcalloc((size_t)n + 1, sizeof(double));      /* n+1 row potentials */
    double *v = tac_xcalloc((size_t)m + 1, sizeof(double));      /* m+1 column potentials */
    double *minv = tac_xmalloc((size_t)m + 1, sizeof(double));   /* m+1 best reduced cost reaching column j */
    int *p = tac_xcalloc((size_t)m + 1, sizeof(int));            /* m+1 row matched to column j (0 = none) */
    int *way = tac_xcalloc((size_t)m + 1, sizeof(int));          /* m+1 previous column on the path */
    char *used = tac_xmalloc((size_t)m + 1, 1);                  /* m+1 column in the search tree */

    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) { minv[j] = INFINITY; used[j] = 0; }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            const double *row = cost + (size_t)(i0 - 1) * (size_t)m;
            double ui0 = u[i0];
            for (int j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = row[j - 1] - ui0 - v[j];
                if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                if (minv[j] < delta) { delta = minv[j]; j1 = j; }
            }
            TAC_ASSERT(j1 != 0);   /* only fails with NaN weights */
            for (int j = 0; j <= m; j++) {
                if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { int j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0);
    }
    for (int i = 0; i < n; i++) rowcol[i] = -1;
    for (int j = 1; j <= m; j++) if (p[j]) rowcol[p[j] - 1] = j - 1;
    free(u); free(v); free(minv); free(p); free(way); free(used);
}

double tac_hungarian_max(const double *weight /* r x c */, int r, int c, int *assign /* r */)
{
    TAC_ASSERT(r >= 0 && c >= 0 && (weight || r == 0 || c == 0) && (assign || r == 0));
    for (int i = 0; i < r; i++) assign[i] = -1;
    if (r == 0 || c == 0) return 0.0;
    int n = r <= c ? r : c, m = r <= c ? c : r;
    double *cost = tac_xmalloc((size_t)n * (size_t)m, sizeof(double));   /* n x m, -weight (transposed if r > c) */
    if (r <= c) {
        for (size_t t = 0; t < (size_t)r * (size_t)c; t++) cost[t] = -weight[t];
    } else {
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) cost[(size_t)j * (size_t)r + (size_t)i] = -weight[(size_t)i * (size_t)c + (size_t)j];
    }
    int *rowcol = tac_xmalloc((size_t)n, sizeof(int));   /* n */
    hungarian_min(cost, n, m, rowcol);
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
