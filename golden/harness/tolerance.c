/* The tolerance table (see tolerance.h). Inputs in every check are O(1) (standard normal), so
 * absolute floors are stated for that scale; each reason says where the error comes from. */
#include "tolerance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONE_ROUNDING "one fp32 rounding of a double-accumulated result"
#define FD_REASON "fp32 rounding of the analytic gradient (double-accumulated); FD truncation " \
                  "O(h^2) ~ 1e-10 with h = 1e-5 on the fp64 reference is far below it"

#define FAST_MATMUL "sgemm's fp32 (blocked, FMA) sums of K products vs ref's double sums: error " \
                    "~ K eps_fp32 for O(1) factors, K up to ~430 in the tests"
#define FAST_DOUBLE "double sums in both, in another order: one fp32 rounding apart"
#define FAST_EXACT "the same fp32 operations in the same order as ref: bit-identical"
#define FAST_COLUMNS "one double column sum, rounded once (ref: an fp32 += per row)"
#define FAST_RECIPROCAL "dout * fp32(1 / count) vs dout / count in double: two roundings"
#define FAST_ATTENTION "fp32 tile matmuls over the head and the keys (ref: double), online " \
                       "softmax rescaled per key tile, probabilities recomputed from the " \
                       "log-sum-exp: a few roundings of O(1) terms"
#define FAST_ATTENTION_DQK FAST_ATTENTION "; ds = p (dp - delta) takes delta = rowsum(dout " \
                           "* out) (FlashAttention-2), whose roundings do not cancel dp's as " \
                           "ref's sum_j p_j dp_j does: on a peaked row an fp32 rounding of " \
                           "|dout||v| times |k| or |q| (the wide test: |q| <= 16)"
#define FAST_ADAMW "fp32 arithmetic per entry as torch.optim.AdamW (ref: double, rounded once): " \
                   "m and v two roundings, x one rounding plus the step's few roundings " \
                   "scaled by lr; abs: one fp32 rounding of O(1) terms that cancel"
#define AFTER_REASON "parameters after the AdamW steps, at lr 1e-3: abs 0.1 lr (strict; port 0.2 " \
    "lr) plus, per entry, Adam's amplification of gradient noise, lr * sum over the steps s of " \
    "min(gamma max|g_s| / |g_s,i|, 2) with g_s = steps.grad[s] and gamma the grad row: m / " \
    "sqrt(v) divides by |g|, so an entry whose gradient is within rounding of zero (a key bias: " \
    "softmax ignores a shift) may step +-lr either way; rel: one fp32 rounding of p per step"
#define PORT_COPY "a copy, or one correctly rounded IEEE operation on the inputs: identical in " \
                  "every correct port"
#define PORT_COLUMNS "an fp32 column sum over every row in any order (strict: one double sum): " \
                     "~sqrt(N) eps_fp32 of the O(sqrt N) sum"
#define PORT_AS_STRICT(k, t, a, r) \
    { k, t, LV_CHECK_PORT, a, r, "as the strict (fast kernel vs ref) row: its fp32 sums in " \
      "another order already are what a port does" }
#define FAST_CROSS_ENTROPY "exp(x - lse) in fp32 from the forward's fp32 lse (ref: lse " \
    "recomputed in double): each probability off by up to abs(lse) eps_fp32 / 2 relative (4e-6 " \
    "at lse ~ 100), exp ~1 ulp, dloss / count rounded; abs where p - 1 cancels at a target of " \
    "probability ~1"
#define BF16_DOT "bf16 operands (u = 2^-8 each), fp32 sums: ~u sqrt(K) abs(a b) for K-long dot " \
                 "products of O(1) terms, K <= 430 in these cases (u sqrt(430) = 0.08); " \
                 "measured 5.7e-2 (linear out): 3.5x"
#define BF16_ATTENTION "every tile product on bf16 operands (softmax, its running sums and " \
    "the accumulators fp32). The score s = scale q.k is off by scale sum_k q_k k_k (d_q + d_k), " \
    "sd u sqrt(2/3) scale sqrt(sum_k (q_k k_k)^2): ~0.8u (3e-3) for N(0,1) q and k, but it grows " \
    "with the scores: attention_peaked's q, k 8x larger (scores in the hundreds) give ~52u = " \
    "0.2, which moves the probabilities of near-tied keys by ~20%; that case sets the row " \
    "(measured out 0.19, dq 0.55, dk 0.38, dv 0.063): 1.6-2.1x. On O(1) scores the errors are " \
    "1.2e-2 at most (golden), within 4u of the tensor's largest entry (tests/check_bf16.c)"
#define FAST_INFONCE "the logit gradient in fp32, then sgemm's fp32 sums over 2B terms " \
                     "times the scale (ref: double)"

