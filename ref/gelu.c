/* GELU in its exact erf form (PyTorch's nn.GELU default), not the tanh approximation and not
 * OpenAI CLIP's QuickGELU x sigmoid(1.702 x) (docs/model.md). Each value is evaluated in double
 * from its float and rounded once; no table, no polynomial. */
#include "kernels.h"

#include <math.h>

#define INV_SQRT2 0.70710678118654752440        /* 1 / sqrt(2): erf's argument */
#define INV_SQRT2PI 0.39894228040143267794      /* 1 / sqrt(2 pi): the normal density's factor */

/* Forward, elementwise over n values (any shape, e.g. the MLP's hidden (N, 4D)):
 *   out = x Phi(x),   Phi(x) = (1 + erf(x / sqrt 2)) / 2,
 * Phi the standard normal CDF: x is kept in the proportion that a standard normal falls below
 * it, so large positive x pass, large negative x go to 0, and small x are damped smoothly. */
void lv_gelu_forward(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(0.5 * x * (1.0 + erf(x * INV_SQRT2)));
    }
}

/* Backward. In the forward pass this was  out = x Phi(x),  so by the product rule
 *   d out / dx = Phi(x) + x Phi'(x).
 * With z = x / sqrt 2 and d erf(z) / dz = 2 / sqrt(pi) exp(-z^2):
 *   Phi'(x) = 1/2 * 2 / sqrt(pi) * exp(-x^2 / 2) / sqrt 2 = exp(-x^2 / 2) / sqrt(2 pi) = phi(x),
 * the normal density. So  dinp += dout (Phi(x) + x phi(x)),  from the forward's input (the
 * output alone would not do: GELU is not one-to-one below x ~ -0.75). dinp is required. */
void lv_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        double cdf = 0.5 * (1.0 + erf(x * INV_SQRT2));  /* Phi(x) */
        double pdf = INV_SQRT2PI * exp(-0.5 * x * x);   /* phi(x) */
        dinp[i] += (float)(dout[i] * (cdf + x * pdf));
    }
}
