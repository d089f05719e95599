/* tac_outdir.c - the output folder OUT of `cluster` and `assign`, kept so that it always holds one complete run
 * (the earlier one or the new one, never a mix), with one writer at a time.
 *
 *   OUT/.runs/<id>/       one run each: clusters.csv, clusters.json, report.html, by-cluster/, skipped.txt, model/,
 *                         run.json. A run writes a new folder here and touches nothing else until the end.
 *   OUT/current           symlink -> .runs/<id>: the committed run. The commit is one rename() of a new link over
 *                         this one; the earlier run's folder is removed after that.
 *   OUT/clusters.csv ...  symlinks -> current/clusters.csv (and so on for every name above): made once, they follow
 *                         `current`, so users open OUT/clusters.csv as before.
 *   OUT/cache/            the embedding cache (append-only records keyed by file; shared by all runs).
 *   OUT/.taclust.lock     flock held by the one process writing OUT; a second one says so and waits.
 * Readers (assign, --resume) resolve `current` once and read every file of that run from its folder.
 * A run killed before its commit leaves OUT/.runs/<id> with its run.json: `--resume` continues that run; any
 * later run removes it (the id carries the PID, and only folders of dead processes are removed).
 * An OUT written by taclust before this layout (real files at the top) is read as the committed run and
 * replaced by the links at the first commit.
 * Files taclust did not write inside what it replaces (a `mine.txt` in by-cluster/, a real file where a link
 * belongs) make the run refuse that OUT with a message: they are never deleted.
 */
#include "app/tac_app.h"
#include "taclust/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const top_names[] = {"clusters.csv", "clusters.json", "report.html", "by-cluster", "skipped.txt",
                                        "model", "run.json"};
#define N_TOP ((int)(sizeof top_names / sizeof top_names[0]))
static const char *const model_names[] = {"selected.npy", "centroids.npy", "selected_nouns.txt", "heads.bin",
                                          "params.json"};
#define N_MODEL ((int)(sizeof model_names / sizeof model_names[0]))

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = tac_xmalloc(n, 1);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int in_list(const char *name, const char *const *list, int n)
{
    for (int i = 0; i < n; i++) if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

/* ".runs/<id>" with <id> a plain name written by stage(): "<16 hex>-<pid>". */
static long run_id_pid(const char *id)
{
    if (strlen(id) < 18 || strspn(id, "0123456789abcdef") != 16 || id[16] != '-') return -1;
    const char *d = id + 17;
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 9) return -1;
    return atol(d);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
}

static void resolve(tac_outdir *o)
{
    char *cur = join(o->out, "current"), target[PATH_MAX];
    ssize_t r = readlink(cur, target, sizeof target - 1);
    free(cur);
    if (r > 0) {
        target[r] = 0;
        if (strncmp(target, ".runs/", 6) == 0 && run_id_pid(target + 6) > 0) {
            char *d = join(o->out, target);
            struct stat st;
            if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode)) { o->committed = d; return; }
            free(d);
        }
        return;                                  /* a dangling or foreign `current` holds no run */
    }
    char *rj = join(o->out, "run.json");
    struct stat st;
    if (lstat(rj, &st) == 0 && S_ISREG(st.st_mode)) { o->committed = tac_xstrdup(o->out); o->legacy = 1; }
    free(rj);
}

/* The newest run folder of a dead process that has its run.json and started after the committed run: a run
 * killed before its commit (an older one is an earlier run whose removal was cut short). */
static void find_pending(tac_outdir *o)
{
    char *runs = join(o->out, ".runs");
    DIR *d = opendir(runs);
    char best[NAME_MAX + 1] = "";
    if (o->committed && !o->legacy) snprintf(best, sizeof best, "%s", strrchr(o->committed, '/') + 1);
    size_t floor_len = strlen(best);
    char floor_id[NAME_MAX + 1];
    snprintf(floor_id, sizeof floor_id, "%s", best);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        long pid = run_id_pid(de->d_name);
        if (pid <= 0 || tac_pid_alive(pid) || strcmp(de->d_name, best) <= 0) continue;
        char *dir = join(runs, de->d_name);
        if (o->committed && strcmp(dir, o->committed) == 0) { free(dir); continue; }
        char *rj = join(dir, "run.json");
        struct stat st;
        if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && lstat(rj, &st) == 0 && S_ISREG(st.st_mode))
            snprintf(best, sizeof best, "%s", de->d_name);
        free(rj); free(dir);
    }
    if (d) closedir(d);
    if (best[0] && !(floor_len && strcmp(best, floor_id) == 0)) o->pending = join(runs, best);
    free(runs);
}

