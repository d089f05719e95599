/* consumer.c - a program outside the project that uses the installed libtaclust the way a user would: only
 * <taclust.h>, compiled with `pkg-config --cflags --libs taclust` (tests/consumer/run.sh builds it against the
 * shared library and again against the static one).
 *
 * It checks what it gets: the version of the library loaded equals the headers' TAC_VERSION_STRING; k-means on
 * 3 well separated blobs of random points (N = 300, D = 8) finds the blobs (ACC = NMI = ARI = 1 against the true
 * blob of each point, through tac_metrics_compute); the kNN of every point lies in its own blob; a bad call (K > N)
 * fails with a message instead of ending the process. Prints one line per check and "consumer: ok" at the end;
 * exit code 0 only if everything held.
 */
#include <taclust.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 300
#define D 8
#define K 3
#define NN 5

static int failures;
static void check(int ok, const char *what)
{
    printf("  %s: %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static float uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(*s >> 40) / 16777216.0f;
}

int main(void)
{
    static float X[N * D];
    static int32_t lab[N];
    static int64_t truth[N], pred[N], nbr[N * NN];
    float C[K * D];
    double obj = 0;
    uint64_t rng = 42;                       /* the program's own generator (64-bit LCG, top 24 bits) */

    printf("libtaclust %s (headers %s), kernels %s\n", tac_version(), TAC_VERSION_STRING, tac_cpu_isa_name());
    check(strcmp(tac_version(), TAC_VERSION_STRING) == 0, "tac_version() equals TAC_VERSION_STRING");
    const char *isa = tac_cpu_isa_name();
    check(strcmp(isa, "scalar") == 0 || strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0,
          "tac_cpu_isa_name() names a level");

    /* 3 blobs: centre b has 10 on axis b, points scattered +-0.5 around it; point i belongs to blob i % 3 */
    for (int i = 0; i < N; i++) {
        truth[i] = i % K;
        for (int j = 0; j < D; j++)
            X[i * D + j] = (j == (int)truth[i] ? 10.0f : 0.0f) + uniform(&rng) - 0.5f;
    }
    tac_kmeans_params p;
    tac_kmeans_default_params(&p);
    p.k = K;
    p.niter = 20;
    p.nredo = 3;
    p.seed = 7;
    if (tac_kmeans(X, N, D, &p, C, lab, &obj) != TAC_OK) {
        printf("  FAIL: tac_kmeans: %s\n", tac_last_error());
        return 1;
    }
    for (int i = 0; i < N; i++) pred[i] = lab[i];
    tac_metrics m;
    check(tac_metrics_compute(truth, pred, N, &m) == TAC_OK, "tac_metrics_compute succeeds");
    printf("  k-means objective %.4f; ACC %.4f NMI %.4f ARI %.4f\n", obj, m.acc, m.nmi, m.ari);
    check(m.acc == 1.0 && fabs(m.nmi - 1.0) < 1e-9 && fabs(m.ari - 1.0) < 1e-9, "k-means finds the 3 blobs");
    /* each point is within 0.5 * sqrt(D) of its centre: the objective (sum of squared distances) is small */
    check(obj > 0 && obj < N * D * 0.25, "k-means objective within the blobs' spread");
    int centred = 1;
    for (int c = 0; c < K; c++) {
        int b = lab[c];                      /* point c is in blob c; its cluster's centre is near 10 e_c */
        centred &= fabsf(C[b * D + c] - 10.0f) < 0.2f;
    }
    check(centred, "centroids at the blob centres");

    check(tac_knn_cosine(X, N, D, NN, nbr, NULL) == TAC_OK, "tac_knn_cosine succeeds");
    int same = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < NN; j++) same &= nbr[i * NN + j] != i && truth[nbr[i * NN + j]] == truth[i];
    check(same, "every point's 5 nearest neighbours are in its own blob, itself excluded");

    p.k = N + 1;
    int rc = tac_kmeans(X, N, D, &p, NULL, lab, NULL);
    check(rc != TAC_OK && strlen(tac_last_error()) > 0, "K > N fails with a message (process alive)");
    printf("  (message: %s)\n", tac_last_error());

    if (failures) { printf("consumer: %d check(s) failed\n", failures); return 1; }
    printf("consumer: ok\n");
    return 0;
}
