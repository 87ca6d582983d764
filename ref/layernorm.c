/* LayerNorm over the last dimension with a learned scale and shift. The forward caches the
 * per-row mean and 1/std for the backward; statistics are computed in double, two-pass.
 * Deliberately not the one-pass E[x^2] - mean^2, which cancels when |mean| >> std. */
#include "kernels.h"

#include <math.h>

/* Forward, for each of the N rows x = inp[n] of C values:
 *   mean = sum_c x_c / C,   var = sum_c (x_c - mean)^2 / C   (biased, as PyTorch's LayerNorm)
 *   rstd = 1 / sqrt(var + eps),   out_c = (x_c - mean) rstd w_c + b_c
 * The variance is taken around the finished mean (second pass), everything in double until the
 * float store. mean and rstd (N) are cached as floats, which is what the backward will see.
 * weight and bias are both required here. */
void lv_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int64_t N, int64_t C, float eps)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;                  /* (C) row n */
        double m = 0.0;                                /* mean */
        for (int64_t c = 0; c < C; c++)
            m += x[c];
        m /= (double)C;
        double var = 0.0;
        for (int64_t c = 0; c < C; c++)
            var += ((double)x[c] - m) * ((double)x[c] - m);
        var /= (double)C;
        double s = 1.0 / sqrt(var + eps);             /* rstd */
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(((double)x[c] - m) * s * weight[c] + bias[c]);
        mean[n] = (float)m;
        rstd[n] = (float)s;
    }
}

/* Backward. In the forward pass this was  out_c = xhat_c w_c + b_c,  xhat_c = (x_c - mean) rstd,
 * so directly
 *   dbias_c += dout_c,   dweight_c += dout_c xhat_c,   and  dxhat_c = dout_c w_c.
 * x reaches xhat_c three ways: through x_c, through mean (d mean / d x_k = 1/C) and through
 * rstd = (var + eps)^(-1/2) with d var / d x_k = 2 (x_k - mean) / C (the mean's share sums to
 * zero), so d rstd / d x_k = -rstd^3 (x_k - mean) / C = -rstd^2 xhat_k / C. Together:
 *   d xhat_c / d x_k = rstd (delta_ck - 1/C - xhat_c xhat_k / C),
 * and summing dxhat_c times that over c:
 *   dinp_k += rstd (dxhat_k - mean_c(dxhat_c) - xhat_k mean_c(dxhat_c xhat_c)).
 * Hence two passes per row: the two means, then every gradient. xhat is rebuilt from the cached
 * mean and rstd rather than stored. dweight and dbias sum over all N rows; every gradient
 * accumulates (+=) and a NULL one (a frozen LayerNorm, an input needing none) is skipped. */
void lv_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int64_t N, int64_t C)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *dy = dout + n * C;      /* (C) (C) row n */
        double m = mean[n], s = rstd[n];                       /* the forward's cache */
        /* pass 1: sum_c dxhat_c and sum_c dxhat_c xhat_c, for the two means */
        double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double xhat = (x[c] - m) * s;
            double dxhat = (double)dy[c] * weight[c];
            sum_dxhat += dxhat;
            sum_dxhat_xhat += dxhat * xhat;
        }
        double mean_dxhat = sum_dxhat / (double)C, mean_dxhat_xhat = sum_dxhat_xhat / (double)C;
        /* pass 2: each gradient, as derived above */
        for (int64_t c = 0; c < C; c++) {
            double xhat = (x[c] - m) * s;
            if (dweight)
                dweight[c] += (float)(dy[c] * xhat);
            if (dbias)
                dbias[c] += dy[c];
            if (dinp) {
                double dxhat = (double)dy[c] * weight[c];
                dinp[n * C + c] += (float)(s * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat));
            }
        }
    }
}
