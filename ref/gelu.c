/* GELU in its exact erf form (PyTorch's nn.GELU default), OpenAI CLIP's QuickGELU
 * x sigmoid(1.702 x), the activation of CLIP's towers (docs/model.md), and GELU's tanh
 * approximation, GPT-2's. Each value is evaluated in double from its float and rounded once; no
 * table, no polynomial. */
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

/* ---- QuickGELU ------------------------------------------------------------------------------- */

#define QUICK_GELU_K 1.702      /* CLIP's constant: sigmoid(1.702 x) is within 0.01 of Phi(x) */

/* sigmoid(a) = 1 / (1 + exp(-a)), with exp only ever of -|a| <= 0: the plain formula's exp(-a)
 * overflows double for a < -709 (harmless: 1 / inf = 0), but its twin exp(a) / (1 + exp(a))
 * gives inf / inf = NaN for a > 709; this form has neither, for every finite float. */
static double sigmoid(double a)
{
    const double e = exp(-fabs(a));                     /* in (0, 1] */
    return a >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* Forward, elementwise over n values (CLIP's MLP hidden (N, 4D)):
 *   out = x s(a),   a = 1.702 x,   s the logistic sigmoid,
 * GELU's x Phi(x) with the normal CDF Phi replaced by a scaled sigmoid: large positive x pass,
 * large negative x go to 0. It is a different function from GELU (up to 0.02 apart near
 * |x| ~ 2), so a CLIP tower must use it to reproduce CLIP. */
void lv_quick_gelu_forward(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(x * sigmoid(QUICK_GELU_K * x));
    }
}

/* Backward. In the forward pass this was  out = x s(a),  a = 1.702 x,  so by the product rule
 *   d out / dx = s(a) + x s'(a) da/dx = s(a) + 1.702 x s'(a).
 * With s(a) = 1 / (1 + exp(-a)):  s'(a) = exp(-a) / (1 + exp(-a))^2 = s(a) (1 - s(a)),
 * and 1 - s(a) = s(-a). So  dinp += dout (s + 1.702 x s (1 - s)),  from the forward's input (the
 * output alone would not do: QuickGELU, like GELU, is not one-to-one below x ~ -0.75). Taking
 * 1 - s as s(-a), not as 1 minus a rounded s, keeps s (1 - s) accurate where s ~ 1. The factor
 * x s (1 - s) goes to 0 at both ends, so the gradient goes to 0 (x -> -inf) and 1 (x -> +inf).
 * dinp is required. */
void lv_quick_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i], a = QUICK_GELU_K * x;
        double s = sigmoid(a), one_minus_s = sigmoid(-a);
        dinp[i] += (float)(dout[i] * (s + a * s * one_minus_s));
    }
}

/* ---- GELU, tanh approximation ---------------------------------------------------------------- */

#define GELU_TANH_C 0.79788456080286535588      /* sqrt(2 / pi) */
#define GELU_TANH_K 0.044715                    /* the cubic term's weight */

/* Forward, elementwise over n values (GPT-2's MLP hidden (N, 4W)):
 *   out = x/2 (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3),
 * Hendrycks and Gimpel's approximation of GELU's Phi(x) by a tanh, GPT-2's "gelu_new" (PyTorch:
 * F.gelu(x, approximate="tanh")); up to 4.7e-4 from the erf GELU (at x ~ -2.7), so a model
 * started from GPT-2 must use it to reproduce GPT-2. Since (1 + tanh u) / 2 = s(2u), s the logistic
 * sigmoid, it is evaluated as x s(a), a = 2u: the sigmoid above never overflows and keeps the
 * tiny values of a deep negative tail that 1 + tanh(u) would cancel to 0. */
void lv_gelu_tanh_forward(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(x * sigmoid(2.0 * GELU_TANH_C * (x + GELU_TANH_K * x * x * x)));
    }
}

/* Backward. In the forward pass this was  out = x s(a),  a = 2 sqrt(2/pi) (x + 0.044715 x^3),
 * so by the product rule, with s' = s (1 - s) as for QuickGELU above,
 *   d out / dx = s(a) + x s(a) (1 - s(a)) da/dx,   da/dx = 2 sqrt(2/pi) (1 + 3 0.044715 x^2).
 * (In tanh terms: (1 + tanh u) / 2 + x/2 (1 - tanh^2 u) du/dx, the same expression.) So
 * dinp += dout (s + x s (1 - s) da/dx), from the forward's input, 1 - s taken as s(-a). In
 * double x^3 of a float never overflows and s (1 - s) is exactly 0 from |x| ~ 20 on, so no
 * inf * 0 arises at any finite float. dinp is required. */
void lv_gelu_tanh_backward(float *dinp, const float *inp, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i], a = 2.0 * GELU_TANH_C * (x + GELU_TANH_K * x * x * x);
        double da = 2.0 * GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x * x);
        double s = sigmoid(a), one_minus_s = sigmoid(-a);
        dinp[i] += (float)(dout[i] * (s + x * s * one_minus_s * da));
    }
}
