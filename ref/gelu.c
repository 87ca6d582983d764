/* GELU in its exact erf form (as in BERT and CLIP's ViT), not the tanh approximation. */
#include "kernels.h"

#include <math.h>

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

void lv_gelu_forward(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(0.5 * x * (1.0 + erf(x * INV_SQRT2)));
    }
}

void lv_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    /* forward: y = x Phi(x); dy/dx = Phi(x) + x phi(x) */
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        double cdf = 0.5 * (1.0 + erf(x * INV_SQRT2));
        double pdf = INV_SQRT2PI * exp(-0.5 * x * x);
        dinp[i] += (float)(dout[i] * (cdf + x * pdf));
    }
}
