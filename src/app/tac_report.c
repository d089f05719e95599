/* tac_report.c - report.html: one self-contained page (thumbnails embedded as base64 JPEG, no external
 * resources) showing every cluster as a row of thumbnails under its name and size, most confident first.
 *
 * Thumbnails are made in parallel (decode, Pillow-exact resize, JPEG encode). An image that cannot be read any
 * more is shown as a grey tile with its name. Up to TAC_REPORT_MAX_THUMBS thumbnails are embedded in total;
 * beyond that every image is still listed by name under its cluster, so the page always lists every image.
 * Text is HTML-escaped and made valid UTF-8 (a byte that is not UTF-8 is shown as U+00XX, read as Latin-1).
 */
#include "app/tac_app.h"
#include "taclust/core.h"
#include "taclust/image.h"

#include <stdlib.h>
#include <string.h>

#define TAC_REPORT_MAX_THUMBS 6000
#define TAC_REPORT_THUMB_SIDE 128

static void html_escape(FILE *f, const char *text)
{
    char *t = tac_utf8_text(text);          /* the page is UTF-8: a byte that is not is shown as U+00XX */
    if (!t) tac_die_at(__FILE__, __LINE__, "%s", tac_last_error());   /* the program aborts on OOM, as tac_xmalloc */
    for (const char *s = t; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
    free(t);
}

static void base64_write(FILE *f, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(tab[v >> 18 & 63], f);
        fputc(tab[v >> 12 & 63], f);
        fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tab[v & 63] : '=', f);
    }
}

typedef struct { uint8_t *jpg; size_t len; } thumb;

