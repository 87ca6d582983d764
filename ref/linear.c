/* Fully connected layer, out = inp W^T + b, in plain loops (the oracle; blas_glue/ is the fast
 * one). Dot products accumulate in double so the reference is closer to exact than any port. */
#include "kernels.h"


void lv_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int64_t N, int64_t C, int64_t OC)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        for (int64_t o = 0; o < OC; o++) {
            const float *w = weight + o * C;
            double acc = bias ? bias[o] : 0.0;
            for (int64_t c = 0; c < C; c++)
                acc += (double)x[c] * w[c];
            out[n * OC + o] = (float)acc;
        }
    }
}

void lv_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int64_t N, int64_t C, int64_t OC)
{
    /* forward: out[n,o] = sum_c inp[n,c] w[o,c] + b[o] */
    if (dinp) {   /* dinp[n,c] += sum_o dout[n,o] w[o,c] */
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (int64_t o = 0; o < OC; o++)
                    acc += (double)dout[n * OC + o] * weight[o * C + c];
                dinp[n * C + c] += (float)acc;
            }
    }
    if (dweight) {   /* dw[o,c] += sum_n dout[n,o] inp[n,c] */
        for (int64_t o = 0; o < OC; o++)
            for (int64_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (int64_t n = 0; n < N; n++)
                    acc += (double)dout[n * OC + o] * inp[n * C + c];
                dweight[o * C + c] += (float)acc;
            }
    }
    if (dbias) {   /* db[o] += sum_n dout[n,o] */
        for (int64_t o = 0; o < OC; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += dout[n * OC + o];
            dbias[o] += (float)acc;
        }
    }
}
