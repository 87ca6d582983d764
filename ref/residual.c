/* Residual connections: the plain sum, and the tanh-gated sum that lets a new branch start
 * switched off (gate 0) so the model begins as the one it was initialised from.
 * No broadcasting: every operand has n entries, and the gate is a single scalar. */
#include "kernels.h"

#include <math.h>

/* Forward: out = a + b over n entries, in float: one addition is one rounding whatever the
 * precision, so there is nothing for double to improve. */
void lv_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

/* Backward. In the forward pass this was  out = a + b,  so d out / d a = d out / d b = 1 and
 *   da += dout,   db += dout:
 * the gradient flows unchanged into both branches. Because every backward accumulates, the
 * skip path and the branch each add their share into one buffer; NULL means not needed. */
void lv_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

/* Forward: out = h + tanh(gate) f over n entries, gate (1) one learned scalar: Flamingo's gate,
 * used here on the temporal branch of factorized attention. tanh keeps the branch's weight in
 * (-1, 1); it is computed in float with tanhf, exactly as the backward recomputes it. */
void lv_gated_residual_forward(float *out, const float *h, const float *f, const float *gate,
                               int64_t n)
{
    float g = tanhf(gate[0]);                          /* the branch's weight, tanh(gate) */
    for (int64_t i = 0; i < n; i++)
        out[i] = h[i] + g * f[i];
}

/* Backward. In the forward pass this was  out_i = h_i + tanh(gate) f_i,  so
 *   dh_i += dout_i,   df_i += tanh(gate) dout_i,
 *   dgate += sum_i dout_i f_i tanh'(gate) = (1 - tanh(gate)^2) sum_i dout_i f_i,
 * one scalar collecting every entry (the sum runs in double). At gate 0 the branch gets df = 0
 * while dgate = sum_i dout_i f_i is in general not: the gate opens first, then the branch learns.
 * Gradients accumulate (+=); NULL means not needed. */
void lv_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                const float *f, const float *gate, int64_t n)
{
    float g = tanhf(gate[0]);                          /* tanh(gate), as in the forward */
    double dot = 0.0;                                  /* sum_i dout_i f_i */
    for (int64_t i = 0; i < n; i++) {
        if (dh)
            dh[i] += dout[i];
        if (df)
            df[i] += g * dout[i];
        dot += (double)dout[i] * f[i];
    }
    if (dgate)
        dgate[0] += (float)((1.0 - (double)g * g) * dot);
}