int tac_outdir_open(tac_outdir *o, const char *out, int create)
{
    memset(o, 0, sizeof *o);
    o->lock_fd = -1;
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (!create) return tac_fail("%s: no earlier run to resume or assign to (no such folder)", out);
        if (tac_mkdir_p(out) != TAC_OK) return TAC_ERR;
    }
    o->out = tac_xstrdup(out);
    char *lock = join(out, ".taclust.lock");
    int rc = tac_lock_acquire(lock, out, &o->lock_fd);
    free(lock);
    if (rc != TAC_OK) { free(o->out); o->out = NULL; return TAC_ERR; }
    resolve(o);
    find_pending(o);
    return TAC_OK;
}

/* by-cluster/ as taclust makes it: NN-name folders holding only symbolic links. */
static int check_links_tree(const char *bc, const char *shown)
{
    DIR *d = opendir(bc);
    if (!d) return errno == ENOENT ? TAC_OK : tac_fail("%s: cannot list: %s", shown, strerror(errno));
    int rc = TAC_OK;
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = join(bc, de->d_name);
        struct stat st;
        size_t digits = strspn(de->d_name, "0123456789");
        if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode) || digits < 2 || de->d_name[digits] != '-') {
            rc = tac_fail("%s/%s", shown, de->d_name);
        } else {
            DIR *c = opendir(p);
            struct dirent *ce;
            while (c && rc == TAC_OK && (ce = readdir(c))) {
                if (strcmp(ce->d_name, ".") == 0 || strcmp(ce->d_name, "..") == 0) continue;
                char *q = join(p, ce->d_name);
                if (lstat(q, &st) != 0 || !S_ISLNK(st.st_mode)) rc = tac_fail("%s/%s/%s", shown, de->d_name, ce->d_name);
                free(q);
            }
            if (c) closedir(c);
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int check_model_dir(const char *md, const char *shown)
{
    DIR *d = opendir(md);
    if (!d) return errno == ENOENT ? TAC_OK : tac_fail("%s: cannot list: %s", shown, strerror(errno));
    int rc = TAC_OK;
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || tac_temp_name_pid(de->d_name) > 0) continue;
        char *p = join(md, de->d_name);
        struct stat st;
        if (!in_list(de->d_name, model_names, N_MODEL) || lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
            rc = tac_fail("%s/%s", shown, de->d_name);
        free(p);
    }
    closedir(d);
    return rc;
}

