/* Elementwise utilities the graph calls through the backend table, so that device backends can
 * do them where the data lives: in-place scaling and zeroing. */
#include "kernels.h"

#include <math.h>

#include <string.h>

void lv_scale(float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

void lv_zero(float *x, int64_t n)
{
    if (n > 0)
        memset(x, 0, (size_t)n * sizeof *x);
}

void lv_adamw_update(float *x, const float *g, float *m, float *v, int64_t n,
                     const lv_adamw_coef *k)
{
    for (int64_t i = 0; i < n; i++) {
        const double gi = g[i] * k->grad_scale;        /* an fp32 product, as clipping stores */
        m[i] = (float)(k->beta1 * m[i] + (1.0 - k->beta1) * gi);
        v[i] = (float)(k->beta2 * v[i] + (1.0 - k->beta2) * gi * gi);
        const double update = (m[i] / k->bc1) / (sqrt(v[i] / k->bc2) + k->eps);
        x[i] = (float)(k->keep * x[i] - k->lr * update);
    }
}

double lv_sum_squares(const float *x, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return sum;
}
