/* taclust/heads.h - TAC's two cluster heads (tac-method.md section 7): image head f_I and text head f_T,
 * each Linear(D->H) -> BatchNorm1d(H) -> ReLU -> Linear(H->K) -> softmax, trained with cross-modal mutual
 * distillation over nearest neighbours, the consistency term and the balance (entropy) term, with Adam.
 * Prediction = argmax of the image head with BatchNorm in eval mode.
 *
 * Errors and memory: functions return TAC_OK / TAC_ERR with the reason in tac_last_error(), also when memory
 * cannot be allocated (never abort). Heads from tac_heads_train / tac_heads_load are released with tac_heads_free.
 * Threads: a trained or loaded tac_heads is immutable for prediction: tac_heads_predict*, tac_heads_save and the
 * accessors may run on one tac_heads from several threads at once (each call allocates its own buffer).
 * tac_heads_train is a pure function of its inputs (several trainings may run at once); it uses at most
 * params.threads threads (0 = all the library may use: 2 when that is >= 2, one per head) and sets OpenBLAS's
 * process-wide thread count to 1 for its duration, reading it first (openblas_get_num_threads) and restoring
 * exactly that value afterwards. Results do not depend on the thread count (bit-identical heads).
 * tac_heads_predict runs on the calling thread with OpenBLAS's own threads, as configured by the caller.
 */
#ifndef TACLUST_HEADS_H
#define TACLUST_HEADS_H

#include "taclust/core.h"
#include "taclust/dist.h"
#include "taclust/version.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int K;                /* clusters (required) */
    int hidden;           /* H, default 512 */
    int epochs;           /* default 20 */
    int batch;            /* default 512 (drop_last) */
    float temperature;    /* distillation T, default 0.5 */
    float entropy_weight; /* alpha, default 5 */
    float lr, beta1, beta2, eps;  /* Adam: 1e-3, 0.9, 0.99, 1e-8 */
    uint32_t seed;        /* init, shuffling and neighbour sampling; default 0 */
    int progress;         /* 1: each epoch's loss to the log callback (INFO) and the training's progress to the
                             process-wide progress callback (default 0) */
    tac_progress_fn progress_fn; /* training progress (label "training heads", done/total in batches) to this callback
                                    instead, whatever `progress` says; NULL (default): as `progress` says.
                                    (Named progress_fn: the int `progress` above keeps its name and place.) */
    void *progress_user;  /* passed to progress_fn */
    int threads;          /* threads training may use: 0 (default) = all the library may use; 1 = calling thread */
} tac_heads_params;

typedef struct tac_heads tac_heads;   /* opaque: both heads' parameters and BatchNorm running stats */

TAC_API void tac_heads_default_params(tac_heads_params *p);

/* The arithmetic of the training's matrix products, for the whole process (a setting, not a tac_heads_params
 * field: that struct is embedded in tac_fit_params, whose layout stays fixed).
 *   TAC_HEADS_FP32 (default): float32 over OpenBLAS, the reference arithmetic the tests and fixtures use;
 *   TAC_HEADS_BF16: the linear layers' products (forward and backward) and the distillation gradient's 2K x 2K x B
 *     product take bf16 operands with float32 accumulation (oneDNN; needs AVX512-BF16 or AMX-BF16), as PyTorch's
 *     bf16 autocast would; everything else (the 2K x 2K similarities, softmax, BatchNorm, the loss, Adam, the
 *     parameters) stays float32, but for a float-exp softmax. A step at the ImageNet-1K setting (B 8192, K 1000)
 *     took 0.8-1.0 s against 1.2-1.3 s in fp32 (OpenBLAS AVX-512 kernels) and 2.0 s (its Haswell kernels) on 2
 *     cores; results differ from fp32 within training noise (docs/scale.md) and may differ between CPU
 *     families (AMX against AVX-512);
 *   TAC_HEADS_AUTO: bf16 where the CPU has it, else fp32.
 * tac_heads_set_precision returns TAC_ERR (reason set) for another value, or for TAC_HEADS_BF16 on a CPU without
 * native bf16. Training fails likewise when bf16 was set and is not native (e.g. TACLUST_NO_BF16 set later).
 * Prediction is always float32. tac_heads_train_dist trains in fp32 (AUTO means fp32 there; BF16 is TAC_ERR). */
