/* test_fit_scale.c - what tac_fit reports for running at scale: the inputs_read hook (where `fit` drops its
 * memory-mapped train pages) is called exactly once, after the inputs were copied and before the centres, and
 * the peak RSS after each stage is positive and never decreases (it is a running peak).
 */
#include "tac_test.h"
#include "taclust/pipeline.h"

typedef struct { int calls; } hook_ctx;
static void on_read(void *arg) { ((hook_ctx *)arg)->calls++; }

TAC_TEST(fit_inputs_read_hook_and_peak_rss_per_stage)
{
    enum { NTR = 900, NTE = 300, D = 16, M = 60, K = 3 };
    float *Xtr = tac_xmalloc(NTR * D, sizeof(float)), *Xte = tac_xmalloc(NTE * D, sizeof(float)); /* N x D */
    float *T = tac_xmalloc(M * D, sizeof(float));                                                  /* M x D */
    tac_mt r;
    tac_mt_seed(&r, 4);
    for (int i = 0; i < NTR * D; i++) Xtr[i] = (float)(tac_mt_normal(&r) + ((i / D) % K == (i % D) % K ? 3 : 0));
    for (int i = 0; i < NTE * D; i++) Xte[i] = (float)(tac_mt_normal(&r) + ((i / D) % K == (i % D) % K ? 3 : 0));
    for (int i = 0; i < M * D; i++) T[i] = (float)tac_mt_normal(&r);
    tac_fit_params p;
    tac_fit_default_params(&p);
    p.K = K; p.niter = 10; p.nredo_centres = 1; p.nredo_concat = 1; p.train = 0;
    hook_ctx h = {0};
    p.inputs_read = on_read;
    p.inputs_read_arg = &h;
    tac_fit_result res;
    TAC_CHECK_OK(tac_fit(Xtr, NTR, Xte, NTE, D, T, M, NULL, NULL, NULL, &p, &res));
    TAC_CHECK_INT(h.calls, 1);
    TAC_CHECK(res.rss_normalise > 0);
    TAC_CHECK(res.rss_centres >= res.rss_normalise);
    TAC_CHECK(res.rss_select >= res.rss_centres);
    TAC_CHECK(res.rss_retrieve >= res.rss_select);
    TAC_CHECK(res.rss_notrain >= res.rss_retrieve);
    TAC_CHECK(res.rss_total >= res.rss_notrain);
    tac_fit_result_free(&res);
    free(Xtr); free(Xte); free(T);
}
