/* bench_clip.c - CLIP throughput of taclust: the image tower at a batch, the text tower on TAC's noun prompts,
 * and the sgemm ceiling of this machine measured in the same run. Driven by bench/bench_clip.sh, which runs
 * the PyTorch (bench/clip_torch.py) and ONNX Runtime (bench/clip_onnx.js) references on the same inputs.
 *
 *   build/bench_clip sgemm [--batch 32]
 *       cblas_sgemm GFLOP/s at 1024^3 and at every GEMM shape of the ViT-B/32 image tower at that batch, and
 *       the GEMM-only ceiling in images/s (each GEMM of the tower at its measured rate, nothing else).
 *   build/bench_clip dnnl [--batch 32]
 *       the same table for oneDNN bf16 matmuls (bf16 operands, weights prepacked in the layout oneDNN picks, fp32
 *       output), as the towers' bf16 mode runs them: the bf16 GEMM-only ceiling in images/s.
 *   build/bench_clip image MODEL_DIR [--batch 32] [--repeats 10] [--per-call 0|1] [--pixels-out P.npy] [--feat-out F.npy]
 *       images/s of tac_clip_encode_images_st on random pixels (median over repeats, after one warm-up), with one
 *       tac_clip_state kept over the repeats as tac_embed_images does; --per-call 1: tac_clip_encode_images, which
 *       makes and frees the state (its workspaces) in every call (RESULT key suffix _percall);
 *       writes the pixels (B x 3 x S x S) and features (B x E) for the reference comparison.
 *   build/bench_clip text MODEL_DIR [--nouns 2000] [--batch 512] [--wordnet /usr/share/wordnet]
 *                         [--tokens-out T.npy --feat-out F.npy]   (the first 512 prompts)
 *       tac_embed_nouns on a stride sample of distinct WordNet nouns x 7 TAC templates: prompts/s and the
 *       projected time for all 146,347 x 7 (and for the distinct lower-cased nouns, which is what runs).
 * image and text take --precision fp32 (default) | bf16 | auto; their RESULT keys get a _bf16 suffix in bf16.
 * The tokenizer: the model folder's, else $TACLUST_BPE (as the taclust program).
 * Every mode prints the machine, openblas_get_corename(), the thread counts and one "RESULT key=value" line
 * per figure for the driver.
 */
