/* test_mpi_fit.c - `mpirun -np N taclust fit` (Open MPI, src/mpi/tac_mpi.c) against one process on synthetic
 * embeddings: outputs byte-identical with 2 and 3 ranks for TAC (no train); with the heads, TAC (no train) and the
 * selected nouns identical and the TAC labels' ARI >= 0.999 against one process; a rank that cannot read its input
 * or reads another file than rank 0 ends every rank with the reason naming it, quickly, and no outputs are written.
 * Skipped (saying why) when taclust was built without MPI or mpirun is missing. */
#include "tac_test.h"
#include "taclust/metrics.h"

#include <stdint.h>
#include <sys/stat.h>

enum { MD = 16, MK = 5, MNTR = 3000, MNTE = 600, MM = 300 };

/* rows near MK random directions (class = row % MK) */
static void write_set(const char *dir)
{
    tac_mt r;
    tac_mt_seed(&r, 5);
    float M[MK * MD];
    for (int i = 0; i < MK * MD; i++) M[i] = (float)tac_mt_normal(&r);
    static float X[MNTR * MD];
    static int64_t y[MNTR];
    int64_t shape[2] = {0, MD};
    const char *names[2] = {"Xtr.npy", "Xte.npy"};
    int ns[2] = {MNTR, MNTE};
    for (int set = 0; set < 2; set++) {
        for (int i = 0; i < ns[set]; i++) {
            y[i] = i % MK;
            for (int j = 0; j < MD; j++) X[i * MD + j] = M[(i % MK) * MD + j] + 0.8f * (float)tac_mt_normal(&r);
        }
        shape[0] = ns[set];
        if (tac_npy_save_f32(tac_test_path(dir, names[set]), X, 2, shape) != TAC_OK) abort();
        if (set == 1) {
            int64_t n = MNTE;
            if (tac_npy_save_i64(tac_test_path(dir, "yte.npy"), y, 1, &n) != TAC_OK) abort();
        }
    }
    for (int t = 0; t < MM; t++)
        for (int j = 0; j < MD; j++)
            X[t * MD + j] = (t < 100 ? M[(t % MK) * MD + j] + 0.5f * (float)tac_mt_normal(&r) : (float)tac_mt_normal(&r));
    shape[0] = MM;
    if (tac_npy_save_f32(tac_test_path(dir, "T.npy"), X, 2, shape) != TAC_OK) abort();
}

/* the fit command line; epochs 0: --no-train */
static const char *fit_args(const char *dir, const char *train, const char *out, int epochs)
{
    static char buf[2][2048];
    static int slot;
    char *b = buf[slot++ & 1], epochs_opt[64];
    if (epochs > 0) snprintf(epochs_opt, sizeof epochs_opt, "--epochs %d --batch 256", epochs);
    else snprintf(epochs_opt, sizeof epochs_opt, "--no-train");
    snprintf(b, 2048, "%s fit --train %s/%s --test %s/Xte.npy --nouns %s/T.npy --labels %s/yte.npy -K %d --centres 400 "
             "--seed 3 %s --out %s/%s -q", tac_test_bin(), dir, train, dir, dir, dir, MK, epochs_opt, dir, out);
    return b;
}

static int same_file(const char *a, const char *b)
{
    return tac_test_sh("cmp -s '%s' '%s'", a, b) == 0;
}

TAC_TEST(mpi_fit_notrain_identical_on_2_and_3_ranks)
{
    const char *why = tac_test_mpi_missing();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    write_set(dir);
    TAC_REQUIRE(tac_test_sh("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 %s >%s/one.txt", fit_args(dir, "Xtr.npy", "one", 0), dir) == 0);
    const char *files[] = {"pred_notrain.npy", "selected.txt", "selected_nouns.tsv", "cluster_names.tsv", "metrics.json"};
    for (int np = 2; np <= 3; np++) {
        char out[16];
        snprintf(out, sizeof out, "np%d", np);
        int st = tac_test_mpirun(np, "%s >%s/%s.txt 2>%s/%s.err", fit_args(dir, "Xtr.npy", out, 0), dir, out, dir, out);
        if (st != 0) { tac_test_sh("cat %s/%s.err", dir, out); tac_test_fail_at(__FILE__, __LINE__, "-np %d: exit %d", np, st); continue; }
        char od[600], oo[600];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(od, sizeof od, "%s/one/%s", dir, files[i]);
            snprintf(oo, sizeof oo, "%s/%s/%s", dir, out, files[i]);
            if (!same_file(od, oo)) tac_test_fail_at(__FILE__, __LINE__, "-np %d: %s differs from one process's", np, files[i]);
        }
        /* the summary is printed once (rank 0) */
        TAC_CHECK(tac_test_sh("test $(grep -c '^TAC fit:' %s/%s.txt) -eq 1", dir, out) == 0);
    }
}

