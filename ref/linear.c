/* Fully connected layer, out = inp W^T + b, in plain loops (the oracle; blas_glue/ is the fast
 * one). Dot products accumulate in double so the reference is closer to exact than any port.
 * No blocking, no threads, no transposed copies: every output is one visible sum. */
#include "kernels.h"


/* Forward: out (N, OC) = inp (N, C) W^T + b, that is
 *   out[n,o] = b[o] + sum_c inp[n,c] w[o,c].
 * W is stored (OC, C), PyTorch's nn.Linear layout, so each output is the dot product of two
 * contiguous rows. The sum starts from the bias (0 when bias is NULL), runs in double, and is
 * rounded to float once. */
void lv_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int64_t N, int64_t C, int64_t OC)
{
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;                  /* (C) input row n */
        for (int64_t o = 0; o < OC; o++) {
            const float *w = weight + o * C;           /* (C) weight row o */
            double acc = bias ? bias[o] : 0.0;
            for (int64_t c = 0; c < C; c++)
                acc += (double)x[c] * w[c];
            out[n * OC + o] = (float)acc;
        }
    }
}

/* Backward. In the forward pass this was  out[n,o] = sum_c inp[n,c] w[o,c] + b[o],  so each
 * partial derivative is the factor it multiplies:
 *   d out[n,o] / d inp[n,c] = w[o,c]    =>  dinp (N, C)     += dout (N, OC) W (OC, C)
 *   d out[n,o] / d w[o,c]   = inp[n,c]  =>  dweight (OC, C) += dout^T (OC, N) inp (N, C)
 *   d out[n,o] / d b[o]     = 1         =>  dbias (OC)      += sum_n dout[n,o]
 * Each gradient entry is one double sum over the index the forward contracted or broadcast
 * (o for dinp, n for dweight and dbias), rounded and added once. The loops are ordered for
 * that, not for speed (dinp reads W down its columns). Every gradient accumulates (+=), and a
 * NULL one is skipped: frozen weights need no dweight, the first layer's input no dinp. */
void lv_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int64_t N, int64_t C, int64_t OC)
{
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
