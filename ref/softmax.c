/* Softmax, log-softmax and cross-entropy over the last dimension, all through the max-subtracted
 * log-sum-exp. Fully masked softmax rows are defined as all zeros rather than 0/0. */
#include "kernels.h"
#include "error.h"

#include <math.h>

/* log(sum_c exp(x[c])) over the entries that are not masked out; -INFINITY if none is left. */
static double logsumexp(const float *x, const uint8_t *mask, int64_t C)
{
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; c++)
        if ((!mask || mask[c]) && x[c] > mx)
            mx = x[c];
    if (mx == -INFINITY)
        return -INFINITY;
    double sum = 0.0;
    for (int64_t c = 0; c < C; c++)
        if (!mask || mask[c])
            sum += exp(x[c] - mx);
    return mx + log(sum);
}

void lv_softmax_forward(float *out, const float *inp, const uint8_t *mask, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        const uint8_t *m = mask ? mask + n * C : NULL;
        double lse = logsumexp(x, m, C);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (lse == -INFINITY || (m && !m[c])) ? 0.0f : (float)exp(x[c] - lse);
    }
}

void lv_softmax_backward(float *dinp, const float *dout, const float *out, int64_t N, int64_t C)
{
    /* forward: y = softmax(x); dx = y * (dy - sum(y * dy)). Masked entries have y = 0. */
    for (int64_t n = 0; n < N; n++) {
        const float *y = out + n * C, *dy = dout + n * C;
        double dot = 0.0;
        for (int64_t c = 0; c < C; c++)
            dot += (double)y[c] * dy[c];
        for (int64_t c = 0; c < C; c++)
            dinp[n * C + c] += (float)(y[c] * (dy[c] - dot));
    }
}

void lv_log_softmax_forward(float *out, const float *inp, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        double lse = logsumexp(inp + n * C, NULL, C);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(inp[n * C + c] - lse);
    }
}

void lv_log_softmax_backward(float *dinp, const float *dout, const float *out, int64_t N, int64_t C)
{
    /* forward: y = x - lse(x); dx = dy - softmax(x) * sum(dy), softmax = exp(y) */
    for (int64_t n = 0; n < N; n++) {
        const float *y = out + n * C, *dy = dout + n * C;
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++)
            sum += dy[c];
        for (int64_t c = 0; c < C; c++)
            dinp[n * C + c] += (float)(dy[c] - exp((double)y[c]) * sum);
    }
}

void lv_cross_entropy_forward(float *losses, const float *logits, const int32_t *targets,
                              int64_t N, int64_t V)
{
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0) {
            losses[n] = 0.0f;
            continue;
        }
        LV_REQUIRE(targets[n] < V);
        const float *x = logits + n * V;
        losses[n] = (float)(logsumexp(x, NULL, V) - x[targets[n]]);
    }
}

void lv_cross_entropy_backward(float *dlogits, const float *dlosses, const float *logits,
                               const int32_t *targets, int64_t N, int64_t V)
{
    /* forward: loss = lse(x) - x[t]; dx = dloss * (softmax(x) - onehot(t)) */
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        const float *x = logits + n * V;
        double lse = logsumexp(x, NULL, V);
        for (int64_t c = 0; c < V; c++) {
            double p = exp(x[c] - lse) - (c == targets[n] ? 1.0 : 0.0);
            dlogits[n * V + c] += (float)(dlosses[n] * p);
        }
    }
}