enum { TAC_HEADS_AUTO = 0, TAC_HEADS_FP32 = 1, TAC_HEADS_BF16 = 2 };
TAC_API int tac_heads_set_precision(int precision);
TAC_API int tac_heads_get_precision(void);             /* the setting (TAC_HEADS_AUTO stays AUTO) */
TAC_API int tac_heads_bf16_active(void);               /* 1 when training would use bf16 products now */

/* Called after every epoch when non-NULL (e.g. to evaluate); epoch counts from 1, loss is the epoch mean. */
typedef void (*tac_heads_epoch_cb)(const tac_heads *h, int epoch, double loss, void *user);

/* X: N x D normalised image features; R: N x D normalised text counterparts; nn_img / nn_txt: N x kn
 * neighbour indices in image space / text space. Fails when N < batch. *out: free with tac_heads_free. */
TAC_API int tac_heads_train(const float *X, const float *R, int64_t n, int d,
                    const int64_t *nn_img, const int64_t *nn_txt, int kn,
                    const tac_heads_params *p, tac_heads_epoch_cb cb, void *user, tac_heads **out);

/* Data-parallel training over comm's ranks (taclust/dist.h): every rank passes the same arguments (params.threads,
 * progress and the callbacks may differ) and draws the same shuffle and neighbours as tac_heads_train; each step,
 * rank r does the per-row work (linear layers, BatchNorm normalisation, ReLU, softmax and their backward) for its
 * contiguous share of the batch's rows (tac_comm_share), and what the single process sums over the batch is summed
 * over the ranks (allreduce_sum): BatchNorm's batch statistics (train mode uses the WHOLE batch's mean and variance,
 * i.e. synchronised BatchNorm) and its backward sums, the loss's cluster-level sums (the distillation terms'
 * 2K x 2K similarity products and column norms and dots, the entropy term's column sums, the consistency sum), and
 * the parameter gradients. Every rank then takes the same Adam step, so every rank holds the same heads (bitwise)
 * and sees the same epoch losses in cb. (That needs the transport's sums to be the same on every rank, as dist.h
 * requires: after every epoch a checksum of each rank's heads is compared with rank 0's, and should one differ,
 * rank 0's heads are copied to every rank, with a warning to the log callback.) Per step a rank passes
 * 2*8H + 6K+1 + 4K doubles and 8K^2 + (nparam - 4H) floats (nparam = 2(HD + 3H + KH + K)) to allreduce, about
 * 2.9 MB at D = H = 512, K = 100, in 8 calls. The batch must have at least one row per rank. The sizes, the training parameters and a fingerprint of 16 spread input rows are checked
 * against rank 0's first; a rank with a bad or different argument makes every rank fail with "rank R of N: ...".
 * Differences from tac_heads_train: each rank rounds its partial sums on its own and the partials are added in the
 * transport's order, so losses and gradients differ from the single process in their last bits (relative ~1e-7);
 * Adam normalises each gradient by its own magnitude, so where a gradient is at rounding level its update's sign can
 * differ (a parameter moved by about lr), and the heads drift apart slowly over the steps: the labels agree (ARI >=
 * 0.999 against one rank on the tests' clustered data), the probabilities agree to about 1e-3. comm NULL or of size
 * 1 is exactly tac_heads_train. */
TAC_API int tac_heads_train_dist(const float *X, const float *R, int64_t n, int d,
                    const int64_t *nn_img, const int64_t *nn_txt, int kn,
                    const tac_heads_params *p, tac_heads_epoch_cb cb, void *user, tac_heads **out,
                    const tac_comm *comm);

/* Image head in eval mode. X: N x D normalised. pred: N out (argmax); prob: N x K out or NULL. */
TAC_API int tac_heads_predict(const tac_heads *h, const float *X, int64_t n, int32_t *pred, float *prob);
/* The same, for heads that come from a file: fails (naming `what`) unless the heads take rows of width d and
 * output k clusters, the sizes the caller's X (N x d) and prob (N x k) were made for. */
TAC_API int tac_heads_predict_sized(const tac_heads *h, const char *what, const float *X, int64_t n, int d, int k,
                            int32_t *pred, float *prob);
TAC_API int tac_heads_num_clusters(const tac_heads *h);
TAC_API int tac_heads_input_dim(const tac_heads *h);
TAC_API int tac_heads_save(const tac_heads *h, const char *path);   /* atomic */
TAC_API int tac_heads_load(const char *path, tac_heads **out);
TAC_API void tac_heads_free(tac_heads *h);

#ifdef __cplusplus
}
#endif
#endif