/* Fails naming the first entry taclust did not write among what the next commit replaces. */
static int find_foreign(const tac_outdir *o)
{
    char shown[PATH_MAX + 64];
    {   /* OUT/.runs is where runs are written and removed: a real folder, never a link to elsewhere */
        char *runs = join(o->out, ".runs");
        struct stat st;
        int bad = lstat(runs, &st) == 0 && !S_ISDIR(st.st_mode);
        free(runs);
        if (bad) return tac_fail("%s/.runs", o->out);
        /* OUT/current is replaced at the commit: it must be a link of the form taclust makes */
        char *cur = join(o->out, "current"), target[PATH_MAX];
        if (lstat(cur, &st) == 0) {
            ssize_t r = S_ISLNK(st.st_mode) ? readlink(cur, target, sizeof target - 1) : -1;
            if (r > 0) target[r] = 0;
            bad = r <= 0 || strncmp(target, ".runs/", 6) != 0 || run_id_pid(target + 6) <= 0;
        }
        free(cur);
        if (bad) return tac_fail("%s/current", o->out);
        /* the embedding cache is appended to: a real folder holding a regular file, never a link out of OUT */
        char *cache = join(o->out, "cache"), *emb = join(o->out, "cache/embeddings.bin");
        int bad_cache = lstat(cache, &st) == 0 && !S_ISDIR(st.st_mode);
        int bad_emb = !bad_cache && lstat(emb, &st) == 0 && !S_ISREG(st.st_mode);
        free(cache); free(emb);
        if (bad_cache) return tac_fail("%s/cache", o->out);
        if (bad_emb) return tac_fail("%s/cache/embeddings.bin", o->out);
    }
    for (int i = 0; i < N_TOP; i++) {
        char *p = join(o->out, top_names[i]), target[PATH_MAX];
        snprintf(shown, sizeof shown, "%s/%s", o->out, top_names[i]);
        struct stat st;
        int rc = TAC_OK;
        if (lstat(p, &st) != 0) { free(p); continue; }
        if (S_ISLNK(st.st_mode)) {
            ssize_t r = readlink(p, target, sizeof target - 1);
            target[r > 0 ? r : 0] = 0;
            if (strncmp(target, "current/", 8) != 0 || strcmp(target + 8, top_names[i]) != 0) rc = tac_fail("%s", shown);
        } else if (!o->legacy) rc = tac_fail("%s", shown);
        else if (strcmp(top_names[i], "by-cluster") == 0) rc = S_ISDIR(st.st_mode) ? check_links_tree(p, shown) : tac_fail("%s", shown);
        else if (strcmp(top_names[i], "model") == 0) rc = S_ISDIR(st.st_mode) ? check_model_dir(p, shown) : tac_fail("%s", shown);
        else if (!S_ISREG(st.st_mode)) rc = tac_fail("%s", shown);
        free(p);
        if (rc != TAC_OK) return rc;
    }
    if (!o->committed || o->legacy) return TAC_OK;
    DIR *d = opendir(o->committed);
    if (!d) return tac_fail("%s: cannot list: %s", o->committed, strerror(errno));
    int rc = TAC_OK;
    struct dirent *de;
    while (rc == TAC_OK && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || tac_temp_name_pid(nm) > 0) continue;
        char *p = join(o->committed, nm);
        snprintf(shown, sizeof shown, "%s/%s", o->out, nm);    /* as the user sees it, through the links */
        struct stat st;
        if (!in_list(nm, top_names, N_TOP) || lstat(p, &st) != 0) rc = tac_fail("%s", shown);
        else if (strcmp(nm, "by-cluster") == 0) rc = S_ISDIR(st.st_mode) ? check_links_tree(p, shown) : tac_fail("%s", shown);
        else if (strcmp(nm, "model") == 0) rc = S_ISDIR(st.st_mode) ? check_model_dir(p, shown) : tac_fail("%s", shown);
        else if (!S_ISREG(st.st_mode)) rc = tac_fail("%s", shown);
        free(p);
    }
    closedir(d);
    return rc;
}

int tac_outdir_prepare(tac_outdir *o)
{
    /* temporaries of killed processes: old-layout names in OUT and OUT/model, run folders in OUT/.runs */
    static const char *const out_temps[] = {"clusters.csv", "clusters.json", "report.html", "skipped.txt", "run.json",
        ".by-cluster", ".model", ".current", ".clusters.csv", ".clusters.json", ".report.html", ".skipped.txt",
        ".run.json", ".assign-new.csv"};
    int removed = tac_clean_stale_temps(o->out, out_temps, (int)(sizeof out_temps / sizeof out_temps[0]));
    char *p = join(o->out, "model");
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) removed += tac_clean_stale_temps(p, model_names, N_MODEL);
    free(p);
    p = join(o->out, ".assign-new.csv");                /* an older assign's temporary (no PID in its name) */
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && unlink(p) == 0) removed++;
    free(p);
    char *runs = join(o->out, ".runs");
    DIR *d = opendir(runs);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        long pid = run_id_pid(de->d_name);
        if (pid <= 0 || tac_pid_alive(pid)) continue;
        char *dir = join(runs, de->d_name);
        if (!(o->committed && strcmp(dir, o->committed) == 0) && tac_remove_tree(dir) == TAC_OK) removed++;
        free(dir);
    }
    if (d) closedir(d);
    free(runs);
    free(o->pending);
    o->pending = NULL;
    if (removed) tac_info("%s: removed %d leftover%s of interrupted runs", o->out, removed, removed == 1 ? "" : "s");
    if (find_foreign(o) != TAC_OK) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "%s", tac_last_error());
        return tac_fail("%s was not written by taclust; a run replaces what is in %s, so move it away first "
                        "(or use another --out)", what, o->out);
    }
    return TAC_OK;
}

