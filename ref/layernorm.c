/* LayerNorm over the last dimension with a learned scale and shift. The forward caches the
 * per-row mean and 1/std for the backward; statistics are computed in double, two-pass. */
#include "kernels.h"

#include <math.h>

void lv_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int64_t N, int64_t C, float eps)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double m = 0.0;
        for (int64_t c = 0; c < C; c++)
            m += x[c];
        m /= (double)C;
        double var = 0.0;
        for (int64_t c = 0; c < C; c++)
            var += ((double)x[c] - m) * ((double)x[c] - m);
        var /= (double)C;
        double s = 1.0 / sqrt(var + eps);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(((double)x[c] - m) * s * weight[c] + bias[c]);
        mean[n] = (float)m;
        rstd[n] = (float)s;
    }
}

void lv_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int64_t N, int64_t C)
{
    /* forward: y = xhat * w + b, xhat = (x - mean) * rstd
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * w */
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *dy = dout + n * C;
        double m = mean[n], s = rstd[n];
        double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double xhat = (x[c] - m) * s;
            double dxhat = (double)dy[c] * weight[c];
            sum_dxhat += dxhat;
            sum_dxhat_xhat += dxhat * xhat;
        }
        double mean_dxhat = sum_dxhat / (double)C, mean_dxhat_xhat = sum_dxhat_xhat / (double)C;
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