static const lv_tolerance table[] = {
    { "linear", "out", LV_CHECK_F64, 1e-6, 1e-6, ONE_ROUNDING },
    { "linear", "dinp", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "linear", "dweight", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "linear", "dbias", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "layernorm", "out", LV_CHECK_F64, 1e-6, 1e-5,
      "statistics in double; mean and rstd are cached as fp32, one extra rounding each" },
    { "layernorm", "dinp", LV_CHECK_FD, 1e-5, 1e-4,
      "the backward re-derives xhat from the fp32 mean/rstd cache: error ~ C * eps_fp32" },
    { "layernorm", "dweight", LV_CHECK_FD, 1e-5, 1e-4, FD_REASON },
    { "layernorm", "dbias", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "gelu", "out", LV_CHECK_F64, 1e-7, 1e-6, "erf evaluated in double, one rounding" },
    { "gelu", "dinp", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "quick_gelu", "out", LV_CHECK_F64, 1e-7, 1e-6, "sigmoid evaluated in double, one rounding" },
    { "quick_gelu", "dinp", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "gelu_tanh", "out", LV_CHECK_F64, 1e-7, 1e-6,
      "sigmoid form evaluated in double, one rounding (the fp64 reference's 1 + tanh(u) cancels in "
      "the deep negative tail, where both are below the abs term)" },
    { "gelu_tanh", "dinp", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    { "attention", "out", LV_CHECK_F64, 1e-6, 1e-5,
      "scores and probabilities are stored as fp32 (the cache), each one rounding" },
    { "attention", "dq", LV_CHECK_FD, 1e-5, 1e-4,
      "from fp32 cached probabilities; sums of head_size * keys products of O(1) terms" },
    { "attention", "dk", LV_CHECK_FD, 1e-5, 1e-4,
      "from fp32 cached probabilities; accumulated in fp32 over the queries of the group" },
    { "attention", "dv", LV_CHECK_FD, 1e-5, 1e-4,
      "accumulated in fp32 over the queries of the group" },
    { "residual", "out", LV_CHECK_F64, 0.0, 1e-7, "one fp32 addition" },
    { "residual", "da", LV_CHECK_FD, 1e-7, 1e-6, "identity: exact up to the FD step" },
    { "residual", "db", LV_CHECK_FD, 1e-7, 1e-6, "identity: exact up to the FD step" },
    { "gated_residual", "out", LV_CHECK_F64, 1e-7, 1e-6, "tanhf, one fp32 product and sum" },
    { "gated_residual", "dh", LV_CHECK_FD, 1e-7, 1e-6, "identity: exact up to the FD step" },
    { "gated_residual", "df", LV_CHECK_FD, 1e-7, 1e-6, "one fp32 product with tanhf(gate)" },
    { "gated_residual", "dgate", LV_CHECK_FD, 1e-5, 1e-5,
      "a double-accumulated sum over all elements, one rounding" },
    { "mean_pool", "out", LV_CHECK_F64, 1e-7, 1e-6, ONE_ROUNDING },
    { "mean_pool", "dinp", LV_CHECK_FD, 1e-7, 1e-6, "dout / count, one rounding" },
    { "l2norm", "out", LV_CHECK_F64, 1e-7, 1e-6, "norm in double, one rounding" },
    { "l2norm", "dinp", LV_CHECK_FD, 1e-6, 1e-5,
      "uses the fp32 normalised output and fp32 norm of the forward" },
    { "embedding", "out", LV_CHECK_F64, 0.0, 0.0, "a copy: exact" },
    { "embedding", "dtable", LV_CHECK_FD, 1e-7, 1e-6,
      "fp32 sums of upstream rows for repeated ids" },
    { "tubelet", "out", LV_CHECK_F64, 1e-6, 1e-6, ONE_ROUNDING },
    { "tubelet", "dvideo", LV_CHECK_FD, 1e-6, 1e-5,
      "double-accumulated per tube, fp32 sum where tubes overlap" },
    { "tubelet", "dweight", LV_CHECK_FD, 1e-5, 1e-5,
      "accumulated in fp32 over every token of the batch" },
    { "tubelet", "dbias", LV_CHECK_FD, 1e-5, 1e-5,
      "accumulated in fp32 over every token of the batch" },
    { "pos_embed", "out", LV_CHECK_F64, 1e-7, 1e-6, "two fp32 additions" },
    { "pos_embed", "dinp", LV_CHECK_FD, 1e-7, 1e-6, "identity: exact up to the FD step" },
    { "pos_embed", "dspatial", LV_CHECK_FD, 1e-6, 1e-6,
      "fp32 sums over the tokens sharing a spatial position" },
    { "pos_embed", "dtemporal", LV_CHECK_FD, 1e-6, 1e-6,
      "fp32 sums over the tokens sharing a time index" },
    { "segment_mean", "out", LV_CHECK_F64, 1e-7, 1e-6, ONE_ROUNDING },
    { "segment_mean", "dinp", LV_CHECK_FD, 1e-7, 1e-6, "dout / count, one rounding" },
    { "infonce", "logits", LV_CHECK_F64, 1e-6, 1e-6,
      "scale exp(s) and the dot product in double, one fp32 rounding" },
    { "infonce", "loss", LV_CHECK_F64, 1e-5, 1e-5,
      "log-sum-exp in double over the fp32 logits: each carries a rounding of ~scale eps_fp32" },
    { "infonce", "dv", LV_CHECK_FD, 1e-5, 1e-4,
      "softmaxes of the fp32 logits (error ~scale eps_fp32), summed in fp32 over 2B terms" },
    { "infonce", "dt", LV_CHECK_FD, 1e-5, 1e-4,
      "softmaxes of the fp32 logits (error ~scale eps_fp32), summed in fp32 over 2B terms" },
    { "infonce", "dlog_scale", LV_CHECK_FD, 1e-5, 1e-4,
      "sum of dlogits * logits over 2 B^2 terms in double, from the fp32 logits" },
    { "cross_entropy", "loss", LV_CHECK_F64, 1e-7, 1e-6,
      "log-sum-exps (max subtracted) and their mean in double, one rounding" },
    { "cross_entropy", "lse", LV_CHECK_F64, 1e-7, 1e-6, ONE_ROUNDING },
    { "cross_entropy", "dlogits", LV_CHECK_FD, 1e-6, 1e-5, FD_REASON },
    /* the cpu backend (blas_glue/backend_cpu.c) against ref, kernel by kernel and per step */
    { "linear", "out", LV_CHECK_FAST, 5e-5, 1e-5, FAST_MATMUL },
    { "linear", "dinp", LV_CHECK_FAST, 5e-5, 1e-5, FAST_MATMUL },
    { "linear", "dweight", LV_CHECK_FAST, 2e-4, 1e-5,
      FAST_MATMUL "; here summed over N = 300 rows, twice" },
    { "linear", "dbias", LV_CHECK_FAST, 1e-6, 1e-6, FAST_DOUBLE },
    { "layernorm", "out", LV_CHECK_FAST, 2e-6, 1e-5,
      "fp32 normalisation from fp32-rounded mean and rstd (ref: double), a few roundings" },
    { "layernorm", "mean", LV_CHECK_FAST, 1e-6, 1e-6, FAST_DOUBLE },
    { "layernorm", "rstd", LV_CHECK_FAST, 1e-6, 1e-6, FAST_DOUBLE },
    { "layernorm", "dinp", LV_CHECK_FAST, 5e-6, 1e-5,
      "row sums in double, the rest in fp32 (ref: double): a few roundings of O(1) terms" },
    { "layernorm", "dweight", LV_CHECK_FAST, 1e-4, 2e-5, FAST_COLUMNS },
    { "layernorm", "dbias", LV_CHECK_FAST, 1e-4, 2e-5, FAST_COLUMNS },
    { "gelu", "out", LV_CHECK_FAST, 1e-6, 2e-6,
      "Phi from Abramowitz-Stegun 7.1.26 (|error| <= 1.5e-7) in fp32 vs erf in double: x times "
      "1.5e-7 plus a few roundings; deep negative tails reach the abs term" },
    { "gelu", "dinp", LV_CHECK_FAST, 1e-6, 1e-5,
      "Phi (A-S 7.1.26, <= 1.5e-7) and exp in fp32 vs double: a few roundings of O(1) terms" },
    { "quick_gelu", "out", LV_CHECK_FAST, 1e-6, 2e-6,
      "exp(-1.702 abs(x)) by a ~1 ulp polynomial, the sigmoid and x s in fp32 (ref: double): a few "
      "roundings; 1.702 x rounded to fp32 moves a tiny s (x << 0) by 1.702 abs(x) eps_fp32, "
      "relative, which the abs term covers" },
    { "quick_gelu", "dinp", LV_CHECK_FAST, 1e-6, 1e-5,
      "s + 1.702 x s (1 - s) in fp32 with s (1 - s) = e / (1 + e)^2, e = exp(-1.702 abs(x)) (ref: "
      "double): a few roundings of O(1) terms; abs where the derivative crosses 0 (x ~ -0.75)" },
    { "gelu_tanh", "out", LV_CHECK_FAST, 1e-6, 2e-6,
      "x s(a), a = 2 sqrt(2/pi) x (1 + 0.044715 x^2), in fp32 (ref: double): a carries three "
      "roundings, which move s by s (1 - s) abs(a) 3 eps_fp32 (<= 1e-7 of out near x ~ 2), then "
      "exp by a ~1 ulp polynomial and the sigmoid's division: a few roundings" },
    { "gelu_tanh", "dinp", LV_CHECK_FAST, 1e-6, 1e-5,
      "s + x s (1 - s) da/dx in fp32 with s (1 - s) = e / (1 + e)^2 (ref: double): a few roundings "
      "of O(1) terms, da/dx = 2 sqrt(2/pi) (1 + 0.134 x^2) large only where e r^2 is tiny; abs "
      "where the derivative crosses 0 (x ~ -0.75)" },
    { "attention", "out", LV_CHECK_FAST, 5e-6, 1e-5, FAST_ATTENTION },
    { "attention", "dq", LV_CHECK_FAST, 2e-5, 1e-5, FAST_ATTENTION_DQK },
    { "attention", "dk", LV_CHECK_FAST, 2e-5, 1e-5, FAST_ATTENTION_DQK },
    { "attention", "dv", LV_CHECK_FAST, 5e-6, 1e-5, FAST_ATTENTION },
    { "adamw", "x", LV_CHECK_FAST, 2e-7, 3e-7, FAST_ADAMW },
    { "adamw", "m", LV_CHECK_FAST, 2e-7, 3e-7, FAST_ADAMW },
    { "adamw", "v", LV_CHECK_FAST, 2e-7, 3e-7, FAST_ADAMW },
    { "sum_squares", "out", LV_CHECK_FAST, 0.0, 1e-11,
      "double sums over 64 fixed parts, added in order, vs one sequential double sum, whose "
      "rounding is bounded by n eps (3e-11 at the tested n = 3e5; typically sqrt(n) eps)" },
    { "residual", "out", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "residual", "da", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "residual", "db", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "gated_residual", "out", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "gated_residual", "dh", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "gated_residual", "df", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "gated_residual", "dgate", LV_CHECK_FAST, 1e-6, 1e-6,
      "a double sum in 64 fixed parts vs one double sum, one fp32 rounding" },
    { "mean_pool", "out", LV_CHECK_FAST, 1e-7, 1e-6, FAST_DOUBLE },
    { "mean_pool", "dinp", LV_CHECK_FAST, 1e-6, 1e-6, FAST_RECIPROCAL },
    { "segment_mean", "out", LV_CHECK_FAST, 1e-7, 1e-6, FAST_DOUBLE },
    { "segment_mean", "dinp", LV_CHECK_FAST, 1e-6, 1e-6, FAST_RECIPROCAL },
    { "l2norm", "out", LV_CHECK_FAST, 1e-7, 1e-6, FAST_DOUBLE },
    { "l2norm", "norm", LV_CHECK_FAST, 1e-7, 1e-6, FAST_DOUBLE },
    { "l2norm", "dinp", LV_CHECK_FAST, 2e-6, 2e-5,
      "the projection dy - y (y . dy) in fp32 (ref: double): cancellation, a few roundings" },
    { "embedding", "out", LV_CHECK_FAST, 0.0, 0.0, "a copy: exact" },
    { "embedding", "dtable", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "pos_embed", "out", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "pos_embed", "dinp", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "pos_embed", "dspatial", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "pos_embed", "dtemporal", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "tubelet", "out", LV_CHECK_FAST, 5e-5, 1e-5, FAST_MATMUL },
    { "tubelet", "dvideo", LV_CHECK_FAST, 2e-5, 1e-5, FAST_MATMUL },
    { "tubelet", "dweight", LV_CHECK_FAST, 2e-4, 1e-5,
      FAST_MATMUL "; here summed over up to 2 x 128 tokens, twice" },
    { "tubelet", "dbias", LV_CHECK_FAST, 1e-5, 1e-5, FAST_COLUMNS },
    { "infonce", "loss", LV_CHECK_FAST, 1e-5, 1e-6,
      "log-sum-exps in double of logits that differ by a few fp32 roundings" },
    { "infonce", "logits", LV_CHECK_FAST, 2e-5, 1e-5,
      "sgemm's fp32 dot products of E <= 64 terms, times the scale (<= 100), vs double" },
    { "infonce", "dv", LV_CHECK_FAST, 2e-5, 1e-4, FAST_INFONCE },
    { "infonce", "dt", LV_CHECK_FAST, 2e-5, 1e-4, FAST_INFONCE },
    { "infonce", "dlog_scale", LV_CHECK_FAST, 1e-5, 1e-5,
      "sum of G L in double over B^2 terms, G from exp in double: a few roundings" },
    { "cross_entropy", "loss", LV_CHECK_FAST, 1e-6, 1e-6,
      "fp32 exp (~1 ulp) of x - max summed in double, each row's (max - x_t) + log sum in double "
      "(ref: all in double): a few roundings of O(1) terms" },
    { "cross_entropy", "lse", LV_CHECK_FAST, 1e-6, 1e-6,
      "max + log of a double sum of fp32 exps (~1 ulp each), rounded once (ref: double)" },
    { "cross_entropy", "dlogits", LV_CHECK_FAST, 1e-6, 1e-5, FAST_CROSS_ENTROPY },
    { "elementwise", "scale", LV_CHECK_FAST, 0.0, 0.0, FAST_EXACT },
    { "elementwise", "zero", LV_CHECK_FAST, 0.0, 0.0, "zeros: exact" },
    { "elementwise", "set", LV_CHECK_FAST, 0.0, 0.0, "a constant stored: exact" },
    { "elementwise", "copy", LV_CHECK_FAST, 0.0, 0.0, "a copy: exact" },
    { "model_step", "loss", LV_CHECK_FAST, 0.0, 2e-6,
      "a whole training step (tiny preset): every kernel's fp32 vs double sums, compounded" },
    { "model_step", "grad", LV_CHECK_FAST, 0.0, 1e-4,
      "a whole training step (tiny preset), every gradient tensor in units of its largest entry: "
      "every kernel's fp32 vs double sums, compounded through the layers" },
    /* data-parallel training (tests/check_mpi.c, tests/mpi.sh): the same kernels on the same
     * samples, split over N ranks; measured on 2 and 3 ranks: loss 1.4e-7, gradients 1.5e-6 of
     * each tensor's largest entry */
    { "dist_step", "loss", LV_CHECK_DIST, 0.0, 1e-6,
      "the same samples and kernels; each rank sums its own pairs' loss terms, then the N "
      "shares are summed: fp32 sums of O(1) terms in another order (measured 1.4e-7)" },
    { "dist_step", "grad", LV_CHECK_DIST, 1e-5, 0.0,
      "abs in units of the tensor's largest entry: the embedding gradients reduced in double, "
      "the parameter gradients summed over the N ranks' shares in fp32 instead of over one "
      "batch; another summation order of the same terms (measured 1.5e-6: 6x headroom)" },
    /* whole training steps of the golden model cases, any fp32 backend or port against the
     * files of ref (golden/MANIFEST resolves these per tensor); measured on the cpu backend, the
     * worst margins are 0.2 (steps) and under 0.1 (the rest) */
    { "sum_squares", "out", LV_CHECK_GOLDEN, 0.0, 1.2e-7,
      "the kernel's double sum, stored as F32 in the golden file: one fp32 rounding apart" },
    { "model", "kept", LV_CHECK_GOLDEN, 0.0, 0.0,
      "masks are drawn on the host from Philox(seed, step, sample): the same integers everywhere" },
    { "model", "tokens", LV_CHECK_GOLDEN, 5e-5, 1e-5,
      "tubelet embedding (and position embeddings, exact adds) as the tubelet out row: fp32 sums "
      "of the voxel x weight products vs ref's double sums" },
    { "model", "act", LV_CHECK_GOLDEN, 1e-5, 0.0,
      "abs in units of the tensor's largest entry: the residual stream after LayerNorm and each "
      "block, every kernel's fp32 sums (D, 4D, up to 192 keys) vs ref's double sums, a few "
      "roundings of O(1) terms per layer (cpu: 5e-7 of scale): 10x headroom" },
    { "model", "emb", LV_CHECK_GOLDEN, 1e-5, 1e-5,
      "unit-length embeddings after mean pooling, projection and L2 norm: the act errors, pooled "
      "(cpu: 2.4e-7)" },
    { "model", "logits", LV_CHECK_GOLDEN, 1e-4, 1e-5,
      "exp(s) = 14.3 times cosines of embeddings each within a few fp32 roundings (cpu: 2.4e-6)" },
    { "model", "loss", LV_CHECK_GOLDEN, 0.0, 2e-6,
      "the model_step loss row: a whole training step's fp32 vs double sums, compounded" },
    { "model", "grad", LV_CHECK_GOLDEN, 1e-4, 0.0,
      "abs in units of the tensor's largest entry: the model_step grad row (every kernel's fp32 "
      "vs double sums, compounded through the layers)" },
    { "model", "steps.loss", LV_CHECK_GOLDEN, 2e-5, 0.0,
      "losses after 1 and 2 AdamW steps, from parameters carrying the after errors: their sum "
      "of |dL/dp| |error| over ~2e4 parameters (cpu: 4.3e-6); O(1) losses, so abs, not rel" },
    { "model", "steps.grad_norm", LV_CHECK_GOLDEN, 0.0, 1e-4,
      "the norm of every gradient (within the grad row), at steps 1 and 2 also from parameters "
      "carrying the after errors (cpu: 2e-5)" },
    { "model", "steps.grad", LV_CHECK_GOLDEN, 2e-4, 0.0,
      "the raw gradient of every step in units of its largest entry over the steps: the grad "
      "row, and from step 1 on parameters that carry the after errors" },
    { "model", "after", LV_CHECK_GOLDEN, 1e-4, 1e-6, AFTER_REASON },
    /* the video-to-text stage's cases (kind v2t: the stage, and its LM alone), measured on the
     * cpu and cuda-host backends: worst margins 0.12 (cuda-host, the LM alone's logits and
     * steps.grad), 0.11 on cpu */
    { "v2t", "kept", LV_CHECK_GOLDEN, 0.0, 0.0,
      "the frozen encoder's masks are drawn on the host from Philox(seed, step, sample): the same "
      "integers everywhere" },
    { "v2t", "visual", LV_CHECK_GOLDEN, 2e-6, 0.0,
      "abs in units of the tensor's largest entry: the frozen encoder's final-LayerNorm tokens "
      "(the model act row's fp32 sums vs ref's double sums), gathered and averaged over time "
      "(cpu 8.6e-8, cuda-host 1.3e-7 of scale): 15x headroom" },
    { "v2t", "media", LV_CHECK_GOLDEN, 3e-6, 0.0,
      "abs in units of the tensor's largest entry: the visual errors through the resampler's "
      "LayerNorms, attention over [visual; latents] and feed-forwards, a final LayerNorm "
      "(cpu 1.5e-7, cuda-host 2.5e-7 of scale): 12x headroom" },
    { "v2t", "logits", LV_CHECK_GOLDEN, 3e-6, 0.0,
      "abs in units of the tensor's largest entry: the LM's blocks and gated cross-attention "
      "layers over the media, final LayerNorm, tied embedding: fp32 vs double sums (cpu 3.2e-7, "
      "cuda-host 3.7e-7 of scale): 8x headroom" },
    { "v2t", "loss", LV_CHECK_GOLDEN, 0.0, 2e-6,
      "the model_step loss row (the mean over target rows of double log-sum-exps of the logits; "
      "cpu and cuda-host equal ref's here)" },
    { "v2t", "grad", LV_CHECK_GOLDEN, 1e-5, 0.0,
      "abs in units of the tensor's largest entry: every backward kernel's fp32 vs double sums "
      "through the LM, the cross-attention layers and the resampler; worst on the LayerNorm "
      "weights and the one-entry gates, sums over every row (cpu 1.0e-6, cuda-host 7.2e-7): "
      "10x headroom" },
    { "v2t", "steps.loss", LV_CHECK_GOLDEN, 2e-5, 0.0,
      "the model steps.loss row: losses after 1 and 2 AdamW steps from parameters carrying the "
      "after errors (cuda-host 2.4e-7, cpu exact here)" },
    { "v2t", "steps.grad_norm", LV_CHECK_GOLDEN, 0.0, 1e-4,
      "the model steps.grad_norm row (cpu 1.2e-7, cuda-host 3.1e-7)" },
    { "v2t", "steps.grad", LV_CHECK_GOLDEN, 1e-3, 0.0,
      "in units of the tensor's largest entry over the steps, from step 1 on parameters carrying "
      "the after errors: the LM's own pretraining (v2t_lm) moves every LM tensor, and its steps "
      "amplify them more than the model cases' (cuda-host 2.4e-5, the cpu backend built without "
      "BLAS 4.5e-4 on lm.blocks.1.mlp.fc2.weight at step 2): 2x the worst" },
    { "v2t", "after", LV_CHECK_GOLDEN, 1e-4, 1e-6, AFTER_REASON },
    { "v2t", "decode", LV_CHECK_GOLDEN, 0.0, 0.0,
      "token ids, each the argmax of logits whose two largest differ by 0.016 or more in these "
      "cases (10^4 x the logits row): the same integers everywhere" },
    /* the port column (LV_CHECK_PORT, golden --check/--compare --port): what a correct fp32
     * port may do differently from ref (tolerance.h). Rows whose strict tolerance already
     * covers that say so; the others widen the strict row, mostly where ref and the cpu backend
     * agree by construction (same operations in the same order, or sums in double) */
    PORT_AS_STRICT("linear", "out", 5e-5, 1e-5),
    PORT_AS_STRICT("linear", "dinp", 5e-5, 1e-5),
    PORT_AS_STRICT("linear", "dweight", 2e-4, 1e-5),
    { "linear", "dbias", LV_CHECK_PORT, 2e-5, 1e-5, PORT_COLUMNS },
    PORT_AS_STRICT("layernorm", "out", 2e-6, 1e-5),
    { "layernorm", "mean", LV_CHECK_PORT, 1e-6, 2e-6,
      "an fp32 row sum of <= 37 O(1) terms in any order (strict: double sums)" },
    { "layernorm", "rstd", LV_CHECK_PORT, 1e-6, 1e-5,
      "a two-pass fp32 variance of <= 37 terms and rsqrtf (2 ulp); rstd is large where the "
      "variance is tiny, so mostly relative" },
    PORT_AS_STRICT("layernorm", "dinp", 5e-6, 1e-5),
    PORT_AS_STRICT("layernorm", "dweight", 1e-4, 2e-5),
    PORT_AS_STRICT("layernorm", "dbias", 1e-4, 2e-5),
    PORT_AS_STRICT("gelu", "out", 1e-6, 2e-6),
    PORT_AS_STRICT("gelu", "dinp", 1e-6, 1e-5),
    { "quick_gelu", "out", LV_CHECK_PORT, 1e-6, 2e-6,
      "x sigmoid(1.702 x) in fp32, expf within 4 ulp: the strict row's few roundings" },
    { "quick_gelu", "dinp", LV_CHECK_PORT, 1e-6, 1e-5,
      "s + 1.702 x s (1 - s) in fp32; autograd takes 1 - s from the rounded s, off by up to "
      "eps_fp32 / 2 where s ~ 1: times 1.702 x (<= 17 before s rounds to 1) on a derivative of "
      "~1, ~1e-6 relative" },
    { "gelu_tanh", "out", LV_CHECK_PORT, 2e-6, 2e-6,
      "x/2 (1 + tanh u) in fp32 (PyTorch's form), tanhf within 4 ulp: where u << 0 the sum "
      "1 + tanh u cancels, leaving tanh's absolute error (<= 2.4e-7 near -1) times abs(x)/2, "
      "abs(x) < 5 before tanh rounds to -1: abs ~6e-7" },
    { "gelu_tanh", "dinp", LV_CHECK_PORT, 4e-6, 1e-5,
      "PyTorch's (1 + t)/2 + x/2 (1 - t^2) du/dx in fp32, t = tanh u: 1 - t^2 cancels where "
      "t ~ +-1, keeping t^2's absolute error (tanhf within 4 ulp: <= 4.8e-7) times x/2 du/dx "
      "(<= 7 for abs(x) < 5, beyond which t rounds to +-1 and the term to its true ~0): <= 3.4e-6 "
      "on a derivative of ~1" },
    PORT_AS_STRICT("attention", "out", 5e-6, 1e-5),
    PORT_AS_STRICT("attention", "dq", 2e-5, 1e-5),
    PORT_AS_STRICT("attention", "dk", 2e-5, 1e-5),
    PORT_AS_STRICT("attention", "dv", 5e-6, 1e-5),
    { "residual", "out", LV_CHECK_PORT, 1e-7, 1.2e-7,
      "one IEEE addition: identical, unless the port fuses it into the producer's epilogue "
      "(one rounding of the O(1) summands apart)" },
    { "residual", "da", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    { "residual", "db", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    { "gated_residual", "out", LV_CHECK_PORT, 2e-7, 2.4e-7,
      "h + tanhf(gate) f: tanhf within 2 ulp, the product and sum possibly one FMA" },
    { "gated_residual", "dh", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    { "gated_residual", "df", LV_CHECK_PORT, 1e-7, 2.4e-7,
      "tanhf(gate) (2 ulp) times dout, one rounding" },
    { "gated_residual", "dgate", LV_CHECK_PORT, 1e-5, 1e-5,
      "an fp32 sum over every element in any order (strict: double in fixed parts)" },
    PORT_AS_STRICT("mean_pool", "out", 1e-7, 1e-6),
    PORT_AS_STRICT("mean_pool", "dinp", 1e-6, 1e-6),
    PORT_AS_STRICT("segment_mean", "out", 1e-7, 1e-6),
    PORT_AS_STRICT("segment_mean", "dinp", 1e-6, 1e-6),
    { "l2norm", "out", LV_CHECK_PORT, 2e-7, 2e-6,
      "an fp32 sum of squares of <= 64 terms in any order, sqrtf or rsqrtf (2 ulp)" },
    { "l2norm", "norm", LV_CHECK_PORT, 2e-7, 2e-6,
      "an fp32 sum of squares of <= 64 terms in any order, sqrtf (strict: double)" },
    PORT_AS_STRICT("l2norm", "dinp", 2e-6, 2e-5),
    { "embedding", "out", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    { "embedding", "dtable", LV_CHECK_PORT, 1e-6, 1e-6,
      "fp32 sums of the upstream rows of repeated ids in any order (a scatter with atomics)" },
    { "pos_embed", "out", LV_CHECK_PORT, 2e-7, 2.4e-7,
      "x + spatial + temporal: two fp32 additions in either order" },
    { "pos_embed", "dinp", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    { "pos_embed", "dspatial", LV_CHECK_PORT, 2e-6, 1e-6,
      "fp32 sums over the tokens sharing a spatial position, in any order (atomics)" },
    { "pos_embed", "dtemporal", LV_CHECK_PORT, 2e-6, 1e-6,
      "fp32 sums over the tokens sharing a time index, in any order (atomics)" },
    PORT_AS_STRICT("tubelet", "out", 5e-5, 1e-5),
    PORT_AS_STRICT("tubelet", "dvideo", 2e-5, 1e-5),
    PORT_AS_STRICT("tubelet", "dweight", 2e-4, 1e-5),
    { "tubelet", "dbias", LV_CHECK_PORT, 2e-5, 1e-5, PORT_COLUMNS },
    PORT_AS_STRICT("infonce", "loss", 1e-5, 1e-6),
    PORT_AS_STRICT("infonce", "logits", 2e-5, 1e-5),
    PORT_AS_STRICT("infonce", "dv", 2e-5, 1e-4),
    PORT_AS_STRICT("infonce", "dt", 2e-5, 1e-4),
    { "infonce", "dlog_scale", LV_CHECK_PORT, 2e-5, 1e-5,
      "sum of dlogits * logits over 2 B^2 terms in fp32, any order (strict: double)" },
    { "cross_entropy", "loss", LV_CHECK_PORT, 1e-6, 1e-6,
      "fp32 log-softmax at the targets (x_t - max exact, log of an fp32 sum of V exps), their "
      "mean: a few roundings of O(1) terms" },
    PORT_AS_STRICT("cross_entropy", "lse", 1e-6, 1e-6),
    { "cross_entropy", "dlogits", LV_CHECK_PORT, 1e-6, 1e-5,
      "softmax - onehot in fp32 times dloss / count: from the fp32 lse as the strict row, or "
      "from log-softmax (autograd), where exp(out) - 1 at a target of probability ~1 cancels to "
      "one rounding of 1: the abs term" },
    { "elementwise", "scale", LV_CHECK_PORT, 0.0, 0.0, PORT_COPY },
    PORT_AS_STRICT("adamw", "x", 2e-7, 3e-7),
    PORT_AS_STRICT("adamw", "m", 2e-7, 3e-7),
    PORT_AS_STRICT("adamw", "v", 2e-7, 3e-7),
    { "sum_squares", "out", LV_CHECK_PORT, 0.0, 2e-5,
      "an fp32 sum of <= 1001 positive terms in any order: sequential n eps / 2 = 3e-5 at "
      "worst, ~sqrt(n) eps typical, log2(n) eps for a tree (strict: double)" },
    /* the port column of the model cases: a port's fp32 sums everywhere (the cpu backend,
     * which the strict rows were measured on, keeps double sums in LayerNorm, pooling and the
     * softmax denominators) and transcendental functions within 4 ulp: 4x the strict rows */
    { "model", "kept", LV_CHECK_PORT, 0.0, 0.0,
      "masks are drawn on the host from Philox(seed, step, sample): a port takes them from the "
      "file (or draws the same integers)" },
    PORT_AS_STRICT("model", "tokens", 5e-5, 1e-5),
    { "model", "act", LV_CHECK_PORT, 4e-5, 0.0,
      "abs in units of the tensor's largest entry: the strict act row (10x the cpu backend's "
      "worst) times 4 for fp32 sums in every reduction and 4-ulp transcendentals" },
    { "model", "emb", LV_CHECK_PORT, 4e-5, 4e-5, "the act errors, pooled: 4x the strict row" },
    { "model", "logits", LV_CHECK_PORT, 4e-4, 4e-5,
      "exp(s) <= 100 times cosines of embeddings within the emb row: 4x the strict row" },
    { "model", "loss", LV_CHECK_PORT, 0.0, 8e-6, "4x the strict row" },
    { "model", "grad", LV_CHECK_PORT, 4e-4, 0.0,
      "abs in units of the tensor's largest entry: 4x the strict row (fp32 sums in every "
      "backward reduction, atomics in the scatters)" },
    { "model", "steps.grad", LV_CHECK_PORT, 8e-4, 0.0,
      "abs in units of the tensor's largest entry over the steps: 4x the strict row" },
    { "model", "steps.loss", LV_CHECK_PORT, 8e-5, 0.0, "4x the strict row" },
    { "model", "steps.grad_norm", LV_CHECK_PORT, 0.0, 4e-4, "4x the strict row" },
    { "model", "after", LV_CHECK_PORT, 2e-4, 1e-6, AFTER_REASON },
    /* the port column of the video-to-text cases: 4x the strict rows, as the model cases */
    { "v2t", "kept", LV_CHECK_PORT, 0.0, 0.0,
      "masks are drawn on the host from Philox(seed, step, sample): a port takes them from the "
      "file (or draws the same integers)" },
    { "v2t", "visual", LV_CHECK_PORT, 8e-6, 0.0,
      "abs in units of the tensor's largest entry: 4x the strict row (fp32 sums in every "
      "reduction, 4-ulp transcendentals)" },
    { "v2t", "media", LV_CHECK_PORT, 1.2e-5, 0.0,
      "abs in units of the tensor's largest entry: 4x the strict row" },
    { "v2t", "logits", LV_CHECK_PORT, 1.2e-5, 0.0,
      "abs in units of the tensor's largest entry: 4x the strict row" },
    { "v2t", "loss", LV_CHECK_PORT, 0.0, 8e-6, "4x the strict row" },
    { "v2t", "grad", LV_CHECK_PORT, 4e-5, 0.0,
      "abs in units of the tensor's largest entry: 4x the strict row (fp32 sums in every "
      "backward reduction, atomics in the scatters)" },
    { "v2t", "steps.loss", LV_CHECK_PORT, 8e-5, 0.0, "4x the strict row" },
    { "v2t", "steps.grad_norm", LV_CHECK_PORT, 0.0, 4e-4, "4x the strict row" },
    { "v2t", "steps.grad", LV_CHECK_PORT, 4e-3, 0.0,
      "abs in units of the tensor's largest entry over the steps: 4x the strict row" },
    { "v2t", "after", LV_CHECK_PORT, 2e-4, 1e-6, AFTER_REASON },
    { "v2t", "decode", LV_CHECK_PORT, 0.0, 0.0,
      "token ids: the argmax of logits whose two largest differ by 0.016 or more, far above the "
      "port's logits row: a correct port writes the same integers" },
    /* the bf16 column (LV_CHECK_BF16, golden --check --precision bf16): the cpu backend with
     * bf16 operands in the linear, tubelet and attention matmuls, against the fp32 files of ref.
     * Units as the strict row (the largest |entry| where it says so). u = 2^-8, bf16's unit
     * roundoff: each product a b carries two operand roundings, so a K-long dot product of O(1)
     * terms is off by ~u sqrt(K) (signs at random). Measured on this machine (2 threads, oneDNN 2.6
     * brgemm), the worst of every case, with the headroom given */
    { "linear", "out", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "linear", "dinp", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "linear", "dweight", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "tubelet", "out", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "tubelet", "dvideo", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "tubelet", "dweight", LV_CHECK_BF16, 0.2, 0.0, BF16_DOT },
    { "model", "tokens", LV_CHECK_BF16, 1e-2, 0.0,
      "the tubelet out row on pixels and weights of the model: measured 2.3e-3, 4x" },
    { "model", "act", LV_CHECK_BF16, 3e-2, 0.0,
      "abs in units of the tensor's largest entry: every linear layer's u sqrt(K) of its scale, "
      "a few per block, through LayerNorms that renormalise (measured 8.5e-3, lora): 3.5x" },
    { "model", "emb", LV_CHECK_BF16, 1.5e-2, 0.0,
      "unit-length embeddings: the act errors, pooled and projected (measured 3.3e-3): 4.5x" },
    { "model", "logits", LV_CHECK_BF16, 0.6, 0.0,
      "exp(s) (learnt: up to ~50 in these cases) times cosines of embeddings each within the emb "
      "row, so errors scale with the largest logit, not with each (measured 0.25 on logits of "
      "up to 33): 2.4x" },
    { "model", "loss", LV_CHECK_BF16, 0.0, 3e-2,
      "InfoNCE of the logits row (its log-sum-exps in fp32 from bf16-carried logits; measured "
      "9.2e-3 relative): 3x" },
    { "model", "grad", LV_CHECK_BF16, 0.25, 0.0,
      "abs in units of the tensor's largest entry: every backward matmul's u sqrt(K), on top of "
      "logit gradients p - onehot that cancel; worst on one-entry gates and LayerNorm and bias "
      "vectors, sums over every row (measured 9.3e-2, factorized temporal gate; most under "
      "5e-2): 2.7x" },
    { "model", "steps.loss", LV_CHECK_BF16, 0.2, 0.0,
      "losses after AdamW steps from parameters carrying the after errors: the first step moves "
      "every entry by lr sign(g), and the entries whose gradient is within bf16's noise of 0 "
      "step the other way, so the error grows with the gradients' noise; with attention's tile "
      "products on bf16 as well (7 more rounded products per block) it doubled (measured 5.3e-2 "
      "with fp32 attention, 0.115 with bf16, frame_attn_masked): 1.7x" },
    { "model", "steps.grad_norm", LV_CHECK_BF16, 0.0, 0.3,
      "the gradient norm at each step, from parameters carrying the after errors, which grow "
      "with the gradients' noise as the steps.loss row says (measured 4.9e-2 relative with fp32 "
      "attention, 0.165 with bf16, lora): 1.8x" },
    { "model", "steps.grad", LV_CHECK_BF16, 3.0, 0.0,
      "abs in units of the tensor's largest entry over the steps: the first AdamW step moves "
      "every entry by lr sign(g), and bf16 flips the sign of gradients within its noise of 0, "
      "the zero-initialised gates above all, on whose tanh the whole temporal branch's "
      "gradient scales: from step 1 on the gradients differ as much as they are large "
      "(measured 1.2, factorized). Finite and of the right scale only; step 0 is the grad row" },
    { "model", "after", LV_CHECK_BF16, 6e-3, 1e-6,
      "parameters after 3 AdamW steps at lr 1e-3: an early Adam step moves an entry by about lr "
      "whatever the gradient's size, so two runs whose gradients differ by bf16's noise drift "
      "apart by up to 2 lr a step: 6 lr, the bound (measured 3.7e-3, factorized)" },
    { "v2t", "visual", LV_CHECK_BF16, 1e-2, 0.0,
      "abs in units of the tensor's largest entry: the frozen encoder's tokens (the model act "
      "row; measured 2.5e-3): 4x" },
    { "v2t", "media", LV_CHECK_BF16, 1e-2, 0.0,
      "abs in units of the tensor's largest entry: through the resampler (measured 2.3e-3): 4x" },
    { "v2t", "logits", LV_CHECK_BF16, 2.5e-2, 0.0,
      "abs in units of the tensor's largest entry: the LM's blocks, cross-attention and tied "
      "embedding (measured 6.1e-3): 4x" },
    { "v2t", "loss", LV_CHECK_BF16, 0.0, 5e-4,
      "mean cross-entropy of the logits row (measured 1.3e-4 relative): 4x" },
    { "v2t", "grad", LV_CHECK_BF16, 6e-2, 0.0,
      "abs in units of the tensor's largest entry: every backward matmul's u sqrt(K); worst on "
      "LayerNorm weights (measured 1.9e-2): 3x" },
    { "v2t", "steps.loss", LV_CHECK_BF16, 3e-3, 0.0,
      "losses after AdamW steps (measured 6.3e-4): 4.8x" },
    { "v2t", "steps.grad_norm", LV_CHECK_BF16, 0.0, 8e-3,
      "the gradient norm at each step (measured 1.9e-3 relative): 4x" },
    { "v2t", "steps.grad", LV_CHECK_BF16, 6e-2, 0.0,
      "abs in units of the tensor's largest entry over the steps: the grad row (measured "
      "1.9e-2; no zero-initialised gate flips here)" },
    { "v2t", "after", LV_CHECK_BF16, 6e-3, 1e-6, "as the model after row (measured 3.8e-3)" },
    { "attention", "out", LV_CHECK_BF16, 0.4, 0.0, BF16_ATTENTION },
    { "attention", "dq", LV_CHECK_BF16, 1.0, 0.0, BF16_ATTENTION },
    { "attention", "dk", LV_CHECK_BF16, 0.8, 0.0, BF16_ATTENTION },
    { "attention", "dv", LV_CHECK_BF16, 0.1, 0.0, BF16_ATTENTION },
    { "sgemm", "C", LV_CHECK_BF16, 1.0 / 64.0, 0.0,
      "lv_gemm_bf16 vs a double loop on the fp32 operands, abs in units of each entry's "
      "sqrt(sum_k (a_k b_k)^2) (~sqrt(K) rms(a) rms(b)): its error sum_k a_k b_k (d_ak + d_bk), "
      "d the operands' relative roundings, abs(d) <= u, zero mean, sd <= u / sqrt(3), has sd <= "
      "u sqrt(2/3) = 0.82 u there for any K; abs 4 u = 1/64 is 4.9 sd (measured worst 2.9 u, "
      "rms 0.6 u, tests/check_bf16.c)" },
    { "sgemm", "C", LV_CHECK_FAST, 1e-5, 1e-5,
      "blocked fp32 (FMA) accumulation of K products vs a double-accumulated loop: "
      "error ~ sqrt(K) eps_fp32 |a||b|; abs floor scaled by sqrt(K) in the test" },
    { "tile_gemm", "C", LV_CHECK_FAST, 1e-5, 1e-5,
      "attention's tile matmul (blas_glue/tile_gemm.c): K sequential fp32 FMAs per entry vs a "
      "double loop, error ~ sqrt(K) eps_fp32 |a||b| as sgemm's; abs scaled by sqrt(K) in the "
      "test" },
};

const lv_tolerance *lv_tolerance_find(const char *kernel, const char *tensor, const char *check)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].kernel, kernel) && !strcmp(table[i].tensor, tensor) &&
            !strcmp(table[i].check, check))
            return &table[i];
    return NULL;
}

const lv_tolerance *lv_tolerance_get(const char *kernel, const char *tensor, const char *check)
{
    const lv_tolerance *row = lv_tolerance_find(kernel, tensor, check);
    if (row)
        return row;
    fprintf(stderr, "longvivit: no tolerance for %s.%s (%s): add a row to "
            "golden/harness/tolerance.c\n", kernel, tensor, check);
    abort();
}

const lv_tolerance *lv_tolerance_table(int *count)
{
    *count = (int)(sizeof table / sizeof table[0]);
    return table;
}

double lv_tolerance_margin(double got, double want, double abs, double rel)
{
    if (!isfinite(got) || !isfinite(want))
        return INFINITY;
    const double err = fabs(got - want), tol = abs + rel * fabs(want);
    if (err == 0.0)
        return 0.0;
    return tol > 0.0 ? err / tol : INFINITY;
}

double lv_margin_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return INFINITY;
    return a > b ? a : b;
}