static int cmp_conf_desc(const void *a, const void *b, void *ctx)
{
    const float *conf = ctx;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (conf[x] != conf[y]) return conf[x] > conf[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

int tac_write_report_html(const char *path, const tac_clustering_view *v, const char *title)
{
    /* members of each cluster, most confident first */
    int64_t *order = tac_xmalloc((size_t)v->n, sizeof(int64_t));
    int64_t *start = tac_xcalloc((size_t)v->k + 1, sizeof(int64_t));
    for (int64_t i = 0; i < v->n; i++) start[v->cluster[i] + 1]++;
    for (int c = 0; c < v->k; c++) start[c + 1] += start[c];
    int64_t *fill = tac_xmalloc((size_t)v->k, sizeof(int64_t));
    memcpy(fill, start, (size_t)v->k * sizeof(int64_t));
    for (int64_t i = 0; i < v->n; i++) order[fill[v->cluster[i]]++] = i;
    free(fill);
    for (int c = 0; c < v->k; c++)
        qsort_r(order + start[c], (size_t)(start[c + 1] - start[c]), sizeof(int64_t), cmp_conf_desc, (void *)v->confidence);

    /* which images get a thumbnail: round-robin over clusters so every cluster shows its best ones */
    char *want = tac_xcalloc((size_t)v->n, 1);
    int64_t budget = TAC_REPORT_MAX_THUMBS;
    for (int64_t r = 0; budget > 0; r++) {
        int any = 0;
        for (int c = 0; c < v->k && budget > 0; c++)
            if (start[c] + r < start[c + 1]) { want[order[start[c] + r]] = 1; budget--; any = 1; }
        if (!any) break;
    }
    thumb *th = tac_xcalloc((size_t)v->n, sizeof(thumb));
    tac_progress pr;
    tac_progress_begin(&pr, "report thumbnails", v->n);
    int64_t done = 0;
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < v->n; i++) {
        if (want[i]) {
            tac_image img;
            if (tac_image_load(v->paths[i], &img) == TAC_OK) {
                tac_image_thumbnail_jpeg(&img, TAC_REPORT_THUMB_SIDE, 80, &th[i].jpg, &th[i].len);
                tac_image_free(&img);
            }
        }
        #pragma omp atomic
        done++;
        if ((i & 31) == 0) {
            #pragma omp critical
            tac_progress_update(&pr, done);
        }
    }
    tac_progress_update(&pr, v->n);
    tac_progress_end(&pr);

    tac_atomic a;
    int rc = tac_atomic_open(&a, path);
    if (rc == TAC_OK) {
        FILE *f = a.f;
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
        html_escape(f, title);
        fputs("</title>\n<style>\n"
              "body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}\n"
              "h1{font-size:1.4em} .summary{color:#555;margin-bottom:1.5em}\n"
              "section.cluster{background:#fff;border:1px solid #ddd;border-radius:8px;margin:0 0 1.2em;padding:.8em 1em}\n"
              "section.cluster h2{font-size:1.1em;margin:0 0 .5em} .size{color:#777;font-weight:normal}\n"
              ".thumbs{display:flex;flex-wrap:wrap;gap:6px}\n"
              "figure{margin:0;width:128px} figure img{width:128px;height:128px;object-fit:cover;border-radius:4px;display:block}\n"
              "figcaption{font-size:.7em;color:#666;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
              ".missing{width:128px;height:128px;background:#ddd;border-radius:4px}\n"
              "details{margin-top:.5em;font-size:.85em} details li{font-family:monospace}\n"
              "</style></head><body>\n<h1>", f);
        html_escape(f, title);
        fprintf(f, "</h1>\n<p class=\"summary\">%lld images in %d clusters. Each row shows a cluster, named by the "
                   "nouns that describe it best; the most confident images come first.</p>\n", (long long)v->n, v->k);
        for (int c = 0; c < v->k; c++) {
            int64_t sz = start[c + 1] - start[c];
            fprintf(f, "<section class=\"cluster\" id=\"cluster-%d\" data-cluster=\"%d\" data-size=\"%lld\">\n<h2>%02d &middot; ",
                    c, c, (long long)sz, c);
            html_escape(f, v->cluster_name[c]);
            fprintf(f, " <span class=\"size\">(%lld image%s)</span></h2>\n<div class=\"thumbs\">\n", (long long)sz, sz == 1 ? "" : "s");
            int64_t listed_only = 0;
            for (int64_t j = start[c]; j < start[c + 1]; j++) {
                int64_t i = order[j];
                if (!want[i]) { listed_only++; continue; }
                const char *base = strrchr(v->paths[i], '/');
                base = base ? base + 1 : v->paths[i];
                fputs("<figure data-path=\"", f);
                html_escape(f, v->paths[i]);
                fputs("\" title=\"", f);
                html_escape(f, v->paths[i]);
                fprintf(f, " (confidence %.2f)\">", v->confidence[i]);
                if (th[i].jpg) {
                    fputs("<img alt=\"\" src=\"data:image/jpeg;base64,", f);
                    base64_write(f, th[i].jpg, th[i].len);
                    fputs("\">", f);
                } else fputs("<div class=\"missing\"></div>", f);
                fputs("<figcaption>", f);
                html_escape(f, base);
                fputs("</figcaption></figure>\n", f);
            }
            fputs("</div>\n", f);
            if (listed_only) {
                fprintf(f, "<details><summary>%lld more</summary><ul>\n", (long long)listed_only);
                for (int64_t j = start[c]; j < start[c + 1]; j++) {
                    int64_t i = order[j];
                    if (want[i]) continue;
                    fputs("<li data-path=\"", f);
                    html_escape(f, v->paths[i]);
                    fputs("\">", f);
                    html_escape(f, v->paths[i]);
                    fputs("</li>\n", f);
                }
                fputs("</ul></details>\n", f);
            }
            fputs("</section>\n", f);
        }
        /* Once every thumbnail has decoded, the page records how many did (a check a browser test reads). */
        fputs("<script>window.addEventListener('load',function(){var n=0;document.querySelectorAll('figure img')"
              ".forEach(function(i){if(i.complete&&i.naturalWidth>0)n++;});document.body.setAttribute("
              "'data-thumbs-loaded',String(n));});</script>\n</body></html>\n", f);
        rc = tac_atomic_commit(&a);
    }
    for (int64_t i = 0; i < v->n; i++) free(th[i].jpg);
    free(th); free(want); free(order); free(start);
    return rc;
}