TAC_TEST(mpi_fit_heads_ari_on_3_ranks)
{
    const char *why = tac_test_mpi_missing();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    write_set(dir);
    TAC_REQUIRE(tac_test_sh("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 %s >/dev/null", fit_args(dir, "Xtr.npy", "one", 4)) == 0);
    int st = tac_test_mpirun(3, "%s >/dev/null 2>%s/np3.err", fit_args(dir, "Xtr.npy", "np3", 4), dir);
    if (st != 0) tac_test_sh("cat %s/np3.err", dir);
    TAC_REQUIRE(st == 0);
    TAC_CHECK(same_file(tac_test_path(tac_test_path(dir, "one"), "pred_notrain.npy"),
                        tac_test_path(tac_test_path(dir, "np3"), "pred_notrain.npy")));
    TAC_CHECK(same_file(tac_test_path(tac_test_path(dir, "one"), "selected.txt"),
                        tac_test_path(tac_test_path(dir, "np3"), "selected.txt")));
    int64_t *a = NULL, *b = NULL, na = 0, nb = 0;
    TAC_CHECK_OK(tac_labels_load(tac_test_path(tac_test_path(dir, "one"), "pred_tac.npy"), &a, &na));
    TAC_CHECK_OK(tac_labels_load(tac_test_path(tac_test_path(dir, "np3"), "pred_tac.npy"), &b, &nb));
    TAC_CHECK_INT(na, MNTE);
    TAC_CHECK_INT(nb, MNTE);
    double ari = tac_metric_ari(a, b, na);
    int64_t differ = 0;
    for (int64_t i = 0; i < na; i++) differ += a[i] != b[i];
    printf("    TAC labels, 1 process vs 3 ranks: ARI %.6f, %lld of %d labels differ\n", ari, (long long)differ, MNTE);
    TAC_CHECK(ari >= 0.999);
    tac_free(a);
    tac_free(b);
}

TAC_TEST(mpi_fit_failed_rank_ends_the_job_naming_it)
{
    const char *why = tac_test_mpi_missing();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    write_set(dir);
    /* rank 1 of 2 cannot open its train file (MPMD: the two ranks get different command lines) */
    int st = tac_test_mpirun(1, "%s : -np 1 %s >/dev/null 2>%s/miss.err", fit_args(dir, "Xtr.npy", "miss", 0),
                             fit_args(dir, "nonexistent.npy", "miss", 0), dir);
    TAC_CHECK(st != 0 && st != 124);   /* 124: the time limit (a hang) */
    TAC_CHECK(tac_test_sh("grep -q 'rank 1 of 2: .*nonexistent.npy: cannot open' %s/miss.err", dir) == 0);
    TAC_CHECK(tac_test_sh("test -z \"$(ls -A %s/miss 2>/dev/null)\"", dir) == 0);
    /* ranks 1 and 2 read a train file with one value changed */
    tac_npy_map m;
    TAC_REQUIRE(tac_npy_map_f32(tac_test_path(dir, "Xtr.npy"), &m) == TAC_OK);
    float *X = malloc(sizeof(float) * MNTR * MD);
    memcpy(X, m.data, sizeof(float) * MNTR * MD);
    tac_npy_unmap(&m);
    X[5 * MD + 3] += 1.0f;
    int64_t shape[2] = {MNTR, MD};
    TAC_REQUIRE(tac_npy_save_f32(tac_test_path(dir, "Xtr2.npy"), X, 2, shape) == TAC_OK);
    free(X);
    st = tac_test_mpirun(1, "%s : -np 2 %s >/dev/null 2>%s/other.err", fit_args(dir, "Xtr.npy", "other", 0),
                         fit_args(dir, "Xtr2.npy", "other", 0), dir);
    TAC_CHECK(st != 0 && st != 124);
    TAC_CHECK(tac_test_sh("grep -q 'rank 1 of 3: its input embeddings .* differ from rank 0' %s/other.err", dir) == 0);
    TAC_CHECK(tac_test_sh("test -z \"$(ls -A %s/other 2>/dev/null)\"", dir) == 0);
}

TAC_TEST(mpi_fit_killed_rank_ends_the_job)
{
    const char *why = tac_test_mpi_missing();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    write_set(dir);
    /* rank 1 is killed (SIGKILL) 1.5 s into a run of many epochs: mpirun ends rank 0 too, soon (the time limit would
     * give 124), and the output folder holds nothing (the staging folder is made only once the results exist) */
    const char *a = fit_args(dir, "Xtr.npy", "killed", 900);   /* 900 epochs: many seconds */
    const char *b = fit_args(dir, "Xtr.npy", "killed", 900);
    double t0 = tac_now();
    int st = tac_test_mpirun(1, "%s : -np 1 sh -c '%s & p=$!; sleep 1.5; kill -9 $p; wait $p' >%s/kill.log 2>&1", a, b,
                             dir);
    double secs = tac_now() - t0;
    printf("    rank 1 killed: mpirun exit %d after %.1f s\n", st, secs);
    TAC_CHECK(st != 0 && st != 124);
    TAC_CHECK(secs < 60);
    TAC_CHECK(tac_test_sh("test -z \"$(ls -A %s/killed 2>/dev/null)\"", dir) == 0);
}

TAC_TEST(mpi_single_process_commands_refuse_several_ranks)
{
    const char *why = tac_test_mpi_missing();
    if (why) TAC_SKIP(why);
    const char *dir = tac_test_tmpdir();
    int st = tac_test_mpirun(2, "%s kmeans --help >/dev/null 2>%s/k.err", tac_test_bin(), dir);
    TAC_CHECK(st != 0 && st != 124);
    TAC_CHECK(tac_test_sh("grep -q 'kmeans: runs on one process; run it without mpirun' %s/k.err", dir) == 0);
}
