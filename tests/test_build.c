/* test_build.c - the build's promises: the shared library exports exactly the public API, the program says which
 * instruction set its kernels run with, and an installed copy works from pkg-config (tests/consumer/run.sh).
 *
 * Exports: `nm -D --defined-only` on $TACLUST_SO (the Makefile passes build/libtaclust.so.X.Y.Z) must list only
 * tac_ names, and exactly the names the headers in include/taclust/ declare with TAC_API. The one other kind allowed:
 * under SAN=1, `__odr_asan.tac_<name>`, AddressSanitizer's one-definition-rule marker of an exported object. (A named
 * `#pragma omp critical(name)` would export `.gomp_critical_user_<name>`: the library uses unnamed ones.)
 */
#include "tac_test.h"
#include "taclust/version.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char **v; int n, cap; } names;

static void names_add(names *s, const char *p, size_t len)
{
    if (s->n == s->cap) { s->cap = s->cap ? 2 * s->cap : 256; s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v); }
    s->v[s->n] = malloc(len + 1);
    memcpy(s->v[s->n], p, len);
    s->v[s->n][len] = 0;
    s->n++;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static void names_free(names *s) { for (int i = 0; i < s->n; i++) free(s->v[i]); free(s->v); }
static int names_has(const names *s, const char *x)
{
    return bsearch(&x, s->v, (size_t)s->n, sizeof *s->v, cmp_str) != NULL;
}

/* The names every `TAC_API ...;` declaration at the start of a line of a header declares: the first tac_ identifier
 * followed by '(' (a function), '[' or ';' (an object). `TAC_API struct tac_x;` (a forward declaration, nothing
 * exported) is not counted. Returns the number of headers read. */
static int header_api(const char *dir, names *out)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int nh = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 3 || strcmp(e->d_name + l - 2, ".h") != 0) continue;
        char *text; size_t len;
        if (tac_read_file(tac_test_path(dir, e->d_name), &text, &len) != TAC_OK) continue;
        nh++;
        for (char *p = text; (p = strstr(p, "TAC_API ")); p += 8) {
            if (p != text && p[-1] != '\n') continue;                     /* the macro's own definition etc. */
            char *q = p + 8, *end = strchr(q, ';');
            if (!end) break;
            char *s = q;
            while (*s == ' ') s++;
            if (strncmp(s, "struct ", 7) == 0) {                          /* struct tac_x; */
                char *t = s + 7;
                while (isalnum((unsigned char)*t) || *t == '_') t++;
                while (*t == ' ') t++;
                if (t == end) continue;
            }
            for (char *t = q; t < end; t++) {
                if (strncmp(t, "tac_", 4) != 0 || (t > q && (isalnum((unsigned char)t[-1]) || t[-1] == '_'))) continue;
                char *u = t;
                while (isalnum((unsigned char)*u) || *u == '_') u++;
                char *v = u;
                while (*v == ' ') v++;
                if (*v == '(' || *v == '[' || *v == ';') { names_add(out, t, (size_t)(u - t)); break; }
            }
        }
        free(text);
    }
    closedir(d);
    qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return nh;
}

TAC_TEST(build_shared_library_exports_only_the_api)
{
    const char *so = getenv("TACLUST_SO");
    if (!so || !*so) TAC_SKIP("TACLUST_SO not set (run through `make test`, which passes build/libtaclust.so.X.Y.Z)");
    char *list = (char *)tac_test_path(tac_test_tmpdir(), "nm.txt");
    TAC_CHECK_INT(tac_test_sh("nm -D --defined-only '%s' > '%s'", so, list), 0);
    char *text; size_t len;
    TAC_CHECK_OK(tac_read_file(list, &text, &len));
    names api = {0}, exp = {0};
    int nh = header_api("include/taclust", &api);
    TAC_CHECK(nh >= 10);
    TAC_CHECK(api.n >= 120);   /* the parser found the API (147 declarations when written) */
    int odr = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *name = strrchr(line, ' ');
        name = name ? name + 1 : line;
        if (strncmp(name, "__odr_asan.tac_", 15) == 0 && names_has(&api, name + 11)) { odr++; continue; }   /* SAN=1 */
        if (strncmp(name, "tac_", 4) != 0) {
            if (bad++ < 10) tac_test_fail_at(__FILE__, __LINE__, "%s exports %s (no tac_ prefix)", so, name);
            continue;
        }
        names_add(&exp, name, strlen(name));
    }
    free(text);
    qsort(exp.v, (size_t)exp.n, sizeof *exp.v, cmp_str);
    for (int i = 0; i < exp.n; i++)
        if (!names_has(&api, exp.v[i]) && bad++ < 10)
            tac_test_fail_at(__FILE__, __LINE__, "%s exported but not declared with TAC_API in include/taclust/", exp.v[i]);
    for (int i = 0; i < api.n; i++)
        if (!names_has(&exp, api.v[i]) && bad++ < 10)
            tac_test_fail_at(__FILE__, __LINE__, "%s declared with TAC_API but not exported by %s", api.v[i], so);
    printf("    %d TAC_API declarations in %d headers, %d tac_ symbols exported (+%d ASan ODR markers)\n", api.n, nh,
           exp.n, odr);
    TAC_CHECK_INT(exp.n, api.n);
    /* the soname carries the major version */
    TAC_CHECK_INT(tac_test_sh("readelf -d '%s' | grep -q 'SONAME.*\\[libtaclust\\.so\\.%d\\]'", so, TAC_VERSION_MAJOR), 0);
    names_free(&api);
    names_free(&exp);
}

TAC_TEST(build_version_from_one_source)
{
    /* the Makefile reads TAC_VERSION_STRING: the string the program was compiled with is the header's */
    TAC_CHECK(strcmp(TACLUST_VERSION, TAC_VERSION_STRING) == 0);
    TAC_CHECK(strcmp(tac_version(), TAC_VERSION_STRING) == 0);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", TAC_VERSION_MAJOR, TAC_VERSION_MINOR, TAC_VERSION_PATCH);
    TAC_CHECK(strcmp(want, TAC_VERSION_STRING) == 0);
}

/* make install into a temporary prefix, a program built from pkg-config against the shared and the static library
 * and run, the header as C++ and C99 -pedantic, make uninstall (tests/consumer/run.sh says each step). */
TAC_TEST(build_consumer_installs_and_links)
{
    const char *build = getenv("TACLUST_BUILD"), *san = getenv("TACLUST_SAN");
    if (!build || !*build) TAC_SKIP("TACLUST_BUILD not set (run through `make test`)");
    const char *log = tac_test_path(tac_test_tmpdir(), "consumer.log");
    int rc = tac_test_sh("bash tests/consumer/run.sh '%s' '%s' > '%s' 2>&1", build, san ? san : "", log);
    char *text; size_t len;
    TAC_CHECK_OK(tac_read_file(log, &text, &len));
    if (rc == 77) {
        const char *why = strstr(text, "skipped: ");
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why ? why : "consumer test skipped");
        char *nl = strchr(msg, '\n');
        if (nl) *nl = 0;
        free(text);
        TAC_SKIP(msg);
    }
    if (rc != 0) {
        printf("%s", text);
        tac_test_fail_at(__FILE__, __LINE__, "tests/consumer/run.sh %s exited with %d", build, rc);
    } else {
        TAC_CHECK(strstr(text, "consumer test: ok") != NULL);
        TAC_CHECK(strstr(text, "consumer: ok") != NULL);
    }
    free(text);
}
