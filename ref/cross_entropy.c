/* Cross-entropy of logits against class targets with ignored rows: a language model's
 * next-token loss over the target text only (a target < 0 marks padding or the prompt). Every
 * log-sum-exp in double with the row maximum subtracted; no label smoothing, no class weights,
 * no reduction other than the mean over the counted rows. */
#include "kernels.h"
#include "error.h"

#include <math.h>

/* The rows that count: those whose target is a class (>= 0); each target must be < V. */
static int64_t counted_rows(const int32_t *targets, int64_t N, int64_t V)
{
    int64_t count = 0;
    for (int64_t n = 0; n < N; n++) {
        LV_REQUIRE(targets[n] < V);
        count += targets[n] >= 0;
    }
    return count;
}

/* Forward. For each row n of the logits x (V classes) and its target t = targets[n]:
 *   lse[n] = log sum_v exp(x[n, v]) = m + log sum_v exp(x[n, v] - m),  m = max_v x[n, v]
 *   loss   = (1 / count) sum over the counted rows of (lse[n] - x[n, t])
 * i.e. the mean of -log softmax(x[n])[t], the negative log-likelihood of each target token.
 * Subtracting m makes every exp <= 1 with the largest exactly 1, so nothing overflows (a logit of
 * 100 would in fp32, and 1000 in double) and the log is finite. lse is kept for every row, the
 * ignored ones too, and rounded once; the loss is summed from the double lse, rounded once. No
 * counted row gives loss 0, never 0/0. */
void lv_cross_entropy_forward(float *loss, float *lse, const float *logits, const int32_t *targets,
                              int64_t N, int64_t V)
{
    LV_REQUIRE(N >= 0 && V > 0);
    const int64_t count = counted_rows(targets, N, V);
    double total = 0.0;                                 /* sum of lse[n] - x[n, t] */
    for (int64_t n = 0; n < N; n++) {
        const float *x = logits + n * V;                /* (V) row n */
        const double l = lv_logsumexp_strided(x, V, 1);
        lse[n] = (float)l;
        if (targets[n] >= 0)
            total += l - x[targets[n]];
    }
    *loss = count ? (float)(total / (double)count) : 0.0f;
}

/* Backward. In the forward pass this was, for a counted row with target t,
 *   loss += (1 / count) (lse(x) - x_t),   lse(x) = log sum_v exp(x_v),
 * and d lse / d x_v = exp(x_v) / sum_u exp(x_u) = exp(x_v - lse) = softmax(x)_v, while
 * d x_t / d x_v = [v == t]. So with c = dloss / count,
 *   dlogits[n, v] += c (exp(x_v - lse) - [v == t])
 * on counted rows, and ignored rows (which the loss never read) get nothing. The gradient of a
 * row sums to 0: the probabilities sum to 1, the target takes 1 away.
 * lse is the forward's, rounded to fp32: exp(x - fp32(lse)) is off by up to |lse| eps_fp32 / 2
 * relative. The plain kernel is the oracle, so it recomputes each row's log-sum-exp in double
 * instead and gives the exact gradient rounded once; the fast backends read lse (the tolerance
 * rows say what that costs). */
void lv_cross_entropy_backward(float *dlogits, const float *dloss, const float *logits,
                               const float *lse, const int32_t *targets, int64_t N, int64_t V)
{
    LV_REQUIRE(N >= 0 && V > 0);
    (void)lse;
    const int64_t count = counted_rows(targets, N, V);
    if (count == 0)
        return;
    const double c = (double)*dloss / (double)count;
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        const float *x = logits + n * V;                /* (V) row n */
        const double l = lv_logsumexp_strided(x, V, 1);
        for (int64_t v = 0; v < V; v++)
            dlogits[n * V + v] += (float)(c * (exp(x[v] - l) - (v == targets[n] ? 1.0 : 0.0)));
    }
}
