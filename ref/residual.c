/* Residual connections: the plain sum, and the tanh-gated sum that lets a new branch start
 * switched off (gate 0) so the model begins as the one it was initialised from. */
#include "kernels.h"

#include <math.h>

void lv_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void lv_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

void lv_gated_residual_forward(float *out, const float *h, const float *f, const float *gate,
                               int64_t n)
{
    float g = tanhf(gate[0]);
    for (int64_t i = 0; i < n; i++)
        out[i] = h[i] + g * f[i];
}

void lv_gated_residual_backward(float *dh, float *df, float *dgate, const float *dout,
                                const float *f, const float *gate, int64_t n)
{
    /* forward: out = h + tanh(a) f; d/da = (1 - tanh(a)^2) sum(dout * f) */
    float g = tanhf(gate[0]);
    double dot = 0.0;
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