int tac_outdir_stage(tac_outdir *o)
{
    char *runs = join(o->out, ".runs");
    int rc = tac_mkdir_p(runs);
    if (rc == TAC_OK) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char id[64];
        snprintf(id, sizeof id, "%016llx-%ld",
                 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000, (long)getpid());
        o->stage = join(runs, id);
        if (mkdir(o->stage, 0777) != 0) {
            rc = tac_fail("%s: cannot create folder: %s", o->stage, strerror(errno));
            free(o->stage); o->stage = NULL;
        }
    }
    free(runs);
    return rc;
}

/* Makes OUT/<name> a link to current/<name>. The links are fixed, so this matters once per OUT (and when an
 * old-layout OUT is converted: its real file is replaced by the link, its folder removed after). */
static void top_link(const tac_outdir *o, const char *name)
{
    char *p = join(o->out, name), want[64], target[PATH_MAX], tmp[PATH_MAX + 64];
    snprintf(want, sizeof want, "current/%s", name);
    struct stat st;
    int have = lstat(p, &st) == 0;
    if (have && S_ISLNK(st.st_mode)) {
        ssize_t r = readlink(p, target, sizeof target - 1);
        if (r > 0 && (size_t)r == strlen(want) && memcmp(target, want, (size_t)r) == 0) { free(p); return; }
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", o->out, name, (long)getpid());
    unlink(tmp);
    if (symlink(want, tmp) != 0) { tac_info("%s: cannot link: %s", p, strerror(errno)); free(p); return; }
    if (have && S_ISDIR(st.st_mode)) {
        char old[PATH_MAX + 64];
        snprintf(old, sizeof old, "%s/.%s.old.%ld", o->out, name, (long)getpid());
        if (rename(p, old) != 0 || rename(tmp, p) != 0) { tac_info("%s: cannot replace: %s", p, strerror(errno)); unlink(tmp); }
        else tac_remove_tree(old);
    } else if (rename(tmp, p) != 0) { tac_info("%s: cannot replace: %s", p, strerror(errno)); unlink(tmp); }
    free(p);
}

int tac_outdir_commit(tac_outdir *o)
{
    if (!o->stage) return tac_fail("internal: nothing staged in %s", o->out);
    fsync_dir(o->stage);
    char *cur = join(o->out, "current"), tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/.current.tmp.%ld", o->out, (long)getpid());
    const char *id = strrchr(o->stage, '/') + 1;
    char target[128];
    snprintf(target, sizeof target, ".runs/%s", id);
    unlink(tmp);
    /* links of a fresh OUT made before the switch (dangling until it), so a kill right after it leaves them too */
    for (int i = 0; i < N_TOP; i++) {
        char *p = join(o->out, top_names[i]), want[64];
        struct stat st;
        snprintf(want, sizeof want, "current/%s", top_names[i]);
        if (lstat(p, &st) != 0 && errno == ENOENT && symlink(want, p) != 0) tac_info("%s: cannot link: %s", p, strerror(errno));
        free(p);
    }
    int rc = TAC_OK;
    if (tac_debug_write_fails(cur)) rc = tac_fail("%s: cannot switch to the new run: %s", cur, strerror(ENOSPC));
    else if (symlink(target, tmp) != 0) rc = tac_fail("%s: cannot switch to the new run: %s", cur, strerror(errno));
    else if (rename(tmp, cur) != 0) { rc = tac_fail("%s: cannot switch to the new run: %s", cur, strerror(errno)); unlink(tmp); }
    free(cur);
    if (rc != TAC_OK) return rc;
    fsync_dir(o->out);
    /* committed: from here on OUT holds the new run; the rest tidies up */
    char *old = o->committed;
    int was_legacy = o->legacy;
    o->committed = o->stage;
    o->stage = NULL;
    o->legacy = 0;
    if (old && !was_legacy) {
        /* a file the user put there meanwhile keeps the earlier run's folder (said so), never deleted */
        tac_outdir probe = *o;
        probe.committed = old;
        if (find_foreign(&probe) == TAC_OK) tac_remove_tree(old);
        else tac_info("kept %s: %s was not written by taclust", old, tac_last_error());
    }
    for (int i = 0; i < N_TOP; i++) top_link(o, top_names[i]);
    free(old);
    return TAC_OK;
}

void tac_outdir_close(tac_outdir *o)
{
    if (o->stage) tac_remove_tree(o->stage);      /* a failed run leaves nothing behind */
    tac_lock_release(o->lock_fd);
    free(o->stage); free(o->committed); free(o->pending); free(o->out);
    memset(o, 0, sizeof *o);
    o->lock_fd = -1;
}