#include "taclust/clip.h"
#include "taclust/core.h"
#include "taclust/embed.h"
#include "taclust/textspace.h"
#include "bench_common.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define TAC7 tac_prompt_templates   /* the 7 TAC templates (textspace.h) */

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i < argc - 1; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Median seconds of `reps` rounds of C = A * B^T (A: M x K, B: N x K row-major, as a Linear layer's weight),
 * each round `inner` calls. workers = 0: one caller, BLAS's own threads; workers = nt >= 1: nt threads at once, each
 * with its own A and C and single-threaded BLAS (the GEMM rate of data-parallel workers, as the towers run). */
static double time_sgemm(int M, int N, int K, int inner, int reps, int workers)
{
    int nw = workers > 0 ? workers : 1;
    float *A = tac_xmalloc((size_t)nw * M * K, sizeof(float));   /* nw x M x K */
    float *B = tac_xmalloc((size_t)N * K, sizeof(float));        /* N x K */
    float *C = tac_xmalloc((size_t)nw * M * N, sizeof(float));   /* nw x M x N */
    tac_mt r;
    tac_mt_seed(&r, 1);
    for (size_t i = 0; i < (size_t)nw * M * K; i++) A[i] = tac_mt_float(&r) - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = tac_mt_float(&r) - 0.5f;
    double t[64];
    if (reps > 64) reps = 64;
    int blas_threads = openblas_get_num_threads();
    if (workers > 0) openblas_set_num_threads(1);
    for (int k = -1; k < reps; k++) {                           /* k = -1: warm-up */
        double t0 = tac_now();
        #pragma omp parallel num_threads(nw) if (workers > 0)
        {
            int w = omp_get_thread_num();
            for (int j = 0; j < inner; j++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A + (size_t)w * M * K, K, B, K,
                            0.0f, C + (size_t)w * M * N, N);
        }
        if (k >= 0) t[k] = (tac_now() - t0) / inner;
    }
    if (workers > 0) openblas_set_num_threads(blas_threads);
    free(A); free(B); free(C);
    return median(t, reps);
}

/* The same as time_sgemm for a oneDNN matmul C (M x N, fp32) = A (M x K, bf16) . W (K x N, bf16, packed in the
 * layout the primitive prefers, as tac_clip_bf16.c packs the weights). workers: as time_sgemm (oneDNN runs
 * single-threaded inside the workers' parallel region, with the OpenMP threads otherwise). */
#define DNC(x) do { if ((x) != dnnl_success) { fprintf(stderr, "bench_clip: oneDNN: %s failed\n", #x); exit(1); } } while (0)
static double time_dnnl(int M, int N, int K, int inner, int reps, int workers)
{
    int nw = workers > 0 ? workers : 1;
    dnnl_engine_t eng;
    DNC(dnnl_engine_create(&eng, dnnl_cpu, 0));
    dnnl_memory_desc_t a, w, c;
    dnnl_dims_t da = {M, K}, dw = {K, N}, dc = {M, N};
    DNC(dnnl_memory_desc_init_by_tag(&a, 2, da, dnnl_bf16, dnnl_ab));
    DNC(dnnl_memory_desc_init_by_tag(&w, 2, dw, dnnl_bf16, dnnl_format_tag_any));
    DNC(dnnl_memory_desc_init_by_tag(&c, 2, dc, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DNC(dnnl_matmul_desc_init(&md, &a, &w, NULL, &c));
    dnnl_primitive_desc_t pd;
    DNC(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_t prim;
    DNC(dnnl_primitive_create(&prim, pd));
    size_t wbytes = dnnl_memory_desc_get_size(wmd);
    uint16_t *A = tac_xmalloc((size_t)nw * M * K, sizeof(uint16_t));   /* nw x M x K */
    uint16_t *W = tac_xmalloc(wbytes, 1);
    float *C = tac_xmalloc((size_t)nw * M * N, sizeof(float));        /* nw x M x N */
    tac_mt r;
    tac_mt_seed(&r, 1);
    for (size_t i = 0; i < (size_t)nw * M * K; i++) { float f = tac_mt_float(&r) - 0.5f; uint32_t u; memcpy(&u, &f, 4); A[i] = (uint16_t)(u >> 16); }
    for (size_t i = 0; i < wbytes / 2; i++) { float f = tac_mt_float(&r) - 0.5f; uint32_t u; memcpy(&u, &f, 4); W[i] = (uint16_t)(u >> 16); }
    dnnl_memory_t ma[64], mw, mc[64];
    dnnl_stream_t st[64];
    if (nw > 64) nw = 64;
    DNC(dnnl_memory_create(&mw, wmd, eng, W));
    for (int i = 0; i < nw; i++) {
        DNC(dnnl_memory_create(&ma[i], &a, eng, A + (size_t)i * M * K));
        DNC(dnnl_memory_create(&mc[i], &c, eng, C + (size_t)i * M * N));
        DNC(dnnl_stream_create(&st[i], eng, dnnl_stream_default_flags));
    }
    double t[64];
    if (reps > 64) reps = 64;
    for (int k = -1; k < reps; k++) {                           /* k = -1: warm-up */
        double t0 = tac_now();
        #pragma omp parallel num_threads(nw) if (workers > 0)
        {
            int i = omp_get_thread_num();
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma[i]}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, mc[i]}};
            for (int j = 0; j < inner; j++) dnnl_primitive_execute(prim, st[i], 3, args);
            dnnl_stream_wait(st[i]);
        }
        if (k >= 0) t[k] = (tac_now() - t0) / inner;
    }
    for (int i = 0; i < nw; i++) { dnnl_memory_destroy(ma[i]); dnnl_memory_destroy(mc[i]); dnnl_stream_destroy(st[i]); }
    dnnl_memory_destroy(mw);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_engine_destroy(eng);
    free(A); free(W); free(C);
    return median(t, reps);
}

/* sgemm (bf16 = 0) or oneDNN bf16 matmuls (bf16 = 1) at the tower's GEMM shapes. */
static int bench_gemms(int argc, char **argv, int bf16)
{
    const int B = atoi(opt(argc, argv, "--batch", "32"));
    /* ViT-B/32 image tower: T = 50 tokens, C = 768, H = 3072, 12 layers, 12 heads of 64; patches 49 x 3072.
     * bm: M is proportional to the batch (split between data-parallel workers) rather than the count */
    const int T = 50, C = 768, H = 3072, L = 12, NH = 12, HD = 64, P = 49, PK = 3 * 32 * 32, E = 512;
    struct { const char *what; int M, N, K; double count; int bm; } g[] = {
        {"patch embedding", B * P, C, PK, 1, 1},
        {"q/k/v projections", B * T, C, C, 3.0 * L, 1},
        {"attention output", B * T, C, C, 1.0 * L, 1},
        {"mlp fc1", B * T, H, C, 1.0 * L, 1},
        {"mlp fc2", B * T, C, H, 1.0 * L, 1},
        {"scores q.k (per head)", T, T, HD, (double)B * NH * L, 0},
        {"weights.v (per head)", T, HD, T, (double)B * NH * L, 0},
        {"projection", B, E, C, 1, 1},
    };
    const int ng = (int)(sizeof g / sizeof g[0]), nt = tac_num_threads();
    print_machine();
    double (*timer)(int, int, int, int, int, int) = bf16 ? time_dnnl : time_sgemm;
    const char *kind = bf16 ? "oneDNN bf16 matmul" : "sgemm", *sfx = bf16 ? "_bf16" : "";
    if (bf16) printf("oneDNN ISA %s (CPU bf16: %s)\n", tac_clip_dnnl_isa(), tac_clip_bf16_available() ? "yes" : "no");
    double t1024 = timer(1024, 1024, 1024, 1, 7, 0);
    printf("%s 1024x1024x1024: %.1f GFLOP/s\n", kind, 2e-9 * 1024.0 * 1024 * 1024 / t1024);
    printf("RESULT %s_1024_gflops=%.1f\n", bf16 ? "dnnl_bf16" : "sgemm", 2e-9 * 1024.0 * 1024 * 1024 / t1024);
    /* two ways to spend the threads on the tower's GEMMs: threaded sgemm over the whole batch, or nt workers each
     * running single-threaded sgemms on 1/nt of it (what the towers do); the ceiling is the faster of the two */
    double total_t = 0, total_w = 0, total_f = 0;
    printf("ViT-B/32 image tower GEMMs at batch %d (C = A.B^T, M x N x K): threaded %s | %d single-threaded "
           "workers side by side\n", B, kind, nt);
    for (int i = 0; i < ng; i++) {
        int small = (double)g[i].M * g[i].N * g[i].K < 1e6;
        double t = timer(g[i].M, g[i].N, g[i].K, small ? 200 : 1, 7, 0);
        int mw = g[i].bm ? (g[i].M + nt - 1) / nt : g[i].M;                  /* each worker's share */
        double cw = g[i].bm ? g[i].count : g[i].count / nt;
        int small_w = (double)mw * g[i].N * g[i].K < 1e6;
        double tw = timer(mw, g[i].N, g[i].K, small_w ? 200 : 1, 7, nt);
        double f = 2.0 * g[i].M * g[i].N * g[i].K;
        printf("  %-22s %5d x %5d x %5d  x%-6.0f %7.1f GFLOP/s | %7.1f GFLOP/s\n", g[i].what, g[i].M, g[i].N, g[i].K,
               g[i].count, 1e-9 * f / t, 1e-9 * f * g[i].count / (tw * cw));
        total_t += t * g[i].count;
        total_w += tw * cw;
        total_f += f * g[i].count;
    }
    double best = total_t < total_w ? total_t : total_w;
    printf("tower GEMM work: %.2f GFLOP per image (%.2f GMAC); %s GEMM-only ceiling %.1f images/s (%.1f GFLOP/s "
           "avg; threaded %.1f images/s, %d workers %.1f images/s)\n", 1e-9 * total_f / B, 0.5e-9 * total_f / B, kind,
           B / best, 1e-9 * total_f / best, B / total_t, nt, B / total_w);
    printf("RESULT gemm_gflop_per_image=%.3f\nRESULT ceiling_images_per_s%s=%.2f\n", 1e-9 * total_f / B, sfx, B / best);
    printf("RESULT ceiling_threaded_images_per_s%s=%.2f\nRESULT ceiling_workers_images_per_s%s=%.2f\n", sfx,
           B / total_t, sfx, B / total_w);
    return 0;
}

/* --precision P of the image and text modes (default fp32), applied to the loaded model; prints it. */
static int set_precision(tac_clip *m, int argc, char **argv)
{
    int p;
    if (tac_clip_parse_precision(opt(argc, argv, "--precision", "fp32"), &p) != TAC_OK) return TAC_ERR;
    if (tac_clip_set_precision(m, p) != TAC_OK) return TAC_ERR;
    printf("precision %s (oneDNN ISA %s; workers capped by TACLUST_CLIP_WORKERS=%s)\n",
           tac_clip_precision_name(tac_clip_precision(m)), tac_clip_dnnl_isa(),
           getenv("TACLUST_CLIP_WORKERS") ? getenv("TACLUST_CLIP_WORKERS") : "(unset)");
    return TAC_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
static int bench_image(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bench_clip image MODEL_DIR [options]\n"); return 2; }
    const int B = atoi(opt(argc, argv, "--batch", "32")), R = atoi(opt(argc, argv, "--repeats", "10"));
    const char *pix_out = opt(argc, argv, "--pixels-out", NULL), *feat_out = opt(argc, argv, "--feat-out", NULL);
    const int per_call = atoi(opt(argc, argv, "--per-call", "0"));
    print_machine();
    tac_clip *m;
    double t0 = tac_now();
    if (tac_clip_load_ex(argv[2], &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &m) != TAC_OK || set_precision(m, argc, argv) != TAC_OK) {
        fprintf(stderr, "bench_clip: %s\n", tac_last_error());
        return 1;
    }
    char sfx[64];                                   /* RESULT key suffix: _bf16, _workersN (TACLUST_CLIP_WORKERS) */
    snprintf(sfx, sizeof sfx, "%s%s%s%s", tac_clip_precision(m) == TAC_CLIP_BF16 ? "_bf16" : "",
             getenv("TACLUST_CLIP_WORKERS") ? "_workers" : "", getenv("TACLUST_CLIP_WORKERS") ? getenv("TACLUST_CLIP_WORKERS") : "",
             per_call ? "_percall" : "");
    printf("model %s loaded in %.2f s\n", argv[2], tac_now() - t0);
    const int S = tac_clip_image_size(m), E = tac_clip_embed_dim(m);
    const size_t P = (size_t)3 * S * S;
    float *pix = tac_xmalloc((size_t)B * P, sizeof(float));   /* B x 3 x S x S */
    float *out = tac_xmalloc((size_t)B * E, sizeof(float));   /* B x E */
    tac_mt r;
    tac_mt_seed(&r, 42);
    for (size_t i = 0; i < (size_t)B * P; i++) pix[i] = (float)(2.0 * tac_mt_uniform(&r) - 1.0) * 1.8f;
    tac_clip_state *st = NULL;
    if ((!per_call && tac_clip_state_new(m, 0, &st) != TAC_OK) ||
        (per_call ? tac_clip_encode_images(m, pix, B, out) : tac_clip_encode_images_st(st, pix, B, out)) != TAC_OK) {
        fprintf(stderr, "bench_clip: %s\n", tac_last_error());
        return 1;
    }
    double *t = tac_xmalloc((size_t)R, sizeof(double));
    for (int k = 0; k < R; k++) {
        double s = tac_now();
        if (per_call) tac_clip_encode_images(m, pix, B, out);
        else tac_clip_encode_images_st(st, pix, B, out);
        t[k] = tac_now() - s;
    }
    tac_clip_state_free(st);
    double med = median(t, R);
    printf("taclust image tower (%s%s): batch %d, %d repeats: median %.3f s/batch = %.2f images/s (min %.3f, max %.3f)\n",
           tac_clip_precision_name(tac_clip_precision(m)), per_call ? ", a state per call" : "", B, R, med, B / med, t[0], t[R - 1]);
    printf("RESULT taclust_images_per_s%s=%.2f\n", sfx, B / med);
    int64_t ps[4] = {B, 3, S, S}, fs[2] = {B, E};
    (void)ps;
    int64_t ps2[2] = {B, (int64_t)P};
    if (pix_out && tac_npy_save_f32(pix_out, pix, 2, ps2) != TAC_OK) fprintf(stderr, "%s\n", tac_last_error());
    if (feat_out && tac_npy_save_f32(feat_out, out, 2, fs) != TAC_OK) fprintf(stderr, "%s\n", tac_last_error());
    free(t); free(pix); free(out);
    tac_clip_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *lower_dup(const char *s)
{
    char *d = tac_xstrdup(s);
    for (char *c = d; *c; c++) *c = (char)tolower((unsigned char)*c);
    return d;
}

static int bench_text(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bench_clip text MODEL_DIR [options]\n"); return 2; }
    const int S = atoi(opt(argc, argv, "--nouns", "2000")), batch = atoi(opt(argc, argv, "--batch", "512"));
    const char *wn = opt(argc, argv, "--wordnet", "/usr/share/wordnet");
    const char *tok_out = opt(argc, argv, "--tokens-out", NULL), *feat_out = opt(argc, argv, "--feat-out", NULL);
    print_machine();
    int64_t M;
    char **nouns;
    if (tac_wordnet_nouns(wn, &nouns, &M) != TAC_OK) { fprintf(stderr, "bench_clip: %s\n", tac_last_error()); return 1; }
    /* distinct lower-cased nouns of the full list (what tac_embed_nouns encodes; its dedup is by tokens), sorted */
    char **low = tac_xmalloc((size_t)M, sizeof(char *));
    for (int64_t i = 0; i < M; i++) low[i] = lower_dup(nouns[i]);
    qsort(low, (size_t)M, sizeof(char *), cmp_str);
    int64_t U = 0;
    for (int64_t i = 0; i < M; i++)
        if (i == 0 || strcmp(low[i], low[U - 1]) != 0) low[U++] = low[i];
        else free(low[i]);
    /* the sample: S / 100 runs of 100 neighbouring distinct nouns, spread evenly over the sorted list. Neighbours
     * share first words as in the full run, where the nouns are encoded in token order (a stride sample shares
     * less and projects a slower full run) */
    const int RUN = 100;
    int nruns = S / RUN > 0 ? S / RUN : 1, ns = 0;
    char **sample = tac_xmalloc((size_t)nruns * RUN, sizeof(char *));
    for (int k = 0; k < nruns; k++)
        for (int64_t i = (int64_t)k * (U / nruns), j = 0; j < RUN && i < U; i++, j++) sample[ns++] = low[i];
    printf("WordNet: %lld nouns, %lld distinct lower-cased; sample %d runs of %d neighbouring nouns x 7 templates = "
           "%d prompts\n", (long long)M, (long long)U, nruns, RUN, 7 * ns);
    tac_clip *m;
    if (tac_clip_load_ex(argv[2], &(tac_clip_load_params){getenv("TACLUST_BPE"), 1}, &m) != TAC_OK || set_precision(m, argc, argv) != TAC_OK) {
        fprintf(stderr, "bench_clip: %s\n", tac_last_error());
        return 1;
    }
    const char *sfx = tac_clip_precision(m) == TAC_CLIP_BF16 ? "_bf16" : "";
    const int E = tac_clip_embed_dim(m);
    float *T = tac_xmalloc((size_t)ns * E, sizeof(float));   /* S x E */
    tac_embed_text_params p = tac_embed_text_default_params();
    p.batch = batch; p.label = NULL; p.tokenizer_path = argv[2];
    /* token statistics of the sample, and the prefix every prompt of a template shares (SOT + the words before
     * the noun), which the text tower runs once per chunk */
    int32_t ids[TAC_CLIP_CONTEXT], first[7][TAC_CLIP_CONTEXT];
    int lcp[7];
    double toks = 0;
    for (int k = 0; k < 7; k++) lcp[k] = TAC_CLIP_CONTEXT;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < 7; k++) {
            char *pr = tac_prompt_format(TAC7[k], sample[i]);
            int l = tac_bpe_tokenize(tac_clip_tokenizer(m), pr, ids, TAC_CLIP_CONTEXT);
            free(pr);
            toks += l;
            if (i == 0) { memcpy(first[k], ids, sizeof ids); lcp[k] = l - 1; continue; }
            int c = 0;
            while (c < lcp[k] && ids[c] == first[k][c]) c++;
            lcp[k] = c;
        }
    double shared = 0;
    for (int k = 0; k < 7; k++) shared += lcp[k];
    printf("mean tokens per prompt (SOT..EOT): %.2f; shared template prefixes %d %d %d %d %d %d %d tokens = %.0f%% of "
           "all token rows\n", toks / (7.0 * ns), lcp[0], lcp[1], lcp[2], lcp[3], lcp[4], lcp[5], lcp[6],
           100.0 * shared * ns / toks);
    printf("RESULT prefix_share=%.3f\n", shared * ns / toks);
    double t0 = tac_now();
    if (tac_embed_nouns(m, (const char *const *)sample, ns, TAC7, 7, &p, T) != TAC_OK) {
        fprintf(stderr, "bench_clip: %s\n", tac_last_error());
        return 1;
    }
    double dt = tac_now() - t0, rate = 7.0 * ns / dt, rows = (double)tac_clip_text_rows(m) / (7.0 * ns);
    printf("precision %s\n", tac_clip_precision_name(tac_clip_precision(m)));
    printf("taclust text tower (tac_embed_nouns, batch %d): %d prompts in %.2f s = %.1f prompts/s; %.2f token rows "
           "run per prompt\n", batch, 7 * ns, dt, rate, rows);
    printf("RESULT rows_per_prompt=%.3f\n", rows);
    printf("projected: all %lld x 7 prompts %.1f min; with the dedup taclust does (%lld distinct) %.1f min\n",
           (long long)M, 7.0 * M / rate / 60, (long long)U, 7.0 * U / rate / 60);
    printf("RESULT taclust_prompts_per_s%s=%.1f\nRESULT projected_min_all%s=%.2f\nRESULT projected_min_dedup%s=%.2f\n",
           sfx, rate, sfx, 7.0 * M / rate / 60, sfx, 7.0 * U / rate / 60);
    printf("RESULT mean_tokens=%.2f\n", toks / (7.0 * ns));
    if (tok_out && feat_out) {   /* the first prompts of the sample, for the PyTorch reference: ids, features */
        const int64_t np = 7 * (int64_t)ns < 512 ? 7 * (int64_t)ns : 512;
        int64_t *all = tac_xmalloc((size_t)np * TAC_CLIP_CONTEXT, sizeof(int64_t));   /* NP x 77 */
        float *F = tac_xmalloc((size_t)np * E, sizeof(float));                          /* NP x E */
        char **pr = tac_xmalloc((size_t)np, sizeof(char *));
        for (int64_t q = 0; q < np; q++) {
            pr[q] = tac_prompt_format(TAC7[q % 7], sample[q / 7]);
            tac_bpe_tokenize(tac_clip_tokenizer(m), pr[q], ids, TAC_CLIP_CONTEXT);
            for (int c = 0; c < TAC_CLIP_CONTEXT; c++) all[q * TAC_CLIP_CONTEXT + c] = ids[c];
        }
        if (tac_embed_prompts(m, (const char *const *)pr, np, &p, F) != TAC_OK) fprintf(stderr, "%s\n", tac_last_error());
        int64_t ts[2] = {np, TAC_CLIP_CONTEXT}, fs[2] = {np, E};
        tac_npy_save_i64(tok_out, all, 2, ts);
        tac_npy_save_f32(feat_out, F, 2, fs);
        tac_free_strings(pr, np);
        free(all); free(F);
    }
    free(T); free(sample);
    tac_free_strings(low, U);
    tac_free_strings(nouns, M);
    tac_clip_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sgemm") == 0) return bench_gemms(argc, argv, 0);
    if (argc >= 2 && strcmp(argv[1], "dnnl") == 0) return bench_gemms(argc, argv, 1);
    if (argc >= 2 && strcmp(argv[1], "image") == 0) return bench_image(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "text") == 0) return bench_text(argc, argv);
    fprintf(stderr, "usage: bench_clip sgemm|dnnl|image|text ... (see the comment at the top of bench/bench_clip.c)\n");
    return 2;
}
